"""The role groups and the model permissions they carry in the Django admin.

Which rows a member sees is decided per course by exams/permissions.py; these groups
decide only which *kinds* of record each role may view or change at all. Instructors
and institution admins may look users up (auth.view_user) to enrol and assign them.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

STUDENTS = "Students"
INSTRUCTORS = "Instructors"
REVIEWERS = "Reviewers"
INSTITUTION_ADMINS = "Institution admins"

_VIEW_ALL = [
    "exams.view_course",
    "exams.view_exam",
    "exams.view_enrollment",
    "exams.view_examsession",
    "exams.view_coursestaff",
    "monitoring.view_incident",
    "monitoring.view_evidence",
    "reviews.view_reviewdecision",
]

# Break-glass: course staff ask; institution admins approve (lifecycle/services.py decides).
_BREAK_GLASS = ["lifecycle.view_breakglassgrant", "lifecycle.add_breakglassgrant"]

GROUP_PERMISSIONS: dict[str, list[str]] = {
    STUDENTS: [],
    REVIEWERS: _VIEW_ALL + _BREAK_GLASS + ["reviews.add_reviewdecision"],
    INSTRUCTORS: _VIEW_ALL + _BREAK_GLASS
    + ["exams.add_exam", "exams.change_exam", "exams.add_enrollment", "exams.change_enrollment",
       "exams.delete_enrollment", "auth.view_user"],
    INSTITUTION_ADMINS: _VIEW_ALL
    + ["exams.add_course", "exams.change_course", "exams.add_exam", "exams.change_exam",
       "exams.add_enrollment", "exams.change_enrollment", "exams.delete_enrollment",
       "exams.add_coursestaff", "exams.change_coursestaff", "exams.delete_coursestaff",
       "audit.view_auditevent", "auth.view_user"]
    + _BREAK_GLASS
    + ["lifecycle.view_erasurerequest", "lifecycle.add_erasurerequest",
       "lifecycle.view_shredrecord", "privacy.view_sessionkey"],
}


def ensure_groups() -> None:
    """Create the role groups and (re)set their permissions. Idempotent."""
    for name, perms in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            wanted.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
