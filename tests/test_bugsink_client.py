import logging
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from syncapp.bugsink import BugsinkClient
from syncapp.conf import Secret, SyncConfig
from syncapp.http import ApiError
from tests.factories import event_payload, issue_payload

BASE = "https://bugsink.example.com"
TOKEN = "0123456789abcdef0123456789abcdef01234567"


def make_config(**overrides: Any) -> SyncConfig:
    values: dict[str, Any] = {
        "enabled": True,
        "bugsink_url": BASE,
        "bugsink_token": Secret(TOKEN),
        "gitea_url": "https://gitea.example.com",
        "gitea_token": Secret("gitea-token"),
        "gitea_owner": "acme",
        "gitea_repo": "errors",
        "interval_minutes": 15,
        "include_muted": False,
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "http_retries": 2,
        "http_backoff_seconds": 1.0,
        "create_settle_seconds": 120.0,
        "state_redis_url": "redis://127.0.0.1:6379/14",
    }
    values.update(overrides)
    return SyncConfig(**values)


def make_client(**overrides: Any) -> BugsinkClient:
    return BugsinkClient(make_config(**overrides), sleep=lambda seconds: None)


@responses.activate
def test_issue_pages_request_open_state_in_digest_order() -> None:
    responses.get(
        f"{BASE}/api/canonical/0/issues/",
        match=[
            matchers.query_param_matcher(
                {"project": "3", "state": "open", "sort": "digest_order", "order": "asc"}
            ),
            matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"}),
        ],
        json={"next": None, "previous": None, "results": [issue_payload(1)]},
    )

    pages = list(make_client().iter_issue_pages(3, include_muted=False))

    assert [[issue.friendly_id for issue in page] for page in pages] == [["BACKEND-1"]]


@responses.activate
def test_include_muted_uses_unresolved_state() -> None:
    responses.get(
        f"{BASE}/api/canonical/0/issues/",
        match=[
            matchers.query_param_matcher(
                {"project": "3", "state": "unresolved", "sort": "digest_order", "order": "asc"}
            )
        ],
        json={"next": None, "results": []},
    )

    assert list(make_client().iter_issue_pages(3, include_muted=True)) == [[]]


@responses.activate
def test_foreign_next_link_cursor_stays_local(
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses.get(
        f"{BASE}/api/canonical/0/issues/",
        match=[
            matchers.query_param_matcher(
                {"project": "3", "state": "open", "sort": "digest_order", "order": "asc"}
            )
        ],
        json={
            "next": "http://internal-proxy:8000/wrong/path/?cursor=abc123&project=3",
            "results": [issue_payload(1)],
        },
    )
    responses.get(
        f"{BASE}/api/canonical/0/issues/",
        match=[
            matchers.query_param_matcher(
                {
                    "project": "3",
                    "state": "open",
                    "sort": "digest_order",
                    "order": "asc",
                    "cursor": "abc123",
                }
            )
        ],
        json={"next": None, "results": [issue_payload(2)]},
    )

    with caplog.at_level(logging.WARNING):
        pages = list(make_client().iter_issue_pages(3, include_muted=False))

    assert [page[0].friendly_id for page in pages] == ["BACKEND-1", "BACKEND-2"]
    assert all(call.request.url.startswith(BASE) for call in responses.calls)
    assert "internal-proxy" in caplog.text
    assert TOKEN not in caplog.text


@responses.activate
def test_latest_event_fetches_newest_then_detail() -> None:
    responses.get(
        f"{BASE}/api/canonical/0/events/",
        match=[matchers.query_param_matcher({"issue": "issue-1", "order": "desc"})],
        json={"next": None, "results": [{"id": "ev-2"}, {"id": "ev-1"}]},
    )
    responses.get(f"{BASE}/api/canonical/0/events/ev-2/", json=event_payload())

    event = make_client().latest_event("issue-1")

    assert event is not None
    assert event.main_exception is not None
    assert event.main_exception.type == "ValueError"
    assert event.request_url == "https://shop.example.com/orders/?page=2"
    assert event.trace_id == "a" * 32


@responses.activate
def test_latest_event_is_none_when_events_were_pruned() -> None:
    responses.get(f"{BASE}/api/canonical/0/events/", json={"next": None, "results": []})

    assert make_client().latest_event("issue-1") is None


@responses.activate
def test_resolve_treats_already_resolved_as_success() -> None:
    responses.post(
        f"{BASE}/api/canonical/0/issues/issue-1/resolve/",
        status=400,
        json={"detail": "Issue is already resolved."},
    )

    make_client().resolve_issue("issue-1")

    assert len(responses.calls) == 1


@responses.activate
def test_resolve_other_400_raises() -> None:
    responses.post(
        f"{BASE}/api/canonical/0/issues/issue-1/resolve/", status=400, json={"detail": "bad"}
    )

    with pytest.raises(ApiError) as caught:
        make_client().resolve_issue("issue-1")

    assert caught.value.status == 400
    assert not caught.value.transient


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "BUGSINK_API_TOKEN"), (403, "capability"), (404, "BUGSINK_URL")],
)
@responses.activate
def test_auth_errors_name_what_to_check(status: int, hint: str) -> None:
    responses.get(f"{BASE}/api/canonical/0/projects/", status=status, json={"detail": "nope"})

    with pytest.raises(ApiError) as caught:
        make_client().list_projects()

    message = str(caught.value)
    assert f"returned {status}" in message
    assert f"{BASE}/api/canonical/0/projects/" in message
    assert hint in message
    assert TOKEN not in message
    assert not caught.value.transient
    assert len(responses.calls) == 1


