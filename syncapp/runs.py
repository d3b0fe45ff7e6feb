"""Starting and recording sync runs: the entry points the task, command and admin call.

`run_sync` takes the lock, records a SyncRun row, runs the SyncService and stores its
outcome. `preview_sync` lists what a run would create and writes nothing anywhere.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from amqp.exceptions import ChannelError
from celery.exceptions import SoftTimeLimitExceeded
from django.db.models import Count
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from syncapp.bugsink import BugsinkClient
from syncapp.conf import (
    ConfigurationError,
    SyncConfig,
    SyncError,
    load_sync_config,
    read_sync_config,
    scrub_secrets,
)
from syncapp.gitea import GiteaClient
from syncapp.labels import plan_labels
from syncapp.models import ProjectLabelMapping, SyncRecord, SyncRun
from syncapp.rendering import render_title
from syncapp.service import SyncService
from syncapp.state import SyncInProgressError, SyncStateStore
from syncapp.summary import RunSummary

logger = logging.getLogger(__name__)


class SyncDisabledError(SyncError):
    def __init__(self) -> None:
        super().__init__(
            "the sync is disabled: BUGSINK_SYNC_ENABLED is false; set it to true to sync"
        )


def run_sync(
    *,
    trigger: str,
    triggered_by: Any = None,
    task_id: str = "",
    config: SyncConfig | None = None,
    time_limit: float | None = None,
) -> tuple[SyncRun, RunSummary]:
    """Run one sync under the lock and return the recorded run and its summary.

    With time_limit (seconds), the run stops cleanly once that much time has passed, as it
    does when Celery's soft time limit strikes.

    Raises SyncDisabledError, ConfigurationError (recorded as a failed run),
    SyncInProgressError when another run holds the lock, and the errors that ended the run
    (recorded on the run first).
    """
    try:
        config = config or load_sync_config()
    except ConfigurationError as error:
        record_failed_run(trigger, triggered_by, task_id, str(error))
        raise
    if not config.enabled:
        raise SyncDisabledError()

    store = SyncStateStore.from_url(config.state_redis_url)
    started_at = timezone.now()
    lock = store.acquire_lock(
        {"started_at": started_at.isoformat(), "trigger": trigger, "task_id": task_id}
    )
    try:
        close_interrupted_runs()
        run = SyncRun.objects.create(
            trigger=trigger, triggered_by=triggered_by, task_id=task_id or ""
        )
        lock.describe_run(
            {
                "run_id": run.pk,
                "started_at": started_at.isoformat(),
                "trigger": trigger,
                "task_id": task_id,
            }
        )
        deadline = time.monotonic() + time_limit if time_limit else None
        service = SyncService(
            config,
            BugsinkClient(config),
            GiteaClient(config),
            store,
            lock=lock,
            run=run,
            deadline=deadline,
        )
        try:
            summary = service.run()
        except SoftTimeLimitExceeded:
            logger.warning("sync run %s reached its soft time limit; stopping", run.pk)
            finish_run(run, service.summary, SyncRun.Status.TIMED_OUT, "reached the time limit")
            return run, service.summary
        except Exception as error:
            message = scrub_secrets(str(error) or type(error).__name__, config.secrets)
            finish_run(run, service.summary, SyncRun.Status.FAILED, message)
            logger.error("sync run %s failed: %s (%s)", run.pk, message, service.summary.log_line())
            raise
        status = SyncRun.Status.PARTIAL if summary.failed else SyncRun.Status.SUCCEEDED
        finish_run(run, summary, status)
        return run, summary
    finally:
        lock.release()


def close_interrupted_runs() -> int:
    """Mark runs still "running" as failed, because their worker died before recording the end.

    Called only while holding the lock, so none of those runs can still be alive."""
    return SyncRun.objects.filter(status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.FAILED,
        finished_at=timezone.now(),
        error="interrupted: the worker stopped before the run finished; the next run "
        "completed its work",
    )


def finish_run(run: SyncRun, summary: RunSummary, status: str, error: str = "") -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.synced = summary.synced
    run.skipped = summary.skipped
    run.failed = summary.failed
    run.resolved = summary.resolved
    run.regressions = summary.regressions
    run.duration_ms = summary.duration_ms
    run.failures = [failure.__dict__ for failure in summary.failures]
    run.unmapped_projects = summary.unmapped_projects
    run.error = error
    run.save()
    unmapped = ",".join(summary.unmapped_projects) or "none"
    logger.info(
        "sync run %s %s: %s unmapped_projects=%s", run.pk, status, summary.log_line(), unmapped
    )


def record_failed_run(trigger: str, triggered_by: Any, task_id: str, error: str) -> SyncRun:
    now = timezone.now()
    return SyncRun.objects.create(
        trigger=trigger,
        triggered_by=triggered_by,
        task_id=task_id or "",
        status=SyncRun.Status.FAILED,
        finished_at=now,
        duration_ms=0,
        error=error,
    )


@dataclass(frozen=True)
class PlannedIssue:
    bugsink_issue_id: str
    project: str
    title: str
    labels: list[str]


def preview_sync(config: SyncConfig) -> list[PlannedIssue]:
    """Return the Gitea issues a run would create now. Reads Bugsink and Redis only.

    Titles come from the issues' own fields, so no event is fetched.
    """
    bugsink = BugsinkClient(config)
    store = SyncStateStore.from_url(config.state_redis_url)
    mappings = {
        mapping.project_slug: (mapping.kind or None, mapping.environment or None)
        for mapping in ProjectLabelMapping.objects.all()
    }
    planned = []
    for project in bugsink.list_projects():
        plan = plan_labels(project.slug, project.name, mappings.get(project.slug))
        for page in bugsink.iter_issue_pages(project.id, include_muted=config.include_muted):
            issue_ids = [issue.id for issue in page]
            synced = set(store.get_many(issue_ids))
            synced.update(
                SyncRecord.objects.filter(
                    bugsink_issue_id__in=issue_ids, gitea_issue_number__isnull=False
                ).values_list("bugsink_issue_id", flat=True)
            )
            planned += [
                PlannedIssue(
                    issue.id, project.slug, render_title(project, issue, None), plan.label_names
                )
                for issue in page
                if issue.id not in synced
            ]
    return planned


# --- Manual runs and the sync status, for the admin API and the admin pages ----------------


class SyncUnavailableError(SyncError):
    """Redis or the Celery broker cannot be reached, so no run can be started or read."""


def is_connection_failure(error: BaseException) -> bool:
    """Tell whether an error of a Celery call means that Redis or the broker is unreachable.

    Celery's Redis result backend (5.x) raises RuntimeError once its reconnect attempts fail,
    with the Redis error as the cause. A publish gets that error when Redis is down, because
    the backend subscribes to the result before the message is sent.
    """
    if isinstance(error, KombuOperationalError | RedisError):
        return True
    return isinstance(error, RuntimeError) and isinstance(error.__cause__, RedisError)


def read_current_run(config: SyncConfig) -> dict[str, Any] | None:
    """Return the run that holds the lock now ({run_id, started_at, trigger, task_id}), or
    None. Raises SyncUnavailableError when the sync-state Redis cannot be reached."""
    try:
        return SyncStateStore.from_url(config.state_redis_url).current_run()
    except RedisError as error:
        raise SyncUnavailableError(f"the sync-state Redis cannot be reached: {error}") from error


def start_manual_sync(user: Any) -> str:
    """Queue a manual run of the sync task for user and return its Celery task id.

    Raises SyncDisabledError when BUGSINK_SYNC_ENABLED is false, SyncInProgressError when a
    run holds the lock, and SyncUnavailableError when Redis or the broker cannot be reached.
    The check here only saves a queued task that would be refused: the run itself takes the
    same lock as scheduled runs, so the two never overlap even when one starts in between.
    """
    # The task imports this module, so importing it at the top would be circular.
    from syncapp.tasks import sync_bugsink_to_gitea

    config, problems = read_sync_config()
    # Invalid settings are not refused here: the task records them as a failed run, which
    # is where an operator looks for them.
    if not config.enabled and not problems:
        raise SyncDisabledError()
    current = read_current_run(config)
    if current is not None:
        raise SyncInProgressError(current)

    try:
        # No publish retries: an operator waiting on the page or the API gets the error at
        # once instead of after the broker's reconnect attempts.
        result = sync_bugsink_to_gitea.apply_async(
            kwargs={"trigger": SyncRun.Trigger.MANUAL, "triggered_by_id": user.pk}, retry=False
        )
    except (KombuOperationalError, RedisError, RuntimeError) as error:
        if not is_connection_failure(error):
            raise
        cause = error.__cause__ if isinstance(error, RuntimeError) else error
        raise SyncUnavailableError(f"the Celery broker cannot be reached: {cause}") from error
    logger.info("manual sync run queued: task=%s user=%s", result.id, user.pk)
    return result.id


def clear_failure_reasons(runs: Any) -> int:
    """Clear last_error on the sync records of the issues that failed in these runs, and
    return how many changed. The admin then shows only reasons from after the retry."""
    issue_ids = {failure["bugsink_issue_id"] for run in runs for failure in run.failures}
    return (
        SyncRecord.objects.filter(bugsink_issue_id__in=issue_ids)
        .exclude(last_error="")
        .update(last_error="")
    )


def forget_sync_record(record: SyncRecord, user: Any) -> None:
    """Delete a sync record and its Redis key, so that the next run syncs the Bugsink issue
    again if it is still unresolved. The Gitea issue is left as it is.

    The Redis key goes first: if deleting it fails, the record stays and the admin shows
    the error, while the reverse order would leave a key that makes every run skip the issue.
    """
    config, _ = read_sync_config()
    try:
        SyncStateStore.from_url(config.state_redis_url).delete(record.bugsink_issue_id)
    except RedisError as error:
        raise SyncUnavailableError(f"the sync-state Redis cannot be reached: {error}") from error
    record.delete()
    logger.info(
        "sync record forgotten: bugsink_issue=%s gitea_issue=%s user=%s",
        record.bugsink_issue_id,
        record.gitea_issue_number,
        user.pk,
    )


@dataclass(frozen=True)
class ProjectSyncCount:
    slug: str
    synced_count: int


@dataclass(frozen=True)
class SyncStatus:
    enabled: bool
    configuration_problems: list[str]
    current_run: dict[str, Any] | None
    last_run: SyncRun | None
    next_run: datetime | None
    schedule: PeriodicTask | None
    total_synced: int
    projects: list[ProjectSyncCount]
    unmapped_projects: list[str]
    queued_runs: int


def sync_status() -> SyncStatus:
    """Collect what an operator checks first: the switch, the run in progress, the last
    finished run, the next scheduled run and the counts of synced issues per project.

    Raises SyncUnavailableError when the sync-state Redis cannot be reached.
    """
    # The schedule module imports the task, which imports this module.
    from syncapp.schedule import PERIODIC_TASK_NAME

    config, problems = read_sync_config()
    current = read_current_run(config)
    last_run = SyncRun.objects.exclude(status=SyncRun.Status.RUNNING).first()
    schedule = PeriodicTask.objects.filter(name=PERIODIC_TASK_NAME).first()

    synced = SyncRecord.objects.filter(gitea_issue_number__isnull=False)
    projects = [
        ProjectSyncCount(row["project_slug"], row["synced_count"])
        for row in synced.values("project_slug")
        .annotate(synced_count=Count("pk"))
        .order_by("project_slug")
    ]

    return SyncStatus(
        enabled=config.enabled,
        configuration_problems=[f"{p.variable}: {p.message}" for p in problems],
        current_run=current,
        last_run=last_run,
        next_run=next_scheduled_run(schedule) if config.enabled else None,
        schedule=schedule,
        total_synced=sum(project.synced_count for project in projects),
        projects=projects,
        unmapped_projects=unmapped_projects(),
        queued_runs=count_queued_runs(),
    )


def count_queued_runs() -> int:
    """Return how many sync tasks wait in the broker queue for a worker.

    Raises SyncUnavailableError when the broker cannot be reached.
    """
    # The Celery app and the task module import this module.
    from config.celery import app
    from syncapp.tasks import SYNC_QUEUE

    try:
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            return channel.queue_declare(queue=SYNC_QUEUE, passive=True).message_count
    except ChannelError:
        # kombu's Redis transport raises this for a passive declare of an unknown queue:
        # no worker declared the queue and nothing was ever sent to it.
        return 0
    except (KombuOperationalError, RedisError, OSError) as error:
        raise SyncUnavailableError(f"the Celery broker cannot be reached: {error}") from error


def next_scheduled_run(task: PeriodicTask | None) -> datetime | None:
    """Return when beat sends the periodic task next, or None when it is missing, disabled
    or a one-off that already ran.

    Mirrors django-celery-beat 2.x's ModelEntry: a task that never ran counts from its last
    change, and a task whose time has passed is sent at beat's next tick (about now).
    """
    if task is None or not task.enabled:
        return None
    if task.one_off and task.total_run_count:
        return None
    now = timezone.now()
    if task.start_time and task.start_time > now:
        return task.start_time
    remaining = task.schedule.remaining_estimate(task.last_run_at or task.date_changed)
    return now + max(remaining, timedelta(0))


def unmapped_projects() -> list[str]:
    """Return the Bugsink projects that the last completed run could not label fully and
    that still have no complete label mapping."""
    last_complete = SyncRun.objects.filter(
        status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL]
    ).first()
    if last_complete is None:
        return []
    mapped = set(
        ProjectLabelMapping.objects.exclude(kind="")
        .exclude(environment="")
        .values_list("project_slug", flat=True)
    )
    return [slug for slug in last_complete.unmapped_projects if slug not in mapped]
