"""Errors raised by the API's services; lms/api/exceptions.py turns them into HTTP."""

from exams.errors import ExamError


class ApiError(ExamError):
    """Base class: the message says what went wrong and what to do."""


class ApiKeyInvalid(ApiError):
    pass


class ApiKeyRevoked(ApiError):
    pass


class EnrollmentSyncConflict(ApiError):
    """The LMS's list names an account that may not be enrolled through the API."""


class CourseCodeTaken(ApiError):
    pass


class WebhookDeliveryFailed(ApiError):
    pass


class WebhookUrlRefused(ApiError):
    """Proctor will not send webhooks to this URL: not https, credentials in it, or a host
    that is (or resolves to) a loopback, private or otherwise non-public address (SSRF)."""


class WebhookHostUnresolved(ApiError):
    """The webhook URL's host name does not resolve (now); DNS failures may be temporary."""
