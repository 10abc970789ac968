"""Who may open which review page: forbidden looks like missing (404)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from monitoring.models import Incident
from reviews.models import ReviewDecision

pytestmark = pytest.mark.django_db

CAST = ["reviewer", "outsider", "student", "other_student", "instructor", "institution_admin"]


def _client_for(client, request, who):
    client.force_login(request.getfixturevalue(who))
    return client


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("reviewer", 200),
        ("institution_admin", 200),
        ("outsider", 404),
        ("student", 404),
        ("other_student", 404),
        ("instructor", 404),
    ],
)
def test_timeline_is_only_for_the_courses_reviewers(client, request, incident, who, expected):
    response = _client_for(client, request, who).get(
        reverse("reviews:timeline", args=[incident.session_id])
    )
    assert response.status_code == expected


@pytest.mark.parametrize(
    ("who", "expected"),
    [("reviewer", 200), ("outsider", 200), ("student", 404), ("instructor", 404)],
)
def test_queue_is_only_for_reviewers(client, request, incident, who, expected):
    response = _client_for(client, request, who).get(reverse("reviews:queue"))
    assert response.status_code == expected


def test_outsiders_queue_does_not_list_other_courses_sessions(client, outsider, incident):
    client.force_login(outsider)
    response = client.get(reverse("reviews:queue"))
    assert str(incident.session_id) not in response.content.decode()


def test_queue_lists_the_reviewers_sessions(client, reviewer, incident):
    client.force_login(reviewer)
    response = client.get(reverse("reviews:queue"))
    assert reverse("reviews:timeline", args=[incident.session_id]) in response.content.decode()


@pytest.mark.parametrize("who", ["outsider", "student", "other_student", "instructor"])
def test_only_reviewers_can_decide_an_incident(client, request, incident, who):
    response = _client_for(client, request, who).post(
        reverse("reviews:decide", args=[incident.pk]), {"decision": "dismiss", "note": "x"}
    )
    assert response.status_code == 404
    incident.refresh_from_db()
    assert incident.status == Incident.Status.PENDING
    assert not ReviewDecision.objects.exists()


@pytest.mark.parametrize("who", ["outsider", "student", "other_student", "instructor"])
def test_only_reviewers_can_close_a_review(client, request, incident, who):
    response = _client_for(client, request, who).post(
        reverse("reviews:close", args=[incident.session_id]), {"outcome": "close_violation"}
    )
    assert response.status_code == 404
    assert not ReviewDecision.objects.exists()


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("student", 200),
        ("other_student", 404),
        ("reviewer", 404),
        ("outsider", 404),
        ("instructor", 404),
    ],
)
def test_student_report_is_only_for_the_student(client, request, incident, who, expected):
    response = _client_for(client, request, who).get(
        reverse("reviews:student_report", args=[incident.session_id])
    )
    assert response.status_code == expected


def test_student_cannot_see_the_report_before_the_session_ends(client, student, session):
    client.force_login(student)
    response = client.get(reverse("reviews:student_report", args=[session.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("student", 200),
        ("reviewer", 200),
        ("other_student", 404),
        ("outsider", 404),
        ("instructor", 404),
    ],
)
def test_evidence_image_is_permission_checked(client, request, evidence, who, expected):
    response = _client_for(client, request, who).get(
        reverse("reviews:evidence_image", args=[evidence.pk])
    )
    assert response.status_code == expected
    if expected == 200:
        assert response.content == b"\xff\xd8\xff\xd9"
        assert response["Cache-Control"].startswith("private")
        # Every viewing of decrypted evidence is audited (privacy/).
        assert AuditEvent.objects.filter(
            action="privacy.decrypt", target=f"monitoring.evidence:{evidence.pk}"
        ).exists()


def test_evidence_is_not_under_a_public_media_url(client, evidence):
    # Nothing mounts MEDIA_URL: the only way to an image is the checked view.
    response = client.get("/" + "media/" + evidence.image.name)
    assert response.status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, incident, settings):
    settings.LOGIN_URL = "/accounts/login/"
    response = client.get(reverse("reviews:timeline", args=[incident.session_id]))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_refused_decisions_leave_no_audit_entry_as_a_decision(client, outsider, incident):
    client.force_login(outsider)
    client.post(reverse("reviews:decide", args=[incident.pk]), {"decision": "confirm"})
    assert not AuditEvent.objects.filter(action__startswith="review.incident").exists()
