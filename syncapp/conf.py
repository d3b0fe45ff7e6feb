"""The sync configuration: validated from Django settings into one typed object.

Each problem names the environment variable and what to change. Tokens are wrapped in
`Secret`, whose str() and repr() never show the value.
"""

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

BUGSINK_TOKEN_PATTERN = re.compile(r"[0-9a-f]{40}")
HEX_DIGITS = frozenset("0123456789abcdef")
# Endings that mean a URL was copied with its API path; the clients add those paths.
API_PATH_SUFFIXES = {"BUGSINK_URL": ("/api", "/api/canonical/0"), "GITEA_URL": ("/api/v1",)}
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class SyncError(Exception):
    """Base class of the errors the sync raises on purpose."""


class ConfigurationError(SyncError):
    """The sync settings are missing or invalid. Retrying cannot help."""

    def __init__(self, problems: "list[ConfigProblem] | str") -> None:
        # Celery rebuilds a task's exception from its message, so a str is accepted too.
        if isinstance(problems, str):
            self.problems: list[ConfigProblem] = []
            super().__init__(problems)
            return
        self.problems = problems
        lines = "; ".join(f"{problem.variable}: {problem.message}" for problem in problems)
        super().__init__(f"invalid sync configuration: {lines}")


class Secret:
    """A token that is never shown: str() and repr() print a mask, reveal() returns the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"


@dataclass(frozen=True)
class ConfigProblem:
    variable: str
    message: str


@dataclass(frozen=True)
class SyncConfig:
    enabled: bool
    bugsink_url: str
    bugsink_token: Secret
    gitea_url: str
    gitea_token: Secret
    gitea_owner: str
    gitea_repo: str
    interval_minutes: int
    include_muted: bool
    connect_timeout: float
    read_timeout: float
    http_retries: int
    http_backoff_seconds: float
    create_settle_seconds: float
    state_redis_url: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """Both token values, for scrubbing them out of any text that leaves the process."""
        return tuple(s.reveal() for s in (self.bugsink_token, self.gitea_token) if s)


def normalize_token(raw: str) -> str:
    """Strip surrounding whitespace and a pasted `Bearer ` or `token ` scheme prefix."""
    value = raw.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() in {"bearer", "token"} and rest:
        value = rest.strip()
    return value


def _parse_bool(variable: str, raw: Any, problems: list[ConfigProblem]) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word not in FALSE_WORDS:
        problems.append(ConfigProblem(variable, f"{raw!r} is not a boolean; use true or false"))
    return False


def _parse_interval(raw: Any, problems: list[ConfigProblem]) -> int:
    text = str(raw).strip()
    if not text.isdigit() or int(text) < 1:
        problems.append(
            ConfigProblem(
                "BUGSINK_SYNC_INTERVAL",
                f"{text!r} is not a positive whole number of minutes; use for example 15",
            )
        )
        return 15
    return int(text)


def _check_url(variable: str, url: str, required: bool, problems: list[ConfigProblem]) -> str:
    url = url.strip().rstrip("/")
    if not url:
        if required:
            problems.append(ConfigProblem(variable, "is missing; set it to the server's base URL"))
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        problems.append(
            ConfigProblem(
                variable,
                f"{url!r} is not an http(s) URL; use for example https://host.example.com",
            )
        )
    elif parts.username or parts.password:
        problems.append(
            ConfigProblem(variable, "contains credentials; put the token in its own variable")
        )
    elif parts.query or parts.fragment:
        problems.append(ConfigProblem(variable, "must not contain a query string or fragment"))
    elif parts.path.rstrip("/").endswith(API_PATH_SUFFIXES.get(variable, ())):
        problems.append(
            ConfigProblem(
                variable,
                f"{url!r} ends with an API path; set the server's base address without it",
            )
        )
    return url


def _check_bugsink_token(raw: str, required: bool, problems: list[ConfigProblem]) -> Secret:
    token = normalize_token(raw)
    if not token:
        if required:
            problems.append(
                ConfigProblem(
                    "BUGSINK_API_TOKEN",
                    "is missing; create one with Bugsink's `create_auth_token` command",
                )
            )
        return Secret("")
    if not BUGSINK_TOKEN_PATTERN.fullmatch(token):
        # The length and the position of a wrong character are safe to show; the value is not.
        wrong = [index for index, char in enumerate(token, 1) if char not in HEX_DIGITS]
        found = f"character {wrong[0]} is not 0-9 or a-f" if wrong else ""
        found = found or f"got {len(token)} characters"
        problems.append(
            ConfigProblem(
                "BUGSINK_API_TOKEN",
                f"is not a Bugsink API token: expected 40 lowercase hexadecimal characters, "
                f"but {found}; copy the token again from Bugsink",
            )
        )
    return Secret(token)


def _check_gitea_token(raw: str, required: bool, problems: list[ConfigProblem]) -> Secret:
    token = normalize_token(raw)
    if not token and required:
        problems.append(
            ConfigProblem(
                "GITEA_API_TOKEN",
                "is missing; create an access token with the write:issue scope in Gitea",
            )
        )
    elif token and any(char.isspace() for char in token):
        problems.append(ConfigProblem("GITEA_API_TOKEN", "contains whitespace inside the token"))
    return Secret(token)


def _check_name(variable: str, raw: str, required: bool, problems: list[ConfigProblem]) -> str:
    value = raw.strip()
    if not value and required:
        problems.append(ConfigProblem(variable, "is empty; set the Gitea repository's owner/name"))
    elif "/" in value or any(char.isspace() for char in value):
        problems.append(ConfigProblem(variable, f"{value!r} must be a single name without '/'"))
    return value


def read_sync_config(source: Any = None) -> tuple[SyncConfig, list[ConfigProblem]]:
    """Read the sync settings and return them with every problem found (empty when valid).

    The connection variables are required only when the sync is enabled, so that a web-only
    deployment can run with the sync switched off.
    """
    source = source or settings
    problems: list[ConfigProblem] = []
    enabled = _parse_bool("BUGSINK_SYNC_ENABLED", source.BUGSINK_SYNC_ENABLED, problems)
    config = SyncConfig(
        enabled=enabled,
        bugsink_url=_check_url("BUGSINK_URL", source.BUGSINK_URL, enabled, problems),
        bugsink_token=_check_bugsink_token(source.BUGSINK_API_TOKEN, enabled, problems),
        gitea_url=_check_url("GITEA_URL", source.GITEA_URL, enabled, problems),
        gitea_token=_check_gitea_token(source.GITEA_API_TOKEN, enabled, problems),
        gitea_owner=_check_name("GITEA_OWNER", source.GITEA_OWNER, enabled, problems),
        gitea_repo=_check_name("GITEA_REPO", source.GITEA_REPO, enabled, problems),
        interval_minutes=_parse_interval(source.BUGSINK_SYNC_INTERVAL, problems),
        include_muted=_parse_bool(
            "BUGSINK_SYNC_INCLUDE_MUTED", source.BUGSINK_SYNC_INCLUDE_MUTED, problems
        ),
        connect_timeout=float(source.SYNC_HTTP_CONNECT_TIMEOUT),
        read_timeout=float(source.SYNC_HTTP_READ_TIMEOUT),
        http_retries=int(source.SYNC_HTTP_RETRIES),
        http_backoff_seconds=float(source.SYNC_HTTP_BACKOFF_SECONDS),
        create_settle_seconds=float(source.SYNC_CREATE_SETTLE_SECONDS),
        state_redis_url=source.SYNC_STATE_REDIS_URL,
    )
    return config, problems


def load_sync_config(source: Any = None, *, require_connection: bool = False) -> SyncConfig:
    """Return the validated configuration or raise ConfigurationError naming every problem.

    With require_connection, the Bugsink and Gitea variables must be set even when the sync
    is disabled (a dry run reads from both servers even with BUGSINK_SYNC_ENABLED false).
    """
    config, problems = read_sync_config(source)
    if require_connection and not config.enabled:
        problems = problems + _missing_connection_variables(config)
    if problems:
        raise ConfigurationError(problems)
    return config


def _missing_connection_variables(config: SyncConfig) -> list[ConfigProblem]:
    values = {
        "BUGSINK_URL": config.bugsink_url,
        "BUGSINK_API_TOKEN": config.bugsink_token,
        "GITEA_URL": config.gitea_url,
        "GITEA_API_TOKEN": config.gitea_token,
        "GITEA_OWNER": config.gitea_owner,
        "GITEA_REPO": config.gitea_repo,
    }
    return [ConfigProblem(name, "is missing") for name, value in values.items() if not value]


def scrub_secrets(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every occurrence of a token value in text with a mask."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text
