from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from syncapp.conf import (
    ConfigurationError,
    Secret,
    load_sync_config,
    normalize_token,
    read_sync_config,
)

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def source(**overrides: Any) -> SimpleNamespace:
    values = {
        "BUGSINK_SYNC_ENABLED": "true",
        "BUGSINK_URL": "https://bugsink.example.com",
        "BUGSINK_API_TOKEN": TOKEN,
        "GITEA_URL": "https://gitea.example.com",
        "GITEA_API_TOKEN": "gitea-token",
        "GITEA_OWNER": "acme",
        "GITEA_REPO": "errors",
        "BUGSINK_SYNC_INTERVAL": "15",
        "BUGSINK_SYNC_INCLUDE_MUTED": "false",
        "SYNC_HTTP_CONNECT_TIMEOUT": 5.0,
        "SYNC_HTTP_READ_TIMEOUT": 30.0,
        "SYNC_HTTP_RETRIES": 2,
        "SYNC_HTTP_BACKOFF_SECONDS": 1.0,
        "SYNC_CREATE_SETTLE_SECONDS": 120.0,
        "SYNC_STATE_REDIS_URL": "redis://127.0.0.1:6379/14",
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def problems_of(**overrides: Any) -> dict[str, str]:
    _, problems = read_sync_config(source(**overrides))
    return {problem.variable: problem.message for problem in problems}


def test_valid_config_has_no_problems() -> None:
    config = load_sync_config(source())

    assert config.enabled is True
    assert config.interval_minutes == 15
    assert config.bugsink_token.reveal() == TOKEN


def test_disabled_sync_needs_no_connection_variables() -> None:
    assert problems_of(BUGSINK_SYNC_ENABLED="false", BUGSINK_URL="", GITEA_API_TOKEN="") == {}


@pytest.mark.parametrize(
    "variable",
    [
        "BUGSINK_URL",
        "BUGSINK_API_TOKEN",
        "GITEA_URL",
        "GITEA_API_TOKEN",
        "GITEA_OWNER",
        "GITEA_REPO",
    ],
)
def test_enabled_sync_reports_missing_variable(variable: str) -> None:
    problems = problems_of(**{variable: "  "})

    assert list(problems) == [variable]
    assert "missing" in problems[variable] or "empty" in problems[variable]


@pytest.mark.parametrize("url", ["ftp://bugsink.example.com", "bugsink.example.com", "http://"])
def test_non_http_url_is_reported(url: str) -> None:
    problems = problems_of(BUGSINK_URL=url)

    assert "is not an http(s) URL" in problems["BUGSINK_URL"]


@pytest.mark.parametrize("interval", ["0", "-5", "1.5", "fifteen", ""])
def test_interval_must_be_positive_whole_number(interval: str) -> None:
    problems = problems_of(BUGSINK_SYNC_INTERVAL=interval)

    assert "not a positive whole number" in problems["BUGSINK_SYNC_INTERVAL"]


@pytest.mark.parametrize("raw", [f"  {TOKEN}\n", f"Bearer {TOKEN}", f"bearer  {TOKEN} "])
def test_bugsink_token_whitespace_and_bearer_prefix_are_stripped(raw: str) -> None:
    config = load_sync_config(source(BUGSINK_API_TOKEN=raw))

    assert config.bugsink_token.reveal() == TOKEN


@pytest.mark.parametrize(
    "raw", [TOKEN.upper(), TOKEN[:39], TOKEN + "0", "x" * 40, "Basic " + TOKEN]
)
def test_malformed_bugsink_token_is_reported_without_its_value(raw: str) -> None:
    problems = problems_of(BUGSINK_API_TOKEN=raw)

    assert "40 lowercase hexadecimal" in problems["BUGSINK_API_TOKEN"]
    assert raw.strip() not in problems["BUGSINK_API_TOKEN"]


def test_configuration_error_never_contains_tokens() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_sync_config(source(BUGSINK_API_TOKEN=TOKEN.upper(), GITEA_OWNER="a/b"))

    assert TOKEN.upper() not in str(caught.value)
    assert "GITEA_OWNER" in str(caught.value)


def test_secret_hides_value_in_str_and_repr() -> None:
    secret = Secret(TOKEN)
    config = load_sync_config(source())

    assert TOKEN not in str(secret)
    assert TOKEN not in repr(secret)
    assert TOKEN not in repr(config)


def test_normalize_token_keeps_plain_token() -> None:
    assert normalize_token("abc") == "abc"
    assert normalize_token("token abc") == "abc"


def test_system_check_names_bad_variable(settings: Any) -> None:
    settings.BUGSINK_SYNC_ENABLED = "true"
    settings.BUGSINK_URL = "ftp://x"

    with pytest.raises(SystemCheckError) as caught:
        call_command("check")

    assert "syncapp.E002" in str(caught.value)
    assert "BUGSINK_URL" in str(caught.value)


def test_system_check_rejects_broker_on_sync_state_database(settings: Any) -> None:
    settings.CELERY_BROKER_URL = settings.SYNC_STATE_REDIS_URL

    with pytest.raises(SystemCheckError) as caught:
        call_command("check")

    assert "syncapp.E010" in str(caught.value)


def test_token_with_wrong_character_names_its_position() -> None:
    problems = problems_of(BUGSINK_API_TOKEN=TOKEN[:16] + "g" + TOKEN[17:])

    assert "character 17 is not 0-9 or a-f" in problems["BUGSINK_API_TOKEN"]


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("GITEA_URL", "https://gitea.example.com/api/v1"),
        ("GITEA_URL", "https://gitea.example.com/api/v1/"),
        ("BUGSINK_URL", "https://bugsink.example.com/api"),
        ("BUGSINK_URL", "https://bugsink.example.com/api/canonical/0"),
    ],
)
def test_url_with_api_path_is_reported(variable: str, url: str) -> None:
    problems = problems_of(**{variable: url})

    assert "ends with an API path" in problems[variable]


def test_url_under_a_path_prefix_is_accepted() -> None:
    assert problems_of(GITEA_URL="https://example.com/gitea") == {}
