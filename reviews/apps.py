from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        # Signal receivers and record types register once the registry is ready.
        from reviews import (
            logged_records,
            receivers,  # noqa: F401  (shredding reaches appeals)
        )

        logged_records.register()  # decisions and appeals in the tamper-evident log
