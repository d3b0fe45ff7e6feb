from typing import Any

from django.core.management.base import BaseCommand, CommandError

from syncapp.conf import ConfigurationError, SyncConfig, read_sync_config
from syncapp.schedule import install_schedule


class Command(BaseCommand):
    help = (
        "Create or update the beat schedule of the sync from BUGSINK_SYNC_INTERVAL (minutes). "
        "Safe to run at every deploy."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        config: SyncConfig
        config, problems = read_sync_config()
        interval_problems = [p for p in problems if p.variable == "BUGSINK_SYNC_INTERVAL"]
        if interval_problems:
            raise CommandError(str(ConfigurationError(interval_problems)))

        task, outcome = install_schedule(config.interval_minutes)
        self.stdout.write(
            f"periodic task {task.name!r} {outcome}: every {config.interval_minutes} min on queue "
            f"{task.queue}, ticks expire after {task.expire_seconds} s"
        )
