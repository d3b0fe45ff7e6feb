"""The Django admin pages of the sync: records, runs, label mappings and API tokens.

"Sync now", "Retry failed issues" and "Forget" each show a confirmation page first and then
call the runs module. None of them waits for a run, because a run can take minutes.
"""

import logging
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django_celery_beat.models import PeriodicTask

from syncapp.authentication import generate_raw_token, revoke_api_tokens, save_new_token
from syncapp.conf import SyncError, read_sync_config
from syncapp.models import ApiToken, ProjectLabelMapping, SyncRecord, SyncRun
from syncapp.runs import (
    SyncUnavailableError,
    clear_failure_reasons,
    forget_sync_record,
    read_current_run,
    start_manual_sync,
)
from syncapp.schedule import PERIODIC_TASK_NAME

logger = logging.getLogger(__name__)

CONFIRM_TEMPLATE = "admin/syncapp/confirm_action.html"


def sync_links(other_list: str, other_list_label: str) -> dict[str, str]:
    """Return the links that the sync records and sync runs lists show above the table."""
    task = PeriodicTask.objects.filter(name=PERIODIC_TASK_NAME).first()
    if task is None:
        schedule = reverse("admin:django_celery_beat_periodictask_changelist")
    else:
        schedule = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
    return {
        "sync_now": reverse("admin:syncapp_syncrun_sync_now"),
        "other_list": reverse(other_list),
        "other_list_label": other_list_label,
        "schedule": schedule,
    }


def why_sync_cannot_start() -> str:
    """Return why a manual run would be rejected now, or "" when it can be queued."""
    config, problems = read_sync_config()
    if not config.enabled and not problems:
        return "The sync is disabled: BUGSINK_SYNC_ENABLED is false. Set it to true to sync."
    try:
        current = read_current_run(config)
    except SyncUnavailableError as error:
        return f"The sync cannot start: {error}."
    if current is not None:
        started = current.get("started_at") or "an unknown time"
        return f"A sync run is already in progress (started {started})."
    return ""


