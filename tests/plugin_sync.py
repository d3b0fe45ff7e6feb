"""Shared fixtures for tests that run the sync: the Bugsink fake with the Gitea stand-in, and
for integration tests a module-wide stand-in and real Celery worker on the real Bugsink.

Registered with `pytest_plugins` in tests/conftest.py.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import responses

from tests.bugsink_server import BugsinkServer
from tests.celery_worker import CeleryWorker, purge_broker
from tests.conftest import BUGSINK_TOKEN, GITEA_TOKEN, enable_sync
from tests.fake_bugsink import BASE, FakeBugsink
from tests.gitea_standin import GiteaStandin


@pytest.fixture
def bugsink(gitea_standin: GiteaStandin) -> Iterator[FakeBugsink]:
    """The Bugsink API mocked with `responses`; requests to the stand-in pass through."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(gitea_standin.url)
        yield FakeBugsink(mock)


@pytest.fixture
def sync_enabled(settings: Any, gitea_standin: GiteaStandin, state_redis: redis.Redis) -> None:
    enable_sync(
        settings, bugsink_url=BASE, gitea_url=gitea_standin.url, bugsink_token=BUGSINK_TOKEN
    )


@pytest.fixture(scope="module")
def standin() -> Iterator[GiteaStandin]:
    """One Gitea stand-in for a test module, because the module's worker gets its URL at start."""
    with GiteaStandin(token=GITEA_TOKEN) as server:
        yield server


@pytest.fixture
def gitea(standin: GiteaStandin) -> GiteaStandin:
    standin.reset()
    return standin


def sync_environment(bugsink_server: BugsinkServer, standin: GiteaStandin) -> dict[str, str]:
    """Return the TEST_* variables that enable the sync against these servers in a worker."""
    return {
        "TEST_BUGSINK_SYNC_ENABLED": "true",
        "TEST_BUGSINK_URL": bugsink_server.url,
        "TEST_BUGSINK_API_TOKEN": bugsink_server.token,
        "TEST_GITEA_URL": standin.url,
        "TEST_GITEA_API_TOKEN": GITEA_TOKEN,
        "TEST_GITEA_OWNER": "acme",
        "TEST_GITEA_REPO": "errors",
    }


@pytest.fixture(scope="module")
def worker(
    request: pytest.FixtureRequest,
    bugsink_server: BugsinkServer,
    standin: GiteaStandin,
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CeleryWorker]:
    """A real Celery worker for the test module, on the tests' broker and database."""
    purge_broker()
    name = request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
    with django_db_blocker.unblock():
        process = CeleryWorker(
            tmp_path_factory.mktemp("worker") / "worker.log",
            sync_environment(bugsink_server, standin),
            name=name,
        ).start()
    yield process
    process.stop()
    purge_broker()


@pytest.fixture
def live_settings(
    settings: Any, bugsink_server: BugsinkServer, standin: GiteaStandin, state_redis: redis.Redis
) -> Any:
    """This process's settings made equal to the worker's, as on a deployed web server."""
    settings.BUGSINK_SYNC_ENABLED = "true"
    settings.BUGSINK_URL = bugsink_server.url
    settings.BUGSINK_API_TOKEN = bugsink_server.token
    settings.GITEA_URL = standin.url
    settings.GITEA_API_TOKEN = GITEA_TOKEN
    settings.GITEA_OWNER = "acme"
    settings.GITEA_REPO = "errors"
    return settings
