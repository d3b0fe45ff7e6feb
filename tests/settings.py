"""Settings for the test suite: real PostgreSQL and Redis, never the live sync state.

Redis database 15 contains the live sync state on this project's machines, so the tests use
databases 13 (broker and results) and 14 (sync state), and refuse to start on 15.
"""

import os

import environ

from config.settings import *  # noqa: F403

env = environ.Env()

DATABASES = {
    "default": env.db("TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/test"),
}
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
SYNC_STATE_REDIS_URL = os.environ.get("TEST_SYNC_STATE_REDIS_URL", "redis://127.0.0.1:6379/14")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL

for _url in (REDIS_URL, SYNC_STATE_REDIS_URL):
    if _url.rstrip("/").endswith("/15"):
        raise RuntimeError(f"tests must not use Redis database 15 (live sync state): {_url}")

# The sync variables come from TEST_-prefixed variables only, so that a developer's .env or
# shell cannot point the tests at a real server. The Celery worker tests pass them on.
BUGSINK_SYNC_ENABLED = os.environ.get("TEST_BUGSINK_SYNC_ENABLED", "false")
BUGSINK_URL = os.environ.get("TEST_BUGSINK_URL", "")
BUGSINK_API_TOKEN = os.environ.get("TEST_BUGSINK_API_TOKEN", "")
GITEA_URL = os.environ.get("TEST_GITEA_URL", "")
GITEA_API_TOKEN = os.environ.get("TEST_GITEA_API_TOKEN", "")
GITEA_OWNER = os.environ.get("TEST_GITEA_OWNER", "")
GITEA_REPO = os.environ.get("TEST_GITEA_REPO", "")
BUGSINK_SYNC_INTERVAL = "15"
BUGSINK_SYNC_INCLUDE_MUTED = os.environ.get("TEST_BUGSINK_SYNC_INCLUDE_MUTED", "false")
SYNC_HTTP_CONNECT_TIMEOUT = 2.0
SYNC_HTTP_READ_TIMEOUT = 5.0
SYNC_HTTP_BACKOFF_SECONDS = 0.01
# The stand-in commits or drops a request before it responds, except when a test delays it.
SYNC_CREATE_SETTLE_SECONDS = float(os.environ.get("TEST_SYNC_CREATE_SETTLE_SECONDS", "0"))
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
