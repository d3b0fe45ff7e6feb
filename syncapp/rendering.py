"""Rendering of a Gitea issue (title and body) from a Bugsink issue and its latest event.

The body comes from templates/syncapp/gitea_issue_body.md. The issue and the event are
scrubbed first (syncapp.scrubbing), and every value taken from them is passed through
syncapp.markdown, so it shows literally. The body is capped at a number of characters
(MAX_BODY_CHARS unless Gitea rejected that size). The stacktrace gives way first, then the
full message and the additional context, and a note in the body lists what was cut.
"""

import re
from dataclasses import dataclass, field, replace

from django.template.loader import render_to_string

from syncapp.bugsink import BugsinkIssue, BugsinkProject
from syncapp.events import BugsinkEvent, StackFrame
from syncapp.markdown import (
    FOUR_BYTE_CHARACTERS,
    clean_text,
    code_block,
    code_span,
    plain_title,
    replace_four_byte_characters,
    truncate,
)
from syncapp.scrubbing import load_scrubber

MAX_TITLE_CHARS = 255
MAX_BODY_CHARS = 60_000
# After Gitea, or a proxy in front of it, rejected a body as too large (HTTP 413), the body is
# rendered again at most this long, or half as long as the rejected one when that is shorter.
SHRUNK_BODY_CHARS = 15_000
# The parts that never give way (table, statistics, URL, footer, notes) take up to about
# 4,000 characters, so a smaller budget cannot be met.
MIN_BODY_CHARS = 5_000
MAX_TABLE_MESSAGE_CHARS = 300
MAX_FULL_MESSAGE_CHARS = 10_000
MAX_FIELD_CHARS = 200
MAX_URL_CHARS = 2_000
MAX_CONTEXT_NAME_CHARS = 100
MAX_CONTEXT_VALUE_CHARS = 300
MAX_CONTEXT_TAGS = 30
MAX_CONTEXT_PAIRS = 15
MAX_CONTEXT_ITEMS = 60
MARKER_PREFIX = "bugsink-issue-id:"
SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")

TOO_LARGE_NOTE = (
    "Gitea rejected the full issue as too large (HTTP 413), so it was shortened to "
    "{budget:,} characters."
)
FOUR_BYTE_NOTE = (
    "Gitea's database cannot store characters outside the Basic Multilingual Plane (emoji "
    "and others), so they were replaced with U+FFFD."
)


