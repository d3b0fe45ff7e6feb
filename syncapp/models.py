"""Sync records, sync runs and the per-project label mapping.

A sync record is the durable link between one Bugsink issue and its Gitea issue. The
sync-state Redis (database 15 by default) stores the same link for fast checks. The record
is the copy that survives a Redis flush and that the admin lists.
"""

from django.conf import settings
from django.db import models

from syncapp.labels import ENVIRONMENT_CHOICES, KIND_CHOICES


class ProjectLabelMapping(models.Model):
    """An explicit kind and environment for a Bugsink project, overriding name inference."""

    project_slug = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(
        max_length=20, blank=True, choices=[(kind, kind) for kind in KIND_CHOICES]
    )
    environment = models.CharField(
        max_length=20, blank=True, choices=[(env, env) for env in ENVIRONMENT_CHOICES]
    )

    class Meta:
        ordering = ["project_slug"]

    def __str__(self) -> str:
        return f"{self.project_slug}: {self.kind or '?'} / {self.environment or '?'}"


class SyncRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial", "succeeded with failed issues"
        FAILED = "failed"
        TIMED_OUT = "timed_out", "timed out"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        MANUAL = "manual"
        COMMAND = "command"

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    task_id = models.CharField(max_length=64, blank=True)
    synced = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    regressions = models.PositiveIntegerField(
        default=0, help_text="Synced issues whose error came back: commented and reopened."
    )
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # [{"bugsink_issue_id", "project", "title", "reason"}], one per failed issue.
    failures = models.JSONField(default=list, blank=True)
    unmapped_projects = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, help_text="Why the whole run failed, if it did.")

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"sync run {self.pk} ({self.status})"


class SyncRecord(models.Model):
    class Status(models.TextChoices):
        # The Gitea issue is about to be created. If a run dies here, a later run looks for the
        # issue by its marker before creating one.
        PENDING = "pending", "creating Gitea issue"
        CREATED = "created", "Gitea issue created"
        RESOLVED = "resolved", "resolved in Bugsink"

    bugsink_issue_id = models.CharField(max_length=64, unique=True)
    bugsink_short_id = models.CharField(max_length=100, blank=True)
    bugsink_issue_url = models.URLField(max_length=500, blank=True)
    project_slug = models.CharField(max_length=50, db_index=True)
    environment = models.CharField(max_length=20, blank=True)
    kind = models.CharField(max_length=20, blank=True)
    error_type = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=255)
    labels = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    gitea_issue_number = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    gitea_issue_url = models.URLField(max_length=500, blank=True)
    intent_at = models.DateTimeField(help_text="When the run decided to create the Gitea issue.")
    synced_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # What Bugsink reported when the issue was last resolved: a later last_seen or a higher
    # event count means the error came back, not that someone reopened it by hand.
    bugsink_last_seen = models.CharField(max_length=64, blank=True)
    bugsink_event_count = models.PositiveBigIntegerField(default=0)
    regression_count = models.PositiveIntegerField(default=0)
    last_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-intent_at"]

    def __str__(self) -> str:
        target = f"#{self.gitea_issue_number}" if self.gitea_issue_number else "(no Gitea issue)"
        return f"{self.bugsink_short_id or self.bugsink_issue_id} -> {target}"

    @property
    def resolved_in_bugsink(self) -> bool:
        return self.status == self.Status.RESOLVED


class ApiToken(models.Model):
    """A per-user key for the admin API, sent as `Authorization: Bearer <token>`.

    Only the SHA-256 digest of the token is stored; the plaintext is shown once, when the
    token is created. A revoked token stays listed so that its use can still be traced.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'CI deploy'.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the token, enough to tell tokens apart and too few to use one.
    prefix = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
