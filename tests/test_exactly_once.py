"""Exactly once, whatever fails. Each fault has a named test. A seeded fault-injection suite
runs the real sync service many times against the Bugsink fake and the Gitea stand-in. It
then checks that every Bugsink issue ends with exactly one Gitea issue and is resolved."""

import json
import random
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import redis
import requests
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

import syncapp.service
from syncapp.conf import SyncError
from syncapp.models import SyncRecord, SyncRun
from syncapp.rendering import marker_for
from syncapp.runs import run_sync
from syncapp.service import SyncService
from syncapp.state import LockLostError, SyncStateStore
from syncapp.tasks import (
    HARD_TIME_LIMIT_SECONDS,
    MAX_RETRIES,
    retry_countdown,
    sync_bugsink_to_gitea,
)
from tests.fake_bugsink import FakeBugsink, FakeProject
from tests.gitea_standin import GiteaStandin

pytestmark = pytest.mark.django_db

FAULT_STATUSES = (500, 502, 503, 429)


class SimulatedCrash(BaseException):
    """The worker process dying at this point: nothing in the sync may catch it."""


CRASHES = {"count": 0}


def run() -> tuple[SyncRun | None, Any]:
    """Run once; a simulated crash ends the run as a killed worker would."""
    try:
        return run_sync(trigger=SyncRun.Trigger.SCHEDULE)
    except SimulatedCrash:
        CRASHES["count"] += 1
        return None, None


def run_as_task() -> None:
    """Run once as the task would: a run-ending error is left to Celery's retry."""
    try:
        run()
    except SyncError:
        pass


