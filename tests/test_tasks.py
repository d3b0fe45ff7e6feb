from typing import Any

import pytest
import responses

from syncapp.conf import ConfigurationError
from syncapp.http import ApiError
from syncapp.models import SyncRun
from syncapp.tasks import MAX_RETRIES, RETRY_BASE_SECONDS, retry_countdown, sync_bugsink_to_gitea
from tests.conftest import BUGSINK_TOKEN, enable_sync

pytestmark = pytest.mark.django_db

GITEA = "http://gitea.test"


def test_retry_countdowns_grow_and_never_fall_below_base() -> None:
    for retries in range(MAX_RETRIES):
        base = RETRY_BASE_SECONDS * 2**retries
        samples = [retry_countdown(retries) for _ in range(1000)]

        assert min(samples) >= base
        assert max(samples) <= base * 1.5


def test_disabled_task_returns_without_any_request(settings: Any) -> None:
    settings.BUGSINK_SYNC_ENABLED = "false"

    with responses.RequestsMock() as mock:
        outcome = sync_bugsink_to_gitea.apply().get()

    assert outcome == {"status": "disabled"}
    assert len(mock.calls) == 0
    assert SyncRun.objects.count() == 0


def test_configuration_error_is_not_retried(settings: Any) -> None:
    settings.BUGSINK_SYNC_ENABLED = "true"

    result = sync_bugsink_to_gitea.apply()

    assert result.failed()
    assert isinstance(result.result, ConfigurationError)
    assert "BUGSINK_URL" in str(result.result)
    assert SyncRun.objects.get().status == SyncRun.Status.FAILED


def test_authentication_error_is_not_retried(settings: Any, state_redis: Any) -> None:
    enable_sync(
        settings, bugsink_url="http://bugsink.test", gitea_url=GITEA, bugsink_token=BUGSINK_TOKEN
    )

    with responses.RequestsMock() as mock:
        mock.get(
            f"{GITEA}/api/v1/repos/acme/errors", status=401, json={"message": "token is required"}
        )
        result = sync_bugsink_to_gitea.apply()

    assert result.failed()
    assert isinstance(result.result, ApiError)
    assert "GITEA_API_TOKEN" in str(result.result)
    assert SyncRun.objects.count() == 1


def test_transient_error_is_retried_three_times(settings: Any, state_redis: Any) -> None:
    enable_sync(
        settings, bugsink_url="http://bugsink.test", gitea_url=GITEA, bugsink_token=BUGSINK_TOKEN
    )

    with responses.RequestsMock() as mock:
        mock.get(f"{GITEA}/api/v1/repos/acme/errors", status=503, body="<html>down</html>")
        result = sync_bugsink_to_gitea.apply()

    # In eager mode Celery runs each retry at once, so every attempt is visible here.
    assert result.failed()
    assert isinstance(result.result, ApiError)
    assert result.result.transient
    assert SyncRun.objects.filter(status=SyncRun.Status.FAILED).count() == 1 + MAX_RETRIES
