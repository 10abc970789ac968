"""Writes behind the REST API: API keys, courses, exams, enrolment sync and webhooks.

Every function is keyword-only and runs in one transaction with its audit entry; tasks
go out through ``transaction.on_commit`` (STYLE.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from audit.actions import AuditAction
from audit.services import audit_record
from exams.models import Course, Enrollment, Exam, ExamSession, Institution
from lms.api.errors import ApiKeyInvalid, ApiKeyRevoked, CourseCodeTaken, EnrollmentSyncConflict
from lms.models import ApiKey, LtiIdentity, WebhookDelivery
from monitoring.models import Incident
from reviews.models import ReviewDecision

Actor = AbstractBaseUser | AnonymousUser | None

KEY_PREFIX = "prk_"
# last_used_at is a hint for admins ("is this key still in use?"), not an audit log;
# writing it at most once a minute keeps a busy key from turning every read into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(
    *, institution: Institution, name: str, scopes: Iterable[str], created_by: Actor = None
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plain value, which is never stored or shown
    again. Raises ValueError naming an unknown scope."""
    scopes = sorted(set(scopes))
    unknown = set(scopes) - set(ApiKey.Scope.values)
    if unknown:
        raise ValueError(
            f"Unknown API key scope(s) {', '.join(sorted(unknown))}; "
            f"use any of {', '.join(ApiKey.Scope.values)}."
        )
    prefix = secrets.token_hex(6)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            institution=institution,
            name=name,
            prefix=prefix,
            key_sha256=_key_hash(raw_key),
            scopes=scopes,
            created_by=created_by if created_by and created_by.is_authenticated else None,
        )
        audit_record(
            actor=created_by, action=AuditAction.API_KEY_CREATE, target=f"api_key:{key.pk}",
            detail={"institution": institution.slug, "prefix": prefix, "scopes": scopes},
        )
    return key, raw_key


