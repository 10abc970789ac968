"""LTI 1.3 endpoints: OIDC login initiation, launch, deep linking and the tool's JWKS.

The platform reaches login and launch cross-site (a form post from the LMS), so they
cannot carry our CSRF token: they are csrf_exempt and authenticated instead by what LTI
specifies — the platform's RS256 signature on the id_token, our one-time nonce inside it
and the state cookie set at login. Nothing there trusts an existing Django session.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pylti1p3.contrib.django import DjangoOIDCLogin
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException

from audit.actions import AuditAction
from audit.services import audit_record
from exams.models import Course, Exam
from lms import permissions
from lms.lti.errors import LtiError, LtiNotAllowed
from lms.lti.pylti import (
    OneTimeNonceSessionService,
    ProctorMessageLaunch,
    ProctorToolConf,
    TimeoutSession,
    new_launch_storage,
)
from lms.lti.services import CUSTOM_EXAM_ID, lti_launch_provision

log = logging.getLogger(__name__)

SESSION_KEY = "lti_deep_link"


def launch_url() -> str:
    # The exact redirect URI registered in the LMS: built from SITE_URL, not from the
    # request's Host header, which a proxy or an attacker could change.
    return settings.SITE_URL.rstrip("/") + reverse("lti:launch")


def _refused(request: HttpRequest, message: str, *, status: int = 400) -> HttpResponse:
    log.warning("LTI request refused: %s", message)
    return render(request, "lti/refused.html", {"message": message}, status=status)


def _launch(request: HttpRequest, tool_conf: ProctorToolConf) -> ProctorMessageLaunch:
    return ProctorMessageLaunch(
        request,
        tool_conf,
        session_service=OneTimeNonceSessionService(request),
        launch_data_storage=new_launch_storage(),
        requests_session=TimeoutSession(),
    )


@csrf_exempt  # a cross-site request from the LMS; see the module docstring
@require_http_methods(["GET", "POST"])
def oidc_login(request: HttpRequest) -> HttpResponse:
    """Step 1: the LMS names itself; we answer with a redirect to its auth endpoint."""
    oidc = DjangoOIDCLogin(
        request,
        ProctorToolConf(),
        session_service=OneTimeNonceSessionService(request),
        launch_data_storage=new_launch_storage(),
    )
    try:
        return oidc.redirect(launch_url())
    except (LtiException, OIDCException) as exc:
        return _refused(request, f"The LMS's login request was refused: {exc}")


@csrf_exempt  # the LMS posts the signed id_token here; see the module docstring
@require_POST
def launch(request: HttpRequest) -> HttpResponse:
    """Step 2: validate the id_token, provision, sign the user in, send them on."""
    tool_conf = ProctorToolConf()
    message_launch = _launch(request, tool_conf)
    try:
        claims = message_launch.get_launch_data()
    except (LtiException, KeyError, ValueError) as exc:
        audit_record(actor=None, action=AuditAction.LTI_LAUNCH_REFUSED, reason=str(exc)[:500])
        return _refused(request, f"The launch was refused: {exc}")
    registration = tool_conf.row(claims["iss"], message_launch.get_client_id())
    try:
        result = lti_launch_provision(registration=registration, claims=claims)
    except LtiError as exc:
        return _refused(request, str(exc))
    login(request, result.user, backend="django.contrib.auth.backends.ModelBackend")

    if message_launch.is_deep_link_launch():
        if not permissions.can_manage_course(result.user, result.course):
            return _refused(
                request, str(LtiNotAllowed("Only the course's instructors pick exams.")),
                status=403,
            )
        request.session[SESSION_KEY] = {
            "launch_id": message_launch.get_launch_id(),
            "course_id": result.course.pk,
        }
        return redirect("lti:deep_link")
    if result.exam is not None and (result.is_instructor or result.is_reviewer):
        return redirect("admin:exams_exam_change", result.exam.pk)
    if result.exam is not None:
        messages.info(request, f"Start “{result.exam.title}” from your list of exams.")
    return redirect("exams:my_exams")


@login_required
@require_http_methods(["GET", "POST"])
def deep_link(request: HttpRequest) -> HttpResponse:
    """Step 2b: an instructor picks the exam that the LMS link will open."""
    pending = request.session.get(SESSION_KEY)
    if not pending:
        return _refused(request, "No exam picking is in progress; start again from the LMS.")
    course = permissions.courses_for_staff(
        request.user, roles=permissions.MANAGER_ROLES
    ).filter(pk=pending["course_id"]).first()
    if course is None:
        return _refused(request, "Only the course's instructors pick exams.", status=403)
    exams = Exam.objects.filter(course=course).order_by("opens_at", "title")
    if request.method == "GET":
        return render(request, "lti/deep_link_pick.html", {"course": course, "exams": exams})
    exam = exams.filter(pk=_int(request.POST.get("exam"))).first()
    if exam is None:
        messages.error(request, "Choose one of the course's exams.")
        return render(
            request, "lti/deep_link_pick.html", {"course": course, "exams": exams}, status=400
        )
    return _deep_link_response(request, pending["launch_id"], course, exam)


def _deep_link_response(
    request: HttpRequest, launch_id: str, course: Course, exam: Exam
) -> HttpResponse:
    tool_conf = ProctorToolConf()
    try:
        message_launch = ProctorMessageLaunch.from_cache(
            launch_id, request, tool_conf,
            session_service=OneTimeNonceSessionService(request),
            launch_data_storage=new_launch_storage(),
            requests_session=TimeoutSession(),
        )
        deep_link = message_launch.get_deep_link()
        resource = (
            DeepLinkResource()
            .set_url(launch_url())
            .set_title(exam.title)
            .set_custom_params({CUSTOM_EXAM_ID: str(exam.pk)})
        )
        token = deep_link.get_response_jwt([resource])
        return_url = message_launch.get_launch_data()[
            "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
        ]["deep_link_return_url"]
    except (LtiException, KeyError) as exc:
        return _refused(request, f"The exam could not be sent to the LMS: {exc}")
    del request.session[SESSION_KEY]
    audit_record(
        actor=request.user, action=AuditAction.LTI_DEEP_LINK, course=course,
        target=f"exam:{exam.pk}",
    )
    return render(
        request, "lti/deep_link_return.html",
        {"return_url": return_url, "jwt": token, "exam": exam},
    )


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """The tool's public keys, which LMSs use to check our deep-linking responses."""
    return JsonResponse(ProctorToolConf().get_jwks())


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return -1
