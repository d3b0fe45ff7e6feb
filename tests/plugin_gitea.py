"""pytest fixtures for the Gitea stand-in, registered through pytest_plugins in conftest.py.

gitea_swagger skips the tests that need it when the API description is missing, except in
CI (CI=true), where a missing description fails them instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from tests.gitea_contract import GiteaContract, SwaggerNotFoundError, load_swagger
from tests.gitea_standin import GiteaStandin

GITEA_TEST_TOKEN = "gitea-test-token-0123456789"
GITEA_TEST_OWNER = "acme"
GITEA_TEST_REPO = "errors"


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def skip_or_fail_without_swagger(reason: str) -> NoReturn:
    """Skip the current test, or fail it in CI, because the API description is missing."""
    if running_in_ci():
        pytest.fail(f"{reason} (CI=true, so a missing description fails)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def gitea_swagger() -> dict[str, Any]:
    """The Gitea 1.27.1 API description as a dict."""
    try:
        return load_swagger()
    except SwaggerNotFoundError as error:
        skip_or_fail_without_swagger(str(error))


@pytest.fixture(scope="session")
def gitea_contract(gitea_swagger: dict[str, Any]) -> GiteaContract:
    """Request and response checks built once per session from gitea_swagger."""
    return GiteaContract(gitea_swagger)


@pytest.fixture
def gitea_standin(gitea_contract: GiteaContract) -> Iterator[GiteaStandin]:
    """A running Gitea stand-in for acme/errors with token GITEA_TEST_TOKEN, stopped after."""
    with GiteaStandin(
        GITEA_TEST_TOKEN, GITEA_TEST_OWNER, GITEA_TEST_REPO, contract=gitea_contract
    ) as standin:
        yield standin
