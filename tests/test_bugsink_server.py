"""Tests for the real Bugsink server that the integration tests run against."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import bugsink_server as bugsink_server_module
from tests.bugsink_server import (
    MAX_DISTINCT_PHRASES,
    BugsinkServer,
    BugsinkServerError,
    distinct_phrase,
    exception_class,
    find_free_port,
)

HEX_40 = re.compile(r"[0-9a-f]{40}")
HEX_32 = re.compile(r"[0-9a-f]{32}")


def titles(issues: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(issue["calculated_type"], issue["calculated_value"]) for issue in issues}


def group_processes(process_group: int) -> list[int]:
    """Return the pids of live (non-zombie) processes in a process group."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == process_group and state != "Z":
            pids.append(int(entry.name))
    return pids


def processes_in_directory(directory: Path) -> list[int]:
    """Return the pids of live processes whose working directory is directory."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == directory.resolve():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


# ----------------------------------------------------------------------
# Helpers that need no server
# ----------------------------------------------------------------------


def test_distinct_phrase_differs_for_every_index() -> None:
    phrases = [distinct_phrase(index) for index in range(MAX_DISTINCT_PHRASES)]

    assert len(set(phrases)) == MAX_DISTINCT_PHRASES
    assert phrases[0] == "acorn acorn acorn"
    assert not any(character.isdigit() for phrase in phrases for character in phrase)


def test_distinct_phrase_rejects_index_out_of_range() -> None:
    with pytest.raises(ValueError, match="outside"):
        distinct_phrase(MAX_DISTINCT_PHRASES)
    with pytest.raises(ValueError, match="outside"):
        distinct_phrase(-1)


def test_exception_class_uses_builtin_or_creates_one() -> None:
    assert exception_class("KeyError") is KeyError

    custom = exception_class("PaymentDeclined")
    assert custom.__name__ == "PaymentDeclined"
    assert issubclass(custom, Exception)
    assert exception_class("PaymentDeclined") is custom

    with pytest.raises(ValueError, match="identifier"):
        exception_class("not a name")


FAKE_PYTHON = """#!/bin/sh
case "$*" in
  *"-m pip"*) echo "ERROR: No matching distribution found for bugsink==2.6.2" >&2; exit 1 ;;
  *importlib.metadata*) exit 1 ;;
  *) exit 0 ;;
