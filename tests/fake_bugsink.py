"""A Bugsink canonical API mocked with `responses`, for fast tests of the sync service.

The integration tests use the real Bugsink; this fake exists to inject faults per request.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from tests.factories import event_payload, issue_payload

BASE = "http://bugsink.test"
API = f"{BASE}/api/canonical/0"


@dataclass
class FakeProject:
    id: int
    name: str
    slug: str
    issues: list[dict[str, Any]] = field(default_factory=list)


class FakeBugsink:
    def __init__(self, mock: responses.RequestsMock, page_size: int = 250) -> None:
        self.mock = mock
        self.page_size = page_size
        self.projects: list[FakeProject] = []
        self.events: dict[str, dict[str, Any] | None] = {}
        self.failing_resolves: set[str] = set()
        self.failing_events: set[str] = set()
        self.resolve_calls: list[str] = []
        # Called with the endpoint's name before each response. It may raise (a connection
        # error, a timeout) or return (status, commit) to respond with that status instead,
        # after applying the request when commit is true.
        self.fault: Callable[[str], tuple[int, bool] | None] | None = None
        mock.add_callback(responses.GET, f"{API}/projects/", callback=self._projects)
        mock.add_callback(responses.GET, f"{API}/issues/", callback=self._issues)
        mock.add_callback(responses.GET, f"{API}/events/", callback=self._events)
        mock.add_callback(responses.GET, re.compile(rf"{API}/events/[^/]+/$"), callback=self._event)
        mock.add_callback(
            responses.POST, re.compile(rf"{API}/issues/[^/]+/resolve/$"), callback=self._resolve
        )
        mock.add_callback(
            responses.GET, re.compile(rf"{API}/issues/[^/]+/$"), callback=self._issue_detail
        )

    def add_project(self, project_id: int, name: str, slug: str) -> FakeProject:
        project = FakeProject(project_id, name, slug)
        self.projects.append(project)
        return project

    def add_issue(
        self, project: FakeProject, number: int, *, event: bool = True, **fields: Any
    ) -> dict[str, Any]:
        issue = issue_payload(number, project=project.id, **fields)
        project.issues.append(issue)
        self.events[issue["id"]] = event_payload() if event else None
        return issue

    def issue(self, issue_id: str) -> dict[str, Any]:
        return next(i for p in self.projects for i in p.issues if i["id"] == issue_id)

    def unresolved_ids(self) -> set[str]:
        return {i["id"] for p in self.projects for i in p.issues if not i["is_resolved"]}

    def _injected(self, endpoint: str) -> tuple[int, bool] | None:
        return self.fault(endpoint) if self.fault else None

    @staticmethod
    def _error(status: int) -> tuple[int, dict[str, str], str]:
        headers = {"Retry-After": "0"} if status == 429 else {}
        return status, headers, "<html><body><h1>upstream error</h1></body></html>"

    def _issue_detail(self, request: Any) -> tuple[int, dict[str, str], str]:
        fault = self._injected("issue")
        if fault:
            return self._error(fault[0])
        issue_id = urlsplit(request.url).path.rstrip("/").split("/")[-1]
        matches = [i for p in self.projects for i in p.issues if i["id"] == issue_id]
        if not matches:
            return 404, {}, json.dumps({"detail": "Not found."})
        return 200, {}, json.dumps(matches[0])

    def _projects(self, request: Any) -> tuple[int, dict[str, str], str]:
        fault = self._injected("projects")
        if fault:
            return self._error(fault[0])
        results = [{"id": p.id, "name": p.name, "slug": p.slug} for p in self.projects]
        return 200, {}, json.dumps({"next": None, "previous": None, "results": results})

    def _issues(self, request: Any) -> tuple[int, dict[str, str], str]:
        fault = self._injected("issues")
        if fault:
            return self._error(fault[0])
        query = {key: values[0] for key, values in parse_qs(urlsplit(request.url).query).items()}
        project = next(p for p in self.projects if p.id == int(query["project"]))
        state = query.get("state", "all")
        # The cursor is a position in the project's full list, like Bugsink's keyset cursor
        # on digest_order: resolving issues while walking does not shift later pages.
        start = int(query.get("cursor", "0"))
        page: list[dict[str, Any]] = []
        position = start
        while position < len(project.issues) and len(page) < self.page_size:
            if self._in_state(project.issues[position], state):
                page.append(project.issues[position])
            position += 1
        more = position < len(project.issues)
        next_url = f"{API}/issues/?cursor={position}&project={project.id}" if more else None
        return 200, {}, json.dumps({"next": next_url, "previous": None, "results": page})

    @staticmethod
    def _in_state(issue: dict[str, Any], state: str) -> bool:
        if state == "open":
            return not issue["is_resolved"] and not issue["is_muted"]
        if state == "unresolved":
            return not issue["is_resolved"]
        return True

    def _events(self, request: Any) -> tuple[int, dict[str, str], str]:
        fault = self._injected("events")
        if fault:
            return self._error(fault[0])
        issue_id = parse_qs(urlsplit(request.url).query)["issue"][0]
        if issue_id in self.failing_events:
            return 500, {}, json.dumps({"detail": "event storage unavailable"})
        event = self.events.get(issue_id)
        results = [{"id": f"event-of-{issue_id}"}] if event else []
        return 200, {}, json.dumps({"next": None, "results": results})

    def _event(self, request: Any) -> tuple[int, dict[str, str], str]:
        fault = self._injected("event")
        if fault:
            return self._error(fault[0])
        issue_id = urlsplit(request.url).path.rstrip("/").split("/")[-1].removeprefix("event-of-")
        return 200, {}, json.dumps(self.events[issue_id])

    def _resolve(self, request: Any) -> tuple[int, dict[str, str], str]:
        issue_id = urlsplit(request.url).path.rstrip("/").split("/")[-2]
        self.resolve_calls.append(issue_id)
        if issue_id in self.failing_resolves:
            return 503, {}, json.dumps({"detail": "try later"})
        fault = self._injected("resolve")
        if fault and not fault[1]:
            return self._error(fault[0])
        issue = self.issue(issue_id)
        if issue["is_resolved"] and not fault:
            return 400, {}, json.dumps({"detail": "Issue is already resolved."})
        issue["is_resolved"] = True
        if fault:
            return self._error(fault[0])
        return 200, {}, json.dumps(issue)