def crash_once(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, *, after: int = 0) -> None:
    """Make target.name raise SimulatedCrash on its (after+1)-th call, once."""
    original = getattr(target, name)
    calls = {"count": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["count"] += 1
        if calls["count"] == after + 1:
            raise SimulatedCrash(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)


def seed(bugsink: FakeBugsink, count: int, start: int = 1) -> FakeProject:
    project = (
        bugsink.projects[0]
        if bugsink.projects
        else bugsink.add_project(1, "Backend", "backend-prod")
    )
    for number in range(start, start + count):
        bugsink.add_issue(project, number)
    return project


def assert_exactly_once(bugsink: FakeBugsink, gitea: GiteaStandin) -> tuple[int, int]:
    """Assert the invariant and return (duplicates, lost) for the figures line."""
    issue_ids = [issue["id"] for project in bugsink.projects for issue in project.issues]
    counts = {issue_id: 0 for issue_id in issue_ids}
    for gitea_issue in gitea.issues.values():
        for issue_id in issue_ids:
            if marker_for(issue_id) in gitea_issue.body:
                counts[issue_id] += 1
    duplicates = sum(count - 1 for count in counts.values() if count > 1)
    lost = sum(1 for count in counts.values() if count == 0)
    lost += len(bugsink.unresolved_ids())
    assert duplicates == 0
    assert lost == 0
    assert len(gitea.issues) == len(issue_ids)
    return duplicates, lost


def converge(max_runs: int = 6) -> None:
    for _ in range(max_runs):
        try:
            _, summary = run()
        except SyncError:
            continue
        if summary is not None and summary.failed == 0 and summary.synced == 0:
            return


# --- The worker dies ------------------------------------------------------------------------


def test_crash_after_create_before_state_is_written(
    bugsink: FakeBugsink,
    gitea_standin: GiteaStandin,
    sync_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(bugsink, 3)
    crash_once(monkeypatch, syncapp.service, "record_created", after=1)

    run()
    record = SyncRecord.objects.get(bugsink_issue_id=bugsink.projects[0].issues[1]["id"])
    assert record.status == SyncRecord.Status.PENDING
    assert len(gitea_standin.issues) == 2
    converge()

    assert_exactly_once(bugsink, gitea_standin)


def test_crash_after_state_before_resolve(
    bugsink: FakeBugsink,
    gitea_standin: GiteaStandin,
    sync_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
    state_redis: redis.Redis,
) -> None:
    project = seed(bugsink, 2)
    crash_once(monkeypatch, SyncService, "resolve", after=0)

    run()
    assert state_redis.exists(f"bugsink:synced:{project.issues[0]['id']}")
    assert not project.issues[0]["is_resolved"]
    converge()

    assert_exactly_once(bugsink, gitea_standin)


def test_crash_in_the_middle_of_a_page(
    bugsink: FakeBugsink,
    gitea_standin: GiteaStandin,
    sync_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bugsink.page_size = 4
    seed(bugsink, 10)
    crash_once(monkeypatch, SyncService, "create_gitea_issue", after=5)

    run()
    assert len(gitea_standin.issues) == 5
    converge()

    assert_exactly_once(bugsink, gitea_standin)
    assert SyncRun.objects.filter(status=SyncRun.Status.RUNNING).count() == 0


# --- Redis loses the sync state ------------------------------------------------------------


def test_redis_flush_rebuilds_from_records_without_duplicates(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None, state_redis: redis.Redis
) -> None:
    project = seed(bugsink, 4)
    bugsink.failing_resolves.update(issue["id"] for issue in project.issues)
    run()
    state_redis.flushdb()
    bugsink.failing_resolves.clear()

    _, summary = run()

    assert summary.synced == 0
    assert summary.resolved == 4
    assert_exactly_once(bugsink, gitea_standin)
    assert all(state_redis.exists(f"bugsink:synced:{issue['id']}") for issue in project.issues)


def test_rebuild_command_restores_keys_from_database(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None, state_redis: redis.Redis
) -> None:
    project = seed(bugsink, 3)
    run()
    before = {key: state_redis.get(key) for key in state_redis.keys("bugsink:synced:*")}
    state_redis.flushdb()
    out = StringIO()

    call_command("rebuild_sync_state", stdout=out)

    after = {key: state_redis.get(key) for key in state_redis.keys("bugsink:synced:*")}
    assert after == before
    assert len(after) == len(project.issues)
    assert "restored 3 Redis keys from 3 sync records" in out.getvalue()


def test_rebuild_command_recovers_records_from_gitea_markers(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None, state_redis: redis.Redis
) -> None:
    project = seed(bugsink, 3)
    run()
    numbers = dict(SyncRecord.objects.values_list("bugsink_issue_id", "gitea_issue_number"))
    SyncRecord.objects.all().delete()
    state_redis.flushdb()
    out = StringIO()

    call_command("rebuild_sync_state", "--from-gitea", stdout=out)

    assert dict(SyncRecord.objects.values_list("bugsink_issue_id", "gitea_issue_number")) == numbers
    for issue in project.issues:
        stored = json.loads(state_redis.get(f"bugsink:synced:{issue['id']}"))
        assert stored["gitea_issue_number"] == numbers[issue["id"]]
    assert "found 3 marked Gitea issues" in out.getvalue()


# --- Duplicate delivery and overlap --------------------------------------------------------


def test_task_delivered_twice_changes_nothing(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    seed(bugsink, 3)

    first = sync_bugsink_to_gitea.apply(task_id="same-delivery").get()
    writes_before = [r for r in gitea_standin.requests if r.method != "GET"]
    second = sync_bugsink_to_gitea.apply(task_id="same-delivery").get()
    writes_after = [r for r in gitea_standin.requests if r.method != "GET"]

    assert first["synced"] == 3
    assert second["synced"] == 0
    assert writes_after == writes_before
    assert_exactly_once(bugsink, gitea_standin)


def test_run_whose_lock_expired_stops_before_writing(
    bugsink: FakeBugsink,
    gitea_standin: GiteaStandin,
    sync_enabled: None,
    state_redis: redis.Redis,
    state_store: SyncStateStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(bugsink, 4)
    original = SyncService.create_gitea_issue
    taken_over: list[Any] = []

    def expire_lock_then_create(self: SyncService, *args: Any) -> Any:
        if not taken_over:
            # The lock expires and another run takes it while this one is still working.
            state_redis.delete("bugsink:sync:lock")
            taken_over.append(state_store.acquire_lock({"run_id": "next holder"}))
        return original(self, *args)

    monkeypatch.setattr(SyncService, "create_gitea_issue", expire_lock_then_create)

    with pytest.raises(LockLostError):
        run_sync(trigger=SyncRun.Trigger.SCHEDULE)

    assert [
        r for r in gitea_standin.requests if r.method == "POST" and r.path.endswith("/issues")
    ] == []
    assert state_store.current_run() == {"run_id": "next holder"}
    assert SyncRun.objects.get().status == SyncRun.Status.FAILED
    taken_over[0].release()


# --- Flaky APIs ----------------------------------------------------------------------------


def test_bugsink_errors_retried_within_run(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    seed(bugsink, 2)
    # Two failures, then a response, for each issue's event list: within the retry budget.
    steps: list[Any] = [
        (503, False),
        requests.ReadTimeout("slow"),
        None,
        (502, False),
        (429, False),
    ]

    def fault(endpoint: str) -> tuple[int, bool] | None:
        if endpoint != "events" or not steps:
            return None
        step = steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    bugsink.fault = fault
    _, summary = run()

    assert steps == []
    assert (summary.synced, summary.failed) == (2, 0)
    assert_exactly_once(bugsink, gitea_standin)


def test_gitea_server_errors_recovered(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    seed(bugsink, 3)
    gitea_standin.fail(
        "GET", r"/labels$", 502, body="<html>Bad Gateway</html>", content_type="text/html"
    )
    gitea_standin.fail("POST", r"/issues$", 500, times=3)
    gitea_standin.fail("GET", r"/issues$", 503, times=1)

    _, first = run()
    converge()

    assert first.failed >= 1
    assert_exactly_once(bugsink, gitea_standin)


def test_failed_resolve_is_resolved_by_next_run(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    project = seed(bugsink, 1)
    bugsink.failing_resolves.add(project.issues[0]["id"])
    run()
    bugsink.failing_resolves.clear()

    _, summary = run()

    assert (summary.synced, summary.resolved) == (0, 1)
    assert_exactly_once(bugsink, gitea_standin)


def test_resolve_answer_lost_is_confirmed_later(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    project = seed(bugsink, 1)
    bugsink.fault = lambda endpoint: (502, True) if endpoint == "resolve" else None
    run()
    bugsink.fault = None

    run()

    record = SyncRecord.objects.get(bugsink_issue_id=project.issues[0]["id"])
    assert record.status == SyncRecord.Status.RESOLVED
    assert_exactly_once(bugsink, gitea_standin)


def test_create_answer_lost_is_found_by_marker(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    seed(bugsink, 2)
    gitea_standin.drop_connection("POST", r"/issues$", after_commit=True, times=2)

    _, summary = run()

    assert (summary.synced, summary.failed) == (2, 0)
    assert_exactly_once(bugsink, gitea_standin)


def test_failed_marker_check_skips_creating(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    seed(bugsink, 1)
    gitea_standin.drop_connection("POST", r"/issues$", after_commit=True)
    gitea_standin.fail("GET", r"/issues$", 503, times=3)

    _, first = run()
    creates = [
        r for r in gitea_standin.requests if r.method == "POST" and r.path.endswith("/issues")
    ]
    _, second = run()

    assert first.failed == 1
    assert len(creates) == 1
    assert (second.synced, second.failed) == (1, 0)
    assert_exactly_once(bugsink, gitea_standin)


# --- Time limits and settings --------------------------------------------------------------


def test_soft_time_limit_stops_run_cleanly(
    bugsink: FakeBugsink,
    gitea_standin: GiteaStandin,
    sync_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
    state_redis: redis.Redis,
) -> None:
    seed(bugsink, 5)
    original = SyncService.create_gitea_issue
    calls: list[int] = []

    def slow_create(self: SyncService, *args: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise SoftTimeLimitExceeded()
        return original(self, *args)

    monkeypatch.setattr(SyncService, "create_gitea_issue", slow_create)

    sync_run, summary = run_sync(trigger=SyncRun.Trigger.SCHEDULE)

    assert sync_run.status == SyncRun.Status.TIMED_OUT
    assert summary.synced == 2
    assert SyncRun.objects.get().synced == 2
    assert not state_redis.exists("bugsink:sync:lock")
    monkeypatch.undo()
    converge()
    assert_exactly_once(bugsink, gitea_standin)


def test_visibility_timeout_exceeds_longest_retry_and_hard_limit() -> None:
    longest_countdown = max(retry_countdown(n) * 1.0 for n in range(MAX_RETRIES))
    longest_possible = 30 * 2 ** (MAX_RETRIES - 1) * 1.5

    visibility = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]

    assert longest_countdown <= longest_possible
    assert visibility > longest_possible + HARD_TIME_LIMIT_SECONDS


def test_sync_state_database_not_shared() -> None:
    import config.settings as production

    state = production.SYNC_STATE_REDIS_URL
    assert state.endswith("/15")
    assert production.CELERY_BROKER_URL != state
    assert production.CELERY_RESULT_BACKEND != state
    for cache in getattr(production, "CACHES", {}).values():
        assert cache.get("LOCATION") != state


def test_cache_on_sync_state_database_fails_check(settings: Any) -> None:
    from django.core.management.base import SystemCheckError

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.SYNC_STATE_REDIS_URL,
        }
    }

    with pytest.raises(SystemCheckError, match=r"syncapp\.E010"):
        call_command("check")


# --- Regressions ---------------------------------------------------------------------------


def regress(issue: dict[str, Any], events: int = 3) -> None:
    issue["is_resolved"] = False
    issue["digested_event_count"] += events
    issue["last_seen"] = "2026-12-05T08:00:00Z"


def test_regression_comments_reopens_and_resolves_again(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    project = seed(bugsink, 1)
    issue = project.issues[0]
    run()
    number = SyncRecord.objects.get().gitea_issue_number
    gitea_standin.issues[number].state = "closed"
    regress(issue)

    _, summary = run()
    run()

    gitea_issue = gitea_standin.issues[number]
    assert summary.regressions == 1
    assert summary.synced == 0
    assert len(gitea_standin.issues) == 1
    assert gitea_issue.state == "open"
    assert len(gitea_issue.comments) == 1
    comment = gitea_issue.comments[0].body
    assert "**Total Occurrences**: 10 (was 7 when it was resolved)" in comment
    assert "`2026-12-05T08:00:00Z`" in comment
    assert "`backend@1.4.2`" in comment
    assert issue["is_resolved"]
    assert SyncRecord.objects.get().regression_count == 1
    assert SyncRun.objects.filter(regressions=1).count() == 1


def test_regression_after_crash_is_not_commented_twice(
    bugsink: FakeBugsink,
    gitea_standin: GiteaStandin,
    sync_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = seed(bugsink, 1)
    run()
    regress(project.issues[0])
    crash_once(monkeypatch, SyncService, "resolve", after=0)

    run()
    converge()

    number = SyncRecord.objects.get().gitea_issue_number
    assert len(gitea_standin.issues[number].comments) == 1
    assert SyncRecord.objects.get().regression_count == 1
    assert project.issues[0]["is_resolved"]


def test_deleted_gitea_issue_is_filed_again(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    project = seed(bugsink, 1)
    run()
    old_number = SyncRecord.objects.get().gitea_issue_number
    del gitea_standin.issues[old_number]
    regress(project.issues[0])

    _, summary = run()

    record = SyncRecord.objects.get()
    assert summary.synced == 1
    assert record.gitea_issue_number != old_number
    assert record.gitea_issue_number in gitea_standin.issues
    assert record.regression_count == 1
    assert_exactly_once(bugsink, gitea_standin)


# --- The seeded suite ----------------------------------------------------------------------


class FaultInjector:
    """Decides, from a seeded random generator, where each fault strikes."""

    def __init__(self, seed: int, rate: float) -> None:
        self.random = random.Random(seed)
        self.rate = rate
        self.injected = 0

    def strike(self) -> bool:
        if self.random.random() < self.rate:
            self.injected += 1
            return True
        return False

    def bugsink_fault(self, endpoint: str) -> tuple[int, bool] | None:
        if not self.strike():
            return None
        kind = self.random.choice(["status", "status", "timeout", "reset"])
        if kind == "timeout":
            raise requests.ReadTimeout(f"injected timeout on {endpoint}")
        if kind == "reset":
            raise requests.ConnectionError(f"injected reset on {endpoint}")
        return self.random.choice(
            FAULT_STATUSES
        ), endpoint == "resolve" and self.random.random() < 0.5

    def arm_gitea(self, gitea: GiteaStandin, count: int) -> None:
        """Queue faults that strike the next matching Gitea requests."""
        targets = [
            ("POST", r"/issues$"),
            ("GET", r"/issues$"),
            ("GET", r"/labels$"),
            ("GET", r"/repos/acme/errors$"),
            ("POST", r"/comments$"),
            ("GET", r"/issues/\d+$"),
        ]
        for _ in range(count):
            method, path = self.random.choice(targets)
            choice = self.random.random()
            if method == "POST" and choice < 0.4:
                gitea.drop_connection(method, path, after_commit=self.random.random() < 0.7)
            else:
                gitea.fail(
                    method, path, self.random.choice(FAULT_STATUSES), headers={"Retry-After": "0"}
                )

    def arm_crash(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make one step crash on one of its next calls (counted when it fires)."""
        points: list[tuple[Any, str]] = [
            (syncapp.service, "record_created"),
            (syncapp.service, "record_intent"),
            (SyncService, "resolve"),
            (SyncService, "create_gitea_issue"),
            (syncapp.service, "render_issue"),
        ]
        target, name = self.random.choice(points)
        crash_once(monkeypatch, target, name, after=self.random.randrange(4))


def gitea_faults_fired(gitea: GiteaStandin) -> int:
    return sum(1 for r in gitea.requests if r.status is None or r.status in FAULT_STATUSES)


def test_fault_injection_converges_exactly_once(
    bugsink: FakeBugsink,
    gitea_standin: GiteaStandin,
    sync_enabled: None,
    state_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    injector = FaultInjector(seed=20261204, rate=0.12)
    bugsink.page_size = 7
    rounds, runs, flushes, regressions = 240, 0, 0, 0
    CRASHES["count"] = 0
    next_number = 1
    with pytest.MonkeyPatch.context() as monkeypatch:
        for _ in range(rounds):
            new = injector.random.randrange(1, 6)
            seed(bugsink, new, start=next_number)
            next_number += new
            bugsink.fault = injector.bugsink_fault
            injector.arm_gitea(gitea_standin, injector.random.randrange(0, 8))
            if injector.random.random() < 0.3:
                injector.arm_crash(monkeypatch)
            for _ in range(injector.random.randrange(1, 3)):
                run_as_task()
                runs += 1
            monkeypatch.undo()
            if injector.random.random() < 0.1:
                state_redis.flushdb()
                flushes += 1
            if injector.random.random() < 0.2:
                regress(injector.random.choice(bugsink.projects[0].issues))
                regressions += 1

        bugsink.fault = None
        gitea_standin.clear_faults()
        converge(max_runs=10)
        runs += 10

    duplicates, lost = assert_exactly_once(bugsink, gitea_standin)
    fired_gitea = gitea_faults_fired(gitea_standin)
    total = injector.injected + fired_gitea + CRASHES["count"] + flushes
    with capsys.disabled():
        print(
            f"\nfault injection: runs={runs} bugsink_issues={next_number - 1} faults={total} "
            f"(bugsink={injector.injected} gitea={fired_gitea} crashes={CRASHES['count']} "
            f"redis_flushes={flushes}) regressions={regressions} duplicates={duplicates} lost={lost}"
        )
    assert total >= 1000, f"only {total} faults were injected"


def test_create_still_in_flight_is_not_duplicated(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None, settings: Any
) -> None:
    settings.SYNC_CREATE_SETTLE_SECONDS = 60
    project = seed(bugsink, 1)
    issue_id = project.issues[0]["id"]
    gitea_standin.drop_connection("POST", r"/issues$", after_commit=False)

    _, first = run()
    # Gitea finishes the cut-off request later, after the run looked for it.
    gitea_standin.add_issue("[Backend] ValueError", body=f"{marker_for(issue_id)}\nlate commit")
    _, second = run()
    SyncRecord.objects.filter(bugsink_issue_id=issue_id).update(
        intent_at=timezone.now() - timedelta(seconds=61)
    )
    _, third = run()

    assert (first.synced, first.failed) == (0, 1)
    assert "no definite response" in first.failures[0].reason
    assert (second.synced, second.skipped) == (0, 1)
    assert (third.synced, third.failed) == (1, 0)
    assert_exactly_once(bugsink, gitea_standin)


def test_deadline_stops_run_without_signal(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None, state_redis: redis.Redis
) -> None:
    seed(bugsink, 10)
    gitea_standin.delay("POST", r"/issues$", 0.2, times=None)

    # Ten creates take at least 2 s, so a 1.5 s limit stops the run part way.
    sync_run, summary = run_sync(trigger=SyncRun.Trigger.SCHEDULE, time_limit=1.5)

    assert sync_run.status == SyncRun.Status.TIMED_OUT
    assert 0 < summary.synced < 10
    assert not state_redis.exists("bugsink:sync:lock")
