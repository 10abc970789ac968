"""Writes for the streaming path: tickets, receipts, frame and event processing, incidents.

Every function here is called from an adapter (view, consumer, task). Processing a message
is idempotent on (session, stream, seq): the receipt row is claimed with a conditional
``UPDATE ... WHERE processed_at IS NULL`` inside the same transaction that writes the
evidence, the incidents and the session's running state, so a redelivered task or a resent
frame changes nothing the second time and no incident is ever opened twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from audit.actions import (
    AuditAction,
    stream_quarantined_action,
    stream_rejected_action,
)
from audit.services import audit_record
from exams.kinds import KIND_CHECK
from exams.models import Enrollment, Exam, ExamSession
from monitoring import analysis, incidents, push
from monitoring.errors import SessionNotFound, SessionNotStreaming, TicketInvalid
from monitoring.evidence import evidence_store
from monitoring.models import Incident, LiveState, Receipt, StreamTicket
from monitoring.observations import observation_record
from monitoring.selectors import live_row
from privacy.crypto import record_aad, seal, unseal
from privacy.errors import PrivacyError
from privacy.keys import data_key_for_session

logger = logging.getLogger(__name__)

State = ExamSession.State
User = AbstractBaseUser | AnonymousUser

# A ticket only bridges the HTTP request that issued it and the socket the page opens
# right after; a minute covers a slow phone without leaving a usable token lying around.
TICKET_TTL_S = 60
STREAMABLE_STATES = {
    StreamTicket.Purpose.CHECK: frozenset({State.CONSENTED, State.CAMERA_CHECKED}),
    StreamTicket.Purpose.EXAM: frozenset({State.IN_PROGRESS}),
}
EVIDENCE_LONGEST_SIDE_PX = 320
EVIDENCE_JPEG_QUALITY = 70
# The reviewers' live row is pushed when faces or incidents change, else at most this often
# per session (it would otherwise be one message per frame per reviewer).
LIVE_PUSH_INTERVAL_S = 5.0

# Browser event → (incident kind, what it does). "open"/"close" pair up (tab hidden until
# visible again); "point" incidents start and end at the same moment.
BROWSER_EVENTS: dict[str, tuple[str, str]] = {
    "tab_hidden": (Incident.Kind.TAB_HIDDEN, "open"),
    "tab_visible": (Incident.Kind.TAB_HIDDEN, "close"),
    "window_blur": (Incident.Kind.WINDOW_BLUR, "open"),
    "window_focus": (Incident.Kind.WINDOW_BLUR, "close"),
    "fullscreen_exit": (Incident.Kind.FULLSCREEN_EXIT, "open"),
    "fullscreen_enter": (Incident.Kind.FULLSCREEN_EXIT, "close"),
    "copy": (Incident.Kind.COPY_PASTE, "point"),
    "cut": (Incident.Kind.COPY_PASTE, "point"),
    "paste": (Incident.Kind.COPY_PASTE, "point"),
    "context_menu": (Incident.Kind.CONTEXT_MENU, "point"),
    "page_reload": (Incident.Kind.PAGE_RELOAD, "point"),
    "camera_ended": (Incident.Kind.CAMERA_ENDED, "open"),
    "camera_started": (Incident.Kind.CAMERA_ENDED, "close"),
}
VOICE_EVENT = "voice"
EVENT_KINDS = frozenset(BROWSER_EVENTS) | {VOICE_EVENT}


def stream_group(session_id: UUID | str) -> str:
    """The channel group of a session's student socket (acks, replacement, end)."""
    return f"monitoring.stream.{session_id}"


def user_group(user_id: int) -> str:
    return f"monitoring.user.{user_id}"


def live_group(course_id: int) -> str:
    """The reviewers' live view of one course."""
    return f"monitoring.live.course.{course_id}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- Tickets -----------------------------------------------------------------------------

def outbox_key(*, session_id: UUID | str) -> bytes:
    """The AES-256 key the page encrypts its IndexedDB outbox with, for one session.

    Derived (HMAC of the session id under SECRET_KEY), so every page load of the session gets
    the same key and can decrypt what an earlier load queued; it is only ever handed to the
    session's student over the authenticated ticket request. Rotating SECRET_KEY makes
    frames still queued in a page unreadable, which loses them rather than leaks them.
    """
    return hmac.new(
        settings.SECRET_KEY.encode(), f"proctor.outbox.v1:{session_id}".encode(), hashlib.sha256
    ).digest()


