"""The sync service: one run that turns unresolved Bugsink issues into Gitea issues.

Per Bugsink issue: check the sync state, fetch the latest event, record the intent, create
the Gitea issue, store the sync record and the Redis key, resolve the issue in Bugsink.
A failing issue is counted and recorded, and the run goes on with the next one.

Exactly-once rests on three facts: the Redis key and the sync record say an issue is done;
a record left in the `pending` state means a run may have died after creating the Gitea
issue, so the next run first looks for the issue by the marker in its body; and only one
run holds the lock at a time.
"""

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from celery.exceptions import Retry, SoftTimeLimitExceeded, TimeLimitExceeded
from django.db import DatabaseError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from syncapp.bugsink import BugsinkClient, BugsinkIssue, BugsinkProject
from syncapp.conf import SyncConfig, scrub_secrets
from syncapp.gitea import GiteaClient, GiteaIssue
from syncapp.http import ApiError
from syncapp.labels import LABELS, LabelPlan, plan_labels
from syncapp.models import ProjectLabelMapping, SyncRecord, SyncRun
from syncapp.rendering import marker_for, render_issue, render_title
from syncapp.state import LockLostError, SyncedIssueState, SyncLock, SyncStateStore

logger = logging.getLogger(__name__)

# Errors that end the whole run instead of failing one issue: the run cannot go on safely
# (lost lock, time limit, database or Redis down) or Celery needs them to pass through.
RUN_ENDING_ERRORS = (
    LockLostError,
    SoftTimeLimitExceeded,
    TimeLimitExceeded,
    Retry,
    DatabaseError,
    RedisError,
)
# After this many issues in a row failed without any HTTP answer, the server is taken to be
# down and the run ends with a transient error, to be retried as a whole.
MAX_CONSECUTIVE_CONNECTION_ERRORS = 3
# Gitea filters issues by its own clock; this margin covers a skew between the two servers.
MARKER_SEARCH_MARGIN = timedelta(minutes=10)


@dataclass
class IssueFailure:
    bugsink_issue_id: str
    project: str
    title: str
    reason: str


@dataclass
class RunSummary:
    synced: int = 0
    skipped: int = 0
    failed: int = 0
    resolved: int = 0
    duration_ms: int = 0
    failures: list[IssueFailure] = field(default_factory=list)
    unmapped_projects: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def log_line(self) -> str:
        return (
            f"synced={self.synced} skipped={self.skipped} failed={self.failed} "
            f"resolved={self.resolved} duration_ms={self.duration_ms}"
        )


class ResolveFailedError(Exception):
    """The Gitea issue exists but Bugsink did not confirm the resolve."""


