"""Who may review which session, and what a student may see of their own.

The only place review access is decided (STYLE.md). Reviewing is per course: a reviewer
assigned to the course, an admin of its institution or a superuser (the rule of
``exams.permissions.courses_for_staff``). Instructors run exams but do not judge them,
so the review pages answer them 404 like anyone else without access. A student sees the
report of their own session once it has ended, and nothing of anyone else's.
"""

from __future__ import annotations

from django.db.models import QuerySet

from exams.models import Course, CourseStaff, ExamSession
from exams.permissions import User, courses_for_staff, is_session_owner
from monitoring.models import Evidence

REVIEWER_ROLES = frozenset({CourseStaff.Role.REVIEWER})


def reviewable_courses(user: User) -> QuerySet[Course]:
    return courses_for_staff(user, roles=REVIEWER_ROLES)


def is_reviewer(user: User) -> bool:
    return reviewable_courses(user).exists()


def reviewable_sessions(user: User) -> QuerySet[ExamSession]:
    """Sessions of the courses the user reviews (none for anyone else)."""
    if not user.is_authenticated or not user.is_active:
        return ExamSession.objects.none()
    if user.is_superuser:
        return ExamSession.objects.all()
    return ExamSession.objects.filter(exam__course__in=reviewable_courses(user).values("pk"))


def can_review_session(user: User, session: ExamSession) -> bool:
    return reviewable_sessions(user).filter(pk=session.pk).exists()


def can_see_own_report(user: User, session: ExamSession) -> bool:
    """The student's own session, once it has ended (nothing is judged while it runs)."""
    return is_session_owner(user, session) and session.is_finished


def can_view_evidence(user: User, evidence: Evidence) -> bool:
    session = evidence.session
    return can_see_own_report(user, session) or can_review_session(user, session)
