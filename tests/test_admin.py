"""The sync's admin pages through Django's test client, against real PostgreSQL and Redis.

No worker runs here: "Sync now" and "Retry failed issues" are checked by the message they
leave on the tests' broker. tests/test_admin_browser.py runs a real worker and a browser.
"""

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from syncapp.models import ApiToken, SyncRecord, SyncRun
from syncapp.schedule import install_schedule
from syncapp.state import SyncedIssueState, SyncStateStore
from tests.conftest import BUGSINK_TOKEN, enable_sync

pytestmark = pytest.mark.django_db

SYNC_QUEUE = "bugsink-sync"


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(SYNC_QUEUE)
    yield client
    client.delete(SYNC_QUEUE)


@pytest.fixture
def operator() -> Any:
    return get_user_model().objects.create_superuser("operator", password="unused-password-1")


@pytest.fixture
def client(operator: Any) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def enabled(settings: Any, state_redis: redis.Redis) -> None:
    # Addresses that nothing listens on: no worker runs in these tests, so nothing calls them.
    enable_sync(
        settings,
        bugsink_url="http://127.0.0.1:9",
        gitea_url="http://127.0.0.1:9",
        bugsink_token=BUGSINK_TOKEN,
    )


def make_record(number: int, **fields: Any) -> SyncRecord:
    values = {
        "bugsink_issue_id": f"00000000-0000-4000-8000-{number:012d}",
        "bugsink_short_id": f"BACKEND-{number}",
        "bugsink_issue_url": f"https://bugsink.example.com/issues/issue/{number}/event/last/",
        "project_slug": "backend-prod",
        "environment": "production",
        "kind": "backend",
        "error_type": "ValueError",
        "title": f"[Backend] ValueError: invalid literal number {number}",
        "labels": ["bug:backend", "env:production", "source:bugsink"],
        "status": SyncRecord.Status.RESOLVED,
        "gitea_issue_number": 100 + number,
        "gitea_issue_url": f"https://gitea.example.com/acme/errors/issues/{100 + number}",
        "intent_at": timezone.now(),
        "synced_at": timezone.now(),
        "resolved_at": timezone.now(),
    }
    values.update(fields)
    return SyncRecord.objects.create(**values)


def task_arguments(message: dict[str, Any]) -> list[Any]:
    """Return [args, kwargs, embed] of a Celery message as kombu's Redis transport stores it."""
    return json.loads(base64.b64decode(message["body"]))


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_record_list_shows_links_and_labels(client: Client) -> None:
    make_record(1)

    page = client.get("/admin/syncapp/syncrecord/").content.decode()

    assert "BACKEND-1" in page
    assert '<a href="https://gitea.example.com/acme/errors/issues/101">#101</a>' in page
    assert 'href="https://bugsink.example.com/issues/issue/1/event/last/"' in page
    assert "bug:backend, env:production, source:bugsink" in page
    assert 'id="sync-now-link"' in page
    assert "/admin/syncapp/syncrun/" in page


def test_record_search_by_title_id_and_number(client: Client) -> None:
    make_record(1)
    make_record(2, title="[Frontend] TypeError: x is undefined", bugsink_short_id="FRONT-2")

    for term, expected in (
        ("TypeError", ["FRONT-2"]),
        ("00000000-0000-4000-8000-000000000001", ["BACKEND-1"]),
        ("102", ["FRONT-2"]),
        ("#102", ["FRONT-2"]),
        # "#1" is the Gitea number only, though both records' ids contain the digit 1.
        ("#1", []),
        ("BACKEND-1", ["BACKEND-1"]),
    ):
        response = client.get("/admin/syncapp/syncrecord/", {"q": term})

        assert response.status_code == 200
        assert [r.bugsink_short_id for r in response.context["cl"].result_list] == expected


