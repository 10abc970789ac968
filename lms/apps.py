from django.apps import AppConfig


class LmsConfig(AppConfig):
    name = "lms"
    verbose_name = "LMS integration"

    def ready(self) -> None:
        # Signal receivers connect once the registry is ready (Django's documented place).
        from lms import receivers  # noqa: F401  (a closed review notifies the LMS)
