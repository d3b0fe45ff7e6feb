from django.urls import path, re_path
from drf_spectacular.views import SpectacularJSONAPIView

from syncapp.api import schema  # noqa: F401 (registers the authentication schemes)
from syncapp.api.errors import api_not_found
from syncapp.api.views import SyncStatusApi, SyncTriggerApi

urlpatterns = [
    path("admin/bugsink/sync", SyncTriggerApi.as_view(), name="api-sync"),
    path("admin/bugsink/sync/status", SyncStatusApi.as_view(), name="api-sync-status"),
    path("schema/", SpectacularJSONAPIView.as_view(), name="api-schema"),
    re_path(r"^(?P<path>.*)$", api_not_found),
]
