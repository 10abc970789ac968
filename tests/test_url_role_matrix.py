"""Every URL pattern the resolver knows, for every role: who gets what.

The walk covers the whole URL configuration (pages, the admin, the REST API, LTI), so a
new URL fails here until it is classified below: as showing decrypted content (with who
may read it there), as public, or as signed-in only. Each pattern is filled with the
objects of one session's world — its incident, evidence, decision, appeal, and a row of
every model in the admin — and requested by each role, for a session that has ended and
for one still running (its student may read the first, not the second;
privacy/access.py).

Each encrypted place of both sessions holds a canary (incident details, the reviewer's
note, the appeal, the evidence image and its stored name). What is asserted:

* nowhere does a canary reach someone who may not read it: only the decrypted-content
  URLs below show canaries at all, and only to the roles listed for them;
* on those URLs the roles allowed get 200 with the content; the roles listed as
  "metadata" get 200 without it (the admin's and the API's view of an instructor's
  course); everyone else is refused — a redirect to the login page, 401, 403 or 404;
* on every other URL no role gets a server error, and anonymous callers are redirected
  to log in or refused unless the URL is public.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils import timezone

from exams import roles
from exams.models import CourseStaff, Enrollment, ExamSession
from integrity.services import integrity_append, integrity_checkpoint_create
from lifecycle.models import BreakGlassGrant, ErasureRequest, ShredRecord
from lms.api.services import api_key_create
from lms.models import LtiRegistration, WebhookDelivery, WebhookEndpoint
from monitoring.models import Receipt, SpooledEvidence
from privacy.fields import EncryptedField
from privacy.models import SessionKey
from privacy.storage import EncryptedStorage
from tests import factories as f

ROLES = [
    "anonymous", "owner", "other_student", "instructor", "other_course_reviewer",
    "reviewer", "institution_admin", "superuser",
]
READERS = {"reviewer", "institution_admin", "superuser"}
OWNER = "owner"  # the session's student: reads it once it has ended, never while it runs

# URLs that show decrypted content: (who reads it there, who gets the page without it).
DECRYPTED: dict[str, tuple[set[str], set[str]]] = {
    "reviews:timeline": (READERS, set()),
    "reviews:evidence_image": (READERS | {OWNER}, set()),
    "reviews:student_report": ({OWNER}, set()),
    "privacy:file": (READERS | {OWNER}, set()),
    "admin:monitoring_incident_change": (READERS, {"instructor"}),
    "admin:monitoring_evidence_change": (READERS, {"instructor"}),
    "admin:reviews_reviewdecision_change": (READERS, {"instructor"}),
    "api:incident-detail": (READERS, {"instructor"}),
    "api:incident-list": (READERS, {"instructor", "other_course_reviewer"}),
    "api:review-decision-detail": (READERS, {"instructor"}),
    "api:review-decision-list": (READERS, {"instructor", "other_course_reviewer"}),
}

# URLs anyone may call, signed in or not.
PUBLIC = {
    "/", "healthz", "readyz", "login", "admin:login",
    "api:schema", "api:swagger-ui", "api:redoc",
    "integrity:checkpoint", "integrity:consistency",
    "lti:login", "lti:launch", "lti:jwks",
}

# URLs for signed-in people only (what each shows is tested with its app).
SIGNED_IN = {
    "logout",
    "exams:my_exams", "exams:begin", "exams:consent", "exams:camera_check", "exams:session",
    "exams:submit", "exams:finished",
    "reviews:queue", "reviews:close", "reviews:decide", "reviews:student_sessions",
    "monitoring:stream_ticket", "monitoring:live",
    "privacy:my_data", "privacy:my_data_export", "privacy:my_erasure_request",
    "integrity:session_proof",
    "api:course-list", "api:course-detail", "api:course-enrollments",
    "api:exam-list", "api:exam-detail", "api:session-list", "api:session-detail",
    "lti:deep_link",
    # The admin site's own views (each model's are classified by ADMIN_MODELS).
    "admin:index", "admin:logout", "admin:password_change", "admin:password_change_done",
    "admin:autocomplete", "admin:jsi18n", "admin:view_on_site", "admin:app_list",
    "/admin/(?P<url>.*)$", "admin:auth_user_password_change",
}

# Every model in the admin. Those with encrypted fields or files must have their change
# page in DECRYPTED (checked below); every other admin page shows no canary to anyone.
ADMIN_MODELS = {
    "auth.group", "auth.user", "audit.auditevent", "integrity.integritycheckpoint",
    "exams.institution", "exams.course", "exams.coursestaff", "exams.exam",
    "exams.enrollment", "exams.examsession", "privacy.sessionkey",
    "monitoring.receipt", "monitoring.spooledevidence", "monitoring.incident",
    "monitoring.evidence", "reviews.reviewdecision",
    "lifecycle.shredrecord", "lifecycle.erasurerequest", "lifecycle.breakglassgrant",
    "lms.apikey", "lms.webhookendpoint", "lms.webhookdelivery", "lms.ltiregistration",
}

# Query strings that make a page show everything it can (the timeline's selected incident).
QUERY: dict[str, Callable[[Any], str]] = {
    "reviews:timeline": lambda w: f"?incident={w.incident.pk}",
}

# readyz answers 503 by design when Redis or the broker is missing (unit tests run without).
MAY_BE_UNAVAILABLE = {"readyz"}


# ---- the world ---------------------------------------------------------------------


@dataclass
class World:
    """One session with a canary in each encrypted place, and a row of each admin model."""

    session: ExamSession
    incident: Any
    evidence: Any
    decision: Any
    canaries: list[bytes]
    rows: dict[str, models.Model] = field(default_factory=dict)  # model label -> row


def _session_world(session: ExamSession, reviewer) -> World:
    tag = f"{session.state}-{str(session.pk)[:8]}"
    payload, note, appeal, image = (
        f"CANARY-{kind}-{tag}" for kind in ("payload", "note", "appeal", "image")
    )
    incident = f.IncidentFactory(session=session, payload=json.dumps({"d": payload}).encode())
    decision = f.ReviewDecisionFactory(incident=incident, reviewer=reviewer, note=note)
    f.AppealFactory(session=session, text=appeal)
    evidence = f.EvidenceFactory(
        session=session, incident=incident,
        image=ContentFile(b"\xff\xd8" + image.encode() + b"\xff\xd9", name="f.jpg"),
    )
    # The stored name stands for the image: whoever sees it is offered a link to it.
    canaries = [s.encode() for s in (payload, note, appeal, image, evidence.image.name)]
    return World(session, incident, evidence, decision, canaries)


def _in_state(session: ExamSession, state: str) -> ExamSession:
    now = timezone.now()
    ExamSession.objects.filter(pk=session.pk).update(
        state=state, started_at=now - timedelta(minutes=10),
        deadline_at=now + timedelta(minutes=50),
        ended_at=now if state != ExamSession.State.IN_PROGRESS else None,
    )
    session.refresh_from_db()
    return session


def _shared_rows(world: World, institution, course, student, reviewer) -> dict[str, Any]:
    session = world.session
    endpoint = WebhookEndpoint.objects.create(
        institution=institution, url="https://lms.example.org/hook", secret="s" * 32
    )
    integrity_append(kind="test.entry", session=session)
    shredded = f.ExamSessionFactory(exam=f.ExamFactory(course=course), student=student)
    return {
        "auth.group": Group.objects.get(name=roles.REVIEWERS),
        "auth.user": student,
        "integrity.integritycheckpoint": integrity_checkpoint_create(),
        "exams.institution": institution,
        "exams.course": course,
        "exams.coursestaff": CourseStaff.objects.get(user=reviewer, course=course),
        "exams.enrollment": Enrollment.objects.get(student=student, course=course),
        "lms.apikey": api_key_create(institution=institution, name="LMS", scopes=["read"])[0],
        "lms.webhookendpoint": endpoint,
        "lms.webhookdelivery": WebhookDelivery.objects.create(
            endpoint=endpoint, event="review.closed", dedupe_key="k", body="{}"
        ),
        "lms.ltiregistration": LtiRegistration.objects.create(
            institution=institution, name="Moodle", issuer="https://lms.example.org",
            client_id="c", auth_login_url="https://lms.example.org/auth",
            auth_token_url="https://lms.example.org/token",
            key_set_url="https://lms.example.org/jwks", deployment_ids=["1"],
        ),
        "lifecycle.shredrecord": ShredRecord.objects.create(
            session_ref=shredded.pk, exam=shredded.exam, cause=ShredRecord.Cause.RETENTION
        ),
        "lifecycle.erasurerequest": ErasureRequest.objects.create(
            student=student, institution=institution, requested_by=student
        ),
    }


def _session_rows(world: World, reviewer) -> dict[str, Any]:
    session = world.session
    return {
        "exams.exam": session.exam,
        "exams.examsession": session,
        "privacy.sessionkey": SessionKey.objects.get(session=session),
        "monitoring.incident": world.incident,
        "monitoring.evidence": world.evidence,
        "reviews.reviewdecision": world.decision,
        "monitoring.receipt": Receipt.objects.create(
            session=session, stream=Receipt.Stream.FRAME, seq=1
        ),
        "monitoring.spooledevidence": SpooledEvidence.objects.create(
            session=session, seq=99, captured_at=timezone.now(), object_name=f"o-{session.pk}",
            content_type="image/jpeg", sha256="0" * 64, size_bytes=4, spool_file="x.bin",
        ),
        "lifecycle.breakglassgrant": BreakGlassGrant.objects.create(
            session=session, requested_by=reviewer, reason="Appeal: check the raw frame."
        ),
        "audit.auditevent": f.AuditEventFactory(session=session, course=session.exam.course),
    }


@pytest.fixture
def worlds(course, exam, student, reviewer, institution) -> dict[str, World]:
    ended = _session_world(
        _in_state(f.ExamSessionFactory(exam=exam, student=student), "submitted"), reviewer
    )
    running = _session_world(
        _in_state(
            f.ExamSessionFactory(exam=f.ExamFactory(course=course), student=student),
            "in_progress",
        ),
        reviewer,
    )
    shared = _shared_rows(ended, institution, course, student, reviewer)
    for world in (ended, running):
        world.rows = {**shared, **_session_rows(world, reviewer)}
    return {"ended": ended, "running": running}


@pytest.fixture
def cast(request, student, other_student, instructor, reviewer, institution_admin, institution):
    other_course_reviewer = f.UserFactory(username="otto", is_staff=True)
    roles.ensure_groups()
    other_course_reviewer.groups.add(Group.objects.get(name=roles.REVIEWERS))
    f.CourseStaffFactory(
        course=f.CourseFactory(institution=institution), user=other_course_reviewer,
        role=CourseStaff.Role.REVIEWER,
    )
    return {
        "anonymous": None, "owner": student, "other_student": other_student,
        "instructor": instructor, "other_course_reviewer": other_course_reviewer,
        "reviewer": reviewer, "institution_admin": institution_admin,
        "superuser": f.UserFactory(username="root", is_staff=True, is_superuser=True),
    }


# ---- walking the resolver ----------------------------------------------------------


@dataclass(frozen=True)
class Route:
    segments: tuple[Any, ...]  # the patterns from the root down to this one
    namespace: str
    pattern: URLPattern

    @property
    def route(self) -> str:
        joined = ""
        for segment in self.segments:
            text = str(segment)
            joined = joined + text.removeprefix("^") if joined else text
        return joined

    @property
    def key(self) -> str:
        """The URL's name with its namespace; the route for the few without a name."""
        if self.pattern.name:
            return f"{self.namespace}{self.pattern.name}"
        return "/" + self.route

    @property
    def model_label(self) -> str | None:
        model_admin = getattr(self.pattern.callback, "model_admin", None)
        return model_admin.model._meta.label_lower if model_admin else None


