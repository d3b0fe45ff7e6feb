import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from syncapp.bugsink import BugsinkClient
from syncapp.conf import SyncError, load_sync_config
from syncapp.gitea import GiteaClient
from syncapp.models import SyncRecord
from syncapp.records import state_of
from syncapp.rendering import MARKER_PREFIX
from syncapp.state import SyncStateStore

MARKER_PATTERN = re.compile(rf"<!-- {re.escape(MARKER_PREFIX)} ([A-Za-z0-9._-]+) -->")


class Command(BaseCommand):
    help = (
        "Rewrite the Redis sync state (bugsink:synced:* keys) from the sync records in the "
        "database, for example after Redis lost its data. With --from-gitea, first recreate "
        "missing sync records from the hidden markers in the Gitea issues."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from-gitea",
            action="store_true",
            help="also read every Gitea issue and recreate records for marked issues",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = load_sync_config(require_connection=options["from_gitea"])
            if options["from_gitea"]:
                self.recover_records_from_gitea(config)
            store = SyncStateStore.from_url(config.state_redis_url)
            records = list(SyncRecord.objects.filter(gitea_issue_number__isnull=False))
            restored = store.put_many(
                (record.bugsink_issue_id, state_of(record, record.project_slug))
                for record in records
            )
        except SyncError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"restored {restored} Redis keys from {len(records)} sync records")

    def recover_records_from_gitea(self, config: Any) -> None:
        gitea = GiteaClient(config)
        bugsink = BugsinkClient(config)
        slugs = {project.id: project.slug for project in bugsink.list_projects()}
        known = set(SyncRecord.objects.values_list("bugsink_issue_id", flat=True))
        found, created = 0, 0
        # Oldest first: if an issue was ever filed twice, the first one is kept.
        for gitea_issue in sorted(gitea.iter_issues(), key=lambda issue: issue.number):
            match = MARKER_PATTERN.search(gitea_issue.body)
            if not match:
                continue
            found += 1
            bugsink_issue_id = match.group(1)
            if bugsink_issue_id in known:
                continue
            issue = bugsink.get_issue(bugsink_issue_id)
            created_at = parse_datetime(gitea_issue.created_at) or timezone.now()
            SyncRecord.objects.create(
                bugsink_issue_id=bugsink_issue_id,
                bugsink_short_id=issue.friendly_id if issue else "",
                bugsink_issue_url=bugsink.issue_web_url(bugsink_issue_id),
                project_slug=slugs.get(issue.project_id, "") if issue else "",
                title=gitea_issue.title[:255],
                labels=list(gitea_issue.label_names),
                status=SyncRecord.Status.CREATED,
                gitea_issue_number=gitea_issue.number,
                gitea_issue_url=gitea_issue.html_url,
                intent_at=created_at,
                synced_at=created_at,
            )
            known.add(bugsink_issue_id)
            created += 1
        self.stdout.write(f"found {found} marked Gitea issues, created {created} sync records")
