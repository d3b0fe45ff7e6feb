"""The Celery task that runs one sync, on the `bugsink-sync` queue.

A run that fails as a whole for a transient reason (no connection, timeout, HTTP 429 or 5xx,
Redis or the database unreachable) is retried up to MAX_RETRIES times with exponential
backoff from RETRY_BASE_SECONDS. Configuration and authentication errors are not retried:
retrying cannot fix them, and the error message names what to change.
"""

import logging
import random
from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from syncapp.conf import read_sync_config
from syncapp.http import ApiError
from syncapp.runs import run_sync
from syncapp.state import SyncInProgressError

logger = logging.getLogger(__name__)

SYNC_QUEUE = "bugsink-sync"
SYNC_TASK_NAME = "syncapp.tasks.sync_bugsink_to_gitea"
MAX_RETRIES = 3
RETRY_BASE_SECONDS = 30
# The soft limit raises inside the run, which then records its work and stops cleanly; the
# hard limit kills a run that does not stop. Both stay below the broker's visibility
# timeout (settings.CELERY_BROKER_TRANSPORT_OPTIONS) together with the longest countdown.
SOFT_TIME_LIMIT_SECONDS = 14 * 60
HARD_TIME_LIMIT_SECONDS = 15 * 60
TRANSIENT_ERRORS = (RedisConnectionError, RedisTimeoutError, OperationalError)


def retry_countdown(retries: int) -> float:
    """Return the delay before retry number retries+1: 30 s, 60 s, 120 s, plus up to 50 %
    jitter so that workers retrying together spread out. The jitter only adds: no delay falls
    below the exponential base."""
    base = RETRY_BASE_SECONDS * 2**retries
    return base + random.uniform(0, base / 2)  # noqa: S311 (jitter, not cryptography)


def soft_time_limit(task: Any) -> float:
    """Return the soft time limit of this delivery: the one sent with the message, if any,
    else the task's own."""
    _, soft = task.request.timelimit or (None, None)
    return float(soft or task.soft_time_limit or SOFT_TIME_LIMIT_SECONDS)


def is_transient(error: Exception) -> bool:
    if isinstance(error, ApiError):
        return error.transient
    return isinstance(error, TRANSIENT_ERRORS)


@shared_task(
    bind=True,
    name=SYNC_TASK_NAME,
    max_retries=MAX_RETRIES,
    acks_late=True,
    soft_time_limit=SOFT_TIME_LIMIT_SECONDS,
    time_limit=HARD_TIME_LIMIT_SECONDS,
)
def sync_bugsink_to_gitea(
    self: Any, trigger: str = "schedule", triggered_by_id: int | None = None
) -> dict[str, Any]:
    """Run one sync and return {"status", "run_id", and the summary's counts}.

    Returns status "disabled" without touching either API when BUGSINK_SYNC_ENABLED is false,
    and "in_progress" when another run holds the lock. Raises the error that ended the run
    once retries are exhausted or when retrying cannot help.
    """
    config, problems = read_sync_config()
    if not config.enabled and not problems:
        logger.info("sync skipped: BUGSINK_SYNC_ENABLED is false")
        return {"status": "disabled"}

    user = get_user_model().objects.filter(pk=triggered_by_id).first() if triggered_by_id else None
    try:
        run, summary = run_sync(
            trigger=trigger,
            triggered_by=user,
            task_id=self.request.id or "",
            time_limit=soft_time_limit(self),
        )
    except SyncInProgressError as error:
        logger.info("sync not started: %s", error)
        return {"status": "in_progress", "current_run": error.current_run}
    except Exception as error:
        if not is_transient(error):
            logger.error(
                "sync failed and is not retried, because retrying cannot fix it: %s", error
            )
            raise
        if self.request.retries >= MAX_RETRIES:
            logger.error("sync failed after %d retries: %s", MAX_RETRIES, error)
            raise
        countdown = retry_countdown(self.request.retries)
        logger.warning(
            "sync failed (%s); retry %d of %d in %.0f s",
            error,
            self.request.retries + 1,
            MAX_RETRIES,
            countdown,
        )
        raise self.retry(exc=error, countdown=countdown) from error

    return {"status": run.status, "run_id": run.pk, **summary.as_dict()}
