"""OpenAPI generation: every operation documents the API's one error body."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import SAFE_METHODS

from lms.api.serializers import ErrorSerializer

_ERRORS = {
    "400": "Invalid request; `details` has the errors per field.",
    "401": "No credentials, or an invalid or revoked API key.",
    "403": "The credentials lack the scope or the role for this.",
    "404": "Not found, or not visible to the caller.",
    "409": "Conflicts with the current state (e.g. a course code in use).",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
}
_DETAIL_ONLY = {"404"}
_WRITE_ONLY = {"409"}


class ProctorAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        has_path_param = "{" in self.path
        for code, description in _ERRORS.items():
            if code in _DETAIL_ONLY and not has_path_param:
                continue
            if code in _WRITE_ONLY and self.method in SAFE_METHODS:
                continue
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = description
                responses[code] = response
        return responses
