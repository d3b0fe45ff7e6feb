"""The repository state of the Gitea stand-in and the rules Gitea 1.27 applies to it.

Each public handler takes an ApiRequest and returns a Reply. HTTP and authentication live in
gitea_standin.py, the JSON shapes in gitea_standin_model.py. The behaviour was read from
Gitea's source (label.go, issue.go and issue_comment.go in routers/api/v1/repo, models/issues,
modules/label/label.go), and each quirk is noted where it is modelled.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.gitea_standin_model import (
    TOKEN_USER_LOGIN,
    RepositoryUrls,
    StoredComment,
    StoredIssue,
    StoredLabel,
    comment_json,
    issue_json,
    label_json,
)
from tests.gitea_standin_paging import (
    form_int,
    link_header,
    page_size,
    parse_query_time,
    total_count_headers,
    updated_within,
)

NOT_FOUND_MESSAGE = "The target couldn't be found."
_COLOR_PATTERN = re.compile(r"#?(?:[0-9a-f]{6}|[0-9a-f]{3})")


@dataclass
class ApiRequest:
    """What a handler needs from an HTTP request that already passed the contract check."""

    path: str
    path_params: dict[str, str]
    query_pairs: list[tuple[str, str]]
    payload: Any = None

    @property
    def query(self) -> dict[str, str]:
        """The first value of each query parameter, as Gitea's ctx.FormString reads it."""
        first: dict[str, str] = {}
        for name, value in self.query_pairs:
            first.setdefault(name, value)
        return first


@dataclass
class Reply:
    status: int
    payload: Any = None  # JSON-serialisable, or None for no body
    headers: dict[str, str] = field(default_factory=dict)


def normalize_color(color: str) -> str:
    """Normalise a label colour like Gitea's label.NormalizeColor, or raise ValueError."""
    color = color.strip().lower()
    if len(color) in (3, 6):
        color = "#" + color
    if not _COLOR_PATTERN.fullmatch(color):
        raise ValueError(f"bad color code: {color}")
    if len(color) == 4:
        color = "#" + "".join(channel * 2 for channel in color[1:])
    return color


