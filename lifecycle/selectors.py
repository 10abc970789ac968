"""Reads for the data lifecycle: what retention must shred, what blocks erasure, what a
student's data export holds, and the break-glass notices a student sees."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Q, QuerySet

from exams.models import Exam, ExamSession, Institution
from lifecycle.models import BreakGlassGrant, ErasureRequest, ShredRecord
from monitoring.models import Incident
from reviews.models import ReviewDecision

CLOSING_DECISIONS = (ReviewDecision.Decision.CLOSE_CLEAR, ReviewDecision.Decision.CLOSE_VIOLATION)


def sessions_not_shredded() -> QuerySet[ExamSession]:
    return ExamSession.objects.exclude(
        pk__in=ShredRecord.objects.values("session_ref")
    )


def sessions_due_for_retention(*, now: datetime) -> QuerySet[ExamSession]:
    """Ended sessions whose exam's retention period is over and that are not shredded.

    One condition per distinct retention period (there are few), so the database does
    the date arithmetic the same way on SQLite and PostgreSQL.
    """
    periods = Exam.objects.values_list("retention_days", flat=True).distinct()
    due = Q(pk__in=[])
    for days in periods:
        due |= Q(exam__retention_days=days, ended_at__lte=now - timedelta(days=days))
    return (
        sessions_not_shredded()
        .filter(due, ended_at__isnull=False)
        .select_related("exam__course")
        .order_by("ended_at")
    )


def sessions_with_open_review(queryset: QuerySet[ExamSession]) -> QuerySet[ExamSession]:
    """Sessions whose review is open: incidents still pending and no closing decision.

    An open appeal keeps the review open.
    """
    pending = Incident.objects.filter(session=OuterRef("pk"), status=Incident.Status.PENDING)
    closed = ReviewDecision.objects.filter(
        session=OuterRef("pk"), decision__in=CLOSING_DECISIONS
    )
    return queryset.filter(Exists(pending)).exclude(Exists(closed))


def session_review_is_open(*, session: ExamSession) -> bool:
    return sessions_with_open_review(ExamSession.objects.filter(pk=session.pk)).exists()


def student_sessions_at(
    *, student: AbstractBaseUser, institution_id: int | None = None
) -> QuerySet[ExamSession]:
    sessions = ExamSession.objects.filter(student=student).select_related("exam__course")
    if institution_id is not None:
        sessions = sessions.filter(exam__course__institution_id=institution_id)
    return sessions.order_by("created_at")


def break_glass_notices_for_student(*, student: AbstractBaseUser) -> QuerySet[BreakGlassGrant]:
    """Approved break-glass grants on the student's sessions, for their own page."""
    return (
        BreakGlassGrant.objects.filter(
            session__student=student, status=BreakGlassGrant.Status.APPROVED
        )
        .select_related("session__exam")
        .order_by("-decided_at")
    )


def institutions_of_student(*, student: AbstractBaseUser) -> QuerySet[Institution]:
    """Institutions where the student is enrolled: where they may ask for erasure."""
    return Institution.objects.filter(courses__enrollments__student=student).distinct()


def erasure_requests_of_student(*, student: AbstractBaseUser) -> QuerySet[ErasureRequest]:
    return ErasureRequest.objects.filter(student=student).select_related("institution")
