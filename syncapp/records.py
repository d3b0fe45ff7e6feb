"""Writing sync records: the database row and its Redis copy, at each step of an issue.

The row is written first and the Redis key after it, so a Redis key never points to a
Gitea issue the database does not know.
"""

from django.db import transaction
from django.utils import timezone

from syncapp.bugsink import BugsinkIssue
from syncapp.gitea import GiteaIssue
from syncapp.labels import LabelPlan
from syncapp.models import SyncRecord, SyncRun
from syncapp.rendering import stored_error_type
from syncapp.state import SyncedIssueState, SyncStateStore


def record_intent(
    issue: BugsinkIssue,
    project_slug: str,
    plan: LabelPlan,
    title: str,
    issue_url: str,
    run: SyncRun | None,
) -> SyncRecord:
    """Store that a Gitea issue is about to be created, before the create is sent."""
    record, _ = SyncRecord.objects.update_or_create(
        bugsink_issue_id=issue.id,
        defaults={
            "bugsink_short_id": issue.friendly_id[:100],
            "bugsink_issue_url": issue_url,
            "project_slug": project_slug,
            "kind": plan.kind or "",
            "environment": plan.environment or "",
            "error_type": stored_error_type(issue),
            "title": title,
            "labels": plan.label_names,
            "status": SyncRecord.Status.PENDING,
            "gitea_issue_number": None,
            "gitea_issue_url": "",
            "intent_at": timezone.now(),
            "last_run": run,
        },
    )
    return record


def record_created(
    record: SyncRecord,
    created: GiteaIssue,
    project_slug: str,
    store: SyncStateStore,
    run: SyncRun | None,
) -> None:
    with transaction.atomic():
        record.status = SyncRecord.Status.CREATED
        record.gitea_issue_number = created.number
        record.gitea_issue_url = created.html_url
        record.synced_at = timezone.now()
        record.last_error = ""
        record.last_run = run
        record.save()
    store.put(record.bugsink_issue_id, state_of(record, project_slug))


def record_from_state(
    issue: BugsinkIssue, project_slug: str, issue_url: str, state: SyncedIssueState
) -> SyncRecord:
    """Rebuild the database record of an issue that only Redis remembers."""
    record, _ = SyncRecord.objects.update_or_create(
        bugsink_issue_id=issue.id,
        defaults={
            "bugsink_short_id": issue.friendly_id[:100],
            "bugsink_issue_url": issue_url,
            "project_slug": project_slug,
            "title": state.title[:255],
            "status": SyncRecord.Status.CREATED,
            "gitea_issue_number": state.gitea_issue_number,
            "intent_at": timezone.now(),
            "synced_at": timezone.now(),
        },
    )
    return record


def record_resolved(record: SyncRecord, issue: BugsinkIssue) -> None:
    """Store that Bugsink confirmed the resolve, with what it reported then."""
    record.status = SyncRecord.Status.RESOLVED
    record.resolved_at = timezone.now()
    record.last_error = ""
    record.bugsink_last_seen = issue.last_seen
    record.bugsink_event_count = issue.event_count
    record.save(
        update_fields=[
            "status",
            "resolved_at",
            "last_error",
            "bugsink_last_seen",
            "bugsink_event_count",
        ]
    )


def state_of(record: SyncRecord, project_slug: str) -> SyncedIssueState:
    synced_at = record.synced_at or timezone.now()
    return SyncedIssueState(
        gitea_issue_number=int(record.gitea_issue_number or 0),
        synced_at=synced_at.isoformat(),
        project=project_slug,
        title=record.title,
    )
