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

        logged_records.register()  # sessions in the tamper-evident log

        # On the signal of the last installed app: by then auth has created the permission
        # rows of every app whose models the role groups name.
        post_migrate.connect(
            _ensure_groups,
            sender=list(self.apps.get_app_configs())[-1],
            dispatch_uid="exams.ensure_groups",
        )
