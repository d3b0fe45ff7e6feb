"""POST /api/admin/bugsink/sync and the status endpoint against a real Celery worker, real
Redis, a real Bugsink and the Gitea stand-in. Bugsink is shared by the test session, so
assertions are about the projects each test creates."""

import json
import subprocess
import time
from typing import Any

import pytest
import redis
from celery.result import AsyncResult
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from config.celery import app
from syncapp.authentication import issue_api_token
from syncapp.models import SyncRecord, SyncRun
from syncapp.state import LOCK_KEY, SyncStateStore
from tests.bugsink_server import BugsinkServer
from tests.celery_worker import CeleryWorker
from tests.conftest import GITEA_TOKEN
from tests.gitea_standin import GiteaStandin
from tests.plugin_sync import sync_environment
from tests.web_server import WebServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SYNC_URL = "/api/admin/bugsink/sync"
STATUS_URL = "/api/admin/bugsink/sync/status"
REPOSITORY_PATH = r"^/api/v1/repos/acme/errors$"


@pytest.fixture
def token() -> str:
    user = get_user_model().objects.create_user("operator", password="unused-1", is_staff=True)
    return issue_api_token(user, "ci")[1]


def post_sync(token: str, **body: Any) -> Any:
    return Client().post(
        SYNC_URL,
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def get_status(token: str) -> dict[str, Any]:
    response = Client().get(STATUS_URL, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    return response.json()["data"]


def assert_json_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    return body["error"]


def test_manual_run_returns_counts_and_shows_in_status(
    bugsink_server: BugsinkServer,
    gitea: GiteaStandin,
    worker: CeleryWorker,
    live_settings: Any,
    token: str,
) -> None:
    project = bugsink_server.create_project("Backend Production api-normal")
    bugsink_server.send_exception(project, "ValueError", "invalid literal for int(): 'x'")
    bugsink_server.send_exception(project, "KeyError", "'customer_id'")
    bugsink_server.wait_for_issues(project["id"], 2)

    response = post_sync(token)

    assert response.status_code == 200, f"{response.content!r}\n{worker.log_tail()}"
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) >= {"synced", "skipped", "failed", "duration_ms"}
    assert data["synced"] >= 2
    assert data["failed"] == 0
    assert data["status"] == "succeeded"
    assert data["duration_ms"] > 0
    run = SyncRun.objects.get(pk=data["run_id"])
    assert run.trigger == "manual"
    assert run.triggered_by.username == "operator"

    status = get_status(token)
    assert status["enabled"] is True
    assert status["in_progress"] is False
    assert status["current_run"] is None
    assert status["last_run_summary"]["run_id"] == data["run_id"]
    assert status["last_run_summary"]["synced"] == data["synced"]
    assert status["last_run_summary"]["duration_ms"] == data["duration_ms"]
    assert status["last_run_summary"]["triggered_by"] == "operator"
    assert status["last_run"] == status["last_run_summary"]["started_at"]
    assert {"slug": project["slug"], "synced_count": 2} in status["projects"]
    assert status["total_synced"] == SyncRecord.objects.count()
    assert gitea.contract_violations == []


def test_manual_run_refused_while_lock_is_held(
    worker: CeleryWorker,
    live_settings: Any,
    gitea: GiteaStandin,
    state_store: SyncStateStore,
    token: str,
) -> None:
    lock = state_store.acquire_lock(
        {"run_id": 41, "started_at": "2026-12-04T10:00:00+00:00", "trigger": "schedule"}
    )
    try:
        response = post_sync(token)
        status = get_status(token)
    finally:
        lock.release()

    error = assert_json_error(response, 409, "sync_in_progress")
    assert error["current_run"]["started_at"] == "2026-12-04T10:00:00+00:00"
    assert "2026-12-04T10:00:00+00:00" in error["message"]
    assert status["in_progress"] is True
    assert status["current_run"]["run_id"] == 41
    assert redis.Redis.from_url(django_settings.CELERY_BROKER_URL).llen("bugsink-sync") == 0
    assert gitea.requests == []
    assert SyncRun.objects.count() == 0


def test_manual_run_refused_by_worker_holding_lock(
    worker: CeleryWorker,
    live_settings: Any,
    gitea: GiteaStandin,
    state_redis: redis.Redis,
    token: str,
) -> None:
    # A lock without the description of its run: the API's check finds nothing, so the task
    # is queued and the worker itself finds the lock taken.
    lock = state_redis.lock(LOCK_KEY, timeout=60, blocking=False)
    assert lock.acquire()
    try:
        response = post_sync(token, wait_seconds=60)
    finally:
        lock.release()

    error = assert_json_error(response, 409, "sync_in_progress")
    assert "unknown time" in error["message"]
    assert gitea.requests == []
    assert SyncRun.objects.count() == 0


def test_short_wait_returns_202_and_status_shows_run(
    worker: CeleryWorker, live_settings: Any, gitea: GiteaStandin, token: str
) -> None:
    # The first request of a run checks the repository; delaying it keeps the run going.
    gitea.delay("GET", REPOSITORY_PATH, seconds=8)

    response = post_sync(token, wait_seconds=2)

    assert response.status_code == 202, f"{response.content!r}\n{worker.log_tail()}"
    data = response.json()["data"]
    assert response.json()["success"] is True
    assert data["state"] == "running"
    assert data["run_id"] is not None
    assert STATUS_URL in data["message"]
    during = get_status(token)
    assert during["in_progress"] is True
    assert during["current_run"]["run_id"] == data["run_id"]
    assert during["current_run"]["task_id"] == data["task_id"]
    assert during["current_run"]["trigger"] == "manual"

    AsyncResult(data["task_id"], app=app).get(timeout=120)
    after = get_status(token)
    assert after["in_progress"] is False
    assert after["last_run_summary"]["run_id"] == data["run_id"]
    assert after["last_run_summary"]["status"] == "succeeded"


def test_zero_wait_returns_202_at_once(
    worker: CeleryWorker, live_settings: Any, gitea: GiteaStandin, token: str
) -> None:
    started = time.monotonic()
    response = post_sync(token, wait_seconds=0)
    elapsed = time.monotonic() - started

    assert response.status_code == 202
    assert response.json()["data"]["state"] in {"queued", "running"}
    assert elapsed < 5
    AsyncResult(response.json()["data"]["task_id"], app=app).get(timeout=120)


def test_transient_failure_returns_202_retrying(
    worker: CeleryWorker, live_settings: Any, gitea: GiteaStandin, token: str
) -> None:
    gitea.fail("GET", REPOSITORY_PATH, 503, body="<html>down</html>", times=None)

    response = post_sync(token, wait_seconds=5)
    # The retry waits at least 30 s in the worker; revoking it keeps it from running later.
    app.control.revoke(response.json()["data"]["task_id"])

    assert response.status_code == 202, f"{response.content!r}\n{worker.log_tail()}"
    data = response.json()["data"]
    assert data["state"] == "retrying"
    assert "transient" in data["message"]
    assert SyncRun.objects.get(pk=data["run_id"]).status == SyncRun.Status.FAILED


def test_failed_run_returns_502_and_status_shows_error(
    worker: CeleryWorker, live_settings: Any, gitea: GiteaStandin, token: str
) -> None:
    gitea.fail("GET", REPOSITORY_PATH, 401, body={"message": "token is required"}, times=None)

    response = post_sync(token)

    error = assert_json_error(response, 502, "upstream_error")
    assert "GITEA_API_TOKEN" in error["message"]
    assert GITEA_TOKEN not in response.content.decode()
    assert token not in response.content.decode()
    status = get_status(token)
    summary = status["last_run_summary"]
    assert summary["run_id"] == error["run_id"]
    assert summary["status"] == "failed"
    assert "GITEA_API_TOKEN" in summary["error"]
    assert status["in_progress"] is False


def test_partial_run_lists_failed_issues_in_status(
    bugsink_server: BugsinkServer,
    worker: CeleryWorker,
    live_settings: Any,
    gitea: GiteaStandin,
    token: str,
) -> None:
    project = bugsink_server.create_project("Billing api-partial")
    bugsink_server.send_exception(project, "ZeroDivisionError", "division by zero")
    [issue] = bugsink_server.wait_for_issues(project["id"], 1)
    gitea.fail("POST", r"/issues$", 422, body={"message": "invalid title"}, times=1)

    response = post_sync(token)

    assert response.status_code == 200, f"{response.content!r}\n{worker.log_tail()}"
    data = response.json()["data"]
    assert data["status"] == "partial"
    assert data["failed"] == 1
    [failure] = data["failures"]
    status = get_status(token)
    assert status["last_run_summary"]["failures"] == [failure]
    assert failure["bugsink_issue_id"] == issue["id"]
    assert failure["project"] == project["slug"]
    assert "422" in failure["reason"]
    assert project["slug"] in status["unmapped_projects"]
    # The failed issue stays unresolved in Bugsink, so the next run creates it.
    second = post_sync(token).json()["data"]
    assert second["failed"] == 0
    assert SyncRecord.objects.get(bugsink_issue_id=issue["id"]).gitea_issue_number


def test_curl_with_token_against_running_server(
    bugsink_server: BugsinkServer,
    standin: GiteaStandin,
    worker: CeleryWorker,
    live_settings: Any,
    token: str,
    tmp_path: Any,
) -> None:
    project = bugsink_server.create_project("Backend Production api-curl")
    bugsink_server.send_exception(project, "RuntimeError", "from curl")
    bugsink_server.wait_for_issues(project["id"], 1)

    with WebServer(tmp_path / "web.log", sync_environment(bugsink_server, standin)) as web:
        started = curl(web, "-X", "POST", "-H", f"Authorization: Bearer {token}", SYNC_URL)
        status = curl(web, "-H", f"Authorization: Bearer {token}", STATUS_URL)
        anonymous = curl(web, "-X", "POST", SYNC_URL)

    assert started["status"] == 200, web.log_tail()
    assert started["body"]["data"]["synced"] >= 1
    assert status["status"] == 200
    assert status["body"]["data"]["last_run_summary"]["run_id"] == started["body"]["data"]["run_id"]
    assert anonymous["status"] == 401
    assert anonymous["body"]["error"]["code"] == "not_authenticated"


def test_unreachable_broker_returns_503(
    bugsink_server: BugsinkServer, standin: GiteaStandin, token: str, tmp_path: Any
) -> None:
    environment = sync_environment(bugsink_server, standin)
    environment["TEST_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/13"

    with WebServer(tmp_path / "web.log", environment) as web:
        started = time.monotonic()
        response = curl(web, "-X", "POST", "-H", f"Authorization: Bearer {token}", SYNC_URL)
        elapsed = time.monotonic() - started

    assert response["status"] == 503, web.log_tail()
    assert response["body"]["error"]["code"] == "service_unavailable"
    assert "broker" in response["body"]["error"]["message"]
    assert elapsed < 15


def curl(web: WebServer, *arguments: str) -> dict[str, Any]:
    """Run curl against the web server and return the status code and the parsed JSON body."""
    *options, path = arguments
    result = subprocess.run(
        ["curl", "--silent", "--max-time", "120", "--write-out", "\n%{http_code}", *options,
         f"{web.url}{path}"],
        capture_output=True,
        text=True,
        timeout=150,
        check=True,
    )  # fmt: skip
    body, _, status = result.stdout.rpartition("\n")
    return {"status": int(status), "body": json.loads(body)}
