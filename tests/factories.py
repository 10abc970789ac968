"""factory_boy factories for the domain model. Build state through these or services."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.models import AuditEvent
from exams.models import (
    Course,
    CourseStaff,
    Enrollment,
    Exam,
    ExamSession,
    Institution,
    InstitutionMembership,
)
from monitoring.models import Evidence, Incident
from reviews.models import Appeal, ReviewDecision

PASSWORD = "correct-horse-battery"  # noqa: S105  (test users only)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution

    name = factory.Sequence(lambda n: f"University {n}")
    slug = factory.Sequence(lambda n: f"uni-{n}")


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course

    institution = factory.SubFactory(InstitutionFactory)
    code = factory.Sequence(lambda n: f"C{n:03d}")
    title = factory.Sequence(lambda n: f"Course {n}")


class CourseStaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CourseStaff

    course = factory.SubFactory(CourseFactory)
    user = factory.SubFactory(UserFactory, is_staff=True)
    role = CourseStaff.Role.REVIEWER


class InstitutionMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InstitutionMembership

    institution = factory.SubFactory(InstitutionFactory)
    user = factory.SubFactory(UserFactory, is_staff=True)


class ExamFactory(factory.django.DjangoModelFactory):
    """An exam open from an hour ago to an hour from now."""

    class Meta:
        model = Exam

    course = factory.SubFactory(CourseFactory)
    title = factory.Sequence(lambda n: f"Exam {n}")
    opens_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    closes_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    duration_min = 60


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    course = factory.SubFactory(CourseFactory)
    student = factory.SubFactory(UserFactory)


class ExamSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExamSession

    exam = factory.SubFactory(ExamFactory)
    student = factory.SubFactory(UserFactory)


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    session = factory.SubFactory(ExamSessionFactory)
    kind = Incident.Kind.NO_FACE
    severity = Incident.Severity.MEDIUM
    started_at = factory.LazyFunction(timezone.now)
    score = 0.8


class EvidenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Evidence

    session = factory.SubFactory(ExamSessionFactory)
    seq = factory.Sequence(lambda n: n + 1)
    captured_at = factory.LazyFunction(timezone.now)
    image = factory.django.FileField(filename="frame.jpg", data=b"\xff\xd8\xff\xd9")


class ReviewDecisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReviewDecision

    incident = factory.SubFactory(IncidentFactory)
    session = factory.LazyAttribute(lambda d: d.incident.session)
    reviewer = factory.SubFactory(UserFactory, is_staff=True)
    decision = ReviewDecision.Decision.CONFIRM


class AppealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appeal

    session = factory.SubFactory(ExamSessionFactory)
    author = factory.LazyAttribute(lambda a: a.session.student)
    text = "The flagged moment was me reading the exam sheet."


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    action = "test.event"
