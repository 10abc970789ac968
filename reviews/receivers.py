"""Make crypto-shredding reach the review workspace's own per-session rows (appeals).

Connected in ReviewsConfig.ready(). Runs inside the shredding transaction (see
privacy/signals.py): an exception here rolls the whole shred back.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from privacy.fields import Ciphertext
from privacy.signals import session_shredding
from reviews.models import Appeal


@receiver(session_shredding, dispatch_uid="reviews.appeals")
def appeals_shred(sender: Any, session: Any, **kwargs: Any) -> None:
    # The appeal row stays (that a response existed is not personal), its text goes.
    Appeal.objects.filter(session=session).update(text=Ciphertext(b""))
    return None
