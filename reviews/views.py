"""Review workspace and student report pages: parse, authorize, call, respond.

Access is decided in reviews/permissions.py (through the selectors); whatever the user
may not see answers 404, exactly like something that does not exist.
"""

from __future__ import annotations

import logging
import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from exams.models import Exam
from privacy import services as privacy_services
from privacy.errors import PrivacyError
from reviews import permissions, selectors, services
from reviews.errors import ReviewError
from reviews.forms import AppealForm, IncidentDecisionForm, QueueFilterForm, ReviewCloseForm
from reviews.models import ReviewDecision

logger = logging.getLogger(__name__)

# The queue scores the most recent sessions matching the filters; narrow the filters to
# reach older ones (a course's exam rarely has more than a few hundred sittings).
QUEUE_LIMIT = 500


def _int_param(request: HttpRequest, name: str, default: int | None = None) -> int | None:
    try:
        return int(request.GET.get(name, ""))
    except ValueError:
        return default


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """Reviewers only: sessions of their courses, most suspicious first."""
    courses = permissions.reviewable_courses(request.user)
    if not courses.exists():
        raise Http404("No review queue here.")
    form = QueueFilterForm(
        request.GET or None,
        courses=courses,
        exams=Exam.objects.filter(course__in=courses.values("pk")).select_related("course"),
    )
    filters: dict = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {
            "course_id": data["course"].pk if data["course"] else None,
            "exam_id": data["exam"].pk if data["exam"] else None,
            "status": data["status"] or None,
            "kind": data["kind"] or None,
        }
    rows = selectors.review_queue(reviewer=request.user, limit=QUEUE_LIMIT, **filters)
    return render(
        request,
        "reviews/queue.html",
        {"form": form, "rows": rows, "is_truncated": len(rows) >= QUEUE_LIMIT},
    )


def _timeline_context(request: HttpRequest, session, *, student_view: bool) -> dict:
    name = "reviews:student_report" if student_view else "reviews:timeline"
    base = reverse(name, args=[session.pk])
    timeline = selectors.session_timeline(
        session=session,
        selected_id=_int_param(request, "incident"),
        page=_int_param(request, "page", 1) or 1,
        incident_url=lambda pk: f"{base}?incident={pk}#incident-detail",
        thumbnail_url=lambda pk: reverse("reviews:evidence_image", args=[pk]),
    )
    return {
        "timeline": timeline,
        "session": session,
        "svg": mark_safe(timeline.svg),  # noqa: S308  (built and escaped in reviews/timeline.py)
        "base_url": base,
        "page_range": range(1, timeline.page_count + 1),
    }


@login_required
@require_GET
def timeline(request: HttpRequest, session_id) -> HttpResponse:
    """Reviewers of the session's course: the timeline, evidence and decisions."""
    session = selectors.session_for_review(reviewer=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session.")
    context = _timeline_context(request, session, student_view=False)
    timeline = context["timeline"]
    if timeline.selected is not None or timeline.decisions or timeline.appeal is not None:
        # The page shows decrypted text (the incident's details, notes, the appeal): one
        # authorized, audited reveal per view, as lifecycle/services.py asks.
        try:
            privacy_services.session_data_reveal(
                actor=request.user, session=session, what="review timeline",
                reason="review",
            )
        except PrivacyError as exc:
            raise Http404("No such session.") from exc
    if timeline.selected is not None:
        context["details"] = selectors.incident_details(timeline.selected)
    context["decision_form"] = IncidentDecisionForm()
    context["close_form"] = ReviewCloseForm()
    return render(request, "reviews/timeline.html", context)


@login_required
@require_POST
def incident_decide(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = selectors.incident_for_review(reviewer=request.user, incident_id=incident_id)
    if incident is None:
        raise Http404("No such incident.")
    url = reverse("reviews:timeline", args=[incident.session_id])
    form = IncidentDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose confirm or dismiss (a note is optional).")
        return redirect(f"{url}?incident={incident.pk}#incident-detail")
    service = (
        services.incident_confirm
        if form.cleaned_data["decision"] == ReviewDecision.Decision.CONFIRM
        else services.incident_dismiss
    )
    try:
        service(incident=incident, reviewer=request.user, note=form.cleaned_data["note"])
    except ReviewError as exc:
        logger.info("Decision refused in session %s: %s", incident.session_id, exc)
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Incident {incident.pk} {incident.get_status_display()}.")
    return redirect(f"{url}?incident={incident.pk}#incident-detail")


@login_required
@require_POST
def review_close(request: HttpRequest, session_id) -> HttpResponse:
    session = selectors.session_for_review(reviewer=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session.")
    form = ReviewCloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an outcome to close the review.")
    else:
        try:
            services.review_close(
                session=session,
                reviewer=request.user,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
            )
        except ReviewError as exc:
            logger.info("Closing refused in session %s: %s", session.pk, exc)
            messages.error(request, str(exc))
        else:
            messages.success(request, "Review closed.")
    return redirect(reverse("reviews:timeline", args=[session.pk]) + "#outcome")


@login_required
@require_GET
def evidence_image(request: HttpRequest, evidence_id: int) -> HttpResponse:
    """The anonymized image, to the session's reviewers and its own student only.

    Evidence never has a public media URL: it is streamed here after the permission
    check, marked private so that no shared cache keeps it.
    """
    evidence = selectors.evidence_for_viewer(user=request.user, evidence_id=evidence_id)
    if evidence is None:
        raise Http404("No such evidence.")
    try:
        # Decrypts the stored image and writes the audit entry (privacy/).
        data = privacy_services.evidence_open(
            actor=request.user, evidence=evidence, reason="review page"
        )
    except PrivacyError as exc:  # not allowed, or the session was shredded
        raise Http404("No such evidence.") from exc
    content_type = evidence.content_type or (
        mimetypes.guess_type(evidence.image.name)[0] or "application/octet-stream"
    )
    if not content_type.startswith("image/"):
        content_type = "application/octet-stream"
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_GET
def student_sessions(request: HttpRequest) -> HttpResponse:
    """A student's own ended sessions with their outcome."""
    sessions = selectors.sessions_for_student(student=request.user)
    return render(request, "reviews/student_sessions.html", {"sessions": sessions})


@login_required
@require_http_methods(["GET", "POST"])
def student_report(request: HttpRequest, session_id) -> HttpResponse:
    """The student's own ended session: what was flagged, the evidence, the outcome."""
    session = selectors.session_for_student(student=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session.")
    form = AppealForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.appeal_submit(
                session=session, student=request.user, text=form.cleaned_data["text"]
            )
        except ReviewError as exc:
            form.add_error("text", str(exc))
        else:
            messages.success(request, "Your response was sent to the reviewers.")
            return redirect(reverse("reviews:student_report", args=[session.pk]) + "#appeal")
    context = _timeline_context(request, session, student_view=True)
    if context["timeline"].appeal is not None:
        # The student reads their own encrypted response back: audited like any reveal.
        try:
            privacy_services.session_data_reveal(
                actor=request.user, session=session, what="own appeal", reason="report"
            )
        except PrivacyError as exc:
            raise Http404("No such session.") from exc
    context["appeal_form"] = form
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "reviews/student_report.html", context, status=status)