esac
"""


def test_failed_pip_install_is_reported(tmp_path: Path) -> None:
    venv_dir = tmp_path / "venv"
    (venv_dir / "bin").mkdir(parents=True)
    fake_python = venv_dir / "bin" / "python"
    fake_python.write_text(FAKE_PYTHON)
    fake_python.chmod(0o755)

    with pytest.raises(BugsinkServerError) as raised:
        BugsinkServer(venv_dir=venv_dir).ensure_installed()

    message = str(raised.value)
    assert "pip install bugsink==2.6.2" in message
    assert "exit code 1" in message
    assert "No matching distribution found for bugsink==2.6.2" in message
    assert "No matching distribution" in (tmp_path / "pip-install.log").read_text()


def test_start_rejects_non_empty_data_dir(tmp_path: Path) -> None:
    (tmp_path / "db.sqlite3").write_text("left over")
    server = BugsinkServer(data_dir=tmp_path)

    with pytest.raises(BugsinkServerError, match="not empty"):
        server.start()

    assert (tmp_path / "db.sqlite3").read_text() == "left over"


# ----------------------------------------------------------------------
# Server and API
# ----------------------------------------------------------------------


@pytest.mark.integration
def test_installed_venv_is_reused(
    bugsink_server: BugsinkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_install(self: BugsinkServer) -> None:
        raise AssertionError("ensure_installed() ran pip although bugsink 2.6.2 is installed")

    monkeypatch.setattr(BugsinkServer, "_install", fail_install)

    BugsinkServer(venv_dir=bugsink_server.venv_dir).ensure_installed()


@pytest.mark.integration
def test_server_listens_on_loopback(bugsink_server: BugsinkServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", bugsink_server.url)
    assert HEX_40.fullmatch(bugsink_server.token)


@pytest.mark.integration
def test_token_lists_projects(bugsink_server: BugsinkServer) -> None:
    response = requests.get(
        f"{bugsink_server.url}/api/canonical/0/projects/",
        headers={"Authorization": f"Bearer {bugsink_server.token}"},
        timeout=10,
    )

    assert response.status_code == 200
    assert set(response.json()) == {"next", "previous", "results"}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer " + "0" * 40, "Invalid Bearer token."),
        ("Bearer not-hex", "Malformed Bearer token, must be 40 lowercase hex chars."),
    ],
)
def test_bad_token_gets_401(
    bugsink_server: BugsinkServer, authorization: str | None, detail: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = requests.get(
        f"{bugsink_server.url}/api/canonical/0/projects/", headers=headers, timeout=10
    )

    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.integration
def test_unknown_issue_gets_404(bugsink_server: BugsinkServer) -> None:
    response = bugsink_server.request("GET", "/issues/00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No Issue matches the given query."}


@pytest.mark.integration
def test_create_project_returns_loopback_dsn(bugsink_server: BugsinkServer) -> None:
    project = bugsink_server.create_project("Checkout service")

    assert isinstance(project["id"], int)
    assert project["name"] == "Checkout service"
    assert project["slug"] == "checkout-service"
    assert project["dsn"].endswith(f"@{bugsink_server.url.removeprefix('http://')}/{project['id']}")


@pytest.mark.integration
def test_request_rejects_other_hosts(bugsink_server: BugsinkServer) -> None:
    with pytest.raises(BugsinkServerError, match="token is sent only to"):
        bugsink_server.request("GET", "http://127.0.0.2:1/api/canonical/0/projects/")


# ----------------------------------------------------------------------
# Seeding helpers
# ----------------------------------------------------------------------


@pytest.mark.integration
def test_exception_event_has_frames(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    bugsink_server.send_exception(bugsink_project, "PaymentDeclined", "card was declined")

    [issue] = bugsink_server.wait_for_issues(bugsink_project["id"], 1)
    assert issue["calculated_type"] == "PaymentDeclined"
    assert issue["calculated_value"] == "card was declined"

    data = bugsink_server.latest_event(issue["id"])["data"]
    [exception] = data["exception"]["values"]
    assert exception["type"] == "PaymentDeclined"
    assert exception["value"] == "card was declined"

    frames = exception["stacktrace"]["frames"]
    functions = [frame["function"] for frame in frames]
    assert functions == ["raise_and_catch", "load_order", "price_order", "raise_error"]
    assert frames[-1]["filename"].endswith("bugsink_server.py")
    assert isinstance(frames[-1]["lineno"], int)
    assert frames[-1]["context_line"].strip() == "raise exc_class(message)"
    assert frames[2]["vars"]["currency"] == "'EUR'"

    assert data["level"] == "error"
    assert data["platform"] == "python"
    assert data["environment"] == "test"
    assert data["release"] == "1.0.0"
    assert HEX_32.fullmatch(data["contexts"]["trace"]["trace_id"])


@pytest.mark.integration
def test_message_event_has_no_stacktrace(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    bugsink_server.send_message(bugsink_project, "Disk almost full", level="warning")

    [issue] = bugsink_server.wait_for_issues(bugsink_project["id"], 1)
    assert issue["calculated_type"] == "Log Message"
    assert issue["calculated_value"] == "Disk almost full"

    event = bugsink_server.latest_event(issue["id"])
    assert event["data"]["message"] == "Disk almost full"
    assert event["data"]["level"] == "warning"
    assert "exception" not in event["data"]
    assert "stacktrace" not in event["data"]
    assert event["stacktrace_md"] == "_No stacktrace available._"


@pytest.mark.integration
def test_log_message_event_has_logentry(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    bugsink_server.send_log_message(
        bugsink_project, "Provider %s rejected order %d", "acme", 42, logger_name="shop.payments"
    )

    [issue] = bugsink_server.wait_for_issues(bugsink_project["id"], 1)
    assert issue["calculated_value"] == "Provider acme rejected order 42"

    data = bugsink_server.latest_event(issue["id"])["data"]
    assert data["logger"] == "shop.payments"
    assert data["logentry"] == {
        "message": "Provider %s rejected order %d",
        "formatted": "Provider acme rejected order 42",
        "params": ["acme", 42],
    }
    assert data["level"] == "error"
    assert "exception" not in data


@pytest.mark.integration
def test_request_context_is_stored(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    bugsink_server.send_exception_with_request(
        bugsink_project,
        "ValueError",
        "quantity must be positive",
        url="http://shop.test/cart/add",
        method="POST",
        headers={"User-Agent": "pytest", "Accept": "application/json"},
        query_string="coupon=spring",
        data={"quantity": -1},
    )

    [issue] = bugsink_server.wait_for_issues(bugsink_project["id"], 1)
    data = bugsink_server.latest_event(issue["id"])["data"]
    assert data["request"] == {
        "url": "http://shop.test/cart/add",
        "method": "POST",
        "headers": {"User-Agent": "pytest", "Accept": "application/json"},
        "query_string": "coupon=spring",
        "data": {"quantity": -1},
    }
    assert data["exception"]["values"][0]["type"] == "ValueError"


@pytest.mark.integration
def test_tags_environment_release_are_stored(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    bugsink_server.send_exception(
        bugsink_project,
        "TimeoutError",
        "payment gateway timed out",
        environment="staging",
        release="shop@2.3.1",
        tags={"region": "eu"},
    )

    [issue] = bugsink_server.wait_for_issues(bugsink_project["id"], 1)
    data = bugsink_server.latest_event(issue["id"])["data"]
    assert data["environment"] == "staging"
    assert data["release"] == "shop@2.3.1"
    assert data["tags"] == {"region": "eu"}
    assert issue["events_at"] == ["shop@2.3.1"]


@pytest.mark.integration
def test_muted_issue_shows_is_muted(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    bugsink_server.send_exception(bugsink_project, "CacheError", "cache unreachable")
    [issue] = bugsink_server.wait_for_issues(bugsink_project["id"], 1)

    muted = bugsink_server.mute_issue(issue["id"])

    assert muted["is_muted"] is True
    assert muted["is_resolved"] is False
    assert bugsink_server.get_issue(issue["id"])["is_muted"] is True


@pytest.mark.integration
def test_resolved_issue_shows_is_resolved(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    bugsink_server.send_exception(bugsink_project, "CacheError", "cache unreachable")
    [issue] = bugsink_server.wait_for_issues(bugsink_project["id"], 1)

    resolved = bugsink_server.resolve_issue(issue["id"])

    assert resolved["is_resolved"] is True
    assert resolved["is_resolved_unconditionally"] is True
    assert bugsink_server.get_issue(issue["id"])["is_resolved"] is True


@pytest.mark.integration
def test_resolving_twice_gets_400(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    bugsink_server.send_exception(bugsink_project, "CacheError", "cache unreachable")
    [issue] = bugsink_server.wait_for_issues(bugsink_project["id"], 1)
    bugsink_server.resolve_issue(issue["id"])

    response = bugsink_server.request("POST", f"/issues/{issue['id']}/resolve/")

    assert response.status_code == 400
    assert response.json() == {"detail": "Issue is already resolved."}


@pytest.mark.integration
def test_resolving_muted_issue_unmutes_it(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    bugsink_server.send_exception(bugsink_project, "CacheError", "cache unreachable")
    [issue] = bugsink_server.wait_for_issues(bugsink_project["id"], 1)
    bugsink_server.mute_issue(issue["id"])

    resolved = bugsink_server.resolve_issue(issue["id"])

    assert resolved["is_resolved"] is True
    assert resolved["is_muted"] is False


@pytest.mark.integration
def test_state_filters_match_api_description(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    for exc_type in ("OpenError", "MutedError", "ResolvedError"):
        bugsink_server.send_exception(bugsink_project, exc_type, "state filter check")
    issues = bugsink_server.wait_for_issues(bugsink_project["id"], 3)
    issue_ids = {issue["calculated_type"]: issue["id"] for issue in issues}
    bugsink_server.mute_issue(issue_ids["MutedError"])
    bugsink_server.resolve_issue(issue_ids["ResolvedError"])

    # "open" means neither resolved nor muted; "unresolved" includes muted issues.
    expected = {
        "all": {"OpenError", "MutedError", "ResolvedError"},
        "open": {"OpenError"},
        "unresolved": {"OpenError", "MutedError"},
        "muted": {"MutedError"},
        "resolved": {"ResolvedError"},
    }
    for state, expected_types in expected.items():
        listed = bugsink_server.list_issues(bugsink_project["id"], state=state)
        assert {issue["calculated_type"] for issue in listed} == expected_types, state


@pytest.mark.integration
def test_unknown_state_gets_400(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    response = bugsink_server.request(
        "GET", "/issues/", params={"project": bugsink_project["id"], "state": "closed"}
    )

    assert response.status_code == 400
    assert response.json() == {
        "state": ["Must be 'all', 'open', 'unresolved', 'resolved', or 'muted'."]
    }


@pytest.mark.integration
def test_numbers_in_messages_share_one_issue(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    for order_id in (17, 18, 19):
        bugsink_server.send_exception(bugsink_project, "OrderError", f"order {order_id} failed")

    [issue] = bugsink_server.wait_for_issues(bugsink_project["id"], 1)
    assert issue["digested_event_count"] == 3


@pytest.mark.integration
def test_distinct_exceptions_continue_across_calls(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    first = bugsink_server.send_distinct_exceptions(bugsink_project, 3)
    second = bugsink_server.send_distinct_exceptions(bugsink_project, 2)

    issues = bugsink_server.wait_for_issues(bugsink_project["id"], 5)
    assert len(issues) == 5
    assert {issue["calculated_value"] for issue in issues} == set(first + second)


@pytest.mark.integration
def test_260_distinct_exceptions_fill_two_pages(
    bugsink_server: BugsinkServer, bugsink_project: dict[str, Any]
) -> None:
    started = time.monotonic()
    messages = bugsink_server.send_distinct_exceptions(bugsink_project, 260)
    sent = time.monotonic()
    issues = bugsink_server.wait_for_issues(bugsink_project["id"], 260, timeout=60)
    listed = time.monotonic()
    print(f"\n260 exceptions sent in {sent - started:.1f} s, listed in {listed - sent:.2f} s")

    assert len(issues) == 260
    assert titles(issues) == {("InventoryError", message) for message in messages}

    pages = list(bugsink_server.iter_issue_pages(bugsink_project["id"], state="open"))
    assert [len(page["results"]) for page in pages] == [250, 10]
    assert pages[0]["next"].startswith(f"{bugsink_server.url}/api/canonical/0/issues/?cursor=")
    assert pages[1]["next"] is None


# ----------------------------------------------------------------------
# Lifecycle of a second, separate server
# ----------------------------------------------------------------------


@pytest.mark.integration
def test_stop_ends_every_server_process(tmp_path: Path) -> None:
    # The superuser is only for the web UI; creating one must not break start().
    server = BugsinkServer(data_dir=tmp_path / "bugsink", superuser=("admin@example.org", "admin"))
    started = time.monotonic()
    server.start()
    print(f"\nstarted in {time.monotonic() - started:.1f} s")
    process_group = server.pid
    url = server.url
    assert len(group_processes(process_group)) >= 2  # gunicorn master and worker

    stopping = time.monotonic()
    server.stop()
    print(f"stopped in {time.monotonic() - stopping:.1f} s")

    assert group_processes(process_group) == []
    assert processes_in_directory(tmp_path / "bugsink") == []
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/health/ready", timeout=2)
    # A given data directory is kept, with the server log in it.
    assert (tmp_path / "bugsink" / "server.log").exists()
    assert (tmp_path / "bugsink" / "db.sqlite3").exists()


@pytest.mark.integration
def test_start_timeout_reports_log_tail(tmp_path: Path) -> None:
    server = BugsinkServer(data_dir=tmp_path / "bugsink", start_timeout=0.0)

    with pytest.raises(BugsinkServerError, match="did not start") as raised:
        server.start()

    assert "Last lines of" in str(raised.value)
    with pytest.raises(BugsinkServerError, match="not started"):
        server.pid
    assert processes_in_directory(tmp_path / "bugsink") == []


@pytest.mark.integration
def test_start_retries_when_port_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        free_ports = iter([taken_port, find_free_port()])
        monkeypatch.setattr(bugsink_server_module, "find_free_port", lambda: next(free_ports))

        with BugsinkServer(data_dir=tmp_path / "bugsink") as server:
            assert server.url != f"http://127.0.0.1:{taken_port}"
            assert server.request("GET", "/projects/").status_code == 200
            assert "Connection in use" in server.log_path.read_text()
