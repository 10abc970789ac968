"""The incident lifecycle: the only functions that open, change and close Incident rows.

Every change (open, a new severity, score or payload, close, a later end) is one
transaction that writes the row, keeps the links of its evidence inside its span and
records the incident's full state in the tamper-evident log
(``integrity_log_incident(change=...)``), so the log holds each state an incident was in.
Callers are the stream (monitoring/services.py), the end of a session
(``incidents_close_for_session``, on ``exams.signals.session_ended``) and
``reviews.services.incident_create``. A reviewer's decision changes only the status, in
reviews/services.py, which logs it as ``change="decided"``.

An evidence frame belongs to an incident only when it was captured inside the incident's
span, give or take ``EVIDENCE_SPAN_MARGIN``: opening an incident takes in the unlinked
frames of its span, and closing it (or moving its end) lets go of the frames outside the
final span, which go to another incident of the session whose span holds them, if any.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from exams.models import ExamSession
from integrity.records import integrity_log_incident, integrity_records_log
from monitoring.models import Evidence, Incident, SpooledEvidence

# How far outside an incident's span an evidence frame may have been captured and still
# belong to it. Both times come from the page's capture clock plus the offset measured at
# connect, so for one connection they agree to float rounding (microseconds); a reconnect
# measures the offset again, off by the jitter of one message's trip (tens of ms on a
# normal link). A tenth of a second covers that and stays under half the shortest gap
# between frames (0.2 s at the highest frame rate an exam allows, 5 fps): the frame just
# before an incident's first frame, or just after its last, is never taken in. (One frame
# interval at 1 fps, a full second, would take in exactly those frames.)
EVIDENCE_SPAN_MARGIN = timedelta(milliseconds=100)

CREATED, UPDATED, CLOSED = "created", "updated", "closed"


def incident_span_contains(*, incident: Incident, captured_at: datetime) -> bool:
    """Whether a frame captured at ``captured_at`` may be evidence of ``incident``."""
    if captured_at < incident.started_at - EVIDENCE_SPAN_MARGIN:
        return False
    return incident.ended_at is None or captured_at <= incident.ended_at + EVIDENCE_SPAN_MARGIN


def incident_for_evidence(
    *, incidents: Iterable[Incident], captured_at: datetime
) -> Incident | None:
    """Of ``incidents``, the earliest started whose span holds ``captured_at``, if any."""
    holding = [i for i in incidents if incident_span_contains(incident=i, captured_at=captured_at)]
    return min(holding, key=lambda i: (i.started_at, i.pk), default=None)


def _outside_span(incident: Incident) -> Q:
    outside = Q(captured_at__lt=incident.started_at - EVIDENCE_SPAN_MARGIN)
    if incident.ended_at is not None:
        outside |= Q(captured_at__gt=incident.ended_at + EVIDENCE_SPAN_MARGIN)
    return outside


def _evidence_attach(incident: Incident) -> None:
    """Link the session's unlinked frames captured inside the incident's span (stored ones,
    and spooled ones, which keep the link until they are stored)."""
    inside = ~_outside_span(incident)
    frames = Evidence.objects.filter(
        inside, session_id=incident.session_id, incident__isnull=True
    )
    linked = list(frames.values_list("pk", flat=True))
    if linked:
        Evidence.objects.filter(pk__in=linked).update(incident=incident)
        # A frame's incident is part of its logged state: each new link is logged.
        integrity_records_log(record_type="evidence", ids=linked, change="linked")
    SpooledEvidence.objects.filter(
        inside, session_id=incident.session_id, incident_id__isnull=True
    ).update(incident_id=incident.pk)


def _evidence_fit(incident: Incident) -> None:
    """Keep the incident's evidence inside its span: let go of the frames outside it (to
    another incident of the session that holds them, or to none) and take in the unlinked
    frames inside it."""
    outside = _outside_span(incident)
    released = list(
        Evidence.objects.filter(outside, incident=incident).values_list("captured_at", flat=True)
    ) + list(
        SpooledEvidence.objects.filter(outside, incident_id=incident.pk).values_list(
            "captured_at", flat=True
        )
    )
    if released:
        unlinked = list(
            Evidence.objects.filter(outside, incident=incident).values_list("pk", flat=True)
        )
        Evidence.objects.filter(pk__in=unlinked).update(incident=None)
        integrity_records_log(record_type="evidence", ids=unlinked, change="unlinked")
        SpooledEvidence.objects.filter(outside, incident_id=incident.pk).update(incident_id=None)
        earliest, latest = min(released), max(released)
        others = (
            Incident.objects.filter(
                Q(ended_at__isnull=True) | Q(ended_at__gte=earliest - EVIDENCE_SPAN_MARGIN),
                session_id=incident.session_id,
                started_at__lte=latest + EVIDENCE_SPAN_MARGIN,
            )
            .exclude(pk=incident.pk)
            .only("pk", "session_id", "started_at", "ended_at")
            .order_by("started_at", "pk")
        )
        for other in others:
            _evidence_attach(other)
    _evidence_attach(incident)


def incident_open(
    *,
    session: ExamSession,
    kind: str,
    started_at: datetime,
    severity: str,
    score: float,
    payload: bytes,
    ended_at: datetime | None = None,
) -> Incident:
    """Record an incident a check flagged (closed at once when ``ended_at`` is given, as
    for a paste), link the session's unlinked evidence of its span, and log it.

    ``payload`` holds the details for reviewers (encrypted at rest); the log keeps only a
    keyed digest of it. Raises django.db.IntegrityError when the incident breaks a
    constraint (ends before it starts, score outside 0..1).
    """
    with transaction.atomic():
        incident = Incident.objects.create(
            session=session, kind=kind, severity=severity, started_at=started_at,
            ended_at=ended_at, score=score, payload=payload,
        )
        _evidence_attach(incident)
        integrity_log_incident(incident=incident, change=CREATED)
    return incident


def incident_update(
    *, incident: Incident, severity: str, score: float, payload: bytes
) -> bool:
    """Set what a check now says of an incident (a raised severity, the share of frames
    where its condition held, its evidence list). Writes and logs only when something
    changed; returns whether it did."""
    if (
        incident.severity == severity
        and incident.score == score
        and bytes(incident.payload or b"") == payload
    ):
        return False
    with transaction.atomic():
        incident.severity, incident.score, incident.payload = severity, score, payload
        # The payload is encrypted (reviews/privacy/fields.py): assigned and saved, never
        # set with QuerySet.update().
        incident.save(update_fields=["severity", "score", "payload"])
        integrity_log_incident(incident=incident, change=UPDATED)
    return True


def incident_close(*, incident: Incident, ended_at: datetime) -> bool:
    """End an incident at ``ended_at`` (never before it started), or move the end of one
    already closed (a frame still in flight when the session ended). Lets go of the
    evidence outside the final span. Writes and logs only when the end changed ("closed"
    for an open incident, "updated" for a new end); returns whether it did."""
    ended_at = max(ended_at, incident.started_at)
    if incident.ended_at == ended_at:
        return False
    change = CLOSED if incident.ended_at is None else UPDATED
    with transaction.atomic():
        incident.ended_at = ended_at
        incident.save(update_fields=["ended_at"])
        _evidence_fit(incident)
        integrity_log_incident(incident=incident, change=change)
    return True


def incidents_close_for_session(*, session: ExamSession, ended_at: datetime) -> int:
    """Close every open incident of a session at ``ended_at`` (each never before it
    started), in one transaction. Returns how many were closed."""
    with transaction.atomic():
        still_open = list(
            Incident.objects.select_for_update()
            .filter(session=session, ended_at__isnull=True)
            .order_by("started_at", "pk")
        )
        for incident in still_open:
            incident_close(incident=incident, ended_at=ended_at)
    return len(still_open)
