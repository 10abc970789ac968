"""Who may see and do what. The only place access is decided (see STYLE.md).

Staff access is per course: an instructor or reviewer assigned to a course, an admin of
the course's institution, or a superuser. Students see only their own sessions. Views
answer "forbidden" as "not found" (404), so nobody learns that another student's
session exists.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from exams.models import ApiKey, Course, CourseStaff, Exam, ExamSession, Institution

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


# --- REST API callers (exams/api/) ---------------------------------------------------------
#
# An API call comes from an institution's API key or from a logged-in staff member. Keys
# see every course of their institution within their scopes; staff see the courses they
# work on (as everywhere else). Students have no API access: their pages are elsewhere.

API_READ = "read"
API_WRITE = "write"
API_INCIDENT_PAYLOAD = "incident_payload"
MANAGER_ROLES = frozenset({CourseStaff.Role.INSTRUCTOR})
PAYLOAD_ROLES = frozenset({CourseStaff.Role.REVIEWER})


def _key_allows(api_key: ApiKey, scope: str) -> bool:
    # A key that may write may also read what it writes.
    if scope == API_READ:
        return api_key.has_scope(API_READ) or api_key.has_scope(API_WRITE)
    return api_key.has_scope(scope)


def api_may_use(user: User, api_key: ApiKey | None, *, scope: str) -> bool:
    """Whether the caller may use the API at all for ``scope`` (before any object)."""
    if api_key is not None:
        return _key_allows(api_key, scope)
    if not user.is_authenticated or not user.is_active:
        return False
    return courses_for_staff(user).exists() or is_institution_admin(user)


def api_courses(user: User, api_key: ApiKey | None) -> QuerySet[Course]:
    """The courses an API caller may read; rows outside them answer 404."""
    if api_key is not None:
        if not _key_allows(api_key, API_READ):
            return Course.objects.none()
        return Course.objects.filter(institution_id=api_key.institution_id)
    return courses_for_staff(user)


def api_can_manage_course(user: User, api_key: ApiKey | None, course: Course) -> bool:
    """Change a course, its exams and enrolments: write keys, instructors, inst. admins."""
    if api_key is not None:
        return api_key.has_scope(API_WRITE) and course.institution_id == api_key.institution_id
    return is_course_staff(user, course, roles=MANAGER_ROLES)


def api_institutions_for_new_course(user: User, api_key: ApiKey | None) -> QuerySet[Institution]:
    """Where the caller may create a course: the key's institution, or the user's as admin."""
    if api_key is not None:
        if not api_key.has_scope(API_WRITE):
            return Institution.objects.none()
        return Institution.objects.filter(pk=api_key.institution_id)
    return institutions_administered(user)


def institutions_administered(user: User) -> QuerySet[Institution]:
    """Institutions whose API keys, webhooks and LTI registrations the user manages."""
    if not user.is_authenticated or not user.is_active:
        return Institution.objects.none()
    if user.is_superuser:
        return Institution.objects.all()
    return Institution.objects.filter(members__user=user)


def api_can_read_incident_payload(user: User, api_key: ApiKey | None, course: Course) -> bool:
    """Incidents' details are for the course's reviewers, its institution's admins and
    keys granted the ``incident_payload`` scope; everyone else sees them withheld."""
    if api_key is not None:
        return (
            api_key.has_scope(API_INCIDENT_PAYLOAD)
            and course.institution_id == api_key.institution_id
        )
    return is_course_staff(user, course, roles=PAYLOAD_ROLES)


# Encrypted data and the data lifecycle (reviews/privacy/). Decryption for a person, exports,
# erasure and break-glass are decided here like every other access.


def is_admin_of_institution(user: User, institution_id: int) -> bool:
    """An admin of that one institution (or a superuser)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.institution_memberships.filter(
        institution_id=institution_id
    ).exists()


def can_decrypt_session(user: User, session: ExamSession) -> bool:
    """Whose eyes may see a session's decrypted incidents, notes and anonymized evidence:
    the student who sat it, and staff of its course. Each viewing is audited."""
    return can_view_session(user, session)


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


def can_request_break_glass(user: User, session: ExamSession) -> bool:
    """Staff of the session's course (not the student) may ask to see original frames."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or is_course_staff(user, session.exam.course)


def can_approve_break_glass(
    user: User, *, session: ExamSession, requested_by_id: int
) -> bool:
    """A second person: an admin of the course's institution who did not ask for it."""
    if not user.is_authenticated or user.pk == requested_by_id:
        return False
    return is_admin_of_institution(user, session.exam.course.institution_id)
