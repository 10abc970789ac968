from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        # Signal receivers connect once the registry is ready (Django's documented place).
        from reviews import receivers  # noqa: F401  (shredding reaches appeals)