def _walk(patterns, segments=(), namespace="") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, (*segments, entry.pattern), ns)
        else:
            yield Route((*segments, entry.pattern), namespace, entry)


def _api_row(world: World, route: Route) -> Any:
    basename = route.pattern.name.rsplit("-", 1)[0]
    rows = {
        "course": world.session.exam.course, "exam": world.session.exam,
        "session": world.session, "incident": world.incident,
        "review-decision": world.decision,
    }
    return rows[basename].pk


# How to fill each path argument, from the world and the route being filled.
FILL: dict[str, Callable[[World, Route], Any]] = {
    "session_id": lambda w, r: w.session.pk,
    "exam_id": lambda w, r: w.session.exam_id,
    "incident_id": lambda w, r: w.incident.pk,
    "evidence_id": lambda w, r: w.evidence.pk,
    "name": lambda w, r: w.evidence.image.name,
    "object_id": lambda w, r: (
        w.session.pk if r.key == "admin:view_on_site" else w.rows[r.model_label].pk
    ),
    "content_type_id": lambda w, r: ContentType.objects.get_for_model(ExamSession).pk,
    "id": lambda w, r: w.rows["auth.user"].pk,
    "pk": _api_row,
    "format": lambda w, r: "json",
    "app_label": lambda w, r: "monitoring",
    "url": lambda w, r: "no-such-page/",
}

