"""Who may use the LMS integrations, and for what. Decided here and nowhere else.

Course-level access itself is exams/permissions.py's, and who reads decrypted content is
privacy/access.py's; this module adds API keys, which act for their institution within
the scopes they were granted.
"""

from __future__ import annotations

from django.db.models import QuerySet

from exams.models import Course, CourseStaff, ExamSession, Institution

# The course-level rules this surface applies as they are, so its adapters ask one module.
from exams.permissions import (
    User,
    can_manage_course,
    can_view_session,
    courses_for_staff,
    institutions_administered,
    is_course_staff,
    is_institution_admin,
)
from lms.models import ApiKey
from privacy import access

__all__ = [
    "API_INCIDENT_PAYLOAD", "API_READ", "API_WRITE", "MANAGER_ROLES", "User",
    "api_can_manage_course", "api_can_read_incident_payload", "api_courses",
    "api_institutions_for_new_course", "api_may_use", "api_sessions_with_payload_access",
    "can_manage_course", "can_view_session", "courses_for_staff", "institutions_administered",
    "is_institution_admin",
]

# --- REST API callers (lms/api/) ---------------------------------------------------------
#
# An API call comes from an institution's API key or from a logged-in staff member. Keys
# see every course of their institution within their scopes; staff see the courses they
# work on (as everywhere else). Students have no API access: their pages are elsewhere.

API_READ = "read"
API_WRITE = "write"
API_INCIDENT_PAYLOAD = "incident_payload"
MANAGER_ROLES = frozenset({CourseStaff.Role.INSTRUCTOR})


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


def api_sessions_with_payload_access(
    user: User, api_key: ApiKey | None
) -> QuerySet[ExamSession]:
    """Sessions whose decrypted details (incidents' payload, review notes) the caller may
    read: a key granted ``incident_payload``, for its institution's sessions; a person,
    by the one rule of privacy/access.py (so instructors see them withheld)."""
    if api_key is not None:
        if not api_key.has_scope(API_INCIDENT_PAYLOAD):
            return ExamSession.objects.none()
        return ExamSession.objects.filter(exam__course__institution_id=api_key.institution_id)
    return access.sessions_with_decrypted_access(user)


def api_can_read_incident_payload(
    user: User, api_key: ApiKey | None, session: ExamSession
) -> bool:
    return api_sessions_with_payload_access(user, api_key).filter(pk=session.pk).exists()
