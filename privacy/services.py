"""Decryption for a person: each one is authorized here and written to the audit trail.

Code reads encrypted attributes directly (privacy/fields.py); showing plaintext to a
person goes through these functions. Who may is the one rule of privacy/access.py. They
raise privacy.errors.NotAllowed, which the edges turn into 404 (forbidden looks like
missing).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction

from audit.actions import AuditAction
from audit.services import audit_record
from exams.models import ExamSession
from privacy import access
from privacy.errors import NotAllowed


def readable(value: Any) -> Any:
    """A decrypted value as people read it: JSON bytes parsed, other bytes as text (or
    base64 when they are not text)."""
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            pass
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode("ascii")}
    return value


def not_found() -> NotAllowed:
    # Forbidden looks like missing: the message does not confirm the record exists.
    return NotAllowed("No such record, or you may not see it.")


# Decryption for people ------------------------------------------------------------------


def record_reveal(
    *, actor: AbstractBaseUser, record: models.Model, fields: list[str], reason: str = ""
) -> dict[str, Any]:
    """The decrypted ``fields`` of ``record`` (which has a ``session``), for a person.

    Raises NotAllowed unless the actor may read that session's decrypted content
    (privacy/access.py); every success is audited.
    """
    session = record.session
    if not access.can_read_decrypted(actor, session):
        raise not_found()
    with transaction.atomic():
        values = {name: getattr(record, name) for name in fields}
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_DECRYPT, session=session,
            target=f"{record._meta.label_lower}:{record.pk}", reason=reason,
            detail={"fields": fields},
        )
    return values


def session_data_reveal(
    *, actor: AbstractBaseUser, session: ExamSession, what: str, reason: str = ""
) -> None:
    """Authorize and audit one person viewing many decrypted records of one session.

    For pages that show a whole session (timeline, API list): one audit entry per view
    instead of one per row. After it returns, read the records' encrypted attributes as
    usual. Raises NotAllowed.
    """
    if not access.can_read_decrypted(actor, session):
        raise not_found()
    audit_record(
        actor=actor, action=AuditAction.PRIVACY_DECRYPT, session=session,
        target=f"session:{session.pk}", reason=reason, detail={"what": what},
    )


def evidence_open(*, actor: AbstractBaseUser, evidence: models.Model, reason: str = "") -> bytes:
    """The decrypted anonymized image of a monitoring.Evidence row. Raises NotAllowed;
    audited."""
    if not access.can_read_decrypted(actor, evidence.session):
        raise not_found()
    with transaction.atomic():
        with evidence.image.open("rb") as handle:
            data = handle.read()
        audit_record(
            actor=actor, action=AuditAction.PRIVACY_DECRYPT, session=evidence.session,
            target=f"{evidence._meta.label_lower}:{evidence.pk}", reason=reason,
            detail={"fields": ["image"]},
        )
    return data
