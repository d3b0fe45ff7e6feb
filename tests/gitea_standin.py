"""A Gitea 1.27 stand-in: an HTTP server on 127.0.0.1 for the endpoints the sync uses.

No Gitea server can be installed on this machine, so integration tests talk to this one.
Every request is checked against Gitea's API description (gitea_contract.py), and the
repository rules are in gitea_standin_repo.py. Typical use:

    with GiteaStandin("secret") as gitea:
        gitea.add_label("bugsink")
        ...  # point the client at gitea.url
        assert gitea.contract_violations == []
"""

from __future__ import annotations

import hmac
import json
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.gitea_contract import GiteaContract, Operation
from tests.gitea_standin_faults import FaultInjection
from tests.gitea_standin_model import StoredComment, StoredIssue, StoredLabel, repository_json
from tests.gitea_standin_repo import ApiRequest, Reply, StandinRepository

_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Only these routes carry Gitea's mustNotBeArchived guard (routers/api/v1/api.go).
# NOTE: whether Gitea's services reject other writes on an archived repository (editing an
# issue, creating a label) was not verified, so the stand-in lets them through.
_ARCHIVE_GUARDED = {"issueCreateIssue", "issueCreateComment"}
# The scopes a read-only token shows in Gitea's 403 message.
_READ_ONLY_SCOPES = "read:issue,read:repository"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RecordedRequest:
    """One request as the stand-in received it, with the Authorization secret masked."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # the parsed JSON body, or None
    raw_body: bytes
    status: int | None = None  # None when the connection was dropped without a response


class GiteaStandin(FaultInjection):
    """A Gitea API server for one repository, with hooks to inspect requests and inject faults.

    Flags a test may set: read_only_token (writes return 403 like a token without
    write:issue), archived (creating an issue or comment returns 423), private (anonymous
    requests return 404 because Gitea hides private repositories, the default).
    """

    def __init__(
        self,
        token: str,
        owner: str = "acme",
        repo: str = "errors",
        *,
        contract: GiteaContract | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.contract = contract or GiteaContract.from_file()
        self.repository = StandinRepository(owner, repo, now=_utc_now)
        self.requests: list[RecordedRequest] = []
        self.contract_violations: list[str] = []
        self.read_only_token = False
        self.archived = False
        self.private = True
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle.

    def start(self) -> GiteaStandin:
        if self._server is not None:
            raise RuntimeError("the Gitea stand-in is already running")
        handler = type("GiteaStandinHandler", (_RequestHandler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.repository.app_url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="gitea-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        # Wakes requests that sleep in an injected delay, so stopping never waits for them.
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> GiteaStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all state, recorded requests, violations, rules and flags, but keep running."""
        with self._lock:
            self.requests.clear()
            self.contract_violations.clear()
        self.clear_faults()
        self.repository.clear()
        self.repository.now = _utc_now
        self.read_only_token = False
        self.archived = False
        self.private = True

    # State for tests to read and seed.

    @property
    def url(self) -> str:
        """Base URL such as http://127.0.0.1:PORT, without a trailing slash."""
        if self._server is None:
            raise RuntimeError("the Gitea stand-in is not running; call start() first")
        return self.repository.app_url.rstrip("/")

    @property
    def html_url_base(self) -> str:
        """Web URL of the repository. An issue's html_url is {html_url_base}/issues/{number}."""
        return self.repository.urls.html_url

    def issue_html_url(self, number: int) -> str:
        return f"{self.html_url_base}/issues/{number}"

    @property
    def issues(self) -> dict[int, StoredIssue]:
        """Stored issues by number."""
        return self.repository.issues

    @property
    def labels(self) -> dict[int, StoredLabel]:
        """Stored labels by id."""
        return self.repository.labels

    @property
    def now(self) -> Callable[[], datetime]:
        """Clock for created_at, updated_at and closed_at, settable to control timestamps."""
        return self.repository.now

    @now.setter
    def now(self, clock: Callable[[], datetime]) -> None:
        self.repository.now = clock

    def add_label(
        self, name: str, color: str = "#e11d48", description: str = "", exclusive: bool = False
    ) -> StoredLabel:
        return self.repository.add_label(name, color, description, exclusive)

    def add_issue(
        self,
        title: str,
        body: str = "",
        labels: Iterable[int | str] = (),
        state: str = "open",
        created_at: datetime | None = None,
    ) -> StoredIssue:
        return self.repository.add_issue(title, body, labels, state, created_at)

    def add_comment(self, number: int, body: str) -> StoredComment:
        return self.repository.add_comment(number, body)

    # Request handling, called on the server's threads.

    def _serve(self, http: _RequestHandler) -> None:
        method = http.command
        split = urlsplit(http.path)
        query_pairs = parse_qsl(split.query, keep_blank_values=True)
        raw_body = _read_body(http)
        content_type = http.headers.get("Content-Type", "")
        record = RecordedRequest(
            method=method,
            path=split.path,
            query=dict(reversed(query_pairs)),  # reversed, so the first value of a name wins
            headers=_masked_headers(http.headers.items()),
            body=_parse_json(raw_body),
            raw_body=raw_body,
        )
        with self._lock:
            self.requests.append(record)

        problems = self.contract.check_request(
            method, split.path, query_pairs, raw_body, content_type
        )
        if problems:
            with self._lock:
                self.contract_violations.extend(problems)
            message = "request does not match the Gitea API description: " + "; ".join(problems)
            self._send(http, record, self.repository.error(422, message))
            return

        delay = self.take_fault("delay", method, split.path)
        if delay is not None:
            self._stopping.wait(delay.seconds)
        fault = self.take_fault("fail", method, split.path)
        if fault is not None:
            headers = {"Content-Type": fault.content_type, **fault.headers}
            body = fault.response_body(self.repository.urls.swagger_url)
            self._send_bytes(http, record, fault.status, body, headers)
            return
        drop = self.take_fault("drop", method, split.path)
        if drop is not None and not drop.after_commit:
            http.close_connection = True
            return

        operation = self.contract.match(method, split.path)
        assert operation is not None  # check_request found it
        request = ApiRequest(split.path, operation.path_params, query_pairs, record.body)
        reply = self._check_access(operation, http.headers.get("Authorization"))
        if reply is None:
            reply = self._dispatch(operation, request)
        if drop is not None:
            http.close_connection = True
            return
        self._send(http, record, reply)

    def _check_access(self, operation: Operation, authorization: str | None) -> Reply | None:
        """Apply Gitea's middleware in its order: token, scope, repository, sign-in, archive."""
        repository = self.repository
        signed_in = False
        if authorization:
            scheme, _, credential = authorization.strip().partition(" ")
            scheme = scheme.lower()
            # NOTE: Gitea would also accept a token as the password of Basic authentication,
            # but the stand-in rejects every Basic header with 401.
            if scheme == "basic":
                return repository.error(401, "invalid username, password or token")
            # Other schemes are not Gitea credentials, so the request stays anonymous.
            if scheme in ("token", "bearer"):
                if not hmac.compare_digest(credential.strip().encode(), self.token.encode()):
                    return repository.error(401, "invalid username, password or token")
                signed_in = True
        is_write = operation.method in _WRITE_METHODS

        if signed_in and self.read_only_token and is_write:
            message = (
                "token does not have at least one of required scope(s), "
                f"required=[write:issue], token scope={_READ_ONLY_SCOPES}"
            )
            return repository.error(403, message)
        params = operation.path_params
        same_repo = (params.get("owner", "").lower(), params.get("repo", "").lower()) == (
            repository.owner.lower(),
            repository.name.lower(),
        )
        if not same_repo or (self.private and not signed_in):
            return repository.not_found()
        if is_write and not signed_in:
            return repository.error(401, "token is required")
        if self.archived and operation.operation_id in _ARCHIVE_GUARDED:
            return repository.error(423, "repo is archived")
        return None

    def _dispatch(self, operation: Operation, request: ApiRequest) -> Reply:
        handlers = {"repoGet": self._get_repository, **self.repository.handlers()}
        handler = handlers.get(operation.operation_id)
        if handler is None:
            message = f"the Gitea stand-in does not implement {operation.operation_id}"
            return self.repository.error(501, message)
        with self.repository.lock:
            return handler(request)

    def _get_repository(self, request: ApiRequest) -> Reply:
        repository = self.repository
        payload = repository_json(
            repository.urls, repository.open_issue_count(), self.archived, self.private
        )
        return Reply(200, payload)

    def _send(self, http: _RequestHandler, record: RecordedRequest, reply: Reply) -> None:
        body = b"" if reply.payload is None else json.dumps(reply.payload).encode()
        headers = dict(reply.headers)
        if body:
            headers["Content-Type"] = "application/json;charset=utf-8"
        self._send_bytes(http, record, reply.status, body, headers)

    def _send_bytes(
        self,
        http: _RequestHandler,
        record: RecordedRequest,
        status: int,
        body: bytes,
        headers: dict[str, str],
    ) -> None:
        record.status = status
        http.send_response(status)
        for name, value in headers.items():
            http.send_header(name, value)
        http.send_header("Content-Length", str(len(body)))
        http.end_headers()
        if http.command != "HEAD":
            http.wfile.write(body)


