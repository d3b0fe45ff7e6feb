"""A real Celery worker process for the tests, consuming the bugsink-sync queue on the tests'
Redis broker and writing to the pytest-django test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

from config.celery import app

REPOSITORY = Path(__file__).resolve().parents[1]


class CeleryWorker:
    def __init__(
        self, log_path: Path, environment: dict[str, str], name: str = "sync-test"
    ) -> None:
        self.log_path = log_path
        self.environment = environment
        self.name = f"{name}-{os.getpid()}@localhost"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> "CeleryWorker":
        env = dict(os.environ)
        env.update(self.environment)
        env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        env["TEST_DATABASE_URL"] = database_url_of_test_database()
        env["PYTHONPATH"] = str(REPOSITORY)
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--queues", "bugsink-sync", "--concurrency", "1", "--loglevel", "INFO",
            "--hostname", self.name, "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=REPOSITORY,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited at start:\n{self.log_tail()}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return self
        self.stop()
        raise RuntimeError(
            f"the Celery worker did not respond to a ping within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def database_url_of_test_database() -> str:
    """Return a URL of the database pytest-django created, for another process to use."""
    database = connection.settings_dict
    user = database.get("USER") or "postgres"
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{database['NAME']}"


def purge_broker() -> None:
    """Empty the tests' broker database, including messages a stopped worker left unacked."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
