"""WebSocket routes. Each app contributes its own list of `path()` entries."""

from monitoring.routing import websocket_urlpatterns as monitoring_websocket_urlpatterns

websocket_urlpatterns: list = [*monitoring_websocket_urlpatterns]