_ROUTE_ARG = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")


def _fill_regex(regex: str, value_of: Callable[[str], Any]) -> str:
    out, i = [], 0
    for match in _REGEX_GROUP.finditer(regex):
        if match.start() < i:
            continue
        out.append(regex[i : match.start()])
        depth, j = 1, match.end()
        while depth:  # the group's end: its matching parenthesis
            depth += {"(": 1, ")": -1}.get(regex[j], 0)
            j += 1
        out.append(str(value_of(match["name"])))
        i = j
    out.append(regex[i:])
    text = "".join(out).removeprefix("^").removesuffix("$").replace("/?", "").replace(r"\.", ".")
    if re.search(r"[()\[\]?*+|\\^$]", text):
        raise AssertionError(f"Cannot fill the regex {regex!r}; extend _fill_regex.")
    return text


def _url(route: Route, world: World) -> str:
    def value_of(argument: str) -> Any:
        if argument not in FILL:
            raise AssertionError(
                f"{route.key} ({route.route}): no value for <{argument}>; add it to FILL."
            )
        return FILL[argument](world, route)

    parts = []
    for segment in route.segments:
        if isinstance(segment, RoutePattern):
            parts.append(_ROUTE_ARG.sub(lambda m: str(value_of(m["name"])), str(segment)))
        elif isinstance(segment, RegexPattern):
            parts.append(_fill_regex(str(segment), value_of))
        else:
            raise AssertionError(f"{route.key}: unknown pattern type {type(segment)}.")
    url = "/" + "".join(parts)
    match = resolve(url)
    assert (match.func, match.route) == (route.pattern.callback, route.route), (
        f"{url} resolves to {match.route!r}, not to {route.route!r}: fix FILL."
    )
    return url + QUERY.get(route.key, lambda w: "")(world)


