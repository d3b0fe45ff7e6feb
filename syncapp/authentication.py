"""Authentication of the admin API: a per-user API token, or the Django admin session.

A token is `bgs_` followed by 43 URL-safe characters (256 random bits). Only its SHA-256
digest is stored, so a leaked database does not leak usable tokens. A plain digest without
salt is enough because the token is random, not a password someone chose.
"""

import hashlib
import logging
import secrets
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, get_authorization_header
from rest_framework.request import Request

from syncapp.models import ApiToken

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "bgs_"  # noqa: S105 (a marker that secret scanners match, not a secret)
# Stored in ApiToken.prefix and shown in the admin, so that an operator can tell tokens apart.
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 6


def digest_of(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def generate_raw_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def save_new_token(token: ApiToken, raw_token: str) -> None:
    """Store the digest and prefix of raw_token on an unsaved ApiToken, and save it."""
    token.digest = digest_of(raw_token)
    token.prefix = raw_token[:SHOWN_PREFIX_LENGTH]
    token.save()
    logger.info("api_token=%s (%s) issued for user=%s", token.pk, token.prefix, token.user_id)


def issue_api_token(user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Create a token for user and return it with its plaintext, which is not stored."""
    raw_token = generate_raw_token()
    token = ApiToken(user=user, name=name)
    save_new_token(token, raw_token)
    return token, raw_token


def revoke_api_tokens(tokens: Any) -> int:
    """Revoke the not yet revoked tokens of a queryset; return how many were revoked."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


class BearerTokenAuthentication:
    """`Authorization: Bearer <token>` with an ApiToken.

    Returns None (so that the session is tried next) when the header is absent or uses
    another scheme, and raises AuthenticationFailed (401) for a malformed, unknown or revoked
    token. The token itself never appears in a message or log line.
    """

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "invalid Authorization header: use 'Bearer <token>' with no spaces in the token",
                code="invalid_token",
            )

        try:
            raw_token = parts[1].decode()
        except UnicodeDecodeError as error:
            raise exceptions.AuthenticationFailed(
                "invalid API token", code="invalid_token"
            ) from error
        token = ApiToken.objects.select_related("user").filter(digest=digest_of(raw_token)).first()
        if token is None:
            raise exceptions.AuthenticationFailed("invalid API token", code="invalid_token")
        if token.is_revoked:
            raise exceptions.AuthenticationFailed(
                f"API token {token.prefix}… was revoked; create a new one in the admin",
                code="token_revoked",
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(
                "the API token's user is inactive", code="inactive_user"
            )

        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # With a challenge to return, DRF rejects anonymous requests with 401 instead of 403.
        return 'Bearer realm="api"'


class CsrfFailed(exceptions.PermissionDenied):
    default_code = "csrf_failed"


class AdminSessionAuthentication(SessionAuthentication):
    """The Django admin's session, with CSRF enforced on unsafe methods as DRF does, but
    failing with its own error code so that a script can tell it from a missing staff flag."""

    def enforce_csrf(self, request: Request) -> None:
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as error:
            raise CsrfFailed(
                f"{error.detail}; send the csrftoken cookie's value in the X-CSRFToken header, "
                "or use an API token"
            ) from error
