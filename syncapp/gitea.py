"""Client for the Gitea API v1 (endpoints as described by Gitea 1.27's swagger at /api/swagger).

Responses become the typed objects below at this boundary.
"""

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from syncapp.conf import SyncConfig
from syncapp.http import ApiError, ApiSession

logger = logging.getLogger(__name__)

# Gitea caps every page at its MAX_RESPONSE_ITEMS setting, 50 by default.
PAGE_SIZE = 50
# MySQL's error 1366, which Gitea passes on in its 500 answer when a column uses the 3-byte
# `utf8` charset and the text has a 4-byte character (an emoji, for example).
INCORRECT_STRING_VALUE = "incorrect string value"


class IssueDraft(Protocol):
    """A rendered issue that can be rendered again smaller or without 4-byte characters."""

    @property
    def title(self) -> str: ...

    @property
    def body(self) -> str: ...

    def shrink(self) -> "IssueDraft | None": ...

    def without_four_byte_characters(self) -> "IssueDraft": ...


def is_body_too_large(error: ApiError) -> bool:
    """Return whether Gitea or its proxy rejected the request for its size (413)."""
    return error.status == 413


def is_unstorable_characters(error: ApiError) -> bool:
    """Return whether Gitea returned 500 because its MySQL database cannot store a character.

    NOTE: Gitea in production mode (RUN_MODE=prod) sends the database's message in a 500
    only to site administrators; for other tokens the message is empty, this returns False,
    and the issue fails like any 500 until the database uses utf8mb4.
    """
    return error.status == 500 and INCORRECT_STRING_VALUE in error.detail.lower()


@dataclass(frozen=True)
class GiteaLabel:
    id: int
    name: str
    color: str

    @classmethod
    def from_api(cls, payload: Mapping[str, Any]) -> "GiteaLabel":
        return cls(
            id=int(payload["id"]),
            name=str(payload["name"]),
            color=str(payload.get("color") or "").lstrip("#").lower(),
        )


@dataclass(frozen=True)
class GiteaIssue:
    number: int
    title: str
    body: str
    state: str
    html_url: str
    label_names: tuple[str, ...]
    created_at: str = ""

    @classmethod
    def from_api(cls, payload: Mapping[str, Any]) -> "GiteaIssue":
        return cls(
            number=int(payload["number"]),
            title=str(payload.get("title") or ""),
            body=str(payload.get("body") or ""),
            state=str(payload.get("state") or ""),
            html_url=str(payload.get("html_url") or ""),
            label_names=tuple(str(label.get("name")) for label in payload.get("labels") or []),
            created_at=str(payload.get("created_at") or ""),
        )


