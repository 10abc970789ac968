"""Per-frame observations, the source of the timeline's plots."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.urls import reverse

from monitoring import observations
from monitoring.errors import ObservationInvalid
from monitoring.models import FrameObservation

pytestmark = pytest.mark.django_db


def test_observation_record_is_idempotent_per_frame(finished_session):
    at = finished_session.started_at + timedelta(seconds=3)
    observations.observation_record(
        session=finished_session, seq=3, captured_at=at, face_count=1, yaw_deg=12.5
    )
    observations.observation_record(
        session=finished_session, seq=3, captured_at=at, face_count=2, yaw_deg=40
    )
    stored = FrameObservation.objects.get()
    assert (stored.face_count, stored.yaw_deg) == (1, 12.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"face_count": -1}, "must not be negative"),
        ({"yaw_deg": float("nan")}, "yaw_deg=nan is not a finite number"),
        ({"captured_at": datetime(2026, 1, 1, 12, 0)}, "has no time zone"),
    ],
)
def test_observation_record_rejects_bad_values(finished_session, kwargs, message):
    values = {"captured_at": finished_session.started_at, "face_count": 1, **kwargs}
    with pytest.raises(ObservationInvalid, match=message):
        observations.observation_record(session=finished_session, seq=1, **values)


def test_timeline_plots_the_observations(client, reviewer, finished_session):
    for i in range(0, 600, 10):
        observations.observation_record(
            session=finished_session,
            seq=i,
            captured_at=finished_session.started_at + timedelta(seconds=i),
            face_count=0 if i < 100 else 1,
            yaw_deg=30.0,
            pitch_deg=-5.0,
            gaze_x=0.2,
            gaze_y=0.1,
        )
    client.force_login(reviewer)
    page = client.get(reverse("reviews:timeline", args=[finished_session.pk])).content.decode()
    assert "Faces in view" in page
    assert "<title>no face</title>" in page
    assert "<title>head yaw</title>" in page


def test_incident_table_shows_the_database_times_exactly(client, reviewer, finished_session):
    from tests import factories as f

    moment = finished_session.started_at.replace(microsecond=999_000) + timedelta(seconds=7)
    incident = f.IncidentFactory(session=finished_session, started_at=moment, ended_at=None)
    client.force_login(reviewer)
    page = client.get(reverse("reviews:timeline", args=[finished_session.pk])).content.decode()
    row = page.split(f'id="incident-{incident.pk}"')[1].split("</tr>")[0]
    assert f"<td>{moment:%H:%M:%S}</td>" in row
    assert "<td>open</td>" in row
