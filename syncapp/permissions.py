"""The admin API's permission: authenticated staff users, the same people as the Django admin."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsStaffUser(BasePermission):
    """Staff users only. Anonymous requests are rejected with 401 by DRF before this message
    is used, so it only reaches authenticated users without the staff flag (403)."""

    message = "this endpoint is for staff users; ask an administrator to set your staff flag"
    code = "not_staff"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff and user.is_active)
