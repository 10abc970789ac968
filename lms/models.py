"""What the LMS integrations keep: REST API keys, webhooks and LTI 1.3 registrations."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from exams.models import Course, Institution


class ApiKey(models.Model):
    """An institution's key for the REST API. Only a SHA-256 of the key is kept.

    The key is ``prk_<prefix>_<secret>``: ``prefix`` finds the row, the hash of the whole
    key proves it. The secret has 256 bits of entropy, so a fast unsalted hash is enough
    (a slow password hash would only slow every request); it is shown once, at creation.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read courses, exams, enrolments, sessions, incidents, outcomes"
        WRITE = "write", "Create and change courses, exams and enrolments"
        INCIDENT_PAYLOAD = "incident_payload", "Read incidents' decrypted details"

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'Moodle production'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_sha256 = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="Any of: read, write, incident_payload.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["institution", "name"]

    def __str__(self) -> str:
        return f"{self.name} (prk_{self.prefix}…, {self.institution})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def has_scope(self, scope: str) -> bool:
        return not self.is_revoked and scope in self.scopes


class WebhookEndpoint(models.Model):
    """Where an institution's LMS wants to hear that a review completed (HMAC-signed)."""

    institution = models.OneToOneField(
        Institution, on_delete=models.CASCADE, related_name="webhook"
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=128, help_text="Shared secret for the HMAC-SHA256 signature."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Webhook of {self.institution}"


class WebhookDelivery(models.Model):
    """One event to deliver to one endpoint; retried by a Celery task until it lands."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=64)
    dedupe_key = models.CharField(max_length=200, help_text="One delivery per event occurrence.")
    body = models.TextField(
        help_text="The exact JSON sent, so every retry signs the same bytes; emptied once "
        "the delivery is delivered or abandoned."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "dedupe_key"], name="uniq_webhook_delivery"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint.url} ({self.get_status_display()})"


class LtiRegistration(models.Model):
    """An LMS (LTI 1.3 platform) that registered Proctor as a tool, for one institution.

    The platform's values (issuer, client id, endpoints, JWKS URL, deployment ids) come
    from the LMS's tool registration page; the tool's RSA key pair is generated here and
    its public half published at /lti/jwks/.
    """

    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="lti_registrations"
    )
    name = models.CharField(max_length=100, help_text="e.g. 'Moodle production'.")
    issuer = models.CharField(max_length=255, help_text="The platform's issuer (iss), a URL.")
    client_id = models.CharField(max_length=255, help_text="The client id the LMS assigned.")
    auth_login_url = models.URLField(max_length=500, help_text="Platform's OIDC auth URL.")
    auth_token_url = models.URLField(max_length=500, help_text="Platform's OAuth2 token URL.")
    auth_audience = models.CharField(max_length=255, blank=True)
    key_set_url = models.URLField(max_length=500, help_text="Platform's JWKS URL.")
    deployment_ids = models.JSONField(default=list, help_text='e.g. ["1"]')
    tool_private_key = models.TextField(help_text="PEM; generated when left empty.", blank=True)
    tool_public_key = models.TextField(editable=False, blank=True)
    tool_key_id = models.CharField(max_length=64, editable=False, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "LTI registration"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "client_id"], name="uniq_lti_registration")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.issuer})"


class LtiIdentity(models.Model):
    """The local user behind a platform's user id (``sub``): one per registration."""

    registration = models.ForeignKey(
        LtiRegistration, on_delete=models.CASCADE, related_name="identities"
    )
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lti_identities"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "LTI identities"
        constraints = [
            models.UniqueConstraint(fields=["registration", "subject"], name="uniq_lti_subject")
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.user}"


class LtiContext(models.Model):
    """The local course behind a platform's course (context id)."""

    registration = models.ForeignKey(
        LtiRegistration, on_delete=models.CASCADE, related_name="contexts"
    )
    context_id = models.CharField(max_length=255)
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lti_contexts")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "context_id"], name="uniq_lti_context"
            )
        ]

    def __str__(self) -> str:
        return f"{self.context_id} → {self.course.code}"
