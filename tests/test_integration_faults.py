"""Exactly once on the real Bugsink with real Celery workers: a worker killed mid-run, runs
triggered together on two workers, and the soft time limit."""

import itertools
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from syncapp.models import SyncRun
from syncapp.rendering import marker_for
from syncapp.tasks import sync_bugsink_to_gitea
from tests.bugsink_server import BugsinkServer
from tests.celery_worker import CeleryWorker, purge_broker
from tests.conftest import GITEA_TOKEN
from tests.gitea_standin import GiteaStandin

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# A create cut off mid-request may still be committed by Gitea (here: after the stand-in's
# delay), so the workers wait this long before they look for it and create it again.
SETTLE_SECONDS = 2.0


@pytest.fixture
def gitea() -> Iterator[GiteaStandin]:
    with GiteaStandin(token=GITEA_TOKEN) as server:
        yield server


@pytest.fixture
def only_own_issues_open(bugsink_server: BugsinkServer) -> None:
    """Resolve the open issues other tests left in the shared Bugsink, so that the counts
    below are this test's alone."""
    for project in bugsink_server.api("GET", "/projects/")["results"]:
        for issue in bugsink_server.list_issues(project["id"], state="open"):
            bugsink_server.resolve_issue(issue["id"])


@pytest.fixture
def start_worker(
    bugsink_server: BugsinkServer,
    gitea: GiteaStandin,
    tmp_path: Path,
    state_redis: redis.Redis,
    only_own_issues_open: None,
) -> Iterator[Any]:
    """Start workers on demand for this test; all are stopped and the broker emptied after."""
    purge_broker()
    workers: list[CeleryWorker] = []

    def start(name: str) -> CeleryWorker:
        worker = CeleryWorker(
            tmp_path / f"{name}.log",
            {
                "TEST_BUGSINK_SYNC_ENABLED": "true",
                "TEST_BUGSINK_URL": bugsink_server.url,
                "TEST_BUGSINK_API_TOKEN": bugsink_server.token,
                "TEST_GITEA_URL": gitea.url,
                "TEST_GITEA_API_TOKEN": GITEA_TOKEN,
                "TEST_GITEA_OWNER": "acme",
                "TEST_GITEA_REPO": "errors",
                "TEST_SYNC_CREATE_SETTLE_SECONDS": str(SETTLE_SECONDS),
            },
            name=name,
        ).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop(signal.SIGKILL)
    purge_broker()


def seeded_project(server: BugsinkServer, count: int) -> dict[str, Any]:
    project = server.create_project(f"Backend Production {datetime.now(UTC):%H%M%S%f}")
    server.send_distinct_exceptions(project, count)
    server.wait_for_issues(project["id"], count)
    return project


def assert_each_issue_once_and_resolved(
    server: BugsinkServer, gitea: GiteaStandin, project: dict[str, Any]
) -> None:
    issue_ids = [issue["id"] for issue in server.list_issues(project["id"], state="all")]
    bodies = [issue.body for issue in gitea.issues.values()]
    counts = {
        issue_id: sum(marker_for(issue_id) in body for body in bodies) for issue_id in issue_ids
    }

    assert [issue_id for issue_id, count in counts.items() if count != 1] == []
    assert server.list_issues(project["id"], state="open") == []
    assert len(gitea.issues) == len(issue_ids)


def wait_until(condition: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def test_killed_worker_and_flush_lose_nothing(
    bugsink_server: BugsinkServer, gitea: GiteaStandin, start_worker: Any, state_redis: redis.Redis
) -> None:
    project = seeded_project(bugsink_server, 40)
    gitea.delay("POST", r"/issues$", 0.1, times=None)
    first = start_worker("doomed")

    sync_bugsink_to_gitea.delay(trigger="schedule")
    wait_until(lambda: len(gitea.issues) >= 10, 120, first.log_tail())
    first.stop(signal.SIGKILL)  # a real kill of the worker's processes, mid-run
    created_before_kill = len(gitea.issues)
    state_redis.flushdb()  # the sync state and the lock are gone too
    gitea.clear_faults()

    second = start_worker("survivor")
    time.sleep(SETTLE_SECONDS)
    outcome = sync_bugsink_to_gitea.delay(trigger="schedule").get(timeout=300)

    assert 10 <= created_before_kill < 40
    assert outcome["status"] == "succeeded", second.log_tail()
    assert_each_issue_once_and_resolved(bugsink_server, gitea, project)
    interrupted = SyncRun.objects.exclude(pk=outcome["run_id"]).get()
    assert interrupted.status == SyncRun.Status.FAILED
    assert "interrupted" in interrupted.error


def test_runs_triggered_together_on_two_workers_never_overlap(
    bugsink_server: BugsinkServer, gitea: GiteaStandin, start_worker: Any
) -> None:
    project = seeded_project(bugsink_server, 20)
    gitea.delay("POST", r"/issues$", 0.05, times=None)
    start_worker("first")
    start_worker("second")

    results = [
        sync_bugsink_to_gitea.delay(trigger=trigger)
        for trigger in ("schedule", "manual", "manual", "schedule", "manual", "manual")
    ]
    outcomes = [result.get(timeout=300) for result in results]

    statuses = [outcome["status"] for outcome in outcomes]
    assert "in_progress" in statuses
    assert set(statuses) <= {"succeeded", "in_progress"}
    runs = sorted(SyncRun.objects.all(), key=lambda run: run.started_at)
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at is not None
        assert earlier.finished_at <= later.started_at
    assert sum(outcome.get("synced", 0) for outcome in outcomes) == 20
    assert_each_issue_once_and_resolved(bugsink_server, gitea, project)


def test_soft_time_limit_stops_real_worker_run_cleanly(
    bugsink_server: BugsinkServer, gitea: GiteaStandin, start_worker: Any
) -> None:
    project = seeded_project(bugsink_server, 30)
    gitea.delay("POST", r"/issues$", 0.3, times=None)
    start_worker("limited")

    outcome = sync_bugsink_to_gitea.apply_async(
        kwargs={"trigger": "schedule"}, soft_time_limit=3, time_limit=60
    ).get(timeout=120)

    run = SyncRun.objects.get(pk=outcome["run_id"])
    assert outcome["status"] == "timed_out"
    assert run.status == SyncRun.Status.TIMED_OUT
    assert 0 < run.synced < 30
    # A create in flight when the limit struck may still be committed by Gitea; the next run
    # finds it by its marker.
    assert run.synced <= len(gitea.issues) <= run.synced + 1
    assert not redis.Redis.from_url(settings.SYNC_STATE_REDIS_URL).exists("bugsink:sync:lock")

    gitea.clear_faults()
    time.sleep(SETTLE_SECONDS)
    sync_bugsink_to_gitea.delay(trigger="schedule").get(timeout=300)
    assert_each_issue_once_and_resolved(bugsink_server, gitea, project)
