"""Errors raised by exam services. Views translate them once, at the edge."""


class ExamError(Exception):
    """Base class: the message says what went wrong and what to do."""


class NotEnrolled(ExamError):
    pass


class ExamNotOpen(ExamError):
    pass


class IllegalTransition(ExamError):
    pass


class SessionAlreadyExists(ExamError):
    pass
