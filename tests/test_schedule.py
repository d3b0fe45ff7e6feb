from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from config.celery import app
from syncapp.schedule import PERIODIC_TASK_NAME
from syncapp.tasks import SYNC_TASK_NAME

pytestmark = pytest.mark.django_db


def setup_schedule() -> str:
    out = StringIO()
    call_command("setup_sync_schedule", stdout=out)
    return out.getvalue()


def test_schedule_is_created_once(settings: Any) -> None:
    first = setup_schedule()
    second = setup_schedule()

    task = PeriodicTask.objects.get(name=PERIODIC_TASK_NAME)
    assert "created: every 15 min on queue bugsink-sync" in first
    assert "unchanged" in second
    assert PeriodicTask.objects.filter(task=SYNC_TASK_NAME).count() == 1
    assert task.interval.every == 15
    assert task.interval.period == "minutes"
    assert task.queue == "bugsink-sync"


def test_tick_expiry_stored_and_short(settings: Any) -> None:
    for interval in ("1", "15", "60"):
        settings.BUGSINK_SYNC_INTERVAL = interval
        setup_schedule()
        task = PeriodicTask.objects.get(name=PERIODIC_TASK_NAME)

        assert task.expire_seconds is not None
        assert 0 < task.expire_seconds < int(interval) * 60


@pytest.mark.django_db(transaction=True)
def test_running_beat_picks_up_changed_interval(settings: Any) -> None:
    setup_schedule()
    scheduler = DatabaseScheduler(app=app)
    assert scheduler.schedule[PERIODIC_TASK_NAME].schedule.run_every == timedelta(minutes=15)

    settings.BUGSINK_SYNC_INTERVAL = "5"
    output = setup_schedule()

    assert "updated: every 5 min" in output
    entry = scheduler.schedule[PERIODIC_TASK_NAME]
    assert entry.schedule.run_every == timedelta(minutes=5)
    assert entry.options["queue"] == "bugsink-sync"
    assert entry.options["expires"] == 240


def test_bad_interval_is_rejected_by_name(settings: Any) -> None:
    settings.BUGSINK_SYNC_INTERVAL = "0"

    with pytest.raises(CommandError, match="BUGSINK_SYNC_INTERVAL"):
        setup_schedule()
