from django.contrib import admin
from django.utils.html import format_html

from syncapp.models import ProjectLabelMapping, SyncRecord, SyncRun


@admin.register(SyncRecord)
class SyncRecordAdmin(admin.ModelAdmin):
    list_display = [
        "bugsink_short_id",
        "project_slug",
        "title",
        "gitea_link",
        "bugsink_link",
        "labels",
        "synced_at",
        "resolved_in_bugsink",
    ]
    list_filter = ["project_slug", "environment", "kind", "status", "error_type", "synced_at"]
    search_fields = ["title", "bugsink_issue_id", "bugsink_short_id", "=gitea_issue_number"]
    readonly_fields = [field.name for field in SyncRecord._meta.fields]

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

    @admin.display(description="resolved in Bugsink", boolean=True)
    def resolved_in_bugsink(self, record: SyncRecord) -> bool:
        return record.resolved_in_bugsink

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "started_at",
        "finished_at",
        "trigger",
        "triggered_by",
        "status",
        "synced",
        "skipped",
        "failed",
        "duration_ms",
    ]
    list_filter = ["status", "trigger", "started_at"]
    readonly_fields = [field.name for field in SyncRun._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(ProjectLabelMapping)
class ProjectLabelMappingAdmin(admin.ModelAdmin):
    list_display = ["project_slug", "kind", "environment"]
