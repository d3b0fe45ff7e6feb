"""The hostile event corpus through the real renderer, and through whole sync runs against
the Gitea stand-in (Bugsink mocked with `responses`, PostgreSQL and Redis real)."""

import time

import pytest

from syncapp.bugsink import BugsinkProject
from syncapp.events import parse_event
from syncapp.models import SyncRecord, SyncRun
from syncapp.rendering import marker_for, render_issue
from syncapp.runs import run_sync
from tests.factories import make_issue
from tests.fake_bugsink import BASE, FakeBugsink
from tests.gitea_standin import GiteaStandin
from tests.hostile_events import CASES, HostileCase, detail_for, issue_fields_for
from tests.markdown_checks import check_body, check_title

PROJECT = BugsinkProject(id=1, name="Shop <b>@admin</b> #7", slug="shop-prod")
ISSUE_URL = "https://bugsink.example.com/issues/issue/00000000-0000-4000-8000-000000000001/"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 50
    assert len({case.name for case in CASES}) == len(CASES)


def test_markdown_checks_can_fail() -> None:
    body = render_issue(PROJECT, make_issue(), None, ISSUE_URL).body

    assert check_body(body, ISSUE_URL) == []
    assert check_body(body + "\n</details> @admin #12 <script>x</script>", ISSUE_URL) != []
    assert check_body(body, ISSUE_URL, shown=("not in the body",)) != []
    assert check_title("[Shop] closes #1") != []


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case_renders_safe_markdown(case: HostileCase) -> None:
    index = CASES.index(case)
    issue = make_issue(index + 1, **issue_fields_for(case))
    started = time.monotonic()

    event = parse_event(detail_for(case, index))
    rendered = render_issue(PROJECT, issue, event, ISSUE_URL)

    assert time.monotonic() - started < 10
    assert check_title(rendered.title) == []
    assert check_body(rendered.body, ISSUE_URL, case.shown) == []
    assert rendered.body.startswith(marker_for(issue.id))


@pytest.mark.django_db
def test_corpus_sync_files_one_readable_issue_each(
    bugsink: FakeBugsink, gitea_standin: GiteaStandin, sync_enabled: None
) -> None:
    project = bugsink.add_project(1, PROJECT.name, PROJECT.slug)
    issues = []
    for index, case in enumerate(CASES):
        issue = bugsink.add_issue(project, index + 1, **issue_fields_for(case))
        bugsink.events[issue["id"]] = detail_for(case, index)
        issues.append(issue)

    first_run, first = run_sync(trigger=SyncRun.Trigger.COMMAND)
    _, second = run_sync(trigger=SyncRun.Trigger.COMMAND)

    assert first.failures == []
    assert (first.synced, first.failed) == (len(CASES), 0)
    assert first_run.status == SyncRun.Status.SUCCEEDED
    assert (second.synced, second.failed) == (0, 0)
    assert gitea_standin.contract_violations == []
    assert len(gitea_standin.issues) == len(CASES)
    assert bugsink.unresolved_ids() == set()
    for issue, case in zip(issues, CASES, strict=True):
        record = SyncRecord.objects.get(bugsink_issue_id=issue["id"])
        gitea_issue = gitea_standin.issues[record.gitea_issue_number]
        issue_url = f"{BASE}/issues/issue/{issue['id']}/"
        assert record.status == SyncRecord.Status.RESOLVED, case.name
        assert [
            number for number, stored in gitea_standin.issues.items()
            if marker_for(issue["id"]) in stored.body
        ] == [record.gitea_issue_number], case.name  # fmt: skip
        assert check_title(gitea_issue.title) == [], case.name
        assert check_body(gitea_issue.body, issue_url, case.shown) == [], case.name
