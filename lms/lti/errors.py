"""Errors of LTI launches; lms/lti/views.py turns them into a 400/403 page."""

from exams.errors import ExamError


class LtiError(ExamError):
    """Base class: the message says what went wrong and what to do."""


class LtiLaunchRefused(LtiError):
    """The launch is not valid (signature, audience, nonce, state, deployment...)."""


class LtiExamNotFound(LtiError):
    pass


class LtiNotAllowed(LtiError):
    """A valid launch by someone whose LTI roles do not allow the requested step."""
