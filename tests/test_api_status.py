"""GET /api/admin/bugsink/sync/status from stored runs, the beat schedule and Redis, and the
OpenAPI description of both endpoints, checked against real responses."""

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from jsonschema import Draft202012Validator

from syncapp.api.views import failed_run_problem
from syncapp.authentication import issue_api_token
from syncapp.conf import ConfigurationError
from syncapp.http import ApiError
from syncapp.models import ProjectLabelMapping, SyncRecord, SyncRun
from syncapp.runs import start_manual_sync
from syncapp.schedule import install_schedule
from syncapp.state import SyncStateStore
from tests.celery_worker import purge_broker
from tests.conftest import BUGSINK_TOKEN, enable_sync

pytestmark = pytest.mark.django_db

SYNC_URL = "/api/admin/bugsink/sync"
STATUS_URL = "/api/admin/bugsink/sync/status"


@pytest.fixture
def token() -> str:
    user = get_user_model().objects.create_user("operator", password="unused-1", is_staff=True)
    return issue_api_token(user, "ci")[1]


@pytest.fixture
def enabled(settings: Any, state_redis: redis.Redis) -> None:
    # Nothing listens there, and nothing calls it: no worker runs in these tests.
    enable_sync(
        settings,
        bugsink_url="http://127.0.0.1:9",
        gitea_url="http://127.0.0.1:9",
        bugsink_token=BUGSINK_TOKEN,
    )


def fetch(token: str, url: str = STATUS_URL) -> Any:
    return Client().get(url, headers={"Authorization": f"Bearer {token}"})


def make_record(number: int, project_slug: str, **fields: Any) -> SyncRecord:
    return SyncRecord.objects.create(
        bugsink_issue_id=f"issue-{number}",
        project_slug=project_slug,
        title=f"error {number}",
        intent_at=timezone.now(),
        **fields,
    )


def test_status_with_sync_disabled(token: str, state_redis: redis.Redis) -> None:
    install_schedule(15)

    response = fetch(token)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert data["enabled"] is False
    assert data["next_run"] is None
    assert data["last_run"] is None
    assert data["last_run_summary"] is None
    assert data["in_progress"] is False
    assert data["total_synced"] == 0
    assert data["projects"] == []
    assert data["configuration_problems"] == []
    assert data["schedule"]["name"] == "bugsink-sync"
    assert data["schedule"]["every"] == "every 15 minutes"