def ticket_issue(*, session: ExamSession, actor: User, purpose: str) -> str:
    """Issue a single-use ticket for one socket; returns the token (only its hash is kept).

    Raises SessionNotStreaming when the session's state does not allow ``purpose``.
    """
    if session.state not in STREAMABLE_STATES[StreamTicket.Purpose(purpose)]:
        raise SessionNotStreaming(
            f"This session is {session.get_state_display().lower()}; the "
            f"{'camera check' if purpose == 'check' else 'exam stream'} is not available now."
        )
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    StreamTicket.objects.create(
        session=session, purpose=purpose, token_sha256=_hash(token), created_at=now,
        expires_at=now + timedelta(seconds=TICKET_TTL_S),
    )
    return token


def ticket_redeem(*, token: str, user: User, session_id: UUID | str) -> tuple[ExamSession, str]:
    """Use a ticket up (conditional UPDATE: one socket per ticket). Returns session, purpose.

    Raises TicketInvalid (unknown, expired, used), SessionNotFound (the ticket is for
    another session or user) and SessionNotStreaming (the session has moved on since the
    ticket was issued). Refusals are audited by the caller, which knows the connection.
    """
    now = timezone.now()
    digest = _hash(token or "")
    used = StreamTicket.objects.filter(
        token_sha256=digest, used_at__isnull=True, expires_at__gt=now,
        session_id=session_id, session__student_id=getattr(user, "pk", None),
    ).update(used_at=now)
    ticket = StreamTicket.objects.filter(token_sha256=digest).select_related("session").first()
    if not used:
        if ticket is None:
            raise TicketInvalid("The stream ticket is unknown; reload the page to get a new one.")
        if ticket.used_at is not None and ticket.used_at != now:
            raise TicketInvalid("The stream ticket was already used; each socket needs a new one.")
        if ticket.expires_at <= now:
            raise TicketInvalid(
                f"The stream ticket expired {TICKET_TTL_S} s after it was issued; reconnect to "
                "get a new one."
            )
        raise SessionNotFound("No such exam session for this ticket and user.")
    assert ticket is not None
    session = ExamSession.objects.select_related("exam__course").get(pk=ticket.session_id)
    if session.state not in STREAMABLE_STATES[StreamTicket.Purpose(ticket.purpose)]:
        raise SessionNotStreaming(
            f"The session is {session.get_state_display().lower()}; streaming has ended."
        )
    return session, ticket.purpose


# --- Receipts ----------------------------------------------------------------------------

def receipt_claim_new(
    *, session_id: UUID | str, stream: str, seq: int, captured_at: datetime | None,
    reenqueue_after_s: float,
) -> str:
    """Decide what to do with message ``seq``, in one round trip for a new message.

    Returns ``"new"`` (receipt inserted now: hand the message to the broker, and call
    ``receipt_release`` if that fails), ``"duplicate"`` (already done: ack, do not process),
    ``"pending"`` (handed over recently, or probably still queued: wait for its ack) or
    ``"stale"`` (handed over long ago, still not done, and overtaken by a later message:
    the broker lost it, e.g. in a Redis restart, so hand it over again; the task's claim
    makes a second copy harmless). A crash between the insert and the hand-over leaves a
    receipt that turns stale and is handed over again on a resend: nothing is lost.
    """
    return receipt_claim_many([{
        "session_id": session_id, "stream": stream, "seq": seq, "captured_at": captured_at,
        "reenqueue_after_s": reenqueue_after_s,
    }])[0]


def receipt_claim_many(claims: list[dict[str, Any]]) -> list[str]:
    """``receipt_claim_new`` for many messages (the keyword arguments of each, as dicts):
    one INSERT for all of them; only those already known take further queries."""
    if not claims:
        return []
    now = timezone.now()
    field = Receipt._meta.get_field
    session_field, captured_field = field("session"), field("captured_at")
    received = field("received_at").get_db_prep_value(now, connection)
    params: list[Any] = []
    for claim in claims:
        params += [
            session_field.get_db_prep_value(UUID(str(claim["session_id"])), connection),
            claim["stream"], claim["seq"],
            captured_field.get_db_prep_value(claim["captured_at"], connection),
            received,
        ]
    rows = ", ".join(["(%s, %s, %s, %s, %s, 0, '')"] * len(claims))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Receipt._meta.db_table} "  # noqa: S608 (names from the model)
            "(session_id, stream, seq, captured_at, received_at, deliveries, failure) "
            f"VALUES {rows} ON CONFLICT (session_id, stream, seq) DO NOTHING "
            "RETURNING session_id, stream, seq",
            params,
        )
        inserted = {(UUID(str(sid)), stream, seq) for sid, stream, seq in cursor.fetchall()}
    outcomes = []
    for claim in claims:
        key = (UUID(str(claim["session_id"])), claim["stream"], claim["seq"])
        if key in inserted:
            inserted.discard(key)  # a second copy in the same batch waits for the first
            outcomes.append("new")
        else:
            outcomes.append(_receipt_claim_known(now=now, **claim))
    return outcomes


