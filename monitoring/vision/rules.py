"""Incident rules: turn per-frame observations into incident open/extend/close events.

One ``RuleEngine`` per exam session. It is pure (no clock, no I/O): the caller passes each
analysed frame as a ``FrameObservation`` (timestamp in seconds since the session started,
the faces the privacy core found, head pose, gaze and frame statistics) and each audio chunk
as a ``VoiceActivity``; the engine returns the ``IncidentEvent`` values that the Django side
persists. Thresholds and minimum durations come from a ``RulePolicy`` that the exam sets.

How a rule fires, for every kind alike:

- a condition (say "no face") starts a *run* at the first frame where it holds; gaps where
  it does not hold that are shorter than ``close_after_s`` do not end the run (hysteresis:
  one frame where the detector blinks must not split an incident in two, nor open ten);
- once the run has lasted its kind's minimum duration, an incident *opens*, back-dated to
  the start of the run;
- it *extends* (same ``incident_id``) when its severity rises or a new evidence frame is
  taken, and *closes* once the condition has not held for ``close_after_s``, ending at the
  last frame where it held.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from exams.kinds import ANALYSED_CHECKS, INCIDENT_KINDS, SEVERITIES, Check
from monitoring.vision.detect import Face
from monitoring.vision.errors import VisionError
from monitoring.vision.pose import HeadPose

if TYPE_CHECKING:
    from monitoring.vision.audio import VoiceActivity
    from monitoring.vision.gaze import Gaze

# Check and kind names, default severities: the one registry (exams/kinds.py, no Django).
NO_FACE = Check.NO_FACE.value
MULTIPLE_FACES = Check.MULTIPLE_FACES.value
LOOKING_AWAY = Check.LOOKING_AWAY.value
CAMERA_BLOCKED = Check.CAMERA_BLOCKED.value
CAMERA_FROZEN = Check.CAMERA_FROZEN.value
SPEECH = Check.SPEECH.value
CHECKS = frozenset(str(check) for check in ANALYSED_CHECKS)

Severity = Literal["low", "medium", "high"]
_SEVERITIES: tuple[Severity, ...] = SEVERITIES
# Each check here raises the incident kind of the same name; its default severity says
# what a reviewer should look at first (the registry explains each choice).
_BASE_SEVERITY: dict[str, Severity] = {
    name: INCIDENT_KINDS[name].default_severity for name in CHECKS
}

# Frame statistics are computed on a small grey thumbnail: cheap (well under 1 ms at
# 640x480) and it averages away sensor noise for the darkness test while keeping enough of
# it (4x4 blocks at 640x480) that a live camera never yields two identical thumbnails.
_THUMBNAIL_SIZE = (160, 120)
_SNAPSHOT_VERSION = 1


class RuleError(VisionError):
    """A policy or an observation the rules engine cannot accept."""


class UnknownCheck(RuleError):
    """A check name that is not one of ``CHECKS``."""


class ObservationOutOfOrder(RuleError):
    """An observation is older than the previous one of the same stream."""


def _check_names(names: Iterable[str]) -> frozenset[str]:
    names = frozenset(names)
    unknown = names - CHECKS
    if unknown:
        raise UnknownCheck(f"Unknown check(s) {sorted(unknown)}; the checks are {sorted(CHECKS)}.")
    return names


@dataclass(frozen=True)
class RulePolicy:
    """An exam's incident thresholds. Durations in seconds, angles in degrees.

    Build it from the exam, then switch rules off per student with
    ``with_accommodations``. ``without_durations`` gives the policy used on a single
    image, where every rule fires on the one frame there is.
    """

    enabled_checks: frozenset[str] = CHECKS
    # Leaning out of view to pick up a pen or adjust the chair takes a few seconds.
    no_face_min_s: float = 5.0
    # Someone walking past behind the student is in view for a second or two; a helper
    # who stays is not.
    multiple_faces_min_s: float = 3.0
    # Reading a screen wider than the camera's view turns the head by up to about 30
    # degrees at arm's length; past 35 the student looks beside the screen.
    looking_away_yaw_deg: float = 35.0
    # Writing on paper on the desk pitches the head down by 20-30 degrees, which exams with
    # scratch paper allow; past 35 the head is in the lap.
    looking_away_pitch_deg: float = 35.0
    # Iris offset from the eye centre, as a share of half the eye width (0 = centre, 1 =
    # at the corner). Reading across a screen moves it by up to about 0.35.
    looking_away_gaze: float = 0.5
    # A glance aside is normal; a sustained one is worth a look.
    looking_away_min_s: float = 5.0
    # A hand passing over the lens, or the auto-exposure of a webcam adjusting after the
    # lights change, lasts a second or two.
    camera_blocked_min_s: float = 3.0
    # Network stalls repeat a frame for a second or two; a frozen or looped feed persists.
    camera_frozen_min_s: float = 5.0
    # Reading a question aloud under one's breath is brief; a conversation is not.
    speech_min_s: float = 3.0
    # Gaps shorter than this do not end an incident: detectors blink for a frame or two,
    # and at the default 2 analysed frames per second two seconds is four frames.
    close_after_s: float = 2.0
    # Observations further apart than this do not continue a run or an incident: nothing
    # was seen in between (a dropped connection, a paused upload), and the gap itself is
    # the session's business, not evidence of the condition.
    max_gap_s: float = 10.0
    # An incident that lasts this long is raised one severity level.
    escalate_after_s: float = 30.0
    # Faces below this detector score do not count for no_face / multiple_faces. The
    # privacy core errs towards finding faces (a missed face leaks); counting people
    # needs surer detections.
    face_min_score: float = 0.6
    # camera_blocked: mean grey level (0-255) at or below this (a covered lens or the
    # lights off reads 0-15; a dim room with a face in it 40 or more) ...
    camera_blocked_max_luma: float = 20.0
    # ... or grey-level standard deviation at or below this (a hand, paper or tape over the
    # lens is nearly uniform; a real scene measures 25 or more).
    camera_blocked_max_contrast: float = 6.0
    # camera_frozen: mean absolute grey-level difference from the previous analysed frame at
    # or below this. Sensor noise alone gives a live camera 0.3 or more on the thumbnail.
    camera_frozen_max_change: float = 0.05
    # Evidence: the frame where the run started, the frame where it opened, then one every
    # ``evidence_every_s`` while it lasts, up to ``max_evidence_frames``.
    evidence_every_s: float = 10.0
    max_evidence_frames: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "enabled_checks", _check_names(self.enabled_checks))
        for name in (
            "no_face_min_s",
            "multiple_faces_min_s",
            "looking_away_min_s",
            "camera_blocked_min_s",
            "camera_frozen_min_s",
            "speech_min_s",
            "close_after_s",
            "max_gap_s",
            "escalate_after_s",
            "looking_away_yaw_deg",
            "looking_away_pitch_deg",
            "looking_away_gaze",
            "face_min_score",
            "camera_blocked_max_luma",
            "camera_blocked_max_contrast",
            "camera_frozen_max_change",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise RuleError(f"RulePolicy.{name} must be a number >= 0, got {value!r}.")
        if self.evidence_every_s <= 0 or self.max_evidence_frames < 2:
            raise RuleError(
                "RulePolicy needs evidence_every_s > 0 and max_evidence_frames >= 2, got "
                f"{self.evidence_every_s!r} and {self.max_evidence_frames!r}."
            )

    def with_accommodations(self, waived_checks: Iterable[str]) -> RulePolicy:
        """This policy with ``waived_checks`` switched off (a student's accommodations)."""
        return replace(self, enabled_checks=self.enabled_checks - _check_names(waived_checks))

    def without_durations(self) -> RulePolicy:
        """This policy with every minimum duration at zero, for a single image."""
        return replace(
            self,
            no_face_min_s=0.0,
            multiple_faces_min_s=0.0,
            looking_away_min_s=0.0,
            camera_blocked_min_s=0.0,
            camera_frozen_min_s=0.0,
            speech_min_s=0.0,
        )

    def min_duration_s(self, kind: str) -> float:
        return float(getattr(self, f"{kind}_min_s"))


@dataclass(frozen=True, slots=True)
class FrameStats:
    """Cheap whole-frame measurements for the camera rules.

    ``thumbnail`` is a 160x120 grey copy (bytes) kept only until the next frame is compared
    with it: far too small to identify anyone, and never stored.
    """

    mean_luma: float
    luma_contrast: float
    thumbnail: bytes = field(repr=False)


def frame_stats(image_bgr: npt.NDArray[np.uint8]) -> FrameStats:
    """Mean grey level, grey-level standard deviation and a thumbnail of a BGR frame."""
    if image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise RuleError(
            f"Expected a BGR uint8 image of shape (height, width, 3), got dtype "
            f"{image_bgr.dtype} and shape {image_bgr.shape}."
        )
    small = cv2.resize(image_bgr, _THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    mean, std = cv2.meanStdDev(grey)
    return FrameStats(
        mean_luma=float(mean[0, 0]), luma_contrast=float(std[0, 0]), thumbnail=grey.tobytes()
    )


def frame_change(previous: FrameStats, current: FrameStats) -> float:
    """Mean absolute grey-level difference between two frames' thumbnails."""
    a = np.frombuffer(previous.thumbnail, dtype=np.uint8).astype(np.int16)
    b = np.frombuffer(current.thumbnail, dtype=np.uint8).astype(np.int16)
    if a.shape != b.shape:
        return math.inf
    return float(np.abs(a - b).mean())


@dataclass(frozen=True, slots=True)
class FrameObservation:
    """What the analysis saw in one frame.

    ``t_s``: seconds since the session started. ``frame_id``: the caller's reference to
    the stored (anonymized) frame, kept as evidence. ``pose`` and ``gaze`` are of the
    primary (largest) face, ``None`` when not measured. ``person_count``, when given, is
    how many of ``faces`` the analysis confirmed as people (``BehaviourAnalyzer`` checks
    every face beyond the first with the face mesh); ``None`` counts the faces scoring at
    least ``RulePolicy.face_min_score``. ``is_pose_unreadable``: the primary face was big
    enough and lit but yielded no pose (a head turned into profile); it counts as looking
    away.
    """

    t_s: float
    frame_id: int
    faces: tuple[Face, ...]
    stats: FrameStats
    pose: HeadPose | None = None
    gaze: Gaze | None = None
    person_count: int | None = None
    is_pose_unreadable: bool = False


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """A change to one incident, for the Django side to persist.

    ``action`` is ``"open"`` (create the row), ``"extend"`` (update severity, score and
    evidence of the row with this ``incident_id``) or ``"close"`` (set ``ended_at``).
    ``incident_id`` is unique within one engine (one session). Times are seconds since the
    session started; ``ended_at`` is ``None`` until the incident closes. ``score`` in
    [0, 1] is the share of analysed frames (or audio chunks) in the incident where the
    condition held. ``evidence_frame_ids`` are the callers' frame ids (audio chunk ids for
    ``speech``).
    """

    action: Literal["open", "extend", "close"]
    incident_id: int
    kind: str
    started_at: float
    ended_at: float | None
    severity: Severity
    score: float
    evidence_frame_ids: tuple[int, ...]


@dataclass
class _Track:
    """The state of one rule: a run of its condition and the incident it opened."""

    kind: str
    run_started_at: float | None = None
    run_first_frame: int = 0
    last_true_at: float = 0.0
    frames_true: int = 0
    frames_seen: int = 0
    # Frames seen up to the last one where the condition held: the ones after it are not
    # part of the incident.
    frames_in_incident: int = 0
    incident_id: int | None = None
    severity: Severity = "low"
    escalated: bool = False
    evidence: list[int] = field(default_factory=list)
    last_evidence_at: float = 0.0


class RuleEngine:
    """The incident rules of one exam session. Not thread-safe; one per session."""

    def __init__(self, policy: RulePolicy) -> None:
        self.policy = policy
        self._tracks = {kind: _Track(kind) for kind in sorted(CHECKS)}
        self._next_incident_id = 1
        self._last_video_t: float | None = None
        self._last_audio_t: float | None = None
        # The previous frame's thumbnail lives in memory only; a snapshot keeps its digest.
        self._previous_stats: FrameStats | None = None
        self._previous_digest: str | None = None

    @property
    def open_kinds(self) -> frozenset[str]:
        """The kinds of the incidents open now."""
        return frozenset(k for k, t in self._tracks.items() if t.incident_id is not None)

    def observe(self, observation: FrameObservation) -> list[IncidentEvent]:
        """Apply one analysed frame; returns the events it caused (often none).

        Raises ``ObservationOutOfOrder`` when ``t_s`` is older than the previous frame's.
        """
        t = observation.t_s
        if self._last_video_t is not None and t < self._last_video_t:
            raise ObservationOutOfOrder(
                f"Frame {observation.frame_id} at t={t:.3f} s is older than the previous "
                f"frame at t={self._last_video_t:.3f} s; feed frames in capture order."
            )
        self._last_video_t = t
        policy = self.policy
        stats = observation.stats
        is_blocked = (
            stats.mean_luma <= policy.camera_blocked_max_luma
            or stats.luma_contrast <= policy.camera_blocked_max_contrast
        )
        previous, self._previous_stats = self._previous_stats, stats
        previous_digest, self._previous_digest = self._previous_digest, _digest(stats)
        if previous is not None:
            change = frame_change(previous, stats)
        else:
            # Restored from a snapshot: only an exact repeat is recognised.
            is_repeat = previous_digest is not None and previous_digest == self._previous_digest
            change = 0.0 if is_repeat else math.inf
        # A black frame repeats itself without being frozen.
        is_frozen = not is_blocked and change <= policy.camera_frozen_max_change
        conditions: dict[str, bool | None] = {
            CAMERA_BLOCKED: is_blocked,
            CAMERA_FROZEN: is_frozen,
        }
        if is_blocked or is_frozen:
            # The frame says nothing about the student: leave the face rules as they were
            # rather than report an empty seat behind a covered lens.
            conditions.update({NO_FACE: None, MULTIPLE_FACES: None, LOOKING_AWAY: None})
        else:
            people = observation.person_count
            if people is None:
                people = sum(f.score >= policy.face_min_score for f in observation.faces)
            conditions[NO_FACE] = people == 0
            conditions[MULTIPLE_FACES] = people >= 2
            conditions[LOOKING_AWAY] = self._is_looking_away(observation) if people else None
        events: list[IncidentEvent] = []
        for kind, holds in conditions.items():
            events.extend(self._update(kind, holds, t, observation.frame_id))
        return events

    def observe_audio(self, activity: VoiceActivity) -> list[IncidentEvent]:
        """Apply one audio chunk's voice activity; returns the events it caused."""
        t = activity.t_s
        if self._last_audio_t is not None and t < self._last_audio_t:
            raise ObservationOutOfOrder(
                f"Audio chunk {activity.chunk_id} at t={t:.3f} s is older than the previous "
                f"chunk at t={self._last_audio_t:.3f} s; feed chunks in capture order."
            )
        self._last_audio_t = t
        events = list(self._update(SPEECH, activity.is_speech, t, activity.chunk_id))
        track = self._tracks[SPEECH]
        is_conversation = activity.is_speech and activity.is_multiple_voices_likely
        if is_conversation and track.incident_id is not None and track.severity == "low":
            # Two voices make a conversation likelier than reading aloud.
            track.severity = "medium"
            events.append(self._event("extend", track, None))
        return events

    def finish(self) -> list[IncidentEvent]:
        """Close every open incident (the session ended); returns the close events."""
        events = []
        for track in self._tracks.values():
            if track.incident_id is not None:
                events.append(self._close(track))
            track.run_started_at = None
        return events

    def snapshot(self) -> dict[str, Any]:
        """The engine's state as JSON-ready values, to carry a session across processes
        (a Celery task per frame, a worker restart). Holds no pixels: the previous frame is
        kept as a digest, so a frozen feed is still recognised after ``restore``."""
        return {
            "version": _SNAPSHOT_VERSION,
            "next_incident_id": self._next_incident_id,
            "last_video_t": self._last_video_t,
            "last_audio_t": self._last_audio_t,
            "previous_digest": self._previous_digest,
            "tracks": {kind: asdict(track) for kind, track in self._tracks.items()},
        }

    @classmethod
    def restore(cls, policy: RulePolicy, snapshot: dict[str, Any]) -> RuleEngine:
        """An engine continuing from ``snapshot()``; raises ``RuleError`` on a snapshot of
        another version or shape."""
        if snapshot.get("version") != _SNAPSHOT_VERSION:
            raise RuleError(
                f"Rule engine snapshot version {snapshot.get('version')!r} is not "
                f"{_SNAPSHOT_VERSION}; start a new engine for this session."
            )
        engine = cls(policy)
        try:
            engine._next_incident_id = int(snapshot["next_incident_id"])
            engine._last_video_t = snapshot["last_video_t"]
            engine._last_audio_t = snapshot["last_audio_t"]
            engine._previous_digest = snapshot["previous_digest"]
            for kind, fields in snapshot["tracks"].items():
                engine._tracks[kind] = _Track(**fields)
        except (KeyError, TypeError) as error:
            raise RuleError(
                f"Rule engine snapshot is malformed ({error!r}); start a new engine for this "
                "session."
            ) from error
        return engine

    def _is_looking_away(self, observation: FrameObservation) -> bool | None:
        policy = self.policy
        pose, gaze = observation.pose, observation.gaze
        if observation.is_pose_unreadable:
            return True
        if pose is None and gaze is None:
            return None
        if pose is not None and (
            abs(pose.yaw_deg) > policy.looking_away_yaw_deg
            or abs(pose.pitch_deg) > policy.looking_away_pitch_deg
        ):
            return True
        # Vertical gaze is left to pitch: eyelids hide the iris when looking down and the
        # estimate is noisy.
        return gaze is not None and abs(gaze.x) > policy.looking_away_gaze

    def _update(
        self, kind: str, holds: bool | None, t: float, frame_id: int
    ) -> list[IncidentEvent]:
        track = self._tracks[kind]
        events: list[IncidentEvent] = []
        if kind not in self.policy.enabled_checks:
            # Switched off mid-session (an accommodation granted): end what it had open.
            if track.incident_id is not None:
                events.append(self._close(track))
            track.run_started_at = None
            return events
        if holds is None:
            return events
        if (
            holds
            and track.run_started_at is not None
            and t - track.last_true_at > self.policy.max_gap_s
        ):
            # Nothing was observed in between (a dropped connection): the run ends at its
            # last sighting and a new one starts here.
            if track.incident_id is not None:
                events.append(self._close(track))
            track.run_started_at = None
        if holds:
            if track.run_started_at is None:
                track.run_started_at = t
                track.run_first_frame = frame_id
                track.frames_true = track.frames_seen = track.frames_in_incident = 0
            track.last_true_at = t
            track.frames_true += 1
            track.frames_seen += 1
            track.frames_in_incident = track.frames_seen
            if track.incident_id is None:
                if t - track.run_started_at >= self.policy.min_duration_s(kind):
                    events.append(self._open(track, t, frame_id))
            else:
                changed = False
                if (
                    t - track.last_evidence_at >= self.policy.evidence_every_s
                    and len(track.evidence) < self.policy.max_evidence_frames
                ):
                    track.evidence.append(frame_id)
                    track.last_evidence_at = t
                    changed = True
                if (
                    not track.escalated
                    and t - track.run_started_at >= self.policy.escalate_after_s
                ):
                    track.escalated = True
                    track.severity = _raise(track.severity)
                    changed = True
                if changed:
                    events.append(self._event("extend", track, None))
        elif track.run_started_at is not None:
            track.frames_seen += 1
            if t - track.last_true_at >= self.policy.close_after_s:
                if track.incident_id is not None:
                    events.append(self._close(track))
                track.run_started_at = None
        return events

    def _open(self, track: _Track, t: float, frame_id: int) -> IncidentEvent:
        track.incident_id = self._next_incident_id
        self._next_incident_id += 1
        track.severity = _BASE_SEVERITY[track.kind]
        track.escalated = False
        assert track.run_started_at is not None
        if t - track.run_started_at >= self.policy.escalate_after_s > 0:
            track.escalated = True
            track.severity = _raise(track.severity)
        track.evidence = [track.run_first_frame]
        if frame_id != track.run_first_frame:
            track.evidence.append(frame_id)
        track.last_evidence_at = t
        return self._event("open", track, None)

    def _close(self, track: _Track) -> IncidentEvent:
        event = self._event("close", track, track.last_true_at)
        track.incident_id = None
        track.run_started_at = None
        return event

    @staticmethod
    def _event(
        action: Literal["open", "extend", "close"], track: _Track, ended_at: float | None
    ) -> IncidentEvent:
        assert track.incident_id is not None and track.run_started_at is not None
        return IncidentEvent(
            action=action,
            incident_id=track.incident_id,
            kind=track.kind,
            started_at=track.run_started_at,
            ended_at=ended_at,
            severity=track.severity,
            score=round(track.frames_true / max(track.frames_in_incident, 1), 3),
            evidence_frame_ids=tuple(track.evidence),
        )


def _digest(stats: FrameStats) -> str:
    return hashlib.blake2b(stats.thumbnail, digest_size=16).hexdigest()


def _raise(severity: Severity) -> Severity:
    return _SEVERITIES[min(_SEVERITIES.index(severity) + 1, len(_SEVERITIES) - 1)]