def test_record_filters_by_project_and_environment(client: Client) -> None:
    make_record(1)
    make_record(2, project_slug="frontend-test", environment="test")

    by_project = client.get("/admin/syncapp/syncrecord/", {"project_slug": "frontend-test"})
    by_environment = client.get("/admin/syncapp/syncrecord/", {"environment": "production"})

    assert [r.project_slug for r in by_project.context["cl"].result_list] == ["frontend-test"]
    assert [r.environment for r in by_environment.context["cl"].result_list] == ["production"]


def test_schedule_link_opens_periodic_task(client: Client) -> None:
    task, _ = install_schedule(15)

    page = client.get("/admin/syncapp/syncrecord/").content.decode()
    schedule_page = client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")

    assert f'href="/admin/django_celery_beat/periodictask/{task.pk}/change/"' in page
    assert schedule_page.status_code == 200


def test_sync_now_disabled_shows_reason_without_form(client: Client, broker: redis.Redis) -> None:
    page = client.get("/admin/syncapp/syncrun/sync-now/").content.decode()
    posted = client.post("/admin/syncapp/syncrun/sync-now/", {"post": "yes"}, follow=True)

    assert "BUGSINK_SYNC_ENABLED is false" in page
    assert "Yes, sync now" not in page
    assert any("BUGSINK_SYNC_ENABLED is false" in m for m in messages_of(posted))
    assert broker.llen(SYNC_QUEUE) == 0


def test_sync_now_queues_manual_run_after_confirmation(
    client: Client, operator: Any, enabled: None, broker: redis.Redis
) -> None:
    confirmation = client.get("/admin/syncapp/syncrun/sync-now/")
    assert broker.llen(SYNC_QUEUE) == 0

    response = client.post("/admin/syncapp/syncrun/sync-now/", {"post": "yes"}, follow=True)

    assert "Yes, sync now" in confirmation.content.decode()
    assert response.redirect_chain[-1][0] == "/admin/syncapp/syncrun/"
    [message] = messages_of(response)
    task_id = re.search(r"task ([0-9a-f-]{36})", message).group(1)
    [message_on_queue] = [json.loads(raw) for raw in broker.lrange(SYNC_QUEUE, 0, -1)]
    assert message_on_queue["headers"]["id"] == task_id
    assert message_on_queue["headers"]["task"] == "syncapp.tasks.sync_bugsink_to_gitea"
    assert task_arguments(message_on_queue)[1] == {
        "trigger": "manual",
        "triggered_by_id": operator.pk,
    }


def test_sync_now_refused_while_run_in_progress(
    client: Client, enabled: None, state_store: SyncStateStore, broker: redis.Redis
) -> None:
    lock = state_store.acquire_lock({"started_at": "2026-12-04T10:00:00+00:00", "run_id": 7})
    try:
        page = client.get("/admin/syncapp/syncrun/sync-now/").content.decode()
        posted = client.post("/admin/syncapp/syncrun/sync-now/", {"post": "yes"}, follow=True)
    finally:
        lock.release()

    assert "already in progress (started 2026-12-04T10:00:00+00:00)" in page
    assert any("already in progress" in m for m in messages_of(posted))
    assert broker.llen(SYNC_QUEUE) == 0


def test_run_list_shows_trigger_user_duration_errors(client: Client, operator: Any) -> None:
    SyncRun.objects.create(
        status=SyncRun.Status.PARTIAL,
        trigger=SyncRun.Trigger.MANUAL,
        triggered_by=operator,
        finished_at=timezone.now(),
        synced=3,
        skipped=12,
        failed=1,
        duration_ms=2340,
        failures=[
            {
                "bugsink_issue_id": "issue-9",
                "project": "backend-prod",
                "title": "[Backend] KeyError",
                "reason": "Gitea answered 422: label not found",
            }
        ],
    )
    SyncRun.objects.create(
        status=SyncRun.Status.FAILED, trigger=SyncRun.Trigger.SCHEDULE, error="GITEA_URL: timed out"
    )

    page = client.get("/admin/syncapp/syncrun/").content.decode()

    assert "manual by operator" in page
    assert "2.3 s" in page
    assert "issue-9: Gitea answered 422: label not found" in page
    assert "GITEA_URL: timed out" in page


