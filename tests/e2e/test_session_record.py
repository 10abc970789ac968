"""The record of one whole exam session, read the way an appeals board would read it.

A student goes through the real pages in Chromium (consent, camera check, start), its fake
webcam plays the labelled exam clip of tests/build_clips.py (a face, nobody, a face, two
faces, a face, a head turned well away, a face, nobody until the student submits), and the
student submits. Then the test reads what was stored and checks, on the clip's own time
line (every frame carries its index in a code strip, read back from the stored evidence):

- every labelled behaviour gave its incident, starting inside its segment, and nothing
  started in the clean parts;
- after submit every incident is closed;
- every evidence frame linked to an incident was captured inside the incident's span and
  shows the scene the incident is about;
- every stored evidence frame is anonymized: the face detector finds no face it would
  count, and the pixels where the clip's faces are have lost their detail.

All findings are collected and reported together, so one run (about a minute of video)
says everything that is wrong with the record. A screenshot of the reviewer's timeline
of the session goes to var/screenshots/session_record_timeline.png.

Its own Daphne (embedded mode) shares the test process's media folder and key ring, so
the test reads the stored evidence through the project's encrypted storage.
"""

from __future__ import annotations

import base64
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from django.urls import reverse

from exams.models import ExamSession
from monitoring.models import Evidence, Incident, Receipt
from monitoring.vision.pipeline import shared_face_finder
from monitoring.vision.rules import RulePolicy
from tests.build_clips import (
    EXAM_CLIP,
    EXAM_CLIP_FPS,
    build_exam_clip,
    exam_clip_scene_at,
    exam_clip_still,
    read_frame_index,
)
from tests.e2e.conftest import launch_chromium, login, start_server, wait_until_page_left

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
# The page grabs this many frames a second (the exam's setting, 1-5).
EXAM_FPS = 2
# An incident starts at the first frame where its condition held (back-dated by the
# rules): within a frame or two of its segment's start, on the page's clock.
START_TOLERANCE_S = 2.0
# The evidence margin the issue asks for: a frame is the incident's if captured inside
# its span, give or take this.
EVIDENCE_MARGIN_S = 1.0
# Faces the product itself counts as a person (RulePolicy.face_min_score): a stored image
# must have none. The anonymized ovals can still draw a weak detection (up to 0.57
# measured on this clip) where a real face at the same size scores 0.86-0.97.
COUNTED_FACE_SCORE = RulePolicy().face_min_score
# Where the clip's still has a face, the stored image keeps at most this share of the
# original's fine detail (variance of the Laplacian over the face's inner ellipse;
# measured: at most 0.3 %) and correlates with it below this (measured: at most -0.05).
MAX_DETAIL_KEPT = 0.05
MAX_FACE_CORRELATION = 0.5
# People in each scene of the clip, as the detector must count them on the still: the
# control that the measures above look where the faces are.
PEOPLE_IN_SCENE = {"present": 1, "absent": 0, "two_faces": 2, "turned": 1}


@dataclass(frozen=True)
class Segment:
    scene: str
    start_s: float
    end_s: float
    kinds: tuple[str, ...]


def _segments() -> list[Segment]:
    segments, start = [], 0.0
    for scene, seconds, kinds in EXAM_CLIP:
        segments.append(Segment(scene, start, start + seconds, kinds))
        start += seconds
    return segments


SEGMENTS = _segments()
CLIP_S = SEGMENTS[-1].end_s
# Submit once the last segment's no_face incident (5 s minimum) has surely opened, and
# before the clip loops back to its first frame.
SUBMIT_AT_CLIP_S = CLIP_S - 2.5


@pytest.fixture(scope="session")
def exam_clip_browser(playwright_instance):
    """Chromium whose fake webcam plays the exam clip (built once, cached by version)."""
    clip = build_exam_clip()
    browser = launch_chromium(playwright_instance, [f"--use-file-for-fake-video-capture={clip}"])
    yield browser
    browser.close()


@pytest.fixture
def record_server(transactional_db, settings, e2e_log_dir):
    """Daphne on the test database that stores evidence where this process reads it."""
    ring = ",".join(
        f"{version}:{base64.b64encode(key).decode()}"
        for version, key in settings.PROCTOR_KEYRING.items()
    )
    server = start_server(e2e_log_dir, name="daphne-record", env={
        "MEDIA_ROOT": str(settings.MEDIA_ROOT), "PROCTOR_KEYRING": ring,
        "PROCTOR_KEYRING_ACTIVE": str(settings.PROCTOR_KEYRING_ACTIVE),
    })
    yield server
    server.stop()


