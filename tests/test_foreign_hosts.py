"""No request leaves for a host other than BUGSINK_URL's and GITEA_URL's origins.

Pagination links and redirects that name elsewhere.example.net are refused or reduced to their
cursor, and each token goes only to its own server. That host is never contacted, because
`responses` intercepts and records every request that is not for the stand-in on 127.0.0.1.
"""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses

from syncapp.models import SyncRecord, SyncRun
from syncapp.runs import run_sync
from tests.conftest import BUGSINK_TOKEN, GITEA_TOKEN
from tests.fake_bugsink import API, BASE, FakeBugsink
from tests.gitea_standin import GiteaStandin

pytestmark = pytest.mark.django_db

FOREIGN = "elsewhere.example.net"


class MisdirectingBugsink(FakeBugsink):
    """A Bugsink behind a proxy that names another host in its next links and redirects."""

    def __init__(self, mock: responses.RequestsMock, next_origin: str) -> None:
        self.next_origin = next_origin
        self.redirected_events: set[str] = set()
        super().__init__(mock, page_size=2)

    def _issues(self, request: Any) -> tuple[int, dict[str, str], str]:
        status, headers, text = super()._issues(request)
        payload = json.loads(text)
        if payload["next"]:
            payload["next"] = payload["next"].replace(BASE, self.next_origin)
        return status, headers, json.dumps(payload)

    def _event(self, request: Any) -> tuple[int, dict[str, str], str]:
        issue_id = urlsplit(request.url).path.rstrip("/").split("/")[-1].removeprefix("event-of-")
        if issue_id in self.redirected_events:
            location = f"https://{FOREIGN}/api/canonical/0/events/event-of-{issue_id}/"
            return 302, {"Location": location}, ""
        return super()._event(request)


@pytest.fixture
def mock(gitea_standin: GiteaStandin) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as requests_mock:
        requests_mock.add_passthru(gitea_standin.url)
        yield requests_mock


def foreign_requests(mock: responses.RequestsMock) -> list[str]:
    return [
        call.request.url
        for call in mock.calls
        if urlsplit(call.request.url).hostname not in ("bugsink.test", "127.0.0.1")
    ]


@pytest.mark.parametrize(
    "next_origin",
    [f"https://{FOREIGN}", "https://bugsink.test", "http://bugsink.test:8080"],
    ids=["other host", "other scheme", "other port"],
)
def test_run_never_follows_foreign_links_or_redirects(
    mock: responses.RequestsMock,
    gitea_standin: GiteaStandin,
    sync_enabled: None,
    next_origin: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bugsink = MisdirectingBugsink(mock, next_origin)
    project = bugsink.add_project(1, "Backend", "backend-prod")
    issues = [bugsink.add_issue(project, number) for number in range(1, 6)]
    bugsink.redirected_events.add(issues[2]["id"])
    for index in range(60):
        gitea_standin.add_label(f"team:{index}", "#000000")
    # Gitea's ROOT_URL names another host: its Link headers and html_urls point there.
    gitea_standin.repository.app_url = f"http://{FOREIGN}/"

    sync_run, summary = run_sync(trigger=SyncRun.Trigger.COMMAND)

    assert foreign_requests(mock) == []
    assert (summary.synced, summary.failed) == (4, 1)
    assert sync_run.status == SyncRun.Status.PARTIAL
    reason = sync_run.failures[0]["reason"]
    assert "redirected GET" in reason
    assert f"to https://{FOREIGN}; the sync does not follow redirects" in reason
    assert "only its cursor is used" in caplog.text
    assert SyncRecord.objects.filter(status=SyncRecord.Status.RESOLVED).count() == 4
    assert len(gitea_standin.issues) == 4


def test_each_token_goes_only_to_its_own_server(
    mock: responses.RequestsMock, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    bugsink = MisdirectingBugsink(mock, f"https://{FOREIGN}")
    project = bugsink.add_project(1, "Backend", "backend-prod")
    for number in range(1, 4):
        bugsink.add_issue(project, number)

    run_sync(trigger=SyncRun.Trigger.COMMAND)

    bugsink_calls = [call.request for call in mock.calls if "bugsink.test" in call.request.url]
    assert bugsink_calls
    assert {request.headers["Authorization"] for request in bugsink_calls} == {
        f"Bearer {BUGSINK_TOKEN}"
    }
    assert foreign_requests(mock) == []
    assert gitea_standin.requests
    for recorded in gitea_standin.requests:
        assert BUGSINK_TOKEN not in json.dumps(recorded.headers)
        assert BUGSINK_TOKEN not in recorded.raw_body.decode("utf-8", errors="replace")
    for call in mock.calls:
        assert GITEA_TOKEN not in str(call.request.headers)


def test_gitea_redirect_elsewhere_ends_run(
    mock: responses.RequestsMock, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    bugsink = FakeBugsink(mock)
    bugsink.add_issue(bugsink.add_project(1, "Backend", "backend-prod"), 1)
    location = f"http://{FOREIGN}/api/v1/repos/acme/errors"
    gitea_standin.fail("GET", r"/repos/acme/errors$", 301, body="", headers={"Location": location})

    with pytest.raises(Exception, match="redirected GET"):
        run_sync(trigger=SyncRun.Trigger.COMMAND)

    assert foreign_requests(mock) == []
    assert gitea_standin.issues == {}
    failed = SyncRun.objects.get()
    assert failed.status == SyncRun.Status.FAILED
    assert f"to http://{FOREIGN}" in failed.error
    assert "Set the Gitea URL" in failed.error
    assert not [call for call in mock.calls if call.request.url.startswith(f"{API}/issues/")]