class StandinRepository:
    """One Gitea repository with labels, issues and comments, guarded by one lock."""

    def __init__(self, owner: str, name: str, now: Callable[[], datetime]) -> None:
        self.owner = owner
        self.name = name
        self.now = now
        self.app_url = "http://127.0.0.1/"  # replaced by the server URL once it listens
        self.lock = threading.RLock()
        self.labels: dict[int, StoredLabel] = {}
        self.issues: dict[int, StoredIssue] = {}
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.labels.clear()
            self.issues.clear()
            self._next_label_id = 1
            self._next_issue_number = 1
            # Issue and comment ids are global in Gitea. Distinct ranges keep an id from
            # being mistaken for an issue number.
            self._next_issue_id = 1001
            self._next_comment_id = 5001

    # Seeding helpers for tests, which change the state without an HTTP request.

    def add_label(
        self, name: str, color: str = "#e11d48", description: str = "", exclusive: bool = False
    ) -> StoredLabel:
        with self.lock:
            label = StoredLabel(
                id=self._next_label_id,
                name=name,
                color=normalize_color(color),
                description=description,
                exclusive=exclusive,
            )
            self._next_label_id += 1
            self.labels[label.id] = label
            return label

    def add_issue(
        self,
        title: str,
        body: str = "",
        labels: Iterable[int | str] = (),
        state: str = "open",
        created_at: datetime | None = None,
    ) -> StoredIssue:
        """Store an issue with labels given as ids or as names of existing labels."""
        with self.lock:
            moment = _whole_seconds(created_at or self.now())
            label_ids = [self._label_id(label) for label in labels]
            issue = StoredIssue(
                number=self._next_issue_number,
                id=self._next_issue_id,
                title=title,
                body=body,
                state=state,
                label_ids=label_ids,
                created_at=moment,
                updated_at=moment,
                closed_at=moment if state == "closed" else None,
            )
            self._next_issue_number += 1
            self._next_issue_id += 1
            self.issues[issue.number] = issue
            return issue

    def add_comment(self, number: int, body: str) -> StoredComment:
        with self.lock:
            moment = _whole_seconds(self.now())
            comment = StoredComment(self._next_comment_id, body, moment, moment)
            self._next_comment_id += 1
            issue = self.issues[number]
            issue.comments.append(comment)
            issue.updated_at = moment
            return comment

    # Handlers, keyed by the operationId of the API description.

    def handlers(self) -> dict[str, Callable[[ApiRequest], Reply]]:
        return {
            "issueListLabels": self.list_labels,
            "issueCreateLabel": self.create_label,
            "issueGetLabel": self.get_label,
            "issueEditLabel": self.edit_label,
            "issueListIssues": self.list_issues,
            "issueCreateIssue": self.create_issue,
            "issueGetIssue": self.get_issue,
            "issueEditIssue": self.edit_issue,
            "issueDelete": self.delete_issue,
            "issueGetComments": self.list_comments,
            "issueCreateComment": self.create_comment,
        }

    def list_labels(self, request: ApiRequest) -> Reply:
        labels = sorted(self.labels.values(), key=lambda label: (label.name, label.id))
        total = len(labels)
        # ListLabels sets X-Total-Count but, unlike the issue list, no Link header.
        # NOTE: GetLabelsByRepoID in a Gitea 1.2x source paginates only when a page is given,
        # so no page returns every label. The 1.27 version of that function was not seen.
        page = form_int(request.query.get("page"))
        if page != 0:
            size = page_size(request.query.get("limit"))
            start = (max(page, 1) - 1) * size
            labels = labels[start : start + size]
        return Reply(
            200, [label_json(self.urls, label) for label in labels], total_count_headers(total)
        )

    def create_label(self, request: ApiRequest) -> Reply:
        form = request.payload or {}
        for field_name in ("name", "color"):
            if not form.get(field_name):
                return self.error(422, f"[{field_name.capitalize()}]: Required")
        try:
            color = normalize_color(form["color"])
        except ValueError as error:
            return self.error(422, str(error))

        # Gitea has no uniqueness check on label names (models/issues/label.go NewLabel is a
        # plain insert), so a second label with an existing name is created with 201.
        label = self.add_label(
            form["name"], color, form.get("description", ""), form.get("exclusive", False)
        )
        label.is_archived = form.get("is_archived", False)
        return Reply(201, label_json(self.urls, label))

    def get_label(self, request: ApiRequest) -> Reply:
        label = self.labels.get(form_int(request.path_params["id"]))
        if label is None:
            return self.not_found()
        return Reply(200, label_json(self.urls, label))

    def edit_label(self, request: ApiRequest) -> Reply:
        label = self.labels.get(form_int(request.path_params["id"]))
        if label is None:
            return self.not_found()
        form = request.payload or {}
        color = label.color
        if form.get("color") is not None:
            try:
                color = normalize_color(form["color"])
            except ValueError as error:
                return self.error(422, str(error))

        label.color = color
        label.name = form.get("name", label.name)
        label.exclusive = form.get("exclusive", label.exclusive)
        label.description = form.get("description", label.description)
        # Gitea sets the archived flag from the request even when it is absent, so an edit
        # without is_archived un-archives the label.
        label.is_archived = bool(form.get("is_archived", False))
        return Reply(200, label_json(self.urls, label))

    def list_issues(self, request: ApiRequest) -> Reply:
        query = request.query
        try:
            since = parse_query_time(query.get("since"))
            before = parse_query_time(query.get("before"))
        except ValueError as error:
            return self.error(422, str(error))
        users = {self.owner.lower(), TOKEN_USER_LOGIN}
        for filter_name in ("created_by", "assigned_by", "mentioned_by"):
            if query.get(filter_name) and query[filter_name].lower() not in users:
                return self.not_found()

        issues = [issue for issue in self.issues.values() if self._issue_matches(issue, query)]
        issues = [issue for issue in issues if updated_within(issue.updated_at, since, before)]
        issues.sort(key=lambda issue: (issue.created_at, issue.id), reverse=True)

        total = len(issues)
        page = form_int(query.get("page"))
        size = page_size(query.get("limit"))
        start = (page - 1) * size if page > 1 else 0
        headers = total_count_headers(total)
        link = link_header(self.app_url, request.path, request.query_pairs, total, size, page)
        if link:
            headers["Link"] = link
        page_items = [
            issue_json(self.urls, issue, self.labels) for issue in issues[start : start + size]
        ]
        return Reply(200, page_items, headers)

    def create_issue(self, request: ApiRequest) -> Reply:
        form = request.payload or {}
        if not form.get("title"):
            return self.error(422, "[Title]: Required")

        # Unknown label ids are dropped silently: models/issues NewIssueWithIndex skips labels
        # it cannot find in this repository and still returns 201.
        requested = form.get("labels") or []
        # A label given twice is attached once, as issue_label rows are unique per issue.
        label_ids = list(dict.fromkeys(i for i in requested if i in self.labels))
        state = "closed" if form.get("closed") else "open"
        issue = self.add_issue(form["title"], form.get("body", ""), label_ids, state)
        issue.ref = form.get("ref", "")
        # NOTE: assignees, milestone, projects and due_date are accepted but not stored.
        return Reply(201, issue_json(self.urls, issue, self.labels))

    def get_issue(self, request: ApiRequest) -> Reply:
        issue = self.issues.get(form_int(request.path_params["index"]))
        if issue is None:
            return self.not_found()
        return Reply(200, issue_json(self.urls, issue, self.labels))

    def edit_issue(self, request: ApiRequest) -> Reply:
        issue = self.issues.get(form_int(request.path_params["index"]))
        if issue is None:
            return self.not_found()
        form = request.payload or {}
        moment = _whole_seconds(self.now())

        # Gitea ignores an empty title here instead of rejecting it.
        if form.get("title"):
            issue.title = form["title"]
            issue.updated_at = moment
        if form.get("body") is not None:
            issue.body = form["body"]
            issue.content_version += 1
            issue.updated_at = moment
        if form.get("ref") is not None:
            issue.ref = form["ref"]

        # Title and body changes above stay committed even when the state is rejected.
        state = form.get("state")
        if state is not None and state not in ("open", "closed"):
            return self.error(412, f"unknown state: {state}")
        if state is not None and state != issue.state:
            issue.state = state
            issue.closed_at = moment if state == "closed" else None
            issue.updated_at = moment
        # Gitea returns 201 Created for a successful edit, as the API description declares.
        return Reply(201, issue_json(self.urls, issue, self.labels))

    def delete_issue(self, request: ApiRequest) -> Reply:
        number = form_int(request.path_params["index"])
        if number not in self.issues:
            return self.not_found([f"issue does not exist [id: 0, repo_id: 1, index: {number}]"])
        del self.issues[number]
        return Reply(204)

    def list_comments(self, request: ApiRequest) -> Reply:
        issue = self.issues.get(form_int(request.path_params["index"]))
        # NOTE: the Gitea 1.2x source returned 500 for an unknown issue here, but the
        # stand-in sends the 404 that the API description declares.
        if issue is None:
            return self.not_found()
        try:
            since = parse_query_time(request.query.get("since"))
            before = parse_query_time(request.query.get("before"))
        except ValueError as error:
            return self.error(422, str(error))
        comments = [c for c in issue.comments if updated_within(c.updated_at, since, before)]
        payload = [comment_json(self.urls, issue, comment) for comment in comments]
        return Reply(200, payload, total_count_headers(len(comments)))

    def create_comment(self, request: ApiRequest) -> Reply:
        issue = self.issues.get(form_int(request.path_params["index"]))
        if issue is None:
            return self.not_found()
        form = request.payload or {}
        if not form.get("body"):
            return self.error(422, "[Body]: Required")
        comment = self.add_comment(issue.number, form["body"])
        return Reply(201, comment_json(self.urls, issue, comment))

    # Responses.

    @property
    def urls(self) -> RepositoryUrls:
        return RepositoryUrls(self.app_url, self.owner, self.name)

    def error(self, status: int, message: str) -> Reply:
        """Build a reply in Gitea's APIError shape."""
        return Reply(status, {"message": message, "url": self.urls.swagger_url})

    def not_found(self, errors: list[str] | None = None) -> Reply:
        """Build a 404 reply like Gitea's APIErrorNotFound, whose errors list is null when empty."""
        payload = {"errors": errors, "message": NOT_FOUND_MESSAGE, "url": self.urls.swagger_url}
        return Reply(404, payload)

    def open_issue_count(self) -> int:
        return sum(1 for issue in self.issues.values() if issue.state == "open")

    def _label_id(self, label: int | str) -> int:
        if isinstance(label, int):
            return label
        for stored in self.labels.values():
            if stored.name == label:
                return stored.id
        raise KeyError(f"no label named {label!r}: add it with add_label() first")

    def _issue_matches(self, issue: StoredIssue, query: dict[str, str]) -> bool:
        state = query.get("state", "")
        if state != "all" and issue.state != ("closed" if state == "closed" else "open"):
            return False
        if query.get("type") == "pulls":
            return False

        # Label names that do not exist are discarded, and when none is left the filter is
        # dropped entirely, so ?labels=unknown lists every issue. The remaining labels must
        # all be on the issue, although the description reads "any" (models/issues
        # applyLabelsCondition joins once per label).
        names = set(query.get("labels", "").split(","))
        required_ids = {label.id for label in self.labels.values() if label.name in names}
        if not required_ids.issubset(issue.label_ids):
            return False

        # NOTE: a case-insensitive substring match, like Gitea's database indexer. The
        # default bleve indexer tokenises and may also match near words.
        keyword = query.get("q", "").strip().casefold()
        if keyword and "\x00" not in keyword:
            texts = [issue.title, issue.body, *(c.body for c in issue.comments)]
            return any(keyword in text.casefold() for text in texts)
        return True


def _whole_seconds(moment: datetime) -> datetime:
    # Gitea stores unix seconds, so every timestamp has whole-second resolution.
    return moment.astimezone(UTC).replace(microsecond=0)
