"""Writes for LTI: the tool's key pair, and users/courses/roles provisioned from a launch.

Role mapping (LTI 1.3 role URIs, context roles): Instructor, ContentDeveloper → the
course's instructor; TeachingAssistant → its reviewer; Learner → an enrolment. Nothing
grants institution admin: an LMS cannot make someone administer Proctor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from jwcrypto.jwk import JWK

from audit.actions import AuditAction
from audit.services import audit_record
from exams import roles as role_groups
from exams.models import Course, CourseStaff, Enrollment, Exam
from lms.lti.errors import LtiExamNotFound
from lms.models import LtiContext, LtiIdentity, LtiRegistration

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
ROLE_INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
ROLE_CONTENT_DEVELOPER = "http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper"
ROLE_TEACHING_ASSISTANT = (
    "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
)
ROLE_LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
CUSTOM_EXAM_ID = "proctor_exam_id"


def lti_registration_generate_keys(*, registration: LtiRegistration) -> LtiRegistration:
    """Give the registration a fresh 2048-bit RSA key pair (also to rotate a key)."""
    key = JWK.generate(kty="RSA", size=2048)
    with transaction.atomic():
        registration.tool_private_key = key.export_to_pem(private_key=True, password=None).decode()
        registration.tool_public_key = key.export_to_pem().decode()
        registration.tool_key_id = key.thumbprint()
        registration.save()
        audit_record(
            actor=None, action=AuditAction.LTI_KEYS, target=f"lti_registration:{registration.pk}",
            detail={"kid": registration.tool_key_id},
        )
    return registration


@dataclass(frozen=True)
class LtiLaunchResult:
    user: AbstractBaseUser
    course: Course
    is_instructor: bool
    is_reviewer: bool
    is_learner: bool
    exam: Exam | None


def _course_code(registration: LtiRegistration, context: Mapping[str, Any]) -> str:
    label = str(context.get("label") or context.get("title") or "LTI")[:24].strip() or "LTI"
    taken = Course.objects.filter(institution=registration.institution, code=label).exists()
    if not taken:
        return label
    digest = hashlib.sha256(f"{registration.pk}:{context['id']}".encode()).hexdigest()[:7]
    return f"{label}-{digest}"


def lti_launch_provision(
    *, registration: LtiRegistration, claims: Mapping[str, Any]
) -> LtiLaunchResult:
    """Find or create the user, course and role that a validated launch describes.

    Users are matched by the platform's ``sub`` through LtiIdentity, or on first launch
    to the non-staff account the institution's enrolment sync created with that ``sub``
    as external_id; never by e-mail or username, so an LMS cannot take over an existing
    local account. Raises
    LtiExamNotFound when the link names an exam that is not in the launch's course.
    """
    User = get_user_model()
    context = claims.get(f"{CLAIM}context") or {}
    if not context.get("id"):
        raise LtiExamNotFound("The launch has no course (context claim); launch from a course.")
    launch_roles = set(claims.get(f"{CLAIM}roles") or [])
    is_instructor = bool(launch_roles & {ROLE_INSTRUCTOR, ROLE_CONTENT_DEVELOPER})
    is_reviewer = ROLE_TEACHING_ASSISTANT in launch_roles
    is_learner = ROLE_LEARNER in launch_roles and not (is_instructor or is_reviewer)
    subject = str(claims["sub"])
    with transaction.atomic():
        identity = (
            LtiIdentity.objects.select_related("user")
            .filter(registration=registration, subject=subject)
            .first()
        )
        if identity is None:
            # The institution's enrolment sync (REST API) may already have made the
            # account, with the LMS's user id as external_id: use it, so that API and LTI
            # agree on who the student is. Never a staff account, never one already
            # linked to another LMS identity.
            synced = (
                Enrollment.objects.filter(
                    course__institution_id=registration.institution_id,
                    external_id=subject,
                    student__is_staff=False,
                    student__is_superuser=False,
                    student__lti_identities__isnull=True,
                )
                .select_related("student")
                .first()
            )
            if synced is not None:
                user = synced.student
            else:
                digest = hashlib.sha256(f"{registration.pk}:{subject}".encode()).hexdigest()
                user = User(username=f"lti-{digest[:20]}")
                user.set_unusable_password()
                user.save()
            identity = LtiIdentity.objects.create(
                registration=registration, subject=subject, user=user
            )
        user = identity.user
        profile = {
            "email": str(claims.get("email", ""))[:254],
            "first_name": str(claims.get("given_name", ""))[:150],
            "last_name": str(claims.get("family_name", ""))[:150],
        }
        if is_instructor or is_reviewer:
            profile["is_staff"] = True  # staff pages and the admin need it
        changed = [k for k, v in profile.items() if v and getattr(user, k) != v]
        for name in changed:
            setattr(user, name, profile[name])
        if changed:
            user.save(update_fields=changed)

        link = (
            LtiContext.objects.select_related("course")
            .filter(registration=registration, context_id=str(context["id"]))
            .first()
        )
        if link is None:
            course = Course.objects.create(
                institution=registration.institution,
                code=_course_code(registration, context),
                title=str(context.get("title") or context.get("label") or "LTI course")[:200],
            )
            link = LtiContext.objects.create(
                registration=registration, context_id=str(context["id"]), course=course
            )
        course = link.course

        groups = []
        if is_instructor:
            CourseStaff.objects.get_or_create(
                course=course, user=user, role=CourseStaff.Role.INSTRUCTOR
            )
            groups.append(role_groups.INSTRUCTORS)
        if is_reviewer:
            CourseStaff.objects.get_or_create(
                course=course, user=user, role=CourseStaff.Role.REVIEWER
            )
            groups.append(role_groups.REVIEWERS)
        if is_learner:
            Enrollment.objects.get_or_create(
                course=course, student=user, defaults={"external_id": subject[:128]}
            )
            groups.append(role_groups.STUDENTS)
        if groups:
            user.groups.add(*Group.objects.filter(name__in=groups))

        exam = None
        custom = claims.get(f"{CLAIM}custom") or {}
        if custom.get(CUSTOM_EXAM_ID):
            exam = Exam.objects.filter(
                course=course, pk=_as_int(custom[CUSTOM_EXAM_ID])
            ).first()
            if exam is None:
                raise LtiExamNotFound(
                    f"The link names exam {custom[CUSTOM_EXAM_ID]!r}, which is not an exam of "
                    f"{course}; ask the instructor to pick the exam again."
                )
        audit_record(
            actor=user, action=AuditAction.LTI_LAUNCH, course=course,
            target=f"lti_registration:{registration.pk}",
            detail={
                "message_type": claims.get(f"{CLAIM}message_type"),
                "instructor": is_instructor, "reviewer": is_reviewer, "learner": is_learner,
                "exam": exam.pk if exam else None,
            },
        )
    return LtiLaunchResult(
        user=user, course=course, is_instructor=is_instructor, is_reviewer=is_reviewer,
        is_learner=is_learner, exam=exam,
    )


def _as_int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return -1
