"""The sync service: one run that turns unresolved Bugsink issues into Gitea issues.

Per Bugsink issue: check the sync state, fetch the latest event, record the intent, create
the Gitea issue, store the sync record and the Redis key, resolve the issue in Bugsink.
A failing issue is counted and recorded, and the run goes on with the next one.

Exactly-once rests on three facts. The Redis key and the sync record mark an issue as done.
A record left in the `pending` state means a create may have been sent without its outcome
being recorded, so a run after the settle period first looks for the Gitea issue by the
marker in its body. And only one run holds the lock at a time.
"""

import logging
import time
from datetime import timedelta

from celery.exceptions import Retry, SoftTimeLimitExceeded, TimeLimitExceeded
from django.db import DatabaseError
from django.utils import timezone
from redis.exceptions import RedisError

from syncapp.bugsink import BugsinkClient, BugsinkIssue, BugsinkProject
from syncapp.conf import SyncConfig, scrub_secrets
from syncapp.gitea import GiteaClient, GiteaIssue
from syncapp.http import ApiError
from syncapp.labels import LABELS, LabelPlan, plan_labels
from syncapp.models import ProjectLabelMapping, SyncRecord, SyncRun
from syncapp.records import (
    record_created,
    record_from_state,
    record_intent,
    record_resolved,
    state_of,
)
from syncapp.regressions import (
    has_baseline,
    is_regression,
    regression_marker,
    render_regression_comment,
)
from syncapp.rendering import marker_for, render_issue, render_title
from syncapp.state import LockLostError, SyncedIssueState, SyncLock, SyncStateStore
from syncapp.summary import IssueFailure, RunSummary

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
# After this many issues in a row failed without any HTTP response, the server is taken to be
# down and the run ends with a transient error, to be retried as a whole.
MAX_CONSECUTIVE_CONNECTION_ERRORS = 3
# Gitea filters issues by its own clock; this margin covers a skew between the two servers.
MARKER_SEARCH_MARGIN = timedelta(minutes=10)
MAX_UNFINISHED_PER_RUN = 100


class ResolveFailedError(Exception):
    """The Gitea issue exists but Bugsink did not confirm the resolve."""


