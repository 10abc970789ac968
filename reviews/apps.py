from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews and audit"

    def ready(self) -> None:
        from reviews import (
            logged_records,
            receivers,  # noqa: F401  (shredding reaches appeals, frames)
            storage_services,  # noqa: F401  (connects the spool's shredding)
        )
        from reviews.privacy import checks  # noqa: F401  (registers the key ring check)

        logged_records.register()  # incidents, decisions, appeals, evidence in the log
