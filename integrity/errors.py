"""Errors of the tamper-evident log. Commands and views translate them at the edge."""


class IntegrityLogError(Exception):
    """The tamper-evident log refused an entry or found itself inconsistent."""


class IntegrityEntryRefused(IntegrityLogError):
    """An entry would put free text or an unsupported value into the log."""


class IntegrityViolation(IntegrityLogError):
    """The log, or a table it covers, is not what was recorded."""


class NoCheckpoint(IntegrityLogError):
    """No signed checkpoint covers what was asked for yet."""
