"""The sync service end to end against the Gitea stand-in, real PostgreSQL and real Redis,
with Bugsink mocked by `responses` so that faults can be injected per request."""

import json
from io import StringIO
from typing import Any

import pytest
import redis
from django.core.management import call_command
from django.core.management.base import CommandError

from syncapp.models import ProjectLabelMapping, SyncRecord, SyncRun
from syncapp.rendering import marker_for
from syncapp.runs import SyncDisabledError, run_sync
from syncapp.state import SyncInProgressError, SyncStateStore
from tests.fake_bugsink import FakeBugsink
from tests.gitea_standin import GiteaStandin

pytestmark = pytest.mark.django_db


def run() -> tuple[SyncRun, Any]:
    return run_sync(trigger=SyncRun.Trigger.COMMAND)


def gitea_issues_by_marker(standin: GiteaStandin) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for issue in standin.issues.values():
        marker = issue.body.split("\n", 1)[0]
        found.setdefault(marker, []).append(issue.number)
    return found


def label_names(standin: GiteaStandin, label_ids: list[int]) -> set[str]:
    return {standin.labels[label_id].name for label_id in label_ids}


def test_run_files_one_issue_per_open_bugsink_issue(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None, state_redis: redis.Redis
) -> None:
    backend = bugsink.add_project(1, "Backend", "backend-prod")
    frontend = bugsink.add_project(2, "Frontend", "frontend-test")
    open_issues = [bugsink.add_issue(backend, n) for n in (1, 2, 3)]
    open_issues.append(bugsink.add_issue(frontend, 4))
    muted = bugsink.add_issue(backend, 5, is_muted=True)
    bugsink.add_issue(backend, 6, is_resolved=True)

    sync_run, summary = run()

    assert (summary.synced, summary.skipped, summary.failed) == (4, 0, 0)
    assert sync_run.status == SyncRun.Status.SUCCEEDED
    assert len(gitea_standin.issues) == 4
    assert gitea_standin.contract_violations == []
    assert bugsink.unresolved_ids() == {muted["id"]}
    for issue in open_issues:
        record = SyncRecord.objects.get(bugsink_issue_id=issue["id"])
        gitea_issue = gitea_standin.issues[record.gitea_issue_number]
        assert record.status == SyncRecord.Status.RESOLVED
        assert gitea_issue.body.startswith(marker_for(issue["id"]))
        stored = json.loads(state_redis.get(f"bugsink:synced:{issue['id']}"))
        assert stored["gitea_issue_number"] == record.gitea_issue_number
        assert set(stored) == {"gitea_issue_number", "synced_at", "project", "title"}
    backend_issue = gitea_standin.issues[
        SyncRecord.objects.get(bugsink_issue_id=open_issues[0]["id"]).gitea_issue_number
    ]
    assert label_names(gitea_standin, backend_issue.label_ids) == {
        "bug:backend",
        "env:production",
        "source:bugsink",
    }
    frontend_issue = gitea_standin.issues[
        SyncRecord.objects.get(bugsink_issue_id=open_issues[3]["id"]).gitea_issue_number
    ]
    assert label_names(gitea_standin, frontend_issue.label_ids) == {
        "bug:frontend",
        "env:test",
        "source:bugsink",
    }


