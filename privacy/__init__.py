"""Encryption at rest and the GDPR data lifecycle of the reviews app (docs/encryption.md).

Envelope keys (crypto.py, keys.py), encrypted model fields and storage (fields.py,
storage.py), shredding, retention, data export, erasure and break-glass (services.py).
Its models are part of the reviews app: reviews/models.py imports privacy/models.py.
"""
