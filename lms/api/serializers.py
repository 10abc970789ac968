"""Serializers of the REST API: what an LMS reads and writes, and the query filters."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from exams.models import Check, Course, Enrollment, Exam, ExamSession
from lms import permissions
from monitoring.models import Incident
from privacy.errors import SessionShredded
from privacy.services import readable
from reviews.models import ReviewDecision

MAX_SYNC_ROWS = 5000


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(help_text="Machine-readable, e.g. not_found, invalid.")
    message = serializers.CharField(help_text="What went wrong and what to do.")
    details = serializers.JSONField(
        allow_null=True, help_text="Per-field errors for 400, else null."
    )


class ErrorSerializer(serializers.Serializer):
    """The one error body of the API (docs/api.md)."""

    error = ErrorDetailSerializer()


class CourseSerializer(serializers.ModelSerializer):
    institution = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Course
        fields = ["id", "institution", "code", "title", "created_at"]
        read_only_fields = ["id", "institution", "created_at"]


class CourseCreateSerializer(serializers.ModelSerializer):
    institution = serializers.SlugField(
        required=False,
        help_text="The institution's slug; needed only by staff who administer several.",
    )

    class Meta:
        model = Course
        fields = ["institution", "code", "title"]
        # The (institution, code) uniqueness is checked by the service (409), not here.
        validators: list = []


class CourseUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Course
        fields = ["title"]


_EXAM_POLICY_FIELDS = [
    "anonymization_method",
    "anonymization_strength",
    "blur_frame_when_no_face",
    "enabled_checks",
    "no_face_min_s",
    "multiple_faces_min_s",
    "looking_away_yaw_deg",
    "looking_away_pitch_deg",
    "looking_away_gaze",
    "looking_away_min_s",
    "camera_blocked_min_s",
    "camera_frozen_min_s",
    "speech_min_s",
    "frame_rate_fps",
    "retention_days",
]


class ExamSerializer(serializers.ModelSerializer):
    enabled_checks = serializers.ListField(
        child=serializers.ChoiceField(choices=Check.choices), required=False, max_length=20
    )
    anonymization_strength = serializers.IntegerField(min_value=1, max_value=10, required=False)
    frame_rate_fps = serializers.IntegerField(min_value=1, max_value=5, required=False)
    duration_min = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    retention_days = serializers.IntegerField(min_value=0, max_value=100_000, required=False)

    class Meta:
        model = Exam
        fields = [
            "id", "course", "title", "instructions", "opens_at", "closes_at", "duration_min",
            *_EXAM_POLICY_FIELDS, "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            name: {"min_value": 0.0, "max_value": 1e6}
            for name in _EXAM_POLICY_FIELDS
            if name.endswith(("_s", "_deg"))
        } | {"looking_away_gaze": {"min_value": 0.0, "max_value": 1.0}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        course_field = self.fields["course"]
        if self.instance is not None:
            course_field.read_only = True
        elif "request" in self.context:
            # Only courses the caller can see are valid; others read as "does not exist".
            request = self.context["request"]
            course_field.queryset = permissions.api_courses(request.user, request.auth)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        opens_at = attrs.get("opens_at", getattr(self.instance, "opens_at", None))
        closes_at = attrs.get("closes_at", getattr(self.instance, "closes_at", None))
        if opens_at and closes_at and closes_at <= opens_at:
            raise serializers.ValidationError(
                {"closes_at": f"Must be after opens_at ({opens_at.isoformat()})."}
            )
        return attrs


class EnrollmentSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="student.username", read_only=True)

    class Meta:
        model = Enrollment
        fields = [
            "id", "username", "external_id", "extra_time_min", "disabled_checks", "created_at",
        ]
        read_only_fields = fields


class EnrollmentRowSerializer(serializers.Serializer):
    username = serializers.CharField(
        max_length=150,
        validators=[RegexValidator(r"^[\w.@+-]+\Z", "Letters, digits and @/./+/-/_ only.")],
    )
    external_id = serializers.CharField(max_length=128, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    extra_time_min = serializers.IntegerField(min_value=0, max_value=1440, required=False)
    disabled_checks = serializers.ListField(
        child=serializers.ChoiceField(choices=Check.choices), required=False, max_length=20
    )


class EnrollmentSyncSerializer(serializers.Serializer):
    enrollments = EnrollmentRowSerializer(many=True, max_length=MAX_SYNC_ROWS)

    def validate_enrollments(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        counts = Counter(row["username"] for row in rows)
        duplicates = sorted(name for name, n in counts.items() if n > 1)
        if duplicates:
            raise serializers.ValidationError(
                f"Each student may appear once; repeated: {', '.join(duplicates[:20])}."
            )
        return rows


class EnrollmentSyncResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    removed = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class SessionSerializer(serializers.ModelSerializer):
    course = serializers.IntegerField(source="exam.course_id", read_only=True)
    student = serializers.CharField(source="student.username", read_only=True)
    student_external_id = serializers.CharField(
        read_only=True, allow_null=True,
        help_text="The LMS's id of the student (from the enrolment), if known.",
    )
    review_outcome = serializers.ChoiceField(
        choices=[ReviewDecision.Decision.CLOSE_CLEAR, ReviewDecision.Decision.CLOSE_VIOLATION],
        read_only=True,
        allow_null=True,
        help_text="The last closing decision, or null while the review is open.",
    )

    class Meta:
        model = ExamSession
        fields = [
            "id", "exam", "course", "student", "student_external_id", "state", "created_at",
            "started_at",
            "deadline_at", "ended_at", "end_reason", "review_outcome",
        ]
        read_only_fields = fields


class DecryptedDetailsMixin:
    """Shows encrypted fields only to callers permitted for the row's session
    (lms.permissions.api_sessions_with_payload_access: the one rule of privacy/access.py,
    plus API keys), and notes each shown row in ``context["revealed"]`` for the view to
    audit."""

    context: dict[str, Any]
    parent: Any

    def _may_read_details(self, row: Incident | ReviewDecision) -> bool:
        access = self.context.setdefault("details_access", {})
        if row.session_id not in access:
            # Decide for the whole page at once: one query, however many sessions it spans.
            listing = isinstance(self.parent, serializers.ListSerializer)
            page = self.parent.instance if listing else None
            session_ids = {r.session_id for r in page or []} | {row.session_id}
            request = self.context["request"]
            allowed = set(
                permissions.api_sessions_with_payload_access(request.user, request.auth)
                .filter(pk__in=session_ids)
                .values_list("pk", flat=True)
            )
            access.update({pk: pk in allowed for pk in session_ids})
        return access[row.session_id]

    def _reveal(self, row: Incident | ReviewDecision, field: str) -> Any:
        if not self._may_read_details(row):
            return None
        try:
            value = getattr(row, field)  # reading the attribute decrypts it
        except SessionShredded:
            return None  # shredded while we read: nothing is left to show
        self.context.setdefault("revealed", []).append(row)
        return readable(value)


class IncidentSerializer(DecryptedDetailsMixin, serializers.ModelSerializer):
    payload = serializers.SerializerMethodField(
        help_text="The details for reviewers; null when withheld from this caller."
    )
    payload_withheld = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id", "session", "kind", "severity", "started_at", "ended_at", "score", "status",
            "created_at", "payload", "payload_withheld",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.ANY)
    def get_payload(self, incident: Incident) -> Any:
        return self._reveal(incident, "payload")

    def get_payload_withheld(self, incident: Incident) -> bool:
        return not self._may_read_details(incident)


class ReviewDecisionSerializer(DecryptedDetailsMixin, serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username", read_only=True)
    note = serializers.SerializerMethodField(
        help_text="The reviewer's note; null when withheld from this caller (like payload)."
    )

    class Meta:
        model = ReviewDecision
        fields = ["id", "session", "incident", "reviewer", "decision", "note", "created_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_note(self, decision: ReviewDecision) -> str | None:
        value = self._reveal(decision, "note")
        return None if value is None else str(value)


# --- Query filters (validated, so a bad value is a 400, never a 500) ---------------------


class CourseFilterSerializer(serializers.Serializer):
    code = serializers.CharField(required=False, max_length=32)


class ExamFilterSerializer(serializers.Serializer):
    course = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    opens_after = serializers.DateTimeField(required=False)
    opens_before = serializers.DateTimeField(required=False)


class SessionFilterSerializer(serializers.Serializer):
    course = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    exam = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    state = serializers.ChoiceField(choices=ExamSession.State.choices, required=False)


class IncidentFilterSerializer(serializers.Serializer):
    session = serializers.UUIDField(required=False)
    exam = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    kind = serializers.ChoiceField(choices=Incident.Kind.choices, required=False)
    status = serializers.ChoiceField(choices=Incident.Status.choices, required=False)


class ReviewDecisionFilterSerializer(serializers.Serializer):
    session = serializers.UUIDField(required=False)
    exam = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    decision = serializers.ChoiceField(choices=ReviewDecision.Decision.choices, required=False)
