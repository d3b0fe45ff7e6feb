from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncapp.conf import SyncError, load_sync_config
from syncapp.models import SyncRun
from syncapp.runs import preview_sync, run_sync


class Command(BaseCommand):
    help = (
        "Run one sync now, in this process, and print its summary. With --dry-run, print "
        "the Gitea issues a run would create (title and labels) and write nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="list what would be created; change nothing in Bugsink, Gitea, Redis or the DB",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["dry_run"]:
                self.print_preview()
            else:
                self.run_once()
        except SyncError as error:
            raise CommandError(str(error)) from error

    def print_preview(self) -> None:
        planned = preview_sync(load_sync_config(require_connection=True))
        for item in planned:
            self.stdout.write(f"would create: {item.title}  [{', '.join(item.labels)}]")
        noun = "issue" if len(planned) == 1 else "issues"
        self.stdout.write(f"dry run: {len(planned)} Gitea {noun} would be created")

    def run_once(self) -> None:
        run, summary = run_sync(trigger=SyncRun.Trigger.COMMAND)
        for failure in summary.failures:
            self.stderr.write(
                f"failed: {failure.bugsink_issue_id} ({failure.project}): {failure.reason}"
            )
        unmapped = ", ".join(summary.unmapped_projects) or "none"
        self.stdout.write(
            f"sync run {run.pk} {run.status}: synced {summary.synced}, skipped {summary.skipped}, "
            f"failed {summary.failed}, resolved {summary.resolved}, regressions "
            f"{summary.regressions} in {summary.duration_ms} ms; "
            f"unmapped projects: {unmapped}"
        )