def _receipt_claim_known(
    *, now: datetime, session_id: UUID | str, stream: str, seq: int,
    captured_at: datetime | None, reenqueue_after_s: float,
) -> str:
    receipt = (
        Receipt.objects.filter(session_id=session_id, stream=stream, seq=seq)
        .only("processed_at", "failed_at", "received_at")
        .first()
    )
    if receipt is None:  # deleted by receipt_release in between: try again later
        return "pending"
    if receipt.processed_at or receipt.failed_at:
        return "duplicate"
    age_s = (now - receipt.received_at).total_seconds()
    if age_s <= reenqueue_after_s:
        return "pending"
    # The queue is first in, first out: if a message handed over after this one has been
    # processed, this one was lost (a Redis restart, a killed worker). If none has, it is
    # most likely still queued behind a backlog, and handing it over again would only
    # lengthen the queue; after ten times the wait, hand it over anyway.
    overtaken = Receipt.objects.filter(
        session_id=session_id, stream=stream, processed_at__isnull=False,
        received_at__gt=receipt.received_at,
    ).exists()
    if not overtaken and age_s <= 10 * reenqueue_after_s:
        return "pending"
    Receipt.objects.filter(pk=receipt.pk).update(received_at=now)
    return "stale"


def receipt_release(*, session_id: UUID | str, stream: str, seq: int) -> None:
    """Forget a receipt whose hand-over to the broker failed, so a resend is taken as new."""
    Receipt.objects.filter(
        session_id=session_id, stream=stream, seq=seq, processed_at__isnull=True,
        failed_at__isnull=True, deliveries=0,
    ).delete()


def receipt_reject(
    *, session_id: UUID | str, stream: str, seq: int, actor: User, reason: str, code: str,
    audit: bool = True,
) -> None:
    """Refuse message ``seq`` for good: quarantine its receipt (so later ones stay
    contiguous) and, when ``audit``, record the refusal. Nothing of the message is kept."""
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                Receipt.objects.create(
                    session_id=session_id, stream=stream, seq=seq, received_at=now,
                    failed_at=now, failure=reason[:500],
                )
        except IntegrityError:
            Receipt.objects.filter(
                session_id=session_id, stream=stream, seq=seq, processed_at__isnull=True,
                failed_at__isnull=True,
            ).update(failed_at=now, failure=reason[:500])
        if audit:
            stream_refusal_record(
                actor=actor, session_id=session_id, action=stream_rejected_action(stream),
                reason=reason, detail={"seq": seq, "code": code},
            )


