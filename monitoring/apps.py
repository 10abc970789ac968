from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Live monitoring"

    def ready(self) -> None:
        # Signal receivers connect once the registry is ready (Django's documented place).
        from django.contrib.auth.signals import user_logged_out

        from exams.signals import session_ended
        from monitoring import (
            evidence,  # noqa: F401  (shredding reaches the evidence spool)
            logged_records,
            receivers,  # noqa: F401  (shredding reaches frame observations)
        )
        from monitoring.signals import close_record_on_session_end, close_sockets_on_logout

        logged_records.register()  # incidents and evidence in the tamper-evident log
        user_logged_out.connect(close_sockets_on_logout, dispatch_uid="monitoring.logout")
        session_ended.connect(
            close_record_on_session_end, dispatch_uid="monitoring.close_record_on_session_end"
        )
