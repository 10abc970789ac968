"""The admin: encrypted fields decrypted only on detail pages, audited; lifecycle actions."""

from __future__ import annotations

import io
import zipfile

from django.urls import reverse

from audit.models import AuditEvent
from exams.models import Enrollment
from lifecycle.models import BreakGlassGrant, ErasureRequest, ShredRecord
from tests import factories as f
from tests.reviews.privacy.helpers import js


def _admin(name, *args):
    return reverse(f"admin:{name}", args=args)


def test_incident_list_never_shows_the_decrypted_payload(client, reviewer, session):
    f.IncidentFactory(session=session, payload=js({"detail": "CANARY-list"}))
    client.force_login(reviewer)

    page = client.get(_admin("monitoring_incident_changelist"), secure=True).content.decode()

    assert "No face in view" in page
    assert "CANARY-list" not in page
    assert not AuditEvent.objects.filter(action="privacy.decrypt").exists()


def test_incident_detail_shows_decrypted_payload_and_audits_it(client, reviewer, session):
    incident = f.IncidentFactory(session=session, payload=js({"detail": "CANARY-detail"}))
    client.force_login(reviewer)

    response = client.get(_admin("monitoring_incident_change", incident.pk), secure=True)

    assert response.status_code == 200
    assert "CANARY-detail" in response.content.decode()
    event = AuditEvent.objects.get(action="privacy.decrypt")
    assert (event.actor, event.target, event.reason) == (
        reviewer, f"monitoring.incident:{incident.pk}", "admin detail page"
    )


def test_decision_note_detail_is_decrypted_for_staff(client, reviewer, session):
    decision = f.ReviewDecisionFactory(
        incident=f.IncidentFactory(session=session), reviewer=reviewer, note="CANARY-note"
    )
    client.force_login(reviewer)
    page = client.get(_admin("reviews_reviewdecision_change", decision.pk), secure=True)
    assert "CANARY-note" in page.content.decode()


def test_institution_admin_exports_a_students_data_from_enrolments(
    client, institution_admin, student, session
):
    f.IncidentFactory(session=session, payload=js({"detail": "CANARY-export"}))
    enrollment = Enrollment.objects.get(student=student)
    client.force_login(institution_admin)

    response = client.post(
        _admin("exams_enrollment_changelist"),
        {"action": "export_student_data", "_selected_action": [enrollment.pk]},
        secure=True,
    )

    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert b"CANARY-export" in b"".join(archive.read(n) for n in archive.namelist())
    assert AuditEvent.objects.filter(action="privacy.export", actor=institution_admin).exists()


def test_erasure_is_requested_and_approved_through_the_admin(
    client, institution_admin, institution, student, session
):
    from django.utils import timezone

    from exams.models import ExamSession

    ExamSession.objects.filter(pk=session.pk).update(state="submitted", ended_at=timezone.now())
    client.force_login(institution_admin)
    client.post(
        _admin("lifecycle_erasurerequest_add"),
        {"student": student.pk, "institution": institution.pk},
        secure=True,
    )
    request = ErasureRequest.objects.get(student=student)
    assert request.requested_by == institution_admin

    client.post(
        _admin("lifecycle_erasurerequest_changelist"),
        {"action": "approve", "_selected_action": [request.pk]},
        secure=True,
    )

    request.refresh_from_db()
    assert request.status == ErasureRequest.Status.COMPLETED
    assert ShredRecord.objects.filter(session_ref=session.pk).exists()


def test_break_glass_is_requested_by_staff_and_approved_by_another_in_the_admin(
    client, reviewer, institution_admin, session
):
    from django.utils import timezone

    from lifecycle import services

    session.exam.keep_originals_days = 2
    session.exam.save()
    services.original_frame_store(session=session, seq=1, captured_at=timezone.now(), data=b"x")
    client.force_login(reviewer)
    client.post(
        _admin("lifecycle_breakglassgrant_add"),
        {"session": session.pk, "reason": "Appeal: the student says frame 1 shows a poster."},
        secure=True,
    )
    grant = BreakGlassGrant.objects.get(session=session)
    client.post(
        _admin("lifecycle_breakglassgrant_changelist"),
        {"action": "approve", "_selected_action": [grant.pk]},
        secure=True,
    )
    grant.refresh_from_db()
    assert grant.status == "requested"  # the requester cannot approve

    client.force_login(institution_admin)
    client.post(
        _admin("lifecycle_breakglassgrant_changelist"),
        {"action": "approve", "_selected_action": [grant.pk]},
        secure=True,
    )
    grant.refresh_from_db()
    assert (grant.status, grant.approved_by) == ("approved", institution_admin)


def test_student_page_shows_break_glass_notice_and_export_button(
    client, student, session, reviewer, institution_admin
):
    from django.utils import timezone

    from lifecycle import services

    session.exam.keep_originals_days = 2
    session.exam.save()
    services.original_frame_store(session=session, seq=1, captured_at=timezone.now(), data=b"x")
    grant = services.break_glass_request(
        session=session, actor=reviewer, reason="Appeal: the student says it was a poster."
    )
    services.break_glass_approve(grant=grant, actor=institution_admin)
    client.force_login(student)

    exams_page = client.get(reverse("exams:my_exams"), secure=True).content.decode()
    assert reverse("privacy:my_data") in exams_page
    page = client.get(reverse("privacy:my_data"), secure=True).content.decode()

    assert "Staff were allowed to view unblurred webcam frames" in page
    assert "it was a poster" in page
    assert reverse("privacy:my_data_export") in page
    response = client.post(reverse("privacy:my_data_export"), secure=True)
    assert response["Content-Type"] == "application/zip"


def test_student_asks_for_erasure_from_their_page(client, student, institution, session):
    client.force_login(student)
    page = client.get(reverse("privacy:my_data"), secure=True).content.decode()
    assert "Ask for erasure" in page

    response = client.post(
        reverse("privacy:my_erasure_request"), {"institution": institution.pk}, secure=True
    )

    assert response.status_code == 302
    request = ErasureRequest.objects.get(student=student)
    assert (request.institution, request.requested_by) == (institution, student)


def test_student_cannot_ask_an_institution_they_are_not_in(client, student):
    other = f.InstitutionFactory()
    client.force_login(student)
    response = client.post(
        reverse("privacy:my_erasure_request"), {"institution": other.pk}, secure=True
    )
    assert response.status_code == 404
    assert not ErasureRequest.objects.exists()


def test_privacy_admin_pages_render_for_a_superuser(admin_client, session, reviewer):
    from lifecycle import services
    from privacy.models import SessionKey

    f.IncidentFactory(session=session, payload=b'{"a": 1}')
    services.session_shred(session=session, cause="retention")
    for name in (
        "privacy_sessionkey", "lifecycle_shredrecord", "lifecycle_erasurerequest",
        "lifecycle_breakglassgrant",
    ):
        response = admin_client.get(_admin(f"{name}_changelist"), secure=True)
        assert response.status_code == 200, name
    for model in ("erasurerequest", "breakglassgrant"):
        assert admin_client.get(_admin(f"lifecycle_{model}_add"), secure=True).status_code == 200
    key = SessionKey.objects.get(session=session)
    page = admin_client.get(_admin("privacy_sessionkey_change", key.pk), secure=True)
    assert page.status_code == 200
    assert "wrapped_dek" not in page.content.decode()
