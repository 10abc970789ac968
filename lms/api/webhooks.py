"""Queue webhooks to the institution's LMS. Deliveries run in lms/api/tasks.py, which
records each attempt through lms/api/services.py."""

from __future__ import annotations

import json

from django.db import transaction

from audit.actions import AuditAction
from audit.services import audit_record
from exams.models import Enrollment, ExamSession
from lms.api.services import EVENT_REVIEW_COMPLETED
from lms.api.tasks import deliver_webhook
from lms.models import WebhookDelivery, WebhookEndpoint
from monitoring.models import Incident
from reviews.models import ReviewDecision


def review_completed_notify(*, session: ExamSession) -> WebhookDelivery | None:
    """Tell the institution's LMS that the review of ``session`` completed.

    Called inside the transaction that closes a review, after the closing ReviewDecision
    is saved (lms/receivers.py listens for reviews.signals.review_closed).

    The delivery is queued on commit and retried by
    ``lms.api.deliver_webhook``; calling this twice for the same closing decision
    queues one delivery. Returns None when the institution has no active webhook or the
    session has no closing decision yet.
    """
    course = session.exam.course
    endpoint = WebhookEndpoint.objects.filter(
        institution_id=course.institution_id, is_active=True
    ).first()
    closing = (
        ReviewDecision.objects.filter(
            session=session,
            decision__in=[
                ReviewDecision.Decision.CLOSE_CLEAR,
                ReviewDecision.Decision.CLOSE_VIOLATION,
            ],
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if endpoint is None or closing is None:
        return None
    counts = {status: 0 for status in Incident.Status.values}
    for status in session.incidents.values_list("status", flat=True):
        counts[status] += 1
    enrollment = Enrollment.objects.filter(course=course, student_id=session.student_id).first()
    body = {
        "event": EVENT_REVIEW_COMPLETED,
        "session": str(session.pk),
        "exam": session.exam_id,
        "course": course.pk,
        "course_code": course.code,
        "student_external_id": enrollment.external_id if enrollment else "",
        "outcome": closing.decision,
        "decided_at": closing.created_at.isoformat(),
        "incidents": counts,
    }
    with transaction.atomic():
        delivery, created = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint,
            dedupe_key=f"{EVENT_REVIEW_COMPLETED}:{session.pk}:{closing.pk}",
            defaults={
                "event": EVENT_REVIEW_COMPLETED,
                "body": json.dumps(body, sort_keys=True, separators=(",", ":")),
            },
        )
        if created:
            audit_record(
                actor=None, action=AuditAction.WEBHOOK_QUEUE, session=session,
                target=f"webhook_delivery:{delivery.pk}", detail={"event": delivery.event},
            )
            deliver_webhook.delay_on_commit(str(delivery.pk))
    return delivery
