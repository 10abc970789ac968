"""The versioned REST API for LMSs (/api/v1/): API keys, serializers, views and webhooks."""
