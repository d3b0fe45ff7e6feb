"""Each scrubbing rule, checked on a realistic event rendered into a Gitea issue body."""

from typing import Any

import pytest
from django.core.checks import run_checks

from syncapp.conf import ConfigurationError
from syncapp.rendering import render_issue, render_title
from syncapp.scrubbing import (
    EMAIL_MASK,
    IP_MASK,
    REDACTED,
    Scrubber,
    ScrubPolicy,
    load_scrubber,
    luhn_valid,
)
from tests.factories import PROJECT, make_event, make_issue

ISSUE_URL = "https://bugsink.example.com/issues/issue/00000000-0000-4000-8000-000000000001/"


def body_of(issue_fields: dict[str, Any] | None = None, **event_fields: Any) -> str:
    issue = make_issue(**(issue_fields or {}))
    return render_issue(PROJECT, issue, make_event(**event_fields), ISSUE_URL).body


def scrub(text: str) -> str:
    return Scrubber(ScrubPolicy()).scrub_text(text)


def django_request(**fields: Any) -> dict[str, Any]:
    """A `request` interface as sentry-sdk's Django integration fills it."""
    request = {
        "url": "https://shop.example.com/checkout/",
        "method": "POST",
        "query_string": "",
        "headers": {"Host": "shop.example.com", "User-Agent": "Mozilla/5.0 (X11; Linux)"},
    }
    request.update(fields)
    return request


def test_sensitive_headers_are_redacted_and_others_kept() -> None:
    body = body_of(
        request=django_request(
            headers={
                "Authorization": "Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
                "Cookie": "sessionid=q1w2e3r4t5y6; csrftoken=Zx9Yw8Vu7",
                "Set-Cookie": "sessionid=q1w2e3r4t5y6; HttpOnly",
                "X-Api-Key": "live_4c7d1e9a2b",
                "X-CSRFToken": "Zx9Yw8Vu7",
                "Proxy-Authorization": "Basic dXNlcjpwYXNz",
                "User-Agent": "Mozilla/5.0 (X11; Linux)",
            }
        )
    )

    for secret in ["9f8e7d6c5b4a", "q1w2e3r4t5y6", "Zx9Yw8Vu7", "live_4c7d1e9a2b", "dXNlcjpwYXNz"]:
        assert secret not in body
    assert f"header `Authorization`: `{REDACTED}`" in body
    assert f"header `Cookie`: `{REDACTED}`" in body
    assert f"header `Set-Cookie`: `{REDACTED}`" in body
    assert f"header `X-Api-Key`: `{REDACTED}`" in body
    assert f"header `X-CSRFToken`: `{REDACTED}`" in body
    assert "header `User-Agent`: `Mozilla/5.0 (X11; Linux)`" in body


def test_headers_sent_as_list_of_pairs_are_redacted() -> None:
    body = body_of(
        request=django_request(headers=[["authorization", "token abcdef0123456789"], ["a", "b"]])
    )

    assert "abcdef0123456789" not in body
    assert f"header `authorization`: `{REDACTED}`" in body
    assert "header `a`: `b`" in body


def test_nested_form_fields_are_redacted_by_name() -> None:
    body = body_of(
        request=django_request(
            data={
                "username": "jdoe",
                "account": {"password": "correct horse battery", "profile": {"apiKey": "k-77aa"}},
                "devices": [{"name": "phone", "push_token": "fcm:APA91bH"}],
                "remember": True,
            }
        )
    )

    for secret in ["correct horse battery", "k-77aa", "fcm:APA91bH"]:
        assert secret not in body
    assert f"form field `account.password`: `{REDACTED}`" in body
    assert f"form field `account.profile.apiKey`: `{REDACTED}`" in body
    assert f"form field `devices.0.push_token`: `{REDACTED}`" in body
    assert "form field `username`: `jdoe`" in body
    assert "form field `devices.0.name`: `phone`" in body


def test_raw_form_body_has_secret_pairs_redacted() -> None:
    body = body_of(request=django_request(data="username=jdoe&password=hunter2&next=%2Faccount%2F"))

    assert "hunter2" not in body
    assert f"password={REDACTED}" in body
    assert "username=jdoe" in body


