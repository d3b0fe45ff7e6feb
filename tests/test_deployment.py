import importlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml
from django.core.management import get_commands

from config.celery import app
from syncapp.tasks import SYNC_QUEUE

REPOSITORY = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((REPOSITORY / "docker-compose.yml").read_text())


def command_of(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_has_the_five_services() -> None:
    assert set(compose()["services"]) == {"web", "worker", "beat", "redis", "postgres"}


def test_web_command_names_real_entry_points() -> None:
    script = " ".join(command_of(compose()["services"]["web"]))

    for name in ("migrate", "setup_sync_schedule"):
        assert f"python manage.py {name}" in script
        assert name in get_commands()
    module_name, attribute = "config.wsgi:application".split(":")
    assert "gunicorn config.wsgi:application" in script
    assert callable(getattr(importlib.import_module(module_name), attribute))


def test_worker_consumes_the_sync_queue_with_one_process() -> None:
    command = command_of(compose()["services"]["worker"])

    assert command[:4] == ["celery", "-A", "config", "worker"]
    assert command[command.index("--queues") + 1] == SYNC_QUEUE
    assert command[command.index("--concurrency") + 1] == "1"
    assert importlib.import_module("config").celery_app is app


def test_beat_uses_the_database_scheduler() -> None:
    command = command_of(compose()["services"]["beat"])

    assert command[:4] == ["celery", "-A", "config", "beat"]
    module_name, class_name = command[command.index("--scheduler") + 1].split(":")
    assert getattr(importlib.import_module(module_name), class_name).__name__ == "DatabaseScheduler"


def test_sync_state_and_broker_use_different_redis_databases() -> None:
    environment = compose()["x-app"]["environment"]

    assert environment["REDIS_URL"] != environment["SYNC_STATE_REDIS_URL"]
    assert environment["SYNC_STATE_REDIS_URL"].endswith("/15")


def test_env_example_documents_every_variable() -> None:
    text = (REPOSITORY / ".env.example").read_text()
    variables = [
        "BUGSINK_URL", "BUGSINK_API_TOKEN", "GITEA_URL", "GITEA_API_TOKEN", "GITEA_OWNER",
        "GITEA_REPO", "BUGSINK_SYNC_ENABLED", "BUGSINK_SYNC_INTERVAL", "REDIS_URL",
        "SYNC_STATE_REDIS_URL", "DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS",
        "BUGSINK_SYNC_INCLUDE_MUTED", "SYNC_HTTP_CONNECT_TIMEOUT", "SYNC_HTTP_READ_TIMEOUT",
    ]  # fmt: skip

    for variable in variables:
        assert f"{variable}=" in text, variable


def test_worker_refuses_to_start_with_invalid_configuration() -> None:
    environment = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(REPOSITORY),
        TEST_BUGSINK_SYNC_ENABLED="true",
        TEST_BUGSINK_URL="ftp://bugsink.example.com",
    )
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--queues", "bugsink-sync"]

    result = subprocess.run(
        command, cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 1
    assert "refusing to start" in result.stderr
    assert "BUGSINK_URL: 'ftp://bugsink.example.com' is not an http(s) URL" in result.stderr


def test_beat_refuses_to_start_with_invalid_configuration(tmp_path: Path) -> None:
    environment = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(REPOSITORY),
        TEST_BUGSINK_SYNC_ENABLED="true",
        TEST_BUGSINK_URL="ftp://bugsink.example.com",
    )
    # The file scheduler keeps this test off the database; the start-up check is the same.
    command = [
        sys.executable, "-m", "celery", "-A", "config", "beat",
        "--scheduler", "celery.beat:PersistentScheduler", "--schedule", str(tmp_path / "beat"),
    ]  # fmt: skip

    result = subprocess.run(
        command, cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 1
    assert "BUGSINK_URL: 'ftp://bugsink.example.com' is not an http(s) URL" in result.stderr