class GiteaClient:
    def __init__(self, config: SyncConfig, **session_options: Any) -> None:
        self.owner = config.gitea_owner
        self.repo = config.gitea_repo
        self.repo_path = f"api/v1/repos/{config.gitea_owner}/{config.gitea_repo}"
        self.http = ApiSession.for_config(
            config,
            service="Gitea",
            base_url=config.gitea_url,
            authorization=f"token {config.gitea_token.reveal()}",
            **session_options,
        )

    def explain_status(self, status: int, url: str) -> str:
        full_name = f"{self.owner}/{self.repo}"
        if status == 401:
            return "Gitea rejected GITEA_API_TOKEN; create a new access token and set it"
        if status == 403:
            return (
                f"GITEA_API_TOKEN is not allowed to do this in {full_name}; it needs the "
                f"write:issue scope and write access to the repository"
            )
        if status == 404:
            return (
                f"Check GITEA_OWNER and GITEA_REPO ({full_name}), and that the token's user can "
                f"see the repository"
            )
        if status == 422:
            return "Gitea rejected the data sent; the detail above names the field"
        if status == 423:
            return f"Repository {full_name} is archived; unarchive it or set another GITEA_REPO"
        return ""

    def check_repository(self) -> None:
        """Fail early, with a clear error, when the repository is missing or archived."""
        payload = self.http.request("GET", self.repo_path, explain=self.explain_status).json()
        if payload.get("archived"):
            hint = self.explain_status(423, self.repo_path)
            raise ApiError(
                f"Gitea repository {self.owner}/{self.repo} is archived: {hint}",
                service="Gitea",
                method="GET",
                url=self.http.url_for(self.repo_path),
                status=423,
            )

    def list_labels(self) -> list[GiteaLabel]:
        """Return every label of the repository (GET /repos/{owner}/{repo}/labels, all pages)."""
        return [
            GiteaLabel.from_api(item) for item in self._walk_pages(f"{self.repo_path}/labels", {})
        ]

    def create_label(self, name: str, color: str, description: str) -> GiteaLabel:
        """Create a label (POST /repos/{owner}/{repo}/labels); color is hex without '#'."""
        payload = self.http.request(
            "POST",
            f"{self.repo_path}/labels",
            json={"name": name, "color": f"#{color}", "description": description},
            explain=self.explain_status,
        ).json()
        return GiteaLabel.from_api(payload)

    def edit_label_color(self, label_id: int, color: str) -> GiteaLabel:
        """Set a label's colour (PATCH /repos/{owner}/{repo}/labels/{id})."""
        payload = self.http.request(
            "PATCH",
            f"{self.repo_path}/labels/{label_id}",
            json={"color": f"#{color}"},
            idempotent=True,
            explain=self.explain_status,
        ).json()
        return GiteaLabel.from_api(payload)

    def create_issue(self, title: str, body: str, label_ids: list[int]) -> GiteaIssue:
        """Create an issue (POST /repos/{owner}/{repo}/issues). Never retried automatically:
        a retry after a lost response could file the same issue twice."""
        payload = self.http.request(
            "POST",
            f"{self.repo_path}/issues",
            json={"title": title, "body": body, "labels": label_ids},
            idempotent=False,
            explain=self.explain_status,
        ).json()
        return GiteaIssue.from_api(payload)

    def create_issue_with_fallbacks(self, draft: IssueDraft, label_ids: list[int]) -> GiteaIssue:
        """Create the issue from draft, retrying once after each of two definite rejections.

        After a 413 the draft is sent again shrunk. After a 500 "Incorrect string value" it is
        sent again with its 4-byte characters replaced. Each fallback is used at most once, and
        only when it changes the draft. Every other error, and a rejection that no fallback
        can help, is raised as it came (ApiError), so the same body is never sent twice.
        """
        shrunk = replaced = False
        while True:
            try:
                return self.create_issue(draft.title, draft.body, label_ids)
            except ApiError as error:
                if is_body_too_large(error) and not shrunk:
                    shrunk = True
                    fallback = draft.shrink()
                elif is_unstorable_characters(error) and not replaced:
                    replaced = True
                    fallback = draft.without_four_byte_characters()
                else:
                    raise
                if fallback is None or (fallback.title, fallback.body) == (draft.title, draft.body):
                    raise
                if is_body_too_large(error) and len(fallback.body) >= len(draft.body):
                    raise
                logger.warning(
                    "Gitea returned %s for creating issue %r; sending it once more %s "
                    "(body %d instead of %d characters)",
                    error.status,
                    draft.title,
                    "shortened" if is_body_too_large(error) else "without 4-byte characters",
                    len(fallback.body),
                    len(draft.body),
                )
                draft = fallback

    def get_issue(self, number: int) -> GiteaIssue | None:
        """Return the issue (GET /repos/{owner}/{repo}/issues/{index}), None if it was deleted."""
        try:
            payload = self.http.request(
                "GET", f"{self.repo_path}/issues/{number}", explain=self.explain_status
            ).json()
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return GiteaIssue.from_api(payload)

    def reopen_issue(self, number: int) -> None:
        """Set the issue's state to open (PATCH /repos/{owner}/{repo}/issues/{index})."""
        self.http.request(
            "PATCH",
            f"{self.repo_path}/issues/{number}",
            json={"state": "open"},
            idempotent=True,
            explain=self.explain_status,
        )

    def list_comment_bodies(self, number: int) -> list[str]:
        """Return the bodies of the issue's comments (GET .../issues/{index}/comments)."""
        payload = self.http.request(
            "GET", f"{self.repo_path}/issues/{number}/comments", explain=self.explain_status
        ).json()
        return [str(comment.get("body") or "") for comment in payload or []]

    def add_comment(self, number: int, body: str) -> None:
        """Comment on the issue (POST /repos/{owner}/{repo}/issues/{index}/comments)."""
        self.http.request(
            "POST",
            f"{self.repo_path}/issues/{number}/comments",
            json={"body": body},
            idempotent=False,
            explain=self.explain_status,
        )

    def iter_issues(self) -> Iterator[GiteaIssue]:
        """Yield every issue of the repository, open and closed (GET .../issues, all pages)."""
        params = {"state": "all", "type": "issues"}
        for item in self._walk_pages(f"{self.repo_path}/issues", params):
            yield GiteaIssue.from_api(item)

    def find_issue_by_marker(self, marker: str, since: str) -> GiteaIssue | None:
        """Return the issue whose body contains marker among those updated since an ISO time.

        GET /repos/{owner}/{repo}/issues with state=all, so closed ones are found too.
        """
        params = {"state": "all", "type": "issues", "since": since}
        for item in self._walk_pages(f"{self.repo_path}/issues", params):
            if marker in str(item.get("body") or ""):
                return GiteaIssue.from_api(item)
        return None

    def _walk_pages(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Yield items page by page until the last page.

        Gitea sends X-Total-Count on its lists but a Link header only on some (not on labels),
        and a server's MAX_RESPONSE_ITEMS may cap pages below PAGE_SIZE. So a next page is read
        while the total is not reached, or, without a total, while a Link names a next page
        or the page came back full.
        """
        page = 1
        seen = 0
        while True:
            response = self.http.request(
                "GET",
                path,
                params=dict(params, page=page, limit=PAGE_SIZE),
                explain=self.explain_status,
            )
            items = response.json() or []
            yield from items

            seen += len(items)
            total = response.headers.get("X-Total-Count", "")
            if not items:
                return
            if total.isdigit():
                if seen >= int(total):
                    return
            elif "next" not in response.links and len(items) < PAGE_SIZE:
                return
            page += 1
