"""`make demo`: the sync's main job, run locally from start to finish.

It starts a real Bugsink (installed into .bugsink/venv on first use) and seeds it with real
errors sent by sentry-sdk. Then it starts the Gitea stand-in from the tests, a SQLite
database and a real Celery worker, and runs the sync task twice. The first run files one
Gitea issue per Bugsink issue and resolves them in Bugsink; the second finds nothing to do.

It uses Redis databases 11 (broker) and 12 (sync state) on 127.0.0.1:6379 and empties them
first; set DEMO_REDIS_URL to use another Redis server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.bugsink_server import BugsinkServer
    from tests.gitea_standin import GiteaStandin

REPOSITORY = Path(__file__).resolve().parents[1]
DEMO_DIR = REPOSITORY / "var" / "demo"
GITEA_TOKEN = "demo-gitea-token-0123456789"  # noqa: S105 (the stand-in's token)
REDIS_SERVER = os.environ.get("DEMO_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")

sys.path.insert(0, str(REPOSITORY))


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def seed_bugsink(server: BugsinkServer) -> None:
    backend = server.create_project("Backend Production")
    frontend = server.create_project("Frontend Staging")
    infrastructure = server.create_project("Infrastructure Production")

    server.send_exception(backend, "ValueError", "invalid literal for int() with base 10: 'abc'")
    server.send_exception_with_request(
        backend,
        "KeyError",
        "'customer_id'",
        url="https://shop.example.com/checkout/?step=2",
        method="POST",
    )
    server.send_message(backend, "Payment provider answered after 9 seconds", level="warning")
    server.send_exception(frontend, "TypeError", "Cannot read properties of undefined")
    server.send_exception(infrastructure, "ConnectionError", "Redis refused the connection")
    server.send_exception(backend, "TimeoutError", "nightly report took too long")
    for project, count in ((backend, 4), (frontend, 1), (infrastructure, 1)):
        server.wait_for_issues(project["id"], count)
    timeout_issue = next(
        issue
        for issue in server.list_issues(backend["id"], state="open")
        if issue["calculated_type"] == "TimeoutError"
    )
    server.mute_issue(timeout_issue["id"])
    print("Bugsink has 6 issues in 3 projects; 1 of them is muted and stays in Bugsink.")


def configure_environment(bugsink_url: str, bugsink_token: str, gitea_url: str) -> None:
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir(parents=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{DEMO_DIR / 'db.sqlite3'}",
            "REDIS_URL": f"{REDIS_SERVER}/11",
            "SYNC_STATE_REDIS_URL": f"{REDIS_SERVER}/12",
            "BUGSINK_SYNC_ENABLED": "true",
            "BUGSINK_URL": bugsink_url,
            "BUGSINK_API_TOKEN": bugsink_token,
            "GITEA_URL": gitea_url,
            "GITEA_API_TOKEN": GITEA_TOKEN,
            "GITEA_OWNER": "acme",
            "GITEA_REPO": "errors",
            "LOG_LEVEL": "WARNING",
        }
    )


def start_worker() -> subprocess.Popen[bytes]:
    log = (DEMO_DIR / "worker.log").open("ab")
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--queues", "bugsink-sync",
        "--concurrency", "1", "--loglevel", "INFO", "--hostname", "demo@localhost",
    ]  # fmt: skip
    env = dict(os.environ, LOG_LEVEL="INFO")
    return subprocess.Popen(  # noqa: S603 (fixed command)
        command,
        cwd=REPOSITORY,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_worker(worker: subprocess.Popen[bytes]) -> None:
    from config.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the Celery worker exited; see {DEMO_DIR / 'worker.log'}")
        if app.control.ping(destination=["demo@localhost"], timeout=0.5):
            return
    raise SystemExit(f"the Celery worker did not start; see {DEMO_DIR / 'worker.log'}")


def run_task(label: str) -> dict[str, object]:
    from syncapp.tasks import sync_bugsink_to_gitea

    outcome = sync_bugsink_to_gitea.delay(trigger="manual").get(timeout=600)
    print(
        f"{label}: status {outcome['status']}, synced {outcome['synced']}, "
        f"skipped {outcome['skipped']}, failed {outcome['failed']}, "
        f"resolved {outcome['resolved']}, {outcome['duration_ms']} ms"
    )
    return outcome


def show_gitea_issues(gitea: GiteaStandin) -> None:
    for issue in sorted(gitea.issues.values(), key=lambda item: item.number):
        names = ", ".join(sorted(gitea.labels[label_id].name for label_id in issue.label_ids))
        print(f"  #{issue.number} {issue.title}  [{names}]")


def main() -> int:
    import redis

    from tests.bugsink_server import BugsinkServer
    from tests.gitea_standin import GiteaStandin

    for database in (11, 12):
        redis.Redis.from_url(f"{REDIS_SERVER}/{database}").flushdb()

    say("Starting a real Bugsink (the first run installs it into .bugsink/venv)")
    with BugsinkServer() as bugsink, GiteaStandin(token=GITEA_TOKEN) as gitea:
        print(f"Bugsink at {bugsink.url}, Gitea stand-in at {gitea.url}")
        say("Sending real errors to Bugsink with sentry-sdk")
        seed_bugsink(bugsink)

        say("Preparing the sync service (SQLite, migrations, beat schedule)")
        configure_environment(bugsink.url, bugsink.token, gitea.url)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        call_command("setup_sync_schedule")

        say("Starting a Celery worker on the bugsink-sync queue")
        worker = start_worker()
        try:
            wait_for_worker(worker)
            say("First run: every open Bugsink issue becomes a Gitea issue")
            first = run_task("first run")
            show_gitea_issues(gitea)
            still_open = sum(
                len(bugsink.list_issues(project["id"], state="open"))
                for project in bugsink.api("GET", "/projects/")["results"]
            )
            print(f"Open issues left in Bugsink: {still_open}")

            say("Second run: nothing new, so nothing is created")
            second = run_task("second run")
            print(f"Gitea issues in total: {len(gitea.issues)}")
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)

    ok = first["synced"] == 5 and first["failed"] == 0 and second["synced"] == 0
    say("Demo finished" if ok else "Demo finished with unexpected counts; see var/demo/worker.log")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
