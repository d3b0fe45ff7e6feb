"""API tokens: created with their plaintext shown once, listed by prefix, revoked."""

import logging
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from syncapp.authentication import generate_raw_token, revoke_api_tokens, save_new_token
from syncapp.models import ApiToken

logger = logging.getLogger(__name__)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "shown_prefix", "created_at", "last_used_at", "active"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    actions = ["revoke_tokens"]

    @admin.display(description="token")
    def shown_prefix(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    @admin.display(description="active", boolean=True)
    def active(self, token: ApiToken) -> bool:
        return not token.is_revoked

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # A staff user who manages tokens lists and creates only their own, a superuser all tokens.
        tokens = super().get_queryset(request).select_related("user")
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        if obj is None:
            return ["name", "user"]
        return ["name", "user", "shown_prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        if obj is None:
            return []
        return ["user", "shown_prefix", "created_at", "last_used_at", "revoked_at"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            kwargs["initial"] = request.user.pk
            if not request.user.is_superuser:
                kwargs["queryset"] = db_field.related_model.objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        raw_token = generate_raw_token()
        save_new_token(obj, raw_token)
        # Kept on this request only, for response_add to show once.
        request.api_token_plaintext = raw_token

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "API token created",
            "token": obj,
            "plaintext": request.api_token_plaintext,
            "sync_url": request.build_absolute_uri("/api/admin/bugsink/sync"),
            "status_url": request.build_absolute_uri("/api/admin/bugsink/sync/status"),
        }
        return TemplateResponse(request, "admin/syncapp/apitoken/token_created.html", context)

    @admin.action(description="Revoke selected API tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = revoke_api_tokens(queryset)
        logger.info("user=%s revoked %d API token(s)", request.user.pk, revoked)
        messages.success(request, f"Revoked {revoked} API token(s); they no longer authenticate.")