def stream_refusal_record(
    *, actor: User, session_id: UUID | str | None, action: AuditAction, reason: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a refused socket or message (probing and abuse leave a trace)."""
    try:
        parsed = UUID(str(session_id)) if session_id else None
    except ValueError:
        parsed = None  # a made-up id: audited, but attached to no session
    session = (
        ExamSession.objects.select_related("exam__course").filter(pk=parsed).first()
        if parsed
        else None
    )
    audit_record(
        actor=actor, action=action, session=session, reason=reason,
        target=f"session:{session_id}" if session_id else "", detail=detail or {},
    )


def receipt_begin_delivery(
    *, session_id: UUID | str, stream: str, seq: int, max_deliveries: int
) -> bool:
    """Count one more delivery of a message to a worker; False if there is nothing to do.

    Committed on its own before any processing, so a message that kills its worker (and is
    redelivered by ``reject_on_worker_lost``) is counted each time and quarantined once it
    has been delivered ``max_deliveries`` times: a poison message cannot crash workers
    forever.
    """
    table = Receipt._meta.db_table
    field = Receipt._meta.get_field
    with connection.cursor() as cursor:
        # One statement: insert the receipt (a task published before its receipt was
        # written) or count one more delivery of a message that is not done yet.
        cursor.execute(
            f"INSERT INTO {table} "  # noqa: S608 (names from the model)
            "(session_id, stream, seq, received_at, deliveries, failure) "
            "VALUES (%s, %s, %s, %s, 1, '') "
            f"ON CONFLICT (session_id, stream, seq) DO UPDATE SET deliveries = {table}.deliveries"
            f" + 1 WHERE {table}.processed_at IS NULL AND {table}.failed_at IS NULL "
            "RETURNING deliveries",
            [
                field("session").get_db_prep_value(UUID(str(session_id)), connection),
                stream, seq,
                field("received_at").get_db_prep_value(timezone.now(), connection),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return False  # processed or quarantined already
    if row[0] <= max_deliveries:
        return True
    failure = (
        f"Quarantined after {max_deliveries} deliveries that did not finish "
        "(the worker died or timed out each time)."
    )
    with transaction.atomic():
        updated = Receipt.objects.filter(
            session_id=session_id, stream=stream, seq=seq, processed_at__isnull=True,
            failed_at__isnull=True,
        ).update(failed_at=timezone.now(), failure=failure)
        if updated:
            logger.error("session %s: %s %s quarantined", session_id, stream, seq)
            stream_refusal_record(
                actor=None, session_id=session_id, action=stream_quarantined_action(stream),
                reason=failure, detail={"seq": seq},
            )
    return False


def receipt_quarantine(*, session_id: UUID | str, stream: str, seq: int, reason: str) -> bool:
    """Mark a message that cannot be processed (bad bytes, a bug) as done without effects."""
    with transaction.atomic():
        updated = Receipt.objects.filter(
            session_id=session_id, stream=stream, seq=seq, processed_at__isnull=True,
            failed_at__isnull=True,
        ).update(failed_at=timezone.now(), failure=reason[:500])
        if updated:
            stream_refusal_record(
                actor=None, session_id=session_id, action=stream_quarantined_action(stream),
                reason=reason, detail={"seq": seq},
            )
    return bool(updated)


def _claim(*, session_id: UUID | str, stream: str, seq: int) -> bool:
    return bool(
        Receipt.objects.filter(
            session_id=session_id, stream=stream, seq=seq, processed_at__isnull=True,
            failed_at__isnull=True,
        ).update(processed_at=timezone.now())
    )


# --- Policy ------------------------------------------------------------------------------

def _enabled_checks(exam: Exam, student_id: int) -> frozenset[str]:
    waived = (
        Enrollment.objects.filter(course_id=exam.course_id, student_id=student_id)
        .values_list("disabled_checks", flat=True)
        .first()
    )
    return _checks_left(exam, waived)


def _checks_left(exam: Exam, waived: list[str] | None) -> frozenset[str]:
    """The exam's checks less those the student's accommodations waive."""
    return frozenset(exam.enabled_checks or []) - frozenset(waived or [])


def _session_for_frame(session_id: UUID | str) -> tuple[ExamSession, LiveState]:
    """The session with its exam, student, running state and waived checks, in one query
    (it runs for every frame)."""
    waived = Enrollment.objects.filter(
        course_id=OuterRef("exam__course_id"), student_id=OuterRef("student_id")
    ).values("disabled_checks")[:1]
    session = (
        ExamSession.objects.select_related("exam__course", "student", "live_state")
        .annotate(waived_checks=Subquery(waived))
        .get(pk=session_id)
    )
    try:
        live = session.live_state
    except LiveState.DoesNotExist:
        live, _ = LiveState.objects.get_or_create(session=session)
    return session, live


def anonymization_policy(exam: Exam) -> analysis.AnonymizationPolicy:
    return analysis.AnonymizationPolicy(
        method=exam.anonymization_method,
        strength=exam.anonymization_strength,
        blur_frame_when_no_face=exam.blur_frame_when_no_face,
    )


def rule_policy(exam: Exam, enabled: frozenset[str]) -> analysis.RulePolicy:
    """The exam's thresholds; ``enabled`` already lacks the student's waived checks."""
    return analysis.RulePolicy(
        enabled_checks=enabled & analysis.CHECKS,
        no_face_min_s=exam.no_face_min_s,
        multiple_faces_min_s=exam.multiple_faces_min_s,
        looking_away_yaw_deg=exam.looking_away_yaw_deg,
        looking_away_pitch_deg=exam.looking_away_pitch_deg,
        looking_away_gaze=exam.looking_away_gaze,
        looking_away_min_s=exam.looking_away_min_s,
        camera_blocked_min_s=exam.camera_blocked_min_s,
        camera_frozen_min_s=exam.camera_frozen_min_s,
        speech_min_s=exam.speech_min_s,
    )


# --- Processing --------------------------------------------------------------------------

def _to_datetime(ms: float, offset_ms: float) -> datetime:
    return datetime.fromtimestamp((ms + offset_ms) / 1000, tz=UTC)


@dataclass(frozen=True)
class FrameOutcome:
    processed: bool
    face_count: int = 0
    incident_events: tuple[str, ...] = ()


def _apply_incident_event(
    *, session: ExamSession, live: LiveState, event: analysis.IncidentEvent, t0_ms: float,
    ended_at: datetime | None,
) -> Incident | None:
    """Persist one rules event (monitoring/incidents.py): open creates the incident, extend
    updates its severity, score and evidence list, close ends it. Runs under the LiveState
    lock, in the frame's transaction. Once the session has ended (``ended_at``), nothing
    opens: the events of frames still in flight may only change or close the incidents the
    end closed (``live_state_session_ended``), and not past the end. Returns the incident
    the event changed, if any."""
    state = live.rules_state
    mapping: dict[str, int] = state.setdefault(
        "incidents" if ended_at is None else "ended_incidents", {}
    )
    offset = state.get("clock_offset_ms", 0.0)
    key = str(event.incident_id)
    payload = json.dumps(
        {"source": "rules", "evidence_seqs": list(event.evidence_frame_ids)}
    ).encode()
    score = min(max(event.score, 0.0), 1.0)
    if event.action == "open":
        if ended_at is not None:
            return None
        incident = incidents.incident_open(
            session=session, kind=event.kind, severity=event.severity,
            started_at=_to_datetime(t0_ms + event.started_at * 1000, offset),
            score=score, payload=payload,
        )
        mapping[key] = incident.pk
        return incident
    pk = mapping.get(key)
    if pk is None:
        return None
    incident = Incident.objects.get(pk=pk)
    incidents.incident_update(
        incident=incident, severity=event.severity, score=score, payload=payload
    )
    if event.action == "close":
        mapping.pop(key)
        ended = _to_datetime(t0_ms + (event.ended_at or event.started_at) * 1000, offset)
        incidents.incident_close(
            incident=incident, ended_at=ended if ended_at is None else min(ended, ended_at)
        )
    return incident


def _session_ended_at(session: ExamSession, state: dict[str, Any]) -> datetime | None:
    """When the session ended, as its close-out wrote it under the LiveState lock now held
    (the session row was read before the lock, possibly before the end), else as the row
    says (a session that ended before its close-out recorded the time)."""
    marked = state.get("session_ended_at")
    return datetime.fromisoformat(marked) if marked else session.ended_at


def _incidents_tracked(state: dict[str, Any]) -> list[int]:
    """The incidents the stream still follows: open ones, and those closed by the session's
    end that frames in flight may still extend."""
    return [
        pk
        for name in ("incidents", "browser", "ended_incidents", "ended_browser")
        for pk in state.get(name, {}).values()
    ]


def _incidents_extend_to(state: dict[str, Any], captured_at: datetime) -> None:
    """A frame still in flight at the session's end was analysed: the incidents the end
    closed, and the rules have not closed since, last at least until it was captured (as
    they would had it been analysed before the end)."""
    pks = [
        pk
        for name in ("ended_incidents", "ended_browser")
        for pk in state.get(name, {}).values()
    ]
    if not pks:
        return
    for incident in Incident.objects.filter(pk__in=pks, ended_at__lt=captured_at):
        incidents.incident_close(incident=incident, ended_at=captured_at)


def _evidence_incident_id(state: dict[str, Any], captured_at: datetime) -> int | None:
    """The incident a frame is evidence of: the earliest started of those the stream
    follows whose span holds its capture time (monitoring/incidents.py)."""
    pks = _incidents_tracked(state)
    if not pks:
        return None
    candidates = Incident.objects.filter(pk__in=pks).only(
        "pk", "session_id", "started_at", "ended_at"
    )
    chosen = incidents.incident_for_evidence(incidents=candidates, captured_at=captured_at)
    return chosen.pk if chosen is not None else None


def _refuse_after_end(
    *, session_id: UUID | str, stream: str, seq: int, captured_at: datetime,
    ended_at: datetime,
) -> bool:
    """Mark a message captured after the session ended as done, with nothing of it stored
    (the record closed with the session). False if it was done already."""
    return bool(
        Receipt.objects.filter(
            session_id=session_id, stream=stream, seq=seq, processed_at__isnull=True,
            failed_at__isnull=True,
        ).update(
            failed_at=timezone.now(),
            failure=(
                f"Captured at {captured_at.isoformat()}, after the session ended at "
                f"{ended_at.isoformat()}; not stored."
            ),
        )
    )


@dataclass(frozen=True)
class _FrameWork:
    """What a frame's pixels give, computed before the session's state is locked."""

    based_on: int  # LiveState.frames_processed of the state it continued from
    frame: analysis.AnonymizedFrame
    observation: analysis.FrameObservation
    thumbnail: bytes


def _anonymizer_snapshot_load(
    session_id: UUID | str, state: dict[str, Any]
) -> analysis.AnonymizerSnapshot | None:
    saved = state.get("anonymizer")
    if not isinstance(saved, dict):
        return None
    thumbnail = b""
    if saved.get("thumbnail"):
        try:
            thumbnail = unseal(
                dek=data_key_for_session(session_id, create=True),
                sealed=base64.b64decode(saved["thumbnail"]),
                aad=record_aad(session_id=session_id, record="livestate", field="thumbnail"),
            )
        except (PrivacyError, ValueError):
            # Without it the wide detector runs on the next frame: the safe side.
            logger.warning("session %s: anonymizer thumbnail unreadable", session_id)
    return analysis.AnonymizerSnapshot(state=saved.get("state", {}), thumbnail=thumbnail)


def _anonymizer_snapshot_save(
    session_id: UUID | str, state: dict[str, Any], snapshot: analysis.AnonymizerSnapshot | None
) -> None:
    """Keep the stream's anonymizer state in the LiveState row. Its thumbnail is raw pixels
    (64x48 grey), so it is sealed under the session's data key like all evidence."""
    if snapshot is None:
        state.pop("anonymizer", None)
        return
    sealed = ""
    if snapshot.thumbnail:
        sealed = base64.b64encode(seal(
            dek=data_key_for_session(session_id, create=True), plaintext=snapshot.thumbnail,
            aad=record_aad(session_id=session_id, record="livestate", field="thumbnail"),
        )).decode("ascii")
    state["anonymizer"] = {"state": snapshot.state, "thumbnail": sealed}


def _frame_work(
    *, session_id: UUID | str, live: LiveState, image: analysis.BgrImage, seq: int,
    captured_ms: float, anonymization: analysis.AnonymizationPolicy,
    rules: analysis.RulePolicy,
) -> _FrameWork:
    state = live.rules_state
    frame = analysis.anonymize_stream_frame(
        image, policy=anonymization, snapshot=_anonymizer_snapshot_load(session_id, state)
    )
    t_s = (captured_ms - state.get("t0_ms", captured_ms)) / 1000
    # The rules read the original pixels (pose, gaze, brightness) in memory only.
    observation = analysis.frame_observe(image, frame.in_view_faces, rules, t_s=t_s, seq=seq)
    thumbnail = frame.jpeg(
        quality=EVIDENCE_JPEG_QUALITY, longest_side_px=EVIDENCE_LONGEST_SIDE_PX
    )
    return _FrameWork(live.frames_processed, frame, observation, thumbnail)


def frame_process(
    *, session_id: UUID | str, seq: int, captured_ms: float, image: bytes
) -> FrameOutcome:
    """Decode, anonymize, analyse and store one webcam frame, once.

    The pixel work (about all of a frame's CPU) runs first, on the session's running state
    as last committed, with no lock held. Then, in one short transaction under the session's
    LiveState row lock (frames of one session are applied one at a time): claim the
    receipt, redo the pixel work if another frame of the session was applied meanwhile
    (the anonymizer's state must follow the frames in order), feed the rules and
    open/close incidents, record the measurements, store the anonymized thumbnail as
    Evidence (last: its integrity-log append serialises all writers until commit), and
    update the running state. After commit, ack the page and, when something changed,
    push the reviewers' live row. Raises VisionError for bytes that cannot be decoded (the
    caller quarantines them); nothing raw is ever written.
    """
    session, live = _session_for_frame(session_id)
    exam = session.exam
    anonymization = anonymization_policy(exam)
    rules = rule_policy(exam, _checks_left(exam, session.waived_checks))
    decoded = analysis.decode_frame(image)
    work_args = {
        "session_id": session_id, "image": decoded, "seq": seq, "captured_ms": captured_ms,
        "anonymization": anonymization, "rules": rules,
    }
    work = _frame_work(live=live, **work_args)
    with transaction.atomic():
        live = LiveState.objects.select_for_update().get(pk=live.pk)
        state = live.rules_state
        captured_at = _to_datetime(captured_ms, state.get("clock_offset_ms", 0.0))
        ended_at = _session_ended_at(session, state)
        if ended_at is not None and captured_at > ended_at:
            if _refuse_after_end(
                session_id=session_id, stream=Receipt.Stream.FRAME, seq=seq,
                captured_at=captured_at, ended_at=ended_at,
            ):
                transaction.on_commit(
                    lambda: _after_processed(session, "frame", seq, push_live=False)
                )
            return FrameOutcome(processed=False)
        if not _claim(session_id=session_id, stream=Receipt.Stream.FRAME, seq=seq):
            return FrameOutcome(processed=False)
        if live.frames_processed != work.based_on:
            work = _frame_work(live=live, **work_args)
        frame, observed = work.frame, work.observation
        t0_ms = state.setdefault("t0_ms", captured_ms)
        _anonymizer_snapshot_save(session_id, state, frame.snapshot)
        events = analysis.rules_observe_frame(state, rules, observed)
        # Numbers only (face count, head pose, gaze) for the reviewers' timeline plots.
        observation_record(
            session=session, seq=seq, captured_at=captured_at,
            face_count=analysis.person_count(observed),
            yaw_deg=observed.pose.yaw_deg if observed.pose else None,
            pitch_deg=observed.pose.pitch_deg if observed.pose else None,
            gaze_x=observed.gaze.x if observed.gaze else None,
            gaze_y=observed.gaze.y if observed.gaze else None,
        )
        # Opening an incident links the earlier frames of its span (monitoring/incidents.py).
        applied = [
            event for event in events
            if _apply_incident_event(
                session=session, live=live, event=event, t0_ms=t0_ms, ended_at=ended_at
            ) is not None
        ]
        if ended_at is not None:
            _incidents_extend_to(state, captured_at)
        # To the object store, or to the encrypted spool while it is unreachable: then the
        # Evidence row appears only once the sync task has stored it (storage_services.py).
        evidence_store(
            session=session, seq=seq, captured_at=captured_at, content=work.thumbnail,
            content_type="image/jpeg", width=frame.width, height=frame.height,
            incident_id=_evidence_incident_id(state, captured_at),
        )
        face_count = len(frame.in_view_faces)
        is_changed = bool(applied) or face_count != live.face_count
        if seq > live.last_frame_seq:
            live.last_frame_seq = seq
            live.last_frame_captured_at = captured_at
            live.face_count = face_count
        now = timezone.now()
        is_push_due = _live_push_due(state, now=now, is_changed=is_changed)
        live.last_frame_processed_at = now
        live.frames_processed += 1
        live.updated_at = now
        live.save()
        transaction.on_commit(
            lambda: _after_processed(session, "frame", seq, push_live=is_push_due)
        )
    return FrameOutcome(
        processed=True, face_count=len(frame.in_view_faces),
        incident_events=tuple(f"{e.action}:{e.kind}" for e in applied),
    )


def _live_push_due(state: dict[str, Any], *, now: datetime, is_changed: bool) -> bool:
    """Whether this frame should update the reviewers' live row: at once when something
    they watch changed (faces, incidents), else every LIVE_PUSH_INTERVAL_S, which keeps
    "last frame" fresh (the page ages it every second) without a message per frame."""
    now_s = now.timestamp()
    if is_changed or now_s - state.get("live_pushed_s", 0.0) >= LIVE_PUSH_INTERVAL_S:
        state["live_pushed_s"] = now_s
        return True
    return False


def event_process(
    *, session_id: UUID | str, seq: int, kind: str, captured_ms: float,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Turn one browser event into incidents, once. Returns whether it was processed now."""
    with transaction.atomic():
        session = ExamSession.objects.select_related("exam__course", "student").get(
            pk=session_id
        )
        live, _ = LiveState.objects.get_or_create(session=session)
        live = LiveState.objects.select_for_update().get(pk=live.pk)
        state = live.rules_state
        at = _to_datetime(captured_ms, state.get("clock_offset_ms", 0.0))
        ended_at = _session_ended_at(session, state)
        if ended_at is not None and at > ended_at:
            if _refuse_after_end(
                session_id=session_id, stream=Receipt.Stream.EVENT, seq=seq, captured_at=at,
                ended_at=ended_at,
            ):
                transaction.on_commit(
                    lambda: _after_processed(session, "event", seq, push_live=False)
                )
            return False
        if not _claim(session_id=session_id, stream=Receipt.Stream.EVENT, seq=seq):
            return False
        enabled = _enabled_checks(session.exam, session.student_id)
        if kind == VOICE_EVENT:
            t0_ms = state.setdefault("t0_ms", captured_ms)
            policy = rule_policy(session.exam, enabled)
            for event in analysis.rules_observe_voice(
                state, policy, t_s=(captured_ms - t0_ms) / 1000, seq=seq,
                is_speech=bool((detail or {}).get("active")),
            ):
                _apply_incident_event(
                    session=session, live=live, event=event, t0_ms=t0_ms, ended_at=ended_at
                )
        elif kind in BROWSER_EVENTS and KIND_CHECK[BROWSER_EVENTS[kind][0]] in enabled:
            # Each kind counts under its check in the registry: a stopped camera under the
            # camera-blocked check, tab and focus events under the browser check.
            incident_kind, action = BROWSER_EVENTS[kind]
            # Once the session has ended nothing opens; an event still in flight may only
            # close what the end closed (live_state_session_ended), as of its time.
            browser: dict[str, int] = state.setdefault(
                "browser" if ended_at is None else "ended_browser", {}
            )
            payload = json.dumps({"source": "browser", "event": kind}).encode()
            if action == "point" and ended_at is None:
                incidents.incident_open(
                    session=session, kind=incident_kind, started_at=at, ended_at=at,
                    severity=Incident.Severity.LOW, score=1.0, payload=payload,
                )
            elif action == "open" and ended_at is None and incident_kind not in browser:
                incident = incidents.incident_open(
                    session=session, kind=incident_kind, started_at=at, score=1.0,
                    severity=(
                        Incident.Severity.MEDIUM
                        if incident_kind == Incident.Kind.CAMERA_ENDED
                        else Incident.Severity.LOW
                    ),
                    payload=payload,
                )
                browser[incident_kind] = incident.pk
            elif action == "close" and incident_kind in browser:
                closing = Incident.objects.filter(pk=browser.pop(incident_kind)).first()
                if closing is not None:  # at >= its start: incident_close keeps it so
                    incidents.incident_close(incident=closing, ended_at=at)
        live.updated_at = timezone.now()
        live.save()
        transaction.on_commit(lambda: _after_processed(session, "event", seq))
    return True


def preview_anonymize(*, session_id: UUID | str, image: bytes) -> bytes:
    """The camera check: the anonymized frame exactly as reviewers would see it. Not stored."""
    session = ExamSession.objects.select_related("exam").get(pk=session_id)
    decoded = analysis.decode_frame(image)
    return analysis.anonymize(decoded, policy=anonymization_policy(session.exam)).jpeg()


def live_state_connection(
    *, session_id: UUID | str, is_connected: bool, clock_offset_ms: float | None = None,
    buffered: int | None = None,
) -> None:
    """Record that the page connected or left (and, when told, its queue and clock)."""
    with transaction.atomic():
        session = ExamSession.objects.select_related("exam__course", "student").get(
            pk=session_id
        )
        live, _ = LiveState.objects.get_or_create(session=session)
        live = LiveState.objects.select_for_update().get(pk=live.pk)
        live.is_connected = is_connected
        if clock_offset_ms is not None:
            live.rules_state["clock_offset_ms"] = clock_offset_ms
        if buffered is not None:
            live.buffered = max(0, buffered)
        live.updated_at = timezone.now()
        live.save()
        transaction.on_commit(lambda: live_push(session=session))


def live_state_session_ended(*, session: ExamSession, ended_at: datetime) -> int:
    """Close the record of a session that ended at ``ended_at``; returns how many incidents
    it closed.

    Every open incident ends at the capture time of the session's last analysed frame (at
    ``ended_at`` when none was, never after it, never before the incident started). The
    rules' open incidents move from ``rules_state["incidents"]`` (and ``["browser"]``) to
    ``["ended_incidents"]`` (``["ended_browser"]``) and the end time is kept there, so
    frames still in flight, received before the end and analysed after it, may extend or
    close those incidents but open none, and anything captured after the end is not
    stored (frame_process, event_process). Runs in the caller's transaction: the state
    change's, through ``exams.signals.session_ended`` (monitoring/signals.py). Idempotent.
    """
    with transaction.atomic():
        live = LiveState.objects.select_for_update().filter(session=session).first()
        if live is None and session.started_at is not None:
            # Started but nothing arrived yet: a frame in flight must still find the end.
            LiveState.objects.get_or_create(session=session)
            live = LiveState.objects.select_for_update().get(session=session)
        last_frame_at = live.last_frame_captured_at if live is not None else None
        close_at = min(last_frame_at, ended_at) if last_frame_at else ended_at
        if live is not None:
            state = live.rules_state
            state["session_ended_at"] = ended_at.isoformat()
            state.setdefault("ended_incidents", {}).update(state.pop("incidents", {}))
            state.setdefault("ended_browser", {}).update(state.pop("browser", {}))
            live.updated_at = timezone.now()
            live.save()
        return incidents.incidents_close_for_session(session=session, ended_at=close_at)


def live_state_finish(*, session_id: UUID | str) -> int:
    """The stream's close-out once its socket has seen the session end (the
    ``monitoring.finish_session`` task): the end's own transaction closed the record
    already, so this closes something only for a session that ended without it. Marks the
    page disconnected. Returns how many incidents it closed; 0 for a running session."""
    session = ExamSession.objects.select_related("exam__course").get(pk=session_id)
    if not session.is_finished:
        return 0
    with transaction.atomic():
        closed = live_state_session_ended(
            session=session, ended_at=session.ended_at or timezone.now()
        )
        LiveState.objects.filter(session=session).update(is_connected=False)
    return closed


def _after_processed(
    session: ExamSession, stream: str, seq: int, *, push_live: bool = True
) -> None:
    try:
        push.group_send(
            stream_group(session.pk), {"type": "stream.ack", "stream": stream, "seq": seq}
        )
    except Exception:
        # The page asks for the highest contiguous sequence on its next sync, so a lost ack
        # only delays deleting its copy; the frame itself is committed.
        logger.warning("session %s: could not push the ack of %s %s", session.pk, stream, seq,
                       exc_info=True)
    if push_live:
        live_push(session=session)


def live_push(*, session: ExamSession) -> None:
    """Send the session's live row to the reviewers watching its course."""
    session = ExamSession.objects.select_related("exam__course", "student", "live_state").get(
        pk=session.pk
    )
    try:
        push.group_send(
            live_group(session.exam.course_id),
            {"type": "live.update", "row": live_row(session=session)},
        )
    except Exception:
        logger.warning("session %s: could not push the live row", session.pk, exc_info=True)
