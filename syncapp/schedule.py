"""The beat schedule of the sync: one django-celery-beat periodic task, kept in the database.

django-celery-beat's DatabaseScheduler notices a saved PeriodicTask and reloads it, so a
changed interval takes effect in a running beat without a restart.
"""

import json

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from syncapp.tasks import SYNC_QUEUE, SYNC_TASK_NAME

PERIODIC_TASK_NAME = "bugsink-sync"


def expiry_seconds(interval_minutes: int) -> int:
    """Return how long a queued tick stays valid: shorter than the interval, so that ticks
    queued while the workers were down expire instead of running back to back."""
    interval = interval_minutes * 60
    return max(interval // 2, interval - 60)


def install_schedule(interval_minutes: int) -> tuple[PeriodicTask, str]:
    """Create or update the periodic task; return it and "created", "updated" or "unchanged"."""
    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=interval_minutes, period=IntervalSchedule.MINUTES
    )
    desired = {
        "task": SYNC_TASK_NAME,
        "interval": schedule,
        "queue": SYNC_QUEUE,
        "kwargs": json.dumps({"trigger": "schedule"}),
        "expire_seconds": expiry_seconds(interval_minutes),
        "enabled": True,
    }
    task = PeriodicTask.objects.filter(name=PERIODIC_TASK_NAME).first()
    if task is None:
        return PeriodicTask.objects.create(name=PERIODIC_TASK_NAME, **desired), "created"
    changed = {key: value for key, value in desired.items() if getattr(task, key) != value}
    if not changed:
        return task, "unchanged"
    for key, value in changed.items():
        setattr(task, key, value)
    task.save()
    return task, "updated"
