"""Institutions, courses, exams with their proctoring policy, enrolments and exam sessions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from exams import kinds


class Institution(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class InstitutionMembership(models.Model):
    """An institution admin: manages every course of one institution."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Institution admin"

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="institution_memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ADMIN)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["institution", "user"], name="uniq_institution_member")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.institution})"


class Course(models.Model):
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="courses")
    code = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "code"], name="uniq_course_code")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class CourseStaff(models.Model):
    """Per-course assignment of a staff member: instructors run exams, reviewers judge."""

    class Role(models.TextChoices):
        INSTRUCTOR = "instructor", "Instructor"
        REVIEWER = "reviewer", "Reviewer"

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="staff")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="course_roles"
    )
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        verbose_name_plural = "course staff"
        constraints = [
            models.UniqueConstraint(fields=["course", "user", "role"], name="uniq_course_staff")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.course.code})"


# The choices of ``Exam.enabled_checks`` and ``Enrollment.disabled_checks``, from the one
# registry of checks and incident kinds (exams/kinds.py).
Check = models.TextChoices(
    "Check", [(c.name.name, (c.name.value, c.label)) for c in kinds.CHECKS.values()]
)


def default_enabled_checks() -> list[str]:
    return [str(name) for name in kinds.DEFAULT_CHECKS]


def validate_checks(value: object) -> None:
    """Validator for ``Exam.enabled_checks``: a list of check names."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(
            f"Checks must be a list of check names, e.g. [\"no_face\"]; got {value!r}."
        )
    unknown = sorted(set(value) - set(kinds.CHECKS))
    if unknown:
        raise ValidationError(
            f"Unknown check(s) {', '.join(unknown)}; use {', '.join(kinds.CHECKS)}."
        )


def validate_waivable_checks(value: object) -> None:
    """Validator for ``Enrollment.disabled_checks``: checks an accommodation may switch off."""
    validate_checks(value)
    refused = sorted(set(value) - kinds.waivable_checks())  # type: ignore[arg-type]
    if refused:
        raise ValidationError(
            f"An accommodation cannot switch off {', '.join(refused)}: "
            f"{kinds.CHECKS[refused[0]].label.lower()} has no innocent cause it could cover."
        )


MAX_SUSPICION_WEIGHT = 100.0


def validate_suspicion_weights(value: object) -> None:
    """Validator for ``Exam.suspicion_weights``: ``{kind: weight}``, weights 0 to 100."""
    if not isinstance(value, dict):
        raise ValidationError(
            "Suspicion weights must be an object mapping incident kinds to numbers, "
            f"e.g. {{\"no_face\": 3}}; got {type(value).__name__}."
        )
    for kind, weight in value.items():
        if kind not in kinds.INCIDENT_KINDS:
            raise ValidationError(
                f"Unknown incident kind {kind!r} in suspicion weights; use one of "
                f"{', '.join(sorted(kinds.INCIDENT_KINDS))}."
            )
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValidationError(f"The weight of {kind!r} must be a number, not {weight!r}.")
        if not 0 <= weight <= MAX_SUSPICION_WEIGHT:
            raise ValidationError(
                f"The weight of {kind!r} is {weight}; use a number from 0 to "
                f"{MAX_SUSPICION_WEIGHT:g}."
            )


class Exam(models.Model):
    class AnonymizationMethod(models.TextChoices):
        BLUR = "blur", "Gaussian blur"
        PIXELATE = "pixelate", "Pixelation"
        MASK = "mask", "Solid mask"

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="exams")
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    opens_at = models.DateTimeField(help_text="Students may start from this moment.")
    closes_at = models.DateTimeField(help_text="No session may start after this moment.")
    duration_min = models.PositiveIntegerField(default=60, help_text="Working time in minutes.")

    # Proctoring policy. Per-exam choices live here, not in settings (STYLE.md).
    anonymization_method = models.CharField(
        max_length=16, choices=AnonymizationMethod.choices, default=AnonymizationMethod.BLUR
    )
    anonymization_strength = models.PositiveSmallIntegerField(
        default=5, help_text="1 (light) to 10 (strongest): blur radius or pixel block size."
    )
    blur_frame_when_no_face = models.BooleanField(
        default=False,
        help_text="Blur the whole frame whenever no face is found (strictest privacy).",
    )
    enabled_checks = models.JSONField(
        default=default_enabled_checks,
        blank=True,
        validators=[validate_checks],
        help_text="Check names that are on, e.g. no_face, multiple_faces, looking_away.",
    )
    no_face_min_s = models.FloatField(default=5.0)
    multiple_faces_min_s = models.FloatField(default=2.0)
    looking_away_yaw_deg = models.FloatField(default=35.0)
    looking_away_pitch_deg = models.FloatField(default=25.0)
    looking_away_gaze = models.FloatField(
        default=0.35, help_text="Normalised iris offset from the eye centre (0 to 1)."
    )
    looking_away_min_s = models.FloatField(default=5.0)
    camera_blocked_min_s = models.FloatField(default=3.0)
    camera_frozen_min_s = models.FloatField(default=5.0)
    speech_min_s = models.FloatField(default=2.0)
    frame_rate_fps = models.PositiveSmallIntegerField(
        default=1, help_text="Webcam frames per second sent by the page (1 to 5)."
    )
    suspicion_weights = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_suspicion_weights],
        help_text="Per incident kind, the weight it adds to a session's suspicion score, "
        'e.g. {"tab_hidden": 0.5}; kinds left out keep the defaults in exams/kinds.py.',
    )
    retention_days = models.PositiveIntegerField(
        default=30, help_text="Days after a session ends before its data is destroyed."
    )
    keep_originals_days = models.PositiveIntegerField(
        default=0,
        help_text="Keep encrypted raw (un-anonymized) frames this many days; 0 keeps none. "
        "Viewing one needs a break-glass grant approved by a second person.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["opens_at", "title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")), name="exam_closes_after_opening"
            ),
            models.CheckConstraint(
                condition=Q(frame_rate_fps__gte=1, frame_rate_fps__lte=5),
                name="exam_frame_rate_1_to_5",
            ),
            models.CheckConstraint(
                condition=Q(anonymization_strength__gte=1, anonymization_strength__lte=10),
                name="exam_anonymization_strength_1_to_10",
            ),
            models.CheckConstraint(
                condition=Q(duration_min__gte=1), name="exam_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.course.code})"

    def is_open(self, at=None) -> bool:
        at = at or timezone.now()
        return self.opens_at <= at < self.closes_at


class Enrollment(models.Model):
    """A student in a course, with the accommodations the institution granted them."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="enrollments")
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments"
    )
    extra_time_min = models.PositiveIntegerField(
        default=0, help_text="Accommodation: minutes added to every exam of the course."
    )
    disabled_checks = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_waivable_checks],
        help_text="Accommodation: checks switched off for this student (never count "
        "against them).",
    )
    external_id = models.CharField(max_length=128, blank=True, help_text="The LMS's id.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["course", "student"], name="uniq_enrollment")
        ]

    def __str__(self) -> str:
        return f"{self.student} in {self.course.code}"


