"""Install, start, stop and seed a real Bugsink server on 127.0.0.1.

Bugsink pins its own Django, so it lives in its own virtual environment
(`.bugsink/venv`, gitignored) and runs as separate processes. The server uses
Bugsink's `local` configuration template: single user, and tasks run eagerly, so
an event is digested inside the ingest request and no snappea background
process is needed (Bugsink 2.6.2, `SNAPPEA["TASK_ALWAYS_EAGER"]`).

Management (teams, projects, mute, resolve, listing) goes through the canonical
API under /api/canonical/0/ with a Bearer token. Events are sent the way an
application sends them: with sentry-sdk, one `sentry_sdk.Client` per project DSN.
"""

from __future__ import annotations

import atexit
import builtins
import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
import sentry_sdk
from sentry_sdk.integrations.logging import EventHandler
from sentry_sdk.scope import use_scope

logger = logging.getLogger(__name__)

BUGSINK_VERSION = "2.6.2"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV_DIR = PROJECT_ROOT / ".bugsink" / "venv"
API_PREFIX = "/api/canonical/0"
TOKEN_PATTERN = re.compile(r"[0-9a-f]{40}")

DEFAULT_ENVIRONMENT = "test"
DEFAULT_RELEASE = "1.0.0"

PIP_INSTALL_TIMEOUT = 900.0
MANAGE_TIMEOUT = 120.0
HTTP_TIMEOUT = 10.0
FLUSH_TIMEOUT = 30.0
# sentry-sdk drops events once its transport queue is full, so bulk sends flush
# after this many events. It must stay below TRANSPORT_QUEUE_SIZE.
FLUSH_EVERY = 100
TRANSPORT_QUEUE_SIZE = 1000

# Words for distinct issue titles. Bugsink 2.6 groups an event by its exception
# type plus its message with numbers, hex, UUIDs, hosts, dates and `key=value`
# strings replaced by placeholders, so distinct issues need distinct words.
# None of these words matches one of those patterns.
PHRASE_WORDS = (
    "acorn", "amber", "basil", "bramble", "cedar", "cobalt", "delta", "dune",
    "elm", "ember", "fennel", "fjord", "garnet", "granite", "harbor", "iris",
    "juniper", "kelp", "lilac", "maple", "nectar", "opal", "pepper", "quartz",
    "raven", "saffron", "tundra", "umber", "violet", "walnut", "yarrow", "zephyr",
)  # fmt: skip
PHRASE_LENGTH = 3
MAX_DISTINCT_PHRASES = len(PHRASE_WORDS) ** PHRASE_LENGTH


EventProcessor = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class BugsinkServerError(RuntimeError):
    """Installing, starting or talking to the test Bugsink server failed."""


def distinct_phrase(index: int) -> str:
    """Return three words that differ for every index below MAX_DISTINCT_PHRASES."""
    if not 0 <= index < MAX_DISTINCT_PHRASES:
        raise ValueError(f"phrase index {index} is outside 0..{MAX_DISTINCT_PHRASES - 1}")

    words = []
    for _ in range(PHRASE_LENGTH):
        index, digit = divmod(index, len(PHRASE_WORDS))
        words.append(PHRASE_WORDS[digit])
    return " ".join(reversed(words))


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


