"""The one rule for decrypted content: who may read a session's plaintext.

Decrypted content is everything encrypted at rest under a session's data key and shown
to a person: incidents' details, reviewers' notes, the student's appeal, evidence images
and (with a break-glass grant) original frames. Every surface that shows any of it asks
here: the review pages and the student's report, the file view, the admin's detail
pages, the REST API (lms/permissions.py adds API keys) and the data export. Metadata
(an incident's kind, times and status, an evidence frame's sequence number) is not
decrypted content; who sees that is exams/permissions.py's course access.

Who may read a session's decrypted content:

* its student, once the session has ended (submitted, terminated or expired): nothing is
  shown about a session while it runs, to anyone sitting it — staff included;
* otherwise the reviewers of its course, the admins of the course's institution and
  superusers.

Instructors run exams but do not judge them: they see metadata only, unless they are also
reviewers of that course. Everyone else reads nothing. Callers answer a refusal as "not
found" (404), like a record that does not exist.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from exams.models import CourseStaff, ExamSession
from exams.permissions import User, courses_for_staff

# Course roles whose holders read decrypted content. Institution admins of the course's
# institution count too (courses_for_staff includes them), and superusers.
READER_ROLES = frozenset({CourseStaff.Role.REVIEWER})

ENDED_STATES = frozenset(
    {ExamSession.State.SUBMITTED, ExamSession.State.TERMINATED, ExamSession.State.EXPIRED}
)


def sessions_with_decrypted_access(user: User) -> QuerySet[ExamSession]:
    """The sessions whose decrypted content ``user`` may read (the rule, as a queryset).

    Lists filter with it in one query; ``can_read_decrypted`` asks it about one session.
    """
    sessions = ExamSession.objects.all()
    if not user.is_authenticated or not user.is_active:
        return sessions.none()
    own_ended = Q(student_id=user.pk, state__in=ENDED_STATES)
    if user.is_superuser:
        return sessions.filter(own_ended | ~Q(student_id=user.pk))
    read_courses = courses_for_staff(user, roles=READER_ROLES).values("pk")
    return sessions.filter(own_ended | (~Q(student_id=user.pk) & Q(exam__course__in=read_courses)))


def can_read_decrypted(user: User, session: ExamSession) -> bool:
    """Whether ``user`` may read ``session``'s decrypted content (the state as stored)."""
    return sessions_with_decrypted_access(user).filter(pk=session.pk).exists()


def can_request_break_glass(user: User, session: ExamSession) -> bool:
    """Asking to see a session's original (unblurred) frames: a reader of its decrypted
    content who is not its student. An admin of the institution approves (a second
    person; exams.permissions.can_approve_break_glass)."""
    return session.student_id != user.pk and can_read_decrypted(user, session)
