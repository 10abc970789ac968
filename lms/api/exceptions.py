"""One error body for every API failure: ``{"error": {"status", "code", "message", "details"}}``.

400, 401, 403, 404, 405, 409, 415 and 429 all look alike, so an LMS needs one parser.
Service errors (lms/api/errors.py, Django's ValidationError) are translated here, once.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from lms.api.errors import CourseCodeTaken, EnrollmentSyncConflict


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


def _message(detail: Any) -> str:
    if isinstance(detail, dict | list):
        return "The request is not valid; see details."
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, CourseCodeTaken | EnrollmentSyncConflict):
        exc = Conflict(str(exc))
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    response = exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, exceptions.APIException)
    detail = exc.detail
    if isinstance(detail, dict | list):
        code = "invalid"
        details: Any = exc.get_full_details()
    else:
        code = getattr(detail, "code", None) or exc.default_code
        details = None
    response.data = {
        "error": {
            "status": response.status_code,
            "code": str(code),
            "message": _message(detail),
            "details": details,
        }
    }
    return response


def api_error_response(
    status_code: int, message: str, *, code: str = "", details: Any = None
) -> JsonResponse:
    """The same error body from a plain Django view under /api/v1/ (not DRF).

    E.g. ``return api_error_response(404, "No checkpoint has been signed yet.")``.
    """
    default_codes = {
        400: "invalid", 401: "not_authenticated", 403: "permission_denied", 404: "not_found",
        405: "method_not_allowed", 409: "conflict", 429: "throttled",
    }
    body = {
        "error": {
            "status": status_code,
            "code": code or default_codes.get(status_code, "error"),
            "message": message,
            "details": details,
        }
    }
    return JsonResponse(body, status=status_code)
