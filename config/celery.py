"""The Celery application: broker and result backend on REDIS_URL, settings from Django."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("bugsink_gitea_sync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
