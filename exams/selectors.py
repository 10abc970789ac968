"""Reads for exams and sessions; related rows are fetched here, nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404

from exams import permissions
from exams.models import Enrollment, Exam, ExamSession


@dataclass(frozen=True)
class StudentExamRow:
    exam: Exam
    session: ExamSession | None

    @property
    def can_begin(self) -> bool:
        return self.session is None and self.exam.is_open()


def exam_list_for_student(*, student: AbstractBaseUser) -> list[StudentExamRow]:
    """Exams of the student's courses, each with the student's session if any."""
    exams = (
        Exam.objects.filter(course__enrollments__student=student)
        .select_related("course")
        .order_by("opens_at", "title")
    )
    sessions = {
        s.exam_id: s for s in ExamSession.objects.filter(student=student, exam__in=exams)
    }
    return [StudentExamRow(exam=exam, session=sessions.get(exam.pk)) for exam in exams]


def exam_get_for_student(*, student: AbstractBaseUser, exam_id: int) -> Exam:
    exam = (
        Exam.objects.filter(pk=exam_id, course__enrollments__student=student)
        .select_related("course__institution")
        .first()
    )
    if exam is None:
        raise Http404("No such exam.")
    return exam


def session_get_for_student(*, user: AbstractBaseUser, session_id: UUID) -> ExamSession:
    """The user's own session; anyone else's is reported as missing (404), not forbidden."""
    session = (
        ExamSession.objects.select_related("exam__course__institution", "student")
        .filter(pk=session_id)
        .first()
    )
    if session is None or not permissions.is_session_owner(user, session):
        raise Http404("No such exam session.")
    return session


def extra_time_for(*, session: ExamSession) -> int:
    """Minutes of extra time the student's enrolment grants (0 when none)."""
    return (
        Enrollment.objects.filter(course_id=session.exam.course_id, student_id=session.student_id)
        .values_list("extra_time_min", flat=True)
        .first()
    ) or 0