def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke a key at once; idempotent (a second revoke keeps the first time)."""
    with transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        api_key.refresh_from_db()
        audit_record(
            actor=actor, action=AuditAction.API_KEY_REVOKE, target=f"api_key:{api_key.pk}"
        )
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """The key behind ``raw_key``. Raises ApiKeyInvalid or ApiKeyRevoked."""
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or f"{parts[0]}_" != KEY_PREFIX:
        raise ApiKeyInvalid("The API key is malformed; it starts with 'prk_'.")
    key = ApiKey.objects.select_related("institution").filter(prefix=parts[1]).first()
    # Compare the hashes in constant time even when no row matched, so that timing does
    # not tell which prefixes exist.
    expected = key.key_sha256 if key is not None else "0" * 64
    if not constant_time_compare(expected, _key_hash(raw_key)) or key is None:
        raise ApiKeyInvalid("The API key is not valid; ask an institution admin for one.")
    if key.is_revoked:
        raise ApiKeyRevoked(
            f"The API key prk_{key.prefix}… was revoked; ask an institution admin for a new one."
        )
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def _api_actor_detail(api_key: ApiKey | None) -> dict[str, Any]:
    return {"api_key": f"prk_{api_key.prefix}"} if api_key is not None else {}


def course_create(
    *, institution: Institution, code: str, title: str, actor: Actor,
    api_key: ApiKey | None = None,
) -> Course:
    """Raises CourseCodeTaken when the institution already has a course with ``code``."""
    try:
        with transaction.atomic():
            course = Course.objects.create(institution=institution, code=code, title=title)
            audit_record(
                actor=actor, action=AuditAction.COURSE_CREATE, course=course,
                target=f"course:{course.pk}", detail=_api_actor_detail(api_key),
            )
    except IntegrityError as exc:
        raise CourseCodeTaken(
            f"{institution} already has a course with code {code!r}; choose another code "
            "or change the existing course."
        ) from exc
    return course


def course_update(
    *, course: Course, fields: Mapping[str, Any], actor: Actor, api_key: ApiKey | None = None
) -> Course:
    """Change a course's fields. Raises Django's ValidationError naming bad values."""
    return _update(
        obj=course, fields=fields, actor=actor, api_key=api_key, course=course,
        action=AuditAction.COURSE_UPDATE,
    )


def exam_create(
    *, course: Course, fields: Mapping[str, Any], actor: Actor, api_key: ApiKey | None = None
) -> Exam:
    """Raises Django's ValidationError when the exam breaks a model rule (e.g. it closes
    before it opens)."""
    with transaction.atomic():
        exam = Exam(course=course, **fields)
        exam.full_clean()
        exam.save()
        audit_record(
            actor=actor, action=AuditAction.EXAM_CREATE, course=course, target=f"exam:{exam.pk}",
            detail=_api_actor_detail(api_key),
        )
    return exam


def exam_update(
    *, exam: Exam, fields: Mapping[str, Any], actor: Actor, api_key: ApiKey | None = None
) -> Exam:
    """Change an exam's fields and policy. Raises Django's ValidationError like exam_create."""
    return _update(
        obj=exam, fields=fields, actor=actor, api_key=api_key, course=exam.course,
        action=AuditAction.EXAM_UPDATE,
    )


def _update(
    *, obj: Any, fields: Mapping[str, Any], actor: Actor, api_key: ApiKey | None,
    course: Course, action: AuditAction,
) -> Any:
    with transaction.atomic():
        for name, value in fields.items():
            setattr(obj, name, value)
        obj.full_clean()
        obj.save(update_fields=list(fields) or None)
        audit_record(
            actor=actor, action=action, course=course,
            target=f"{obj._meta.model_name}:{obj.pk}",
            detail={**_api_actor_detail(api_key), "fields": sorted(fields)},
        )
    return obj


def api_decrypt_record(
    *, records: Iterable[Incident | ReviewDecision], what: str, actor: Actor,
    api_key: ApiKey | None = None,
) -> None:
    """Audit that an API caller was shown these records' decrypted fields (``what``).

    One ``privacy.decrypt`` entry per session, like lifecycle.services'
    session_data_reveal for pages, so "who saw this session's data" has one answer
    whether it was a page or the API, a person or an institution's key.
    """
    by_session: dict[Any, tuple[ExamSession, list[int]]] = {}
    for record in records:
        by_session.setdefault(record.session_id, (record.session, []))[1].append(record.pk)
    with transaction.atomic():
        for session, record_ids in by_session.values():
            audit_record(
                actor=actor, action=AuditAction.PRIVACY_DECRYPT, session=session,
                target=f"session:{session.pk}",
                detail={
                    **_api_actor_detail(api_key), "what": what, "records": record_ids,
                },
            )


@dataclass(frozen=True)
class EnrollmentSyncResult:
    created: int
    updated: int
    removed: int
    unchanged: int


def enrollment_sync(
    *, course: Course, rows: list[Mapping[str, Any]], actor: Actor,
    api_key: ApiKey | None = None,
) -> EnrollmentSyncResult:
    """Make the course's enrolments match the LMS's list exactly; idempotent.

    Each row names a student by ``username``, with ``external_id`` (the LMS's user id),
    ``email``, ``extra_time_min`` and ``disabled_checks``. A row is matched to an account
    by username, else to the account an LTI launch of this institution created for the
    same LMS user id (so API and LTI agree on who a student is), else a new account is
    made without a usable password (students sign in through the LMS). Students missing
    from the list are unenrolled.

    Raises EnrollmentSyncConflict when a row names a staff account (staff are assigned
    in the admin; an LMS must not turn one into a student) or two rows name one account.
    """
    try:
        return _enrollment_sync(course=course, rows=rows, actor=actor, api_key=api_key)
    except IntegrityError as exc:
        # Another request created one of these accounts or enrolments in the meantime.
        raise EnrollmentSyncConflict(
            f"The enrolments of {course} changed while syncing; send the list again."
        ) from exc


def _enrollment_sync(
    *, course: Course, rows: list[Mapping[str, Any]], actor: Actor, api_key: ApiKey | None
) -> EnrollmentSyncResult:
    User = get_user_model()
    with transaction.atomic():
        # One sync per course at a time: a second one waits and then sees our result.
        Course.objects.select_for_update().get(pk=course.pk)
        by_username = {
            u.username: u
            for u in User.objects.filter(username__in=[row["username"] for row in rows])
        }
        by_lti_subject = {
            identity.subject: identity.user
            for identity in LtiIdentity.objects.filter(
                registration__institution_id=course.institution_id,
                subject__in=[row["external_id"] for row in rows if row.get("external_id")],
            ).select_related("user")
        }
        resolved = [
            (row, by_username.get(row["username"]) or by_lti_subject.get(row.get("external_id")))
            for row in rows
        ]
        staff = sorted(
            row["username"] for row, user in resolved
            if user is not None and (user.is_staff or user.is_superuser)
        )
        if staff:
            raise EnrollmentSyncConflict(
                f"Staff accounts cannot be enrolled through the API: {', '.join(staff)}. "
                "Remove them from the list; staff are assigned in the admin."
            )
        seen: dict[int, str] = {}
        for row, user in resolved:
            if user is not None and seen.setdefault(user.pk, row["username"]) != row["username"]:
                raise EnrollmentSyncConflict(
                    f"Rows {seen[user.pk]!r} and {row['username']!r} are the same student "
                    "(one by username, one by external_id); send each student once."
                )
        enrollments = {e.student_id: e for e in Enrollment.objects.filter(course=course)}
        created = updated = unchanged = 0
        for row, user in resolved:
            if user is None:
                user = User(username=row["username"], email=row.get("email", ""))
                user.set_unusable_password()
                user.save()
            wanted = {
                "external_id": row.get("external_id", ""),
                "extra_time_min": row.get("extra_time_min", 0),
                "disabled_checks": sorted(row.get("disabled_checks", [])),
            }
            enrollment = enrollments.pop(user.pk, None)
            if enrollment is None:
                Enrollment.objects.create(course=course, student=user, **wanted)
                created += 1
            elif any(getattr(enrollment, k) != v for k, v in wanted.items()):
                for name, value in wanted.items():
                    setattr(enrollment, name, value)
                enrollment.save(update_fields=list(wanted))
                updated += 1
            else:
                unchanged += 1
        removed = len(enrollments)
        if enrollments:
            Enrollment.objects.filter(pk__in=[e.pk for e in enrollments.values()]).delete()
        result = EnrollmentSyncResult(
            created=created, updated=updated, removed=removed, unchanged=unchanged
        )
        audit_record(
            actor=actor, action=AuditAction.ENROLLMENT_SYNC, course=course,
            target=f"course:{course.pk}",
            detail={**_api_actor_detail(api_key), **result.__dict__},
        )
    return result


# --- Webhooks --------------------------------------------------------------------------

EVENT_REVIEW_COMPLETED = "review.completed"
SIGNATURE_HEADER = "Proctor-Signature"
TIMESTAMP_HEADER = "Proctor-Timestamp"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``v1=`` and the hex HMAC-SHA256 of ``"{timestamp}.{body}"`` (see docs/api.md).

    Signing the timestamp with the body lets receivers refuse replays of old deliveries.
    """
    message = str(timestamp).encode() + b"." + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_delivery_record(
    *, delivery: WebhookDelivery, status_code: int | None, error: str, give_up: bool
) -> WebhookDelivery:
    """Record one attempt. A 2xx marks the delivery delivered; only once (idempotent).
    A delivered or abandoned delivery keeps its metadata but not its body."""
    now = timezone.now()
    ok = status_code is not None and 200 <= status_code < 300
    with transaction.atomic():
        fields: dict[str, Any] = {"last_status_code": status_code, "last_error": error[:2000]}
        if ok:
            fields.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now)
        elif give_up:
            fields["status"] = WebhookDelivery.Status.FAILED
        if ok or give_up:
            # The body names a student (by the LMS's id) and an outcome; once no retry
            # needs it, it is not kept (the LMS has it, or never will).
            fields["body"] = ""
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDelivery.Status.PENDING
        ).update(**fields)
        delivery.refresh_from_db()
    return delivery


def webhook_delivery_refuse(*, delivery: WebhookDelivery, reason: str) -> WebhookDelivery:
    """Give up a delivery whose URL Proctor may not send to (``reason``, from
    lms/api/webhook_targets.py), without sending it and without retrying: only a new URL
    can fix it. Audited as ``webhook.refused``, since it may be an attempt at reaching
    internal addresses."""
    with transaction.atomic():
        delivery = webhook_delivery_record(
            delivery=delivery, status_code=None, error=f"Refused: {reason}", give_up=True
        )
        audit_record(
            actor=None, action=AuditAction.WEBHOOK_REFUSED,
            target=f"webhook_delivery:{delivery.pk}",
            reason=reason, detail={"event": delivery.event, "endpoint": delivery.endpoint_id},
        )
    return delivery
