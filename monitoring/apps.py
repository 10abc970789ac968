from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Live monitoring"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from monitoring.signals import close_sockets_on_logout

        user_logged_out.connect(close_sockets_on_logout, dispatch_uid="monitoring.logout")