def test_json_body_text_has_secret_values_redacted() -> None:
    body = body_of(
        request=django_request(
            data='{"email_address": "x", "client_secret": "cs_98765", "scope": "read"}'
        )
    )

    assert "cs_98765" not in body
    assert f'"client_secret": "{REDACTED}"' in body
    assert '"scope": "read"' in body


def test_request_url_keeps_all_but_secret_parameters() -> None:
    url = (
        "https://shop.example.com/orders/?page=2&api_key=sk_9a8b7c&access_token=ya29.a0Af&sort=asc"
    )
    body = body_of(request=django_request(url=url, query_string=url.split("?", 1)[1]))

    expected = (
        f"https://shop.example.com/orders/?page=2&api_key={REDACTED}"
        f"&access_token={REDACTED}&sort=asc"
    )
    assert f"- **URL**: `{expected}`" in body
    assert "sk_9a8b7c" not in body
    assert "ya29.a0Af" not in body
    assert f"query parameter `api_key`: `{REDACTED}`" in body
    assert "query parameter `page`: `2`" in body


def test_query_string_as_pairs_is_redacted() -> None:
    body = body_of(request=django_request(query_string=[["token", "t0k3n"], ["q", "shoes"]]))

    assert "t0k3n" not in body
    assert "query parameter `q`: `shoes`" in body


def test_url_credentials_are_redacted() -> None:
    message = "could not connect to postgres://shop:Pa55w0rd@db.internal:5432/shop"
    body = body_of({"calculated_value": message})

    assert "Pa55w0rd" not in body
    assert f"postgres://{REDACTED}@db.internal:5432/shop" in body


def test_request_url_credentials_are_redacted() -> None:
    body = body_of(request=django_request(url="https://admin:s3cr3t@shop.example.com/admin/"))

    assert "s3cr3t" not in body
    assert f"`https://{REDACTED}@shop.example.com/admin/`" in body


@pytest.mark.parametrize(
    ("message", "secret", "kept"),
    [
        ("login failed: password=hunter2 for user jdoe", "hunter2", "for user jdoe"),
        ("bad config SECRET_KEY = 'django-insecure-8h2k' loaded", "8h2k", "loaded"),
        ('upstream said {"refresh_token": "rt-5521", "ok": false}', "rt-5521", '"ok": false'),
        ("KeyError: session_id: 7f3a9c not found", "7f3a9c", "not found"),
        ("retrying with passwd:Winter2026! on host", "Winter2026", "on host"),
    ],
)
def test_secret_pairs_in_messages_are_redacted(message: str, secret: str, kept: str) -> None:
    body = body_of({"calculated_value": message})
    title = render_title(PROJECT, make_issue(calculated_value=message), None)

    assert secret not in body
    assert secret not in title
    assert REDACTED in body
    assert kept in body


def test_bearer_and_basic_credentials_in_text_are_redacted() -> None:
    text = scrub("sent Bearer 1f2e3d4c5b6a79880 and Basic YWxpY2U6czNjcmV0 to the API")

    assert text == f"sent Bearer {REDACTED} and Basic {REDACTED} to the API"


def test_basic_word_that_is_no_credential_is_kept() -> None:
    assert scrub("Basic authentication failed") == "Basic authentication failed"


def test_jwt_is_redacted() -> None:
    jwt = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsIm5hbWUiOiJKYW5lIn0"
        ".Gfx6VO9tcxwk6xqx9yYzSfebfeakZp5JYIgP_edcw_A"
    )
    body = body_of({"calculated_value": f"could not verify {jwt} (expired)"})

    assert "eyJhbGci" not in body
    assert f"could not verify {REDACTED} (expired)" in body


def test_aws_access_key_is_redacted() -> None:
    body = body_of({"calculated_value": "AccessDenied for key AKIAIOSFODNN7EXAMPLE in eu-west-1"})

    assert "AKIAIOSFODNN7EXAMPLE" not in body
    assert f"for key {REDACTED} in eu-west-1" in body


