from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Privacy: encryption and data lifecycle"

    def ready(self) -> None:
        from privacy import checks  # noqa: F401  (registers the key ring check)
