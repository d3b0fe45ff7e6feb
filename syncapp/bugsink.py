"""Client for Bugsink's canonical API (/api/canonical/0/, Bugsink 2.6).

Responses become the typed objects below at this boundary; event payloads are parsed by
syncapp.events. Endpoint descriptions: Bugsink's OpenAPI document, served by Bugsink itself.
"""

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from syncapp.conf import SyncConfig
from syncapp.events import BugsinkEvent, parse_event
from syncapp.http import ApiError, ApiSession

logger = logging.getLogger(__name__)

API_ROOT = "api/canonical/0"


@dataclass(frozen=True)
class BugsinkProject:
    id: int
    name: str
    slug: str


@dataclass(frozen=True)
class BugsinkIssue:
    id: str
    friendly_id: str
    project_id: int
    error_type: str
    error_value: str
    transaction: str
    first_seen: str
    last_seen: str
    event_count: int
    is_resolved: bool
    is_muted: bool

    @classmethod
    def from_api(cls, payload: Mapping[str, Any]) -> "BugsinkIssue":
        return cls(
            id=str(payload["id"]),
            friendly_id=str(payload.get("friendly_id") or payload["id"]),
            project_id=int(payload.get("project") or 0),
            error_type=str(payload.get("calculated_type") or ""),
            error_value=str(payload.get("calculated_value") or ""),
            transaction=str(payload.get("transaction") or ""),
            first_seen=str(payload.get("first_seen") or ""),
            last_seen=str(payload.get("last_seen") or ""),
            event_count=int(payload.get("digested_event_count") or 0),
            is_resolved=bool(payload.get("is_resolved")),
            is_muted=bool(payload.get("is_muted")),
        )


def explain_bugsink_status(status: int, url: str) -> str:
    if status == 401:
        return (
            "Bugsink rejected BUGSINK_API_TOKEN; create a new token with "
            "`bugsink-manage create_auth_token` and set it"
        )
    if status == 403:
        return (
            "BUGSINK_API_TOKEN lacks a capability this call needs (projects:read, issues:read, "
            "events:read and issues:triage are used); use a token with those rights"
        )
    if status == 404:
        return (
            "Check that BUGSINK_URL is Bugsink's base address (without /api) and "
            "that the project or issue still exists"
        )
    return ""


class BugsinkClient:
    def __init__(self, config: SyncConfig, **session_options: Any) -> None:
        self.base_url = config.bugsink_url
        self.http = ApiSession.for_config(
            config,
            service="Bugsink",
            base_url=config.bugsink_url,
            authorization=f"Bearer {config.bugsink_token.reveal()}",
            **session_options,
        )

    def issue_web_url(self, issue_id: str) -> str:
        return f"{self.base_url}/issues/issue/{quote(issue_id, safe='')}/"

    def list_projects(self) -> list[BugsinkProject]:
        """Return every project the token can read (GET /projects/, all pages)."""
        projects = []
        for page in self._walk_pages(f"{API_ROOT}/projects/", {}):
            for item in page:
                projects.append(
                    BugsinkProject(id=int(item["id"]), name=str(item["name"]), slug=item["slug"])
                )
        return projects

    def iter_issue_pages(
        self, project_id: int, *, include_muted: bool
    ) -> Iterator[list[BugsinkIssue]]:
        """Yield the project's unresolved issues page by page (GET /issues/).

        The API's default state is `all`, which would include resolved issues. `open` means
        neither resolved nor muted; `unresolved` includes muted issues. digest_order is the
        stable order: sorting by last_seen can skip or repeat issues while events arrive.
        """
        params = {
            "project": project_id,
            "state": "unresolved" if include_muted else "open",
            "sort": "digest_order",
            "order": "asc",
        }
        for page in self._walk_pages(f"{API_ROOT}/issues/", params):
            yield [BugsinkIssue.from_api(item) for item in page]

    def get_issue(self, issue_id: str) -> BugsinkIssue | None:
        """Return the issue (GET /issues/{id}/), or None when it was deleted."""
        try:
            payload = self.http.request(
                "GET", f"{API_ROOT}/issues/{issue_id}/", explain=explain_bugsink_status
            ).json()
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return BugsinkIssue.from_api(payload)

    def latest_event(self, issue_id: str) -> BugsinkEvent | None:
        """Return the issue's newest event with its payload, or None when retention pruned all.

        GET /events/?issue=…&order=desc lists events without payload; the detail has `data`.
        """
        listing = self.http.request(
            "GET",
            f"{API_ROOT}/events/",
            params={"issue": issue_id, "order": "desc"},
            explain=explain_bugsink_status,
        ).json()
        results = listing.get("results") or []
        if not results:
            return None
        event_id = results[0]["id"]
        detail = self.http.request(
            "GET", f"{API_ROOT}/events/{event_id}/", explain=explain_bugsink_status
        ).json()
        return parse_event(detail)

    def resolve_issue(self, issue_id: str) -> None:
        """Mark the issue resolved (POST /issues/{id}/resolve/); already resolved is success."""
        try:
            self.http.request(
                "POST",
                f"{API_ROOT}/issues/{issue_id}/resolve/",
                idempotent=True,
                explain=explain_bugsink_status,
            )
        except ApiError as error:
            if error.status == 400 and "resolved" in error.detail.lower():
                logger.info("bugsink_issue=%s was already resolved", issue_id)
                return
            raise

    def _walk_pages(self, path: str, params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's results, following the cursor from `next` on BUGSINK_URL.

        Only the cursor is taken from `next`: behind a misconfigured proxy its scheme, host or
        path can be wrong, and the token must only go to BUGSINK_URL's origin.
        """
        cursor: str | None = None
        expected_path = urlsplit(self.http.url_for(path)).path
        while True:
            query = dict(params, cursor=cursor) if cursor else dict(params)
            payload = self.http.request(
                "GET", path, params=query, explain=explain_bugsink_status
            ).json()
            yield list(payload.get("results") or [])

            next_url = payload.get("next")
            if not next_url:
                return
            next_parts = urlsplit(next_url)
            if not self.http.is_same_origin(next_url) or next_parts.path != expected_path:
                logger.warning(
                    "Bugsink's next link points to %s://%s%s instead of BUGSINK_URL %s; "
                    "only its cursor is used (check Bugsink's BASE_URL or proxy headers)",
                    next_parts.scheme,
                    next_parts.netloc,
                    next_parts.path,
                    self.base_url,
                )
            cursors = parse_qs(next_parts.query).get("cursor")
            if not cursors or cursors[0] == cursor:
                return
            cursor = cursors[0]
