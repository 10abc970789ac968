"""The one registry of audit actions: every ``AuditEvent.action`` the code writes.

``audit_record`` refuses an action that is not here, so a new kind of event is added here
first, with a label for people (the admin's filter) and a sentence saying what happened.
The values are the strings stored in ``AuditEvent.action`` and in the integrity log, and
they are history: never rename one, add a new member instead. Plain Python with no Django
import, and below every app but integrity, so every app can name its actions from here.

A refusal (``*.refused``) is recorded too, so that probing for other people's records
leaves a trace. Where a call site builds the action from a name (a session transition, a
stream, a decided status), it maps the name with one of the functions at the end, which
refuse a name they do not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from audit.errors import UnknownAuditAction

# AuditEvent.action is a CharField(max_length=64).
MAX_ACTION_CHARS = 64


class AuditAction(StrEnum):
    # Exam sessions (exams/services.py, exams/views.py)
    SESSION_OPEN = "session.open"
    SESSION_OPEN_REFUSED = "session.open.refused"
    SESSION_CONSENT = "session.consent"
    SESSION_CONSENT_REFUSED = "session.consent.refused"
    SESSION_CAMERA_CHECK = "session.camera_check"
    SESSION_CAMERA_CHECK_REFUSED = "session.camera_check.refused"
    SESSION_START = "session.start"
    SESSION_START_REFUSED = "session.start.refused"
    SESSION_SUBMIT = "session.submit"
    SESSION_SUBMIT_REFUSED = "session.submit.refused"
    SESSION_TERMINATE = "session.terminate"
    SESSION_TERMINATE_REFUSED = "session.terminate.refused"
    SESSION_EXPIRE = "session.expire"
    SESSION_VIEW_REFUSED = "session.view.refused"

    # Streaming (monitoring/consumers.py, monitoring/services.py, monitoring/security.py,
    # monitoring/views.py)
    STREAM_TICKET_REFUSED = "stream.ticket.refused"
    STREAM_ORIGIN_REFUSED = "stream.origin.refused"
    STREAM_CONNECT_REFUSED = "stream.connect.refused"
    STREAM_AUTH_REFUSED = "stream.auth.refused"
    STREAM_FRAME_REFUSED = "stream.frame.refused"
    STREAM_EVENT_REFUSED = "stream.event.refused"
    STREAM_FRAME_REJECTED = "stream.frame.rejected"
    STREAM_EVENT_REJECTED = "stream.event.rejected"
    STREAM_FRAME_DUPLICATE = "stream.frame.duplicate"
    STREAM_EVENT_DUPLICATE = "stream.event.duplicate"
    STREAM_FRAME_QUARANTINED = "stream.frame.quarantined"
    STREAM_EVENT_QUARANTINED = "stream.event.quarantined"
    STREAM_RATE_LIMITED = "stream.rate_limited"
    STREAM_FLOOD_CLOSED = "stream.flood.closed"

    # Review (reviews/services.py, reviews/admin_actions.py via audit.services)
    REVIEW_INCIDENT_CONFIRMED = "review.incident_confirmed"
    REVIEW_INCIDENT_DISMISSED = "review.incident_dismissed"
    REVIEW_CLOSED = "review.closed"
    REVIEW_APPEAL_SUBMITTED = "review.appeal_submitted"
    REVIEW_INCIDENTS_EXPORTED = "review.incidents_exported"
    REVIEW_SESSIONS_EXPORTED = "review.sessions_exported"

    # Privacy and the data's life cycle (privacy/, lifecycle/, lms/api/services.py)
    PRIVACY_DECRYPT = "privacy.decrypt"
    PRIVACY_KEYS_ROTATE = "privacy.keys.rotate"
    PRIVACY_SHRED = "privacy.shred"
    PRIVACY_ORIGINAL_PURGE = "privacy.original.purge"
    PRIVACY_RETENTION_RUN = "privacy.retention.run"
    PRIVACY_EXPORT = "privacy.export"
    PRIVACY_ERASURE_REQUEST = "privacy.erasure.request"
    PRIVACY_ERASURE_APPROVE = "privacy.erasure.approve"
    PRIVACY_ERASURE_COMPLETE = "privacy.erasure.complete"
    PRIVACY_ERASURE_REJECT = "privacy.erasure.reject"
    PRIVACY_ERASURE_REFUSED = "privacy.erasure.refused"
    PRIVACY_BREAK_GLASS_REQUEST = "privacy.break_glass.request"
    PRIVACY_BREAK_GLASS_APPROVE = "privacy.break_glass.approve"
    PRIVACY_BREAK_GLASS_REJECT = "privacy.break_glass.reject"
    PRIVACY_BREAK_GLASS_VIEW = "privacy.break_glass.view"
    PRIVACY_BREAK_GLASS_REFUSED = "privacy.break_glass.refused"

    # The integrity log's proofs (lms/integrity_views.py)
    INTEGRITY_PROOF_VIEW = "integrity.proof.view"
    INTEGRITY_PROOF_VIEW_REFUSED = "integrity.proof.view.refused"

    # The LMS: REST API, webhooks and LTI (lms/)
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    COURSE_CREATE = "course.create"
    COURSE_UPDATE = "course.update"
    EXAM_CREATE = "exam.create"
    EXAM_UPDATE = "exam.update"
    ENROLLMENT_SYNC = "enrollment.sync"
    WEBHOOK_QUEUE = "webhook.queue"
    WEBHOOK_REFUSED = "webhook.refused"
    LTI_KEYS = "lti.keys"
    LTI_LAUNCH = "lti.launch"
    LTI_LAUNCH_REFUSED = "lti.launch.refused"
    LTI_DEEP_LINK = "lti.deep_link"

    @property
    def label(self) -> str:
        return ACTIONS[self].label

    @property
    def description(self) -> str:
        return ACTIONS[self].description

    @property
    def is_refusal(self) -> bool:
        return self.value.endswith(".refused")


@dataclass(frozen=True)
class ActionInfo:
    action: AuditAction
    label: str
    # One sentence: what happened when this event was written.
    description: str


A = AuditAction
_ACTIONS = [
    ActionInfo(A.SESSION_OPEN, "Session opened",
               "A student opened their session of an exam."),
    ActionInfo(A.SESSION_OPEN_REFUSED, "Session open refused",
               "A student could not open a session (not enrolled, or outside the window)."),
    ActionInfo(A.SESSION_CONSENT, "Consent given",
               "The student consented to being proctored."),
    ActionInfo(A.SESSION_CONSENT_REFUSED, "Consent refused",
               "Consent could not be recorded in the session's state."),
    ActionInfo(A.SESSION_CAMERA_CHECK, "Camera checked",
               "The student's camera check passed."),
    ActionInfo(A.SESSION_CAMERA_CHECK_REFUSED, "Camera check refused",
               "A camera check could not be recorded in the session's state."),
    ActionInfo(A.SESSION_START, "Session started",
               "The working time began."),
    ActionInfo(A.SESSION_START_REFUSED, "Session start refused",
               "The session could not start (the exam was closed, or a step was missing)."),
    ActionInfo(A.SESSION_SUBMIT, "Session submitted",
               "The student submitted the exam."),
    ActionInfo(A.SESSION_SUBMIT_REFUSED, "Submission refused",
               "A submission could not be recorded in the session's state."),
    ActionInfo(A.SESSION_TERMINATE, "Session terminated",
               "Staff ended the session early, giving a reason."),
    ActionInfo(A.SESSION_TERMINATE_REFUSED, "Termination refused",
               "Staff could not end the session in its state."),
    ActionInfo(A.SESSION_EXPIRE, "Session expired",
               "The working time ran out, or the exam closed before the session began."),
    ActionInfo(A.SESSION_VIEW_REFUSED, "Session view refused",
               "Someone asked for a session they may not see."),
    ActionInfo(A.STREAM_TICKET_REFUSED, "Stream ticket refused",
               "Someone asked for a streaming ticket for a session they may not stream."),
    ActionInfo(A.STREAM_ORIGIN_REFUSED, "Stream origin refused",
               "A socket was opened from a page of another site."),
    ActionInfo(A.STREAM_CONNECT_REFUSED, "Stream connect refused",
               "A socket was opened without a signed-in user."),
    ActionInfo(A.STREAM_AUTH_REFUSED, "Stream ticket rejected",
               "A socket sent no ticket in time, or a bad, used or foreign one."),
    ActionInfo(A.STREAM_FRAME_REFUSED, "Frame refused for now",
               "A webcam frame was not accepted yet; the page may send it again."),
    ActionInfo(A.STREAM_EVENT_REFUSED, "Browser event refused for now",
               "A browser event was not accepted yet; the page may send it again."),
    ActionInfo(A.STREAM_FRAME_REJECTED, "Frame rejected",
               "A webcam frame was refused for good (malformed, too large, not an image)."),
    ActionInfo(A.STREAM_EVENT_REJECTED, "Browser event rejected",
               "A browser event was refused for good (malformed or unknown)."),
    ActionInfo(A.STREAM_FRAME_DUPLICATE, "Frame replayed",
               "A webcam frame already received arrived again; not processed twice."),
    ActionInfo(A.STREAM_EVENT_DUPLICATE, "Browser event replayed",
               "A browser event already received arrived again; not processed twice."),
    ActionInfo(A.STREAM_FRAME_QUARANTINED, "Frame quarantined",
               "A webcam frame could not be processed and was set aside without effects."),
    ActionInfo(A.STREAM_EVENT_QUARANTINED, "Browser event quarantined",
               "A browser event could not be processed and was set aside without effects."),
    ActionInfo(A.STREAM_RATE_LIMITED, "Stream rate-limited",
               "A socket sent messages faster than the rate limit."),
    ActionInfo(A.STREAM_FLOOD_CLOSED, "Stream closed for flooding",
               "A socket was closed after too many messages over the rate limit."),
    ActionInfo(A.REVIEW_INCIDENT_CONFIRMED, "Incident confirmed",
               "A reviewer confirmed an incident."),
    ActionInfo(A.REVIEW_INCIDENT_DISMISSED, "Incident dismissed",
               "A reviewer dismissed an incident."),
    ActionInfo(A.REVIEW_CLOSED, "Review closed",
               "A reviewer closed the review of a session, with or without a violation."),
    ActionInfo(A.REVIEW_APPEAL_SUBMITTED, "Appeal submitted",
               "A student appealed the outcome of their review."),
    ActionInfo(A.REVIEW_INCIDENTS_EXPORTED, "Incidents exported",
               "Staff exported incidents as CSV from the admin."),
    ActionInfo(A.REVIEW_SESSIONS_EXPORTED, "Sessions exported",
               "Staff exported sessions as CSV from the admin."),
    ActionInfo(A.PRIVACY_DECRYPT, "Evidence decrypted",
               "Someone read encrypted evidence or notes of a session."),
    ActionInfo(A.PRIVACY_KEYS_ROTATE, "Keys rotated",
               "The encryption keys were rotated (rotate_keys)."),
    ActionInfo(A.PRIVACY_SHRED, "Session shredded",
               "A session was crypto-shredded: its key destroyed, its evidence deleted."),
    ActionInfo(A.PRIVACY_ORIGINAL_PURGE, "Original frame purged",
               "An unblurred original frame was deleted when its retention ended."),
    ActionInfo(A.PRIVACY_RETENTION_RUN, "Retention applied",
               "The retention run shredded the sessions that were due."),
    ActionInfo(A.PRIVACY_EXPORT, "Personal data exported",
               "A student's personal data was exported for them."),
    ActionInfo(A.PRIVACY_ERASURE_REQUEST, "Erasure requested",
               "Someone asked for a student's data to be erased."),
    ActionInfo(A.PRIVACY_ERASURE_APPROVE, "Erasure approved",
               "An admin approved an erasure request."),
    ActionInfo(A.PRIVACY_ERASURE_COMPLETE, "Erasure completed",
               "An approved erasure request was carried out: every session shredded."),
    ActionInfo(A.PRIVACY_ERASURE_REJECT, "Erasure rejected",
               "An admin rejected an erasure request."),
    ActionInfo(A.PRIVACY_ERASURE_REFUSED, "Erasure refused",
               "An erasure could not be approved yet (a review or appeal open, or a session "
               "running)."),
    ActionInfo(A.PRIVACY_BREAK_GLASS_REQUEST, "Break-glass requested",
               "Staff asked to see an unblurred original, stating a reason."),
    ActionInfo(A.PRIVACY_BREAK_GLASS_APPROVE, "Break-glass approved",
               "A second person approved a break-glass request."),
    ActionInfo(A.PRIVACY_BREAK_GLASS_REJECT, "Break-glass rejected",
               "A second person rejected a break-glass request."),
    ActionInfo(A.PRIVACY_BREAK_GLASS_VIEW, "Original viewed",
               "An unblurred original frame was viewed under a break-glass grant."),
    ActionInfo(A.PRIVACY_BREAK_GLASS_REFUSED, "Break-glass refused",
               "A self-approval, or a view of an original without an active grant, was refused."),
    ActionInfo(A.INTEGRITY_PROOF_VIEW, "Integrity proof read",
               "Someone downloaded a session's integrity-log proof bundle."),
    ActionInfo(A.INTEGRITY_PROOF_VIEW_REFUSED, "Integrity proof refused",
               "Someone asked for the proof bundle of a session they may not see."),
    ActionInfo(A.API_KEY_CREATE, "API key created",
               "An API key for the LMS integration was created."),
    ActionInfo(A.API_KEY_REVOKE, "API key revoked",
               "An API key was revoked."),
    ActionInfo(A.COURSE_CREATE, "Course created",
               "A course was created (through the API or LTI)."),
    ActionInfo(A.COURSE_UPDATE, "Course updated",
               "A course's fields were changed through the API."),
    ActionInfo(A.EXAM_CREATE, "Exam created",
               "An exam was created through the API."),
    ActionInfo(A.EXAM_UPDATE, "Exam updated",
               "An exam's fields or policy were changed through the API."),
    ActionInfo(A.ENROLLMENT_SYNC, "Enrollments synced",
               "A course's enrollments were synchronised from the LMS."),
    ActionInfo(A.WEBHOOK_QUEUE, "Webhook queued",
               "A webhook delivery to the LMS was queued."),
    ActionInfo(A.WEBHOOK_REFUSED, "Webhook refused",
               "A webhook was not sent: its URL points where Proctor may not send."),
    ActionInfo(A.LTI_KEYS, "LTI keys created",
               "A tool key pair was created for an LTI registration."),
    ActionInfo(A.LTI_LAUNCH, "LTI launch",
               "A user arrived from the LMS through an LTI launch."),
    ActionInfo(A.LTI_LAUNCH_REFUSED, "LTI launch refused",
               "An LTI launch failed validation."),
    ActionInfo(A.LTI_DEEP_LINK, "LTI deep link",
               "An exam was linked into the LMS through LTI deep linking."),
]
del A

ACTIONS: Mapping[AuditAction, ActionInfo] = MappingProxyType(
    {info.action: info for info in _ACTIONS}
)
if set(ACTIONS) != set(AuditAction) or len(ACTIONS) != len(_ACTIONS):
    raise RuntimeError("audit/actions.py: every AuditAction needs exactly one ActionInfo.")


def audit_action(value: str) -> AuditAction:
    """The registered action ``value``; raises UnknownAuditAction for any other string."""
    try:
        return AuditAction(value)
    except ValueError:
        raise UnknownAuditAction(
            f"{value!r} is not a registered audit action; add it to AuditAction in "
            "audit/actions.py (with a label and a description) before writing it."
        ) from None


def action_label(value: str) -> str:
    """The label of ``value`` for people; the stored string itself if it is unknown (a row
    written before the registry, say)."""
    try:
        return AuditAction(value).label
    except ValueError:
        return value


def choices() -> list[tuple[str, str]]:
    """(value, label) pairs, by label: for forms and admin filters."""
    return sorted(((a.value, a.label) for a in AuditAction), key=lambda pair: pair[1])


def _lookup(table: Mapping[str, AuditAction], name: str, what: str) -> AuditAction:
    try:
        return table[name]
    except KeyError:
        raise UnknownAuditAction(
            f"No audit action for {what} {name!r} (known: {', '.join(sorted(table))}); "
            "register one in audit/actions.py."
        ) from None


_SESSION_TRANSITIONS = MappingProxyType({
    "consent": AuditAction.SESSION_CONSENT,
    "camera_check": AuditAction.SESSION_CAMERA_CHECK,
    "start": AuditAction.SESSION_START,
    "submit": AuditAction.SESSION_SUBMIT,
    "terminate": AuditAction.SESSION_TERMINATE,
    "expire": AuditAction.SESSION_EXPIRE,
})
_INCIDENT_DECIDED = MappingProxyType({
    "confirmed": AuditAction.REVIEW_INCIDENT_CONFIRMED,
    "dismissed": AuditAction.REVIEW_INCIDENT_DISMISSED,
})
_EXPORTED = MappingProxyType({
    "incidents": AuditAction.REVIEW_INCIDENTS_EXPORTED,
    "sessions": AuditAction.REVIEW_SESSIONS_EXPORTED,
})
_STREAM_REJECTED = MappingProxyType({
    "frame": AuditAction.STREAM_FRAME_REJECTED,
    "event": AuditAction.STREAM_EVENT_REJECTED,
})
_STREAM_DUPLICATE = MappingProxyType({
    "frame": AuditAction.STREAM_FRAME_DUPLICATE,
    "event": AuditAction.STREAM_EVENT_DUPLICATE,
})
_STREAM_QUARANTINED = MappingProxyType({
    "frame": AuditAction.STREAM_FRAME_QUARANTINED,
    "event": AuditAction.STREAM_EVENT_QUARANTINED,
})


def session_transition_action(name: str) -> AuditAction:
    """The action of a session transition (exams.services.TRANSITIONS' names)."""
    return _lookup(_SESSION_TRANSITIONS, name, "session transition")


def incident_decided_action(status: str) -> AuditAction:
    """The action of an incident decided into ``status`` (monitoring Incident.Status)."""
    return _lookup(_INCIDENT_DECIDED, status, "incident status")


def exported_action(what: str) -> AuditAction:
    """The action of an export of review data (``what``: "incidents" or "sessions")."""
    return _lookup(_EXPORTED, what, "export of")


def stream_rejected_action(stream: str) -> AuditAction:
    """A message of ``stream`` (monitoring Receipt.Stream) refused for good."""
    return _lookup(_STREAM_REJECTED, stream, "rejected stream")


def stream_duplicate_action(stream: str) -> AuditAction:
    """A message of ``stream`` received again."""
    return _lookup(_STREAM_DUPLICATE, stream, "duplicate on stream")


def stream_quarantined_action(stream: str) -> AuditAction:
    """A message of ``stream`` set aside after it could not be processed."""
    return _lookup(_STREAM_QUARANTINED, stream, "quarantined stream")
