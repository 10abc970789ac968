"""System checks: production refuses to start without a real key ring."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security)
def check_keyring(app_configs, **kwargs):
    keys = settings.PROCTOR_KEYRING
    if not keys:
        if settings.DEBUG:
            return [
                Warning(
                    "PROCTOR_KEYRING is not set: using the development key ring derived from "
                    "SECRET_KEY. Data encrypted with it is not protected.",
                    hint="Fine for `make demo`; never for real students.",
                    id="privacy.W001",
                )
            ]
        return [
            Error(
                "PROCTOR_KEYRING is not set and DEBUG is off: evidence cannot be encrypted.",
                hint="Set PROCTOR_KEYRING or PROCTOR_KEYRING_FILE to `1:<base64 of 32 random "
                "bytes>` (see docs/encryption.md).",
                id="privacy.E001",
            )
        ]
    active = settings.PROCTOR_KEYRING_ACTIVE
    if active and active not in keys:
        return [
            Error(
                f"PROCTOR_KEYRING_ACTIVE={active} names no key in PROCTOR_KEYRING "
                f"(versions {sorted(keys)}).",
                hint="Add that version to the key ring, or unset PROCTOR_KEYRING_ACTIVE to "
                "use the highest version.",
                id="privacy.E002",
            )
        ]
    return []
