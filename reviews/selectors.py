"""Reads for the review workspace and the student's report.

Every query of these pages is decided here, and their number does not depend on how
many incidents, frames or decisions a session has: a session's incidents are read once
as plain tuples (no payload, no model instances) and everything else — the score, the
drawing, the table page, previous/next — is computed from them in Python.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.db import connections
from django.db.models import (
    Count,
    Exists,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.utils import timezone

from exams.models import Enrollment, ExamSession
from exams.permissions import User
from monitoring.models import Evidence, FrameObservation, Incident
from reviews import permissions
from reviews.models import Appeal, ReviewDecision
from reviews.scoring import Score, score_from_aggregates
from reviews.timeline import (
    IncidentRow,
    ObservationRow,
    Thresholds,
    render_timeline_svg,
)

KIND_LABELS: dict[str, str] = dict(Incident.Kind.choices)
CLOSE_DECISIONS = [ReviewDecision.Decision.CLOSE_CLEAR, ReviewDecision.Decision.CLOSE_VIOLATION]
REVIEWABLE_STATES = [
    ExamSession.State.IN_PROGRESS,
    ExamSession.State.SUBMITTED,
    ExamSession.State.TERMINATED,
    ExamSession.State.EXPIRED,
]
TABLE_PAGE_SIZE = 100


class QueueStatus:
    OPEN = "open"
    CLEAR = "close_clear"
    VIOLATION = "close_violation"
    CHOICES = [
        (OPEN, "Awaiting outcome"),
        (CLEAR, "Closed: no violation"),
        (VIOLATION, "Closed: violation"),
    ]


def _outcome_subquery() -> Subquery:
    return Subquery(
        ReviewDecision.objects.filter(session=OuterRef("pk"), decision__in=CLOSE_DECISIONS)
        .order_by("-created_at")
        .values("decision")[:1]
    )


# ---- the queue ---------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    session: ExamSession
    score: Score
    pending: int
    outcome: str | None
    has_appeal: bool


def review_queue(
    *,
    reviewer: User,
    course_id: int | None = None,
    exam_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 500,
) -> list[QueueRow]:
    """Sessions of the reviewer's courses, most suspicious first (4 queries)."""
    sessions = (
        permissions.reviewable_sessions(reviewer)
        .filter(state__in=REVIEWABLE_STATES)
        .select_related("exam__course", "student")
        .annotate(
            outcome=_outcome_subquery(),
            pending=Count("incidents", filter=Q(incidents__status=Incident.Status.PENDING)),
            has_appeal=Exists(Appeal.objects.filter(session=OuterRef("pk"))),
        )
    )
    if course_id:
        sessions = sessions.filter(exam__course_id=course_id)
    if exam_id:
        sessions = sessions.filter(exam_id=exam_id)
    if status == QueueStatus.OPEN:
        sessions = sessions.filter(outcome__isnull=True)
    elif status in (QueueStatus.CLEAR, QueueStatus.VIOLATION):
        sessions = sessions.filter(outcome=status)
    if kind:
        sessions = sessions.filter(
            Exists(Incident.objects.filter(session=OuterRef("pk"), kind=kind))
        )
    sessions_list = list(sessions.order_by("-started_at")[:limit])
    scores = _scores_for(sessions_list)
    rows = [
        QueueRow(
            session=s,
            score=scores[s.pk],
            pending=s.pending,
            outcome=s.outcome,
            has_appeal=s.has_appeal,
        )
        for s in sessions_list
    ]
    rows.sort(key=lambda r: (-r.score.total, -r.pending))
    return rows


def _scores_for(sessions: Sequence[ExamSession]) -> dict:
    ids = [s.pk for s in sessions]
    aggregates: dict = {pk: [] for pk in ids}
    for session_id, kind, severity, count, confidence in (
        Incident.objects.filter(session_id__in=ids)
        .exclude(status=Incident.Status.DISMISSED)
        .values_list("session_id", "kind", "severity")
        .annotate(Count("id"), Sum("score"))
        .order_by()
    ):
        aggregates[session_id].append((kind, severity, count, confidence))
    disabled = {
        (course_id, student_id): checks
        for course_id, student_id, checks in Enrollment.objects.filter(
            course_id__in={s.exam.course_id for s in sessions},
            student_id__in={s.student_id for s in sessions},
        ).values_list("course_id", "student_id", "disabled_checks")
    }
    return {
        s.pk: score_from_aggregates(
            aggregates[s.pk],
            weights=s.exam.suspicion_weights,
            enabled_checks=s.exam.enabled_checks,
            disabled_checks=disabled.get((s.exam.course_id, s.student_id)) or [],
            labels=KIND_LABELS,
        )
        for s in sessions
    }


