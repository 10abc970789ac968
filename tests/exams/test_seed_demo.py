"""seed_demo: idempotent, DEBUG only, and the logins it prints work."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.checks import run_checks
from django.core.management import CommandError, call_command

from exams.models import Course, CourseStaff, Enrollment, Exam
from exams.permissions import can_review_course, courses_for_staff

pytestmark = pytest.mark.django_db


def test_seed_demo_refuses_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="refuses to run with DEBUG off"):
        call_command("seed_demo")
    assert not get_user_model().objects.exists()


def test_seed_demo_is_idempotent_and_its_logins_work(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    users = get_user_model().objects
    assert sorted(users.values_list("username", flat=True)) == [
        "admin", "instructor", "reviewer", "student1", "student2", "student3"
    ]
    assert Course.objects.count() == 1
    course = Course.objects.get()
    assert Exam.objects.filter(course=course).count() == 2
    assert all(exam.is_open() for exam in Exam.objects.all())
    assert Enrollment.objects.filter(course=course).count() == 3
    assert CourseStaff.objects.count() == 2
    for username in ["admin", "instructor", "reviewer", "student1"]:
        assert authenticate(username=username, password="proctor-demo") is not None
    reviewer = users.get(username="reviewer")
    assert can_review_course(reviewer, course)
    assert not courses_for_staff(users.get(username="student1")).exists()
    out = capsys.readouterr().out
    assert "proctor-demo" in out
    assert "student1" in out


def test_missing_secret_key_with_debug_off_fails_the_system_check(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = settings.INSECURE_SECRET_KEY
    errors = [e for e in run_checks() if e.id == "proctor.E001"]
    assert len(errors) == 1
    assert "SECRET_KEY is not set" in errors[0].msg


def test_a_real_secret_key_passes_the_system_check(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "x" * 60
    assert not [e for e in run_checks() if e.id == "proctor.E001"]