class _RequestHandler(BaseHTTPRequestHandler):
    standin: GiteaStandin
    # Keep-alive like Gitea's Go server. Idle connections close after `timeout` seconds.
    protocol_version = "HTTP/1.1"
    timeout = 10

    def do_GET(self) -> None:
        try:
            self.standin._serve(self)
        except Exception as error:
            # A bug in the stand-in returns 500 with the error instead of a bare closed
            # connection, which a test could mistake for an injected drop.
            traceback.print_exc()
            payload = json.dumps({"message": f"Gitea stand-in failed: {error!r}"}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        # Requests are recorded in GiteaStandin.requests instead of being printed.
        pass


def _read_body(http: BaseHTTPRequestHandler) -> bytes:
    if http.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(http.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                http.rfile.readline()
                return b"".join(chunks)
            chunks.append(http.rfile.read(size))
            http.rfile.readline()
    length = int(http.headers.get("Content-Length") or 0)
    return http.rfile.read(length) if length else b""


def _parse_json(raw_body: bytes) -> Any:
    if not raw_body:
        return None
    try:
        return json.loads(raw_body)
    except ValueError:
        return None


def _masked_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    headers = {}
    for name, value in items:
        if name.lower() == "authorization":
            scheme, _, secret = value.partition(" ")
            value = f"{scheme} ***" if secret else "***"
        headers[name] = value
    return headers
