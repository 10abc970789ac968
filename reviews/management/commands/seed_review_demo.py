"""Seed two already-taken demo sessions with incidents, evidence and frame observations.

For `make demo` after `seed_demo`: the demo reviewer then has a queue, timelines to
open and decisions to make, and student2/student3 have a report at /review/mine/.
Idempotent (an existing demo session is left as it is) and DEBUG only, like seed_demo.
The images are synthetic grey frames: no real person appears anywhere.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

import cv2
import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from exams.models import Course, Exam, ExamSession
from integrity.records import integrity_log_evidence, integrity_log_incident, integrity_record_log
from monitoring import observations
from monitoring.models import Evidence, Incident

EXAM_TITLE = "Practice exam (already taken)"
# (student, kinds and severities every ~3 minutes, seconds of a second face)
SESSIONS = [
    ("student2", [("looking_away", "medium"), ("tab_hidden", "low"), ("no_face", "high"),
                  ("multiple_faces", "high"), ("copy_paste", "medium")], (610, 660)),
    ("student3", [("window_blur", "low"), ("looking_away", "low")], None),
]


def _frame(shade: int) -> bytes:
    image = np.full((240, 320, 3), shade, dtype=np.uint8)
    cv2.rectangle(image, (120, 50), (200, 190), (95, 95, 95), -1)  # an anonymized head
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise CommandError("OpenCV could not encode the synthetic demo frame.")
    return data.tobytes()


class Command(BaseCommand):
    help = "Add two finished demo sessions with incidents to review (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_review_demo writes demo data; run it with DEBUG=1.")
        course = Course.objects.filter(institution__slug="demo", code="DEMO101").first()
        if course is None:
            raise CommandError("No demo course: run `manage.py seed_demo` first.")
        now = timezone.now()
        exam, _ = Exam.objects.get_or_create(
            course=course,
            title=EXAM_TITLE,
            defaults={
                "opens_at": now - timedelta(days=2),
                "closes_at": now - timedelta(days=1),
                "duration_min": 45,
                "suspicion_weights": {"tab_hidden": 1.0},
            },
        )
        users = get_user_model().objects
        for username, kinds, two_faces in SESSIONS:
            student = users.filter(username=username).first()
            if student is None or ExamSession.objects.filter(exam=exam, student=student).exists():
                continue
            with transaction.atomic():
                self._session(exam, student, kinds, two_faces)
        self.stdout.write(self.style.SUCCESS(
            f"Review demo ready: sign in as reviewer and open {settings.SITE_URL}/review/"
        ))

    def _session(self, exam, student, kinds, two_faces) -> None:
        start = exam.opens_at + timedelta(hours=2)
        session = ExamSession.objects.create(
            exam=exam,
            student=student,
            state=ExamSession.State.SUBMITTED,
            consented_at=start - timedelta(minutes=2),
            camera_checked_at=start - timedelta(minutes=1),
            started_at=start,
            deadline_at=start + timedelta(minutes=exam.duration_min),
            ended_at=start + timedelta(minutes=41),
        )
        # Written directly rather than through the services (the session is already
        # over), so logged here: verify_integrity compares every row with the log.
        integrity_record_log(record_type="exam_session", record=session, change="created")
        seq = 0
        for i in range(12):
            kind, severity = kinds[i % len(kinds)]
            begin = start + timedelta(seconds=90 + i * 190)
            incident = Incident.objects.create(
                session=session,
                kind=kind,
                severity=severity,
                started_at=begin,
                ended_at=begin + timedelta(seconds=6 + (i % 3) * 9),
                score=0.6 + (i % 4) * 0.1,
            )
            integrity_log_incident(incident=incident)
            if i % 2 == 0:
                frame = _frame(170 + i * 4)
                evidence = Evidence(
                    session=session, incident=incident, seq=seq, captured_at=begin,
                    width=320, height=240, sha256=hashlib.sha256(frame).hexdigest(),
                )
                evidence.image.save(f"demo-{seq}.jpg", ContentFile(frame))
                integrity_log_evidence(evidence=evidence)
                seq += 1
        for second in range(0, 41 * 60, 2):
            away = 1200 < second < 1260
            faces = 2 if two_faces and two_faces[0] < second < two_faces[1] else 1
            observations.observation_record(
                session=session,
                seq=second,
                captured_at=start + timedelta(seconds=second),
                face_count=0 if 1500 < second < 1530 else faces,
                yaw_deg=15 * math.sin(second / 80) + (45 if away else 0),
                pitch_deg=8 * math.cos(second / 55),
                gaze_x=0.12 + 0.08 * math.sin(second / 30),
                gaze_y=0.05,
            )