def session_score(*, session: ExamSession) -> Score:
    """The explained suspicion score of one session (2 queries)."""
    return _scores_for([session])[session.pk]


# ---- one session -------------------------------------------------------------------


def session_for_review(*, reviewer: User, session_id) -> ExamSession | None:
    """The session if the user may review it, else None (the view answers 404)."""
    return (
        permissions.reviewable_sessions(reviewer)
        .select_related("exam__course", "student")
        .filter(pk=session_id)
        .first()
    )


def session_for_student(*, student: User, session_id) -> ExamSession | None:
    """The student's own ended session, else None (another's, or a running one, looks
    missing)."""
    return (
        permissions.own_reportable_sessions(student)
        .select_related("exam__course")
        .filter(pk=session_id)
        .first()
    )


def incident_for_review(*, reviewer: User, incident_id: int) -> Incident | None:
    return (
        Incident.objects.select_related("session__exam__course")
        .filter(pk=incident_id, session__in=permissions.reviewable_sessions(reviewer))
        .first()
    )


def evidence_for_viewer(*, user: User, evidence_id: int) -> Evidence | None:
    """The evidence row if the user may see its image (privacy/access.py), else None."""
    evidence = (
        Evidence.objects.select_related("session__exam__course")
        .filter(pk=evidence_id)
        .first()
    )
    if evidence is None or not permissions.can_view_evidence(user, evidence):
        return None
    return evidence


class TableRow(NamedTuple):
    """One line of the incident table, formatted here so the template only prints."""

    id: int
    kind_label: str
    started: str
    ended: str
    severity: str
    confidence: str
    status: str
    has_evidence: bool


