"""The Celery application: broker and result backend on REDIS_URL, settings from Django."""

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("bugsink_gitea_sync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def stop_on_invalid_sync_configuration(**kwargs: Any) -> None:
    """Stop a worker or beat at start when the sync settings are invalid, naming each
    variable, instead of failing at the first scheduled run."""
    import django

    django.setup()
    from syncapp.conf import ConfigurationError, read_sync_config

    _, problems = read_sync_config()
    if problems:
        # Celery logs and ignores exceptions from signal handlers; SystemExit does stop it.
        raise SystemExit(f"refusing to start: {ConfigurationError(problems)}")