class ExamSession(models.Model):
    """One student's sitting of one exam: a state machine (see exams/services.py).

    created → consented → camera_checked → in_progress → submitted | terminated | expired.
    The id is a random UUID so that session URLs reveal nothing and cannot be guessed.
    """

    class State(models.TextChoices):
        CREATED = "created", "Created"
        CONSENTED = "consented", "Consent given"
        CAMERA_CHECKED = "camera_checked", "Camera checked"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"
        TERMINATED = "terminated", "Terminated"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    exam = models.ForeignKey(Exam, on_delete=models.PROTECT, related_name="sessions")
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exam_sessions"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.CREATED)
    created_at = models.DateTimeField(default=timezone.now)
    consented_at = models.DateTimeField(null=True, blank=True)
    camera_checked_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="Start + duration + extra time, capped by nothing."
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    client_info = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["exam", "student"], name="one_session_per_exam"),
            models.CheckConstraint(
                condition=~Q(state="in_progress") | Q(started_at__isnull=False),
                name="in_progress_has_start",
            ),
        ]
        indexes = [models.Index(fields=["state", "deadline_at"], name="session_state_deadline")]

    def __str__(self) -> str:
        return f"{self.student} · {self.exam.title} ({self.get_state_display()})"

    @property
    def is_finished(self) -> bool:
        return self.state in {self.State.SUBMITTED, self.State.TERMINATED, self.State.EXPIRED}

    def remaining(self, at=None) -> timedelta | None:
        if self.deadline_at is None:
            return None
        return max(self.deadline_at - (at or timezone.now()), timedelta(0))
