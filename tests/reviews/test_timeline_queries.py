"""The timeline costs a constant number of queries, however many incidents it draws."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from monitoring.models import Evidence, FrameObservation, Incident

pytestmark = pytest.mark.django_db

KINDS = ["no_face", "looking_away", "tab_hidden", "multiple_faces", "copy_paste"]

# Session and user (auth middleware), the permission-scoped session, the enrollment, the
# incidents, the page's evidence, the observations, the decisions, the appeal, and the
# selected incident when one is. Messages add none (cookie storage is lazy).
TIMELINE_QUERIES = 9


def _fill(session, n):
    start = session.started_at
    incidents = Incident.objects.bulk_create(
        Incident(
            session=session,
            kind=KINDS[i % len(KINDS)],
            started_at=start + timedelta(seconds=i * 2),
            ended_at=start + timedelta(seconds=i * 2 + 1),
            score=0.5,
        )
        for i in range(n)
    )
    Evidence.objects.bulk_create(
        Evidence(
            session=session, incident=inc, seq=i, captured_at=inc.started_at, image="x.jpg"
        )
        for i, inc in enumerate(incidents[:: max(1, n // 50)])
    )
    FrameObservation.objects.bulk_create(
        FrameObservation(
            session=session,
            seq=i,
            captured_at=start + timedelta(seconds=i),
            face_count=1 + (i % 7 == 0),
            yaw_deg=(i % 40) - 20.0,
            pitch_deg=(i % 20) - 10.0,
            gaze_x=0.1,
            gaze_y=0.05,
        )
        for i in range(n)
    )
    return incidents


@pytest.mark.parametrize("n", [10, 1000])
def test_timeline_query_count_does_not_grow_with_incidents(
    client, reviewer, finished_session, django_assert_num_queries, n
):
    incidents = _fill(finished_session, n)
    client.force_login(reviewer)
    url = reverse("reviews:timeline", args=[finished_session.pk])
    # + the selected incident; + the audited reveal of decrypted details (its permission
    # check, its audit entry and that entry's leaf in the integrity log: 6; on PostgreSQL
    # the log's append also takes an advisory lock: 7).
    from django.db import connection

    reveal = 7 if connection.vendor == "postgresql" else 6
    with django_assert_num_queries(TIMELINE_QUERIES + 1 + reveal):
        response = client.get(url, {"incident": incidents[n // 2].pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="tl-incident"') == min(n, 100)
    assert 'id="incident-detail"' in page


@pytest.mark.parametrize("n", [10, 1000])
def test_student_report_query_count_does_not_grow(
    client, student, finished_session, django_assert_num_queries, n
):
    _fill(finished_session, n)
    client.force_login(student)
    url = reverse("reviews:student_report", args=[finished_session.pk])
    with django_assert_num_queries(TIMELINE_QUERIES):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("sessions", [1, 20])
def test_queue_query_count_does_not_grow_with_sessions(
    client, reviewer, exam, finished_session, django_assert_num_queries, sessions
):
    from tests import factories as f

    for _ in range(sessions - 1):
        s = f.ExamSessionFactory(exam=exam, state="submitted", started_at=exam.opens_at)
        _fill(s, 5)
    client.force_login(reviewer)
    # Session, user, the reviewer's courses (exists), the filter form's course and exam
    # choices, the sessions, the score aggregates, the enrollments.
    with django_assert_num_queries(8):
        assert client.get(reverse("reviews:queue")).status_code == 200
