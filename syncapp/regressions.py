"""Regressions: a synced and resolved Bugsink issue whose error came back.

Bugsink unresolves an issue when a new event arrives for it, and a person can also reopen
it by hand. Only the first is a regression: Bugsink's last_seen or event count grew since
the sync last resolved it. A regression gets a comment on the existing Gitea issue, never a
second issue.
"""

from datetime import datetime

from syncapp.bugsink import BugsinkIssue
from syncapp.events import BugsinkEvent
from syncapp.markdown import code_span
from syncapp.models import SyncRecord


def parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def has_baseline(record: SyncRecord) -> bool:
    """Return whether the record stores what Bugsink reported when it was resolved."""
    return bool(record.bugsink_last_seen) or record.bugsink_event_count > 0


def is_regression(issue: BugsinkIssue, record: SyncRecord) -> bool:
    """Return whether new events arrived since the record's issue was resolved."""
    if issue.event_count > record.bugsink_event_count:
        return True
    seen_now, seen_then = parse_time(issue.last_seen), parse_time(record.bugsink_last_seen)
    return seen_now is not None and seen_then is not None and seen_now > seen_then


def regression_marker(issue: BugsinkIssue) -> str:
    """Return the hidden comment that makes the regression comment for this state unique."""
    return f"<!-- bugsink-regression: {issue.id} {issue.last_seen} {issue.event_count} -->"


def render_regression_comment(
    issue: BugsinkIssue, event: BugsinkEvent | None, record: SyncRecord
) -> str:
    release = event.release if event else ""
    return "\n".join(
        [
            regression_marker(issue),
            "**This error came back in Bugsink.**",
            "",
            f"- **Total Occurrences**: {issue.event_count} "
            f"(was {record.bugsink_event_count} when it was resolved)",
            f"- **Last Seen**: {code_span(issue.last_seen)}",
            f"- **Release**: {code_span(release)}",
            "",
            "The issue was reopened here and resolved again in Bugsink, so that a further "
            "return is reported too.",
        ]
    )
