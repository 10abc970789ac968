"""``manage.py anonymize_media``: anonymize faces in recorded images and videos.

For universities that share recorded exam media: every face is hidden and every file is
re-encoded from pixels, so no metadata (EXIF, GPS, XMP, ICC, comments, thumbnails)
survives. A file that fails is reported and the run goes on with the next one.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from monitoring.vision.anonymize import AnonymizationPolicy
from monitoring.vision.decode import DecodeLimits, decode_image, encode_image, sniff_format
from monitoring.vision.errors import UnsupportedMedia, VisionError
from monitoring.vision.pipeline import FrameAnonymizer, shared_face_finder

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".webm": "VP80"}
# Recorded media may be bigger than live webcam frames; still bounded against bombs.
OFFLINE_LIMITS = DecodeLimits(
    max_bytes=64 * 1024 * 1024, max_width=10_000, max_height=10_000, max_pixels=50_000_000
)


@dataclass
class Totals:
    files: int = 0
    failed: int = 0
    frames: int = 0
    faces: int = 0


class Command(BaseCommand):
    # A standalone tool on files: it touches no database, key ring or broker, so the
    # server's deployment checks (secret key, key ring) must not stop it.
    requires_system_checks: list[str] = []
    help = (
        "Anonymize every face in images (jpg, png, webp) and videos (mp4, avi, webm), "
        "writing files with the same names to --out with all metadata removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="Files or folders to anonymize.")
        parser.add_argument("--out", required=True, type=Path, help="Folder for the results.")
        parser.add_argument("--method", choices=["blur", "pixelate", "mask"], default="blur")
        parser.add_argument(
            "--strength", type=int, default=5, help="1 (lightest) to 10 (strongest); default 5."
        )
        parser.add_argument("--shape", choices=["ellipse", "box"], default="ellipse")
        parser.add_argument(
            "--wide-every", type=int, default=1, metavar="N",
            help="Run the small-face detector every N video frames (and whenever the picture "
            "changes) instead of on every frame: faster, default 1.",
        )
        parser.add_argument(
            "--blur-frame-when-no-face", action="store_true",
            help="Blur a whole frame in which no face is found.",
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            policy = AnonymizationPolicy(
                method=options["method"],  # type: ignore[arg-type]
                strength=options["strength"],  # type: ignore[arg-type]
                shape=options["shape"],  # type: ignore[arg-type]
                blur_frame_when_no_face=bool(options["blur_frame_when_no_face"]),
            )
        except VisionError as error:
            raise CommandError(str(error)) from error
        wide_every: int = options["wide_every"]  # type: ignore[assignment]
        if wide_every < 1:
            raise CommandError(f"--wide-every must be 1 or more, got {wide_every}.")
        self.wide_every = wide_every
        out_dir: Path = options["out"]  # type: ignore[assignment]
        out_dir.mkdir(parents=True, exist_ok=True)
        files = self._collect(options["paths"])  # type: ignore[arg-type]
        if not files:
            raise CommandError("No image or video files found in the given paths.")

        totals = Totals()
        started = time.perf_counter()
        # One tick per frame, so a long video shows progress too.
        progress = tqdm(total=sum(self._frame_count(path) for path in files), unit="frame",
                        disable=None, file=sys.stderr)
        self.progress = progress
        for path in files:
            progress.set_description(path.name)
            try:
                frames, faces = self._anonymize_file(path, out_dir / path.name, policy)
            except (VisionError, OSError, cv2.error) as error:
                totals.failed += 1
                self.stderr.write(f"{path}: {error}")
            else:
                totals.frames += frames
                totals.faces += faces
            totals.files += 1
        progress.close()
        elapsed = max(time.perf_counter() - started, 1e-9)
        self.stdout.write(
            f"Anonymized {totals.files - totals.failed} of {totals.files} files: "
            f"{totals.frames} frames, {totals.faces} faces, "
            f"{totals.frames / elapsed:.1f} frames/s."
        )
        if totals.failed:
            raise CommandError(f"{totals.failed} of {totals.files} files failed (see above).")

    def _frame_count(self, path: Path) -> int:
        if path.suffix.lower() not in VIDEO_CODECS or not path.is_file():
            return 1
        capture = cv2.VideoCapture(str(path))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        return max(count, 1)

    def _collect(self, paths: list[Path]) -> list[Path]:
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                files.extend(sorted(p for p in path.iterdir() if p.is_file()))
            else:
                files.append(path)  # a missing file is reported per file, later
        return files

    def _anonymize_file(
        self, path: Path, target: Path, policy: AnonymizationPolicy
    ) -> tuple[int, int]:
        suffix = path.suffix.lower()
        if path.resolve() == target.resolve():
            raise UnsupportedMedia(
                f"Output {target} would overwrite its input; choose another --out folder."
            )
        if suffix in IMAGE_SUFFIXES:
            return self._anonymize_image(path, target, policy)
        if suffix in VIDEO_CODECS:
            return self._anonymize_video(path, target, policy)
        raise UnsupportedMedia(
            f"Unsupported file type {suffix or '(none)'}; use jpg, png, webp, mp4, avi or webm."
        )

    def _anonymize_image(
        self, path: Path, target: Path, policy: AnonymizationPolicy
    ) -> tuple[int, int]:
        data = path.read_bytes()
        image = decode_image(data, limits=OFFLINE_LIMITS)
        result = FrameAnonymizer(policy, finder=shared_face_finder()).process(image)
        # Keep the container the user gave us (by content, not by name).
        target.write_bytes(encode_image(result.image, sniff_format(data)))
        self.progress.update(1)
        return 1, len(result.faces)

    def _anonymize_video(
        self, path: Path, target: Path, policy: AnonymizationPolicy
    ) -> tuple[int, int]:
        if not path.is_file():
            raise UnsupportedMedia(f"Video {path} does not exist or is not a file.")
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise UnsupportedMedia(
                f"OpenCV cannot open the video {path}; is it an mp4, avi or webm file?"
            )
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        expected = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        anonymizer = FrameAnonymizer(
            policy, finder=shared_face_finder(), wide_every_n_frames=self.wide_every
        )
        writer: cv2.VideoWriter | None = None
        frames = faces = 0
        temporary = target.with_name(f".{target.name}.partial{target.suffix}")
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                result = anonymizer.process(frame)
                if writer is None:
                    height, width = result.image.shape[:2]
                    fourcc = cv2.VideoWriter.fourcc(*VIDEO_CODECS[path.suffix.lower()])
                    writer = cv2.VideoWriter(str(temporary), fourcc, fps, (width, height))
                    if not writer.isOpened():
                        raise UnsupportedMedia(
                            f"OpenCV cannot write a {path.suffix} video to {temporary}."
                        )
                # Every frame written went through the anonymizer: no raw frame leaves.
                writer.write(result.image)
                frames += 1
                self.progress.update(1)
                faces += len(result.faces)
        finally:
            capture.release()
            if writer is not None:
                writer.release()
        if frames == 0:
            temporary.unlink(missing_ok=True)
            raise UnsupportedMedia(f"Video {path} has no readable frame.")
        temporary.replace(target)
        if expected > 0 and frames < expected:
            self.stderr.write(
                f"{path}: read {frames} of {expected} frames; the rest could not be decoded "
                "and were left out."
            )
        return frames, faces
