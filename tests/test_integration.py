"""The whole sync on a real Bugsink, the Gitea stand-in, real PostgreSQL, real Redis and a
real Celery worker. Bugsink is shared by the test session, so assertions are about the
projects each test creates."""

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from celery.result import AsyncResult

from config.celery import app
from syncapp.models import SyncRecord, SyncRun
from syncapp.rendering import marker_for
from syncapp.runs import run_sync
from syncapp.state import SyncStateStore
from syncapp.tasks import sync_bugsink_to_gitea
from tests.bugsink_server import BugsinkServer
from tests.celery_worker import CeleryWorker
from tests.gitea_standin import GiteaStandin

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RECORD_COLOURS = {
    "bug:frontend": "#e11d48",
    "bug:backend": "#ea580c",
    "bug:infrastructure": "#7c3aed",
    "env:production": "#dc2626",
    "env:test": "#2563eb",
    "env:development": "#6b7280",
    "source:bugsink": "#10b981",
}


def open_issue_ids(server: BugsinkServer, project: dict[str, Any]) -> set[str]:
    return {issue["id"] for issue in server.list_issues(project["id"], state="open")}


def gitea_numbers_by_bugsink_id(gitea: GiteaStandin, bugsink_ids: set[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {issue_id: [] for issue_id in bugsink_ids}
    for issue in gitea.issues.values():
        for issue_id in bugsink_ids:
            if marker_for(issue_id) in issue.body:
                found[issue_id].append(issue.number)
    return found


def issue_for(gitea: GiteaStandin, bugsink_id: str) -> Any:
    record = SyncRecord.objects.get(bugsink_issue_id=bugsink_id)
    return gitea.issues[record.gitea_issue_number]


def label_names_of(gitea: GiteaStandin, issue: Any) -> set[str]:
    return {gitea.labels[label_id].name for label_id in issue.label_ids}


def wait_for_result(
    result: AsyncResult, worker: CeleryWorker, timeout: float = 600
) -> dict[str, Any]:
    try:
        return result.get(timeout=timeout)
    except Exception as error:
        raise AssertionError(f"task failed: {error}\nworker log:\n{worker.log_tail()}") from error


def test_worker_syncs_real_bugsink_issues_exactly_once(
    bugsink_server: BugsinkServer,
    gitea: GiteaStandin,
    worker: CeleryWorker,
    live_settings: Any,
    state_redis: redis.Redis,
) -> None:
    suffix = datetime.now(UTC).strftime("%H%M%S%f")
    backend = bugsink_server.create_project(f"Backend Production {suffix}")
    frontend = bugsink_server.create_project(f"Frontend Staging {suffix}")
    billing = bugsink_server.create_project(f"Billing {suffix}")

    bugsink_server.send_exception(
        backend, "ValueError", "invalid literal for int() with base 10: 'abc'"
    )
    bugsink_server.send_message(backend, "Payment provider answered slowly", level="warning")
    bugsink_server.send_exception_with_request(
        backend,
        "KeyError",
        "'customer_id'",
        url="https://shop.example.com/checkout/?step=2",
        method="POST",
    )
    bugsink_server.send_exception(backend, "TimeoutError", "muted connection timeout")
    bugsink_server.send_exception(backend, "PermissionError", "already resolved before the sync")
    bugsink_server.send_exception(
        billing, "ZeroDivisionError", "division by zero in invoice totals"
    )
    bugsink_server.send_distinct_exceptions(frontend, 260)
    backend_issues = bugsink_server.wait_for_issues(backend["id"], 5)
    bugsink_server.wait_for_issues(frontend["id"], 260)
    bugsink_server.wait_for_issues(billing["id"], 1)
    by_type = {issue["calculated_type"]: issue for issue in backend_issues}
    muted_id = by_type["TimeoutError"]["id"]
    resolved_id = by_type["PermissionError"]["id"]
    bugsink_server.mute_issue(muted_id)
    bugsink_server.resolve_issue(resolved_id)
    expected = set().union(
        *(open_issue_ids(bugsink_server, p) for p in (backend, frontend, billing))
    )
    assert len(expected) == 3 + 260 + 1

    first = wait_for_result(sync_bugsink_to_gitea.delay(trigger="schedule"), worker)

    # One Gitea issue per open Bugsink issue, each resolved in Bugsink.
    assert first["status"] == "succeeded"
    assert first["failed"] == 0
    assert first["synced"] >= len(expected)
    numbers = gitea_numbers_by_bugsink_id(gitea, expected)
    assert {issue_id: len(found) for issue_id, found in numbers.items()} == {
        issue_id: 1 for issue_id in expected
    }
    for project in (backend, frontend, billing):
        assert open_issue_ids(bugsink_server, project) == set()
    assert bugsink_server.get_issue(muted_id)["is_muted"] is True
    assert bugsink_server.get_issue(muted_id)["is_resolved"] is False
    assert muted_id not in {r.bugsink_issue_id for r in SyncRecord.objects.all()}
    assert gitea.contract_violations == []

    # Labels with the record's colours, and the label plan per project.
    assert {label.name: label.color for label in gitea.labels.values()} == RECORD_COLOURS
    value_error = issue_for(gitea, by_type["ValueError"]["id"])
    assert label_names_of(gitea, value_error) == {"bug:backend", "env:production", "source:bugsink"}
    frontend_record = SyncRecord.objects.filter(project_slug=frontend["slug"]).first()
    frontend_issue = issue_for(gitea, frontend_record.bugsink_issue_id)
    assert label_names_of(gitea, frontend_issue) == {"bug:frontend", "env:test", "source:bugsink"}
    billing_issue = issue_for(
        gitea, SyncRecord.objects.get(project_slug=billing["slug"]).bugsink_issue_id
    )
    assert label_names_of(gitea, billing_issue) == {"source:bugsink"}
    assert billing["slug"] in SyncRun.objects.get(pk=first["run_id"]).unmapped_projects

    # Body fields from the real events.
    assert (
        value_error.title
        == f"[{backend['name']}] ValueError: invalid literal for int() with base 10: 'abc'"
    )
    assert "| **Platform** | `python` |" in value_error.body
    assert 'File "' in value_error.body
    assert "**Trace ID**: `" in value_error.body
    assert f"**Project**: `{backend['slug']}`" in value_error.body
    exception_types = {"ValueError", "KeyError", "TimeoutError", "PermissionError"}
    message_id = next(
        i["id"] for i in backend_issues if i["calculated_type"] not in exception_types
    )
    message_issue = issue_for(gitea, message_id)
    assert "Payment provider answered slowly" in message_issue.title
    assert "| **Level** | `warning` |" in message_issue.body
    assert "_The latest event has no stacktrace._" in message_issue.body
    request_issue = issue_for(gitea, by_type["KeyError"]["id"])
    assert "- **URL**: `https://shop.example.com/checkout/?step=2`" in request_issue.body
    assert "request method: `POST`" in request_issue.body

    # Redis keys as the record specifies.
    stored = json.loads(state_redis.get(f"bugsink:synced:{by_type['ValueError']['id']}"))
    assert stored["gitea_issue_number"] == value_error.number
    assert stored["project"] == backend["slug"]
    assert datetime.fromisoformat(stored["synced_at"])
    assert state_redis.ttl(f"bugsink:synced:{by_type['ValueError']['id']}") == -1

    # A second run creates nothing; a reopened issue is skipped, not duplicated.
    issue_count = len(gitea.issues)
    bugsink_server.api("POST", f"/issues/{by_type['ValueError']['id']}/reopen/")
    _, second = run_sync(trigger=SyncRun.Trigger.COMMAND)
    assert second.synced == 0
    assert second.skipped == 1
    assert len(gitea.issues) == issue_count


def test_worker_refuses_second_concurrent_run(
    worker: CeleryWorker, live_settings: Any, gitea: GiteaStandin, state_store: SyncStateStore
) -> None:
    lock = state_store.acquire_lock({"started_at": "2026-12-04T10:00:00+00:00"})
    try:
        outcome = wait_for_result(sync_bugsink_to_gitea.delay(trigger="manual"), worker, timeout=60)
    finally:
        lock.release()

    assert outcome == {
        "status": "in_progress",
        "current_run": {"started_at": "2026-12-04T10:00:00+00:00"},
    }
    assert gitea.requests == []


def test_worker_retry_waits_30_seconds(
    worker: CeleryWorker, live_settings: Any, gitea: GiteaStandin
) -> None:
    gitea.fail(
        "GET",
        r"^/api/v1/repos/acme/errors$",
        503,
        body="<html>Service Unavailable</html>",
        content_type="text/html",
        times=None,
    )
    sent_at = time.time()
    result = sync_bugsink_to_gitea.delay(trigger="schedule")

    eta = None
    deadline = time.monotonic() + 60
    while eta is None and time.monotonic() < deadline:
        for tasks in (
            app.control.inspect(destination=[worker.name], timeout=1).scheduled() or {}
        ).values():
            for task in tasks:
                if task["request"]["id"] == result.id:
                    eta = datetime.fromisoformat(task["eta"]).timestamp()
        time.sleep(0.2)
    app.control.revoke(result.id)

    assert eta is not None, worker.log_tail()
    assert eta - sent_at >= 30
    assert eta - sent_at <= 30 * 1.5 + 10
    assert "retry 1 of 3" in worker.log_text()
    failed = SyncRun.objects.filter(status=SyncRun.Status.FAILED).latest()
    assert "503" in failed.error
