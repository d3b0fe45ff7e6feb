"""The one HTTP choke point shared by the Bugsink and Gitea clients.

It fixes what both need: timeouts on every request, a token that is only ever sent to the
configured origin (redirects elsewhere are refused, not followed), bounded retries of safe
requests on transient failures, and errors that carry the status, the URL and whether a
retry can help, never the token.
"""

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from syncapp.conf import SyncConfig, SyncError, scrub_secrets

logger = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 3
TAG_PATTERN = re.compile(r"<[^>]+>")
MAX_EXCERPT_BYTES = 4096
# Control characters of an error page would end up in logs and in the database, and
# PostgreSQL cannot store NUL.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class ApiError(SyncError):
    """A request to Bugsink or Gitea failed.

    `transient` is true when the same request may succeed later (connection errors, timeouts,
    429 and 5xx). `status` is None when no HTTP response arrived. The keyword arguments have
    defaults because Celery rebuilds a task's exception from its message alone.
    """

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        method: str = "",
        url: str = "",
        status: int | None = None,
        transient: bool = False,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.service = service
        self.method = method
        self.url = url
        self.status = status
        self.transient = transient
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(message)

    @property
    def is_connection_error(self) -> bool:
        return self.status is None


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default_port


def describe_body(response: requests.Response, secrets: tuple[str, ...] = ()) -> str:
    """Return a short, single-line excerpt of an error response, JSON or not (proxies send
    HTML). A nested JSON error ({"error": {"message": ...}}) gives its message."""
    text = ""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, Mapping):
        for key in ("message", "detail", "error", "errors"):
            value = payload.get(key)
            if isinstance(value, Mapping):
                value = value.get("message") or value.get("detail")
            if value:
                text = str(value)
                break
    if not text:
        # Only the start is decoded: an error page can be large, and binary.
        raw = (response.content or b"")[:MAX_EXCERPT_BYTES]
        text = TAG_PATTERN.sub(" ", raw.decode("utf-8", errors="replace"))
    text = " ".join(CONTROL_CHARACTERS.sub("\ufffd", text).split())
    if len(text) > 200:
        text = text[:200] + "…"
    return scrub_secrets(text, secrets)


