"""A finished session with a few incidents and evidence, for the review tests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from exams.models import ExamSession
from integrity.records import integrity_record_log
from monitoring.models import Incident
from tests import factories as f


@pytest.fixture
def logged_session(session):
    """``session`` with its creation in the integrity log, as session_open logs it.

    The factory writes the row directly, so verify_integrity would report it INSERTED.
    """
    integrity_record_log(record_type="exam_session", record=session, change="created")
    return session


@pytest.fixture
def finished_session(session):
    start = timezone.now() - timedelta(minutes=50)
    ExamSession.objects.filter(pk=session.pk).update(
        state=ExamSession.State.SUBMITTED,
        started_at=start,
        deadline_at=start + timedelta(minutes=60),
        ended_at=start + timedelta(minutes=45),
    )
    session.refresh_from_db()
    return session


@pytest.fixture
def incident(finished_session):
    return f.IncidentFactory(
        session=finished_session,
        kind=Incident.Kind.MULTIPLE_FACES,
        severity=Incident.Severity.HIGH,
        started_at=finished_session.started_at + timedelta(minutes=5),
        ended_at=finished_session.started_at + timedelta(minutes=6),
        score=0.9,
    )


@pytest.fixture
def evidence(incident, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return f.EvidenceFactory(
        session=incident.session, incident=incident, captured_at=incident.started_at
    )

