from django.apps import AppConfig


class ExamsConfig(AppConfig):
    name = "exams"
    verbose_name = "Courses and exams"

    def ready(self) -> None:
        from proctor_site import checks  # noqa: F401  (registers the project's checks)
