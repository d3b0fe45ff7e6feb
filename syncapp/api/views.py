"""The admin API: start a sync run by hand, and read whether the sync is healthy.

Authentication, the staff check and the error envelope come from REST_FRAMEWORK in
config/settings.py, so both views only parse, call the runs module and serialize.
"""

import logging
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult
from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.celery import app
from syncapp.api.errors import ApiProblem
from syncapp.conf import ConfigurationError, read_sync_config, scrub_secrets
from syncapp.http import ApiError
from syncapp.models import SyncRun
from syncapp.runs import (
    SyncDisabledError,
    SyncUnavailableError,
    is_connection_failure,
    start_manual_sync,
    sync_status,
)
from syncapp.serializers import (
    ErrorEnvelopeSerializer,
    SyncAcceptedEnvelopeSerializer,
    SyncResultEnvelopeSerializer,
    SyncStatusEnvelopeSerializer,
    SyncTriggerInputSerializer,
)
from syncapp.state import SyncInProgressError

logger = logging.getLogger(__name__)

STATUS_PATH = "/api/admin/bugsink/sync/status"


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "The request body is invalid (invalid_request).",
        401: "No credentials, or an invalid, revoked or inactive user's API token.",
        403: "Not a staff user (not_staff), or a session request without its CSRF token "
        "(csrf_failed).",
        405: "Wrong HTTP method (method_not_allowed).",
        409: "The sync is disabled (sync_disabled), or a run is in progress "
        "(sync_in_progress, with current_run).",
        500: "The sync settings are invalid (configuration_error), or the run failed for "
        "another reason (sync_failed).",
        502: "Bugsink or Gitea rejected a request or failed (upstream_error).",
        503: "Redis or the Celery broker cannot be reached (service_unavailable).",
    }
    return {
        code: OpenApiResponse(ErrorEnvelopeSerializer, description=descriptions[code])
        for code in statuses
    }


class SyncTriggerApi(APIView):
    @extend_schema(
        operation_id="start_sync",
        summary="Start a sync run and wait for its outcome",
        description="Queues a manual run on the same Celery queue and lock as the scheduled "
        "runs, then waits up to wait_seconds. A run that has not finished by then answers 202 "
        f"and shows in {STATUS_PATH}. A failed run answers with its error and run_id.",
        request=SyncTriggerInputSerializer,
        responses={
            200: OpenApiResponse(SyncResultEnvelopeSerializer, description="The run finished."),
            202: OpenApiResponse(
                SyncAcceptedEnvelopeSerializer, description="The run has not finished yet."
            ),
            **error_responses(400, 401, 403, 405, 409, 500, 502, 503),
        },
        examples=[
            OpenApiExample(
                "Finished run",
                response_only=True,
                status_codes=["200"],
                value={
                    "success": True,
                    "data": {
                        "run_id": 42,
                        "status": "succeeded",
                        "synced": 3,
                        "skipped": 12,
                        "failed": 0,
                        "resolved": 3,
                        "duration_ms": 2340,
                        "failures": [],
                    },
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = SyncTriggerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wait_seconds = serializer.validated_data.get("wait_seconds", settings.SYNC_API_WAIT_SECONDS)

        try:
            task_id = start_manual_sync(request.user)
        except SyncDisabledError as error:
            raise ApiProblem(409, "sync_disabled", str(error)) from error
        except SyncInProgressError as error:
            raise in_progress_problem(error.current_run) from error
        except SyncUnavailableError as error:
            raise ApiProblem(503, "service_unavailable", str(error)) from error

        return wait_for_run(task_id, wait_seconds)


class SyncStatusApi(APIView):
    @extend_schema(
        operation_id="get_sync_status",
        summary="Whether the sync is healthy: last and next run, counts, failures",
        responses={200: SyncStatusEnvelopeSerializer, **error_responses(401, 403, 405, 503)},
    )
    def get(self, request: Request) -> Response:
        try:
            current_status = sync_status()
        except SyncUnavailableError as error:
            raise ApiProblem(503, "service_unavailable", str(error)) from error

        data = {"in_progress": current_status.current_run is not None, **vars(current_status)}
        return Response(SyncStatusEnvelopeSerializer({"success": True, "data": data}).data)


def in_progress_problem(current_run: dict[str, Any]) -> ApiProblem:
    started = current_run.get("started_at") or "an unknown time"
    return ApiProblem(
        409,
        "sync_in_progress",
        f"a sync run is already in progress (started {started}); wait for it to finish",
        current_run=current_run,
    )


def wait_for_run(task_id: str, wait_seconds: float) -> Response:
    """Wait for the task's result and return the run's outcome, or a 202 response when the
    wait runs out. Raises ApiProblem for a refused or failed run and an unreachable backend."""
    result = AsyncResult(task_id, app=app)
    # Celery takes a timeout of 0 as "no timeout", so a zero wait must not call get().
    if wait_seconds <= 0:
        return accepted_response(task_id, result)
    try:
        outcome = result.get(timeout=wait_seconds, propagate=False)
        state = result.state
    except CeleryTimeoutError:
        return accepted_response(task_id, result)
    except (RedisError, KombuOperationalError, RuntimeError) as error:
        if not is_connection_failure(error):
            raise
        raise ApiProblem(
            503,
            "service_unavailable",
            f"the Celery result backend cannot be reached: {error}; task {task_id} may "
            f"still run, see {STATUS_PATH}",
        ) from error

    if state != "SUCCESS":
        raise failed_run_problem(task_id, outcome)
    if outcome["status"] == "disabled":
        raise ApiProblem(409, "sync_disabled", str(SyncDisabledError()))
    if outcome["status"] == "in_progress":
        raise in_progress_problem(outcome.get("current_run") or {})
    data = {key: outcome[key] for key in ("run_id", "status", "synced", "skipped", "failed")}
    data.update(
        resolved=outcome["resolved"],
        duration_ms=outcome["duration_ms"],
        failures=outcome["failures"],
    )
    return Response(SyncResultEnvelopeSerializer({"success": True, "data": data}).data)


def accepted_response(task_id: str, result: AsyncResult) -> Response:
    run = SyncRun.objects.filter(task_id=task_id).first()
    if result.state == "RETRY":
        state, message = "retrying", "the run failed for a transient reason and is retried"
    elif run is not None:
        state, message = "running", "the run has not finished yet"
    else:
        state, message = "queued", "no worker has started the run yet"
    data = {
        "state": state,
        "task_id": task_id,
        "run_id": run.pk if run else None,
        "message": f"{message}; {STATUS_PATH} shows its progress and outcome",
    }
    body = SyncAcceptedEnvelopeSerializer({"success": True, "data": data}).data
    return Response(body, status=202)


def failed_run_problem(task_id: str, error: Any) -> ApiProblem:
    """Map the exception a failed task raised to an error response without any token in it.

    Celery rebuilds the exception from its class path and message, so the class is the one
    the task raised. The message was built without tokens and is scrubbed again here.
    """
    config, _ = read_sync_config()
    message = scrub_secrets(str(error) or type(error).__name__, config.secrets)
    run = SyncRun.objects.filter(task_id=task_id).first()
    run_id = run.pk if run else None
    if isinstance(error, ConfigurationError):
        return ApiProblem(500, "configuration_error", message, run_id=run_id)
    if isinstance(error, ApiError):
        return ApiProblem(502, "upstream_error", message, run_id=run_id)
    logger.error("manual sync task=%s failed: %s", task_id, message)
    return ApiProblem(500, "sync_failed", message, run_id=run_id)
