"""The review demo seed: two finished sessions to review, idempotent, DEBUG only."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exams.models import ExamSession
from monitoring.models import FrameObservation, Incident
from reviews import selectors

pytestmark = pytest.mark.django_db


def test_seed_review_demo_fills_the_reviewers_queue(settings, tmp_path):
    settings.DEBUG = True
    settings.MEDIA_ROOT = tmp_path
    call_command("seed_demo", verbosity=0)
    call_command("seed_review_demo", verbosity=0)
    call_command("seed_review_demo", verbosity=0)  # idempotent
    call_command("verify_integrity", "--evidence")  # every row it wrote is logged
    sessions = ExamSession.objects.filter(exam__title__startswith="Practice exam")
    assert sessions.count() == 2
    assert Incident.objects.filter(session__in=sessions).count() == 24
    assert FrameObservation.objects.filter(session__in=sessions).exists()
    from django.contrib.auth import get_user_model

    reviewer = get_user_model().objects.get(username="reviewer")
    rows = selectors.review_queue(reviewer=reviewer)
    assert [r.session.student.username for r in rows] == ["student2", "student3"]


def test_seed_review_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("seed_review_demo")
