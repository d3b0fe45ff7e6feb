"""How drf-spectacular describes the API's two authentication methods in the OpenAPI schema.

drf-spectacular finds these extensions by subclassing; importing this module registers them.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "syncapp.authentication.BearerTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A per-user API token, created under API tokens in the Django admin.",
        }


class AdminSessionScheme(OpenApiAuthenticationExtension):
    target_class = "syncapp.authentication.AdminSessionAuthentication"
    name = "adminSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The Django admin session; POST also needs the X-CSRFToken header.",
        }
