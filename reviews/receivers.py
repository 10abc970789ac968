"""Make crypto-shredding reach the review workspace's own per-session rows.

Connected in ReviewsConfig.ready(). Runs inside the shredding transaction (see
reviews/privacy/signals.py): an exception here rolls the whole shred back.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from reviews.models import Appeal, FrameObservation
from reviews.privacy.fields import Ciphertext
from reviews.privacy.signals import session_shredding


@receiver(session_shredding, dispatch_uid="reviews.appeals_and_observations")
def appeals_and_observations_shred(sender: Any, session: Any, **kwargs: Any) -> None:
    # The appeal row stays (that a response existed is not personal), its text goes; the
    # per-frame head pose and gaze measurements describe the student and go entirely.
    Appeal.objects.filter(session=session).update(text=Ciphertext(b""))
    FrameObservation.objects.filter(session=session).delete()
    return None
