"""Receivers of other apps' signals (connected in MonitoringConfig.ready): a user's sockets
close when they log out; a session's record closes when the session ends."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from monitoring import push
from monitoring.services import live_state_session_ended, user_group

logger = logging.getLogger(__name__)


def close_sockets_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    try:
        push.group_send(user_group(user.pk), {"type": "user.logout"})
    except Exception:
        # Logging out must not fail because the channel layer is down; a socket left open
        # ends with its exam session, and reconnecting needs a login again.
        logger.exception("could not close the sockets of user %s at logout", user.pk)


def close_record_on_session_end(
    sender: Any, session: Any, ended_at: datetime, **kwargs: Any
) -> None:
    """``exams.signals.session_ended``: close the session's open incidents, in the
    transaction that ends it (a failure here fails the end, so neither happens alone)."""
    live_state_session_ended(session=session, ended_at=ended_at)
