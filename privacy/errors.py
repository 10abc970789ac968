"""Errors raised by privacy/: encryption, key management and the data lifecycle."""


class PrivacyError(Exception):
    """Base class: the message says what went wrong, with which record, and what to do."""


class KeyRingMissing(PrivacyError):
    pass


class UnknownKeyVersion(PrivacyError):
    pass


class DecryptionFailed(PrivacyError):
    """A ciphertext does not open under its record's identity: moved, altered or foreign."""


class EncryptionRequired(PrivacyError):
    pass


class SessionShredded(PrivacyError):
    """The session's data key was destroyed; its encrypted data is gone for good."""


class NotAllowed(PrivacyError):
    """The user may not do this. Edges answer it as 404 (forbidden looks like missing)."""


class ErasureBlocked(PrivacyError):
    pass


class IllegalRequestState(PrivacyError):
    pass


class OriginalsNotKept(PrivacyError):
    pass


class BreakGlassRefused(PrivacyError):
    pass
