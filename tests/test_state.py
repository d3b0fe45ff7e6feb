import json
import time

import pytest
import redis

from syncapp.state import (
    LockLostError,
    SyncedIssueState,
    SyncInProgressError,
    SyncStateStore,
)

STATE = SyncedIssueState(
    gitea_issue_number=12, synced_at="2026-12-04T10:00:00+00:00", project="backend-prod", title="t"
)


def test_key_schema_and_json_value(state_store: SyncStateStore, state_redis: redis.Redis) -> None:
    state_store.put("issue-1", STATE)

    assert json.loads(state_redis.get("bugsink:synced:issue-1")) == {
        "gitea_issue_number": 12,
        "synced_at": "2026-12-04T10:00:00+00:00",
        "project": "backend-prod",
        "title": "t",
    }
    assert state_redis.ttl("bugsink:synced:issue-1") == -1


def test_get_many_uses_one_round_trip(
    state_store: SyncStateStore, state_redis: redis.Redis
) -> None:
    state_store.put("issue-1", STATE)
    state_redis.set("bugsink:synced:issue-3", "not json")
    before = state_redis.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)

    found = state_store.get_many([f"issue-{n}" for n in range(1, 251)])

    after = state_redis.info("commandstats")["cmdstat_mget"]["calls"]
    assert after - before == 1
    assert found == {"issue-1": STATE}


def test_second_lock_holder_is_refused(state_store: SyncStateStore) -> None:
    lock = state_store.acquire_lock({"started_at": "2026-12-04T10:00:00+00:00"})

    with pytest.raises(SyncInProgressError) as caught:
        state_store.acquire_lock({"started_at": "later"})

    assert caught.value.current_run["started_at"] == "2026-12-04T10:00:00+00:00"
    lock.release()
    state_store.acquire_lock({}).release()


def test_lock_expires_for_crashed_holder(
    state_store: SyncStateStore, state_redis: redis.Redis
) -> None:
    state_store.acquire_lock({})
    state_redis.pexpire("bugsink:sync:lock", 50)
    time.sleep(0.1)

    state_store.acquire_lock({}).release()


def test_expired_holder_cannot_touch_lock(
    state_store: SyncStateStore, state_redis: redis.Redis
) -> None:
    first = state_store.acquire_lock({"run_id": 1})
    state_redis.delete("bugsink:sync:lock")
    second = state_store.acquire_lock({"run_id": 2})

    with pytest.raises(LockLostError):
        first.renew()
    first.release()

    assert state_redis.exists("bugsink:sync:lock")
    assert state_store.current_run() == {"run_id": 2}
    second.release()
    assert not state_redis.exists("bugsink:sync:lock")
