"""Who may review which session, and what a student may see of their own.

The only place review access is decided (STYLE.md). Review pages show decrypted content
(incidents' details, notes, the appeal, evidence), so every answer here stays inside the
one rule of privacy/access.py: reviewers of the course, admins of its institution and
superusers; instructors run exams but do not judge them, so the review pages answer them
404 like anyone else without access. Nobody reviews their own session. A student sees
the report of their own session once it has ended, and nothing of anyone else's.
"""

from __future__ import annotations

from django.db.models import QuerySet

from exams.models import Course, ExamSession
from exams.permissions import User, courses_for_staff, is_session_owner
from monitoring.models import Evidence
from privacy import access

REVIEWER_ROLES = access.READER_ROLES


def reviewable_courses(user: User) -> QuerySet[Course]:
    return courses_for_staff(user, roles=REVIEWER_ROLES)


def is_reviewer(user: User) -> bool:
    return reviewable_courses(user).exists()


def reviewable_sessions(user: User) -> QuerySet[ExamSession]:
    """Sessions the user may judge: those whose decrypted content they may read, but
    not their own (none for anyone else)."""
    return access.sessions_with_decrypted_access(user).exclude(student_id=user.pk)


def can_review_session(user: User, session: ExamSession) -> bool:
    return reviewable_sessions(user).filter(pk=session.pk).exists()


def own_reportable_sessions(user: User) -> QuerySet[ExamSession]:
    """The user's own sessions whose report they may read: ended ones (nothing is judged,
    or shown, while a session runs)."""
    return access.sessions_with_decrypted_access(user).filter(student_id=user.pk)


def can_see_own_report(user: User, session: ExamSession) -> bool:
    return is_session_owner(user, session) and access.can_read_decrypted(user, session)


def can_view_evidence(user: User, evidence: Evidence) -> bool:
    return access.can_read_decrypted(user, evidence.session)
