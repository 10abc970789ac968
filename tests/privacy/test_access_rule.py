"""The one rule for decrypted content (privacy/access.py), and the surfaces that use it.

Every URL × role is walked in tests/test_url_role_matrix.py; here the rule itself, and
what the URL walk does not reach: POSTed exports, admin actions, services, API keys.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from exams.models import CourseStaff, ExamSession
from lifecycle import services as lifecycle_services
from lms.api.services import api_key_create
from privacy import access
from privacy import services as privacy_services
from privacy.errors import NotAllowed
from tests import factories as f
from tests.api.conftest import key_client, user_client

State = ExamSession.State
RUNNING_STATES = [State.CREATED, State.CONSENTED, State.CAMERA_CHECKED, State.IN_PROGRESS]
ENDED_STATES = [State.SUBMITTED, State.TERMINATED, State.EXPIRED]


def _set_state(session: ExamSession, state: str) -> ExamSession:
    now = timezone.now()
    started = now - timedelta(minutes=10) if state not in RUNNING_STATES[:3] else None
    ended = now if state in ENDED_STATES else None
    ExamSession.objects.filter(pk=session.pk).update(
        state=state, started_at=started, ended_at=ended,
        deadline_at=started + timedelta(hours=1) if started else None,
    )
    session.refresh_from_db()
    return session


def _plant(session: ExamSession, reviewer) -> dict[str, str]:
    """A canary in every encrypted place of ``session``; returns them by place."""
    tag = str(session.pk)[:8]
    canaries = {
        "payload": f"CANARY-payload-{tag}", "note": f"CANARY-note-{tag}",
        "appeal": f"CANARY-appeal-{tag}", "image": f"CANARY-image-{tag}",
    }
    incident = f.IncidentFactory(
        session=session, payload=json.dumps({"detail": canaries["payload"]}).encode()
    )
    f.ReviewDecisionFactory(incident=incident, reviewer=reviewer, note=canaries["note"])
    f.AppealFactory(session=session, text=canaries["appeal"])
    f.EvidenceFactory(
        session=session, incident=incident,
        image=ContentFile(b"\xff\xd8" + canaries["image"].encode() + b"\xff\xd9", name="f.jpg"),
    )
    return canaries


@pytest.fixture
def instructor_who_reviews(course):
    user = f.UserFactory(username="irene", is_staff=True)
    f.CourseStaffFactory(course=course, user=user, role=CourseStaff.Role.INSTRUCTOR)
    f.CourseStaffFactory(course=course, user=user, role=CourseStaff.Role.REVIEWER)
    return user


@pytest.fixture
def other_course_reviewer(institution):
    """Reviews another course of the same institution."""
    user = f.UserFactory(username="otto", is_staff=True)
    f.CourseStaffFactory(
        course=f.CourseFactory(institution=institution), user=user,
        role=CourseStaff.Role.REVIEWER,
    )
    return user


@pytest.fixture
def other_institution_admin(db):
    user = f.UserFactory(username="olga", is_staff=True)
    f.InstitutionMembershipFactory(user=user)
    return user


@pytest.fixture
def superuser(db):
    return f.UserFactory(username="root", is_staff=True, is_superuser=True)


# The rule: who reads a session's decrypted content (running, ended).
RULE: dict[str, tuple[bool, bool]] = {
    "anonymous": (False, False),
    "student": (False, True),
    "other_student": (False, False),
    "instructor": (False, False),
    "instructor_who_reviews": (True, True),
    "other_course_reviewer": (False, False),
    "outsider": (False, False),
    "reviewer": (True, True),
    "institution_admin": (True, True),
    "other_institution_admin": (False, False),
    "superuser": (True, True),
}


def _user(request, name):
    return AnonymousUser() if name == "anonymous" else request.getfixturevalue(name)


@pytest.mark.parametrize("ended", [False, True], ids=["running", "ended"])
@pytest.mark.parametrize("who", sorted(RULE))
def test_the_rule(request, session, who, ended):
    _set_state(session, State.SUBMITTED if ended else State.IN_PROGRESS)
    user = _user(request, who)

    allowed = access.can_read_decrypted(user, session)

    assert allowed is RULE[who][ended]
    # The queryset form (lists, exports) is the same rule.
    assert access.sessions_with_decrypted_access(user).filter(pk=session.pk).exists() is allowed


def test_an_instructor_alone_is_refused_but_not_once_they_also_review(session, instructor):
    _set_state(session, State.SUBMITTED)
    assert not access.can_read_decrypted(instructor, session)

    f.CourseStaffFactory(
        course=session.exam.course, user=instructor, role=CourseStaff.Role.REVIEWER
    )

    assert access.can_read_decrypted(instructor, session)


@pytest.mark.parametrize("state", RUNNING_STATES)
def test_the_student_reads_nothing_of_their_session_before_it_ends(session, student, state):
    _set_state(session, state)
    assert not access.can_read_decrypted(student, session)


@pytest.mark.parametrize("state", ENDED_STATES)
def test_the_student_reads_their_own_session_once_it_has_ended(session, student, state):
    _set_state(session, state)
    assert access.can_read_decrypted(student, session)


def test_staff_sitting_an_exam_of_their_own_course_read_nothing_of_it_while_it_runs(
    exam, reviewer
):
    own = _set_state(f.ExamSessionFactory(exam=exam, student=reviewer), State.IN_PROGRESS)
    assert not access.can_read_decrypted(reviewer, own)
    _set_state(own, State.SUBMITTED)
    assert access.can_read_decrypted(reviewer, own)


def test_an_inactive_reviewer_is_refused(session, reviewer):
    reviewer.is_active = False
    reviewer.save()
    assert not access.can_read_decrypted(reviewer, session)


def test_break_glass_is_for_readers_only(session, reviewer, instructor, student):
    _set_state(session, State.SUBMITTED)
    assert access.can_request_break_glass(reviewer, session)
    assert not access.can_request_break_glass(instructor, session)
    # The student reads their ended session but does not ask for its raw frames.
    assert not access.can_request_break_glass(student, session)


# The services every surface calls


def test_an_instructor_cannot_reveal_a_record_or_open_evidence(session, reviewer, instructor):
    _set_state(session, State.SUBMITTED)
    _plant(session, reviewer)
    incident, evidence = session.incidents.get(), session.evidence.get()

    with pytest.raises(NotAllowed, match="No such record"):
        privacy_services.record_reveal(actor=instructor, record=incident, fields=["payload"])
    with pytest.raises(NotAllowed, match="No such record"):
        privacy_services.evidence_open(actor=instructor, evidence=evidence)
    with pytest.raises(NotAllowed, match="No such record"):
        privacy_services.session_data_reveal(actor=instructor, session=session, what="x")
    assert not AuditEvent.objects.filter(action="privacy.decrypt").exists()


def test_the_student_opens_their_evidence_only_after_the_session_ended(
    session, reviewer, student
):
    _set_state(session, State.IN_PROGRESS)
    canaries = _plant(session, reviewer)
    evidence = session.evidence.get()
    with pytest.raises(NotAllowed):
        privacy_services.evidence_open(actor=student, evidence=evidence)

    _set_state(session, State.SUBMITTED)
    evidence.refresh_from_db()

    assert canaries["image"].encode() in privacy_services.evidence_open(
        actor=student, evidence=evidence
    )


def test_break_glass_is_refused_to_instructors(session, instructor):
    session.exam.keep_originals_days = 7
    session.exam.save()
    lifecycle_services.original_frame_store(
        session=session, seq=1, captured_at=timezone.now(), data=b"raw"
    )
    with pytest.raises(NotAllowed):
        lifecycle_services.break_glass_request(
            session=session, actor=instructor, reason="Appeal: I want to see the raw frame."
        )


def test_a_grant_holder_who_no_longer_reviews_the_course_cannot_open_originals(
    session, reviewer, institution_admin
):
    session.exam.keep_originals_days = 7
    session.exam.save()
    frame = lifecycle_services.original_frame_store(
        session=session, seq=1, captured_at=timezone.now(), data=b"raw"
    )
    grant = lifecycle_services.break_glass_request(
        session=session, actor=reviewer, reason="Appeal claims a poster was in view."
    )
    lifecycle_services.break_glass_approve(grant=grant, actor=institution_admin)
    assert lifecycle_services.original_frame_open(frame=frame, actor=reviewer) == b"raw"

    CourseStaff.objects.filter(user=reviewer).delete()

    with pytest.raises(NotAllowed):
        lifecycle_services.original_frame_open(frame=frame, actor=reviewer)


# The admin


def _admin_page(client, user, name, pk) -> tuple[int, str]:
    client.force_login(user)
    response = client.get(reverse(f"admin:{name}", args=[pk]))
    return response.status_code, response.content.decode()


def test_an_instructor_reads_incident_metadata_in_the_admin_but_no_details(
    client, session, reviewer, instructor
):
    _set_state(session, State.SUBMITTED)
    canaries = _plant(session, reviewer)
    incident = session.incidents.get()

    status, page = _admin_page(client, instructor, "monitoring_incident_change", incident.pk)

    assert status == 200
    assert "No face in view" in page
    assert canaries["payload"] not in page
    assert "Decrypted" not in page
    assert not AuditEvent.objects.filter(action="privacy.decrypt").exists()

    status, page = _admin_page(client, reviewer, "monitoring_incident_change", incident.pk)
    assert status == 200
    assert canaries["payload"] in page
    assert AuditEvent.objects.filter(action="privacy.decrypt", actor=reviewer).count() == 1


def test_an_instructor_sees_no_decision_note_in_the_admin(
    client, session, reviewer, instructor
):
    canaries = _plant(session, reviewer)
    decision = session.decisions.get()

    status, page = _admin_page(client, instructor, "reviews_reviewdecision_change", decision.pk)
    assert status == 200
    assert canaries["note"] not in page

    status, page = _admin_page(client, reviewer, "reviews_reviewdecision_change", decision.pk)
    assert canaries["note"] in page


def test_evidence_in_the_admin_links_to_the_image_only_for_readers(
    client, session, reviewer, instructor
):
    _plant(session, reviewer)
    evidence = session.evidence.get()
    file_url = reverse("privacy:file", kwargs={"name": evidence.image.name})

    status, page = _admin_page(client, instructor, "monitoring_evidence_change", evidence.pk)
    assert status == 200
    assert evidence.image.name not in page

    status, page = _admin_page(client, reviewer, "monitoring_evidence_change", evidence.pk)
    assert file_url in page
    assert client.get(file_url).status_code == 200
    client.force_login(instructor)
    assert client.get(file_url).status_code == 404


@pytest.mark.parametrize("who", ["instructor", "reviewer", "institution_admin"])
def test_csv_exports_hold_metadata_only(request, client, session, reviewer, who):
    _set_state(session, State.SUBMITTED)
    canaries = _plant(session, reviewer)
    client.force_login(request.getfixturevalue(who))
    for changelist, action, pk in [
        ("monitoring_incident_changelist", "export_incidents_csv", session.incidents.get().pk),
        ("exams_examsession_changelist", "export_sessions_csv", session.pk),
    ]:
        response = client.post(
            reverse(f"admin:{changelist}"), {"action": action, "_selected_action": [pk]}
        )
        assert response["Content-Type"].startswith("text/csv"), response.content[:200]
        assert str(session.pk) in response.content.decode()
        for canary in canaries.values():
            assert canary not in response.content.decode()


# The student data export


def _export(student, actor) -> dict[str, bytes]:
    data = lifecycle_services.student_data_export(student=student, actor=actor)
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {name: archive.read(name) for name in archive.namelist()}


def test_the_students_own_export_holds_a_running_session_but_nothing_decrypted(
    session, reviewer, student
):
    _set_state(session, State.IN_PROGRESS)
    canaries = _plant(session, reviewer)

    files = _export(student, student)

    everything = b"".join(files.values())
    for canary in canaries.values():
        assert canary.encode() not in everything
    info = json.loads(files[f"sessions/{session.pk}/session.json"])
    assert info["state"] == "in_progress"
    assert "once it has ended" in info["withheld"]
    assert not any(name.startswith(f"sessions/{session.pk}/evidence") for name in files)

    _set_state(session, State.SUBMITTED)
    everything = b"".join(_export(student, student).values())

    for canary in canaries.values():
        assert canary.encode() in everything


def test_an_institution_admin_exports_only_their_institutions_sessions(
    session, reviewer, student, institution_admin
):
    _set_state(session, State.SUBMITTED)
    elsewhere_course = f.CourseFactory()
    f.EnrollmentFactory(course=elsewhere_course, student=student)
    elsewhere = _set_state(
        f.ExamSessionFactory(exam=f.ExamFactory(course=elsewhere_course), student=student),
        State.SUBMITTED,
    )
    ours, theirs = _plant(session, reviewer), _plant(elsewhere, reviewer)

    files = _export(student, institution_admin)

    everything = b"".join(files.values())
    assert all(c.encode() in everything for c in ours.values())
    assert not any(c.encode() in everything for c in theirs.values())
    assert not any(str(elsewhere.pk) in name for name in files)


# The REST API


def _incident_json(client, session):
    incident = session.incidents.get()
    return client.get(f"/api/v1/incidents/{incident.pk}/").json()


def test_the_api_withholds_details_from_an_instructor_but_not_a_reviewing_one(
    session, reviewer, instructor, instructor_who_reviews
):
    canaries = _plant(session, reviewer)

    shown = _incident_json(user_client(instructor), session)
    assert (shown["payload"], shown["payload_withheld"]) == (None, True)
    note = user_client(instructor).get(
        f"/api/v1/review-decisions/{session.decisions.get().pk}/"
    ).json()["note"]
    assert note is None

    shown = _incident_json(user_client(instructor_who_reviews), session)
    assert shown["payload"] == {"detail": canaries["payload"]}


@pytest.mark.parametrize(
    ("scopes", "shown"), [(["read"], False), (["read", "incident_payload"], True)]
)
def test_api_keys_read_details_with_the_incident_payload_scope(
    session, reviewer, institution, scopes, shown
):
    _plant(session, reviewer)
    raw = api_key_create(institution=institution, name="LMS", scopes=scopes)[1]

    body = _incident_json(key_client(raw), session)

    assert (body["payload"] is not None, body["payload_withheld"]) == (shown, not shown)


def test_an_api_list_decides_access_once_per_page_not_per_session(exam, reviewer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def access_queries(client) -> tuple[int, list]:
        with CaptureQueriesContext(connection) as captured:
            rows = client.get("/api/v1/incidents/").json()["results"]
        # Every access decision reads the course staff table; the audit inserts do not.
        return sum("exams_coursestaff" in q["sql"] for q in captured.captured_queries), rows

    def add_sessions(n):
        for _ in range(n):
            session = f.ExamSessionFactory(exam=exam)
            f.IncidentFactory(session=session, payload=b'{"a": 1}')

    client = user_client(reviewer)
    add_sessions(2)
    few, _ = access_queries(client)
    add_sessions(10)
    many, rows = access_queries(client)

    assert many == few
    assert len(rows) == 12 and all(row["payload"] == {"a": 1} for row in rows)
