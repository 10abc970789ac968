"""ASGI entry point: HTTP through Django, WebSockets through Channels' routers.

WebSocket connections pass AllowedHostsOriginValidator (a foreign Origin is refused
before any consumer code runs, and audited: monitoring/security.py) and
AuthMiddlewareStack (the Django session user).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctor_site.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from monitoring.security import AuditedAllowedHostsOriginValidator  # noqa: E402
from proctor_site.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuditedAllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
