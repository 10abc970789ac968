"""Face persistence: keep hiding a face for a few frames after a detector loses it.

Detectors miss a face now and then (motion blur, a hand, a turned head). Tracking boxes
by IoU across frames and keeping a lost face's last box for ``persistence_frames`` frames
means a one-frame miss never shows that face.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitoring.vision.detect import Face, iou

# Boxes of the same face in consecutive frames overlap far more than this at webcam
# frame rates; distinct faces in a group rarely do.
MATCH_IOU = 0.3


@dataclass(frozen=True, slots=True)
class Track:
    """A face followed across frames; ``missed_frames`` counts frames since last seen."""

    face: Face
    missed_frames: int


class FaceTracker:
    """Per-stream state: feed each frame's detections, get the faces to hide."""

    def __init__(self, *, persistence_frames: int) -> None:
        if persistence_frames < 0:
            raise ValueError(
                f"persistence_frames must be 0 or more, got {persistence_frames}."
            )
        self.persistence_frames = persistence_frames
        self._tracks: list[Track] = []

    @property
    def tracks(self) -> tuple[Track, ...]:
        return tuple(self._tracks)

    def update(self, detections: list[Face]) -> list[Face]:
        """Match detections to tracks; return detections plus recently lost faces."""
        unmatched = list(self._tracks)
        next_tracks: list[Track] = []
        for face in sorted(detections, key=lambda f: -f.score):
            best = max(unmatched, key=lambda t: iou(t.face.box, face.box), default=None)
            if best is not None and iou(best.face.box, face.box) >= MATCH_IOU:
                unmatched.remove(best)
            next_tracks.append(Track(face=face, missed_frames=0))
        held: list[Face] = []
        for track in unmatched:
            if track.missed_frames < self.persistence_frames:
                next_tracks.append(Track(face=track.face, missed_frames=track.missed_frames + 1))
                held.append(track.face)
        self._tracks = next_tracks
        return list(detections) + held

    def reset(self) -> None:
        self._tracks = []

    def restore(self, tracks: list[Track]) -> None:
        """Carry on from ``tracks`` (a snapshot of ``tracks``, e.g. from another process)."""
        self._tracks = [t for t in tracks if t.missed_frames <= self.persistence_frames]
