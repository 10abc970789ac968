"""JSON endpoints of the tamper-evident log under /api/v1/integrity/ (adapters only).

Access: the latest checkpoint and consistency proofs to any signed-in user (they hold
only sizes and hashes, and are meant to be published); a session's inclusion proofs to
whoever may view that session (exams.permissions.can_view_session: the student, the
course's staff). A session the user may not see answers 404, like one that does not exist.
"""

from __future__ import annotations

import base64
from uuid import UUID

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from audit.actions import AuditAction
from audit.services import audit_record
from exams.models import ExamSession
from exams.permissions import scope_sessions
from integrity.errors import IntegrityLogError, NoCheckpoint
from integrity.services import (
    checkpoint_from_row,
    integrity_checkpoint_latest,
    integrity_consistency_proof_cached,
    integrity_session_bundle_latest,
    public_key_for,
)
from lms.api.exceptions import api_error_response


def _error(status: int, message: str) -> JsonResponse:
    # The one error body of everything under /api/v1/ (docs/api.md).
    return api_error_response(status, message)


def _signed_in(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated and request.user.is_active)


@require_GET
def checkpoint_latest(request: HttpRequest) -> JsonResponse:
    if not _signed_in(request):
        return _error(401, "Sign in to read the integrity log.")
    row = integrity_checkpoint_latest()
    if row is None:
        return _error(404, "No checkpoint has been signed yet.")
    checkpoint = checkpoint_from_row(row)
    return JsonResponse(
        {
            **checkpoint.to_json(),
            "signed_text": checkpoint.signed_text().decode(),
            "public_key": base64.b64encode(public_key_for(row.key_id)).decode(),
        }
    )


@require_GET
def consistency_proof(request: HttpRequest) -> JsonResponse:
    if not _signed_in(request):
        return _error(401, "Sign in to read the integrity log.")
    try:
        old_size = int(request.GET["from"])
        new_size = int(request.GET["to"])
    except (KeyError, ValueError):
        return _error(400, "Give two tree sizes as whole numbers: ?from=OLD&to=NEW.")
    latest = integrity_checkpoint_latest()
    if latest is None or not 0 <= old_size <= new_size <= latest.tree_size:
        return _error(
            400, f"Sizes must satisfy 0 <= from <= to <= {latest.tree_size if latest else 0} "
            "(the latest checkpoint)."
        )
    try:
        proof = integrity_consistency_proof_cached(old_size=old_size, new_size=new_size)
    except IntegrityLogError as exc:
        return _error(409, str(exc))
    return JsonResponse({"from_size": old_size, "to_size": new_size, "proof": proof})


@require_GET
def session_proof(request: HttpRequest, session_id: UUID) -> JsonResponse:
    if not _signed_in(request):
        return _error(401, "Sign in to read the integrity log.")
    session = (
        scope_sessions(ExamSession.objects.filter(pk=session_id), request.user)
        .select_related("exam__course")
        .first()
    )
    if session is None:
        # Probing for other students' sessions leaves a trace, as elsewhere.
        audit_record(
            actor=request.user, action=AuditAction.INTEGRITY_PROOF_VIEW_REFUSED,
            target=f"session:{session_id}",
        )
        return _error(404, "No such session.")
    try:
        bundle = integrity_session_bundle_latest(session_id=session.pk)
    except NoCheckpoint as exc:
        return _error(404, str(exc))
    except IntegrityLogError as exc:
        return _error(409, str(exc))
    audit_record(
        actor=request.user, action=AuditAction.INTEGRITY_PROOF_VIEW, session=session,
        target=f"session:{session.pk}",
    )
    return JsonResponse(bundle)
