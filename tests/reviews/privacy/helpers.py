"""Plant canary strings in every encrypted place of a session (shared by the tests)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone

from lifecycle import services
from monitoring.models import Incident
from reviews.models import ReviewDecision
from tests import factories as f


def js(value) -> bytes:
    """Incident payloads are bytes, usually JSON, as the pipeline writes them."""
    return json.dumps(value).encode()


def plant(session, reviewer, *, originals: bool = False) -> list[str]:
    """Write one incident, one review note, one evidence image (and an original frame)
    each holding a unique canary; return the canaries."""
    tag = uuid.uuid4().hex[:12]
    canaries = [f"CANARY-payload-{tag}", f"CANARY-note-{tag}", f"CANARY-image-{tag}"]
    incident = f.IncidentFactory(
        session=session, payload=js({"detail": canaries[0]}), status=Incident.Status.CONFIRMED
    )
    f.ReviewDecisionFactory(
        incident=incident, reviewer=reviewer, note=canaries[1],
        decision=ReviewDecision.Decision.CONFIRM,
    )
    f.EvidenceFactory(
        session=session, incident=incident,
        image=ContentFile(b"\xff\xd8" + canaries[2].encode() + b"\xff\xd9", name="f.jpg"),
    )
    if originals:
        canaries.append(f"CANARY-original-{tag}")
        services.original_frame_store(
            session=session, seq=1, captured_at=timezone.now() - timedelta(minutes=5),
            data=canaries[3].encode(),
        )
    return canaries
