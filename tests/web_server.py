"""The project's web app in its own process (`manage.py runserver`) on a free 127.0.0.1 port,
with test settings taken from TEST_* variables, so that a test can reach it as curl would."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.celery_worker import REPOSITORY, database_url_of_test_database


def free_port() -> int:
    """Return a port of 127.0.0.1 that nothing listens on at the time of the call."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebServer:
    def __init__(self, log_path: Path, environment: dict[str, str]) -> None:
        self.log_path = log_path
        self.environment = environment
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "WebServer":
        env = dict(os.environ)
        env.update(self.environment)
        env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        env["TEST_DATABASE_URL"] = database_url_of_test_database()
        env["PYTHONPATH"] = str(REPOSITORY)
        command = [
            sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}",
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, cwd=REPOSITORY, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the web server exited at start:\n{self.log_tail()}")
            if self.is_answering():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"the web server did not start within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def is_answering(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/api/", timeout=2)
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