class SyncService:
    def __init__(
        self,
        config: SyncConfig,
        bugsink: BugsinkClient,
        gitea: GiteaClient,
        state: SyncStateStore,
        *,
        lock: SyncLock | None = None,
        run: SyncRun | None = None,
    ) -> None:
        self.config = config
        self.bugsink = bugsink
        self.gitea = gitea
        self.state = state
        self.lock = lock
        self.run_row = run
        self.summary = RunSummary()
        self.seen_issue_ids: set[str] = set()
        self.label_ids: dict[str, int] = {}
        self.consecutive_connection_errors = 0

    def run(self) -> RunSummary:
        """Sync every project once and return the summary; self.summary fills as it goes.

        Raises ApiError when Gitea or the project list cannot be read (the run cannot start),
        and the RUN_ENDING_ERRORS.
        """
        started = time.monotonic()
        try:
            self.gitea.check_repository()
            self.label_ids = self.ensure_labels()
            mappings = {
                mapping.project_slug: (mapping.kind or None, mapping.environment or None)
                for mapping in ProjectLabelMapping.objects.all()
            }
            for project in self.bugsink.list_projects():
                plan = plan_labels(project.slug, project.name, mappings.get(project.slug))
                if not plan.is_mapped:
                    self.summary.unmapped_projects.append(project.slug)
                self.sync_project(project, plan)
        finally:
            self.summary.duration_ms = int((time.monotonic() - started) * 1000)
        return self.summary

    def ensure_labels(self) -> dict[str, int]:
        """Create missing labels and fix changed colours; return label ids by name.

        Read once per run: the ids are reused for every issue of the run.
        """
        existing = {label.name: label for label in self.gitea.list_labels()}
        label_ids = {}
        for spec in LABELS:
            label = existing.get(spec.name)
            if label is None:
                label = self.gitea.create_label(spec.name, spec.color, spec.description)
                logger.info("created Gitea label %s (#%s)", spec.name, spec.color)
            elif label.color != spec.color:
                label = self.gitea.edit_label_color(label.id, spec.color)
                logger.info("set Gitea label %s to colour #%s", spec.name, spec.color)
            label_ids[spec.name] = label.id
        return label_ids

    def sync_project(self, project: BugsinkProject, plan: LabelPlan) -> None:
        pages = self.bugsink.iter_issue_pages(project.id, include_muted=self.config.include_muted)
        for page in pages:
            issues = [issue for issue in page if issue.id not in self.seen_issue_ids]
            self.seen_issue_ids.update(issue.id for issue in issues)
            self.sync_page(project, plan, issues)

    def sync_page(
        self, project: BugsinkProject, plan: LabelPlan, issues: list[BugsinkIssue]
    ) -> None:
        """Sync one page of issues: one Redis MGET and one database query for the whole page."""
        issue_ids = [issue.id for issue in issues]
        states = self.state.get_many(issue_ids)
        records = SyncRecord.objects.in_bulk(issue_ids, field_name="bugsink_issue_id")

        for issue in issues:
            if self.lock is not None:
                self.lock.renew()
            try:
                self.sync_issue(project, plan, issue, states.get(issue.id), records.get(issue.id))
                self.consecutive_connection_errors = 0
            except RUN_ENDING_ERRORS:
                raise
            except Exception as error:  # one bad issue must never stop the run
                self.record_failure(project, issue, error)

    def sync_issue(
        self,
        project: BugsinkProject,
        plan: LabelPlan,
        issue: BugsinkIssue,
        state: SyncedIssueState | None,
        record: SyncRecord | None,
    ) -> None:
        if state is not None or (record is not None and record.gitea_issue_number):
            self.finish_synced_issue(project, issue, state, record)
            return

        if record is not None and record.status == SyncRecord.Status.PENDING:
            found = self.find_created_issue(record)
            if found is not None:
                logger.info(
                    "bugsink_issue=%s gitea_issue=%s found by marker after an interrupted run",
                    issue.id,
                    found.number,
                )
                self.record_created(record, found, project)
                self.summary.synced += 1
                self.resolve(issue, record)
                return

        event = self.bugsink.latest_event(issue.id)
        rendered = render_issue(project, issue, event, self.bugsink.issue_web_url(issue.id))
        record = self.record_intent(project, plan, issue, rendered.title)
        label_ids = [self.label_ids[name] for name in plan.label_names]
        created = self.gitea.create_issue(rendered.title, rendered.body, label_ids)
        logger.info(
            "bugsink_issue=%s gitea_issue=%s created: %s", issue.id, created.number, created.title
        )
        self.record_created(record, created, project)
        self.summary.synced += 1
        self.resolve(issue, record)

    def finish_synced_issue(
        self,
        project: BugsinkProject,
        issue: BugsinkIssue,
        state: SyncedIssueState | None,
        record: SyncRecord | None,
    ) -> None:
        """Skip an issue that already has a Gitea issue, repairing whichever copy is missing.

        The Bugsink issue is resolved again only if Bugsink never confirmed the resolve:
        a resolved issue that is open again was reopened or regressed in Bugsink.
        """
        if record is None and state is not None:
            record = self.record_from_state(project, issue, state)
        assert record is not None and record.gitea_issue_number is not None
        if state is None:
            self.state.put(issue.id, state_of(record, project))
            logger.info("bugsink_issue=%s sync state restored in Redis", issue.id)

        self.summary.skipped += 1
        if record.status != SyncRecord.Status.RESOLVED:
            self.resolve(issue, record)

    def find_created_issue(self, record: SyncRecord) -> GiteaIssue | None:
        """Look for the Gitea issue a previous run may have created before it died.

        If the search itself fails the error propagates, and nothing is created (fail closed).
        """
        since = (record.intent_at - MARKER_SEARCH_MARGIN).isoformat()
        return self.gitea.find_issue_by_marker(marker_for(record.bugsink_issue_id), since)

    def record_intent(
        self,
        project: BugsinkProject,
        plan: LabelPlan,
        issue: BugsinkIssue,
        title: str,
    ) -> SyncRecord:
        record, _ = SyncRecord.objects.update_or_create(
            bugsink_issue_id=issue.id,
            defaults={
                "bugsink_short_id": issue.friendly_id[:100],
                "bugsink_issue_url": self.bugsink.issue_web_url(issue.id),
                "project_slug": project.slug,
                "kind": plan.kind or "",
                "environment": plan.environment or "",
                "error_type": issue.error_type[:255],
                "title": title,
                "labels": plan.label_names,
                "status": SyncRecord.Status.PENDING,
                "intent_at": timezone.now(),
                "last_run": self.run_row,
            },
        )
        return record

    def record_created(
        self, record: SyncRecord, created: GiteaIssue, project: BugsinkProject
    ) -> None:
        with transaction.atomic():
            record.status = SyncRecord.Status.CREATED
            record.gitea_issue_number = created.number
            record.gitea_issue_url = created.html_url
            record.synced_at = timezone.now()
            record.last_error = ""
            record.last_run = self.run_row
            record.save()
        self.state.put(record.bugsink_issue_id, state_of(record, project))

    def record_from_state(
        self, project: BugsinkProject, issue: BugsinkIssue, state: SyncedIssueState
    ) -> SyncRecord:
        """Rebuild the database record of an issue that only Redis remembers."""
        record, _ = SyncRecord.objects.update_or_create(
            bugsink_issue_id=issue.id,
            defaults={
                "bugsink_short_id": issue.friendly_id[:100],
                "bugsink_issue_url": self.bugsink.issue_web_url(issue.id),
                "project_slug": project.slug,
                "title": state.title[:255],
                "status": SyncRecord.Status.CREATED,
                "gitea_issue_number": state.gitea_issue_number,
                "intent_at": timezone.now(),
                "synced_at": timezone.now(),
            },
        )
        return record

    def resolve(self, issue: BugsinkIssue, record: SyncRecord) -> None:
        try:
            self.bugsink.resolve_issue(issue.id)
        except ApiError as error:
            record.last_error = f"resolving in Bugsink failed: {error}"
            record.save(update_fields=["last_error"])
            raise ResolveFailedError(
                f"Gitea issue #{record.gitea_issue_number} exists, but resolving the issue in "
                f"Bugsink failed ({error}); the next run resolves it without creating another"
            ) from error
        record.status = SyncRecord.Status.RESOLVED
        record.resolved_at = timezone.now()
        record.last_error = ""
        record.save(update_fields=["status", "resolved_at", "last_error"])
        self.summary.resolved += 1

    def record_failure(
        self, project: BugsinkProject, issue: BugsinkIssue, error: Exception
    ) -> None:
        reason = scrub_secrets(str(error) or type(error).__name__, self.config.secrets)
        if isinstance(error, ApiError):
            logger.warning("bugsink_issue=%s failed: %s", issue.id, reason)
        else:
            logger.exception("bugsink_issue=%s failed unexpectedly: %s", issue.id, reason)
        self.summary.failed += 1
        self.summary.failures.append(
            IssueFailure(
                bugsink_issue_id=issue.id,
                project=project.slug,
                title=render_title(project, issue, None),
                reason=reason,
            )
        )
        api_error = error.__cause__ if isinstance(error, ResolveFailedError) else error
        if isinstance(api_error, ApiError) and api_error.is_connection_error:
            self.consecutive_connection_errors += 1
            if self.consecutive_connection_errors >= MAX_CONSECUTIVE_CONNECTION_ERRORS:
                raise api_error


def state_of(record: SyncRecord, project: BugsinkProject) -> SyncedIssueState:
    synced_at = record.synced_at or timezone.now()
    return SyncedIssueState(
        gitea_issue_number=int(record.gitea_issue_number or 0),
        synced_at=synced_at.isoformat(),
        project=project.slug,
        title=record.title,
    )