def test_service_tokens_are_redacted() -> None:
    text = scrub("push with ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 failed")

    assert text == f"push with {REDACTED} failed"


def test_private_key_blocks_are_redacted() -> None:
    key = (
        "-----BEGIN RSA PRIVATE KEY-----\n"
        "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi\n"
        "Z1BjP5CE/Wm/Rr500P\n"
        "-----END RSA PRIVATE KEY-----"
    )
    frames = [{"filename": "keys.py", "function": "load", "context_line": f"KEY = '''{key}'''"}]
    body = body_of(
        {"calculated_value": f"could not parse key:\n{key}\nafter rotation"},
        exception={
            "values": [{"type": "ValueError", "value": "bad key", "stacktrace": {"frames": frames}}]
        },
    )

    assert "MIIEpAIBAAKCAQEA" not in body
    assert "Z1BjP5CE" not in body
    assert "after rotation" in body


def test_unterminated_private_key_is_redacted() -> None:
    text = scrub("key: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU")

    assert text == f"key: {REDACTED}"


def test_card_numbers_are_redacted_and_other_numbers_kept() -> None:
    message = (
        "charge failed for 4111 1111 1111 1111 and 5500-0000-0000-0004; "
        "order 1733305800000 ref 4111111111111112"
    )
    body = body_of({"calculated_value": message})

    assert "4111 1111 1111 1111" not in body
    assert "5500-0000-0000-0004" not in body
    assert "order 1733305800000" in body  # a millisecond timestamp, no card network
    assert "ref 4111111111111112" in body  # fails the Luhn check


def test_luhn_check() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_emails_are_masked_by_default() -> None:
    body = body_of(
        {"calculated_value": "no account for jane.doe+shop@example.co.uk"},
        user={"id": "42", "email": "jane.doe@example.com", "username": "jdoe"},
    )

    assert "jane.doe" not in body
    assert f"no account for {EMAIL_MASK}" in body
    assert f"user `email`: `{EMAIL_MASK}`" in body
    assert "user `id`: `42`" in body


def test_emails_are_kept_when_configured(settings: Any) -> None:
    settings.SCRUB_KEEP_EMAILS = "true"

    body = body_of({"calculated_value": "no account for jane@example.com"})

    assert "no account for jane@example.com" in body


def test_ip_addresses_are_masked_by_default() -> None:
    body = body_of(
        {"calculated_value": "too many logins from 203.0.113.54 and 2001:db8:85a3::8a2e:370:7334"},
        user={"ip_address": "198.51.100.23"},
        request=django_request(
            headers={"X-Forwarded-For": "192.0.2.1, 10.0.0.2"}, env={"REMOTE_ADDR": "192.0.2.1"}
        ),
        release="shop@1.4.2.0",
    )

    for address in ["203.0.113.54", "2001:db8", "198.51.100.23", "192.0.2.1", "10.0.0.2"]:
        assert address not in body
    assert f"too many logins from {IP_MASK} and {IP_MASK}" in body
    assert f"user `ip_address`: `{IP_MASK}`" in body
    assert f"header `X-Forwarded-For`: `{IP_MASK}, {IP_MASK}`" in body
    assert f"request environment `REMOTE_ADDR`: `{IP_MASK}`" in body
    assert "release: `shop@1.4.2.0`" in body


def test_ip_addresses_are_kept_when_configured(settings: Any) -> None:
    settings.SCRUB_KEEP_IP_ADDRESSES = "true"

    body = body_of({"calculated_value": "too many logins from 203.0.113.54"})

    assert "from 203.0.113.54" in body


def test_code_that_looks_like_addresses_is_kept() -> None:
    text = "items[::2] std::io::Error at 10:30:00 mac 00:1a:2b:3c:4d:5e loopback ::1"

    assert scrub(text) == text


def test_cookies_are_never_shown() -> None:
    body = body_of(request=django_request(cookies={"theme": "dark", "sessionid": "q1w2e3"}))

    assert "dark" not in body
    assert "q1w2e3" not in body
    assert f"cookie `theme`: `{REDACTED}`" in body


