"""Student pages: my exams, consent, camera check, the exam itself, finished.

Each view parses, authorizes through selectors/permissions, calls one service and
responds. Service errors become a message on the page the student is sent back to.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from audit.actions import AuditAction
from audit.services import audit_record
from exams import selectors, services
from exams.errors import ExamError
from exams.models import ExamSession
from exams.policy import consent_text

State = ExamSession.State

# The page that belongs to each state: a student landing anywhere is sent to it.
_PAGE_FOR_STATE = {
    State.CREATED: "exams:consent",
    State.CONSENTED: "exams:camera_check",
    State.CAMERA_CHECKED: "exams:session",
    State.IN_PROGRESS: "exams:session",
    State.SUBMITTED: "exams:finished",
    State.TERMINATED: "exams:finished",
    State.EXPIRED: "exams:finished",
}


def _page_for(session: ExamSession) -> str:
    return reverse(_PAGE_FOR_STATE[session.state], args=[session.pk])


def _own_session(request: HttpRequest, session_id: UUID) -> ExamSession:
    try:
        return selectors.session_get_for_student(user=request.user, session_id=session_id)
    except Http404:
        # Probing for someone else's session (or a made-up id) leaves a trace.
        audit_record(
            actor=request.user,
            action=AuditAction.SESSION_VIEW_REFUSED,
            target=f"session:{session_id}",
            reason="Not the requester's session, or no such session.",
        )
        raise


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _client_info(request: HttpRequest) -> dict[str, str]:
    return {"user_agent": request.headers.get("User-Agent", "")[:300]}


@login_required
def my_exams(request: HttpRequest) -> HttpResponse:
    rows = selectors.exam_list_for_student(student=request.user)
    return render(request, "exams/my_exams.html", {"rows": rows})


@login_required
@require_POST
def exam_begin(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = selectors.exam_get_for_student(student=request.user, exam_id=exam_id)
    try:
        session = services.session_open(
            exam=exam, student=request.user, client_info=_client_info(request)
        )
    except ExamError as exc:
        messages.error(request, str(exc))
        return redirect("exams:my_exams")
    return redirect(_page_for(session))


@login_required
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, session_id: UUID) -> HttpResponse:
    session = _own_session(request, session_id)
    if request.method == "POST":
        if request.POST.get("agree") != "yes":
            messages.error(request, "Tick the box to confirm you agree before continuing.")
        else:
            try:
                services.session_consent(session=session, actor=request.user)
            except ExamError as exc:
                messages.error(request, str(exc))
            return redirect(_page_for(session))
    elif session.state != State.CREATED:
        return redirect(_page_for(session))
    return render(
        request,
        "exams/consent.html",
        {"session": session, "exam": session.exam, "policy": consent_text(session.exam)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def camera_check(request: HttpRequest, session_id: UUID) -> HttpResponse:
    session = _own_session(request, session_id)
    if request.method == "POST":
        try:
            services.session_camera_check(session=session, actor=request.user)
        except ExamError as exc:
            messages.error(request, str(exc))
        return redirect(_page_for(session))
    if session.state not in (State.CONSENTED, State.CAMERA_CHECKED):
        return redirect(_page_for(session))
    return render(request, "exams/camera_check.html", {"session": session, "exam": session.exam})


@login_required
@require_http_methods(["GET", "POST"])
def session_detail(request: HttpRequest, session_id: UUID) -> HttpResponse:
    session = _own_session(request, session_id)
    if request.method == "POST":
        try:
            services.session_start(session=session, actor=request.user)
        except ExamError as exc:
            messages.error(request, str(exc))
        return redirect(_page_for(session))
    session = services.session_expire_if_overdue(session=session)
    if session.state not in (State.CAMERA_CHECKED, State.IN_PROGRESS):
        return redirect(_page_for(session))
    remaining = session.remaining()
    context = {
        "session": session,
        "exam": session.exam,
        "remaining_text": _clock(remaining.total_seconds()) if remaining is not None else "",
        "extra_time_min": selectors.extra_time_for(session=session),
    }
    return render(request, "exams/session.html", context)


@login_required
@require_POST
def session_submit(request: HttpRequest, session_id: UUID) -> HttpResponse:
    session = _own_session(request, session_id)
    try:
        services.session_submit(session=session, actor=request.user)
    except ExamError as exc:
        messages.error(request, str(exc))
    return redirect(_page_for(session))


@login_required
def finished(request: HttpRequest, session_id: UUID) -> HttpResponse:
    session = _own_session(request, session_id)
    if not session.is_finished:
        return redirect(_page_for(session))
    return render(request, "exams/finished.html", {"session": session, "exam": session.exam})