@responses.activate
def test_transient_get_is_retried_honouring_retry_after() -> None:
    waits: list[float] = []
    client = BugsinkClient(make_config(), sleep=waits.append)
    responses.get(f"{BASE}/api/canonical/0/projects/", status=429, headers={"Retry-After": "7"})
    responses.get(
        f"{BASE}/api/canonical/0/projects/", status=502, body="<html><h1>Bad Gateway</h1></html>"
    )
    responses.get(
        f"{BASE}/api/canonical/0/projects/",
        json={"next": None, "results": [{"id": 1, "name": "A", "slug": "a"}]},
    )

    projects = client.list_projects()

    assert [project.slug for project in projects] == ["a"]
    assert waits == [7.0, 2.0]


@responses.activate
def test_exhausted_retries_raise_transient_error_with_html_excerpt() -> None:
    responses.get(
        f"{BASE}/api/canonical/0/projects/",
        status=503,
        body="<html><body><h1>Service Unavailable</h1></body></html>",
    )

    with pytest.raises(ApiError) as caught:
        make_client().list_projects()

    assert caught.value.transient
    assert caught.value.status == 503
    assert "Service Unavailable" in str(caught.value)
    assert "<h1>" not in str(caught.value)
    assert len(responses.calls) == 3


@responses.activate
def test_timeout_is_transient_and_names_url() -> None:
    responses.get(f"{BASE}/api/canonical/0/projects/", body=requests.ReadTimeout("slow"))

    with pytest.raises(ApiError) as caught:
        make_client().list_projects()

    assert caught.value.transient
    assert caught.value.status is None
    assert "did not respond" in str(caught.value)


@responses.activate
def test_redirect_to_other_origin_is_not_followed() -> None:
    responses.get(
        f"{BASE}/api/canonical/0/projects/",
        status=302,
        headers={"Location": "https://elsewhere.example.net/api/canonical/0/projects/"},
    )

    with pytest.raises(ApiError) as caught:
        make_client().list_projects()

    assert "elsewhere.example.net" in str(caught.value)
    assert [call.request.url for call in responses.calls] == [f"{BASE}/api/canonical/0/projects/"]


@responses.activate
def test_same_origin_redirect_is_followed() -> None:
    responses.get(
        f"{BASE}/api/canonical/0/projects",
        status=301,
        headers={"Location": "/api/canonical/0/projects/"},
    )
    responses.get(f"{BASE}/api/canonical/0/projects/", json={"next": None, "results": []})
    client = make_client()

    response = client.http.request("GET", "api/canonical/0/projects")

    assert response.json() == {"next": None, "results": []}


@responses.activate
def test_retry_after_is_capped() -> None:
    waits: list[float] = []
    client = BugsinkClient(make_config(), sleep=waits.append)
    responses.get(f"{BASE}/api/canonical/0/projects/", status=429, headers={"Retry-After": "3600"})
    responses.get(f"{BASE}/api/canonical/0/projects/", json={"next": None, "results": []})

    client.list_projects()

    assert waits == [30.0]
