"""Gitea behind a proxy or on MySQL: 413, utf8mb4 500s, HTML error pages, HTML 2xx responses.

The client talks to the Gitea stand-in over HTTP; the drafts are real renderings.
"""

import json
from typing import Any

import pytest
import redis
import responses

from syncapp.conf import Secret
from syncapp.events import parse_event
from syncapp.gitea import GiteaClient
from syncapp.http import ApiError
from syncapp.models import SyncRecord, SyncRun
from syncapp.rendering import (
    FOUR_BYTE_NOTE,
    MIN_BODY_CHARS,
    SHRUNK_BODY_CHARS,
    RenderedIssue,
    render_issue,
)
from syncapp.runs import run_sync
from tests.conftest import BUGSINK_TOKEN, GITEA_TOKEN, enable_sync
from tests.factories import PROJECT, event_payload, make_issue
from tests.fake_bugsink import BASE, FakeBugsink
from tests.gitea_standin import GiteaStandin, RecordedRequest
from tests.test_bugsink_client import make_config

ISSUES_PATH = r"/repos/acme/errors/issues$"
ISSUE_URL = "https://bugsink.example.com/issues/issue/00000000-0000-4000-8000-000000000001/"
NGINX_413 = (
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
MYSQL_1366 = (
    "CreateIssue: Error 1366 (HY000): Incorrect string value: '\\xF0\\x9F\\x92\\xA5' for "
    "column `gitea`.`issue`.`content` at row 1"
)


@pytest.fixture
def client(gitea_standin: GiteaStandin) -> GiteaClient:
    config = make_config(gitea_url=gitea_standin.url, gitea_token=Secret(GITEA_TOKEN))
    return GiteaClient(config, sleep=lambda seconds: None)


def large_draft(message: str = "checkout failed") -> RenderedIssue:
    """A real rendering near the 60,000-character cap: 3,000 frames with long lines."""
    frames = [
        {"filename": f"shop/step_{index}.py", "function": "run", "context_line": "x = 1; " * 30}
        for index in range(3000)
    ]
    exception = {"values": [{"type": "ValueError", "value": message, "stacktrace": {"frames": frames}}]}  # fmt: skip
    event = parse_event(event_payload(exception=exception))
    return render_issue(PROJECT, make_issue(calculated_value=message), event, ISSUE_URL)


def issue_posts(standin: GiteaStandin) -> list[RecordedRequest]:
    return [r for r in standin.requests if r.method == "POST" and r.path.endswith("/issues")]


def test_413_is_retried_once_with_smaller_body(
    client: GiteaClient, gitea_standin: GiteaStandin
) -> None:
    gitea_standin.fail("POST", ISSUES_PATH, 413, body=NGINX_413, content_type="text/html")
    draft = large_draft()

    created = client.create_issue_with_fallbacks(draft, [])

    posts = issue_posts(gitea_standin)
    assert len(posts) == 2
    assert posts[0].body["body"] == draft.body
    assert len(posts[1].body["body"]) <= SHRUNK_BODY_CHARS
    assert len(posts[1].body["body"]) < len(draft.body)
    stored = gitea_standin.issues[created.number].body
    assert "Gitea rejected the full issue as too large (HTTP 413)" in stored
    assert "shop/step_2999.py" in stored  # the frame nearest the error stays
    assert stored.startswith(draft.body.split("\n", 1)[0])  # same marker


def test_second_413_is_raised_without_third_attempt(
    client: GiteaClient, gitea_standin: GiteaStandin
) -> None:
    gitea_standin.fail("POST", ISSUES_PATH, 413, body=NGINX_413, content_type="text/html", times=2)

    with pytest.raises(ApiError) as raised:
        client.create_issue_with_fallbacks(large_draft(), [])

    posts = issue_posts(gitea_standin)
    assert raised.value.status == 413
    assert raised.value.transient is False
    assert "413 Request Entity Too Large" in str(raised.value)
    assert len(posts) == 2
    assert posts[0].raw_body != posts[1].raw_body
    assert gitea_standin.issues == {}


def test_413_for_small_body_is_not_retried(
    client: GiteaClient, gitea_standin: GiteaStandin
) -> None:
    gitea_standin.fail("POST", ISSUES_PATH, 413, body=NGINX_413, content_type="text/html")
    draft = render_issue(PROJECT, make_issue(), None, ISSUE_URL)
    assert len(draft.body) // 2 < MIN_BODY_CHARS

    with pytest.raises(ApiError):
        client.create_issue_with_fallbacks(draft, [])

    assert len(issue_posts(gitea_standin)) == 1


def test_incorrect_string_value_is_retried_without_emoji(
    client: GiteaClient, gitea_standin: GiteaStandin
) -> None:
    gitea_standin.fail("POST", ISSUES_PATH, 500, body={"message": MYSQL_1366, "url": ""})
    message = "payment 💥 failed for 👩‍💻 (naïve café)"
    draft = render_issue(PROJECT, make_issue(calculated_value=message), None, ISSUE_URL)

    created = client.create_issue_with_fallbacks(draft, [])

    posts = issue_posts(gitea_standin)
    assert len(posts) == 2
    sent = posts[1].body
    assert not any(ord(char) > 0xFFFF for char in sent["title"] + sent["body"])
    assert "payment \ufffd failed for \ufffd\u200d\ufffd (naïve café)" in sent["body"]
    assert sent["title"] == "[Backend] ValueError: payment \ufffd failed for \ufffd\u200d\ufffd (naïve café)"  # fmt: skip
    assert FOUR_BYTE_NOTE in gitea_standin.issues[created.number].body


@pytest.mark.parametrize(
    "answer",
    [
        {"message": "", "url": "https://gitea.example.com/api/swagger"},  # production Gitea
        {"message": "NewIssue: dial tcp: connection refused", "url": ""},
    ],
)
def test_other_500_is_raised_after_one_attempt(
    client: GiteaClient, gitea_standin: GiteaStandin, answer: dict[str, str]
) -> None:
    gitea_standin.fail("POST", ISSUES_PATH, 500, body=answer)
    draft = render_issue(PROJECT, make_issue(calculated_value="💥"), None, ISSUE_URL)

    with pytest.raises(ApiError) as raised:
        client.create_issue_with_fallbacks(draft, [])

    assert raised.value.status == 500
    assert len(issue_posts(gitea_standin)) == 1


def test_incorrect_string_value_without_emoji_is_not_retried(
    client: GiteaClient, gitea_standin: GiteaStandin
) -> None:
    gitea_standin.fail("POST", ISSUES_PATH, 500, body={"message": MYSQL_1366, "url": ""})
    draft = render_issue(PROJECT, make_issue(calculated_value="plain text"), None, ISSUE_URL)

    with pytest.raises(ApiError):
        client.create_issue_with_fallbacks(draft, [])

    assert len(issue_posts(gitea_standin)) == 1


def test_413_then_incorrect_string_value_uses_both_fallbacks(
    client: GiteaClient, gitea_standin: GiteaStandin
) -> None:
    gitea_standin.fail("POST", ISSUES_PATH, 413, body=NGINX_413, content_type="text/html")
    gitea_standin.fail("POST", ISSUES_PATH, 500, body={"message": MYSQL_1366, "url": ""})

    created = client.create_issue_with_fallbacks(large_draft("bad 💥 order"), [])

    bodies = [post.body["body"] for post in issue_posts(gitea_standin)]
    assert len(bodies) == 3
    assert len(set(bodies)) == 3
    stored = gitea_standin.issues[created.number].body
    assert "HTTP 413" in stored
    assert FOUR_BYTE_NOTE in stored
    assert "💥" not in stored


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_html_error_page_becomes_readable_transient_error(
    client: GiteaClient, gitea_standin: GiteaStandin, status: int
) -> None:
    page = f"<html><body><h1>{status} from the proxy</h1>\x00<p>try later</p></body></html>"
    gitea_standin.fail(
        "POST",
        ISSUES_PATH,
        status,
        body=page,
        content_type="text/html",
        headers={"Retry-After": "1"},
    )

    with pytest.raises(ApiError) as raised:
        client.create_issue("title", "body", [])

    assert raised.value.status == status
    assert raised.value.transient is True
    assert raised.value.detail == f"{status} from the proxy \ufffd try later"
    assert raised.value.retry_after == 1.0
    assert len(issue_posts(gitea_standin)) == 1


def test_html_429_on_read_is_retried(client: GiteaClient, gitea_standin: GiteaStandin) -> None:
    gitea_standin.fail(
        "GET", r"/labels$", 429, body="<html>slow down</html>", content_type="text/html", times=2
    )

    assert client.list_labels() == []

    assert len([r for r in gitea_standin.requests if r.path.endswith("/labels")]) == 3


def test_html_page_with_2xx_status_is_an_error(
    client: GiteaClient, gitea_standin: GiteaStandin
) -> None:
    login_page = "<html><title>Sign in</title><body>Sign in to continue</body></html>"
    gitea_standin.fail(
        "GET", r"/repos/acme/errors$", 200, body=login_page, content_type="text/html"
    )

    with pytest.raises(ApiError) as raised:
        client.check_repository()

    assert raised.value.status == 200
    assert "text/html instead of JSON: Sign in Sign in to continue" in str(raised.value)
    assert "GITEA_URL" in str(raised.value)


@responses.activate
def test_binary_error_body_is_described_safely() -> None:
    client = GiteaClient(make_config(), sleep=lambda seconds: None)
    responses.post(
        "https://gitea.example.com/api/v1/repos/acme/errors/issues",
        status=502,
        body=b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 100_000,
        content_type="image/png",
    )

    with pytest.raises(ApiError) as raised:
        client.create_issue("t", "b", [])

    assert "\x00" not in str(raised.value)
    assert len(raised.value.detail) <= 201


@pytest.mark.django_db
def test_sync_run_survives_413_and_utf8mb4_rejections(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, settings: Any, state_redis: redis.Redis
) -> None:
    enable_sync(
        settings, bugsink_url=BASE, gitea_url=gitea_standin.url, bugsink_token=BUGSINK_TOKEN
    )
    project = bugsink.add_project(1, "Backend", "backend-prod")
    issue = bugsink.add_issue(project, 1, calculated_value="boom 💥")
    frames = [{"filename": f"f{i}.py", "function": "g", "context_line": "y = 2; " * 30} for i in range(3000)]  # fmt: skip
    bugsink.events[issue["id"]] = event_payload(
        exception={"values": [{"type": "E", "value": "boom 💥", "stacktrace": {"frames": frames}}]}
    )
    gitea_standin.fail("POST", ISSUES_PATH, 413, body=NGINX_413, content_type="text/html")
    gitea_standin.fail("POST", ISSUES_PATH, 500, body={"message": MYSQL_1366, "url": ""})

    sync_run, summary = run_sync(trigger=SyncRun.Trigger.COMMAND)

    assert (summary.synced, summary.failed) == (1, 0)
    assert sync_run.status == SyncRun.Status.SUCCEEDED
    record = SyncRecord.objects.get(bugsink_issue_id=issue["id"])
    body = gitea_standin.issues[record.gitea_issue_number].body
    assert "HTTP 413" in body
    assert FOUR_BYTE_NOTE in body
    assert bugsink.unresolved_ids() == set()
    sent = [json.dumps(post.body) for post in issue_posts(gitea_standin)]
    assert len(sent) == 3
    assert len(set(sent)) == 3
