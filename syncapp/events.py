"""Typed view of a Bugsink event payload (the Sentry event format that SDKs send).

The payload is whatever the failing program sent, so every field may be missing, null or of
the wrong type. Parsing never raises on such input: a field that cannot be read is empty.
Frame local variables (`vars`) are deliberately not read: they are never posted. Request
headers, query string, cookies, form data and the user are read as (name, value) pairs, with
nested containers flattened to dotted names, so that syncapp.scrubbing can judge each value
by its name before anything is rendered.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

# Bounds on what is read from one container, so that a huge or deeply nested form cannot make
# parsing, scrubbing or rendering slow. What lies deeper becomes one JSON value.
MAX_PAIRS = 100
MAX_DEPTH = 6


@dataclass(frozen=True)
class StackFrame:
    filename: str
    lineno: int | None
    function: str
    context_line: str
    in_app: bool


@dataclass(frozen=True)
class ExceptionInfo:
    type: str
    value: str
    frames: tuple[StackFrame, ...]


@dataclass(frozen=True)
class BugsinkEvent:
    id: str
    event_id: str
    timestamp: str
    platform: str
    level: str
    message: str
    # Oldest first, as in the payload: the last one is the exception that was raised.
    exceptions: tuple[ExceptionInfo, ...]
    thread_frames: tuple[StackFrame, ...]
    request_url: str
    request_method: str
    trace_id: str
    environment: str
    release: str
    server_name: str
    transaction: str
    tags: tuple[tuple[str, str], ...]
    request_headers: tuple[tuple[str, str], ...] = ()
    request_query: tuple[tuple[str, str], ...] = ()
    request_data: tuple[tuple[str, str], ...] = ()
    request_cookies: tuple[tuple[str, str], ...] = ()
    request_env: tuple[tuple[str, str], ...] = ()
    user: tuple[tuple[str, str], ...] = ()

    @property
    def main_exception(self) -> ExceptionInfo | None:
        return self.exceptions[-1] if self.exceptions else None


def as_text(value: Any) -> str:
    """Return a value from the payload as text: '' for None, JSON for containers."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def values_of(container: Any) -> list[Any]:
    """Return the items of an interface that SDKs send as {"values": [...]} or as a bare list."""
    if isinstance(container, Mapping):
        return as_list(container.get("values"))
    return as_list(container)


def parse_frames(stacktrace: Any) -> tuple[StackFrame, ...]:
    frames = []
    for raw in as_list(as_mapping(stacktrace).get("frames")):
        frame = as_mapping(raw)
        if not frame:
            continue
        frames.append(
            StackFrame(
                filename=as_text(frame.get("filename") or frame.get("abs_path")),
                lineno=as_int(frame.get("lineno")),
                function=as_text(frame.get("function")),
                context_line=as_text(frame.get("context_line")),
                in_app=frame.get("in_app") is True,
            )
        )
    return tuple(frames)


def parse_exceptions(payload: Mapping[str, Any]) -> tuple[ExceptionInfo, ...]:
    exceptions = []
    for raw in values_of(payload.get("exception")):
        item = as_mapping(raw)
        if not item:
            continue
        exceptions.append(
            ExceptionInfo(
                type=as_text(item.get("type")),
                value=as_text(item.get("value")),
                frames=parse_frames(item.get("stacktrace")),
            )
        )
    return tuple(exceptions)


def parse_thread_frames(payload: Mapping[str, Any]) -> tuple[StackFrame, ...]:
    """Return the frames of the crashed or current thread (SDKs attach them to messages)."""
    threads = [as_mapping(thread) for thread in values_of(payload.get("threads"))]
    for thread in threads:
        if thread.get("crashed") or thread.get("current"):
            return parse_frames(thread.get("stacktrace"))
    for thread in threads:
        frames = parse_frames(thread.get("stacktrace"))
        if frames:
            return frames
    return ()


def parse_message(payload: Mapping[str, Any]) -> str:
    logentry = as_mapping(payload.get("logentry"))
    if logentry:
        return as_text(logentry.get("formatted") or logentry.get("message"))
    message = payload.get("message")
    if isinstance(message, Mapping):
        return as_text(message.get("formatted") or message.get("message"))
    return as_text(message)


