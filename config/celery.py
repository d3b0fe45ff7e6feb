"""The Celery application: broker and result backend on REDIS_URL, settings from Django."""

import os
import sys
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
    # Only settings are read, so Django is not set up here: setting it up in beat would
    # apply Django's logging configuration over beat's and silence beat's own log lines.
    from syncapp.conf import ConfigurationError, read_sync_config

    _, problems = read_sync_config()
    if problems:
        message = f"refusing to start: {ConfigurationError(problems)}"
        # Beat redirects sys.stderr into its logging and drops the SystemExit message, so the
        # message goes to the original standard error. Celery logs and ignores other
        # exceptions from signal handlers; SystemExit does stop it.
        print(message, file=sys.__stderr__, flush=True)
        raise SystemExit(1)