class CreateUnconfirmedError(Exception):
    """The create got no definite response and its issue was not (yet) found in Gitea."""


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
        deadline: float | None = None,
    ) -> None:
        self.config = config
        self.bugsink = bugsink
        self.gitea = gitea
        self.state = state
        self.lock = lock
        self.run_row = run
        # time.monotonic() value after which the run stops as if its soft time limit struck.
        self.deadline = deadline
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
            self.finish_unfinished_records()
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
            self.renew_lock()
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
        if record is None and state is not None:
            record = record_from_state(
                issue, project.slug, self.bugsink.issue_web_url(issue.id), state
            )
        if record is not None and record.gitea_issue_number:
            if state is None:
                self.state.put(issue.id, state_of(record, project.slug))
                logger.info("bugsink_issue=%s sync state restored in Redis", issue.id)
            self.handle_synced_issue(project, plan, issue, record)
            return

        if record is not None and record.status == SyncRecord.Status.PENDING:
            if self.is_settling(record):
                logger.info(
                    "bugsink_issue=%s: the last create got no definite response and Gitea may "
                    "still be processing it; checking again in the next run",
                    issue.id,
                )
                self.summary.skipped += 1
                return
            found = self.find_created_issue(record)
            if found is not None:
                logger.info(
                    "bugsink_issue=%s gitea_issue=%s found by marker after an interrupted run",
                    issue.id,
                    found.number,
                )
                record_created(record, found, project.slug, self.state, self.run_row)
                self.summary.synced += 1
                self.resolve(issue, record)
                return

        self.create_gitea_issue(project, plan, issue)

    def create_gitea_issue(
        self, project: BugsinkProject, plan: LabelPlan, issue: BugsinkIssue
    ) -> SyncRecord:
        """Fetch the latest event, record the intent, create the Gitea issue, resolve.

        When the create fails without a definite response (no connection, timeout, 5xx), Gitea
        may have committed it, or may still be processing it. The issue is looked up by its
        marker at once, and if it is not there yet nothing more is created in this run: the
        record stays pending, and a run after the settle period looks again before creating.
        """
        issue_url = self.bugsink.issue_web_url(issue.id)
        event = self.bugsink.latest_event(issue.id)
        rendered = render_issue(project, issue, event, issue_url)
        label_ids = [self.label_ids[name] for name in plan.label_names]
        self.renew_lock()
        record = record_intent(issue, project.slug, plan, rendered.title, issue_url, self.run_row)
        try:
            created = self.gitea.create_issue_with_fallbacks(rendered, label_ids)
        except ApiError as error:
            if not error.transient:
                raise
            logger.warning("bugsink_issue=%s create failed (%s); checking Gitea", issue.id, error)
            found = self.find_created_issue(record)
            if found is None:
                raise CreateUnconfirmedError(
                    f"creating the Gitea issue got no definite response ({error}); the next "
                    f"run after {self.config.create_settle_seconds:g} s looks for it in Gitea "
                    f"before creating it again"
                ) from error
            created = found
        logger.info(
            "bugsink_issue=%s gitea_issue=%s created: %s", issue.id, created.number, created.title
        )

        self.renew_lock()
        record_created(record, created, project.slug, self.state, self.run_row)
        self.summary.synced += 1
        self.resolve(issue, record)
        return record

    def handle_synced_issue(
        self, project: BugsinkProject, plan: LabelPlan, issue: BugsinkIssue, record: SyncRecord
    ) -> None:
        """Finish or follow up an issue that already has a Gitea issue; never create another.

        Not yet confirmed resolved: resolve it. Resolved but unresolved again with new
        events: a regression. Resolved and reopened by hand without new events: skip it.
        """
        if record.status != SyncRecord.Status.RESOLVED or not has_baseline(record):
            self.summary.skipped += 1
            self.resolve(issue, record)
            return
        if not is_regression(issue, record):
            self.summary.skipped += 1
            return
        self.handle_regression(project, plan, issue, record)

    def handle_regression(
        self, project: BugsinkProject, plan: LabelPlan, issue: BugsinkIssue, record: SyncRecord
    ) -> None:
        """Comment on and reopen the Gitea issue, or file a new one if it was deleted."""
        number = record.gitea_issue_number
        assert number is not None
        gitea_issue = self.gitea.get_issue(number)
        # The record leaves the resolved state first, so that a run that dies from here on
        # is finished by the next run as an unconfirmed resolve, not counted twice.
        record.status = SyncRecord.Status.CREATED
        record.regression_count += 1
        record.save(update_fields=["status", "regression_count"])
        self.summary.regressions += 1

        if gitea_issue is None:
            logger.warning(
                "bugsink_issue=%s came back but gitea_issue=%s was deleted; filing a new one",
                issue.id,
                number,
            )
            self.create_gitea_issue(project, plan, issue)
            return

        event = self.bugsink.latest_event(issue.id)
        comment = render_regression_comment(issue, event, record)
        if regression_marker(issue) not in "".join(self.gitea.list_comment_bodies(number)):
            self.gitea.add_comment(number, comment)
        if gitea_issue.state == "closed":
            self.gitea.reopen_issue(number)
        logger.info("bugsink_issue=%s gitea_issue=%s regressed: commented", issue.id, number)
        self.resolve(issue, record)

    def finish_unfinished_records(self) -> None:
        """Complete records that this run did not meet in Bugsink's list of open issues.

        A resolve whose response was lost leaves a record unconfirmed, while Bugsink no longer
        lists the issue as open. A create interrupted before it was recorded leaves a pending
        record, and someone may have resolved its Bugsink issue since. At most
        MAX_UNFINISHED_PER_RUN records are checked per run, oldest first.
        """
        unfinished = (
            SyncRecord.objects.exclude(status=SyncRecord.Status.RESOLVED)
            .exclude(bugsink_issue_id__in=self.seen_issue_ids)
            .order_by("intent_at")[:MAX_UNFINISHED_PER_RUN]
        )
        for record in unfinished:
            self.renew_lock()
            try:
                self.finish_record(record)
            except RUN_ENDING_ERRORS:
                raise
            except Exception as error:  # the next run tries again
                logger.warning(
                    "bugsink_issue=%s could not be checked: %s",
                    record.bugsink_issue_id,
                    scrub_secrets(str(error), self.config.secrets),
                )

    def finish_record(self, record: SyncRecord) -> None:
        issue = self.bugsink.get_issue(record.bugsink_issue_id)
        if issue is None:
            return
        if record.status == SyncRecord.Status.PENDING:
            found = self.find_created_issue(record)
            if found is None:
                return
            record_created(record, found, record.project_slug, self.state, self.run_row)
            self.summary.synced += 1
        if issue.is_resolved:
            record_resolved(record, issue)
            logger.info("bugsink_issue=%s resolve confirmed", issue.id)
        elif not issue.is_muted or self.config.include_muted:
            self.resolve(issue, record)

    def is_settling(self, record: SyncRecord) -> bool:
        """Return whether a create of this pending record may still be in progress in Gitea.

        A pending record means a create was about to be sent. The run that sent it died or got
        no definite response, and Gitea may still commit the issue some time after that.
        """
        age = (timezone.now() - record.intent_at).total_seconds()
        return age < self.config.create_settle_seconds

    def renew_lock(self) -> None:
        """Renew the lock before the next step; stop the run when its deadline has passed.

        Celery raises SoftTimeLimitExceeded from a signal handler, at whatever line runs then,
        and a library that catches every exception there would swallow it. The deadline
        check stops the run at the next step all the same.
        """
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SoftTimeLimitExceeded("the run reached its time limit")
        if self.lock is not None:
            self.lock.renew()

    def find_created_issue(self, record: SyncRecord) -> GiteaIssue | None:
        """Look for the Gitea issue a previous attempt may have created.

        If the search itself fails the error propagates, and nothing is created (fail closed).
        """
        since = (record.intent_at - MARKER_SEARCH_MARGIN).isoformat()
        return self.gitea.find_issue_by_marker(marker_for(record.bugsink_issue_id), since)

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
        record_resolved(record, issue)
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
        wrapped = isinstance(error, ResolveFailedError | CreateUnconfirmedError)
        api_error = error.__cause__ if wrapped else error
        if isinstance(api_error, ApiError) and api_error.is_connection_error:
            self.consecutive_connection_errors += 1
            if self.consecutive_connection_errors >= MAX_CONSECUTIVE_CONNECTION_ERRORS:
                raise api_error
