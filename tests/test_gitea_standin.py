"""Tests proving the Gitea stand-in behaves like Gitea 1.27 and enforces the API description."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.gitea_contract import (
    SWAGGER_ENV_VAR,
    GiteaContract,
    SwaggerNotFoundError,
    load_swagger,
    locate_swagger,
)
from tests.gitea_standin import GiteaStandin
from tests.plugin_gitea import GITEA_TEST_TOKEN, skip_or_fail_without_swagger

pytestmark = pytest.mark.contract

REPO_PATH = "/api/v1/repos/acme/errors"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def call(
    standin: GiteaStandin,
    method: str,
    path: str,
    token: str | None = GITEA_TEST_TOKEN,
    scheme: str = "token",
    **kwargs: Any,
) -> requests.Response:
    """Send one request to the stand-in, with path relative to /api/v1/repos/acme/errors."""
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    url = f"{standin.url}{REPO_PATH}{path}"
    return requests.request(method, url, headers=headers, timeout=5, **kwargs)


def seed_issues(standin: GiteaStandin, count: int) -> None:
    for index in range(count):
        standin.add_issue(f"Error {index + 1}", created_at=START + timedelta(minutes=index))


def page_link(standin: GiteaStandin, query: str) -> str:
    return f"{standin.url}{REPO_PATH}/issues?{query}"


# Pagination.


def test_issue_pages_link_and_total_count(gitea_standin: GiteaStandin) -> None:
    seed_issues(gitea_standin, 120)

    first = call(gitea_standin, "GET", "/issues", params={"state": "open", "page": 1, "limit": 50})
    second = call(gitea_standin, "GET", "/issues", params={"state": "open", "page": 2, "limit": 50})
    third = call(gitea_standin, "GET", "/issues", params={"state": "open", "page": 3, "limit": 50})

    assert [len(r.json()) for r in (first, second, third)] == [50, 50, 20]
    assert {r.headers["X-Total-Count"] for r in (first, second, third)} == {"120"}
    link = page_link(gitea_standin, "limit=50&page={}&state=open")
    assert first.headers["Link"] == (
        f'<{link.format(2)}>; rel="next",<{link.format(3)}>; rel="last"'
    )
    assert second.headers["Link"] == (
        f'<{link.format(3)}>; rel="next",<{link.format(3)}>; rel="last",'
        f'<{link.format(1)}>; rel="first",<{link.format(1)}>; rel="prev"'
    )
    assert third.headers["Link"] == (
        f'<{link.format(1)}>; rel="first",<{link.format(2)}>; rel="prev"'
    )
    numbers = [issue["number"] for r in (first, second, third) for issue in r.json()]
    assert numbers == list(range(120, 0, -1))  # newest first, like Gitea's default sort
    assert gitea_standin.contract_violations == []


def test_next_links_visit_every_issue(gitea_standin: GiteaStandin) -> None:
    seed_issues(gitea_standin, 120)
    url: str | None = f"{gitea_standin.url}{REPO_PATH}/issues?state=all&limit=50"
    numbers: list[int] = []

    while url:
        response = requests.get(
            url, headers={"Authorization": f"token {GITEA_TEST_TOKEN}"}, timeout=5
        )
        numbers += [issue["number"] for issue in response.json()]
        url = response.links.get("next", {}).get("url")

    assert sorted(numbers) == list(range(1, 121))
    assert len(gitea_standin.requests) == 3


def test_issue_page_size_default_and_cap(gitea_standin: GiteaStandin) -> None:
    seed_issues(gitea_standin, 120)

    default = call(gitea_standin, "GET", "/issues")
    capped = call(gitea_standin, "GET", "/issues", params={"limit": 100})

    assert len(default.json()) == 30
    assert 'page=4>; rel="last"' in default.headers["Link"]
    assert len(capped.json()) == 50
    assert 'page=3>; rel="last"' in capped.headers["Link"]


def test_single_page_has_no_link(gitea_standin: GiteaStandin) -> None:
    seed_issues(gitea_standin, 3)

    response = call(gitea_standin, "GET", "/issues", params={"limit": 50})

    assert len(response.json()) == 3
    assert "Link" not in response.headers
    assert response.headers["X-Total-Count"] == "3"


def test_label_list_has_no_link(gitea_standin: GiteaStandin) -> None:
    for index in range(60):
        gitea_standin.add_label(f"label-{index:02d}")

    unpaged = call(gitea_standin, "GET", "/labels")
    paged = call(gitea_standin, "GET", "/labels", params={"page": 1, "limit": 50})

    assert len(unpaged.json()) == 60  # Gitea returns every label when no page is given
    assert len(paged.json()) == 50
    assert paged.headers["X-Total-Count"] == "60"
    assert "Link" not in paged.headers


# Authentication, permissions and repository state.


def test_private_repo_anonymous_gets_404(gitea_standin: GiteaStandin) -> None:
    response = call(gitea_standin, "GET", "/issues", token=None)

    assert response.status_code == 404
    assert response.json()["message"] == "The target couldn't be found."


def test_public_repo_anonymous_write_rejected(
    gitea_standin: GiteaStandin,
) -> None:
    gitea_standin.private = False

    read = call(gitea_standin, "GET", "/issues", token=None)
    write = call(gitea_standin, "POST", "/issues", token=None, json={"title": "x"})

    assert read.status_code == 200
    assert write.status_code == 401
    assert write.json() == {
        "message": "token is required",
        "url": f"{gitea_standin.url}/api/swagger",
    }
    assert gitea_standin.issues == {}


def test_wrong_token_returns_401(gitea_standin: GiteaStandin) -> None:
    response = call(gitea_standin, "GET", "/issues", token="not-the-token")

    assert response.status_code == 401
    assert response.json() == {
        "message": "invalid username, password or token",
        "url": f"{gitea_standin.url}/api/swagger",
    }


def test_bearer_scheme_accepted(gitea_standin: GiteaStandin) -> None:
    response = call(gitea_standin, "GET", "/issues", scheme="Bearer")

    assert response.status_code == 200


def test_read_only_token_write_rejected(gitea_standin: GiteaStandin) -> None:
    gitea_standin.read_only_token = True

    read = call(gitea_standin, "GET", "/issues")
    write = call(gitea_standin, "POST", "/issues", json={"title": "Boom"})

    assert read.status_code == 200
    assert write.status_code == 403
    assert "required=[write:issue]" in write.json()["message"]
    assert gitea_standin.issues == {}


@pytest.mark.parametrize("path", ["/api/v1/repos/acme/other/issues", "/api/v1/repos/nobody/errors"])
def test_unknown_repository_returns_404(gitea_standin: GiteaStandin, path: str) -> None:
    response = requests.get(
        f"{gitea_standin.url}{path}",
        headers={"Authorization": f"token {GITEA_TEST_TOKEN}"},
        timeout=5,
    )

    assert response.status_code == 404
    assert response.json() == {
        "errors": None,
        "message": "The target couldn't be found.",
        "url": f"{gitea_standin.url}/api/swagger",
    }


def test_archived_repo_rejects_creation(gitea_standin: GiteaStandin) -> None:
    gitea_standin.add_issue("Existing")
    gitea_standin.archived = True

    issue = call(gitea_standin, "POST", "/issues", json={"title": "Boom"})
    comment = call(gitea_standin, "POST", "/issues/1/comments", json={"body": "again"})
    repository = call(gitea_standin, "GET", "")

    assert issue.status_code == 423
    assert issue.json()["message"] == "repo is archived"
    assert comment.status_code == 423
    assert list(gitea_standin.issues) == [1]
    assert gitea_standin.issues[1].comments == []
    assert repository.json()["archived"] is True


# Issues, labels and comments.


def test_created_issue_has_label_objects(gitea_standin: GiteaStandin) -> None:
    label = gitea_standin.add_label("source:bugsink", "#E11D48", "Created by the sync")

    response = call(
        gitea_standin,
        "POST",
        "/issues",
        json={"title": "ValueError: boom", "body": "trace", "labels": [label.id]},
    )

    assert response.status_code == 201
    issue = response.json()
    assert issue["number"] == 1
    assert issue["id"] != issue["number"]
    assert issue["state"] == "open"
    assert issue["closed_at"] is None
    assert issue["html_url"] == gitea_standin.issue_html_url(1)
    assert issue["html_url"] == f"{gitea_standin.url}/acme/errors/issues/1"
    assert issue["labels"] == [
        {
            "id": label.id,
            "name": "source:bugsink",
            "exclusive": False,
            "is_archived": False,
            "color": "e11d48",
            "description": "Created by the sync",
            "url": f"{gitea_standin.url}{REPO_PATH}/labels/{label.id}",
        }
    ]
    assert gitea_standin.issues[1].title == "ValueError: boom"
    assert gitea_standin.issues[1].label_ids == [label.id]


def test_unknown_label_ids_dropped(gitea_standin: GiteaStandin) -> None:
    label = gitea_standin.add_label("bug")

    response = call(
        gitea_standin, "POST", "/issues", json={"title": "Boom", "labels": [label.id, 999]}
    )

    assert response.status_code == 201
    assert [item["id"] for item in response.json()["labels"]] == [label.id]


def test_empty_title_returns_422(gitea_standin: GiteaStandin) -> None:
    response = call(gitea_standin, "POST", "/issues", json={"title": ""})

    assert response.status_code == 422
    assert response.json()["message"] == "[Title]: Required"
    assert gitea_standin.issues == {}
    # The body matches CreateIssueOption, so only Gitea's own validation rejects it.
    assert gitea_standin.contract_violations == []


@pytest.mark.parametrize(
    ("sent", "stored", "returned"),
    [
        ("#E11D48", "#e11d48", "e11d48"),
        ("e11d48", "#e11d48", "e11d48"),
        ("abc", "#aabbcc", "aabbcc"),
    ],
)
def test_label_color_hash_optional(
    gitea_standin: GiteaStandin, sent: str, stored: str, returned: str
) -> None:
    response = call(gitea_standin, "POST", "/labels", json={"name": "bug", "color": sent})

    assert response.status_code == 201
    assert response.json()["color"] == returned
    assert gitea_standin.labels[response.json()["id"]].color == stored


def test_invalid_label_color_returns_422(gitea_standin: GiteaStandin) -> None:
    response = call(gitea_standin, "POST", "/labels", json={"name": "bug", "color": "crimson"})

    assert response.status_code == 422
    assert response.json()["message"] == "bad color code: crimson"
    assert gitea_standin.labels == {}


def test_duplicate_label_name_created(gitea_standin: GiteaStandin) -> None:
    gitea_standin.add_label("bug")

    response = call(gitea_standin, "POST", "/labels", json={"name": "bug", "color": "#00aabb"})

    assert response.status_code == 201
    assert [label.name for label in gitea_standin.labels.values()] == ["bug", "bug"]


def test_edit_label_color(gitea_standin: GiteaStandin) -> None:
    label = gitea_standin.add_label("bug", "#00aabb")

    response = call(gitea_standin, "PATCH", f"/labels/{label.id}", json={"color": "#112233"})

    assert response.status_code == 200
    assert response.json()["color"] == "112233"
    assert gitea_standin.labels[label.id].color == "#112233"


def test_edit_issue_close_and_reopen(gitea_standin: GiteaStandin) -> None:
    gitea_standin.add_issue("Boom", created_at=START)
    gitea_standin.now = lambda: START + timedelta(hours=1)

    closed = call(gitea_standin, "PATCH", "/issues/1", json={"state": "closed"})
    open_list = call(gitea_standin, "GET", "/issues", params={"state": "open"})
    closed_list = call(gitea_standin, "GET", "/issues", params={"state": "closed"})
    reopened = call(gitea_standin, "PATCH", "/issues/1", json={"state": "open", "title": "Again"})

    assert closed.status_code == 201  # Gitea returns 201 for an edit
    assert closed.json()["state"] == "closed"
    assert closed.json()["closed_at"] == "2026-01-05T10:00:00Z"
    assert closed.json()["updated_at"] == "2026-01-05T10:00:00Z"
    assert open_list.json() == []
    assert [issue["number"] for issue in closed_list.json()] == [1]
    assert reopened.json()["closed_at"] is None
    assert gitea_standin.issues[1].title == "Again"
    assert gitea_standin.issues[1].state == "open"


def test_unknown_issue_state_returns_412(gitea_standin: GiteaStandin) -> None:
    gitea_standin.add_issue("Boom")

    response = call(gitea_standin, "PATCH", "/issues/1", json={"state": "resolved"})

    assert response.status_code == 412
    assert response.json()["message"] == "unknown state: resolved"
    assert gitea_standin.issues[1].state == "open"


def test_deleted_issue_number_not_reused(
    gitea_standin: GiteaStandin,
) -> None:
    gitea_standin.add_issue("Boom")

    deleted = call(gitea_standin, "DELETE", "/issues/1")
    fetched = call(gitea_standin, "GET", "/issues/1")
    created = call(gitea_standin, "POST", "/issues", json={"title": "Next"})

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert fetched.status_code == 404
    assert created.json()["number"] == 2


def test_comments_created_and_listed(gitea_standin: GiteaStandin) -> None:
    gitea_standin.add_issue("Boom")

    created = call(gitea_standin, "POST", "/issues/1/comments", json={"body": "Seen again"})
    listed = call(gitea_standin, "GET", "/issues/1/comments")
    issue = call(gitea_standin, "GET", "/issues/1")

    assert created.status_code == 201
    assert created.json()["body"] == "Seen again"
    assert [comment["body"] for comment in listed.json()] == ["Seen again"]
    assert listed.headers["X-Total-Count"] == "1"
    assert issue.json()["comments"] == 1


def test_label_filter_requires_all_labels(gitea_standin: GiteaStandin) -> None:
    gitea_standin.add_label("bug")
    gitea_standin.add_label("source:bugsink")
    gitea_standin.add_issue("Both", labels=["bug", "source:bugsink"])
    gitea_standin.add_issue("Only bug", labels=["bug"])
    gitea_standin.add_issue("None")

    def titles(labels: str) -> list[str]:
        response = call(gitea_standin, "GET", "/issues", params={"labels": labels})
        return sorted(issue["title"] for issue in response.json())

    assert titles("source:bugsink") == ["Both"]
    assert titles("bug,source:bugsink") == ["Both"]
    # Unknown names are discarded. With none left, Gitea drops the filter and lists all.
    assert titles("no-such-label") == ["Both", "None", "Only bug"]


def test_keyword_and_time_filters(gitea_standin: GiteaStandin) -> None:
    gitea_standin.add_issue("Old", body="bugsink-issue-aaa", created_at=START)
    gitea_standin.add_issue("New", body="bugsink-issue-bbb", created_at=START + timedelta(days=1))

    def titles(**params: str) -> list[str]:
        response = call(gitea_standin, "GET", "/issues", params=params)
        return [issue["title"] for issue in response.json()]

    assert titles(q="BUGSINK-ISSUE-AAA") == ["Old"]
    assert titles(since="2026-01-06T09:00:00Z") == ["New"]  # both bounds are inclusive
    assert titles(before="2026-01-05T09:00:00Z") == ["Old"]
    assert titles(since="2026-01-05T10:00:00+01:00", before="2026-01-05T09:00:00Z") == ["Old"]
    assert gitea_standin.contract_violations == []


# Contract checks on requests.


def test_undeclared_query_parameter_violation(gitea_standin: GiteaStandin) -> None:
    response = call(gitea_standin, "GET", "/issues", params={"per_page": 10})

    assert response.status_code == 422
    assert "'per_page' is not declared" in response.json()["message"]
    assert gitea_standin.contract_violations == [
        f"GET {REPO_PATH}/issues (issueListIssues): query parameter 'per_page' is not declared"
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"page": "two"}, "query parameter 'page' must be an integer, got 'two'"),
        ({"state": "resolved"}, "query parameter 'state' must be one of"),
        ({"since": "2026-01-05"}, "query parameter 'since' must be an RFC 3339 date-time"),
        ({"type": "issue"}, "query parameter 'type' must be one of ['issues', 'pulls']"),
    ],
)
def test_query_value_type_violation(
    gitea_standin: GiteaStandin, params: dict[str, str], expected: str
) -> None:
    response = call(gitea_standin, "GET", "/issues", params=params)

    assert response.status_code == 422
    assert len(gitea_standin.contract_violations) == 1
    assert expected in gitea_standin.contract_violations[0]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"title": "Boom", "labels": ["bug"]}, "labels/0: 'bug' is not of type 'integer'"),
        ({"body": "no title"}, "(root): 'title' is a required property"),
        ({"title": "Boom", "lables": [1]}, "'lables' was unexpected"),
        ({"title": 42}, "title: 42 is not of type 'string'"),
    ],
)
def test_create_issue_body_violation(
    gitea_standin: GiteaStandin, body: dict[str, Any], expected: str
) -> None:
    response = call(gitea_standin, "POST", "/issues", json=body)

    assert response.status_code == 422
    assert len(gitea_standin.contract_violations) == 1
    violation = gitea_standin.contract_violations[0]
    assert violation.startswith(f"POST {REPO_PATH}/issues (issueCreateIssue): ")
    assert "body does not match CreateIssueOption" in violation
    assert expected in violation
    assert gitea_standin.issues == {}


def test_form_encoded_body_violation(gitea_standin: GiteaStandin) -> None:
    response = call(gitea_standin, "POST", "/issues", data={"title": "Boom"})

    assert response.status_code == 422
    assert (
        "content type 'application/x-www-form-urlencoded'" in (gitea_standin.contract_violations[0])
    )


def test_undeclared_operation_violation(gitea_standin: GiteaStandin) -> None:
    response = call(gitea_standin, "PUT", "/issues/1", json={"title": "Boom"})

    assert response.status_code == 422
    assert gitea_standin.contract_violations == [
        f"PUT {REPO_PATH}/issues/1 is not an operation in the Gitea API description"
    ]


def test_non_integer_index_violation(gitea_standin: GiteaStandin) -> None:
    response = call(gitea_standin, "GET", "/issues/first")

    assert response.status_code == 422
    assert "path parameter 'index' must be an integer" in gitea_standin.contract_violations[0]


# Contract checks on the stand-in's own responses.


RESPONSE_CASES = [
    ("GET", "", None, 200),
    ("GET", "/labels", None, 200),
    ("POST", "/labels", {"name": "env:production", "color": "#0ea5e9"}, 201),
    ("GET", "/labels/1", None, 200),
    ("PATCH", "/labels/1", {"color": "#22c55e", "description": "Seen in production"}, 200),
    ("GET", "/issues", None, 200),
    ("POST", "/issues", {"title": "KeyError: 'id'", "body": "trace", "labels": [1]}, 201),
    ("GET", "/issues/1", None, 200),
    ("PATCH", "/issues/1", {"state": "closed", "body": "resolved"}, 201),
    ("GET", "/issues/1/comments", None, 200),
    ("POST", "/issues/1/comments", {"body": "Seen again"}, 201),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), RESPONSE_CASES)
def test_responses_match_swagger_schemas(
    gitea_standin: GiteaStandin,
    gitea_contract: GiteaContract,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
) -> None:
    label = gitea_standin.add_label("source:bugsink")
    issue = gitea_standin.add_issue("ValueError: boom", labels=[label.id], state="closed")
    gitea_standin.add_comment(issue.number, "First")

    response = call(gitea_standin, method, path, json=body)

    assert response.status_code == status
    problems = gitea_contract.check_response(
        method, f"{REPO_PATH}{path}", status, response.json(), strict=True
    )
    assert problems == []
    assert gitea_standin.contract_violations == []


def test_response_check_reports_wrong_shapes(gitea_contract: GiteaContract) -> None:
    wrong = {"number": "1", "labels": [{"id": 1, "colour": "fff"}], "state": "resolved"}

    problems = gitea_contract.check_response(
        "GET", f"{REPO_PATH}/issues/1", 200, wrong, strict=True
    )

    assert any("number: '1' is not of type 'integer'" in p for p in problems)
    assert any("'colour' was unexpected" in p for p in problems)
    assert any("state: 'resolved' is not one of ['open', 'closed']" in p for p in problems)


# Fault injection and test hooks.


def test_fail_once_then_recovers(gitea_standin: GiteaStandin) -> None:
    gitea_standin.fail("POST", r"/issues$", 500)

    failed = call(gitea_standin, "POST", "/issues", json={"title": "Boom"})
    created = call(gitea_standin, "POST", "/issues", json={"title": "Boom"})

    assert failed.status_code == 500
    assert failed.json()["message"] == "Internal Server Error"
    assert created.status_code == 201
    assert list(gitea_standin.issues) == [1]


def test_fail_serves_html_bad_gateway(gitea_standin: GiteaStandin) -> None:
    gitea_standin.fail("*", r"/issues", 502, content_type="text/html", times=None)

    first = call(gitea_standin, "GET", "/issues")
    second = call(gitea_standin, "POST", "/issues", json={"title": "Boom"})

    for response in (first, second):
        assert response.status_code == 502
        assert response.headers["Content-Type"] == "text/html"
        assert "<h1>502 Bad Gateway</h1>" in response.text
    assert gitea_standin.issues == {}


def test_fail_custom_headers_and_body(gitea_standin: GiteaStandin) -> None:
    gitea_standin.fail("GET", r"/labels$", 429, headers={"Retry-After": "2"})
    gitea_standin.fail(
        "POST", r"/issues$", 413, body="request entity too large", content_type="text/plain"
    )

    limited = call(gitea_standin, "GET", "/labels")
    too_large = call(gitea_standin, "POST", "/issues", json={"title": "Boom"})

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert too_large.status_code == 413
    assert too_large.text == "request entity too large"


def test_delay_times_out_client_but_commits(gitea_standin: GiteaStandin) -> None:
    gitea_standin.delay("POST", r"/issues$", seconds=1.0)

    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            f"{gitea_standin.url}{REPO_PATH}/issues",
            json={"title": "Boom"},
            headers={"Authorization": f"token {GITEA_TEST_TOKEN}"},
            timeout=0.2,
        )

    # Like a slow Gitea, the stand-in finishes the request after the client gave up.
    deadline = time.monotonic() + 5
    while not gitea_standin.issues and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(gitea_standin.issues) == [1]


def test_drop_after_commit_keeps_issue(
    gitea_standin: GiteaStandin,
) -> None:
    gitea_standin.drop_connection("POST", r"/issues$", after_commit=True)

    with pytest.raises(requests.exceptions.ConnectionError):
        call(gitea_standin, "POST", "/issues", json={"title": "Boom"})

    assert gitea_standin.issues[1].title == "Boom"
    assert gitea_standin.requests[-1].status is None


def test_drop_before_commit_leaves_nothing(gitea_standin: GiteaStandin) -> None:
    gitea_standin.drop_connection("POST", r"/issues$", after_commit=False)

    with pytest.raises(requests.exceptions.ConnectionError):
        call(gitea_standin, "POST", "/issues", json={"title": "Boom"})

    assert gitea_standin.issues == {}


def test_recorded_requests_mask_token(gitea_standin: GiteaStandin) -> None:
    call(gitea_standin, "POST", "/issues", json={"title": "Boom"})
    call(gitea_standin, "GET", "/issues", params={"state": "all", "limit": 50})

    created, listed = gitea_standin.requests
    assert (created.method, created.path, created.status) == ("POST", f"{REPO_PATH}/issues", 201)
    assert created.body == {"title": "Boom"}
    assert created.headers["Authorization"] == "token ***"
    assert listed.query == {"state": "all", "limit": "50"}
    assert GITEA_TEST_TOKEN not in repr(gitea_standin.requests)


def test_reset_clears_everything(gitea_standin: GiteaStandin) -> None:
    gitea_standin.add_issue("Boom")
    gitea_standin.fail("GET", r"/issues$", 500, times=None)
    gitea_standin.archived = True
    call(gitea_standin, "GET", "/issues", params={"per_page": 1})

    gitea_standin.reset()
    response = call(gitea_standin, "GET", "/issues")

    assert response.status_code == 200
    assert response.json() == []
    assert gitea_standin.archived is False
    assert gitea_standin.contract_violations == []
    assert len(gitea_standin.requests) == 1


def test_server_binds_loopback_only(gitea_standin: GiteaStandin) -> None:
    assert gitea_standin.url.startswith("http://127.0.0.1:")
    assert not gitea_standin.url.endswith("/")


# Locating the API description.


def test_swagger_path_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SWAGGER_ENV_VAR, str(tmp_path / "gitea.json"))

    assert locate_swagger() == tmp_path / "gitea.json"
    with pytest.raises(SwaggerNotFoundError, match=r"gitea\.json"):
        load_swagger()


def test_default_swagger_path_beside_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SWAGGER_ENV_VAR, raising=False)
    repository_root = Path(__file__).resolve().parents[1]

    expected = repository_root.parent / "shared" / "contracts" / "gitea-swagger-1.27.1.json"
    assert locate_swagger() == expected


def test_missing_swagger_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="not found"):
        skip_or_fail_without_swagger("Gitea API description not found at /x")


def test_missing_swagger_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        skip_or_fail_without_swagger("Gitea API description not found at /x")