def confirmation_page(
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    *,
    title: str,
    paragraphs: list[str],
    confirm_label: str,
    items: list[str] | None = None,
    blocked: str = "",
    action_name: str = "",
    queryset: Any = (),
) -> TemplateResponse:
    """Render the confirmation page; with action_name, confirming posts the changelist
    action back with the same selection, as Django's own delete action does."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "paragraphs": paragraphs,
        "items": items or [],
        "blocked": blocked,
        "confirm_label": confirm_label,
        "action_name": action_name,
        "queryset": queryset,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)


def queue_manual_sync(request: HttpRequest, note: str = "") -> bool:
    """Queue a manual run for the requesting user and report the outcome as a message."""
    try:
        task_id = start_manual_sync(request.user)
    except SyncError as error:
        messages.error(request, f"The sync run was not started: {error}")
        return False
    messages.success(
        request,
        f"Queued a manual sync run (task {task_id}). {note}It appears under Sync runs when "
        "a worker starts it.",
    )
    return True


@admin.register(SyncRecord)
class SyncRecordAdmin(admin.ModelAdmin):
    list_display = [
        "bugsink_short_id",
        "project_slug",
        "title",
        "gitea_link",
        "bugsink_link",
        "label_list",
        "synced_at",
        "resolved_in_bugsink",
    ]
    list_filter = ["project_slug", "environment", "kind", "status", "error_type", "synced_at"]
    search_fields = ["title", "bugsink_issue_id", "bugsink_short_id", "=gitea_issue_number"]
    date_hierarchy = "synced_at"
    readonly_fields = [field.name for field in SyncRecord._meta.fields]
    actions = ["forget_records"]

    @admin.display(description="Gitea issue", ordering="gitea_issue_number")
    def gitea_link(self, record: SyncRecord) -> str:
        if not record.gitea_issue_number:
            return "-"
        if not record.gitea_issue_url:
            return f"#{record.gitea_issue_number}"
        return format_html(
            '<a href="{}">#{}</a>', record.gitea_issue_url, record.gitea_issue_number
        )

    @admin.display(description="Bugsink issue")
    def bugsink_link(self, record: SyncRecord) -> str:
        if not record.bugsink_issue_url:
            return record.bugsink_issue_id
        return format_html('<a href="{}">open in Bugsink</a>', record.bugsink_issue_url)

    @admin.display(description="labels")
    def label_list(self, record: SyncRecord) -> str:
        return ", ".join(record.labels) or "-"

    @admin.display(description="resolved in Bugsink", boolean=True)
    def resolved_in_bugsink(self, record: SyncRecord) -> bool:
        return record.resolved_in_bugsink

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Deleting only the row would leave the Redis key, and every run would skip the issue.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_urls(self) -> list[Any]:
        forget = self.admin_site.admin_view(self.forget_view)
        return [
            path("<path:object_id>/forget/", forget, name="syncapp_syncrecord_forget"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        links = sync_links("admin:syncapp_syncrun_changelist", "Sync runs")
        return super().changelist_view(request, {**(extra_context or {}), "sync_links": links})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        context = dict(extra_context or {})
        if self.has_delete_permission(request):
            context["forget_url"] = reverse("admin:syncapp_syncrecord_forget", args=[object_id])
        return super().change_view(request, object_id, form_url, context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        # Django's delete page would remove the row but not the Redis key.
        return HttpResponseRedirect(reverse("admin:syncapp_syncrecord_forget", args=[object_id]))

    @admin.action(description="Forget selected sync records", permissions=["delete"])
    def forget_records(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if request.POST.get("post") != "yes":
            return self.forget_confirmation(request, queryset, action_name="forget_records")
        self.forget(request, list(queryset))
        return None

    def forget_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_delete_permission(request):
            raise PermissionDenied
        record = get_object_or_404(SyncRecord, pk=object_id)
        if request.method != "POST" or request.POST.get("post") != "yes":
            return self.forget_confirmation(request, [record])
        self.forget(request, [record])
        return HttpResponseRedirect(reverse("admin:syncapp_syncrecord_changelist"))

    def forget_confirmation(
        self, request: HttpRequest, records: Any, action_name: str = ""
    ) -> TemplateResponse:
        return confirmation_page(
            request,
            self,
            title="Forget sync records",
            paragraphs=[
                "Forgetting removes the sync record and its Redis key. If the Bugsink issue is "
                "unresolved, the next run files a new Gitea issue for it. The existing Gitea "
                "issue is not changed.",
            ],
            items=[
                f"{record.bugsink_short_id or record.bugsink_issue_id}: {record.title} "
                f"(Gitea #{record.gitea_issue_number or '-'})"
                for record in records
            ],
            confirm_label="Yes, forget them",
            action_name=action_name,
            queryset=records,
        )

    def forget(self, request: HttpRequest, records: list[SyncRecord]) -> None:
        forgotten = 0
        for record in records:
            try:
                # The admin's log entry must be written while the row exists; the transaction
                # drops it again when Redis cannot be reached and nothing was forgotten.
                with transaction.atomic():
                    self.log_deletions(request, SyncRecord.objects.filter(pk=record.pk))
                    forget_sync_record(record, request.user)
            except SyncUnavailableError as error:
                messages.error(request, f"{record} was not forgotten: {error}")
                continue
            forgotten += 1
        if forgotten:
            messages.success(
                request, f"Forgot {forgotten} sync record(s); the next run syncs them again."
            )


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "started_at",
        "finished_at",
        "trigger_with_user",
        "status",
        "synced",
        "skipped",
        "failed",
        "duration",
        "errors",
    ]
    list_filter = ["status", "trigger", "started_at"]
    date_hierarchy = "started_at"
    fields = [
        "status",
        "trigger",
        "triggered_by",
        "task_id",
        "started_at",
        "finished_at",
        "duration",
        "synced",
        "skipped",
        "failed",
        "resolved",
        "error",
        "failures_table",
        "unmapped_projects",
    ]
    readonly_fields = fields
    actions = ["retry_failed_issues"]

    @admin.display(description="trigger", ordering="trigger")
    def trigger_with_user(self, run: SyncRun) -> str:
        if run.triggered_by is None:
            return run.trigger
        return f"{run.trigger} by {run.triggered_by.get_username()}"

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, run: SyncRun) -> str:
        if run.duration_ms is None:
            return "-"
        return f"{run.duration_ms / 1000:.1f} s"

    @admin.display(description="errors")
    def errors(self, run: SyncRun) -> str:
        """Return the run's own error, or the reason of its first failed issue and a count."""
        if run.error:
            return run.error
        if not run.failures:
            return "-"
        first = run.failures[0]
        more = f" (and {len(run.failures) - 1} more)" if len(run.failures) > 1 else ""
        return f"{first['bugsink_issue_id']}: {first['reason']}{more}"

    @admin.display(description="failed issues")
    def failures_table(self, run: SyncRun) -> str:
        if not run.failures:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    failure["bugsink_issue_id"],
                    failure["project"],
                    failure["title"],
                    failure["reason"],
                )
                for failure in run.failures
            ),
        )
        return format_html(
            "<table><thead><tr><th>Bugsink issue</th><th>project</th><th>title</th>"
            "<th>reason</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        sync_now = self.admin_site.admin_view(self.sync_now_view)
        return [path("sync-now/", sync_now, name="syncapp_syncrun_sync_now"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        links = sync_links("admin:syncapp_syncrecord_changelist", "Sync records")
        return super().changelist_view(request, {**(extra_context or {}), "sync_links": links})

    def sync_now_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("post") == "yes":
            queue_manual_sync(request)
            return HttpResponseRedirect(reverse("admin:syncapp_syncrun_changelist"))
        return confirmation_page(
            request,
            self,
            title="Sync now",
            paragraphs=[
                "Start a sync run now? It runs on the Celery worker under the same lock as "
                "the scheduled runs, so it never overlaps one. This page does not wait for "
                "it: its outcome appears under Sync runs.",
            ],
            blocked=why_sync_cannot_start(),
            confirm_label="Yes, sync now",
        )

    @admin.action(description="Retry failed issues", permissions=["view"])
    def retry_failed_issues(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        runs = [run for run in queryset if run.failures]
        if not runs:
            messages.warning(request, "The selected sync runs have no failed issues to retry.")
            return None
        if request.POST.get("post") != "yes":
            return self.retry_confirmation(request, queryset, runs)

        cleared = clear_failure_reasons(runs)
        queue_manual_sync(
            request,
            note=f"Failed issues stay unresolved in Bugsink, so this run picks them up again; "
            f"the last error of {cleared} sync record(s) was cleared. ",
        )
        return None

    def retry_confirmation(
        self, request: HttpRequest, queryset: QuerySet, runs: list[SyncRun]
    ) -> TemplateResponse:
        return confirmation_page(
            request,
            self,
            title="Retry failed issues",
            paragraphs=[
                "Failed issues stay unresolved in Bugsink, so any run tries them again. This "
                "queues a manual sync run now, and clears the last error of their sync "
                "records, if they have one. These issues failed:",
            ],
            items=[
                f"run {run.pk}, {failure['bugsink_issue_id']} ({failure['project']}): "
                f"{failure['reason']}"
                for run in runs
                for failure in run.failures
            ],
            blocked=why_sync_cannot_start(),
            confirm_label="Yes, retry them",
            action_name="retry_failed_issues",
            queryset=queryset,
        )


@admin.register(ProjectLabelMapping)
class ProjectLabelMappingAdmin(admin.ModelAdmin):
    list_display = ["project_slug", "kind", "environment"]
    list_editable = ["kind", "environment"]
    search_fields = ["project_slug"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "shown_prefix", "created_at", "last_used_at", "active"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    actions = ["revoke_tokens"]

    @admin.display(description="token")
    def shown_prefix(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    @admin.display(description="active", boolean=True)
    def active(self, token: ApiToken) -> bool:
        return not token.is_revoked

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # A staff user who manages tokens lists and creates only their own, a superuser all tokens.
        tokens = super().get_queryset(request).select_related("user")
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        if obj is None:
            return ["name", "user"]
        return ["name", "user", "shown_prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        if obj is None:
            return []
        return ["user", "shown_prefix", "created_at", "last_used_at", "revoked_at"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            kwargs["initial"] = request.user.pk
            if not request.user.is_superuser:
                kwargs["queryset"] = db_field.related_model.objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        raw_token = generate_raw_token()
        save_new_token(obj, raw_token)
        # Kept on this request only, for response_add to show once.
        request.api_token_plaintext = raw_token

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "API token created",
            "token": obj,
            "plaintext": request.api_token_plaintext,
            "sync_url": request.build_absolute_uri("/api/admin/bugsink/sync"),
            "status_url": request.build_absolute_uri("/api/admin/bugsink/sync/status"),
        }
        return TemplateResponse(request, "admin/syncapp/apitoken/token_created.html", context)

    @admin.action(description="Revoke selected API tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = revoke_api_tokens(queryset)
        logger.info("user=%s revoked %d API token(s)", request.user.pk, revoked)
        messages.success(request, f"Revoked {revoked} API token(s); they no longer authenticate.")