def parse_tags(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        return tuple((as_text(key), as_text(item)) for key, item in value.items())
    pairs = []
    for item in as_list(value):
        if isinstance(item, list | tuple) and len(item) == 2:
            pairs.append((as_text(item[0]), as_text(item[1])))
    return tuple(pairs)


def flatten_pairs(value: Any, prefix: str = "") -> tuple[tuple[str, str], ...]:
    """Return a container as (dotted name, text) pairs, at most MAX_PAIRS of them.

    Sentry SDKs send headers, cookies and query strings as a mapping or as a list of
    [name, value] pairs, and form data as any JSON value, so all of these are accepted.
    """
    if value is None or value == "":
        return ()
    pairs: list[tuple[str, str]] = []
    _flatten_into(pairs, value, prefix, 0)
    return tuple(pairs)


def _flatten_into(pairs: list[tuple[str, str]], value: Any, prefix: str, depth: int) -> None:
    if len(pairs) >= MAX_PAIRS:
        return
    if depth >= MAX_DEPTH or not isinstance(value, Mapping | list | tuple):
        pairs.append((prefix, as_text(value)))
        return
    for name, item in _named_items(value):
        _flatten_into(pairs, item, f"{prefix}.{name}" if prefix else name, depth + 1)


def _named_items(value: Mapping[str, Any] | list[Any] | tuple[Any, ...]) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        return [(as_text(name), item) for name, item in value.items()]
    if all(isinstance(item, list | tuple) and len(item) == 2 for item in value) and value:
        return [(as_text(item[0]), item[1]) for item in value]
    return [(str(index), item) for index, item in enumerate(value)]


def parse_query(value: Any) -> tuple[tuple[str, str], ...]:
    """Return the query string as pairs; a string is split as application/x-www-form-urlencoded."""
    if isinstance(value, str):
        return tuple(parse_qsl(value.lstrip("?"), keep_blank_values=True)[:MAX_PAIRS])
    return flatten_pairs(value)


def parse_cookies(value: Any) -> tuple[tuple[str, str], ...]:
    """Return cookies as pairs; SDKs send a mapping, a list of pairs or the raw header text."""
    if isinstance(value, str):
        pairs = []
        for part in value.split(";")[:MAX_PAIRS]:
            name, _, item = part.strip().partition("=")
            pairs.append((name, item))
        return tuple(pairs)
    return flatten_pairs(value)


def parse_event(detail: Mapping[str, Any]) -> BugsinkEvent:
    """Build a BugsinkEvent from GET /api/canonical/0/events/{id}/ (the `data` key contains it)."""
    payload = as_mapping(detail.get("data"))
    request = as_mapping(payload.get("request"))
    trace = as_mapping(as_mapping(payload.get("contexts")).get("trace"))
    return BugsinkEvent(
        id=as_text(detail.get("id")),
        event_id=as_text(detail.get("event_id") or payload.get("event_id")),
        timestamp=as_text(detail.get("timestamp") or payload.get("timestamp")),
        platform=as_text(payload.get("platform")),
        level=as_text(payload.get("level")),
        message=parse_message(payload),
        exceptions=parse_exceptions(payload),
        thread_frames=parse_thread_frames(payload),
        request_url=as_text(request.get("url")),
        request_method=as_text(request.get("method")),
        trace_id=as_text(trace.get("trace_id")),
        environment=as_text(payload.get("environment")),
        release=as_text(payload.get("release")),
        server_name=as_text(payload.get("server_name")),
        transaction=as_text(payload.get("transaction") or payload.get("culprit")),
        tags=parse_tags(payload.get("tags")),
        request_headers=flatten_pairs(request.get("headers")),
        request_query=parse_query(request.get("query_string")),
        request_data=flatten_pairs(request.get("data")),
        request_cookies=parse_cookies(request.get("cookies")),
        request_env=flatten_pairs(request.get("env")),
        user=flatten_pairs(payload.get("user")),
    )
