"""Request and response bodies of the admin API, also the source of its OpenAPI description.

Every response is an envelope: `{"success": true, "data": {...}}` or
`{"success": false, "error": {"code", "message", ...}}`.
"""

from typing import Any

from rest_framework import serializers

from syncapp.models import SyncRun

# The maximum wait a caller may request from POST /sync, because a web worker is held that long.
MAX_WAIT_SECONDS = 300


class SyncTriggerInputSerializer(serializers.Serializer):
    wait_seconds = serializers.FloatField(
        required=False,
        min_value=0,
        max_value=MAX_WAIT_SECONDS,
        help_text="Seconds to wait for the run before answering 202; defaults to the server's "
        "SYNC_API_WAIT_SECONDS (60). 0 answers 202 as soon as the run is queued.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A misspelt field would otherwise be ignored and the default wait used silently.
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["unknown field; the only field is wait_seconds"] for name in unknown}
            )
        return attrs


class IssueFailureSerializer(serializers.Serializer):
    bugsink_issue_id = serializers.CharField()
    project = serializers.CharField(help_text="The Bugsink project's slug.")
    title = serializers.CharField()
    reason = serializers.CharField()


class SyncResultSerializer(serializers.Serializer):
    """The outcome of a finished run."""

    run_id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL, SyncRun.Status.TIMED_OUT],
        help_text="partial: some issues failed and are retried by the next run.",
    )
    synced = serializers.IntegerField()
    skipped = serializers.IntegerField()
    failed = serializers.IntegerField()
    resolved = serializers.IntegerField()
    duration_ms = serializers.IntegerField()
    failures = IssueFailureSerializer(many=True)


class SyncAcceptedSerializer(serializers.Serializer):
    """A run that had not finished when the wait ran out."""

    state = serializers.ChoiceField(
        choices=["queued", "running", "retrying"],
        help_text="queued: no worker has started it yet; retrying: an attempt failed for a "
        "transient reason and the task waits for its next attempt.",
    )
    task_id = serializers.CharField(help_text="The Celery task id; runs record it as task_id.")
    run_id = serializers.IntegerField(
        allow_null=True, help_text="The sync run's id, null while the task is queued."
    )
    message = serializers.CharField()


class CurrentRunSerializer(serializers.Serializer):
    """The run that holds the sync lock. Fields are null when its holder did not store them."""

    run_id = serializers.IntegerField(allow_null=True, required=False)
    started_at = serializers.DateTimeField(allow_null=True, required=False)
    trigger = serializers.CharField(allow_null=True, required=False)
    task_id = serializers.CharField(allow_null=True, required=False)


class RunSummarySerializer(serializers.ModelSerializer):
    """A finished run as recorded in the database."""

    run_id = serializers.IntegerField(source="pk")
    triggered_by = serializers.CharField(
        source="triggered_by.get_username", allow_null=True, help_text="The user of a manual run."
    )
    failures = IssueFailureSerializer(many=True)

    class Meta:
        model = SyncRun
        fields = [
            "run_id",
            "status",
            "trigger",
            "triggered_by",
            "task_id",
            "started_at",
            "finished_at",
            "synced",
            "skipped",
            "failed",
            "resolved",
            "duration_ms",
            "error",
            "failures",
        ]
        read_only_fields = fields


class ProjectSyncCountSerializer(serializers.Serializer):
    slug = serializers.CharField()
    synced_count = serializers.IntegerField()


class ScheduleSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The django-celery-beat periodic task.")
    enabled = serializers.BooleanField()
    every = serializers.CharField(
        source="scheduler", allow_null=True, help_text="e.g. 'every 15 minutes'."
    )
    last_sent_at = serializers.DateTimeField(
        source="last_run_at", allow_null=True, help_text="When beat last queued the task."
    )


class SyncStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="BUGSINK_SYNC_ENABLED.")
    last_run = serializers.DateTimeField(
        source="last_run.started_at",
        allow_null=True,
        help_text="When the last finished run started; last_run_summary has its outcome.",
    )
    next_run = serializers.DateTimeField(
        allow_null=True,
        help_text="When beat queues the next scheduled run; null when the sync or its "
        "periodic task is disabled or missing.",
    )
    total_synced = serializers.IntegerField(help_text="Bugsink issues that have a Gitea issue.")
    projects = ProjectSyncCountSerializer(many=True)
    in_progress = serializers.BooleanField()
    current_run = CurrentRunSerializer(allow_null=True)
    queued_runs = serializers.IntegerField(
        help_text="Sync runs waiting in the broker queue. Above 0 with no run in progress, no "
        "worker is consuming the bugsink-sync queue."
    )
    last_run_summary = RunSummarySerializer(source="last_run", allow_null=True)
    unmapped_projects = serializers.ListField(
        child=serializers.CharField(),
        help_text="Bugsink projects whose labels could not be inferred in the last completed "
        "run and that have no complete label mapping in the admin.",
    )
    configuration_problems = serializers.ListField(
        child=serializers.CharField(), help_text="Invalid sync settings, by variable name."
    )
    schedule = ScheduleSerializer(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable and machine-readable, e.g. not_authenticated, not_staff, "
        "csrf_failed, invalid_token, token_revoked, method_not_allowed, sync_disabled, "
        "sync_in_progress, service_unavailable, configuration_error, upstream_error."
    )
    message = serializers.CharField(help_text="What failed and what to do, for a person.")
    current_run = CurrentRunSerializer(
        required=False, help_text="With sync_in_progress: the run that holds the lock."
    )
    run_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="With a failed run: its id."
    )
    field_errors = serializers.DictField(
        required=False, help_text="With invalid_request: the messages per request field."
    )


class ErrorEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always false.")
    error = ErrorSerializer()


class SyncResultEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always true.")
    data = SyncResultSerializer()


class SyncAcceptedEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always true.")
    data = SyncAcceptedSerializer()


class SyncStatusEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always true.")
    data = SyncStatusSerializer()
