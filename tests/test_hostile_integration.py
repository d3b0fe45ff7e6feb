"""Hostile events and secrets through a real Bugsink, then one sync run into the Gitea stand-in.

The events go in the way a client sends them: as raw JSON to Bugsink's store endpoint (any
SDK, in any language, may send such payloads) and with sentry-sdk. Each case gets a project
of its own, because Bugsink would group similar events into one issue.
"""

import gzip
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from syncapp.models import SyncRecord, SyncRun
from syncapp.rendering import marker_for
from syncapp.runs import run_sync
from tests.bugsink_server import BugsinkServer
from tests.gitea_standin import GiteaStandin
from tests.hostile_events import CASES, HostileCase, frame, with_exception
from tests.markdown_checks import check_body, check_title

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SENDABLE = [case for case in CASES if case.via]
SECRETS = {
    "bearer": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "cookie": "q1w2e3r4t5y6u7i8",
    "api_key": "sk_live_51Habc9876543210xyz",
    "form_password": "correct horse battery staple",
    "url_password": "Pa55w0rdInUrl",
    "message_password": "hunter2hunter2",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "card": "4111 1111 1111 1111",
    "email": "jane.doe@example.com",
    "ip": "203.0.113.54",
}


def send_to_store(server: BugsinkServer, project: dict[str, Any], payload: dict[str, Any]) -> None:
    """POST payload, gzip-compressed, to the project's store endpoint as an SDK would."""
    dsn = urlsplit(project["dsn"])
    event = {
        "event_id": uuid.uuid4().hex,
        "timestamp": datetime.now(UTC).isoformat(),
        "platform": "python",
    }
    event.update(payload)
    response = requests.post(
        f"{server.url}/api/{project['id']}/store/",
        data=gzip.compress(json.dumps(event).encode()),
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={dsn.username}",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text[:500]


def secret_payload() -> dict[str, Any]:
    """An event from a login view whose client does no scrubbing of its own."""
    query = f"next=%2F&api_key={SECRETS['api_key']}&lang=en"
    return with_exception(
        "PermissionError",
        f"login failed: password={SECRETS['message_password']} token {SECRETS['jwt']} "
        f"key {SECRETS['aws']} card {SECRETS['card']} for {SECRETS['email']}",
        frames=[frame("shop/auth.py", "login", vars={"password": SECRETS["form_password"]})],
        request={
            "url": f"https://admin:{SECRETS['url_password']}@shop.example.com/login/?{query}",
            "method": "POST",
            "query_string": query,
            "headers": {
                "Authorization": f"Bearer {SECRETS['bearer']}",
                "Cookie": f"sessionid={SECRETS['cookie']}",
                "X-Forwarded-For": SECRETS["ip"],
                "User-Agent": "Mozilla/5.0",
            },
            "cookies": {"sessionid": SECRETS["cookie"]},
            "data": {"username": "jane", "password": SECRETS["form_password"]},
            "env": {"REMOTE_ADDR": SECRETS["ip"]},
        },
        user={"id": "42", "email": SECRETS["email"], "ip_address": SECRETS["ip"]},
    )


@pytest.fixture
def hostile_projects(bugsink_server: BugsinkServer) -> Iterator[list[dict[str, Any]]]:
    """Projects the test creates; their issues are resolved afterwards, whatever happened,
    so that later tests on the shared Bugsink do not sync them."""
    projects: list[dict[str, Any]] = []
    yield projects
    for project in projects:
        for issue in bugsink_server.list_issues(project["id"], state="open"):
            bugsink_server.resolve_issue(issue["id"])


def test_hostile_events_through_real_bugsink_sync_cleanly(
    bugsink_server: BugsinkServer,
    live_settings: Any,
    gitea: GiteaStandin,
    hostile_projects: list[dict[str, Any]],
) -> None:
    suffix = datetime.now(UTC).strftime("%H%M%S%f")

    def create_project(name: str) -> dict[str, Any]:
        project = bugsink_server.create_project(f"{name} {suffix}")
        hostile_projects.append(project)
        return project

    projects: list[tuple[HostileCase | None, dict[str, Any]]] = []
    for index, case in enumerate(SENDABLE):
        project = create_project(f"Hostile {index}")
        send_to_store(bugsink_server, project, case.data)
        projects.append((case, project))
    secrets_project = create_project("Secrets store")
    send_to_store(bugsink_server, secrets_project, secret_payload())
    projects.append((None, secrets_project))
    sdk_project = create_project("Secrets sdk")
    bugsink_server.send_exception_with_request(
        sdk_project,
        "PermissionError",
        f"login failed: password={SECRETS['message_password']} </details> @admin #12 💥\x00",
        url=f"https://admin:{SECRETS['url_password']}@shop.example.com/login/?api_key={SECRETS['api_key']}",
        method="POST",
        headers={"Authorization": f"Bearer {SECRETS['bearer']}", "X-Forwarded-For": SECRETS["ip"]},
        query_string=f"api_key={SECRETS['api_key']}",
        data={"password": SECRETS["form_password"]},
    )
    projects.append((None, sdk_project))
    issue_ids: dict[str, tuple[HostileCase | None, str]] = {}
    for case, project in projects:
        for issue in bugsink_server.wait_for_issues(project["id"], 1):
            issue_ids[issue["id"]] = (case, project["name"])

    sync_run, summary = run_sync(trigger=SyncRun.Trigger.COMMAND)

    assert summary.failures == []
    assert sync_run.status == SyncRun.Status.SUCCEEDED
    assert gitea.contract_violations == []
    for _, project in projects:
        assert bugsink_server.list_issues(project["id"], state="open") == []
    posted = "\n".join(r.raw_body.decode("utf-8", "replace") for r in gitea.requests)
    for name, secret in SECRETS.items():
        assert secret not in posted, name
        assert json.dumps(secret)[1:-1] not in posted, name
    for issue_id, (case, name) in issue_ids.items():
        record = SyncRecord.objects.get(bugsink_issue_id=issue_id)
        assert record.status == SyncRecord.Status.RESOLVED, name
        matching = [i for i in gitea.issues.values() if marker_for(issue_id) in i.body]
        assert len(matching) == 1, name
        issue_url = f"{bugsink_server.url}/issues/issue/{issue_id}/"
        shown = case.shown if case else ()
        assert check_title(matching[0].title) == [], name
        assert check_body(matching[0].body, issue_url, shown) == [], name
