"""Institutions, courses, exams with their proctoring policy, enrolments and exam sessions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from reviews.scoring import validate_suspicion_weights


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


class Check(models.TextChoices):
    """The automatic checks an exam can switch on; an accommodation can switch one off."""

    NO_FACE = "no_face", "No face in view"
    MULTIPLE_FACES = "multiple_faces", "More than one face"
    LOOKING_AWAY = "looking_away", "Looking away"
    CAMERA_BLOCKED = "camera_blocked", "Camera blocked or dark"
    CAMERA_FROZEN = "camera_frozen", "Camera frozen"
    SPEECH = "speech", "Speech"
    BROWSER = "browser", "Browser events (tab, focus, fullscreen, copy/paste)"


def default_enabled_checks() -> list[str]:
    return [
        Check.NO_FACE,
        Check.MULTIPLE_FACES,
        Check.LOOKING_AWAY,
        Check.CAMERA_BLOCKED,
        Check.CAMERA_FROZEN,
        Check.BROWSER,
    ]


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
        'e.g. {"tab_hidden": 0.5}; kinds left out keep the defaults in reviews/scoring.py.',
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


# --- Integrations: the LMS REST API (exams/api/) and LTI 1.3 (exams/lti/) -----------------


class ApiKey(models.Model):
    """An institution's key for the REST API. Only a SHA-256 of the key is kept.

    The key is ``prk_<prefix>_<secret>``: ``prefix`` finds the row, the hash of the whole
    key proves it. The secret has 256 bits of entropy, so a fast unsalted hash is enough
    (a slow password hash would only slow every request); it is shown once, at creation.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read courses, exams, enrolments, sessions, incidents, outcomes"
        WRITE = "write", "Create and change courses, exams and enrolments"
        INCIDENT_PAYLOAD = "incident_payload", "Read incidents' decrypted details"

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'Moodle production'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_sha256 = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="Any of: read, write, incident_payload.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["institution", "name"]

    def __str__(self) -> str:
        return f"{self.name} (prk_{self.prefix}…, {self.institution})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def has_scope(self, scope: str) -> bool:
        return not self.is_revoked and scope in self.scopes


class WebhookEndpoint(models.Model):
    """Where an institution's LMS wants to hear that a review completed (HMAC-signed)."""

    institution = models.OneToOneField(
        Institution, on_delete=models.CASCADE, related_name="webhook"
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=128, help_text="Shared secret for the HMAC-SHA256 signature."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Webhook of {self.institution}"


class WebhookDelivery(models.Model):
    """One event to deliver to one endpoint; retried by a Celery task until it lands."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=64)
    dedupe_key = models.CharField(max_length=200, help_text="One delivery per event occurrence.")
    body = models.TextField(
        help_text="The exact JSON sent, so every retry signs the same bytes; emptied once "
        "the delivery is delivered or abandoned."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "dedupe_key"], name="uniq_webhook_delivery"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint.url} ({self.get_status_display()})"


class LtiRegistration(models.Model):
    """An LMS (LTI 1.3 platform) that registered Proctor as a tool, for one institution.

    The platform's values (issuer, client id, endpoints, JWKS URL, deployment ids) come
    from the LMS's tool registration page; the tool's RSA key pair is generated here and
    its public half published at /lti/jwks/.
    """

    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="lti_registrations"
    )
    name = models.CharField(max_length=100, help_text="e.g. 'Moodle production'.")
    issuer = models.CharField(max_length=255, help_text="The platform's issuer (iss), a URL.")
    client_id = models.CharField(max_length=255, help_text="The client id the LMS assigned.")
    auth_login_url = models.URLField(max_length=500, help_text="Platform's OIDC auth URL.")
    auth_token_url = models.URLField(max_length=500, help_text="Platform's OAuth2 token URL.")
    auth_audience = models.CharField(max_length=255, blank=True)
    key_set_url = models.URLField(max_length=500, help_text="Platform's JWKS URL.")
    deployment_ids = models.JSONField(default=list, help_text='e.g. ["1"]')
    tool_private_key = models.TextField(help_text="PEM; generated when left empty.", blank=True)
    tool_public_key = models.TextField(editable=False, blank=True)
    tool_key_id = models.CharField(max_length=64, editable=False, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "LTI registration"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "client_id"], name="uniq_lti_registration")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.issuer})"


class LtiIdentity(models.Model):
    """The local user behind a platform's user id (``sub``): one per registration."""

    registration = models.ForeignKey(
        LtiRegistration, on_delete=models.CASCADE, related_name="identities"
    )
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lti_identities"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "LTI identities"
        constraints = [
            models.UniqueConstraint(fields=["registration", "subject"], name="uniq_lti_subject")
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.user}"


class LtiContext(models.Model):
    """The local course behind a platform's course (context id)."""

    registration = models.ForeignKey(
        LtiRegistration, on_delete=models.CASCADE, related_name="contexts"
    )
    context_id = models.CharField(max_length=255)
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lti_contexts")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "context_id"], name="uniq_lti_context"
            )
        ]

    def __str__(self) -> str:
        return f"{self.context_id} → {self.course.code}"
