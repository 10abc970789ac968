"""The IDOR matrix: every endpoint × every kind of caller × own / sibling / foreign rows.

Rows the caller may not see answer 404 (forbidden looks like missing); a visible row the
caller may not change answers 403; keys without the scope get 403; no or revoked
credentials get 401; students have no API access at all (403).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.conftest import key_client, user_client

TARGETS = ["own", "sibling", "foreign"]

# What each caller may read and change: {"read": targets, "write": targets} or a status
# that every request of that caller gets before any row is looked at.
ROLES: dict[str, dict[str, object]] = {
    "rw_key": {"read": {"own", "sibling"}, "write": {"own", "sibling"}},
    "read_key": {"read": {"own", "sibling"}, "write": 403},
    "foreign_key": {"read": {"foreign"}, "write": {"foreign"}},
    "revoked_key": {"read": 401, "write": 401},
    "instructor": {"read": {"own"}, "write": {"own"}},
    "reviewer": {"read": {"own"}, "write": set()},
    "institution_admin": {"read": {"own", "sibling"}, "write": {"own", "sibling"}},
    "outsider": {"read": set(), "write": set()},
    "student": {"read": 403, "write": 403},
    "anonymous": {"read": 401, "write": 401},
}


def _client(request, role):
    from django.test import Client

    if role == "anonymous":
        return Client()
    if role.endswith("_key"):
        return key_client(request.getfixturevalue(role))
    return user_client(request.getfixturevalue(role))


READS = {
    "course": lambda w: f"/api/v1/courses/{w.course.pk}/",
    "enrollments": lambda w: f"/api/v1/courses/{w.course.pk}/enrollments/",
    "exam": lambda w: f"/api/v1/exams/{w.exam.pk}/",
    "session": lambda w: f"/api/v1/sessions/{w.session.pk}/",
    "incident": lambda w: f"/api/v1/incidents/{w.incident.pk}/",
    "review_decision": lambda w: f"/api/v1/review-decisions/{w.decision.pk}/",
}


def _exam_body(world):
    now = timezone.now()
    return {
        "course": world.course.pk,
        "title": "Final",
        "opens_at": (now + timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=2)).isoformat(),
    }


# name: (method, url, body, status when allowed, status when the row is invisible)
WRITES = {
    "course_patch": lambda w: ("patch", f"/api/v1/courses/{w.course.pk}/",
                               {"title": "Renamed"}, 200, 404),
    "exam_patch": lambda w: ("patch", f"/api/v1/exams/{w.exam.pk}/",
                             {"title": "Renamed"}, 200, 404),
    "enrollment_sync": lambda w: ("put", f"/api/v1/courses/{w.course.pk}/enrollments/",
                                  {"enrollments": [{"username": "newbie"}]}, 200, 404),
    # A course named in a body that the caller cannot see "does not exist": 400.
    "exam_create": lambda w: ("post", "/api/v1/exams/", _exam_body(w), 201, 400),
}


def _expected(role: str, kind: str, target: str, allowed: int, hidden: int) -> int:
    rule = ROLES[role][kind]
    if isinstance(rule, int):
        return rule
    if target in rule:
        return allowed
    # Visible but not changeable: 403; invisible: 404 (or 400 for a body reference).
    visible = target in ROLES[role]["read"]  # type: ignore[operator]
    return 403 if kind == "write" and visible else hidden


@pytest.fixture
def worlds(own, sibling, foreign):
    return {"own": own, "sibling": sibling, "foreign": foreign}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("endpoint", sorted(READS))
@pytest.mark.parametrize("role", sorted(ROLES))
def test_read_matrix(request, worlds, outsider, role, endpoint, target):
    response = _client(request, role).get(READS[endpoint](worlds[target]))
    assert response.status_code == _expected(role, "read", target, 200, 404), response.content
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"status", "code", "message", "details"}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("operation", sorted(WRITES))
@pytest.mark.parametrize("role", sorted(ROLES))
def test_write_matrix(request, worlds, outsider, role, operation, target):
    method, url, body, allowed, hidden = WRITES[operation](worlds[target])
    response = getattr(_client(request, role), method)(
        url, body, content_type="application/json"
    )
    expected = _expected(role, "write", target, allowed, hidden)
    assert response.status_code == expected, response.content
    if response.status_code >= 400:
        assert response.json()["error"]["status"] == expected


LISTS = {
    "/api/v1/courses/": lambda w: w.course.pk,
    "/api/v1/exams/": lambda w: w.exam.pk,
    "/api/v1/sessions/": lambda w: str(w.session.pk),
    "/api/v1/incidents/": lambda w: w.incident.pk,
    "/api/v1/review-decisions/": lambda w: w.decision.pk,
}


@pytest.mark.parametrize("url", sorted(LISTS))
@pytest.mark.parametrize("role", sorted(ROLES))
def test_lists_show_only_visible_rows(request, worlds, outsider, role, url):
    response = _client(request, role).get(url)
    rule = ROLES[role]["read"]
    if isinstance(rule, int):
        assert response.status_code == rule
        return
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    visible = {LISTS[url](worlds[t]) for t in rule}
    hidden = {LISTS[url](worlds[t]) for t in TARGETS if t not in rule}
    assert visible <= ids
    assert not ids & hidden


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("rw_key", 201), ("read_key", 403), ("foreign_key", 201), ("revoked_key", 401),
        ("instructor", 403), ("reviewer", 403), ("institution_admin", 201),
        ("outsider", 403), ("student", 403), ("anonymous", 401),
    ],
)
def test_course_create_by_role(request, worlds, outsider, role, expected):
    response = _client(request, role).post(
        "/api/v1/courses/", {"code": "NEW1", "title": "New"}, content_type="application/json"
    )
    assert response.status_code == expected, response.content


@pytest.mark.parametrize(
    ("role", "sees_payload"),
    [
        ("rw_key", True), ("read_key", False), ("instructor", False), ("reviewer", True),
        ("institution_admin", True),
    ],
)
def test_incident_payload_only_for_permitted_callers(request, own, role, sees_payload):
    body = _client(request, role).get(f"/api/v1/incidents/{own.incident.pk}/").json()
    if sees_payload:
        assert body["payload"] == {"yaw_deg": 40.0}
        assert body["payload_withheld"] is False
    else:
        assert body["payload"] is None
        assert body["payload_withheld"] is True


def test_foreign_key_cannot_create_exam_in_a_course_it_cannot_see(own, foreign_key):
    response = key_client(foreign_key).post(
        "/api/v1/exams/", _exam_body(own), content_type="application/json"
    )
    assert response.status_code == 400
    assert "course" in response.json()["error"]["details"]


def test_session_login_needs_csrf_token_for_writes(instructor, own):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(instructor)
    response = client.patch(
        f"/api/v1/courses/{own.course.pk}/", {"title": "X"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_unknown_session_id_is_404_not_500(rw_key):
    response = key_client(rw_key).get("/api/v1/sessions/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404


def test_revealed_payloads_are_audited_and_withheld_ones_are_not(own, rw_key, read_key):
    from audit.models import AuditEvent

    key_client(read_key).get("/api/v1/incidents/")
    assert not AuditEvent.objects.filter(action="privacy.decrypt").exists()
    key_client(rw_key).get("/api/v1/incidents/")
    event = AuditEvent.objects.get(action="privacy.decrypt")
    assert (event.session, event.course) == (own.session, own.course)
    assert event.detail["records"] == [own.incident.pk]
    assert event.detail["what"] == "incident payloads (API)"
    assert event.detail["api_key"].startswith("prk_")


# Every operation of the served schema, and where this module calls it. A new endpoint
# fails this test until the matrix covers it.
COVERED = {
    ("get", "/api/v1/courses/"): "test_lists_show_only_visible_rows",
    ("post", "/api/v1/courses/"): "test_course_create_by_role",
    ("get", "/api/v1/courses/{id}/"): "READS['course']",
    ("patch", "/api/v1/courses/{id}/"): "WRITES['course_patch']",
    ("get", "/api/v1/courses/{id}/enrollments/"): "READS['enrollments']",
    ("put", "/api/v1/courses/{id}/enrollments/"): "WRITES['enrollment_sync']",
    ("get", "/api/v1/exams/"): "test_lists_show_only_visible_rows",
    ("post", "/api/v1/exams/"): "WRITES['exam_create']",
    ("get", "/api/v1/exams/{id}/"): "READS['exam']",
    ("patch", "/api/v1/exams/{id}/"): "WRITES['exam_patch']",
    ("get", "/api/v1/sessions/"): "test_lists_show_only_visible_rows",
    ("get", "/api/v1/sessions/{id}/"): "READS['session']",
    ("get", "/api/v1/incidents/"): "test_lists_show_only_visible_rows",
    ("get", "/api/v1/incidents/{id}/"): "READS['incident']",
    ("get", "/api/v1/review-decisions/"): "test_lists_show_only_visible_rows",
    ("get", "/api/v1/review-decisions/{id}/"): "READS['review_decision']",
}


def test_matrix_covers_every_operation_of_the_schema(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    operations = {
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert operations == set(COVERED)


@pytest.mark.parametrize(("role", "sees_note"), [("rw_key", True), ("read_key", False),
                                                 ("instructor", False), ("reviewer", True)])
def test_review_notes_only_for_permitted_callers(request, own, role, sees_note):
    from audit.models import AuditEvent

    own.decision.note = "Second person visible at 10:02."
    own.decision.save()
    body = _client(request, role).get(f"/api/v1/review-decisions/{own.decision.pk}/").json()
    assert body["note"] == ("Second person visible at 10:02." if sees_note else None)
    audited = AuditEvent.objects.filter(action="privacy.decrypt", session=own.session)
    assert audited.exists() is sees_note
