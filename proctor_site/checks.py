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