def retry_after_seconds(response: requests.Response, cap: float) -> float | None:
    """Return the Retry-After header in seconds, capped; None when absent or a date."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw.isdigit():
        return None
    return min(float(raw), cap)


class ApiSession:
    """Send authenticated JSON requests to one server.

    Safe requests (GET, and calls the client marks idempotent) are retried `max_retries` times
    on transient failures, waiting `backoff_seconds * 2**attempt` or the server's Retry-After
    (at most `retry_after_cap`). Other requests are sent once: for a create, a retry could file
    the same thing twice.
    """

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        authorization: str,
        connect_timeout: float,
        read_timeout: float,
        secrets: tuple[str, ...],
        max_retries: int = 2,
        backoff_seconds: float = 1.0,
        retry_after_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        self.timeout = (connect_timeout, read_timeout)
        self.secrets = secrets
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.retry_after_cap = retry_after_cap
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": authorization,
                "Accept": "application/json",
                "User-Agent": "bugsink-gitea-sync",
            }
        )
        # Proxy settings from the environment would route the token through a third host.
        self.session.trust_env = False

    @classmethod
    def for_config(
        cls,
        config: "SyncConfig",
        *,
        service: str,
        base_url: str,
        authorization: str,
        **options: Any,
    ) -> "ApiSession":
        """Return a session with the timeouts, retries and secrets of the sync configuration."""
        return cls(
            service=service,
            base_url=base_url,
            authorization=authorization,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            secrets=config.secrets,
            max_retries=config.http_retries,
            backoff_seconds=config.http_backoff_seconds,
            **options,
        )

    def url_for(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def is_same_origin(self, url: str) -> bool:
        return origin_of(url) == self.origin

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        explain: Callable[[int, str], str] | None = None,
    ) -> requests.Response:
        """Send a request to base_url + path and return the 2xx response.

        Raises ApiError for everything else. `explain(status, url)` returns the hint on what an
        operator should check for a given status.
        """
        url = self.url_for(path)
        retryable = method == "GET" if idempotent is None else idempotent
        attempt = 0
        while True:
            try:
                return self._send_once(method, url, params=params, json=json, explain=explain)
            except ApiError as error:
                if not (error.transient and retryable and attempt < self.max_retries):
                    raise
                delay = error.retry_after or self.backoff_seconds * 2**attempt
                attempt += 1
                logger.warning(
                    "%s %s %s failed (%s); retry %d of %d in %.1f s",
                    self.service,
                    method,
                    url,
                    error,
                    attempt,
                    self.max_retries,
                    delay,
                )
                self.sleep(delay)

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        explain: Callable[[int, str], str] | None,
    ) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            response = self._transmit(method, url, params=params, json=json)
            if not response.is_redirect:
                return self._check_status(method, url, response, explain)
            url = self._follow_redirect(method, url, response)
            params = None
        raise ApiError(
            f"{self.service} redirected {method} {url} more than {MAX_REDIRECTS} times",
            service=self.service,
            method=method,
            url=url,
        )

    def _transmit(
        self, method: str, url: str, *, params: Mapping[str, Any] | None, json: Any
    ) -> requests.Response:
        try:
            return self.session.request(
                method, url, params=params, json=json, timeout=self.timeout, allow_redirects=False
            )
        except requests.Timeout as error:
            raise ApiError(
                f"{self.service} did not respond to {method} {url} within "
                f"{self.timeout[0]:g}/{self.timeout[1]:g} s (connect/read timeout)",
                service=self.service,
                method=method,
                url=url,
                transient=True,
            ) from error
        except requests.ConnectionError as error:
            raise ApiError(
                f"could not connect to {self.service} at {url}: {type(error).__name__}; "
                f"check that the server is up and the URL is right",
                service=self.service,
                method=method,
                url=url,
                transient=True,
            ) from error

    def _follow_redirect(self, method: str, url: str, response: requests.Response) -> str:
        target = urljoin(url, response.headers.get("Location", ""))
        if method != "GET" or not self.is_same_origin(target):
            target_origin = "{}://{}".format(*origin_of(target)[:2])
            raise ApiError(
                f"{self.service} redirected {method} {url} to {target_origin}; the sync does "
                f"not follow redirects that change the origin or the method. Set the "
                f"{self.service} URL to the address the server is really served at",
                service=self.service,
                method=method,
                url=url,
                status=response.status_code,
            )
        return target

    def _check_json(self, method: str, url: str, response: requests.Response) -> None:
        """Raise ApiError when a 2xx response has a body that is not JSON.

        Both APIs respond with JSON, so an HTML page with a 2xx status comes from something
        in between (the login page of a proxy, a web UI at the configured address).
        """
        if response.status_code == 204 or not response.content:
            return
        try:
            response.json()
        except ValueError:
            content_type = response.headers.get("Content-Type", "") or "no content type"
            detail = describe_body(response, self.secrets)
            raise ApiError(
                f"{self.service} returned {response.status_code} for {method} {url} with "
                f"{content_type} instead of JSON: {detail}. Check that "
                f"{self.service.upper()}_URL is the server's base address and that no proxy "
                f"answers in its place",
                service=self.service,
                method=method,
                url=url,
                status=response.status_code,
                detail=detail,
            ) from None

    def _check_status(
        self,
        method: str,
        url: str,
        response: requests.Response,
        explain: Callable[[int, str], str] | None,
    ) -> requests.Response:
        status = response.status_code
        if 200 <= status < 300:
            self._check_json(method, url, response)
            return response
        detail = describe_body(response, self.secrets)
        hint = explain(status, url) if explain else ""
        message = f"{self.service} returned {status} for {method} {url}"
        if detail:
            message += f": {detail.rstrip('.')}"
        if hint:
            message += f". {hint}"
        raise ApiError(
            message,
            service=self.service,
            method=method,
            url=url,
            status=status,
            transient=status in TRANSIENT_STATUSES,
            detail=detail,
            retry_after=retry_after_seconds(response, self.retry_after_cap),
        )
