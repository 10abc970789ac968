"""API key authentication: ``Authorization: Bearer prk_…``, per institution."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from lms.api.errors import ApiError
from lms.api.services import api_key_authenticate
from lms.models import ApiKey


class ApiKeyAuthentication(BaseAuthentication):
    """A request with a bearer key acts for the key's institution, not for a person.

    ``request.user`` stays anonymous and ``request.auth`` is the ApiKey, so nothing that
    looks at the user (the admin, the student pages) can be reached with a key.
    """

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                "Malformed Authorization header; send 'Authorization: Bearer prk_…'."
            )
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("The API key is not valid.") from exc
        try:
            key = api_key_authenticate(raw_key=raw_key)
        except ApiError as exc:
            raise AuthenticationFailed(str(exc)) from exc
        return AnonymousUser(), key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="proctor-api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "lms.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An institution's API key, `prk_…` (see docs/api.md).",
        }
