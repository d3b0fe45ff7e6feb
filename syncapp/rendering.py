"""Rendering of a Gitea issue (title and body) from a Bugsink issue and its latest event.

The body comes from templates/syncapp/gitea_issue_body.md. Every value taken from the event
is passed through syncapp.markdown, so it shows literally. The body is capped at
MAX_BODY_CHARS: the stacktrace gives way first, and the body says what was cut.
"""

import re
from dataclasses import dataclass

from django.template.loader import render_to_string

from syncapp.bugsink import BugsinkIssue, BugsinkProject
from syncapp.events import BugsinkEvent, StackFrame
from syncapp.markdown import clean_text, code_block, code_span, plain_title, truncate

MAX_TITLE_CHARS = 255
MAX_BODY_CHARS = 60_000
MAX_TABLE_MESSAGE_CHARS = 300
MAX_FULL_MESSAGE_CHARS = 10_000
MAX_CONTEXT_VALUE_CHARS = 300
MAX_CONTEXT_TAGS = 30
MARKER_PREFIX = "bugsink-issue-id:"
SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class RenderedIssue:
    title: str
    body: str


def marker_for(bugsink_issue_id: str) -> str:
    """Return the hidden HTML comment that ties a Gitea issue to its Bugsink issue."""
    return f"<!-- {MARKER_PREFIX} {SAFE_ID.sub('', bugsink_issue_id)} -->"


def render_title(project: BugsinkProject, issue: BugsinkIssue, event: BugsinkEvent | None) -> str:
    """Return "[project] Type: message", one line, at most 255 characters."""
    error_type, message = error_type_and_message(issue, event)
    summary = f"{error_type}: {message}" if error_type and message else error_type or message
    first_line = summary.strip().split("\n", 1)[0] or "(no message)"
    title = plain_title(f"[{project.name or project.slug}] {first_line}")
    return truncate(title, MAX_TITLE_CHARS)[0]


def error_type_and_message(issue: BugsinkIssue, event: BugsinkEvent | None) -> tuple[str, str]:
    error_type, message = issue.error_type, issue.error_value
    exception = event.main_exception if event else None
    if exception:
        error_type = error_type or exception.type
        message = message or exception.value
    if event and not message:
        message = event.message
    return error_type, message


def format_frames(frames: tuple[StackFrame, ...]) -> list[str]:
    lines = []
    for frame in frames:
        where = f'  File "{frame.filename or "?"}"'
        if frame.lineno is not None:
            where += f", line {frame.lineno}"
        where += f", in {frame.function or '?'}"
        lines.append(where)
        if frame.context_line.strip():
            lines.append(f"    {frame.context_line.strip()}")
    return lines


def format_stacktrace(event: BugsinkEvent | None, max_frames: int | None = None) -> tuple[str, int]:
    """Return the stacktrace as text and how many frames were left out to fit max_frames.

    Chained exceptions come oldest first, as Python prints them. When frames must go, the
    outermost ones of each exception go first: the frames nearest the error are kept.
    """
    if event is None:
        return "", 0
    sections = [(f"{exc.type}: {exc.value}", exc.frames) for exc in event.exceptions]
    if not any(frames for _, frames in sections) and event.thread_frames:
        sections.append(("Stack of the thread that logged the message", event.thread_frames))
    omitted = 0
    parts = []
    for heading, frames in sections:
        if max_frames is not None and len(frames) > max_frames:
            omitted += len(frames) - max_frames
            kept = frames[len(frames) - max_frames :]
            body = [f"  ... {len(frames) - max_frames} outer frames omitted ..."]
            body += format_frames(kept)
        else:
            body = format_frames(frames)
        if frames:
            parts.append("\n".join(["Traceback (most recent call last):", *body, heading]))
    return "\n\n".join(parts), omitted