def _classify(route: Route) -> str:
    if route.key in DECRYPTED:
        return "decrypted"
    if route.key in PUBLIC:
        return "public"
    if route.key in SIGNED_IN or route.model_label in ADMIN_MODELS:
        return "signed_in"
    raise AssertionError(
        f"{route.key} ({route.route}) has no rule here: add it to DECRYPTED, PUBLIC or "
        "SIGNED_IN (or its model to ADMIN_MODELS) with who may see what."
    )


ROUTES = list(_walk(get_resolver().url_patterns))


# ---- expectations ------------------------------------------------------------------


def _readers(key: str, world_name: str) -> set[str]:
    if key not in DECRYPTED:
        return set()
    readers = DECRYPTED[key][0]
    return readers if world_name == "ended" else readers - {OWNER}


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def _is_refusal(response) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    # To a login page; or, from the admin's logout, to its index, which asks to log in.
    location = response.get("Location", "")
    return response.status_code == 302 and (
        location.startswith(("/accounts/login/", "/admin/login/")) or location == "/admin/"
    )


def _problems(role: str, user, world_name: str, worlds: dict[str, World]) -> list[str]:
    world = worlds[world_name]
    client = Client(raise_request_exception=False)  # a server error is a finding, below
    if user is not None:
        client.force_login(user)
    problems = []
    for route in ROUTES:
        kind = _classify(route)
        url = _url(route, world)
        response = client.get(url)
        status, body = response.status_code, _body(response)
        said = f"{role} GET {url} ({route.key}) -> {status}"
        if user is not None and SESSION_KEY not in client.session:
            client.force_login(user)  # a page signed us out; the next one needs us back

        if status >= 500 and route.key not in MAY_BE_UNAVAILABLE:
            problems.append(f"{said}: server error")
        for name, other in worlds.items():
            if role not in _readers(route.key, name):
                leaked = [c.decode(errors="replace") for c in other.canaries if c in body]
                if leaked:
                    problems.append(f"{said}: shows {leaked} of the {name} session")
        if kind == "decrypted":
            readers, metadata = _readers(route.key, world_name), DECRYPTED[route.key][1]
            if role in readers:
                if status != 200 or not any(c in body for c in world.canaries):
                    problems.append(f"{said}: a reader should get the decrypted content")
            elif role in metadata:
                if status != 200:
                    problems.append(f"{said}: should get the metadata (200)")
            elif not _is_refusal(response):
                problems.append(f"{said}: should be refused (login, 401, 403 or 404)")
        elif role == "anonymous" and kind == "signed_in" and not _is_refusal(response):
            problems.append(f"{said}: anonymous should be sent to log in or refused")
    return problems


