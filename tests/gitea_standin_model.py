"""Records stored by the Gitea stand-in and the JSON shapes Gitea 1.27 gives them.

Labels and issues follow Gitea's services/convert ToLabel and ToAPIIssue, including the null
fields Gitea sends. Comments, users and the repository follow the Comment, User and
Repository definitions of the API description.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TOKEN_USER_LOGIN = "gitea-sync"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class StoredLabel:
    id: int
    name: str
    color: str  # as Gitea stores it: lower case with a leading "#"
    description: str = ""
    exclusive: bool = False
    is_archived: bool = False


@dataclass
class StoredComment:
    id: int
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass
class StoredIssue:
    number: int
    id: int
    title: str
    body: str
    state: str
    label_ids: list[int]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    ref: str = ""
    content_version: int = 0
    comments: list[StoredComment] = field(default_factory=list)


@dataclass(frozen=True)
class RepositoryUrls:
    """URLs of the repository, built from app_url, Gitea's ROOT_URL with a trailing slash."""

    app_url: str
    owner: str
    name: str

    @property
    def api_url(self) -> str:
        return f"{self.app_url}api/v1/repos/{self.owner}/{self.name}"

    @property
    def html_url(self) -> str:
        return f"{self.app_url}{self.owner}/{self.name}"

    @property
    def swagger_url(self) -> str:
        return f"{self.app_url}api/swagger"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def label_json(urls: RepositoryUrls, label: StoredLabel) -> dict[str, Any]:
    # convert.ToLabel strips the "#": the API returns "e11d48" for a stored "#e11d48".
    return {
        "id": label.id,
        "name": label.name,
        "exclusive": label.exclusive,
        "is_archived": label.is_archived,
        "color": label.color.lstrip("#"),
        "description": label.description,
        "url": f"{urls.api_url}/labels/{label.id}",
    }


def issue_json(
    urls: RepositoryUrls, issue: StoredIssue, labels: dict[int, StoredLabel]
) -> dict[str, Any]:
    attached = [labels[i] for i in issue.label_ids if i in labels]
    attached.sort(key=lambda label: label.name)
    return {
        "id": issue.id,
        "url": f"{urls.api_url}/issues/{issue.number}",
        "html_url": f"{urls.html_url}/issues/{issue.number}",
        "number": issue.number,
        "user": user_json(urls, TOKEN_USER_LOGIN, 2),
        "original_author": "",
        "original_author_id": 0,
        "title": issue.title,
        "body": issue.body,
        "ref": issue.ref,
        "assets": [],
        "labels": [label_json(urls, label) for label in attached],
        "milestone": None,
        "assignee": None,
        "assignees": None,
        "state": issue.state,
        "is_locked": False,
        "comments": len(issue.comments),
        "created_at": format_time(issue.created_at),
        "updated_at": format_time(issue.updated_at),
        "closed_at": format_time(issue.closed_at) if issue.closed_at else None,
        "due_date": None,
        "time_estimate": 0,
        "pull_request": None,
        "repository": {
            "id": 1,
            "name": urls.name,
            "owner": urls.owner,
            "full_name": f"{urls.owner}/{urls.name}",
        },
        "pin_order": 0,
        "content_version": issue.content_version,
    }


def comment_json(
    urls: RepositoryUrls, issue: StoredIssue, comment: StoredComment
) -> dict[str, Any]:
    issue_html_url = f"{urls.html_url}/issues/{issue.number}"
    return {
        "id": comment.id,
        "html_url": f"{issue_html_url}#issuecomment-{comment.id}",
        "pull_request_url": "",
        "issue_url": issue_html_url,
        "user": user_json(urls, TOKEN_USER_LOGIN, 2),
        "original_author": "",
        "original_author_id": 0,
        "body": comment.body,
        "assets": [],
        "created_at": format_time(comment.created_at),
        "updated_at": format_time(comment.updated_at),
    }


def user_json(urls: RepositoryUrls, login: str, user_id: int) -> dict[str, Any]:
    return {
        "id": user_id,
        "login": login,
        "login_name": "",
        "source_id": 0,
        "full_name": "",
        "email": f"{login}@noreply.localhost",
        "avatar_url": f"{urls.app_url}avatars/{user_id}",
        "html_url": f"{urls.app_url}{login}",
        "language": "",
        "is_admin": False,
        "last_login": format_time(_EPOCH),
        "created": format_time(_EPOCH),
        "restricted": False,
        "active": True,
        "prohibit_login": False,
        "location": "",
        "website": "",
        "description": "",
        "visibility": "public",
        "followers_count": 0,
        "following_count": 0,
        "starred_repos_count": 0,
    }


def repository_json(
    urls: RepositoryUrls, open_issues: int, archived: bool, private: bool
) -> dict[str, Any]:
    return {
        "id": 1,
        "owner": user_json(urls, urls.owner, 1),
        "name": urls.name,
        "full_name": f"{urls.owner}/{urls.name}",
        "description": "",
        "empty": False,
        "private": private,
        "fork": False,
        "template": False,
        "mirror": False,
        "size": 0,
        "html_url": urls.html_url,
        "url": urls.api_url,
        "ssh_url": f"git@127.0.0.1:{urls.owner}/{urls.name}.git",
        "clone_url": f"{urls.html_url}.git",
        "website": "",
        "stars_count": 0,
        "forks_count": 0,
        "watchers_count": 1,
        "open_issues_count": open_issues,
        "open_pr_counter": 0,
        "release_counter": 0,
        "default_branch": "main",
        "archived": archived,
        "created_at": format_time(_EPOCH),
        "updated_at": format_time(_EPOCH),
        "archived_at": format_time(_EPOCH),
        "permissions": {"admin": True, "push": True, "pull": True},
        "has_issues": True,
        "internal_tracker": {
            "enable_time_tracker": False,
            "allow_only_contributors_to_track_time": True,
            "enable_issue_dependencies": False,
        },
        "has_wiki": False,
        "has_pull_requests": False,
        "has_projects": False,
        "has_releases": False,
        "has_packages": False,
        "has_actions": False,
        "avatar_url": "",
        "internal": False,
        "object_format_name": "sha1",
    }
