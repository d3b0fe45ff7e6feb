"""Checks that a rendered Gitea issue is valid Markdown that shows untrusted text literally.

The body is rendered by markdown-it-py with its GitHub-Flavored-Markdown-like preset (tables,
strikethrough, raw HTML, linkify), which follows CommonMark as Gitea's renderer does.
"""

import html
import re

from markdown_it import MarkdownIt

from syncapp.rendering import MAX_BODY_CHARS, MAX_TITLE_CHARS

GFM = MarkdownIt("gfm-like")
CODE_ELEMENT = re.compile(r"<code[^>]*>(.*?)</code>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")
LINK_TARGET = re.compile(r"""(?:href|src)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
HEADINGS = ["Error Details", "Occurrence Statistics", "Request Context", "Stacktrace"]


def code_texts(rendered_html: str) -> str:
    """Return the text of every code element, unescaped, one per line."""
    return "\n".join(html.unescape(text) for text in CODE_ELEMENT.findall(rendered_html))


def text_outside_code(rendered_html: str) -> str:
    without_code = CODE_ELEMENT.sub(" ", rendered_html)
    return html.unescape(TAG.sub(" ", without_code))


def check_title(title: str) -> list[str]:
    """Return what is wrong with an issue title (an empty list when nothing is)."""
    problems = []
    if not title or len(title) > MAX_TITLE_CHARS:
        problems.append(f"title length {len(title)}")
    if "\n" in title or "\r" in title or "\x00" in title:
        problems.append("title has a line break or NUL")
    if re.search(r"#\d|@\w", title):
        problems.append("title has an issue reference or a mention")
    return problems


def check_body(body: str, issue_url: str, shown: tuple[str, ...] = ()) -> list[str]:
    """Return what is wrong with an issue body (an empty list when nothing is)."""
    problems = []
    if len(body) > MAX_BODY_CHARS:
        problems.append(f"body has {len(body)} characters")
    if "\x00" in body:
        problems.append("body has a NUL character")
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        problems.append("body is not valid UTF-8 (lone surrogate)")
        return problems

    rendered = GFM.render(body)
    details = rendered.count("<details>")
    if details > 1 or details != rendered.count("</details>"):
        problems.append(f"{details} <details> and {rendered.count('</details>')} </details>")
    if details != rendered.count("<summary>"):
        problems.append("a <details> without its summary")
    if re.search(r"<script|<img|<iframe|<h1|<h3", rendered, re.IGNORECASE):
        problems.append("body renders an element from untrusted text")
    if rendered.count("<table>") != 1:
        problems.append(f"{rendered.count('<table>')} tables")
    if [heading for heading in HEADINGS if f"<h2>{heading}</h2>" not in rendered]:
        problems.append("a section heading is missing")
    if rendered.count("<h2>") != len(HEADINGS):
        problems.append(f"{rendered.count('<h2>')} h2 headings")
    if rendered.count("<!--") != 1 or not rendered.startswith("<!-- bugsink-issue-id: "):
        problems.append("the marker is not the only HTML comment")
    targets = LINK_TARGET.findall(rendered)
    if targets != [html.escape(issue_url)]:
        problems.append(f"links other than the Bugsink issue: {targets[:5]}")

    outside = text_outside_code(rendered)
    for pattern in (r"@\w", r"#\d", r"(?i)javascript:", r"(?i)closes\s", r"<script"):
        if re.search(pattern, outside):
            problems.append(f"{pattern!r} outside code: {re.search(pattern, outside)}")
    inside = code_texts(rendered)
    for text in shown:
        if text not in inside:
            problems.append(f"{text[:60]!r} is not shown literally inside code")
    return problems