def test_run_detail_shows_failures_table(client: Client) -> None:
    run = SyncRun.objects.create(
        status=SyncRun.Status.PARTIAL,
        trigger=SyncRun.Trigger.SCHEDULE,
        failures=[
            {
                "bugsink_issue_id": "issue-9",
                "project": "backend-prod",
                "title": "<b>KeyError</b>",
                "reason": "Gitea answered 422",
            }
        ],
    )

    page = client.get(f"/admin/syncapp/syncrun/{run.pk}/change/").content.decode()

    assert "<td>issue-9</td><td>backend-prod</td><td>&lt;b&gt;KeyError&lt;/b&gt;</td>" in page
    assert "<td>Gitea answered 422</td>" in page


def test_retry_failed_issues_clears_errors_and_queues(
    client: Client, enabled: None, broker: redis.Redis
) -> None:
    record = make_record(9, status=SyncRecord.Status.PENDING, last_error="Gitea answered 422")
    run = SyncRun.objects.create(
        status=SyncRun.Status.PARTIAL,
        trigger=SyncRun.Trigger.SCHEDULE,
        failures=[
            {
                "bugsink_issue_id": record.bugsink_issue_id,
                "project": "backend-prod",
                "title": record.title,
                "reason": "Gitea answered 422",
            }
        ],
    )
    action = {"action": "retry_failed_issues", "_selected_action": [run.pk]}

    confirmation = client.post("/admin/syncapp/syncrun/", action)
    assert broker.llen(SYNC_QUEUE) == 0
    done = client.post("/admin/syncapp/syncrun/", {**action, "post": "yes"}, follow=True)

    assert "Gitea answered 422" in confirmation.content.decode()
    assert "Yes, retry them" in confirmation.content.decode()
    [message] = messages_of(done)
    assert "picks them up again" in message
    assert "last error of 1 sync record(s) was cleared" in message
    record.refresh_from_db()
    assert record.last_error == ""
    assert broker.llen(SYNC_QUEUE) == 1


def test_retry_without_failures_queues_nothing(
    client: Client, enabled: None, broker: redis.Redis
) -> None:
    run = SyncRun.objects.create(status=SyncRun.Status.SUCCEEDED, trigger="schedule")

    response = client.post(
        "/admin/syncapp/syncrun/",
        {"action": "retry_failed_issues", "_selected_action": [run.pk], "post": "yes"},
        follow=True,
    )

    assert messages_of(response) == ["The selected sync runs have no failed issues to retry."]
    assert broker.llen(SYNC_QUEUE) == 0


def test_forget_record_removes_row_and_redis_key(
    client: Client, operator: Any, state_store: SyncStateStore
) -> None:
    record = make_record(5)
    kept = make_record(6)
    for synced in (record, kept):
        state_store.put(
            synced.bugsink_issue_id,
            SyncedIssueState(synced.gitea_issue_number, "2026-12-04T10:00:00+00:00", "p", "t"),
        )
    url = f"/admin/syncapp/syncrecord/{record.pk}/forget/"

    confirmation = client.get(url)
    assert SyncRecord.objects.filter(pk=record.pk).exists()
    response = client.post(url, {"post": "yes"}, follow=True)

    assert "Yes, forget them" in confirmation.content.decode()
    assert "BACKEND-5" in confirmation.content.decode()
    assert response.redirect_chain[-1][0] == "/admin/syncapp/syncrecord/"
    assert not SyncRecord.objects.filter(pk=record.pk).exists()
    assert state_store.get_many([record.bugsink_issue_id]) == {}
    assert set(state_store.get_many([kept.bugsink_issue_id])) == {kept.bugsink_issue_id}
    entry = LogEntry.objects.get(object_id=str(record.pk))
    assert entry.action_flag == DELETION
    assert entry.user == operator


