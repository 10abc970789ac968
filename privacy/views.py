"""Pages for encrypted files and a student's own data export. Adapters only: authorize and
call one service; refusals answer 404 so nobody learns what exists."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST

from privacy import services
from privacy.errors import BreakGlassRefused, NotAllowed
from privacy.models import OriginalFrame
from reviews.models import Evidence


@login_required
@require_GET
def file_view(request: HttpRequest, name: str) -> HttpResponse:
    """An encrypted evidence image or (with a break-glass grant) an original frame."""
    evidence = Evidence.objects.select_related("session__exam__course").filter(image=name).first()
    try:
        if evidence is not None:
            data = services.evidence_open(
                actor=request.user, evidence=evidence, reason=request.GET.get("reason", "")
            )
            content_type = evidence.content_type
        else:
            frame = OriginalFrame.objects.select_related("session").filter(image=name).first()
            if frame is None:
                raise Http404
            data = services.original_frame_open(frame=frame, actor=request.user)
            content_type = "image/jpeg"
    except (NotAllowed, BreakGlassRefused) as exc:
        raise Http404 from exc
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def my_data_export(request: HttpRequest) -> HttpResponse:
    """The signed-in student's own data export (POST: it is audited, and big)."""
    data = services.student_data_export(student=request.user, actor=request.user)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="my-proctor-data.zip"'
    response["Cache-Control"] = "private, no-store"
    return response
