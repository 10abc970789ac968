"""Who may see and do what. The only place access is decided (see STYLE.md).

Staff access is per course: an instructor or reviewer assigned to a course, an admin of
the course's institution, or a superuser. Students see only their own sessions. Views
answer "forbidden" as "not found" (404), so nobody learns that another student's
session exists. Seeing a session is not reading its decrypted content: that narrower
rule (no instructors, no student while it runs) is privacy/access.py's.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from exams.models import Course, CourseStaff, Exam, ExamSession, Institution

User = AbstractBaseUser | AnonymousUser

STAFF_ROLES = frozenset({CourseStaff.Role.INSTRUCTOR, CourseStaff.Role.REVIEWER})


def _course_filter(user: User, roles: frozenset[str], prefix: str = "") -> Q:
    return Q(**{f"{prefix}staff__user": user, f"{prefix}staff__role__in": roles}) | Q(
        **{f"{prefix}institution__members__user": user}
    )


def courses_for_staff(user: User, *, roles: frozenset[str] = STAFF_ROLES) -> QuerySet[Course]:
    """Courses the user works on in one of ``roles`` (institution admins: all of theirs)."""
    if not user.is_authenticated or not user.is_active:
        return Course.objects.none()
    if user.is_superuser:
        return Course.objects.all()
    return Course.objects.filter(_course_filter(user, roles)).distinct()


def is_course_staff(user: User, course: Course, *, roles: frozenset[str] = STAFF_ROLES) -> bool:
    return courses_for_staff(user, roles=roles).filter(pk=course.pk).exists()


def can_review_course(user: User, course: Course) -> bool:
    return is_course_staff(user, course, roles=frozenset({CourseStaff.Role.REVIEWER}))


def can_manage_course(user: User, course: Course) -> bool:
    """Instructors and institution admins change exams and enrolments."""
    return is_course_staff(user, course, roles=frozenset({CourseStaff.Role.INSTRUCTOR}))


def is_institution_admin(user: User) -> bool:
    return user.is_authenticated and (
        user.is_superuser or user.institution_memberships.exists()
    )


def scope_courses(queryset: QuerySet, user: User, *, path: str = "") -> QuerySet:
    """Narrow any queryset whose rows belong to a course (``path`` leads to the course)."""
    if user.is_authenticated and user.is_active and user.is_superuser:
        return queryset
    lookup = f"{path}__in" if path else "pk__in"
    return queryset.filter(**{lookup: courses_for_staff(user).values("pk")})


def scope_exams(queryset: QuerySet[Exam], user: User) -> QuerySet[Exam]:
    return scope_courses(queryset, user, path="course")


def scope_sessions(queryset: QuerySet[ExamSession], user: User) -> QuerySet[ExamSession]:
    """Sessions the user may see: their own, and those of courses they staff."""
    if not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.is_superuser:
        return queryset
    staff_courses = courses_for_staff(user).values("pk")
    return queryset.filter(Q(student=user) | Q(exam__course__in=staff_courses))


def can_view_session(user: User, session: ExamSession) -> bool:
    return scope_sessions(ExamSession.objects.filter(pk=session.pk), user).exists()


def is_session_owner(user: User, session: ExamSession) -> bool:
    return user.is_authenticated and session.student_id == user.pk


def institutions_administered(user: User) -> QuerySet[Institution]:
    """Institutions whose API keys, webhooks and LTI registrations the user manages."""
    if not user.is_authenticated or not user.is_active:
        return Institution.objects.none()
    if user.is_superuser:
        return Institution.objects.all()
    return Institution.objects.filter(members__user=user)


# The data lifecycle (lifecycle/): exports, erasure and approving break-glass. Who may read
# decrypted content (and so ask for break-glass) is privacy/access.py's one rule.


def is_admin_of_institution(user: User, institution_id: int) -> bool:
    """An admin of that one institution (or a superuser)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.institution_memberships.filter(
        institution_id=institution_id
    ).exists()


def can_export_student_data(user: User, student: AbstractBaseUser) -> bool:
    """A student's own data export, or one made by an admin of an institution they study at."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or user.pk == student.pk:
        return True
    return student.enrollments.filter(
        course__institution__members__user=user
    ).exists()


def can_request_erasure(user: User, *, student: AbstractBaseUser, institution_id: int) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.pk == student.pk or is_admin_of_institution(user, institution_id)


def can_decide_erasure(user: User, *, institution_id: int) -> bool:
    return is_admin_of_institution(user, institution_id)


def can_approve_break_glass(
    user: User, *, session: ExamSession, requested_by_id: int
) -> bool:
    """A second person: an admin of the course's institution who did not ask for it."""
    if not user.is_authenticated or user.pk == requested_by_id:
        return False
    return is_admin_of_institution(user, session.exam.course.institution_id)
