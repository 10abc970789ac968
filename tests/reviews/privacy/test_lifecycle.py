"""Shredding, retention, data export, erasure, break-glass and audited decryption."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from exams.models import ExamSession
from lifecycle import selectors, services
from lifecycle.models import BreakGlassGrant, ErasureRequest, ShredRecord
from monitoring.models import Evidence, Incident
from privacy import services as privacy_services
from privacy.errors import (
    BreakGlassRefused,
    ErasureBlocked,
    NotAllowed,
    OriginalsNotKept,
    SessionShredded,
)
from privacy.models import SessionKey
from reviews.models import ReviewDecision
from tests import factories as f
from tests.reviews.privacy.helpers import js, plant


def _ended(session, *, days_ago: float, now=None):
    now = now or timezone.now()
    ExamSession.objects.filter(pk=session.pk).update(
        state=ExamSession.State.SUBMITTED, ended_at=now - timedelta(days=days_ago)
    )
    session.refresh_from_db()
    return session


def _files(settings):
    root = settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# Decryption for people


def test_reviewer_reveal_is_audited(session, reviewer):
    incident = f.IncidentFactory(session=session, payload=js({"yaw_deg": 41}))

    values = privacy_services.record_reveal(
        actor=reviewer, record=incident, fields=["payload"], reason="review"
    )

    assert values == {"payload": js({"yaw_deg": 41})}
    event = AuditEvent.objects.get(action="privacy.decrypt")
    assert (event.actor, event.target) == (reviewer, f"monitoring.incident:{incident.pk}")


def test_outsider_and_other_student_cannot_decrypt(session, outsider, other_student):
    incident = f.IncidentFactory(session=session, payload=js({"a": 1}))
    for user in (outsider, other_student):
        with pytest.raises(NotAllowed, match="No such record"):
            privacy_services.record_reveal(actor=user, record=incident, fields=["payload"])
    assert not AuditEvent.objects.filter(action="privacy.decrypt").exists()


def test_evidence_file_view_serves_staff_and_hides_from_outsiders(
    client, session, reviewer, outsider
):
    evidence = f.EvidenceFactory(session=session)
    url = reverse("privacy:file", kwargs={"name": evidence.image.name})

    client.force_login(outsider)
    assert client.get(url, secure=True).status_code == 404
    client.force_login(reviewer)
    response = client.get(url, secure=True)
    assert response.status_code == 200
    assert response.content == b"\xff\xd8\xff\xd9"
    assert response["Cache-Control"] == "private, no-store"
    assert AuditEvent.objects.filter(action="privacy.decrypt", actor=reviewer).count() == 1


# Shredding and retention


def test_shredding_destroys_key_columns_and_files(
    session, reviewer, settings, django_capture_on_commit_callbacks
):
    plant(session, reviewer)
    assert _files(settings)

    with django_capture_on_commit_callbacks(execute=True):
        record = services.session_shred(session=session, cause=ShredRecord.Cause.RETENTION)

    key = SessionKey.objects.get(session=session)
    assert key.is_shredded and bytes(key.wrapped_dek) == b""
    assert Incident.objects.get(session=session).payload == b""
    assert ReviewDecision.objects.get(session=session).note == ""
    assert not Evidence.objects.filter(session=session).exists()
    assert _files(settings) == []
    assert record.aggregates["incidents_by_kind"] == {"no_face": 1}
    assert record.aggregates["evidence"] == 1
    assert AuditEvent.objects.filter(action="privacy.shred", session=session).count() == 1


def test_shredding_twice_is_a_no_op_and_new_data_is_refused(session, reviewer):
    first = services.session_shred(session=session, cause=ShredRecord.Cause.RETENTION)
    assert services.session_shred(session=session, cause=ShredRecord.Cause.RETENTION) == first

    with pytest.raises(SessionShredded, match="crypto-shredded"):
        f.IncidentFactory(session=session, payload=js({"late": True}))


def test_retention_with_frozen_clock_shreds_exactly_the_expired_sessions(course, reviewer):
    now = timezone.now()
    short = f.ExamFactory(course=course, retention_days=10)
    long = f.ExamFactory(course=course, retention_days=30)
    expired_short = _ended(f.ExamSessionFactory(exam=short), days_ago=10, now=now)
    kept_short = _ended(f.ExamSessionFactory(exam=short), days_ago=9.9, now=now)
    expired_long = _ended(f.ExamSessionFactory(exam=long), days_ago=31, now=now)
    kept_long = _ended(f.ExamSessionFactory(exam=long), days_ago=29, now=now)
    running = f.ExamSessionFactory(exam=long)
    held = _ended(f.ExamSessionFactory(exam=short), days_ago=40, now=now)
    f.IncidentFactory(session=held)  # pending, no closing decision: review open

    report = services.retention_apply(now=now)

    assert sorted(report.shredded) == sorted([str(expired_short.pk), str(expired_long.pk)])
    assert report.held == [str(held.pk)]
    assert set(ShredRecord.objects.values_list("session_ref", flat=True)) == {
        expired_short.pk, expired_long.pk
    }
    for session in (kept_short, kept_long, running):
        assert not ShredRecord.objects.filter(session_ref=session.pk).exists()
    assert services.retention_apply(now=now).shredded == []


def test_apply_retention_command_reports_what_it_did(session, capsys):
    _ended(session, days_ago=31)

    call_command("apply_retention")

    assert "Shredded 1 session(s)" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="privacy.retention.run").exists()


# Data export


def test_student_data_export_holds_every_planted_item(session, reviewer, student):
    canaries = plant(session, reviewer)
    _ended(session, days_ago=0)

    data = services.student_data_export(student=student, actor=student)

    archive = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(archive.read("manifest.json"))
    everything = b"".join(archive.read(n) for n in archive.namelist())
    for canary in canaries:
        assert canary.encode() in everything
    assert manifest["counts"]["evidence"] == 1
    assert {entry["path"] for entry in manifest["files"]} == set(archive.namelist()) - {
        "manifest.json"
    }
    assert AuditEvent.objects.filter(action="privacy.export", actor=student).exists()


def test_data_export_of_another_student_is_refused(student, other_student, reviewer, outsider):
    for actor in (other_student, reviewer, outsider):
        with pytest.raises(NotAllowed):
            services.student_data_export(student=student, actor=actor)


def test_institution_admin_may_export_a_students_data(student, institution_admin, session):
    assert services.student_data_export(student=student, actor=institution_admin)


# Erasure


def test_erasure_is_blocked_while_a_review_is_open_then_shreds(
    session, student, institution, institution_admin, reviewer
):
    _ended(session, days_ago=1)
    incident = f.IncidentFactory(session=session, payload=js({"a": 1}))
    request = services.erasure_request(student=student, institution=institution, actor=student)

    with pytest.raises(NotAllowed):
        services.erasure_decide(request=request, actor=reviewer, approve=True)
    with pytest.raises(ErasureBlocked, match="Midterm: review or appeal open"):
        services.erasure_decide(request=request, actor=institution_admin, approve=True)
    request.refresh_from_db()
    assert request.status == ErasureRequest.Status.REQUESTED

    f.ReviewDecisionFactory(
        incident=None, session=session, reviewer=reviewer,
        decision=ReviewDecision.Decision.CLOSE_CLEAR,
    )
    services.erasure_decide(request=request, actor=institution_admin, approve=True)

    request.refresh_from_db()
    assert (request.status, request.sessions_shredded) == (ErasureRequest.Status.COMPLETED, 1)
    assert ShredRecord.objects.get(session_ref=session.pk).cause == "erasure"
    assert Incident.objects.get(pk=incident.pk).payload == b""
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"privacy.erasure.request", "privacy.erasure.refused", "privacy.erasure.approve",
            "privacy.shred", "privacy.erasure.complete"} <= actions


def test_erasure_waits_for_a_running_session_to_end(
    session, student, institution, institution_admin
):
    request = services.erasure_request(student=student, institution=institution, actor=student)
    with pytest.raises(ErasureBlocked, match="Midterm: still running"):
        services.erasure_decide(request=request, actor=institution_admin, approve=True)


def test_other_student_cannot_request_erasure_for_someone_else(
    student, other_student, institution
):
    with pytest.raises(NotAllowed):
        services.erasure_request(student=student, institution=institution, actor=other_student)


# Original frames and break-glass


def _keep_originals(session):
    session.exam.keep_originals_days = 7
    session.exam.save()


def test_originals_are_not_kept_unless_the_exam_opts_in(session):
    with pytest.raises(OriginalsNotKept, match="keeps no original frames"):
        services.original_frame_store(
            session=session, seq=1, captured_at=timezone.now(), data=b"raw"
        )


def test_break_glass_without_second_approver_is_refused(session, reviewer):
    _keep_originals(session)
    frame = services.original_frame_store(
        session=session, seq=1, captured_at=timezone.now(), data=b"raw-frame"
    )
    grant = services.break_glass_request(
        session=session, actor=reviewer, reason="Appeal claims a second person was a poster."
    )

    with pytest.raises(BreakGlassRefused, match="approved by a second person"):
        services.original_frame_open(frame=frame, actor=reviewer)
    with pytest.raises(BreakGlassRefused, match="cannot approve your own request"):
        services.break_glass_approve(grant=grant, actor=reviewer)
    assert BreakGlassGrant.objects.get(pk=grant.pk).status == "requested"


def test_approved_break_glass_is_time_limited_audited_and_shown_to_the_student(
    session, reviewer, institution_admin, student, settings
):
    _keep_originals(session)
    frame = services.original_frame_store(
        session=session, seq=1, captured_at=timezone.now(), data=b"raw-frame"
    )
    grant = services.break_glass_request(
        session=session, actor=reviewer, reason="Appeal claims a second person was a poster."
    )
    now = timezone.now()
    services.break_glass_approve(grant=grant, actor=institution_admin, now=now)

    assert services.original_frame_open(frame=frame, actor=reviewer) == b"raw-frame"
    with pytest.raises(BreakGlassRefused):
        services.original_frame_open(frame=frame, actor=institution_admin)  # not their grant
    later = now + timedelta(minutes=settings.PROCTOR_BREAK_GLASS_GRANT_MIN + 1)
    with pytest.raises(BreakGlassRefused):
        services.original_frame_open(frame=frame, actor=reviewer, now=later)
    assert list(selectors.break_glass_notices_for_student(student=student)) == [grant]
    assert AuditEvent.objects.filter(action="privacy.break_glass.view").count() == 1


def test_break_glass_needs_a_reason(session, reviewer):
    _keep_originals(session)
    services.original_frame_store(session=session, seq=1, captured_at=timezone.now(), data=b"x")
    with pytest.raises(BreakGlassRefused, match="State why"):
        services.break_glass_request(session=session, actor=reviewer, reason="look")


def test_expired_originals_are_purged_by_retention(session, settings):
    _keep_originals(session)
    services.original_frame_store(
        session=session, seq=1, captured_at=timezone.now() - timedelta(days=8), data=b"x"
    )
    assert services.retention_apply().originals_purged == 1


def test_beat_task_applies_retention(session):
    from lifecycle.tasks import apply_retention

    _ended(session, days_ago=31)
    assert apply_retention() == {"shredded": 1, "held": 0, "originals_purged": 0}
    assert apply_retention()["shredded"] == 0  # idempotent


def test_apply_retention_dry_run_changes_nothing(session, capsys):
    _ended(session, days_ago=31)

    call_command("apply_retention", dry_run=True)

    assert "1 session(s) due; nothing changed" in capsys.readouterr().out
    assert not ShredRecord.objects.exists()


def test_session_reveal_audits_one_view_of_a_whole_session(session, reviewer, outsider):
    privacy_services.session_data_reveal(actor=reviewer, session=session, what="timeline")
    with pytest.raises(NotAllowed):
        privacy_services.session_data_reveal(actor=outsider, session=session, what="timeline")
    event = AuditEvent.objects.get(action="privacy.decrypt")
    assert (event.actor, event.target, event.detail) == (
        reviewer, f"session:{session.pk}", {"what": "timeline"}
    )


def test_shredding_tells_other_apps_and_rolls_back_if_one_fails(session):
    from privacy.signals import session_shredding

    seen = []

    def drop_spool(sender, session, **kwargs):
        seen.append(session.pk)
        return 2

    def broken(sender, session, **kwargs):
        raise RuntimeError("spool unavailable")

    session_shredding.connect(broken)
    try:
        with pytest.raises(RuntimeError, match="spool unavailable"):
            services.session_shred(session=session, cause=ShredRecord.Cause.RETENTION)
    finally:
        session_shredding.disconnect(broken)
    assert not SessionKey.objects.filter(session=session, shredded_at__isnull=False).exists()

    session_shredding.connect(drop_spool)
    try:
        record = services.session_shred(session=session, cause=ShredRecord.Cause.RETENTION)
    finally:
        session_shredding.disconnect(drop_spool)
    assert seen == [session.pk]
    assert record.objects_deleted == 2
