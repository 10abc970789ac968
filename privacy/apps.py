from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Encryption at rest"

    def ready(self) -> None:
        # Django's documented place to register system checks: once the registry is ready.
        from privacy import checks  # noqa: F401