def test_disabled_sync_post_returns_409(token: str) -> None:
    response = Client().post(
        SYNC_URL, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sync_disabled"
    assert "BUGSINK_SYNC_ENABLED is false" in response.json()["error"]["message"]


def test_status_after_runs_reports_last_finished(token: str, enabled: None) -> None:
    user = get_user_model().objects.get(username="operator")
    finished = SyncRun.objects.create(
        trigger=SyncRun.Trigger.MANUAL,
        triggered_by=user,
        task_id="task-1",
        status=SyncRun.Status.PARTIAL,
        finished_at=timezone.now(),
        synced=3,
        skipped=12,
        failed=1,
        resolved=3,
        duration_ms=2340,
        failures=[
            {
                "bugsink_issue_id": "issue-9",
                "project": "billing",
                "title": "[Billing] ZeroDivisionError",
                "reason": "Gitea answered 422",
            }
        ],
        unmapped_projects=["billing", "misc"],
    )
    # A run still marked running is shown through the lock, not as the last run.
    SyncRun.objects.create(trigger=SyncRun.Trigger.SCHEDULE)
    ProjectLabelMapping.objects.create(project_slug="misc", kind="backend", environment="test")
    make_record(1, "backend-prod", gitea_issue_number=11)
    make_record(2, "backend-prod", gitea_issue_number=12)
    make_record(3, "billing", gitea_issue_number=13)
    make_record(4, "billing")

    data = fetch(token).json()["data"]

    assert parse_datetime(data["last_run"]) == finished.started_at
    summary = data["last_run_summary"]
    assert summary["run_id"] == finished.pk
    assert summary["status"] == "partial"
    assert summary["trigger"] == "manual"
    assert summary["triggered_by"] == "operator"
    assert (summary["synced"], summary["skipped"], summary["failed"]) == (3, 12, 1)
    assert summary["duration_ms"] == 2340
    assert summary["failures"][0]["reason"] == "Gitea answered 422"
    assert data["total_synced"] == 3
    assert data["projects"] == [
        {"slug": "backend-prod", "synced_count": 2},
        {"slug": "billing", "synced_count": 1},
    ]
    assert data["unmapped_projects"] == ["billing"]
    assert data["enabled"] is True


def test_status_after_failed_run(token: str, enabled: None) -> None:
    run = SyncRun.objects.create(
        trigger=SyncRun.Trigger.SCHEDULE,
        status=SyncRun.Status.FAILED,
        finished_at=timezone.now(),
        duration_ms=0,
        error="GET /api/v1/repos/acme/errors failed: 401; check GITEA_API_TOKEN",
    )

    summary = fetch(token).json()["data"]["last_run_summary"]

    assert summary["run_id"] == run.pk
    assert summary["status"] == "failed"
    assert "GITEA_API_TOKEN" in summary["error"]
    assert summary["triggered_by"] is None


def test_next_run_follows_beat_schedule(token: str, enabled: None) -> None:
    task, _ = install_schedule(15)
    task.last_run_at = timezone.now() - timedelta(minutes=5)
    task.save()

    next_run = parse_datetime(fetch(token).json()["data"]["next_run"])

    assert abs(next_run - (task.last_run_at + timedelta(minutes=15))) < timedelta(seconds=5)


def test_next_run_of_unrun_task(token: str, enabled: None) -> None:
    task, _ = install_schedule(15)

    next_run = parse_datetime(fetch(token).json()["data"]["next_run"])

    assert abs(next_run - (task.date_changed + timedelta(minutes=15))) < timedelta(seconds=5)


def test_next_run_null_without_enabled_task(token: str, enabled: None) -> None:
    assert fetch(token).json()["data"]["next_run"] is None

    task, _ = install_schedule(15)
    task.enabled = False
    task.save()

    assert fetch(token).json()["data"]["next_run"] is None


def test_status_shows_run_in_progress(
    token: str, enabled: None, state_store: SyncStateStore
) -> None:
    lock = state_store.acquire_lock(
        {
            "run_id": 7,
            "started_at": "2026-12-04T10:00:00+00:00",
            "trigger": "manual",
            "task_id": "t",
        }
    )
    try:
        data = fetch(token).json()["data"]
    finally:
        lock.release()

    assert data["in_progress"] is True
    assert data["current_run"] == {
        "run_id": 7,
        "started_at": "2026-12-04T10:00:00+00:00",
        "trigger": "manual",
        "task_id": "t",
    }


def test_status_lists_configuration_problems(token: str, settings: Any) -> None:
    settings.BUGSINK_SYNC_ENABLED = "true"

    data = fetch(token).json()["data"]

    assert data["enabled"] is True
    assert any(
        problem.startswith("BUGSINK_URL: is missing") for problem in data["configuration_problems"]
    )


def test_unreachable_state_redis_returns_503(token: str, settings: Any) -> None:
    settings.SYNC_STATE_REDIS_URL = "redis://127.0.0.1:1/14"

    status = fetch(token)

    assert status.status_code == 503
    assert status.json()["success"] is False
    assert status.json()["error"]["code"] == "service_unavailable"
    assert "sync-state Redis" in status.json()["error"]["message"]


def test_unreachable_state_redis_post_returns_503(token: str, enabled: None, settings: Any) -> None:
    settings.SYNC_STATE_REDIS_URL = "redis://127.0.0.1:1/14"

    response = Client().post(
        SYNC_URL, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


class TestOpenApiSchema:
    @pytest.fixture
    def schema(self, token: str) -> dict[str, Any]:
        response = fetch(token, "/api/schema/")
        assert response.status_code == 200
        return response.json()

    def validator_for(self, schema: dict[str, Any], component: str) -> Draft202012Validator:
        root = {"$ref": f"#/components/schemas/{component}", "components": schema["components"]}
        return Draft202012Validator(root)

    def test_it_describes_both_endpoints(self, schema: dict[str, Any]) -> None:
        sync = schema["paths"][SYNC_URL]
        status = schema["paths"][STATUS_URL]

        assert schema["openapi"].startswith("3.1")
        assert set(sync) == {"post"}
        assert set(status) == {"get"}
        assert set(sync["post"]["responses"]) == {
            "200", "202", "400", "401", "403", "405", "409", "500", "502", "503",
        }  # fmt: skip
        assert set(status["get"]["responses"]) == {"200", "401", "403", "405", "503"}
        request = sync["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert request == {"$ref": "#/components/schemas/SyncTriggerInput"}
        assert {"apiToken": []} in sync["post"]["security"]
        assert schema["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"

    def test_response_schemas_have_record_fields(self, schema: dict[str, Any]) -> None:
        components = schema["components"]["schemas"]

        assert set(components["SyncResult"]["required"]) >= {
            "synced", "skipped", "failed", "duration_ms",
        }  # fmt: skip
        assert set(components["SyncStatus"]["required"]) >= {
            "enabled", "last_run", "next_run", "total_synced", "projects",
        }  # fmt: skip
        assert set(components["ProjectSyncCount"]["required"]) == {"slug", "synced_count"}
        assert set(components["Error"]["required"]) == {"code", "message"}

    def test_real_responses_match_it(
        self, schema: dict[str, Any], token: str, state_redis: redis.Redis
    ) -> None:
        SyncRun.objects.create(
            trigger="schedule", status="failed", finished_at=timezone.now(), error="x"
        )
        install_schedule(15)

        status = fetch(token).json()
        anonymous = Client().get(STATUS_URL).json()
        disabled = (
            Client()
            .post(
                SYNC_URL,
                content_type="application/json",
                headers={"Authorization": f"Bearer {token}"},
            )
            .json()
        )

        self.validator_for(schema, "SyncStatusEnvelope").validate(status)
        self.validator_for(schema, "ErrorEnvelope").validate(anonymous)
        self.validator_for(schema, "ErrorEnvelope").validate(disabled)
        with pytest.raises(Exception, match="required"):
            self.validator_for(schema, "SyncStatusEnvelope").validate({"success": True, "data": {}})

    def test_anonymous_schema_request_gets_401(self) -> None:
        response = Client().get("/api/schema/")

        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_web_server_timeout_exceeds_api_wait() -> None:
    repository = Path(__file__).resolve().parents[1]
    compose = yaml.safe_load((repository / "docker-compose.yml").read_text())
    web_command = compose["services"]["web"]["command"]
    dockerfile = (repository / "Dockerfile").read_text()

    timeout = int(re.search(r"gunicorn .*--timeout (\d+)", web_command).group(1))
    assert timeout > django_settings.SYNC_API_WAIT_SECONDS
    assert f'"--timeout", "{timeout}"' in dockerfile


def test_failed_task_errors_map_to_codes(settings: Any) -> None:
    settings.BUGSINK_SYNC_ENABLED = "true"
    settings.GITEA_API_TOKEN = "gitea-secret-value-123"
    run = SyncRun.objects.create(trigger="manual", task_id="task-9", status="failed")
    cases = [
        (
            ConfigurationError("invalid sync configuration: BUGSINK_URL: is missing"),
            500,
            "configuration_error",
        ),
        (
            ApiError("Gitea answered 401 for gitea-secret-value-123", status=401),
            502,
            "upstream_error",
        ),
        (ValueError("unexpected"), 500, "sync_failed"),
    ]

    for error, status, code in cases:
        problem = failed_run_problem("task-9", error)

        assert problem.status_code == status
        assert problem.get_codes() == code
        assert problem.extra == {"run_id": run.pk}
        assert "gitea-secret-value-123" not in str(problem.detail)


def test_status_counts_runs_waiting_for_a_worker(token: str, enabled: None) -> None:
    operator = get_user_model().objects.get(username="operator")
    purge_broker()
    try:
        start_manual_sync(operator)
        start_manual_sync(operator)
        data = fetch(token).json()["data"]
    finally:
        purge_broker()

    assert data["queued_runs"] == 2
    assert data["in_progress"] is False
