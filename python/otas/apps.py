"""Django app config: add "otas" to INSTALLED_APPS for the system checks
(`manage.py check`) and the management commands; the middleware works
without it."""

from django.apps import AppConfig


class OtasConfig(AppConfig):
    name = "otas"
    verbose_name = "OTAS API capture"

    def ready(self):
        from . import _reloader, checks  # noqa: F401  (registers the checks)

        # runserver's reloader parent: stop the serving child gracefully.
        _reloader.install()
