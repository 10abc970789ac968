from django.apps import AppConfig


class IntegrityConfig(AppConfig):
    name = "integrity"
    verbose_name = "Tamper-evident log"

    def ready(self) -> None:
        # Django's documented place to register system checks: once the registry is ready.
        from integrity import checks  # noqa: F401
