"""The one registry of proctoring checks and the incident kinds they raise.

Everything that names a check or an incident kind reads it from here: the exam's policy
(``Exam.enabled_checks``, accommodations in ``Enrollment.disabled_checks``), the vision
rules (monitoring/vision/rules.py), the browser-event mapping of the stream, the
suspicion score (reviews/scoring.py), the review pages' labels and sentences, the REST
API's schema and docs/kinds.md. Plain Python with no Django import, so that the vision
package, which must not import Django, can use it too.

A check is what an exam switches on; an incident kind is what a check raises. An
accommodation switches a check off for one student only where ``can_waive`` says so: a
frozen or looped feed has no innocent cause an accommodation could cover.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

Severity = Literal["low", "medium", "high"]
Source = Literal["vision", "audio", "browser"]


class Check(StrEnum):
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    LOOKING_AWAY = "looking_away"
    CAMERA_BLOCKED = "camera_blocked"
    CAMERA_FROZEN = "camera_frozen"
    SPEECH = "speech"
    BROWSER = "browser"


@dataclass(frozen=True)
class CheckInfo:
    name: Check
    label: str
    description: str
    is_default_on: bool
    can_waive: bool


@dataclass(frozen=True)
class IncidentKind:
    name: str
    label: str
    # One sentence for reviewers and students: what was seen, not what it means.
    description: str
    check: Check
    source: Source
    default_severity: Severity
    # Weight of one incident in the suspicion score, before severity and confidence.
    default_weight: float

    @property
    def can_waive(self) -> bool:
        return CHECKS[self.check].can_waive


_CHECKS = [
    CheckInfo(Check.NO_FACE, "No face in view",
              "Nobody is in front of the camera for a while.", True, True),
    CheckInfo(Check.MULTIPLE_FACES, "More than one face",
              "Someone else is in view for a while.", True, True),
    CheckInfo(Check.LOOKING_AWAY, "Looking away",
              "The head or the eyes turn away from the screen for a while.", True, True),
    CheckInfo(Check.CAMERA_BLOCKED, "Camera blocked, dark or stopped",
              "The picture is covered or dark, or the camera stops sending it.", True, True),
    # A frozen or looped feed (a virtual camera, a replayed video) has no innocent cause
    # that an accommodation could cover; the exam as a whole may still switch it off.
    CheckInfo(Check.CAMERA_FROZEN, "Camera frozen",
              "The picture stops changing, as a replayed or virtual camera does.", True, False),
    CheckInfo(Check.SPEECH, "Speech",
              "Someone speaks for a while (the microphone is needed).", False, True),
    CheckInfo(Check.BROWSER, "Browser events",
              "Leaving the exam tab, window or full screen; copy, cut or paste; the "
              "context menu; reloading the page.", True, True),
]

# Browser events are cheap to trigger innocently (a notification steals focus), so they
# weigh little; a second face or no face at all weighs most. An exam overrides any weight
# in ``Exam.suspicion_weights``.
_KINDS = [
    IncidentKind("no_face", "No face in view",
                 "Nobody was in front of the camera.",
                 Check.NO_FACE, "vision", "medium", 3.0),
    IncidentKind("multiple_faces", "More than one face",
                 "More than one face was in view.",
                 Check.MULTIPLE_FACES, "vision", "high", 5.0),
    IncidentKind("looking_away", "Looking away",
                 "The head or the eyes were turned away from the screen.",
                 Check.LOOKING_AWAY, "vision", "low", 2.0),
    IncidentKind("camera_blocked", "Camera blocked or dark",
                 "The picture was covered or too dark to see anyone.",
                 Check.CAMERA_BLOCKED, "vision", "medium", 3.0),
    IncidentKind("camera_frozen", "Camera frozen",
                 "The picture did not change, as with a replayed or virtual camera.",
                 Check.CAMERA_FROZEN, "vision", "high", 2.0),
    IncidentKind("speech", "Speech",
                 "Someone was speaking.",
                 Check.SPEECH, "audio", "low", 2.0),
    # The browser reports that the camera track ended: what the camera-blocked check
    # watches for, seen from the page instead of the pixels.
    IncidentKind("camera_ended", "Camera stopped",
                 "The browser stopped sending the camera's picture.",
                 Check.CAMERA_BLOCKED, "browser", "medium", 3.0),
    IncidentKind("tab_hidden", "Left the exam tab",
                 "The exam tab was hidden (another tab or program in front).",
                 Check.BROWSER, "browser", "low", 1.5),
    IncidentKind("window_blur", "Left the exam window",
                 "The exam window lost the focus.",
                 Check.BROWSER, "browser", "low", 1.0),
    IncidentKind("fullscreen_exit", "Left full screen",
                 "The exam page left full screen.",
                 Check.BROWSER, "browser", "low", 1.0),
    IncidentKind("copy_paste", "Copy, cut or paste",
                 "Text was copied, cut or pasted on the exam page.",
                 Check.BROWSER, "browser", "low", 1.5),
    IncidentKind("context_menu", "Opened the context menu",
                 "The context menu was opened on the exam page.",
                 Check.BROWSER, "browser", "low", 0.5),
    IncidentKind("page_reload", "Reloaded the page",
                 "The exam page was reloaded.",
                 Check.BROWSER, "browser", "low", 0.5),
]

CHECKS: MappingProxyType[str, CheckInfo] = MappingProxyType({c.name: c for c in _CHECKS})
INCIDENT_KINDS: MappingProxyType[str, IncidentKind] = MappingProxyType(
    {k.name: k for k in _KINDS}
)

SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high")
# The checks the vision rules engine runs on frames and the voice stream.
ANALYSED_CHECKS = frozenset(
    {k.check for k in _KINDS if k.source in ("vision", "audio")}
)
BROWSER_KINDS = frozenset(k.name for k in _KINDS if k.check == Check.BROWSER)
DEFAULT_CHECKS: tuple[Check, ...] = tuple(c.name for c in _CHECKS if c.is_default_on)
DEFAULT_WEIGHTS: MappingProxyType[str, float] = MappingProxyType(
    {k.name: k.default_weight for k in _KINDS}
)
KIND_CHECK: MappingProxyType[str, Check] = MappingProxyType({k.name: k.check for k in _KINDS})


def kind_label(name: str) -> str:
    """The human label of an incident kind; an unknown name (an old row) reads as itself."""
    kind = INCIDENT_KINDS.get(name)
    return kind.label if kind is not None else name.replace("_", " ")


def kind_description(name: str) -> str:
    kind = INCIDENT_KINDS.get(name)
    return kind.description if kind is not None else ""


def waivable_checks() -> frozenset[Check]:
    return frozenset(c.name for c in _CHECKS if c.can_waive)
