"""The admin API's authorization matrix, with the exact response everyone else gets.

The sync is disabled in these tests, so an authorized POST returns 409 sync_disabled without
queueing anything. That response proves that authentication and the staff check passed.
"""

from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from syncapp.authentication import issue_api_token, revoke_api_tokens
from syncapp.models import ApiToken

pytestmark = pytest.mark.django_db

SYNC_URL = "/api/admin/bugsink/sync"
STATUS_URL = "/api/admin/bugsink/sync/status"
PASSWORD = "correct horse battery staple"
JSON = "application/json"


@pytest.fixture
def broker() -> redis.Redis:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("bugsink-sync")
    return client


@pytest.fixture
def staff_user() -> Any:
    return get_user_model().objects.create_user("operator", password=PASSWORD, is_staff=True)


@pytest.fixture
def plain_user() -> Any:
    return get_user_model().objects.create_user("viewer", password=PASSWORD)


def session_client(user: Any, *, with_csrf: bool) -> tuple[Client, dict[str, str]]:
    """A client logged in as user that enforces CSRF like a browser, and the headers of a
    request that sends the CSRF token (empty when with_csrf is False)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    # The admin's pages set the csrftoken cookie (the index has the logout form, the login
    # page its own form), as a browser gets it before any POST.
    client.get("/admin/login/", follow=True)
    headers = {"X-CSRFToken": client.cookies["csrftoken"].value} if with_csrf else {}
    return client, headers


def bearer(raw_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw_token}"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body


def test_anonymous_gets_401_with_bearer_challenge(broker: redis.Redis) -> None:
    for method, url in (("post", SYNC_URL), ("get", STATUS_URL)):
        response = getattr(Client(), method)(url)

        body = assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
        assert "Bearer" in body["error"]["message"]
    assert broker.llen("bugsink-sync") == 0


def test_logged_in_non_staff_gets_403(plain_user: Any, broker: redis.Redis) -> None:
    client, csrf = session_client(plain_user, with_csrf=True)

    assert_error(client.post(SYNC_URL, content_type=JSON, headers=csrf), 403, "not_staff")
    assert_error(client.get(STATUS_URL), 403, "not_staff")
    assert broker.llen("bugsink-sync") == 0


def test_staff_session_post_without_csrf_gets_403(staff_user: Any, broker: redis.Redis) -> None:
    client, _ = session_client(staff_user, with_csrf=False)

    body = assert_error(client.post(SYNC_URL, content_type=JSON), 403, "csrf_failed")

    assert "X-CSRFToken" in body["error"]["message"]
    assert broker.llen("bugsink-sync") == 0


def test_staff_session_get_needs_no_csrf(staff_user: Any) -> None:
    client, _ = session_client(staff_user, with_csrf=False)

    response = client.get(STATUS_URL)

    assert response.status_code == 200
    assert response.json()["success"] is True


def test_staff_session_with_csrf_passes(staff_user: Any, broker: redis.Redis) -> None:
    client, csrf = session_client(staff_user, with_csrf=True)

    body = assert_error(
        client.post(SYNC_URL, content_type=JSON, headers=csrf), 409, "sync_disabled"
    )

    assert "BUGSINK_SYNC_ENABLED is false" in body["error"]["message"]
    assert broker.llen("bugsink-sync") == 0


def test_valid_token_passes_without_csrf(staff_user: Any, broker: redis.Redis) -> None:
    token, raw_token = issue_api_token(staff_user, "ci")
    client = Client(enforce_csrf_checks=True)

    post = client.post(SYNC_URL, content_type=JSON, headers=bearer(raw_token))
    get = client.get(STATUS_URL, headers=bearer(raw_token))

    assert_error(post, 409, "sync_disabled")
    assert get.status_code == 200
    assert get.json()["data"]["enabled"] is False
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert broker.llen("bugsink-sync") == 0


def test_invalid_token_gets_401(staff_user: Any) -> None:
    issue_api_token(staff_user, "ci")
    for header in ("Bearer bgs_not-a-token", "Bearer", "Bearer two parts", "bearer bgs_x"):
        for method, url in (("post", SYNC_URL), ("get", STATUS_URL)):
            response = getattr(Client(), method)(url, headers={"Authorization": header})

            assert_error(response, 401, "invalid_token")
            assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_revoked_token_gets_401(staff_user: Any) -> None:
    token, raw_token = issue_api_token(staff_user, "ci")
    assert revoke_api_tokens(ApiToken.objects.filter(pk=token.pk)) == 1

    for method, url in (("post", SYNC_URL), ("get", STATUS_URL)):
        response = getattr(Client(), method)(url, headers=bearer(raw_token))

        body = assert_error(response, 401, "token_revoked")
        assert token.prefix in body["error"]["message"]
        assert raw_token not in response.content.decode()


def test_token_of_non_staff_user_gets_403(plain_user: Any) -> None:
    _, raw_token = issue_api_token(plain_user, "script")

    assert_error(
        Client().post(SYNC_URL, content_type=JSON, headers=bearer(raw_token)), 403, "not_staff"
    )
    assert_error(Client().get(STATUS_URL, headers=bearer(raw_token)), 403, "not_staff")


def test_token_of_inactive_user_gets_401(staff_user: Any) -> None:
    _, raw_token = issue_api_token(staff_user, "ci")
    staff_user.is_active = False
    staff_user.save()

    assert_error(Client().get(STATUS_URL, headers=bearer(raw_token)), 401, "inactive_user")


def test_invalid_token_wins_over_valid_session(staff_user: Any) -> None:
    client, _ = session_client(staff_user, with_csrf=True)

    response = client.get(STATUS_URL, headers={"Authorization": "Bearer bgs_wrong"})

    assert_error(response, 401, "invalid_token")


def test_wrong_method_gets_405(staff_user: Any) -> None:
    _, raw_token = issue_api_token(staff_user, "ci")
    client = Client()

    for method, url in (
        ("get", SYNC_URL),
        ("put", SYNC_URL),
        ("delete", SYNC_URL),
        ("post", STATUS_URL),
        ("patch", STATUS_URL),
    ):
        response = getattr(client, method)(url, headers=bearer(raw_token))

        body = assert_error(response, 405, "method_not_allowed")
        assert method.upper() in body["error"]["message"]


def test_wrong_method_by_anonymous_gets_401_first() -> None:
    assert_error(Client().put(SYNC_URL), 401, "not_authenticated")


def test_unknown_api_path_gets_json_404(staff_user: Any) -> None:
    _, raw_token = issue_api_token(staff_user, "ci")

    for url in ("/api/admin/bugsink/sync/", "/api/nothing", "/api/"):
        response = Client().get(url, headers=bearer(raw_token))

        body = assert_error(response, 404, "not_found")
        assert "/api/schema/" in body["error"]["message"]


def test_invalid_body_gets_400(staff_user: Any) -> None:
    _, raw_token = issue_api_token(staff_user, "ci")
    client = Client()

    too_long = client.post(
        SYNC_URL,
        {"wait_seconds": 10_000},
        content_type="application/json",
        headers=bearer(raw_token),
    )
    not_json = client.post(
        SYNC_URL, "{not json", content_type="application/json", headers=bearer(raw_token)
    )
    form = client.post(SYNC_URL, {"wait_seconds": "1"}, headers=bearer(raw_token))
    misspelt = client.post(
        SYNC_URL, {"wait_second": 5}, content_type="application/json", headers=bearer(raw_token)
    )

    body = assert_error(too_long, 400, "invalid_request")
    assert "wait_seconds" in body["error"]["field_errors"]
    misspelt_body = assert_error(misspelt, 400, "invalid_request")
    assert "wait_second" in misspelt_body["error"]["field_errors"]
    assert_error(not_json, 400, "parse_error")
    assert_error(form, 415, "unsupported_media_type")


def test_browser_accept_header_still_gets_json(staff_user: Any) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

    from_browser = Client().get(STATUS_URL, headers={"Accept": browser})
    html_only = Client().get(STATUS_URL, headers={"Accept": "text/html"})

    assert_error(from_browser, 401, "not_authenticated")
    assert_error(html_only, 406, "not_acceptable")


def test_token_is_stored_only_as_digest(staff_user: Any) -> None:
    token, raw_token = issue_api_token(staff_user, "ci")

    stored = ApiToken.objects.filter(pk=token.pk).values().get()

    assert raw_token.startswith("bgs_")
    assert len(raw_token) >= 40
    assert raw_token not in {str(value) for value in stored.values()}
    assert stored["prefix"] == raw_token[:10]
    assert stored["revoked_at"] is None
    assert stored["created_at"] <= timezone.now()
