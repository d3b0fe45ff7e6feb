"""Fault injection for the Gitea stand-in: forced error responses, delays, dropped connections.

A rule matches a request when its method is the request method (or "*") and its path_regex
is found by re.search in the request path, without the query string. A rule applies to
`times` matching requests, or to every one when times is None.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

FaultBody = str | bytes | dict[str, Any] | list[Any] | None


@dataclass
class FaultRule:
    kind: str  # "fail", "delay" or "drop"
    method: str
    path_pattern: re.Pattern[str]
    remaining: int | None  # None applies the rule to every matching request
    status: int = 0
    body: FaultBody = None
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after_commit: bool = False

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.path_pattern.search(path) is not None

    def response_body(self, swagger_url: str) -> bytes:
        """Encode the configured body, or a default page fitting the content type."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        if self.body is not None:
            return json.dumps(self.body).encode()

        phrase = HTTPStatus(self.status).phrase
        if "json" in self.content_type:
            return json.dumps({"message": phrase, "url": swagger_url}).encode()
        if "html" in self.content_type:
            title = f"{self.status} {phrase}"
            page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
            return page.encode()
        return phrase.encode()


class FaultInjection:
    """Rules that the stand-in consults before and after handling each request."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._rules_lock = threading.Lock()

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: FaultBody = None,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        content_type: str = "application/json",
    ) -> None:
        """Respond to matching requests with this status instead of handling them.

        Examples: fail("POST", r"/issues$", 502, body="<html>...", content_type="text/html"),
        fail("GET", r"/labels$", 429, headers={"Retry-After": "2"}).
        """
        rule = FaultRule(
            kind="fail",
            method=method.upper(),
            path_pattern=re.compile(path_regex),
            remaining=times,
            status=status,
            body=body,
            content_type=content_type,
            headers=dict(headers or {}),
        )
        self._add_rule(rule)

    def delay(self, method: str, path_regex: str, seconds: float, times: int | None = 1) -> None:
        """Sleep this many seconds before handling matching requests (for client timeouts)."""
        rule = FaultRule("delay", method.upper(), re.compile(path_regex), times, seconds=seconds)
        self._add_rule(rule)

    def drop_connection(
        self, method: str, path_regex: str, *, after_commit: bool, times: int | None = 1
    ) -> None:
        """Close the connection without a response, before or after applying the request.

        after_commit=True models "Gitea created it but the response was lost": the state
        changes, and the client sees the connection close without a response.
        """
        rule = FaultRule("drop", method.upper(), re.compile(path_regex), times)
        rule.after_commit = after_commit
        self._add_rule(rule)

    def clear_faults(self) -> None:
        with self._rules_lock:
            self._rules.clear()

    def take_fault(self, kind: str, method: str, path: str) -> FaultRule | None:
        """Return the first rule of this kind that matches, counting one use of it."""
        with self._rules_lock:
            for rule in self._rules:
                if rule.kind != kind or not rule.matches(method, path):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule
        return None

    def _add_rule(self, rule: FaultRule) -> None:
        with self._rules_lock:
            self._rules.append(rule)
