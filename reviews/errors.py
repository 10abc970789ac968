"""Errors raised by review services."""


class ReviewError(Exception):
    """Base class: the message says what went wrong and what to do."""


class IncidentAlreadyDecided(ReviewError):
    pass


class IntegrityLogError(ReviewError):
    """The tamper-evident log refused an entry or found itself inconsistent."""


class IntegrityEntryRefused(IntegrityLogError):
    pass


class IntegrityViolation(IntegrityLogError):
    pass


class NoCheckpoint(IntegrityLogError):
    pass


class EvidenceStorageError(ReviewError):
    """Evidence could be stored neither in the object store nor in the local spool."""


class SpoolCorrupted(EvidenceStorageError):
    pass
