"""Django system checks: a bad option is an error at start-up that names
the option and the fix (`manage.py check`, and every runserver/migrate)."""

from django.conf import settings
from django.core import checks

from . import _native, conf
from .exceptions import OtasConfigurationError

MIDDLEWARE_PATH = "otas.OtasMiddleware"


@checks.register("otas")
def check_otas(app_configs=None, **kwargs):
    problems = []
    if _native.engine is None:
        problems.append(checks.Error(
            "The OTAS C engine could not be loaded: capture is off.",
            hint=f"{_native.NATIVE_ERROR}. Reinstall otas from the wheel "
                 "or source tree it came from: pip install --force-reinstall "
                 "--no-deps <otas-*.whl or the source directory> (a source "
                 "build needs a C compiler and the libcurl, jansson, zlib "
                 "and SQLite headers). Requests still pass through "
                 "untouched meanwhile.",
            id="otas.E001"))
        return problems
    try:
        # A missing key fails the server's start (the middleware raises),
        # not migrate, shell, makemigrations, collectstatic or test.
        loaded = conf.load(conf.django_setting(), require_key=False)
    except OtasConfigurationError as exc:
        message = str(exc).strip()
        first, _, rest = message.partition("\n")
        problems.append(checks.Error(first, hint=rest.strip() or None,
                                     id="otas.E002"))
        return problems
    if (loaded.enabled and not loaded.has_key
            and not loaded.exports_otlp):
        problems.append(checks.Warning(
            "OTAS_SDK_KEY is not set: starting a server will raise "
            "OtasConfigurationError.",
            hint="Set OTAS_SDK_KEY for servers; commands such as migrate and "
                 "test run without it.",
            id="otas.W002"))
    middleware = list(getattr(settings, "MIDDLEWARE", []) or [])
    names = {MIDDLEWARE_PATH, "otas.middleware.OtasMiddleware"}
    if loaded.enabled and not names & set(middleware):
        problems.append(checks.Warning(
            "otas is installed but its middleware is not in MIDDLEWARE.",
            hint=f'Add "{MIDDLEWARE_PATH}" to MIDDLEWARE.',
            id="otas.W001"))
    return problems
