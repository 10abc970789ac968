from django.apps import AppConfig


class ProctorSiteConfig(AppConfig):
    name = "proctor_site"
    verbose_name = "Proctor"

    def ready(self) -> None:
        # Django's documented place to register system checks: once the registry is ready.
        from proctor_site import checks  # noqa: F401
