"""Make crypto-shredding reach the stream's own per-session rows.

Connected in MonitoringConfig.ready(). Runs inside the shredding transaction (see
privacy/signals.py): an exception here rolls the whole shred back.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from monitoring.models import FrameObservation
from privacy.signals import session_shredding


@receiver(session_shredding, dispatch_uid="monitoring.observations")
def observations_shred(sender: Any, session: Any, **kwargs: Any) -> None:
    # The per-frame head pose and gaze measurements describe the student: they go entirely.
    FrameObservation.objects.filter(session=session).delete()
    return None
