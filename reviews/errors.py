"""Errors raised by review services."""


class ReviewError(Exception):
    """Base class: the message says what went wrong and what to do."""


class IncidentAlreadyDecided(ReviewError):
    pass
