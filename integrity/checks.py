"""System checks of the tamper-evident log: production refuses the development signing key."""

from django.conf import settings
from django.core.checks import Error, Tags, register

from integrity.keys import IntegrityKeyError, signing_keys


@register(Tags.security)
def check_integrity_signing_key(app_configs, **kwargs):
    """The log's signing key: refuse the development key outside DEBUG, and a bad value."""
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