def context_items(issue: BugsinkIssue, event: BugsinkEvent | None) -> list[tuple[str, str]]:
    if event is None:
        return [("transaction", issue.transaction)] if issue.transaction else []
    items = [
        ("request method", event.request_method),
        ("transaction", event.transaction or issue.transaction),
        ("environment", event.environment),
        ("release", event.release),
        ("server", event.server_name),
        ("event id", event.event_id),
        ("event time", event.timestamp),
    ]
    items += [(f"tag {key}", value) for key, value in event.tags[:MAX_CONTEXT_TAGS]]
    return [(name, value) for name, value in items if value]


def build_context(
    project: BugsinkProject,
    issue: BugsinkIssue,
    event: BugsinkEvent | None,
    issue_url: str,
    stacktrace: str,
    notes: list[str],
) -> dict[str, object]:
    error_type, message = error_type_and_message(issue, event)
    one_line = " ".join(clean_text(message).split())
    table_message, message_cut = truncate(one_line, MAX_TABLE_MESSAGE_CHARS)
    full_message = ""
    if message_cut or "\n" in message.strip():
        full_text, full_cut = truncate(message, MAX_FULL_MESSAGE_CHARS)
        full_message = code_block(full_text)
        if full_cut:
            notes.append(f"The message was cut to {MAX_FULL_MESSAGE_CHARS:,} characters.")
    return {
        "marker": marker_for(issue.id),
        "error_type": code_span(error_type, in_table=True),
        "message": code_span(table_message, in_table=True),
        "full_message": full_message,
        "platform": code_span(event.platform if event else "", in_table=True),
        "level": code_span(event.level if event else "", in_table=True),
        "first_seen": code_span(issue.first_seen),
        "last_seen": code_span(issue.last_seen),
        "count": issue.event_count,
        "request_url": code_span(event.request_url if event else ""),
        "context": [
            (name, code_span(truncate(value, MAX_CONTEXT_VALUE_CHARS)[0]))
            for name, value in context_items(issue, event)
        ],
        "stacktrace": code_block(stacktrace) if stacktrace else "",
        "has_event": event is not None,
        "bugsink_url": issue_url,
        "short_id": code_span(issue.friendly_id),
        "project_slug": code_span(project.slug),
        "trace_id": code_span(event.trace_id if event else ""),
        "notes": notes,
    }


def render_body(
    project: BugsinkProject, issue: BugsinkIssue, event: BugsinkEvent | None, issue_url: str
) -> str:
    """Return the Markdown body, at most MAX_BODY_CHARS characters.

    Too long a body is rendered again with fewer frames per exception (50, 25, ... 1); if
    even one frame each is too much, the stacktrace text itself is cut to the space left.
    """
    max_frames: int | None = None
    while True:
        notes: list[str] = []
        stacktrace, omitted = format_stacktrace(event, max_frames)
        if omitted:
            notes.append(f"{omitted} stack frames were left out to keep the issue readable.")
        body = _render(project, issue, event, issue_url, stacktrace, notes)
        if len(body) <= MAX_BODY_CHARS:
            return body
        if max_frames is None or max_frames > 1:
            max_frames = 50 if max_frames is None else max_frames // 2
            continue

        notes.append("The stacktrace was cut because the issue exceeded the size limit.")
        without_trace = _render(project, issue, event, issue_url, "", notes)
        room = MAX_BODY_CHARS - len(without_trace) - 100
        stacktrace = truncate(stacktrace, max(room, 0))[0] if room > 0 else ""
        return _render(project, issue, event, issue_url, stacktrace, notes)


def _render(
    project: BugsinkProject,
    issue: BugsinkIssue,
    event: BugsinkEvent | None,
    issue_url: str,
    stacktrace: str,
    notes: list[str],
) -> str:
    context = build_context(project, issue, event, issue_url, stacktrace, list(notes))
    return render_to_string("syncapp/gitea_issue_body.md", context)


def render_issue(
    project: BugsinkProject, issue: BugsinkIssue, event: BugsinkEvent | None, issue_url: str
) -> RenderedIssue:
    return RenderedIssue(
        title=render_title(project, issue, event),
        body=render_body(project, issue, event, issue_url),
    )
