"""Query parsing and pagination of Gitea 1.27 list endpoints, for the stand-in.

Sources: routers/api/v1/utils.GetListOptions and convert.ToCorrectPageSize (page size),
modules/setting/api.go (defaults), modules/paginator and services/context/api.go
genAPILinks (Link header), services/context GetQueryBeforeSince (since/before).
"""

from __future__ import annotations

import math
from datetime import datetime
from urllib.parse import urlencode

# Gitea's [api] DEFAULT_PAGING_NUM and MAX_RESPONSE_ITEMS defaults.
DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 50


def form_int(value: str | None) -> int:
    """Read an integer like Gitea's ctx.FormInt: anything unparsable becomes 0."""
    try:
        return int(value or 0)
    except ValueError:
        return 0


def page_size(limit: str | None) -> int:
    """Apply the default page size to a missing or non-positive limit and cap it."""
    size = form_int(limit)
    if size <= 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def total_count_headers(total: int) -> dict[str, str]:
    return {"X-Total-Count": str(total), "Access-Control-Expose-Headers": "X-Total-Count"}


def link_header(
    app_url: str, path: str, query_pairs: list[tuple[str, str]], total: int, size: int, page: int
) -> str:
    """Build the Link header as genAPILinks does: next, last, first, prev, joined by commas.

    The paginator clamps the page to 1..last, so a page past the end links back to it.
    """
    total_pages = max(math.ceil(total / size), 1)
    current = min(max(page, 1), total_pages)
    has_next = total > current * size
    is_last = total == 0 or (total > (current - 1) * size and not has_next)

    links = []
    if has_next:
        links.append(_page_link(app_url, path, query_pairs, current + 1, "next"))
    if not is_last:
        links.append(_page_link(app_url, path, query_pairs, total_pages, "last"))
    if current != 1:
        links.append(_page_link(app_url, path, query_pairs, 1, "first"))
    if current > 1:
        links.append(_page_link(app_url, path, query_pairs, current - 1, "prev"))
    return ",".join(links)


def _page_link(
    app_url: str, path: str, query_pairs: list[tuple[str, str]], page: int, relation: str
) -> str:
    pairs = [(k, v) for k, v in query_pairs if k != "page"] + [("page", str(page))]
    # Go's url.Values.Encode sorts by key and keeps the order of values within a key.
    pairs.sort(key=lambda pair: pair[0])
    return f'<{app_url}{path.lstrip("/")}?{urlencode(pairs)}>; rel="{relation}"'


def parse_query_time(value: str | None) -> int | None:
    """Parse a since/before value to unix seconds, or raise ValueError (Gitea returns 422)."""
    if not value:
        return None
    try:
        return int(datetime.fromisoformat(value.upper()).timestamp())
    except ValueError as error:
        raise ValueError(f'parsing time "{value}": {error}') from error


def updated_within(moment: datetime, since: int | None, before: int | None) -> bool:
    # Both bounds are inclusive: Gitea's issue indexers compare updated_unix with >= and <=.
    stamp = int(moment.timestamp())
    return (since is None or stamp >= since) and (before is None or stamp <= before)
