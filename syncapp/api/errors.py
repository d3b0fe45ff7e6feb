"""The admin API's one error shape: `{"success": false, "error": {"code", "message", ...}}`.

DRF routes every exception raised in a view, in authentication and in permission checks
through `handle_api_exception`, so no error of the API is an HTML page. Unknown paths under
/api/ get the same shape from `api_not_found`.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)

NOT_AUTHENTICATED_MESSAGE = (
    "authentication required: log in to the Django admin, or send "
    "'Authorization: Bearer <token>' with an API token from the admin"
)


class ApiProblem(exceptions.APIException):
    """An error response with its status, code, message and extra fields for the error object."""

    def __init__(self, status_code: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.extra = extra


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message, **extra}}


def handle_api_exception(exc: Exception, context: dict[str, Any]) -> Response:
    """Render any exception of an API view as the error envelope (DRF's EXCEPTION_HANDLER).

    Exceptions that are not API errors are logged with their traceback and get a 500
    response, where DRF's default handler would let Django render its HTML error page.
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        request = context.get("request")
        logger.exception(
            "admin API request failed: %s %s",
            getattr(request, "method", "?"),
            getattr(request, "path", "?"),
        )
        body = error_body(
            "internal_error", "the server failed to handle the request; see the server log"
        )
        return Response(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    return Response(describe(exc), status=exc.status_code, headers=headers)


def describe(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, ApiProblem):
        return error_body(str(exc.get_codes()), str(exc.detail), **exc.extra)
    if isinstance(exc, exceptions.ValidationError):
        return error_body("invalid_request", "the request body is invalid", field_errors=exc.detail)
    if isinstance(exc, exceptions.NotAuthenticated):
        return error_body("not_authenticated", NOT_AUTHENTICATED_MESSAGE)
    return error_body(str(exc.get_codes()), str(exc.detail))


def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Return a 404 envelope for a path under /api/ that names no endpoint."""
    body = error_body(
        "not_found", f"no API endpoint at {request.path}; /api/schema/ lists the endpoints"
    )
    return JsonResponse(body, status=404)
