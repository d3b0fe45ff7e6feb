"""Helpers the sync pages share: the links above the lists, the confirmation page, and
queueing a manual run."""

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from syncapp.conf import SyncError, read_sync_config
from syncapp.runs import SyncUnavailableError, read_current_run, start_manual_sync
from syncapp.schedule import PERIODIC_TASK_NAME

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
