"""What the LMS integration does when the review workspace reports an outcome.

Connected in LmsConfig.ready(). Runs inside the review's closing transaction; the webhook
itself is queued on commit (lms/api/services.py).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from lms.api.webhooks import review_completed_notify
from reviews.signals import review_closed


@receiver(review_closed, dispatch_uid="lms.review_completed_webhook")
def review_closed_notify(sender: Any, session: Any, **kwargs: Any) -> None:
    review_completed_notify(session=session)
