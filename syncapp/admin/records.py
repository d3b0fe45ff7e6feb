"""The sync records list: search, links to both issues, and forgetting a record."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from syncapp.admin.actions import confirmation_page, sync_links
from syncapp.models import SyncRecord
from syncapp.runs import SyncUnavailableError, forget_sync_record


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

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[SyncRecord], search_term: str
    ) -> tuple[QuerySet[SyncRecord], bool]:
        # The list shows Gitea numbers as "#4", so "#4" finds that Gitea issue only (a plain
        # "4" also matches titles and ids that contain the digit).
        if search_term.startswith("#") and search_term[1:].isdigit():
            return queryset.filter(gitea_issue_number=int(search_term[1:])), False
        return super().get_search_results(request, queryset, search_term)

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
                request,
                f"Forgot {forgotten} sync record(s). The next run files them again if they are "
                "still unresolved in Bugsink.",
            )