def test_labels_are_created_with_record_colours_and_fixed(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    for index in range(60):
        gitea_standin.add_label(f"team:{index}", "#000000")
    wrong = gitea_standin.add_label("env:test", "#ffffff")

    run()
    run()

    colours = {label.name: label.color for label in gitea_standin.labels.values()}
    assert colours["env:test"] == "#2563eb"
    assert colours["bug:frontend"] == "#e11d48"
    assert colours["source:bugsink"] == "#10b981"
    assert len(gitea_standin.labels) == 60 + 7
    assert gitea_standin.labels[wrong.id].color == "#2563eb"
    label_creates = [
        r for r in gitea_standin.requests if r.method == "POST" and r.path.endswith("/labels")
    ]
    assert len(label_creates) == 6


def test_second_run_and_reopen_create_nothing(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    project = bugsink.add_project(1, "Backend", "backend-prod")
    issue = bugsink.add_issue(project, 1)
    run()

    _, second = run()
    issue["is_resolved"] = False  # reopened in Bugsink
    _, third = run()

    assert (second.synced, second.skipped) == (0, 0)
    assert (third.synced, third.skipped, third.failed) == (0, 1, 0)
    assert len(gitea_standin.issues) == 1
    assert bugsink.resolve_calls == [issue["id"]]


def test_one_failing_issue_does_not_stop_the_run(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    project = bugsink.add_project(1, "Backend", "backend-prod")
    issues = [bugsink.add_issue(project, n) for n in (1, 2, 3)]
    bugsink.failing_events.add(issues[1]["id"])

    sync_run, summary = run()

    assert (summary.synced, summary.failed) == (2, 1)
    assert sync_run.status == SyncRun.Status.PARTIAL
    assert sync_run.failures[0]["bugsink_issue_id"] == issues[1]["id"]
    assert "event storage unavailable" in sync_run.failures[0]["reason"]

    bugsink.failing_events.clear()
    _, retry = run()
    assert (retry.synced, retry.failed) == (1, 0)
    assert len(gitea_standin.issues) == 3


def test_failed_resolve_is_finished_by_next_run(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None, state_redis: redis.Redis
) -> None:
    project = bugsink.add_project(1, "Backend", "backend-prod")
    issue = bugsink.add_issue(project, 1)
    bugsink.failing_resolves.add(issue["id"])

    _, first = run()
    record = SyncRecord.objects.get(bugsink_issue_id=issue["id"])
    bugsink.failing_resolves.clear()
    state_redis.flushdb()  # the Redis copy is lost too: the record must be enough
    _, second = run()

    assert (first.synced, first.failed) == (1, 1)
    assert "resolving the issue in Bugsink failed" in first.failures[0].reason
    assert record.status == SyncRecord.Status.CREATED
    assert (second.synced, second.skipped, second.resolved) == (0, 1, 1)
    assert len(gitea_standin.issues) == 1
    assert bugsink.unresolved_ids() == set()
    assert state_redis.exists(f"bugsink:synced:{issue['id']}")


def test_lost_create_response_found_same_run(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    project = bugsink.add_project(1, "Backend", "backend-prod")
    issue = bugsink.add_issue(project, 1)
    # The create was committed by Gitea but its response never arrived.
    gitea_standin.drop_connection("POST", r"/issues$", after_commit=True)

    _, summary = run()

    assert (summary.synced, summary.failed) == (1, 0)
    assert SyncRecord.objects.get(bugsink_issue_id=issue["id"]).status == SyncRecord.Status.RESOLVED
    assert list(gitea_issues_by_marker(gitea_standin).values()) == [[1]]


def test_pagination_walks_every_page_and_deduplicates(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    bugsink.page_size = 2
    project = bugsink.add_project(1, "Backend", "backend-prod")
    issues = [bugsink.add_issue(project, n) for n in range(1, 6)]
    project.issues.insert(3, dict(issues[0]))  # shows up again on the second page

    _, summary = run()

    assert summary.synced == 5
    assert len(gitea_standin.issues) == 5


def test_unmapped_project_gets_source_label(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    project = bugsink.add_project(1, "Billing", "billing")
    bugsink.add_issue(project, 1)

    sync_run, summary = run()

    assert summary.unmapped_projects == ["billing"]
    assert sync_run.unmapped_projects == ["billing"]
    assert label_names(gitea_standin, gitea_standin.issues[1].label_ids) == {"source:bugsink"}


def test_explicit_mapping_sets_labels(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    ProjectLabelMapping.objects.create(
        project_slug="billing", kind="backend", environment="production"
    )
    project = bugsink.add_project(1, "Billing", "billing")
    bugsink.add_issue(project, 1)

    _, summary = run()

    assert summary.unmapped_projects == []
    assert label_names(gitea_standin, gitea_standin.issues[1].label_ids) == {
        "bug:backend",
        "env:production",
        "source:bugsink",
    }


def test_run_is_refused_while_another_holds_the_lock(
    bugsink: FakeBugsink, sync_enabled: None, state_store: SyncStateStore
) -> None:
    lock = state_store.acquire_lock({"started_at": "2026-12-04T10:00:00+00:00"})

    with pytest.raises(SyncInProgressError):
        run()

    lock.release()
    assert SyncRun.objects.count() == 0


def test_gitea_auth_failure_fails_run_with_clear_error(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None, settings: Any
) -> None:
    settings.GITEA_API_TOKEN = "wrong-token"

    with pytest.raises(Exception) as caught:
        run()

    sync_run = SyncRun.objects.get()
    assert sync_run.status == SyncRun.Status.FAILED
    assert "GITEA_API_TOKEN" in sync_run.error
    assert "wrong-token" not in sync_run.error
    assert "wrong-token" not in str(caught.value)


def test_archived_repository_is_reported(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    gitea_standin.archived = True

    with pytest.raises(Exception, match="archived"):
        run()


def test_disabled_sync_touches_nothing(bugsink: FakeBugsink, settings: Any) -> None:
    settings.BUGSINK_SYNC_ENABLED = "false"

    with pytest.raises(SyncDisabledError):
        run()

    assert len(bugsink.mock.calls) == 0


def test_dry_run_lists_and_writes_nothing(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None, state_redis: redis.Redis
) -> None:
    project = bugsink.add_project(1, "Backend", "backend-prod")
    bugsink.add_issue(project, 1)
    out = StringIO()

    call_command("bugsink_sync", "--dry-run", stdout=out)

    assert (
        "would create: [Backend] ValueError: invalid literal number 1  [bug:backend, env:production, source:bugsink]"
        in out.getvalue()
    )
    assert "1 Gitea issue would be created" in out.getvalue()
    assert gitea_standin.requests == []
    assert bugsink.resolve_calls == []
    assert state_redis.dbsize() == 0
    assert SyncRecord.objects.count() == 0
    assert SyncRun.objects.count() == 0


def test_command_prints_summary(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    project = bugsink.add_project(1, "Backend", "backend-prod")
    bugsink.add_issue(project, 1)
    out = StringIO()

    call_command("bugsink_sync", stdout=out)

    assert (
        "succeeded: synced 1, skipped 0, failed 0, resolved 1, regressions 0 in" in out.getvalue()
    )


def test_command_reports_bad_config(settings: Any) -> None:
    settings.BUGSINK_SYNC_ENABLED = "true"

    with pytest.raises(CommandError, match="BUGSINK_URL: is missing"):
        call_command("bugsink_sync")


def test_sync_check_one_mget_per_page(
    bugsink: FakeBugsink,
    gitea_standin: GiteaStandin,
    sync_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bugsink.page_size = 10
    project = bugsink.add_project(1, "Backend", "backend-prod")
    for number in range(1, 26):
        bugsink.add_issue(project, number)
    run()
    for issue in project.issues:
        issue["is_resolved"] = False  # all 25 listed again, on three pages
    sent: list[str] = []
    original = redis.Redis.execute_command

    def record_command(self: redis.Redis, *args: Any, **options: Any) -> Any:
        if any(isinstance(arg, str) and arg.startswith("bugsink:synced:") for arg in args):
            sent.append(str(args[0]).upper())
        return original(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", record_command)

    run()

    assert sent == ["MGET", "MGET", "MGET"]
