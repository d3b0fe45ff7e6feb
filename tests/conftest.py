from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings

from syncapp.conf import SyncConfig, load_sync_config
from syncapp.state import SyncStateStore

pytest_plugins = ["tests.plugin_gitea", "tests.plugin_bugsink", "tests.plugin_sync"]

BUGSINK_TOKEN = "0123456789abcdef0123456789abcdef01234567"
GITEA_TOKEN = "gitea-test-token-0123456789"


@pytest.fixture
def state_redis() -> Iterator[redis.Redis]:
    """The tests' sync-state Redis database, empty before and after the test."""
    client = redis.Redis.from_url(settings.SYNC_STATE_REDIS_URL)
    assert client.connection_pool.connection_kwargs.get("db") != 15
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def state_store(state_redis: redis.Redis) -> SyncStateStore:
    return SyncStateStore(state_redis)


def enable_sync(
    settings: Any, *, bugsink_url: str, gitea_url: str, bugsink_token: str
) -> SyncConfig:
    settings.BUGSINK_SYNC_ENABLED = "true"
    settings.BUGSINK_URL = bugsink_url
    settings.BUGSINK_API_TOKEN = bugsink_token
    settings.GITEA_URL = gitea_url
    settings.GITEA_API_TOKEN = GITEA_TOKEN
    settings.GITEA_OWNER = "acme"
    settings.GITEA_REPO = "errors"
    return load_sync_config()
