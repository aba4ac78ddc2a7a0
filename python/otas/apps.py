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
        _install_outgoing()


def _install_outgoing():
    """OTAS_CAPTURE_OUTGOING=1: patch the HTTP clients now, so that calls
    made outside any request (management commands, task workers, threads
    the app starts) are captured too.  The engine starts on the first
    captured call; a bad configuration is reported by the middleware and
    the system checks, not here."""
    try:
        from . import conf, outgoing

        settings = conf.load(conf.django_setting(), require_key=False)
        if settings.enabled and conf.as_bool(settings.get("OTAS_CAPTURE_OUTGOING")):
            outgoing.install(None, settings)
    except Exception:
        pass
