"""Reads behind the REST API, always narrowed to what the caller may see (permissions.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import OuterRef, QuerySet, Subquery

from exams.models import Course, Enrollment, Exam, ExamSession
from lms import permissions
from lms.models import ApiKey
from monitoring.models import Incident
from reviews.models import ReviewDecision

User = AbstractBaseUser | AnonymousUser
_CLOSING = [ReviewDecision.Decision.CLOSE_CLEAR, ReviewDecision.Decision.CLOSE_VIOLATION]


def _visible_course_ids(user: User, api_key: ApiKey | None) -> QuerySet:
    return permissions.api_courses(user, api_key).values("pk")


def course_list(
    *, user: User, api_key: ApiKey | None, filters: dict[str, Any]
) -> QuerySet[Course]:
    qs = Course.objects.filter(pk__in=_visible_course_ids(user, api_key))
    if "code" in filters:
        qs = qs.filter(code=filters["code"])
    return qs.select_related("institution").order_by("code", "pk")


def exam_list(*, user: User, api_key: ApiKey | None, filters: dict[str, Any]) -> QuerySet[Exam]:
    qs = Exam.objects.filter(course__in=_visible_course_ids(user, api_key))
    if "course" in filters:
        qs = qs.filter(course_id=filters["course"])
    if "opens_after" in filters:
        qs = qs.filter(opens_at__gte=filters["opens_after"])
    if "opens_before" in filters:
        qs = qs.filter(opens_at__lt=filters["opens_before"])
    return qs.select_related("course").order_by("opens_at", "pk")


def enrollment_list(*, course: Course) -> QuerySet[Enrollment]:
    return Enrollment.objects.filter(course=course).select_related("student").order_by("pk")


def session_list(
    *, user: User, api_key: ApiKey | None, filters: dict[str, Any]
) -> QuerySet[ExamSession]:
    outcome = (
        ReviewDecision.objects.filter(session=OuterRef("pk"), decision__in=_CLOSING)
        .order_by("-created_at", "-pk")
        .values("decision")[:1]
    )
    external_id = Enrollment.objects.filter(
        course_id=OuterRef("exam__course_id"), student_id=OuterRef("student_id")
    ).values("external_id")[:1]
    qs = ExamSession.objects.filter(exam__course__in=_visible_course_ids(user, api_key))
    if "course" in filters:
        qs = qs.filter(exam__course_id=filters["course"])
    if "exam" in filters:
        qs = qs.filter(exam_id=filters["exam"])
    if "state" in filters:
        qs = qs.filter(state=filters["state"])
    return (
        qs.select_related("exam", "student")
        .annotate(review_outcome=Subquery(outcome), student_external_id=Subquery(external_id))
        .order_by("-created_at", "pk")
    )


def incident_list(
    *, user: User, api_key: ApiKey | None, filters: dict[str, Any]
) -> QuerySet[Incident]:
    qs = Incident.objects.filter(session__exam__course__in=_visible_course_ids(user, api_key))
    for name, lookup in [
        ("session", "session_id"), ("exam", "session__exam_id"), ("kind", "kind"),
        ("status", "status"),
    ]:
        if name in filters:
            qs = qs.filter(**{lookup: filters[name]})
    return qs.select_related("session__exam__course").order_by("started_at", "pk")


def review_decision_list(
    *, user: User, api_key: ApiKey | None, filters: dict[str, Any]
) -> QuerySet[ReviewDecision]:
    qs = ReviewDecision.objects.filter(
        session__exam__course__in=_visible_course_ids(user, api_key)
    )
    for name, lookup in [
        ("session", "session_id"), ("exam", "session__exam_id"), ("decision", "decision"),
    ]:
        if name in filters:
            qs = qs.filter(**{lookup: filters[name]})
    return qs.select_related("reviewer", "session__exam__course").order_by("created_at", "pk")
