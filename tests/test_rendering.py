import re

from syncapp.markdown import code_block, code_span
from syncapp.rendering import MAX_BODY_CHARS, MAX_TITLE_CHARS, marker_for, render_issue
from tests.factories import PROJECT, make_event, make_issue

ISSUE_URL = "https://bugsink.example.com/issues/issue/00000000-0000-4000-8000-000000000001/"


def fence_balance_ok(body: str) -> bool:
    """Return whether every fenced code block that opens is closed by a long enough fence."""
    open_fence = None
    for line in body.split("\n"):
        match = re.match(r"^(`{3,})", line)
        if not match:
            continue
        if open_fence is None:
            open_fence = match.group(1)
        elif line.strip() == "`" * len(line.strip()) and len(line.strip()) >= len(open_fence):
            open_fence = None
    return open_fence is None


def test_body_has_every_template_field() -> None:
    body = render_issue(PROJECT, make_issue(), make_event(), ISSUE_URL).body

    for heading in [
        "## Error Details",
        "## Occurrence Statistics",
        "## Request Context",
        "## Stacktrace",
    ]:
        assert heading in body
    assert "| **Type** | `ValueError` |" in body
    assert "| **Message** | `invalid literal number 1` |" in body
    assert "| **Platform** | `python` |" in body
    assert "| **Level** | `error` |" in body
    assert "- **First Seen**: `2026-12-01T10:00:00Z`" in body
    assert "- **Last Seen**: `2026-12-04T09:30:00Z`" in body
    assert "- **Total Occurrences**: 7" in body
    assert "- **URL**: `https://shop.example.com/orders/?page=2`" in body
    assert "release: `backend@1.4.2`" in body
    assert f"[`BACKEND-1`]({ISSUE_URL})" in body
    assert "**Project**: `backend-prod`" in body
    assert f"**Trace ID**: `{'a' * 32}`" in body


def test_body_carries_hidden_marker() -> None:
    issue = make_issue()
    body = render_issue(PROJECT, issue, make_event(), ISSUE_URL).body

    assert body.startswith(f"<!-- bugsink-issue-id: {issue.id} -->")
    assert marker_for(issue.id) in body


def test_marker_cannot_be_closed_by_issue_id() -> None:
    marker = marker_for("abc --> <b>x</b>")

    assert marker == "<!-- bugsink-issue-id: abc--bxb -->"
    assert marker.count("-->") == 1


def test_stacktrace_is_collapsed_and_has_no_locals() -> None:
    body = render_issue(PROJECT, make_issue(), make_event(), ISSUE_URL).body

    details = body[body.index("<details>") : body.index("</details>")]
    assert "<summary>Click to expand</summary>" in details
    assert 'File "api/views.py", line 42, in create_order' in details
    assert "quantity = int(request.POST['qty'])" in details
    assert "hunter2" not in body


def test_title_prefixes_project_and_is_capped() -> None:
    issue = make_issue(calculated_value="x" * 400)
    title = render_issue(PROJECT, issue, None, ISSUE_URL).title

    assert title.startswith("[Backend] ValueError: xxx")
    assert len(title) == MAX_TITLE_CHARS


def test_title_neutralizes_mentions_and_references() -> None:
    issue = make_issue(calculated_value="user @admin broke #12\nsecond line")
    title = render_issue(PROJECT, issue, None, ISSUE_URL).title

    assert "@admin" not in title
    assert "#12" not in title
    assert "second line" not in title


def test_event_without_stacktrace_still_renders() -> None:
    event = make_event(exception=None, logentry={"formatted": "disk almost full"}, level="warning")
    issue = make_issue(calculated_type="", calculated_value="disk almost full")

    rendered = render_issue(PROJECT, issue, event, ISSUE_URL)

    assert rendered.title == "[Backend] disk almost full"
    assert "_The latest event has no stacktrace._" in rendered.body
    assert "<details>" not in rendered.body
    assert "| **Level** | `warning` |" in rendered.body


def test_pruned_issue_renders_from_issue_fields() -> None:
    rendered = render_issue(PROJECT, make_issue(), None, ISSUE_URL)

    assert "removed by retention" in rendered.body
    assert "- **Total Occurrences**: 7" in rendered.body


def test_untrusted_message_cannot_break_layout() -> None:
    hostile = "see </details> and ```` fence and @admin #12 | pipe\nsecond line"
    body = render_issue(PROJECT, make_issue(calculated_value=hostile), make_event(), ISSUE_URL).body

    assert (
        "| **Message** | `````see </details> and ```` fence and @admin #12 \\| pipe second line````` |"
        in body
    )
    assert fence_balance_ok(body)
    # Only the template's own details block is outside code.
    assert body.count("\n</details>") == 1


def test_code_span_fence_outgrows_backticks() -> None:
    assert code_span("a `b` c") == "``a `b` c``"
    assert code_span("`start") == "`` `start ``"
    assert code_span("") == "_none_"


def test_code_block_fence_outgrows_backticks() -> None:
    block = code_block("x\n`````\ny")

    assert block.startswith("``````\n")
    assert block.endswith("\n``````")


def test_control_characters_are_replaced() -> None:
    body = render_issue(
        PROJECT, make_issue(calculated_value="nul\x00bell\x07"), None, ISSUE_URL
    ).body

    assert "\x00" not in body
    assert "\x07" not in body
    assert "nul\ufffdbell\ufffd" in body


def test_huge_event_is_capped_and_says_so() -> None:
    frames = [
        {
            "filename": f"module_{index}.py",
            "lineno": index,
            "function": f"step_{index}",
            "context_line": "call()" * 20,
        }
        for index in range(5000)
    ]
    event = make_event(
        exception={
            "values": [
                {"type": "RecursionError", "value": "deep", "stacktrace": {"frames": frames}}
            ]
        }
    )
    issue = make_issue(calculated_value="m" * 10_000_000)

    body = render_issue(PROJECT, issue, event, ISSUE_URL).body

    assert len(body) <= MAX_BODY_CHARS
    assert "stack frames were left out" in body
    assert "The message was cut" in body
    assert "module_4999.py" in body  # the frame nearest the error is kept
    assert fence_balance_ok(body)


def test_many_chained_exceptions_fit_under_cap() -> None:
    values = [
        {
            "type": f"Error{index}",
            "value": "v" * 500,
            "stacktrace": {"frames": [{"filename": "a.py", "function": "f"}]},
        }
        for index in range(400)
    ]
    body = render_issue(
        PROJECT, make_issue(), make_event(exception={"values": values}), ISSUE_URL
    ).body

    assert len(body) <= MAX_BODY_CHARS
    assert "The stacktrace was cut" in body
    assert fence_balance_ok(body)