def _image(evidence: Evidence) -> npt.NDArray[np.uint8]:
    """The stored evidence image, decrypted by the evidence storage."""
    with evidence.image.open("rb") as handle:
        data = handle.read()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"evidence {evidence.seq} is not an image"
    return image


def _clip_s(evidence: Evidence) -> float | None:
    index = read_frame_index(_image(evidence))
    return None if index is None else index / EXAM_CLIP_FPS


def _wait(predicate, timeout_s: float, what: str, interval_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval_s)


def _stream_and_submit(page, server, session: ExamSession) -> list[str]:
    """The student's side, through the real pages. Returns the kinds of the incidents open
    just before the student submits."""
    page.goto(server.url(reverse("exams:consent", args=[session.pk])))
    page.check("#agree")
    page.get_by_role("button", name="I agree, continue to the camera check").click()
    page.wait_for_selector("#anonymized-preview:not([hidden])", timeout=30_000)
    page.click("#camera-ok")
    page.get_by_role("button", name="Start the exam now").click()
    page.wait_for_selector("#exam-session[data-stream-state='online']", timeout=30_000)

    latest = Evidence.objects.filter(session=session).order_by("-seq")

    def clip_reached_submit_time() -> bool:
        evidence = latest.first()
        clip_s = _clip_s(evidence) if evidence else None
        return clip_s is not None and clip_s >= SUBMIT_AT_CLIP_S

    _wait(clip_reached_submit_time, CLIP_S + 30, "the clip to reach its last seconds")
    open_kinds = list(
        Incident.objects.filter(session=session, ended_at__isnull=True)
        .values_list("kind", flat=True)
    )
    page.get_by_role("button", name="Submit and finish the exam").click()
    page.wait_for_url("**/finished/", timeout=15_000)
    return open_kinds


def _screenshot_timeline(context, server, reviewer, session: ExamSession) -> Path:
    page = login(context, server, reviewer)
    page.set_viewport_size({"width": 1280, "height": 900})
    selected = Incident.objects.filter(session=session, kind="multiple_faces").first()
    query = f"?incident={selected.pk}" if selected else ""
    response = page.goto(server.url(reverse("reviews:timeline", args=[session.pk]) + query))
    assert response is not None and response.ok, response and response.status
    # The evidence thumbnails load lazily, as the reviewer scrolls: load them all now.
    page.evaluate("document.querySelectorAll('ul.evidence img')"
                  ".forEach((i) => { i.loading = 'eager'; })")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('ul.evidence img'))"
        ".every((i) => i.complete && i.naturalWidth > 0)",
        timeout=20_000,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "session_record_timeline.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _sharpness(grey: npt.NDArray[np.float64], inside: npt.NDArray[np.bool_]) -> float:
    """Fine detail: the variance of the Laplacian over the pixels ``inside``."""
    return float(cv2.Laplacian(grey, cv2.CV_64F)[inside].var())