def _table_rows(rows: Sequence[IncidentRow], with_evidence: set[int]) -> list[TableRow]:
    def clock(seconds: float | None) -> str:
        if seconds is None:
            return "open"
        return timezone.localtime(_from_epoch(seconds)).strftime("%H:%M:%S")

    return [
        TableRow(
            r.id, r.kind_label, clock(r.started_s), clock(r.ended_s), r.severity,
            f"{r.confidence:.2f}", r.status, r.id in with_evidence,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Timeline:
    session: ExamSession
    score: Score
    svg: str
    rows: list[TableRow]  # the table page on show
    page: int
    page_count: int
    incident_count: int
    counts_by_status: dict[str, int]
    selected: Incident | None
    selected_evidence: list[Evidence]
    previous_id: int | None
    next_id: int | None
    thumbnails: dict[int, int]  # incident id -> first evidence id
    decisions: list[ReviewDecision]
    outcome: ReviewDecision | None
    appeal: Appeal | None
    disabled_checks: list[str] = field(default_factory=list)


class EpochSeconds(Func):
    """A datetime column as seconds since 1970 (UTC), a float, computed by the database.

    The timeline reads 10,000 incidents and thousands of frames; turning each timestamp
    into a Python datetime (Django's SQLite converter, Django's time-zone loader on
    psycopg, both pure Python) took more than the whole drawing. A float per value costs
    nothing, and the drawing only needs offsets in seconds.
    """

    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        # julianday() is days since noon, 24 November 4714 BC; 2440587.5 is 1970-01-01.
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        template = "EXTRACT(EPOCH FROM %(expressions)s)::float8"
        return self.as_sql(compiler, connection, template=template, **extra)


def _rows_without_converters(queryset: QuerySet) -> list[tuple]:
    """Fetch a ``values_list`` queryset's rows as the database driver returns them.

    Only for columns whose driver values are final (numbers, text, EpochSeconds); it
    skips Django's per-value converters loop, which is measurable at 10,000 rows.
    """
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _incident_rows(session: ExamSession) -> list[IncidentRow]:
    labels = KIND_LABELS
    queryset = (
        Incident.objects.filter(session=session)
        .annotate(start_s=EpochSeconds("started_at"), end_s=EpochSeconds("ended_at"))
        .order_by("started_at", "pk")
        .values_list("pk", "kind", "severity", "status", "start_s", "end_s", "score")
    )
    return [
        IncidentRow(pk, kind, labels.get(kind, kind), severity, status, start, end, conf)
        for pk, kind, severity, status, start, end, conf in _rows_without_converters(queryset)
    ]


def _observation_rows(session: ExamSession) -> list[ObservationRow]:
    queryset = (
        FrameObservation.objects.filter(session=session)
        .annotate(at_s=EpochSeconds("captured_at"))
        .order_by("seq")
        .values_list("at_s", "face_count", "yaw_deg", "pitch_deg", "gaze_x", "gaze_y")
    )
    return [ObservationRow._make(row) for row in _rows_without_converters(queryset)]


def _from_epoch(seconds: float) -> datetime:
    # Rounded to the millisecond: julianday() arithmetic is exact to about 10 µs.
    return datetime.fromtimestamp(round(seconds, 3), tz=UTC)


def _span(
    session: ExamSession, rows: Sequence[IncidentRow], last_obs_s: float | None
) -> tuple[datetime, datetime]:
    """The drawn span: the exam's duration for this student, stretched to fit the data."""
    start = session.started_at or session.created_at
    if rows:
        start = min(start, _from_epoch(rows[0].started_s))
    planned = session.deadline_at or start + timedelta(minutes=session.exam.duration_min)
    candidates = [planned, session.ended_at or planned]
    tail = [r.ended_s or r.started_s for r in rows[-50:]]
    if last_obs_s is not None:
        tail.append(last_obs_s)
    if tail:
        candidates.append(_from_epoch(max(tail)))
    return start, max(candidates)


def session_timeline(
    *,
    session: ExamSession,
    selected_id: int | None = None,
    page: int = 1,
    incident_url: Callable[[int], str],
    thumbnail_url: Callable[[int], str],
    include_dismissed: bool = True,
) -> Timeline:
    """Everything the timeline page shows, in a fixed number of queries (6, 7 with an
    incident selected).

    ``session`` comes from ``session_for_review`` or ``session_for_student`` (with its
    exam and course selected). ``selected_id`` picks the incident whose evidence is
    shown; ``page`` the slice of the incident table (and of the linked bands).
    """
    rows = _incident_rows(session)
    if not include_dismissed:
        rows = [r for r in rows if r.status != Incident.Status.DISMISSED]
    disabled_checks = list(
        Enrollment.objects.filter(course_id=session.exam.course_id, student_id=session.student_id)
        .values_list("disabled_checks", flat=True)
        .first()
        or []
    )
    aggregates: Counter = Counter()
    confidence: Counter = Counter()
    for r in rows:
        if r.status != Incident.Status.DISMISSED:
            aggregates[(r.kind, r.severity)] += 1
            confidence[(r.kind, r.severity)] += r.confidence
    score = score_from_aggregates(
        [(k, s, n, confidence[(k, s)]) for (k, s), n in aggregates.items()],
        weights=session.exam.suspicion_weights,
        enabled_checks=session.exam.enabled_checks,
        disabled_checks=disabled_checks,
        labels=KIND_LABELS,
    )

    page_count = max(1, -(-len(rows) // TABLE_PAGE_SIZE))
    index_of = {r.id: i for i, r in enumerate(rows)}
    if selected_id in index_of:
        page = index_of[selected_id] // TABLE_PAGE_SIZE + 1
    else:
        selected_id = None
    page = min(max(page, 1), page_count)
    page_rows = rows[(page - 1) * TABLE_PAGE_SIZE : page * TABLE_PAGE_SIZE]
    page_ids = {r.id for r in page_rows}

    first_evidence: dict[int, int] = {}
    selected_evidence: list[Evidence] = []
    for evidence in Evidence.objects.filter(
        session=session, incident_id__in=page_ids
    ).order_by("seq"):
        first_evidence.setdefault(evidence.incident_id, evidence.pk)
        if evidence.incident_id == selected_id:
            selected_evidence.append(evidence)

    observations = _observation_rows(session)
    start, end = _span(session, rows, observations[-1].captured_s if observations else None)
    exam = session.exam
    svg = render_timeline_svg(
        start=start,
        end=end,
        deadline=session.deadline_at,
        ended_at=session.ended_at,
        incidents=rows,
        observations=observations,
        kind_labels=KIND_LABELS,
        linked_ids=page_ids,
        selected_id=selected_id,
        thumbnails={i: thumbnail_url(e) for i, e in first_evidence.items()},
        incident_url=incident_url,
        thresholds=Thresholds(
            yaw_deg=exam.looking_away_yaw_deg,
            pitch_deg=exam.looking_away_pitch_deg,
            gaze=exam.looking_away_gaze,
        ),
    )

    decisions = list(
        ReviewDecision.objects.filter(session=session)
        .select_related("reviewer")
        .order_by("-created_at")[:50]
    )
    outcome = next((d for d in decisions if d.decision in CLOSE_DECISIONS), None)
    selected = None
    if selected_id is not None:
        # The one full instance the page shows (its details are read through the model,
        # so they decrypt once encryption is on).
        selected = Incident.objects.filter(pk=selected_id, session=session).first()
    appeal = Appeal.objects.filter(session=session).first()

    pos = index_of.get(selected_id) if selected_id is not None else None
    return Timeline(
        session=session,
        score=score,
        svg=svg,
        rows=_table_rows(page_rows, set(first_evidence)),
        page=page,
        page_count=page_count,
        incident_count=len(rows),
        counts_by_status=dict(Counter(r.status for r in rows)),
        selected=selected,
        selected_evidence=selected_evidence,
        previous_id=rows[pos - 1].id if pos else None,
        next_id=rows[pos + 1].id if pos is not None and pos + 1 < len(rows) else None,
        thumbnails=first_evidence,
        decisions=decisions,
        outcome=outcome,
        appeal=appeal,
        disabled_checks=disabled_checks,
    )


def outcome_for_student(*, session: ExamSession) -> str | None:
    decision = (
        ReviewDecision.objects.filter(session=session, decision__in=CLOSE_DECISIONS)
        .order_by("-created_at")
        .values_list("decision", flat=True)
        .first()
    )
    return decision


def sessions_for_student(*, student: User) -> QuerySet[ExamSession]:
    """The student's own ended sessions, newest first, with their review outcome."""
    return (
        ExamSession.objects.filter(
            student_id=student.pk,
            state__in=[
                ExamSession.State.SUBMITTED,
                ExamSession.State.TERMINATED,
                ExamSession.State.EXPIRED,
            ],
        )
        .select_related("exam__course")
        .annotate(
            outcome=_outcome_subquery(),
            flagged=Count("incidents", filter=~Q(incidents__status=Incident.Status.DISMISSED)),
        )
        .order_by("-created_at")
    )


def incident_details(incident: Incident) -> str:
    """The incident's details for reviewers, as text.

    Read through the model attribute (the encryption branch makes it decrypt there), and
    shown as JSON when it is JSON, as text otherwise.
    """
    payload = incident.payload
    if isinstance(payload, memoryview):
        payload = payload.tobytes()
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", errors="replace")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload) if payload else ""
        except ValueError:
            return payload
    if isinstance(payload, dict | list):
        return json.dumps(payload, indent=2, sort_keys=True, default=str)
    return str(payload or "")


# ---- exports (admin actions) --------------------------------------------------------


def incident_export_rows(*, incidents: QuerySet[Incident]) -> tuple[list[str], list[list]]:
    """Rows for the CSV export of already scoped incidents; no payload, no images."""
    header = [
        "incident_id", "session_id", "student", "course", "exam", "kind", "severity",
        "status", "started_at", "ended_at", "confidence",
    ]
    rows = [
        [pk, str(session_id), student, course, exam, kind, severity, status,
         started.isoformat(), ended.isoformat() if ended else "", confidence]
        for pk, session_id, student, course, exam, kind, severity, status, started, ended,
        confidence in incidents.order_by("session_id", "started_at").values_list(
            "pk", "session_id", "session__student__username", "session__exam__course__code",
            "session__exam__title", "kind", "severity", "status", "started_at", "ended_at",
            "score",
        )
    ]
    return header, rows


def session_export_rows(*, sessions: QuerySet[ExamSession]) -> tuple[list[str], list[list]]:
    """Rows for the CSV review summary of already scoped sessions (4 queries)."""
    header = [
        "session_id", "student", "course", "exam", "state", "started_at", "ended_at",
        "suspicion_score", "score_terms", "pending_incidents", "outcome", "has_appeal",
    ]
    chosen = list(
        sessions.select_related("exam__course", "student").annotate(
            outcome=_outcome_subquery(),
            pending=Count("incidents", filter=Q(incidents__status=Incident.Status.PENDING)),
            has_appeal=Exists(Appeal.objects.filter(session=OuterRef("pk"))),
        )
    )
    scores = _scores_for(chosen)
    rows = []
    for s in chosen:
        score = scores[s.pk]
        terms = "; ".join(f"{t.kind}×{t.count}={t.points}" for t in score.counted_terms)
        rows.append([
            str(s.pk), s.student.get_username(), s.exam.course.code, s.exam.title, s.state,
            s.started_at.isoformat() if s.started_at else "",
            s.ended_at.isoformat() if s.ended_at else "",
            score.total, terms, s.pending, s.outcome or "", s.has_appeal,
        ])
    return header, rows