# ---- the tests ---------------------------------------------------------------------


def test_every_url_pattern_is_filled_and_classified(worlds):
    assert len(ROUTES) > 150  # the admin, the API and the pages are all walked
    for route in ROUTES:
        _classify(route)
        _url(route, worlds["ended"])


def test_every_admin_model_with_encrypted_content_is_a_decrypted_url():
    for model in admin.site._registry:
        encrypted = any(
            isinstance(f, EncryptedField)
            or (isinstance(f, models.FileField) and isinstance(f.storage, EncryptedStorage))
            for f in model._meta.fields
        )
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}_change"
        assert encrypted == (name in DECRYPTED), name
        assert model._meta.label_lower in ADMIN_MODELS, model._meta.label_lower


@pytest.mark.parametrize("world_name", ["ended", "running"])
@pytest.mark.parametrize("role", ROLES)
def test_who_gets_what_at_every_url(cast, worlds, role, world_name):
    cache.clear()  # the API's rate limits count per user

    problems = _problems(role, cast[role], world_name, worlds)

    assert not problems, "\n".join(problems)


def test_a_new_url_without_a_rule_fails(worlds):
    from django.http import HttpResponse
    from django.urls import path

    new = path("new/<int:thing_id>/", lambda request, thing_id: HttpResponse(), name="new")
    route = Route((new.pattern,), "", new)

    with pytest.raises(AssertionError, match="new .* has no rule here"):
        _classify(route)
    with pytest.raises(AssertionError, match="no value for <thing_id>; add it to FILL"):
        _url(route, worlds["ended"])
