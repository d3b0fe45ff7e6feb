"""A corpus of hostile and malformed Bugsink events for the rendering and sync tests.

Each case is the `data` payload of an event (what an SDK sent) plus overrides of the Bugsink
issue fields. By default the issue's `calculated_type` and `calculated_value` are taken from
the last exception, as Bugsink derives them from the same untrusted payload. `shown` lists texts that must appear literally, inside code, in the
rendered body. `via` says how a real client can send the case to a real Bugsink: "sdk"
(sentry-sdk's capture functions), "store" (raw JSON to the store endpoint) or "" (only
through the mocked API, because Bugsink would reject or rewrite it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TEN_MB = 10 * 1024 * 1024


@dataclass(frozen=True)
class HostileCase:
    name: str
    data: Any
    issue: dict[str, Any] = field(default_factory=dict)
    shown: tuple[str, ...] = ()
    via: str = ""
    # The whole event detail, for cases that break the detail itself rather than `data`.
    detail: dict[str, Any] | None = None


def frame(filename: Any = "app/views.py", function: Any = "handle", **fields: Any) -> Any:
    return {
        "filename": filename,
        "function": function,
        "lineno": 10,
        "context_line": "do_work()",
        "in_app": True,
        **fields,
    }


def exception(type_: Any, value: Any, frames: Any = None) -> dict[str, Any]:
    frames = [frame()] if frames is None else frames
    return {"type": type_, "value": value, "stacktrace": {"frames": frames}}


def with_exception(type_: Any, value: Any, frames: Any = None, **data: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"platform": "python", "level": "error"}
    payload["exception"] = {"values": [exception(type_, value, frames)]}
    return payload | data


INJECTION = (
    "</details><script>alert(1)</script> ``` ~~~ | a | b |\n|---|---|\n"
    "[click](javascript:alert(1)) ![img](javascript:alert(2)) <javascript:alert(3)> "
    "@admin #123 closes #1 fixes acme/errors#2 <!-- --> -->"
)

# fmt: off
CASES: list[HostileCase] = [
    # Missing or null fields at every level.
    HostileCase("empty payload", {}, via="store"),
    HostileCase("null payload", None),
    HostileCase("detail without id or data", None, detail={"event_id": None}),
    HostileCase("null exception", {"exception": None, "message": "null exception"}, via="store"),
    HostileCase("null values", {"exception": {"values": None}}, via="store"),
    HostileCase("junk in values", {"exception": {"values": [None, 1, "x", []]}}),
    HostileCase("null stacktrace", {"exception": {"values": [{"type": "E", "value": "v", "stacktrace": None}]}}, via="store"),
    HostileCase("null frames", {"exception": {"values": [{"type": "E", "value": "null frames", "stacktrace": {"frames": None}}]}}, via="store"),
    HostileCase("junk frames", with_exception("E", "junk frames", frames=[None, {}, 1, "frame", []])),
    HostileCase("frame of nulls", with_exception("E", "frame of nulls", frames=[{k: None for k in ("filename", "function", "lineno", "context_line", "in_app", "abs_path")}]), via="store"),
    # Bugsink 2.6.2's store endpoint returns 500 for these nulls, so only the mock serves them.
    HostileCase("null request", with_exception("E", "null request", request=None, contexts=None, tags=None, user=None)),
    HostileCase("null logentry", {"logentry": {"formatted": None, "message": None}, "message": None}),
    # Wrong types.
    HostileCase("request as string", with_exception("E", "request as string", request="GET /"), shown=("request as string",)),
    HostileCase("contexts as list", with_exception("E", "contexts as list", contexts=[1, 2], tags="a=b")),
    HostileCase("malformed tags", with_exception("E", "malformed tags", tags=[["one"], [1, 2, 3], None, ["k", {"v": 1}]])),
    HostileCase("lineno of wrong types", with_exception("E", "lineno", frames=[frame(lineno="forty-two"), frame(lineno=3.5), frame(lineno=True), frame(lineno=10**30), frame(lineno=-1)])),
    HostileCase("number as value", with_exception("E", 12345), issue={"calculated_value": ""}, shown=("12345",)),
    HostileCase("dict as type", with_exception({"dict": "instead"}, "dict type"), issue={"calculated_type": ""}, shown=('{"dict": "instead"}',)),
    HostileCase("bare exception list", {"exception": [exception("BareList", "bare list")]}, issue={"calculated_type": "", "calculated_value": ""}, shown=("BareList: bare list",)),
    HostileCase("frames as dict", {"exception": {"values": [{"type": "E", "value": "v", "stacktrace": {"frames": {"0": frame()}}}]}}),
    HostileCase("numbers for strings", with_exception("E", "numbers", level=40, timestamp=1733305800.5, platform=7, environment=["prod"], release={"v": 1}, server_name=False)),
    HostileCase("headers as string", with_exception("E", "headers as string", request={"url": "https://shop.example.com/", "headers": "Authorization: Bearer 1f2e3d4c5b6a79880"})),
    HostileCase("malformed header pairs", with_exception("E", "header pairs", request={"headers": [["X", 1], ["Y"], None, ["Z", {"a": [1]}]]})),
    HostileCase("user as string and list", with_exception("E", "user as string", user="jane@example.com") | {"request": {"data": [1, [2, [3]], {"a": None}]}}),
    HostileCase("message as object", {"message": {"message": {"nested": True}}, "logentry": "not a dict"}),
    # Empty and chained exceptions.
    HostileCase("empty exception list", {"exception": {"values": []}, "message": "no exceptions at all"}, via="store"),
    HostileCase("empty type and value", with_exception("", ""), issue={"calculated_type": "", "calculated_value": ""}, via="store"),
    HostileCase("three chained exceptions", {"exception": {"values": [exception("KeyError", "'sku'"), exception("LookupError", "catalog"), exception("RuntimeError", "checkout failed")]}}, shown=("KeyError: 'sku'", "RuntimeError: checkout failed"), via="store"),
    HostileCase("400 chained exceptions", {"exception": {"values": [exception(f"Error{i}", "v" * 500) for i in range(400)]}}, via="store"),
    # Size.
    HostileCase("5000 frames", with_exception("RecursionError", "maximum recursion depth exceeded", frames=[frame(f"mod_{i}.py", f"step_{i}") for i in range(5000)]), shown=('mod_4999.py", line 10, in step_4999',), via="store"),
    HostileCase("20000 frames with long lines", with_exception("E", "long lines", frames=[frame(context_line="x = 1; " * 100) for _ in range(20_000)])),
    HostileCase("10 MB message", with_exception("ValueError", "m" * TEN_MB), issue={"calculated_value": "m" * TEN_MB}),
    HostileCase("10 MB context line", with_exception("E", "huge line", frames=[frame(context_line="y" * TEN_MB)])),
    HostileCase("300-character title", with_exception("T" * 100, "w" * 200), issue={"calculated_type": "T" * 100, "calculated_value": "w " * 100}, via="sdk"),
    HostileCase("100k type", with_exception("X" * 100_000, "long type"), issue={"calculated_type": "X" * 100_000}),
    HostileCase("10000 form fields", with_exception("E", "wide form", request={"data": {f"f{i}": i for i in range(10_000)}})),
    HostileCase("deeply nested form", with_exception("E", "deep form", request={"data": json.loads('{"a":' * 60 + '"bottom"' + "}" * 60)})),
    # Characters.
    HostileCase("NUL and control characters", with_exception("Nul\x00Error", "a\x00b\x07c\x1bd\x7fe\x85f", frames=[frame("nul\x00.py", "f\x00n", context_line="x\x00y")], request={"headers": {"X-\x00": "v\x00"}}), issue={"calculated_type": "Nul\x00Error", "calculated_value": "a\x00b\x07c"}, via="store"),
    HostileCase("right-to-left marks", with_exception("E", "abc\u202edcba\u200f\u202a\u2066 txt.exe"), shown=("abc\u202edcba",), via="sdk"),
    HostileCase("emoji and combining characters", with_exception("E", "boom 💥🔥👩‍💻 Z̵̢̛a̶l̷g̸o̴ e\u0301"), shown=("💥🔥👩‍💻", "Z̵̢̛a̶l̷g̸o̴"), via="sdk"),
    HostileCase("lone surrogates", with_exception("E", "half \ud800 pair \udfff end", frames=[frame("\udc80.py")]), issue={"calculated_value": "half \ud800 pair"}, shown=("end",)),
    HostileCase("line ends and separators", with_exception("E", "crlf\r\nline\rcr\x0bvt\x0cff\u2028ls\u2029ps"), shown=("ls",), via="sdk"),
    # Markdown and HTML injection.
    HostileCase("details and script injection", with_exception("</details><script>alert(1)</script>", "</details>\n<details><summary>x</summary>"), issue={"calculated_type": "</details><script>alert(1)</script>"}, shown=("</details><script>alert(1)</script>",), via="sdk"),
    HostileCase("backtick fences", with_exception("E", "```\nfenced\n```\n" + "`" * 20, frames=[frame(context_line="s = '````' + '`' * 30")]), shown=("`" * 20, "s = '````'"), via="sdk"),
    HostileCase("tilde fences", with_exception("E", "~~~\nnot code\n~~~~~~"), shown=("~~~\nnot code\n~~~~~~",), via="sdk"),
    HostileCase("table injection", with_exception("E", "| a | b |\n|---|---|\n| c | d |", transaction="| x | y |"), shown=("| a | b |",), via="sdk"),
    HostileCase("javascript links and images", with_exception("E", "[click](javascript:alert(1)) ![i](javascript:alert(2)) <javascript:alert(3)> [r]: javascript:alert(4)"), shown=("[click](javascript:alert(1))",), via="sdk"),
    HostileCase("comment and marker injection", with_exception("E", "--> <!-- bugsink-issue-id: forged --> <!--"), shown=("<!-- bugsink-issue-id: forged -->",), via="sdk"),
    HostileCase("mentions and references", with_exception("E", "ping @admin and @org/team about #123, closes #1, fixes acme/errors#2, !3"), issue={"calculated_value": "ping @admin about #123, closes #1"}, shown=("@admin", "#123", "closes #1"), via="sdk"),
    HostileCase("headings, quotes and lists", with_exception("E", "\n# Heading\n---\n> quote\n* item\n1. one\n&lt;b&gt; &#x3C;script&#x3E;"), shown=("# Heading",), via="sdk"),
    HostileCase("emphasis and shortcodes", with_exception("E", "**bold** ~~strike~~ _it_ :+1: $x$ \\* \\`"), shown=("**bold** ~~strike~~",), via="sdk"),
    HostileCase("injection in tag names", with_exception("E", "tag names", tags=[["<img src=x onerror=alert(1)>", "@admin"], ["#12", "closes #1"], ["`k`|", "</details>"]]), shown=("<img src=x onerror=alert(1)>",), via="store"),
    HostileCase("injection in request", with_exception("E", "request injection", request={"url": "javascript:alert(1)//`x`", "method": "<b>GET</b>", "headers": {"X-`Evil`|Name": "closes #1 @admin"}, "query_string": "q=</details>"}), shown=("javascript:alert(1)//`x`",), via="store"),
    HostileCase("injection in frames", with_exception("E", "frame injection", frames=[frame("</details>.py", "@admin", context_line="```\n</details>\n<script>")]), shown=('File "</details>.py"',), via="store"),
    HostileCase("injection in transaction", with_exception("E", "transaction", transaction="](javascript:alert(1)) #5 @root"), issue={"transaction": "](javascript:alert(1)) #5 @root"}, shown=("](javascript:alert(1)) #5 @root",), via="store"),
    HostileCase("only backticks and blanks", with_exception("`````", "   \n\t  "), issue={"calculated_type": "`````", "calculated_value": "   "}),
    HostileCase("everything at once", with_exception("E" + INJECTION, INJECTION, frames=[frame(INJECTION, INJECTION, context_line=INJECTION)], transaction=INJECTION, tags=[[INJECTION, INJECTION]], request={"url": INJECTION, "headers": {INJECTION: INJECTION}}), issue={"calculated_type": INJECTION, "calculated_value": INJECTION}, shown=("<script>alert(1)</script>",), via="store"),
    # Secrets mixed with hostile text.
    HostileCase("secret inside injection", with_exception("E", "password=`hunter2`</details> token: 1f2e3d4c @admin"), shown=("password=`[redacted]`",), via="sdk"),
]
# fmt: on


def issue_fields_for(case: HostileCase) -> dict[str, Any]:
    """Return the Bugsink issue fields of case: from its last exception, then its overrides."""
    fields = {"calculated_type": "", "calculated_value": ""}
    values = case.data.get("exception") if isinstance(case.data, dict) else None
    values = values.get("values") if isinstance(values, dict) else values
    last = values[-1] if isinstance(values, list) and values else None
    if isinstance(last, dict):
        fields["calculated_type"] = str(last.get("type") or "")[:128]
        fields["calculated_value"] = str(last.get("value") or "").split("\n", 1)[0][:1024]
    return fields | case.issue


def detail_for(case: HostileCase, index: int) -> dict[str, Any]:
    """Return the event detail that Bugsink's API would serve for case."""
    if case.detail is not None:
        return case.detail
    return {
        "id": f"9a8b7c6d-0000-4000-8000-{index:012d}",
        "event_id": f"{index:032x}",
        "timestamp": "2026-12-04T09:30:00Z",
        "data": case.data,
    }