def test_tags_and_issue_fields_are_scrubbed() -> None:
    body = body_of(
        {"transaction": "/reset/?token=abc123def", "calculated_value": "x"},
        transaction="",
        tags=[["session_id", "7f3a9c"], ["browser", "Firefox"]],
    )

    assert "7f3a9c" not in body
    assert "abc123def" not in body
    assert f"tag `session_id`: `{REDACTED}`" in body
    assert "tag `browser`: `Firefox`" in body
    assert f"transaction: `/reset/?token={REDACTED}`" in body


def test_frame_variables_are_never_posted() -> None:
    frames = [
        {
            "filename": "shop/views.py",
            "function": "checkout",
            "context_line": "total = basket.total()",
            "vars": {"basket": "<Basket needle-in-vars>", "card": "4111111111111111"},
        }
    ]
    body = body_of(
        exception={"values": [{"type": "E", "value": "v", "stacktrace": {"frames": frames}}]}
    )

    assert "needle-in-vars" not in body
    assert "4111111111111111" not in body
    assert "total = basket.total()" in body


def test_own_tokens_are_redacted(settings: Any) -> None:
    settings.GITEA_API_TOKEN = "token 7c1e5f0a9b8d2c3e4f5a6b7c8d9e0f1a2b3c4d5e"
    settings.BUGSINK_API_TOKEN = "0123456789abcdef0123456789abcdef01234567"
    message = (
        "debug dump: gitea=7c1e5f0a9b8d2c3e4f5a6b7c8d9e0f1a2b3c4d5e "
        "bugsink=0123456789abcdef0123456789abcdef01234567"
    )

    body = body_of({"calculated_value": message})

    assert "7c1e5f0a9b8d" not in body
    assert "0123456789abcdef" not in body
    assert f"gitea={REDACTED} bugsink={REDACTED}" in body


def test_extra_names_and_patterns_are_applied(settings: Any) -> None:
    settings.SCRUB_EXTRA_SENSITIVE_NAMES = ["iban"]
    settings.SCRUB_EXTRA_PATTERNS = '["ORD-[0-9]{8}"]'

    body = body_of(
        {"calculated_value": "refund of ORD-20261204 failed, iban=DE89370400440532013000"}
    )

    assert "ORD-20261204" not in body
    assert "DE89370400440532013000" not in body
    assert f"refund of {REDACTED} failed, iban={REDACTED}" in body


def test_disabled_pattern_is_not_applied(settings: Any) -> None:
    settings.SCRUB_DISABLED_PATTERNS = ["card_number"]

    body = body_of({"calculated_value": "gift card 4111111111111111 is empty"})

    assert "gift card 4111111111111111 is empty" in body


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SCRUB_EXTRA_PATTERNS", '["(unclosed"]', "pattern 1 is not a valid regular expression"),
        ("SCRUB_EXTRA_PATTERNS", "ORD-[0-9]+", "is not a JSON list"),
        ("SCRUB_EXTRA_PATTERNS", '{"a": 1}', "must be a JSON list of strings"),
        ("SCRUB_DISABLED_PATTERNS", ["cards"], "unknown pattern names cards"),
        ("SCRUB_KEEP_EMAILS", "maybe", "is not a boolean"),
    ],
)
def test_invalid_settings_are_named(
    settings: Any, variable: str, value: Any, expected: str
) -> None:
    setattr(settings, variable, value)

    with pytest.raises(ConfigurationError) as raised:
        load_scrubber()
    errors = [error for error in run_checks() if error.id == "syncapp.E020"]

    assert variable in str(raised.value)
    assert expected in str(raised.value)
    assert len(errors) == 1
    assert errors[0].msg.startswith(variable)


def test_scrubbing_is_idempotent() -> None:
    text = "Authorization: Bearer 1f2e3d4c5b6a79880 password=x jane@example.com 203.0.113.5"

    once = scrub(text)

    assert scrub(once) == once
    assert once == f"Authorization: {REDACTED} password={REDACTED} {EMAIL_MASK} {IP_MASK}"
