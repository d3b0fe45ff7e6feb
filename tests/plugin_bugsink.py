"""Pytest fixtures that give tests a real Bugsink server on 127.0.0.1.

Register with `pytest_plugins = ["tests.plugin_bugsink"]` in tests/conftest.py.
The server is installed and started once per test session. When installing or
starting fails, every test that uses it errors with the reason; none is skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from tests.bugsink_server import BugsinkServer

_project_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def bugsink_server() -> Iterator[BugsinkServer]:
    """Start Bugsink 2.6.2 in a temporary data directory and stop it after the session."""
    with BugsinkServer() as server:
        yield server


@pytest.fixture
def bugsink_project(
    bugsink_server: BugsinkServer, request: pytest.FixtureRequest
) -> dict[str, Any]:
    """Create a new project for one test, so tests sharing the server see only their own issues."""
    # Bugsink requires a project name to be unique within its team.
    name = f"{request.node.name[:200]} {next(_project_numbers)}"
    return bugsink_server.create_project(name)
