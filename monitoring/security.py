"""An origin check for WebSockets that leaves an audit trace when it refuses a socket."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator

from audit.actions import AuditAction
from audit.services import audit_record


class AuditedOriginValidator(OriginValidator):
    """Channels' OriginValidator, plus an AuditEvent for every refused Origin.

    A foreign Origin means another site's page tried to open a socket with the visitor's
    cookies (cross-site WebSocket hijacking), which is worth a trace.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket":
            origin = dict(scope.get("headers") or []).get(b"origin", b"")
            parsed = None
            if origin:
                from urllib.parse import urlparse

                parsed = urlparse(origin.decode("latin1"))
            if not self.valid_origin(parsed):
                await database_sync_to_async(_audit_refused_origin)(
                    origin.decode("latin1")[:200], scope.get("path", "")
                )
        return await super().__call__(scope, receive, send)


def _audit_refused_origin(origin: str, path: str) -> None:
    audit_record(
        actor=None, action=AuditAction.STREAM_ORIGIN_REFUSED, reason=f"Foreign Origin {origin!r}.",
        detail={"origin": origin, "path": path},
    )


def AuditedAllowedHostsOriginValidator(application: Any) -> AuditedOriginValidator:  # noqa: N802
    """Like channels' AllowedHostsOriginValidator: the allowed origins are ALLOWED_HOSTS."""
    allowed = AllowedHostsOriginValidator(application).allowed_origins
    return AuditedOriginValidator(application, allowed)