def test_forget_action_on_selection(client: Client, state_store: SyncStateStore) -> None:
    records = [make_record(number) for number in (1, 2, 3)]
    selected = [records[0].pk, records[1].pk]
    action = {"action": "forget_records", "_selected_action": selected}

    confirmation = client.post("/admin/syncapp/syncrecord/", action)
    assert SyncRecord.objects.count() == 3
    client.post("/admin/syncapp/syncrecord/", {**action, "post": "yes"})

    assert "BACKEND-1" in confirmation.content.decode()
    assert list(SyncRecord.objects.values_list("pk", flat=True)) == [records[2].pk]
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 2


def test_forget_with_redis_down_keeps_record(
    client: Client, settings: Any, state_redis: redis.Redis
) -> None:
    record = make_record(5)
    settings.SYNC_STATE_REDIS_URL = "redis://127.0.0.1:1/14"

    response = client.post(
        f"/admin/syncapp/syncrecord/{record.pk}/forget/", {"post": "yes"}, follow=True
    )

    assert SyncRecord.objects.filter(pk=record.pk).exists()
    assert LogEntry.objects.count() == 0
    assert any("cannot be reached" in m for m in messages_of(response))


def test_delete_page_redirects_to_forget(client: Client) -> None:
    record = make_record(5)

    response = client.get(f"/admin/syncapp/syncrecord/{record.pk}/delete/")

    assert response.status_code == 302
    assert response["Location"] == f"/admin/syncapp/syncrecord/{record.pk}/forget/"
    assert "delete_selected" not in client.get("/admin/syncapp/syncrecord/").content.decode()


def test_api_token_shown_once_and_stored_as_digest(client: Client, operator: Any) -> None:
    response = client.post("/admin/syncapp/apitoken/add/", {"name": "ci", "user": operator.pk})

    page = response.content.decode()
    raw_token = re.search(r'id="api-token" value="(bgs_[A-Za-z0-9_-]+)"', page).group(1)
    token = ApiToken.objects.get()
    assert token.digest == hashlib.sha256(raw_token.encode()).hexdigest()
    assert token.user == operator
    assert "Authorization: Bearer $TOKEN" in page
    assert raw_token not in client.get("/admin/syncapp/apitoken/").content.decode()
    assert (
        raw_token not in client.get(f"/admin/syncapp/apitoken/{token.pk}/change/").content.decode()
    )
    assert f"{token.prefix}…" in client.get("/admin/syncapp/apitoken/").content.decode()


def test_api_token_revoke_action(client: Client, operator: Any) -> None:
    client.post("/admin/syncapp/apitoken/add/", {"name": "ci", "user": operator.pk})
    token = ApiToken.objects.get()

    client.post(
        "/admin/syncapp/apitoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )

    token.refresh_from_db()
    assert token.revoked_at is not None


def test_staff_manager_sees_and_creates_only_own_tokens(operator: Any) -> None:
    manager = get_user_model().objects.create_user("manager", password="x", is_staff=True)
    for codename in ("view_apitoken", "add_apitoken", "change_apitoken"):
        manager.user_permissions.add(Permission.objects.get(codename=codename))
    ApiToken.objects.create(user=operator, name="operator's", digest="a" * 64, prefix="bgs_aaaaaa")
    client = Client()
    client.force_login(manager)

    listing = client.get("/admin/syncapp/apitoken/").content.decode()
    for_someone_else = client.post(
        "/admin/syncapp/apitoken/add/", {"name": "stolen", "user": operator.pk}
    )

    assert "operator&#x27;s" not in listing
    assert for_someone_else.status_code == 200
    assert "Select a valid choice" in for_someone_else.content.decode()
    assert not ApiToken.objects.filter(name="stolen").exists()


def test_label_mapping_is_editable(client: Client) -> None:
    response = client.post(
        "/admin/syncapp/projectlabelmapping/add/",
        {"project_slug": "billing", "kind": "backend", "environment": "production"},
    )

    assert response.status_code == 302
    page = client.get("/admin/syncapp/projectlabelmapping/").content.decode()
    assert "billing" in page
