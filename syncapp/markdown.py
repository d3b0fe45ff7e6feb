"""Markdown building blocks that show untrusted text literally.

Text from an error event can contain anything: `</details>`, runs of backticks, `@name`,
`#12`, NUL bytes. Inside code spans and fenced code blocks, Gitea's renderer parses no
Markdown or HTML and turns no mention or issue reference into a link or a notification. So
untrusted text only goes into those, with a fence longer than any backtick run inside.
"""

import re

BACKTICK_RUN = re.compile(r"`+")
# C0 controls except tab and newline, DEL, and C1 controls. NUL in particular cannot be
# stored by a PostgreSQL-backed Gitea.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
REPLACEMENT = "\ufffd"
# Characters outside the Basic Multilingual Plane take four bytes in UTF-8 (emoji, many CJK
# extensions, mathematical letters); MySQL's 3-byte `utf8` charset cannot store them.
FOUR_BYTE_CHARACTERS = re.compile("[\U00010000-\U0010ffff]")
# A number sign before digits would link an unrelated issue, and an at sign before a name
# would mention a user. Titles are not Markdown, so their signs become full-width ones.
ISSUE_REFERENCE = re.compile(r"#(?=\d)")
MENTION = re.compile(r"@(?=[\w.-])")


def clean_text(text: str) -> str:
    """Normalize line ends and replace control characters and lone surrogates."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = CONTROL_CHARACTERS.sub(REPLACEMENT, text)
    return text.encode("utf-8", errors="replace").decode("utf-8")


def replace_four_byte_characters(text: str) -> str:
    """Replace every character outside the Basic Multilingual Plane with U+FFFD."""
    return FOUR_BYTE_CHARACTERS.sub(REPLACEMENT, text)


def longest_backtick_run(text: str) -> int:
    return max((len(run) for run in BACKTICK_RUN.findall(text)), default=0)


def code_span(text: str, *, in_table: bool = False) -> str:
    """Return text as one inline code span; newlines become spaces.

    In a table cell a pipe ends the cell even inside a code span, so it is escaped; GitHub
    Flavored Markdown removes the backslash again when it renders the span.
    """
    text = " ".join(clean_text(text).split("\n"))
    if not text.strip():
        return "_none_"
    fence = "`" * (longest_backtick_run(text) + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def code_block(text: str, language: str = "") -> str:
    """Return text as a fenced code block that nothing inside can close early."""
    text = clean_text(text)
    fence = "`" * max(3, longest_backtick_run(text) + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def plain_title(text: str) -> str:
    """Return untrusted text made safe for an issue title: one line, no links or mentions."""
    text = " ".join(clean_text(text).split())
    text = ISSUE_REFERENCE.sub("\uff03", text)
    return MENTION.sub("\uff20", text)


def truncate(text: str, limit: int, marker: str = "…") -> tuple[str, bool]:
    """Return text cut to at most limit characters (marker included) and whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[: max(0, limit - len(marker))] + marker, True
