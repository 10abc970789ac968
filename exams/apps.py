from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_groups(sender, **kwargs) -> None:
    from exams.roles import ensure_groups

    ensure_groups()


class ExamsConfig(AppConfig):
    name = "exams"
    verbose_name = "Courses and exams"

    def ready(self) -> None:
        from exams import logged_records
        from proctor_site import checks  # noqa: F401  (registers the project's checks)

        logged_records.register()  # sessions in the tamper-evident log

        # On the reviews app's signal, the last of ours: by then auth has created the
        # permission rows of both exams and reviews.
        post_migrate.connect(
            _ensure_groups,
            sender=self.apps.get_app_config("reviews"),
            dispatch_uid="exams.ensure_groups",
        )
