import json
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from syncapp.gitea import GiteaClient
from syncapp.http import ApiError
from tests.test_bugsink_client import make_config

BASE = "https://gitea.example.com"
LABELS = f"{BASE}/api/v1/repos/acme/errors/labels"
ISSUES = f"{BASE}/api/v1/repos/acme/errors/issues"


def make_client() -> GiteaClient:
    return GiteaClient(make_config(gitea_url=BASE), sleep=lambda seconds: None)


def labels(start: int, count: int) -> list[dict[str, Any]]:
    return [{"id": n, "name": f"label-{n}", "color": "00aabb"} for n in range(start, start + count)]


@responses.activate
def test_labels_are_read_across_pages_by_total_count() -> None:
    for page, items in ((1, labels(1, 50)), (2, labels(51, 50)), (3, labels(101, 7))):
        responses.get(
            LABELS,
            match=[matchers.query_param_matcher({"page": str(page), "limit": "50"})],
            json=items,
            headers={"X-Total-Count": "107"},
        )

    found = make_client().list_labels()

    assert len(found) == 107
    assert found[-1].name == "label-107"
    assert found[0].color == "00aabb"


@responses.activate
def test_pages_capped_below_limit_are_followed_by_link() -> None:
    responses.get(
        ISSUES,
        match=[
            matchers.query_param_matcher(
                {
                    "state": "all",
                    "type": "issues",
                    "since": "2026-12-04T10:00:00+00:00",
                    "page": "1",
                    "limit": "50",
                }
            )
        ],
        json=[{"number": n, "body": "other"} for n in range(1, 31)],
        headers={"Link": f'<{ISSUES}?page=2&limit=30>; rel="next"'},
    )
    responses.get(
        ISSUES,
        match=[
            matchers.query_param_matcher(
                {
                    "state": "all",
                    "type": "issues",
                    "since": "2026-12-04T10:00:00+00:00",
                    "page": "2",
                    "limit": "50",
                }
            )
        ],
        json=[
            {
                "number": 31,
                "body": "<!-- bugsink-issue-id: abc -->\nbody",
                "title": "t",
                "state": "closed",
            }
        ],
    )

    found = make_client().find_issue_by_marker(
        "<!-- bugsink-issue-id: abc -->", "2026-12-04T10:00:00+00:00"
    )

    assert found is not None
    assert found.number == 31
    assert found.state == "closed"


@responses.activate
def test_create_issue_sends_label_ids_and_token_header() -> None:
    responses.post(
        ISSUES,
        match=[
            matchers.json_params_matcher({"title": "t", "body": "b", "labels": [3, 5]}),
            matchers.header_matcher({"Authorization": "token gitea-token"}),
        ],
        status=201,
        json={
            "number": 9,
            "title": "t",
            "body": "b",
            "state": "open",
            "html_url": f"{BASE}/acme/errors/issues/9",
            "labels": [],
        },
    )

    created = make_client().create_issue("t", "b", [3, 5])

    assert created.number == 9
    assert created.html_url.endswith("/issues/9")


@responses.activate
def test_create_issue_is_never_retried() -> None:
    responses.post(ISSUES, body=requests.ConnectionError("reset"))

    with pytest.raises(ApiError) as caught:
        make_client().create_issue("t", "b", [])

    assert caught.value.transient
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (401, "GITEA_API_TOKEN"),
        (403, "write:issue"),
        (404, "GITEA_OWNER and GITEA_REPO"),
        (422, "rejected the data"),
        (423, "archived"),
    ],
)
@responses.activate
def test_errors_say_what_to_fix(status: int, hint: str) -> None:
    responses.post(ISSUES, status=status, json={"message": "nope", "url": f"{BASE}/api/swagger"})

    with pytest.raises(ApiError) as caught:
        make_client().create_issue("t", "b", [])

    assert hint in str(caught.value)
    assert "gitea-token" not in str(caught.value)
    assert not caught.value.transient


@responses.activate
def test_archived_repository_fails_before_any_write() -> None:
    responses.get(
        f"{BASE}/api/v1/repos/acme/errors", json={"archived": True, "full_name": "acme/errors"}
    )

    with pytest.raises(ApiError, match="archived"):
        make_client().check_repository()


@responses.activate
def test_label_colour_is_sent_with_hash() -> None:
    responses.post(LABELS, status=201, json={"id": 1, "name": "env:test", "color": "2563eb"})

    created = make_client().create_label("env:test", "2563eb", "Test")

    assert json.loads(responses.calls[0].request.body)["color"] == "#2563eb"
    assert created.color == "2563eb"