class BugsinkServer:
    """A throw-away Bugsink 2.6.2 on 127.0.0.1, its API token and seeding helpers.

    Use it as a context manager, or call start() and stop(). stop() ends every
    process that start() launched, and removes the data directory when start()
    created it as a temporary directory.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        venv_dir: Path = DEFAULT_VENV_DIR,
        superuser: tuple[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        """Configure a server without installing or starting anything.

        data_dir must be missing or empty. None means a new temporary directory.
        superuser is an optional (email, password) for logging in to the web UI,
        which the API and the seeding helpers do not need.
        """
        self.venv_dir = venv_dir
        self.superuser = superuser
        self.start_timeout = start_timeout
        self._given_data_dir = data_dir
        self._data_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._token: str | None = None
        self._session: requests.Session | None = None
        self._team_id: str | None = None
        self._clients: dict[str, sentry_sdk.Client] = {}
        self._next_phrase_index = 0

    def __repr__(self) -> str:
        return f"BugsinkServer(url={self._port and self.url!r}, data_dir={self._data_dir!s})"

    def __enter__(self) -> BugsinkServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------
    # Properties
    # ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:40123."""
        if self._port is None:
            raise BugsinkServerError("Bugsink server is not started. Call start() first.")
        return f"http://127.0.0.1:{self._port}"

    @property
    def token(self) -> str:
        """Full-access API token from `bugsink-manage create_auth_token` (40 lowercase hex)."""
        if self._token is None:
            raise BugsinkServerError("Bugsink server is not started. Call start() first.")
        return self._token

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise BugsinkServerError("Bugsink server is not started. Call start() first.")
        return self._data_dir

    @property
    def pid(self) -> int:
        """Process id of the gunicorn master, which is also its process group id."""
        if self._process is None:
            raise BugsinkServerError("Bugsink server is not started. Call start() first.")
        return self._process.pid

    @property
    def log_path(self) -> Path:
        """File that receives the server's stdout and stderr, access log included."""
        return self.data_dir / "server.log"

    # ------------------------------------------------------------------
    # Installation
    # ------------------------------------------------------------------

    def ensure_installed(self) -> None:
        """Create the virtual environment and install bugsink==2.6.2 unless it is there.

        Raises BugsinkServerError with the tail of pip's output when pip fails.
        """
        self.venv_dir.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.venv_dir.parent / "install.lock"

        # Two test sessions started at once must not run pip into the same venv.
        with open(lock_path, "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            if self._installed_version() == BUGSINK_VERSION:
                return
            self._install()

    def _venv_bin(self, name: str) -> Path:
        return self.venv_dir / "bin" / name

    def _installed_version(self) -> str | None:
        python = self._venv_bin("python")
        if not python.exists():
            return None

        # Isolated mode (-I) keeps PYTHONPATH and the working directory from supplying a package.
        result = subprocess.run(
            [
                str(python),
                "-I",
                "-c",
                "import importlib.metadata as m; print(m.version('bugsink'))",
            ],
            cwd=self.venv_dir.parent,
            capture_output=True,
            text=True,
            timeout=MANAGE_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            return None
        return result.stdout.strip()

    def _install(self) -> None:
        started = time.monotonic()
        python = self._venv_bin("python")
        if not python.exists() or not _runs(python):
            logger.info("Creating virtual environment for Bugsink in %s", self.venv_dir)
            self._run_checked(
                [sys.executable, "-m", "venv", "--clear", str(self.venv_dir)],
                description="creating the Bugsink virtual environment",
                timeout=MANAGE_TIMEOUT,
            )

        logger.info("Installing bugsink==%s into %s", BUGSINK_VERSION, self.venv_dir)
        log_path = self.venv_dir.parent / "pip-install.log"
        command = [str(python), "-I", "-m", "pip", "install", f"bugsink=={BUGSINK_VERSION}"]
        try:
            result = subprocess.run(
                command,
                cwd=self.venv_dir.parent,
                capture_output=True,
                text=True,
                timeout=PIP_INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise BugsinkServerError(
                f"pip install bugsink=={BUGSINK_VERSION} timed out "
                f"after {PIP_INSTALL_TIMEOUT:.0f} s"
            ) from error

        log_path.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise BugsinkServerError(
                f"pip install bugsink=={BUGSINK_VERSION} into {self.venv_dir} failed "
                f"with exit code {result.returncode}. The full output is in {log_path}. "
                f"Last lines:\n{tail(result.stdout + result.stderr)}"
            )
        logger.info("Installed Bugsink in %.1f s", time.monotonic() - started)

    # ------------------------------------------------------------------
    # Start and stop
    # ------------------------------------------------------------------

    def start(self, port_attempts: int = 3) -> None:
        """Install if needed, prepare a fresh instance and start it on a free port.

        Returns once the projects endpoint returns 200 for the token. Raises
        BugsinkServerError with the tail of the server log when that does not
        happen within start_timeout, after stopping everything started so far.
        """
        if self._process is not None:
            raise BugsinkServerError(f"Bugsink server is already running at {self.url}")

        started = time.monotonic()
        atexit.register(self.stop)
        try:
            self.ensure_installed()
            self._data_dir = self._prepare_data_dir()
            self._write_config(find_free_port())
            self._manage("migrate")
            self._manage("migrate", "snappea", "--database=snappea")
            self._token = self._create_token()
            if self.superuser is not None:
                self._create_superuser(*self.superuser)
            self._start_server_process(port_attempts)
        except BaseException:
            self.stop()
            raise

        logger.info("Bugsink started at %s in %.1f s", self.url, time.monotonic() - started)

    def stop(self) -> None:
        """Terminate every process that start() launched and close the sentry clients.

        Safe to call more than once and after a failed start().
        """
        atexit.unregister(self.stop)

        # Clients flush queued events on close, so they go before the server.
        try:
            clients = list(self._clients.values())
            self._clients.clear()
            for client in clients:
                client.close(timeout=FLUSH_TIMEOUT)
            if self._session is not None:
                self._session.close()
                self._session = None
        finally:
            self._stop_server_process()

        if self._data_dir is not None and self._given_data_dir is None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
        self._data_dir = None
        self._port = None
        self._token = None
        self._team_id = None

    def _prepare_data_dir(self) -> Path:
        if self._given_data_dir is None:
            return Path(tempfile.mkdtemp(prefix="bugsink-"))

        data_dir = self._given_data_dir.resolve()
        if data_dir.exists() and any(data_dir.iterdir()):
            raise BugsinkServerError(
                f"data directory {data_dir} is not empty. Pass a new or empty directory."
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        return data_dir

    def _write_config(self, port: int) -> None:
        conf_path = self.data_dir / "bugsink_conf.py"
        conf_path.unlink(missing_ok=True)
        self._run_checked(
            [
                str(self._venv_bin("bugsink-create-conf")),
                "--template=local",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--output-file={conf_path}",
            ],
            description="bugsink-create-conf",
            timeout=MANAGE_TIMEOUT,
        )

        data = self.data_dir
        overrides = f"""

# Overrides for a throw-away test instance.
DATABASES["default"]["NAME"] = {str(data / "db.sqlite3")!r}
DATABASES["default"]["TEST"]["NAME"] = {str(data / "test.sqlite3")!r}
DATABASES["snappea"]["NAME"] = {str(data / "snappea.sqlite3")!r}
BUGSINK["INGEST_STORE_BASE_DIR"] = {str(data / "ingestion")!r}
SNAPPEA["WAKEUP_CALLS_DIR"] = {str(data / "snappea.wakeup")!r}

# Bugsink reports usage to bugsink.com once an hour unless this is off.
BUGSINK["PHONEHOME"] = False

# Past the default quotas (1,000 events per 5 minutes and 5,000 per hour, per
# project and for the whole installation) Bugsink returns HTTP 429, and
# sentry-sdk drops the events without raising.
BUGSINK["MAX_EVENTS_PER_PROJECT_PER_5_MINUTES"] = 1_000_000
BUGSINK["MAX_EVENTS_PER_PROJECT_PER_HOUR"] = 1_000_000
BUGSINK["MAX_EVENTS_PER_5_MINUTES"] = 1_000_000
BUGSINK["MAX_EVENTS_PER_HOUR"] = 1_000_000
"""
        with open(conf_path, "a") as conf_file:
            conf_file.write(overrides)
        self._port = port

    def _environment(self) -> dict[str, str]:
        # The project's own Django settings must not leak into Bugsink's processes:
        # pytest-django sets DJANGO_SETTINGS_MODULE, and bugsink-manage only
        # defaults it to bugsink_conf when it is unset.
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "GUNICORN_CMD_ARGS"}
        }
        env["DJANGO_SETTINGS_MODULE"] = "bugsink_conf"
        env["PYTHONPATH"] = str(self.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _manage(self, *args: str, extra_env: dict[str, str] | None = None) -> str:
        env = self._environment()
        env.update(extra_env or {})
        return self._run_checked(
            [str(self._venv_bin("bugsink-manage")), *args],
            description=f"bugsink-manage {' '.join(args)}",
            timeout=MANAGE_TIMEOUT,
            env=env,
        )

    def _run_checked(
        self,
        command: list[str],
        *,
        description: str,
        timeout: float,
        env: dict[str, str] | None = None,
    ) -> str:
        cwd = self._data_dir or self.venv_dir.parent
        try:
            result = subprocess.run(
                command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as error:
            raise BugsinkServerError(f"{description} timed out after {timeout:.0f} s") from error

        if result.returncode != 0:
            raise BugsinkServerError(
                f"{description} failed with exit code {result.returncode}. Last lines:\n"
                f"{tail(result.stdout + result.stderr)}"
            )
        return result.stdout

    def _create_token(self) -> str:
        output = self._manage("create_auth_token").strip()
        token = output.splitlines()[-1] if output else ""
        if not TOKEN_PATTERN.fullmatch(token):
            raise BugsinkServerError(
                "bugsink-manage create_auth_token printed no 40-character lowercase hex token. "
                f"Its last line was {len(token)} characters long."
            )
        return token

    def _create_superuser(self, email: str, password: str) -> None:
        self._manage(
            "createsuperuser",
            "--noinput",
            f"--username={email}",
            f"--email={email}",
            extra_env={"DJANGO_SUPERUSER_PASSWORD": password},
        )

    def _start_server_process(self, port_attempts: int) -> None:
        for attempt in range(1, port_attempts + 1):
            if attempt > 1:
                self._write_config(find_free_port())

            self._launch_gunicorn()
            failure = self._wait_until_ready()
            if failure is None:
                return

            self._stop_server_process()
            log_text = self.log_path.read_text(errors="replace")
            # Gunicorn 26.2 logs this when the port is taken, then exits after 5 tries 1 s apart.
            if "Connection in use" in log_text and attempt < port_attempts:
                logger.warning("Port %s was taken before Bugsink bound it, retrying", self._port)
                continue
            raise BugsinkServerError(
                f"Bugsink did not start at {self.url}: {failure}. "
                f"Last lines of {self.log_path}:\n{tail(log_text)}"
            )

    def _launch_gunicorn(self) -> None:
        # Bugsink 2.6.2 pins gunicorn and ships a gunicorn config for its Docker
        # image. bugsink.wsgi imports bugsink_conf from PYTHONPATH. One worker with
        # threads is enough for tests and keeps SQLite writers in one process.
        command = [
            str(self._venv_bin("gunicorn")),
            f"--bind=127.0.0.1:{self._port}",
            "--workers=1",
            "--threads=4",
            # Gunicorn 26 otherwise opens ~/.gunicorn/gunicorn.ctl, one path
            # shared by every gunicorn of this user.
            "--no-control-socket",
            "--access-logfile=-",
            "bugsink.wsgi",
        ]
        with open(self.log_path, "ab") as log_file:
            # A new session makes gunicorn the leader of its own process group,
            # so stop() can signal the master and its workers together.
            self._process = subprocess.Popen(
                command,
                cwd=self.data_dir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_until_ready(self) -> str | None:
        """Poll the projects endpoint with the token.

        Returns None once it returns 200, else the reason why it did not.
        """
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        probe = f"{self.url}{API_PREFIX}/projects/"
        headers = {"Authorization": f"Bearer {self.token}"}
        last_problem = "no answer yet"

        with requests.Session() as session:
            session.trust_env = False
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return f"gunicorn exited with code {self._process.returncode}"
                try:
                    response = session.get(probe, headers=headers, timeout=2.0)
                except requests.RequestException as error:
                    last_problem = f"{type(error).__name__} from {probe}"
                else:
                    if response.status_code == 200:
                        return None
                    last_problem = f"HTTP {response.status_code} from {probe}"
                time.sleep(0.2)

        return f"timed out after {self.start_timeout:.0f} s ({last_problem})"

    def _stop_server_process(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None

        # SIGINT is gunicorn's quick shutdown, while SIGTERM waits for requests
        # up to graceful_timeout (30 s by default). Only the master gets it, and
        # it stops its workers. With SIGINT sent to the whole group, a worker
        # hung until SIGKILL in 3 of 12 measured stops.
        try:
            process.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            logger.warning(
                "Bugsink pid=%s did not exit 10 s after SIGINT, sending SIGKILL", process.pid
            )
        # SIGKILL to the group also reaches workers that outlived an exited
        # master. The group id equals the master's pid because of start_new_session.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    # ------------------------------------------------------------------
    # Canonical API
    # ------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request with the token to this server.

        path is relative to /api/canonical/0, or an absolute URL on this server.
        """
        url = path if path.startswith("http") else f"{self.url}{API_PREFIX}{path}"
        if not url.startswith(f"{self.url}/"):
            raise BugsinkServerError(f"rejected {url} because the token is sent only to {self.url}")

        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False
            self._session.headers["Authorization"] = f"Bearer {self.token}"
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self._session.request(method, url, **kwargs)

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request like request() and return the decoded JSON of a 2xx response.

        Raises BugsinkServerError with the status and body otherwise.
        """
        response = self.request(method, path, **kwargs)
        if not response.ok:
            raise BugsinkServerError(
                f"{method} {response.url} returned HTTP {response.status_code}: "
                f"{response.text[:500]}"
            )
        return response.json()

    def create_project(self, name: str) -> dict[str, Any]:
        """Create a project with alerts off and return its detail (id, slug, name, dsn, ...)."""
        created = self.api(
            "POST",
            "/projects/",
            json={
                "name": name,
                "team": self._ensure_team(),
                "alert_on_new_issue": False,
                "alert_on_regression": False,
                "alert_on_unmute": False,
            },
        )
        # The create response carries the id as a string and no dsn or slug.
        project: dict[str, Any] = self.api("GET", f"/projects/{created['id']}/")
        self._check_dsn(project["dsn"])
        return project

    def _ensure_team(self) -> str:
        if self._team_id is None:
            team = self.api("POST", "/teams/", json={"name": "Test team"})
            self._team_id = str(team["id"])
        return self._team_id

    def _check_dsn(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        if f"{parts.scheme}://{parts.hostname}:{parts.port}" != self.url:
            raise BugsinkServerError(
                f"project DSN points at {parts.scheme}://{parts.hostname}:{parts.port}, "
                f"not at this server {self.url}. Check BASE_URL in {self.data_dir}/bugsink_conf.py."
            )

    def get_issue(self, issue_id: str) -> dict[str, Any]:
        issue: dict[str, Any] = self.api("GET", f"/issues/{issue_id}/")
        return issue

    def mute_issue(self, issue_id: str) -> dict[str, Any]:
        """Mute an unresolved issue and return the issue from the API response."""
        issue: dict[str, Any] = self.api("POST", f"/issues/{issue_id}/mute/")
        return issue

    def resolve_issue(self, issue_id: str) -> dict[str, Any]:
        """Resolve an unresolved issue and return the issue from the API response."""
        issue: dict[str, Any] = self.api("POST", f"/issues/{issue_id}/resolve/")
        return issue

    def iter_issue_pages(self, project_id: int, state: str = "all") -> Iterator[dict[str, Any]]:
        """Yield each page of GET /issues/?project=ID&state=STATE, following `next`."""
        page: dict[str, Any] = self.api(
            "GET", "/issues/", params={"project": project_id, "state": state}
        )
        yield page
        while page["next"]:
            page = self.api("GET", page["next"])
            yield page

    def list_issues(self, project_id: int, state: str = "all") -> list[dict[str, Any]]:
        """Return the project's issues in the given state from all pages, oldest first."""
        return [
            issue for page in self.iter_issue_pages(project_id, state) for issue in page["results"]
        ]

    def wait_for_issues(
        self, project_id: int, count: int, timeout: float = 30.0, state: str = "all"
    ) -> list[dict[str, Any]]:
        """Poll until the project has at least count issues in state, and return them.

        Raises TimeoutError with the last count seen.
        """
        deadline = time.monotonic() + timeout
        while True:
            issues = self.list_issues(project_id, state)
            if len(issues) >= count:
                return issues
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"project {project_id} has {len(issues)} issues in state {state!r} "
                    f"after {timeout:.0f} s. Expected at least {count}."
                )
            time.sleep(0.2)

    def latest_event(self, issue_id: str) -> dict[str, Any]:
        """Return the issue's most recently digested event with its `data` payload."""
        events = self.api("GET", "/events/", params={"issue": issue_id, "order": "desc"})
        if not events["results"]:
            raise BugsinkServerError(f"issue {issue_id} has no stored events")
        event: dict[str, Any] = self.api("GET", f"/events/{events['results'][0]['id']}/")
        return event

    # ------------------------------------------------------------------
    # Events through sentry-sdk
    # ------------------------------------------------------------------

    def send_exception(
        self,
        project: dict[str, Any],
        exc_type_name: str,
        message: str,
        *,
        environment: str = DEFAULT_ENVIRONMENT,
        release: str = DEFAULT_RELEASE,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Raise exc_type_name(message) four frames deep, capture and flush it, return the event id.

        A builtin exception name (ValueError, KeyError, ...) uses the builtin class;
        any other name gets a new Exception subclass of that name.
        """
        error = raise_and_catch(exception_class(exc_type_name), message)
        scope = self._scope(project, environment, release, tags)
        with use_scope(scope):
            event_id = scope.capture_exception(error)
        return self._flushed(project, event_id)

    def send_exception_with_request(
        self,
        project: dict[str, Any],
        exc_type_name: str,
        message: str,
        *,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        query_string: str = "",
        data: Any = None,
        environment: str = DEFAULT_ENVIRONMENT,
        release: str = DEFAULT_RELEASE,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Send an exception like send_exception() with the Sentry `request` context set.

        sentry-sdk's default event scrubber stores sensitive header values, such
        as Cookie, as "[Filtered]" and notes that in `data._meta`.
        """
        request_context: dict[str, Any] = {
            "url": url,
            "method": method,
            "headers": dict(headers or {}),
            "query_string": query_string,
        }
        if data is not None:
            request_context["data"] = data

        error = raise_and_catch(exception_class(exc_type_name), message)
        scope = self._scope(project, environment, release, tags)
        scope.add_event_processor(_event_setter("request", request_context))
        with use_scope(scope):
            event_id = scope.capture_exception(error)
        return self._flushed(project, event_id)

    def send_message(
        self,
        project: dict[str, Any],
        message: str,
        level: str = "error",
        *,
        environment: str = DEFAULT_ENVIRONMENT,
        release: str = DEFAULT_RELEASE,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Send a message event as capture_message() does: `data.message` and no stack trace."""
        scope = self._scope(project, environment, release, tags)
        with use_scope(scope):
            event_id = scope.capture_message(message, level=level)
        return self._flushed(project, event_id)

    def send_log_message(
        self,
        project: dict[str, Any],
        message: str,
        *args: object,
        level: int = logging.ERROR,
        logger_name: str = "shop.checkout",
        environment: str = DEFAULT_ENVIRONMENT,
        release: str = DEFAULT_RELEASE,
    ) -> str:
        """Send a log record as sentry-sdk's logging integration does, and return the event id.

        The event has `logger` and `logentry` (message, params, formatted) and no
        stack trace. No logger configuration is changed.
        """
        record = logging.LogRecord(logger_name, level, __file__, 0, message, args, None)
        scope = self._scope(project, environment, release, None)
        # EventHandler discards the event id, so a processor records it.
        event_ids: list[str] = []
        scope.add_event_processor(_event_id_recorder(event_ids))
        with use_scope(scope):
            EventHandler(level=logging.NOTSET).handle(record)
        return self._flushed(project, event_ids[0] if event_ids else None)

    def send_distinct_exceptions(
        self,
        project: dict[str, Any],
        n: int,
        exc_type_name: str = "InventoryError",
    ) -> list[str]:
        """Send n exceptions whose messages differ in words, so they become n new issues.

        The phrases continue across calls on the same server, so a second call
        creates new issues too. Returns the messages in the order sent.
        """
        if self._next_phrase_index + n > MAX_DISTINCT_PHRASES:
            raise ValueError(f"at most {MAX_DISTINCT_PHRASES} distinct phrases are available")

        client = self._client(project)
        exc_class = exception_class(exc_type_name)
        messages = []
        for position in range(n):
            message = f"Stock check failed for {distinct_phrase(self._next_phrase_index)}"
            self._next_phrase_index += 1
            scope = self._scope(project, DEFAULT_ENVIRONMENT, DEFAULT_RELEASE, None)
            with use_scope(scope):
                scope.capture_exception(raise_and_catch(exc_class, message))
            messages.append(message)

            if (position + 1) % FLUSH_EVERY == 0:
                client.flush(timeout=FLUSH_TIMEOUT)
        client.flush(timeout=FLUSH_TIMEOUT)
        return messages

    def _client(self, project: dict[str, Any]) -> sentry_sdk.Client:
        dsn = str(project["dsn"])
        if dsn not in self._clients:
            self._check_dsn(dsn)
            self._clients[dsn] = sentry_sdk.Client(
                dsn,
                # No integrations: they would hook logging, threading and
                # sys.excepthook of the whole test process.
                default_integrations=False,
                auto_enabling_integrations=False,
                # An explicit release keeps the SDK from asking git for one.
                release=DEFAULT_RELEASE,
                environment=DEFAULT_ENVIRONMENT,
                send_client_reports=False,
                http_proxy="",
                transport_queue_size=TRANSPORT_QUEUE_SIZE,
            )
        return self._clients[dsn]

    def _scope(
        self,
        project: dict[str, Any],
        environment: str,
        release: str,
        tags: dict[str, str] | None,
    ) -> sentry_sdk.Scope:
        # Scope.capture_* sends through sentry_sdk.get_client(), which reads the
        # current scope, so callers wrap the capture in use_scope(scope).
        scope = sentry_sdk.Scope(client=self._client(project))
        for key, value in (tags or {}).items():
            scope.set_tag(key, value)
        # Processors run before the client fills in its own release and
        # environment, and the client keeps values that are already set.
        scope.add_event_processor(_event_setter("environment", environment))
        scope.add_event_processor(_event_setter("release", release))
        return scope

    def _flushed(self, project: dict[str, Any], event_id: str | None) -> str:
        if event_id is None:
            raise BugsinkServerError(f"sentry-sdk dropped the event for project {project['id']}")
        self._client(project).flush(timeout=FLUSH_TIMEOUT)
        return event_id


def _runs(python: Path) -> bool:
    result = subprocess.run(
        [str(python), "-I", "-c", "pass"], capture_output=True, timeout=MANAGE_TIMEOUT, check=False
    )
    return result.returncode == 0


def _event_id_recorder(event_ids: list[str]) -> EventProcessor:
    def record_id(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        event_ids.append(str(event["event_id"]))
        return event

    return record_id


def _event_setter(key: str, value: Any) -> EventProcessor:
    def set_value(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        event[key] = value
        return event

    return set_value


_exception_classes: dict[str, type[Exception]] = {}


def exception_class(name: str) -> type[Exception]:
    """Return the builtin exception called name, or a cached Exception subclass of that name."""
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        return builtin
    if not name.isidentifier():
        raise ValueError(f"exception type name {name!r} is not a Python identifier")
    if name not in _exception_classes:
        _exception_classes[name] = type(name, (Exception,), {})
    return _exception_classes[name]


# The three functions below give captured exceptions a real stack with local
# variables: raise_and_catch -> load_order -> price_order -> raise_error.


def raise_and_catch(exc_class: type[Exception], message: str) -> Exception:
    """Raise exc_class(message) three calls down and return it with its traceback."""
    try:
        load_order(exc_class, message, order_id=4711)
    except exc_class as error:
        return error
    raise AssertionError("load_order returned without raising")


def load_order(exc_class: type[Exception], message: str, order_id: int) -> None:
    lines = [{"sku": "A-1", "quantity": 2}, {"sku": "B-7", "quantity": 1}]
    price_order(exc_class, message, lines, currency="EUR")


def price_order(
    exc_class: type[Exception], message: str, lines: list[dict[str, Any]], currency: str
) -> None:
    total_quantity = sum(line["quantity"] for line in lines)
    raise_error(exc_class, message, total_quantity)


def raise_error(exc_class: type[Exception], message: str, total_quantity: int) -> None:
    raise exc_class(message)
