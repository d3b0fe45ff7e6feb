"""The outcome of one sync run, as the service counts it while it works."""

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class IssueFailure:
    bugsink_issue_id: str
    project: str
    title: str
    reason: str


@dataclass
class RunSummary:
    synced: int = 0
    skipped: int = 0
    failed: int = 0
    resolved: int = 0
    regressions: int = 0
    duration_ms: int = 0
    failures: list[IssueFailure] = field(default_factory=list)
    unmapped_projects: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def log_line(self) -> str:
        return (
            f"synced={self.synced} skipped={self.skipped} failed={self.failed} "
            f"resolved={self.resolved} regressions={self.regressions} "
            f"duration_ms={self.duration_ms}"
        )
