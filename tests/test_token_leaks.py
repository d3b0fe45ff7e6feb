"""A failing sync leaks neither token: not in logs, exceptions, sync runs, sync records, the
sync state, the admin, or anything posted to Gitea.

Both servers echo the tokens back in their error pages (as debugging proxies do), and the
application behind Bugsink logged them into its own events.
"""

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import responses
from django.test import Client
from django.urls import reverse

from syncapp.models import SyncRecord, SyncRun
from syncapp.runs import run_sync
from tests.conftest import BUGSINK_TOKEN, GITEA_TOKEN, enable_sync
from tests.factories import event_payload
from tests.fake_bugsink import BASE, FakeBugsink
from tests.gitea_standin import GiteaStandin

pytestmark = pytest.mark.django_db

TOKENS = (BUGSINK_TOKEN, GITEA_TOKEN)
ISSUES_PATH = r"/repos/acme/errors/issues$"


class EchoingBugsink(FakeBugsink):
    """A Bugsink whose proxy echoes the request's Authorization header in its error pages."""

    echo_on_resolve: set[str]

    def _resolve(self, request: Any) -> tuple[int, dict[str, str], str]:
        issue_id = urlsplit(request.url).path.rstrip("/").split("/")[-2]
        if issue_id in self.echo_on_resolve:
            page = f"<html><pre>upstream timeout\nAuthorization: {request.headers['Authorization']}</pre></html>"  # fmt: skip
            return 503, {"Content-Type": "text/html"}, page
        return super()._resolve(request)


@pytest.fixture
def bugsink(gitea_standin: GiteaStandin) -> Iterator[EchoingBugsink]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(gitea_standin.url)
        fake = EchoingBugsink(mock)
        fake.echo_on_resolve = set()
        yield fake


def leaks_in(text: str) -> list[str]:
    return [token[:6] + "…" for token in TOKENS if token in text]


def admin_pages(client: Client) -> str:
    pages = []
    for model in ("syncrun", "syncrecord"):
        changelist = reverse(f"admin:syncapp_{model}_changelist")
        pages.append(client.get(changelist).content.decode())
        objects = SyncRun.objects.all() if model == "syncrun" else SyncRecord.objects.all()
        for row in objects:
            response = client.get(reverse(f"admin:syncapp_{model}_change", args=[row.pk]))
            assert response.status_code == 200
            pages.append(response.content.decode())
    return "\n".join(pages)


def test_failing_sync_leaks_no_token(
    bugsink: EchoingBugsink,
    gitea_standin: GiteaStandin,
    settings: Any,
    state_redis: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    admin_client: Client,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    enable_sync(
        settings, bugsink_url=BASE, gitea_url=gitea_standin.url, bugsink_token=BUGSINK_TOKEN
    )
    project = bugsink.add_project(1, "Backend", "backend-prod")
    issues = [bugsink.add_issue(project, number) for number in range(1, 5)]
    bugsink.events[issues[3]["id"]] = event_payload(
        message=f"startup config: GITEA_API_TOKEN={GITEA_TOKEN} bugsink {BUGSINK_TOKEN}",
        exception=None,
        request={
            "url": f"https://shop.example.com/hook?key={GITEA_TOKEN}",
            "headers": {"Authorization": f"Bearer {BUGSINK_TOKEN}", "X-Debug": GITEA_TOKEN},
        },
        tags=[["deploy_key", GITEA_TOKEN], ["note", f"bugsink={BUGSINK_TOKEN}"]],
    )
    bugsink.issue(issues[3]["id"])["calculated_value"] = f"leaked {GITEA_TOKEN}"
    bugsink.echo_on_resolve.add(issues[2]["id"])
    echo_page = f"<html><h1>502 Bad Gateway</h1><pre>Authorization: token {GITEA_TOKEN}</pre></html>"  # fmt: skip
    gitea_standin.fail("POST", ISSUES_PATH, 502, body=echo_page, content_type="text/html", times=2)
    gitea_standin.fail("POST", ISSUES_PATH, 422, body={"message": f"bad token {GITEA_TOKEN}"})

    partial_run, summary = run_sync(trigger=SyncRun.Trigger.COMMAND)
    gitea_standin.fail(
        "GET", r"/repos/acme/errors$", 401, body={"message": f"token {GITEA_TOKEN} is invalid"}
    )
    with pytest.raises(Exception) as raised:
        run_sync(trigger=SyncRun.Trigger.COMMAND)

    # The failures really happened, with the echoing responses.
    assert summary.failed == 3
    assert partial_run.status == SyncRun.Status.PARTIAL
    assert SyncRun.objects.filter(status=SyncRun.Status.FAILED).count() == 1
    assert "502" in caplog.text
    assert "401" in str(raised.value)

    assert leaks_in(caplog.text) == []
    for record in caplog.records:
        assert leaks_in(record.getMessage()) == []
    assert leaks_in(f"{raised.value!s} {raised.value!r} {raised.value.__cause__!r}") == []
    runs = [
        json.dumps([run.error, run.failures], ensure_ascii=False) for run in SyncRun.objects.all()
    ]
    assert leaks_in("\n".join(runs)) == []
    records = [json.dumps(row, default=str) for row in SyncRecord.objects.values()]
    assert len(records) == 4
    assert leaks_in("\n".join(records)) == []
    state = [str(state_redis.get(key)) for key in state_redis.keys("*")]
    assert leaks_in("\n".join(state)) == []
    posted = [recorded.raw_body.decode("utf-8", "replace") for recorded in gitea_standin.requests]
    stored = [issue.title + issue.body for issue in gitea_standin.issues.values()]
    # Two creates got a 502 and one a 422; only the fourth issue was filed in this run.
    assert len(stored) == 1
    assert leaks_in("\n".join(posted + stored)) == []
    assert leaks_in(admin_pages(admin_client)) == []
    status = admin_client.get("/api/admin/bugsink/sync/status")
    assert status.status_code == 200
    assert status.json()["data"]["last_run_summary"]["error"]
    assert leaks_in(status.content.decode()) == []
