"""WebSocket routes. Each app contributes its own list of `path()` entries."""

websocket_urlpatterns: list = []
