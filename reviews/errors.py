"""Errors raised by review services. Views translate them once, at the edge."""


class ReviewError(Exception):
    """Base class: the message says what went wrong and what to do."""


class IncidentAlreadyDecided(ReviewError):
    pass


class ReviewClosed(ReviewError):
    """The session's review has an outcome; no further decision may change it."""


class InvalidOutcome(ReviewError):
    pass


class AppealNotAllowed(ReviewError):
    """The session is not the student's, not finished, or already has an appeal."""
