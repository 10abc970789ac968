"""System checks for configuration that Django's own checks do not cover."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def check_secret_key(app_configs, **kwargs):
    if not settings.DEBUG and settings.SECRET_KEY == settings.INSECURE_SECRET_KEY:
        return [
            Error(
                "SECRET_KEY is not set and DEBUG is off.",
                hint="Set SECRET_KEY or SECRET_KEY_FILE in the environment "
                "(`make demo` runs with DEBUG=1 instead).",
                id="proctor.E001",
            )
        ]
    return []


@register(Tags.security)
def check_integrity_signing_key(app_configs, **kwargs):
    """The log's signing key: refuse the development key outside DEBUG, and a bad value."""
    from reviews.integrity_keys import IntegrityKeyError, signing_keys

    errors = []
    if not settings.DEBUG and (
        settings.PROCTOR_INTEGRITY_SIGNING_KEY == settings.INSECURE_INTEGRITY_SIGNING_KEY
    ):
        errors.append(
            Error(
                "PROCTOR_INTEGRITY_SIGNING_KEY is not set and DEBUG is off.",
                hint="Generate one with `python manage.py integrity_keygen` and set "
                "PROCTOR_INTEGRITY_SIGNING_KEY or PROCTOR_INTEGRITY_SIGNING_KEY_FILE.",
                id="proctor.E002",
            )
        )
    try:
        signing_keys()
    except IntegrityKeyError as exc:
        errors.append(Error(str(exc), id="proctor.E003"))
    return errors

