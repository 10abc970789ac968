"""HTTP endpoints of the monitoring app: the stream ticket and the reviewers' live view."""

from __future__ import annotations

import base64
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from audit.actions import AuditAction
from audit.services import audit_record
from exams import permissions
from monitoring import selectors, services
from monitoring.errors import SessionNotStreaming
from monitoring.models import StreamTicket


@login_required
@require_POST
def stream_ticket(request: HttpRequest, session_id: UUID) -> JsonResponse:
    """Issue a single-use socket ticket and the session's outbox key (CSRF-protected POST).

    The page sends the ticket as its first WebSocket message, never in a URL.
    """
    purpose = request.POST.get("purpose", StreamTicket.Purpose.EXAM)
    if purpose not in StreamTicket.Purpose.values:
        return JsonResponse({"error": "purpose must be 'check' or 'exam'."}, status=400)
    try:
        session = selectors.session_get_for_stream(user=request.user, session_id=session_id)
    except Http404:
        audit_record(
            actor=request.user, action=AuditAction.STREAM_TICKET_REFUSED,
            target=f"session:{session_id}",
            reason="Not the requester's session, or no such session.",
        )
        raise
    try:
        token = services.ticket_issue(session=session, actor=request.user, purpose=purpose)
    except SessionNotStreaming as exc:
        return JsonResponse({"error": str(exc), "state": session.state}, status=409)
    return JsonResponse(
        {
            "ticket": token,
            "expires_in_s": services.TICKET_TTL_S,
            "session": str(session.pk),
            "purpose": purpose,
            "ws_path": "/ws/monitoring/stream/",
            "fps": session.exam.frame_rate_fps,
            "outbox_key": base64.b64encode(services.outbox_key(session_id=session.pk)).decode(),
        },
        headers={"Cache-Control": "no-store"},
    )


@login_required
@require_GET
def live_sessions(request: HttpRequest) -> HttpResponse:
    """In-progress sessions of the viewer's courses; live updates come over a WebSocket."""
    if not permissions.courses_for_staff(request.user).exists():
        raise Http404("No such page.")
    rows = selectors.live_rows_for_staff(user=request.user)
    return render(request, "monitoring/live.html", {"rows": rows})