@dataclass(frozen=True)
class RenderSource:
    """The scrubbed inputs of one rendering, kept so that the issue can be rendered again."""

    project: BugsinkProject
    issue: BugsinkIssue
    event: BugsinkEvent | None
    issue_url: str
    max_body_chars: int = MAX_BODY_CHARS
    four_byte_replaced: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderedIssue:
    title: str
    body: str
    source: RenderSource | None = field(default=None, repr=False, compare=False)

    def shrink(self) -> "RenderedIssue | None":
        """Return the issue rendered again in at most half the characters (and at most
        SHRUNK_BODY_CHARS) with a note about it, or None when it cannot get that small."""
        if self.source is None:
            return None
        budget = min(SHRUNK_BODY_CHARS, len(self.body) // 2)
        if budget < MIN_BODY_CHARS:
            return None
        note = TOO_LARGE_NOTE.format(budget=budget)
        return render_source(
            replace(self.source, max_body_chars=budget, notes=(*self.source.notes, note))
        )

    def without_four_byte_characters(self) -> "RenderedIssue":
        """Return the issue with every 4-byte UTF-8 character replaced and a note saying so."""
        if not FOUR_BYTE_CHARACTERS.search(self.title + self.body):
            return self
        if self.source is None:
            return RenderedIssue(
                replace_four_byte_characters(self.title), replace_four_byte_characters(self.body)
            )
        return render_source(
            replace(
                self.source,
                four_byte_replaced=True,
                notes=(*self.source.notes, FOUR_BYTE_NOTE),
            )
        )


def marker_for(bugsink_issue_id: str) -> str:
    """Return the hidden HTML comment that ties a Gitea issue to its Bugsink issue."""
    return f"<!-- {MARKER_PREFIX} {SAFE_ID.sub('', bugsink_issue_id)} -->"


def render_issue(
    project: BugsinkProject, issue: BugsinkIssue, event: BugsinkEvent | None, issue_url: str
) -> RenderedIssue:
    """Scrub the issue and event, then return the Gitea issue's title and body.

    Raises ConfigurationError when the SCRUB_* settings are invalid.
    """
    scrubber = load_scrubber()
    source = RenderSource(
        project=project,
        issue=scrubber.scrub_issue(issue),
        event=scrubber.scrub_event(event) if event is not None else None,
        issue_url=issue_url,
    )
    return render_source(source)


def render_source(source: RenderSource) -> RenderedIssue:
    title = _title(source.project, source.issue, source.event)
    body = _body(source)
    if source.four_byte_replaced:
        title = replace_four_byte_characters(title)
        body = replace_four_byte_characters(body)
    return RenderedIssue(title=title, body=body, source=source)


def render_title(project: BugsinkProject, issue: BugsinkIssue, event: BugsinkEvent | None) -> str:
    """Return "[project] Type: message", scrubbed, one line, at most 255 characters."""
    scrubber = load_scrubber()
    scrubbed_event = scrubber.scrub_event(event) if event is not None else None
    return _title(project, scrubber.scrub_issue(issue), scrubbed_event)


def _title(project: BugsinkProject, issue: BugsinkIssue, event: BugsinkEvent | None) -> str:
    error_type, message = error_type_and_message(issue, event)
    summary = f"{error_type}: {message}" if error_type and message else error_type or message
    first_line = summary.strip().split("\n", 1)[0] or "(no message)"
    title = plain_title(f"[{project.name or project.slug}] {first_line}")
    return truncate(title, MAX_TITLE_CHARS)[0]


def stored_error_type(issue: BugsinkIssue) -> str:
    """Return the issue's error type as the sync record stores it: scrubbed, on one line,
    without control characters (PostgreSQL rejects NUL) and at most 255 characters."""
    error_type = load_scrubber().scrub_text(issue.error_type)
    return truncate(" ".join(clean_text(error_type).split()), 255)[0]


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
    """Return (Markdown label, value) pairs for "Additional Context", at most
    MAX_CONTEXT_ITEMS. Names that come from the event are code spans in the label."""
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
    groups = [
        ("tag", event.tags[:MAX_CONTEXT_TAGS]),
        ("header", event.request_headers[:MAX_CONTEXT_PAIRS]),
        ("query parameter", event.request_query[:MAX_CONTEXT_PAIRS]),
        ("form field", event.request_data[:MAX_CONTEXT_PAIRS]),
        ("cookie", event.request_cookies[:MAX_CONTEXT_PAIRS]),
        ("request environment", event.request_env[:MAX_CONTEXT_PAIRS]),
        ("user", event.user[:MAX_CONTEXT_PAIRS]),
    ]
    for label, pairs in groups:
        for name, value in pairs:
            name_span = code_span(truncate(name, MAX_CONTEXT_NAME_CHARS)[0])
            items.append((f"{label} {name_span}" if name else label, value))
    return [(name, value) for name, value in items if value][:MAX_CONTEXT_ITEMS]


def build_context(
    source: RenderSource, stacktrace: str, notes: list[str], *, compact: bool
) -> dict[str, object]:
    """Return the template context. `compact` leaves out the full message and the context."""
    issue, event = source.issue, source.event
    error_type, message = error_type_and_message(issue, event)
    one_line = " ".join(clean_text(message).split())
    table_message, message_cut = truncate(one_line, MAX_TABLE_MESSAGE_CHARS)
    full_message = ""
    if not compact and (message_cut or "\n" in message.strip()):
        full_text, full_cut = truncate(message, MAX_FULL_MESSAGE_CHARS)
        full_message = code_block(full_text)
        if full_cut:
            notes.append(f"The message was cut to {MAX_FULL_MESSAGE_CHARS:,} characters.")
    context = [] if compact else context_items(issue, event)
    return {
        "marker": marker_for(issue.id),
        "error_type": field_span(error_type, in_table=True),
        "message": code_span(table_message, in_table=True),
        "full_message": full_message,
        "platform": field_span(event.platform if event else "", in_table=True),
        "level": field_span(event.level if event else "", in_table=True),
        "first_seen": field_span(issue.first_seen),
        "last_seen": field_span(issue.last_seen),
        "count": issue.event_count,
        "request_url": code_span(truncate(event.request_url if event else "", MAX_URL_CHARS)[0]),
        "context": [
            (name, code_span(truncate(value, MAX_CONTEXT_VALUE_CHARS)[0]))
            for name, value in context
        ],
        "context_omitted": compact,
        "stacktrace": code_block(stacktrace) if stacktrace else "",
        "stacktrace_omitted": not stacktrace and has_frames(event),
        "has_event": event is not None,
        "bugsink_url": source.issue_url,
        "short_id": field_span(issue.friendly_id),
        "project_slug": field_span(source.project.slug),
        "trace_id": field_span(event.trace_id if event else ""),
        "notes": notes,
    }


def has_frames(event: BugsinkEvent | None) -> bool:
    if event is None:
        return False
    return bool(event.thread_frames) or any(exception.frames for exception in event.exceptions)


def field_span(text: str, *, in_table: bool = False) -> str:
    """Return a short field (a type, a level, an id) as a code span of bounded length."""
    return code_span(truncate(text, MAX_FIELD_CHARS)[0], in_table=in_table)


def _body(source: RenderSource) -> str:
    """Return the Markdown body, at most source.max_body_chars characters.

    Too long a body is rendered again with fewer frames per exception (50, 25, ... 1). If even
    one frame each is too much, the full message and the context go too when they alone
    leave too little room, and the stacktrace text itself is cut to the space left.
    """
    budget = source.max_body_chars
    max_frames: int | None = None
    while True:
        notes = list(source.notes)
        stacktrace, omitted = format_stacktrace(source.event, max_frames)
        if omitted:
            notes.append(f"{omitted} stack frames were left out to keep the issue readable.")
        body = _render(source, stacktrace, notes, compact=False)
        if len(body) <= budget:
            return body
        if max_frames is None or max_frames > 1:
            max_frames = 50 if max_frames is None else max_frames // 2
            continue
        break

    compact = len(_render(source, "", notes, compact=False)) > budget // 2
    if compact:
        notes.append(
            "The full message and the additional context were left out to keep the issue "
            "under the size limit."
        )
    notes.append("The stacktrace was cut because the issue exceeded the size limit.")
    # Cutting the text can also shorten the code fence, so the cut is adjusted until it fits.
    for _ in range(5):
        body = _render(source, stacktrace, notes, compact=compact)
        excess = len(body) - budget
        if excess <= 0:
            return body
        stacktrace = truncate(stacktrace, max(len(stacktrace) - excess - 10, 0))[0]
        if len(stacktrace) < 200:
            stacktrace = ""
    return _render(source, stacktrace, notes, compact=compact)


def _render(source: RenderSource, stacktrace: str, notes: list[str], *, compact: bool) -> str:
    context = build_context(source, stacktrace, list(notes), compact=compact)
    return render_to_string("syncapp/gitea_issue_body.md", context)
