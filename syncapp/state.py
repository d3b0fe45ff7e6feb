"""The sync-state store in Redis (database 15 by default) and the lock that serializes runs.

Key schema: `bugsink:synced:{bugsink_issue_id}` contains JSON {gitea_issue_number, synced_at,
project, title}, with no TTL, so that the history is permanent.
"""

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import redis
from redis.exceptions import LockError, LockNotOwnedError

from syncapp.conf import SyncError

logger = logging.getLogger(__name__)

SYNCED_KEY_PREFIX = "bugsink:synced:"
LOCK_KEY = "bugsink:sync:lock"
CURRENT_RUN_KEY = "bugsink:sync:current_run"
# A crashed holder blocks new runs for at most this long. A live holder renews the lock
# before each Bugsink issue, so only one issue's handling must fit in it.
LOCK_TTL_SECONDS = 120


class SyncInProgressError(SyncError):
    """Another run holds the lock."""

    def __init__(self, current_run: dict[str, Any] | None) -> None:
        self.current_run = current_run or {}
        started = self.current_run.get("started_at", "an unknown time")
        super().__init__(f"a sync run is already in progress (started {started})")


class LockLostError(SyncError):
    """The run's lock expired and may now belong to another run: this run must stop writing."""


@dataclass(frozen=True)
class SyncedIssueState:
    gitea_issue_number: int
    synced_at: str
    project: str
    title: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: bytes | str) -> "SyncedIssueState":
        payload = json.loads(raw)
        return cls(
            gitea_issue_number=int(payload["gitea_issue_number"]),
            synced_at=str(payload.get("synced_at", "")),
            project=str(payload.get("project", "")),
            title=str(payload.get("title", "")),
        )


class SyncStateStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @classmethod
    def from_url(cls, url: str) -> "SyncStateStore":
        return cls(redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5))

    @staticmethod
    def key_for(bugsink_issue_id: str) -> str:
        return f"{SYNCED_KEY_PREFIX}{bugsink_issue_id}"

    def get_many(self, bugsink_issue_ids: list[str]) -> dict[str, SyncedIssueState]:
        """Return the stored state of each synced issue among the ids, in one MGET."""
        if not bugsink_issue_ids:
            return {}
        raw_values = self.redis.mget([self.key_for(issue_id) for issue_id in bugsink_issue_ids])
        found = {}
        for issue_id, raw in zip(bugsink_issue_ids, raw_values, strict=True):
            if raw is None:
                continue
            try:
                found[issue_id] = SyncedIssueState.from_json(raw)
            except (ValueError, KeyError, TypeError):
                logger.warning("bugsink_issue=%s has unreadable sync state in Redis", issue_id)
        return found

    def put(self, bugsink_issue_id: str, state: SyncedIssueState) -> None:
        self.redis.set(self.key_for(bugsink_issue_id), state.to_json())

    def put_many(self, states: Iterable[tuple[str, SyncedIssueState]]) -> int:
        pipeline = self.redis.pipeline(transaction=False)
        count = 0
        for issue_id, state in states:
            pipeline.set(self.key_for(issue_id), state.to_json())
            count += 1
        pipeline.execute()
        return count

    def delete(self, bugsink_issue_id: str) -> None:
        self.redis.delete(self.key_for(bugsink_issue_id))

    def count_synced(self) -> int:
        return sum(1 for _ in self.redis.scan_iter(match=f"{SYNCED_KEY_PREFIX}*", count=1000))

    def current_run(self) -> dict[str, Any] | None:
        raw = self.redis.get(CURRENT_RUN_KEY)
        return json.loads(raw) if raw else None

    def acquire_lock(self, run_info: dict[str, Any]) -> "SyncLock":
        """Take the run lock without waiting, or raise SyncInProgressError."""
        lock = self.redis.lock(LOCK_KEY, timeout=LOCK_TTL_SECONDS, blocking=False)
        if not lock.acquire():
            raise SyncInProgressError(self.current_run())
        sync_lock = SyncLock(self, lock)
        sync_lock.describe_run(run_info)
        return sync_lock


class SyncLock:
    """The held run lock. redis-py's Lock stores a random token and releases or extends
    only when the key still holds that token, so one holder cannot release another's lock."""

    def __init__(self, store: SyncStateStore, lock: Any) -> None:
        self.store = store
        self.lock = lock

    def describe_run(self, run_info: dict[str, Any]) -> None:
        """Store what the running run is (id, start, trigger) for operators, with the lock's TTL."""
        self.store.redis.set(CURRENT_RUN_KEY, json.dumps(run_info), ex=LOCK_TTL_SECONDS)

    def renew(self) -> None:
        """Reset the lock's TTL, or raise LockLostError if it expired and was taken over."""
        try:
            self.lock.reacquire()
        except LockError as error:
            raise LockLostError(
                "the sync lock expired while this run was working; stopping so as not to "
                "overlap the run that may hold it now"
            ) from error
        self.store.redis.expire(CURRENT_RUN_KEY, LOCK_TTL_SECONDS)

    def release(self) -> None:
        try:
            self.lock.release()
        except (LockNotOwnedError, LockError):
            logger.warning("sync lock had already expired when the run released it")
            return
        self.store.redis.delete(CURRENT_RUN_KEY)
