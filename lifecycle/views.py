"""Pages for encrypted files and a student's own data export. Adapters only: authorize and
call one service; refusals answer 404 so nobody learns what exists."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from lifecycle import selectors, services
from lifecycle.models import OriginalFrame
from monitoring.models import Evidence
from privacy import services as privacy_services
from privacy.errors import BreakGlassRefused, IllegalRequestState, NotAllowed


@login_required
@require_GET
def file_view(request: HttpRequest, name: str) -> HttpResponse:
    """An encrypted evidence image or (with a break-glass grant) an original frame."""
    evidence = Evidence.objects.select_related("session__exam__course").filter(image=name).first()
    try:
        if evidence is not None:
            data = privacy_services.evidence_open(
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
@require_GET
def my_data(request: HttpRequest) -> HttpResponse:
    """The signed-in person's own data: break-glass notices, the export, erasure requests."""
    context = {
        "break_glass_notices": selectors.break_glass_notices_for_student(student=request.user),
        "erasure_institutions": selectors.institutions_of_student(student=request.user),
        "erasure_requests": selectors.erasure_requests_of_student(student=request.user),
    }
    return render(request, "lifecycle/my_data.html", context)


@login_required
@require_POST
def my_data_export(request: HttpRequest) -> HttpResponse:
    """The signed-in student's own data export (POST: it is audited, and big)."""
    data = services.student_data_export(student=request.user, actor=request.user)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="my-proctor-data.zip"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def my_erasure_request(request: HttpRequest) -> HttpResponse:
    """The signed-in student asks one institution to erase their data (an admin decides)."""
    institution = (
        selectors.institutions_of_student(student=request.user)
        .filter(pk=request.POST.get("institution") or 0)
        .first()
    )
    if institution is None:
        raise Http404
    try:
        services.erasure_request(
            student=request.user, institution=institution, actor=request.user,
            reason=request.POST.get("reason", "")[:1000],
        )
    except IllegalRequestState as exc:
        messages.info(request, str(exc))
    else:
        messages.success(
            request,
            f"Your erasure request was sent to {institution}. An administrator there "
            "decides; data under an open review is kept until the review is closed.",
        )
    return redirect("privacy:my_data")
