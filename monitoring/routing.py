"""WebSocket routes of the monitoring app (added to proctor_site/routing.py)."""

from django.urls import path

from monitoring import consumers

websocket_urlpatterns = [
    path("ws/monitoring/stream/", consumers.StudentStreamConsumer.as_asgi()),
    path("ws/monitoring/live/", consumers.LiveViewConsumer.as_asgi()),
]
