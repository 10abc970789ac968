"""Errors raised by the audit trail."""


class AuditError(Exception):
    """Base class: the message says what went wrong and what to do."""


class UnknownAuditAction(AuditError, ValueError):
    """An action that audit/actions.py does not register (a typo, or a new action)."""
