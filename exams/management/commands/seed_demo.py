"""Seed a demo institution: one course, two exams open now, and the demo users.

Idempotent: running it again updates the same rows and reopens the exams' windows
around the current time. It refuses to run with DEBUG off, because every demo user
gets the same published password.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from exams import roles
from exams.models import (
    Course,
    CourseStaff,
    Enrollment,
    Exam,
    Institution,
    InstitutionMembership,
    default_enabled_checks,
)

DEMO_PASSWORD = "proctor-demo"  # noqa: S105  (published in the README; DEBUG only)
STUDENTS = ["student1", "student2", "student3"]


class Command(BaseCommand):
    help = "Create or refresh the demo institution, course, exams and users (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo sets the published password 'proctor-demo' on every demo user, "
                "so it refuses to run with DEBUG off. Run it with DEBUG=1 (make demo does)."
            )
        with transaction.atomic():
            self._seed()
        url = settings.SITE_URL
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(
            f"\n  Open {url}/ and sign in (password for everyone: {DEMO_PASSWORD})\n"
            f"    student1, student2, student3  take the exams      {url}/exams/\n"
            f"    reviewer                      reviews sessions    {url}/admin/\n"
            f"    instructor                    runs the course     {url}/admin/\n"
            f"    admin                         superuser           {url}/admin/\n"
        )

    def _user(self, username: str, **flags) -> object:
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=username, defaults={"email": f"{username}@demo.invalid"}
        )
        for name, value in flags.items():
            setattr(user, name, value)
        user.set_password(DEMO_PASSWORD)
        user.save()
        return user

    def _seed(self) -> None:
        roles.ensure_groups()
        group = {name: Group.objects.get(name=name) for name in roles.GROUP_PERMISSIONS}
        institution, _ = Institution.objects.update_or_create(
            slug="demo", defaults={"name": "Demo University"}
        )
        course, _ = Course.objects.update_or_create(
            institution=institution, code="DEMO101",
            defaults={"title": "Introduction to Proctored Exams"},
        )
        self._user("admin", is_staff=True, is_superuser=True)
        instructor = self._user("instructor", is_staff=True)
        instructor.groups.add(group[roles.INSTRUCTORS])
        CourseStaff.objects.get_or_create(
            course=course, user=instructor, role=CourseStaff.Role.INSTRUCTOR
        )
        InstitutionMembership.objects.get_or_create(institution=institution, user=instructor)
        instructor.groups.add(group[roles.INSTITUTION_ADMINS])
        reviewer = self._user("reviewer", is_staff=True)
        reviewer.groups.add(group[roles.REVIEWERS])
        CourseStaff.objects.get_or_create(
            course=course, user=reviewer, role=CourseStaff.Role.REVIEWER
        )
        for username in STUDENTS:
            student = self._user(username)
            student.groups.add(group[roles.STUDENTS])
            Enrollment.objects.get_or_create(course=course, student=student)

        now = timezone.now()
        exams = [
            ("Midterm: cell biology", 60, Exam.AnonymizationMethod.BLUR),
            ("Quiz: genetics", 20, Exam.AnonymizationMethod.PIXELATE),
        ]
        for title, duration, method in exams:
            Exam.objects.update_or_create(
                course=course, title=title,
                defaults={
                    "opens_at": now - timedelta(minutes=30),
                    "closes_at": now + timedelta(days=7),
                    "duration_min": duration,
                    "anonymization_method": method,
                    "enabled_checks": default_enabled_checks(),
                    "instructions": "Answer every question. You may use a pen and paper.",
                },
            )
