"""The sync runs list with their errors, "Sync now", "Retry failed issues", and the label
mappings."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from syncapp.admin.actions import (
    confirmation_page,
    queue_manual_sync,
    sync_links,
    why_sync_cannot_start,
)
from syncapp.models import ProjectLabelMapping, SyncRun
from syncapp.runs import clear_failure_reasons


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
