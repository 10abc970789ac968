"""Errors raised by the API's services; exams/api/exceptions.py turns them into HTTP."""

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