def _correlation(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return float(((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std() + 1e-9))


class AnonymityCheck:
    """Compares a stored frame with the clip's still of the same scene at the same size:
    the detector's view of both, and the detail left where the still has faces."""

    def __init__(self) -> None:
        self.finder = shared_face_finder()
        self._stills: dict[tuple[str, tuple[int, int]], tuple[npt.NDArray, list]] = {}
        # The worst of each measure over the frames checked, for the test's output.
        self.worst = {"score": 0.0, "detail kept": 0.0, "correlation": -1.0}

    def _still(self, scene: str, size: tuple[int, int]):
        key = (scene, size)
        if key not in self._stills:
            still = cv2.resize(exam_clip_still(scene), size, interpolation=cv2.INTER_AREA)
            faces = [f for f in self.finder.detect(still) if f.score >= COUNTED_FACE_SCORE]
            assert len(faces) == PEOPLE_IN_SCENE[scene], (scene, size, faces)
            self._stills[key] = (still, faces)
        return self._stills[key]

    def problems(self, image: npt.NDArray[np.uint8], scene: str | None) -> list[str]:
        found = []
        detected = self.finder.detect(image)
        self.worst["score"] = max([self.worst["score"], *(f.score for f in detected)])
        counted = [f for f in detected if f.score >= COUNTED_FACE_SCORE]
        if counted:
            found.append(f"a face is detectable (scores {[round(f.score, 2) for f in counted]})")
        if scene is None:
            return found
        height, width = image.shape[:2]
        still, faces = self._still(scene, (width, height))
        stored = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64)
        original = cv2.cvtColor(still, cv2.COLOR_BGR2GRAY).astype(np.float64)
        for face in faces:
            x1, y1, x2, y2 = (max(0, v) for v in face.box)
            # The features, not the box's corners (hair, collar, background): an ellipse
            # at 80 % of the one the box holds.
            inner = np.zeros((y2 - y1, x2 - x1), np.uint8)
            cv2.ellipse(inner, ((x2 - x1) // 2, (y2 - y1) // 2),
                        (int(0.4 * (x2 - x1)), int(0.4 * (y2 - y1))), 0, 0, 360, 255, -1)
            inside = inner > 0
            a, b = original[y1:y2, x1:x2], stored[y1:y2, x1:x2]
            kept = _sharpness(b, inside) / max(_sharpness(a, inside), 1e-9)
            correlation = _correlation(a[inside], b[inside])
            self.worst["detail kept"] = max(self.worst["detail kept"], kept)
            self.worst["correlation"] = max(self.worst["correlation"], correlation)
            if kept > MAX_DETAIL_KEPT or correlation > MAX_FACE_CORRELATION:
                found.append(
                    f"the face at {face.box} keeps {kept:.1%} of its detail and correlates "
                    f"{correlation:.2f} with the original"
                )
        return found


def _segment_of(clip_s: float) -> Segment:
    return next(s for s in SEGMENTS if s.start_s <= clip_s < s.end_s)


def test_a_whole_session_gives_a_record_an_appeals_board_can_trust(
    session, student, reviewer, exam_clip_browser, record_server
):
    exam = session.exam
    exam.frame_rate_fps = EXAM_FPS
    exam.save(update_fields=["frame_rate_fps"])
    student_context = exam_clip_browser.new_context()
    page = login(student_context, record_server, student)
    try:
        open_at_submit = _stream_and_submit(page, record_server, session)
    except Exception:
        print(page.url, page.console_lines, record_server.process.tail())
        raise
    student_context.close()
    wait_until_page_left(session)
    frames = Receipt.objects.filter(session=session, stream="frame")
    _wait(lambda: not frames.filter(processed_at__isnull=True).exists(), 30,
          "the frames in flight to be processed")
    session.refresh_from_db()
    assert session.state == ExamSession.State.SUBMITTED
    # The scenario itself: a no_face incident was running when the student submitted.
    assert "no_face" in open_at_submit, open_at_submit
    # Give a close-out after submit a moment, should it run after the page left.
    deadline = time.monotonic() + 5
    while (Incident.objects.filter(session=session, ended_at__isnull=True).exists()
           and time.monotonic() < deadline):
        time.sleep(0.5)

    reviewer_context = exam_clip_browser.new_context()
    try:
        screenshot = _screenshot_timeline(reviewer_context, record_server, reviewer, session)
    finally:
        reviewer_context.close()
    print(f"timeline screenshot: {screenshot}")

    # --- The clip's time line, read from the stored frames themselves ------------------
    evidence = list(Evidence.objects.filter(session=session).order_by("seq"))
    images = {e.seq: _image(e) for e in evidence}
    clip_s_of = {
        e.seq: (None if (index := read_frame_index(images[e.seq])) is None
                else index / EXAM_CLIP_FPS)
        for e in evidence
    }
    readable = [e for e in evidence if clip_s_of[e.seq] is not None]
    assert len(readable) >= 0.9 * len(evidence), "the code strip is unreadable in most frames"
    in_order = [clip_s_of[e.seq] for e in readable]
    assert in_order == sorted(in_order), "the clip looped or frames are out of order"
    # The exam page's camera starts the clip from its first frame.
    assert in_order[0] <= 3.0 and in_order[-1] >= SUBMIT_AT_CLIP_S, (in_order[0], in_order[-1])
    # Page clock minus clip time: one constant (the camera started the clip) plus the
    # grab's phase, at most one clip frame.
    offsets = [e.captured_at.timestamp() - clip_s_of[e.seq] for e in readable]
    offset = statistics.median(offsets)
    assert max(offsets) - min(offsets) < 1.0, (min(offsets), max(offsets))
    print(f"page clock vs clip: spread {max(offsets) - min(offsets):.2f} s over "
          f"{len(readable)} of {len(evidence)} stored frames")

    def clip_s(at: datetime) -> float:
        return at.timestamp() - offset

    incidents = list(Incident.objects.filter(session=session).order_by("started_at"))
    print("incidents on the clip's time line (s):")
    for incident in incidents:
        end = f"{clip_s(incident.ended_at):5.1f}" if incident.ended_at else " open"
        print(f"  {incident.pk:>4} {incident.kind:<16} {clip_s(incident.started_at):5.1f} "
              f"-> {end}  evidence {incident.evidence.count()}")
    problems: dict[str, list[str]] = {}

    def problem(check: str, text: str) -> None:
        problems.setdefault(check, []).append(text)

    # 1. Every labelled behaviour gave its incident, starting inside its segment.
    for segment in SEGMENTS:
        for kind in segment.kinds:
            matching = [
                i for i in incidents if i.kind == kind
                and abs(clip_s(i.started_at) - segment.start_s) <= START_TOLERANCE_S
            ]
            if len(matching) != 1:
                problem("expected incidents", f"{len(matching)} {kind} incidents start near "
                        f"{segment.start_s:g} s ({segment.scene} until {segment.end_s:g} s)")
    # 2. Nothing starts in the clean parts, and nothing lasts beyond its segment.
    for incident in incidents:
        start = clip_s(incident.started_at)
        home = [
            s for s in SEGMENTS if incident.kind in s.kinds
            and s.start_s - START_TOLERANCE_S <= start < s.end_s
        ]
        if not home:
            problem("clean parts", f"{incident.kind} starts at {start:.1f} s, in "
                    f"{_segment_of(max(0.0, start)).scene!r}, where nothing is expected")
        elif incident.ended_at and clip_s(incident.ended_at) > home[0].end_s + START_TOLERANCE_S:
            problem("clean parts", f"{incident.kind} lasts until "
                    f"{clip_s(incident.ended_at):.1f} s, past its segment's end at "
                    f"{home[0].end_s:g} s")
    # 3. After submit, every incident is closed.
    for incident in incidents:
        if incident.ended_at is None:
            problem("closed at submit", f"{incident.kind} from "
                    f"{clip_s(incident.started_at):.1f} s has no ended_at")
    # 4. Evidence belongs to its incident: captured inside its span, showing its scene.
    by_pk = {i.pk: i for i in incidents}
    for item in evidence:
        if item.incident_id is None:
            continue
        incident = by_pk[item.incident_id]
        captured = clip_s(item.captured_at)
        start = clip_s(incident.started_at)
        end = clip_s(incident.ended_at) if incident.ended_at else None
        if captured < start - EVIDENCE_MARGIN_S or (
            end is not None and captured > end + EVIDENCE_MARGIN_S
        ):
            span = f"{start:.1f}-{end:.1f}" if end is not None else f"{start:.1f}-open"
            problem("evidence in span", f"frame {item.seq} captured at {captured:.1f} s is "
                    f"linked to {incident.kind} {span} s")
        # What the frame shows (its own code strip, not a timestamp): the incident's
        # behaviour, or a moment within the margin of its segment.
        shown = clip_s_of[item.seq]
        if shown is not None and not any(
            incident.kind in s.kinds
            and s.start_s - EVIDENCE_MARGIN_S <= shown < s.end_s + EVIDENCE_MARGIN_S
            for s in SEGMENTS
        ):
            problem("evidence shows its incident", f"frame {item.seq} shows "
                    f"{_segment_of(shown).scene!r} at {shown:.1f} s, linked to "
                    f"{incident.kind}")
    # 5. Every stored frame is anonymized.
    check = AnonymityCheck()
    for item in evidence:
        shown = clip_s_of[item.seq]
        scene = exam_clip_scene_at(shown)[0] if shown is not None else None
        texts = check.problems(images[item.seq], scene)
        where = f"{scene} at {shown:.1f} s" if shown is not None else "code strip unreadable"
        for text in texts:
            problem("anonymized", f"frame {item.seq} ({where}): {text}")
        if texts:  # for a person to look at
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(SCREENSHOTS / f"session_record_frame_{item.seq}.png"),
                        images[item.seq])

    print("anonymization, worst over the stored frames:",
          {name: round(value, 3) for name, value in check.worst.items()})
    report = "\n".join(
        f"{check_name} ({len(texts)}):\n" + "\n".join(f"  - {t}" for t in texts[:12])
        for check_name, texts in problems.items()
    )
    assert not problems, f"the session record has problems:\n{report}"
