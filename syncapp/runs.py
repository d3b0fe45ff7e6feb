"""Starting and recording sync runs: the entry points the task, command and admin call.

`run_sync` takes the lock, records a SyncRun row, runs the SyncService and stores its
outcome. `preview_sync` lists what a run would create and writes nothing anywhere.
"""

import logging
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from syncapp.bugsink import BugsinkClient
from syncapp.conf import (
    ConfigurationError,
    SyncConfig,
    SyncError,
    load_sync_config,
    scrub_secrets,
)
from syncapp.gitea import GiteaClient
from syncapp.labels import plan_labels
from syncapp.models import ProjectLabelMapping, SyncRecord, SyncRun
from syncapp.rendering import render_title
from syncapp.service import RunSummary, SyncService
from syncapp.state import SyncStateStore

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
) -> tuple[SyncRun, RunSummary]:
    """Run one sync under the lock and return the recorded run and its summary.

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
        service = SyncService(
            config, BugsinkClient(config), GiteaClient(config), store, lock=lock, run=run
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
    """Mark runs still "running" as failed; only called while holding the lock, so none of
    them can still be alive: their worker died before recording the end."""
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
