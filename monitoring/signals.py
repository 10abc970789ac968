"""Close a user's sockets when they log out (connected in MonitoringConfig.ready)."""

from __future__ import annotations

import logging
from typing import Any

from monitoring import push
from monitoring.services import user_group

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
