"""Configuration: collect option values; the engine validates them.

Sources, per option: the environment variable (``OTAS_BATCH_MAX_EVENTS``)
wins over the Django setting ``OTAS = {"BATCH_MAX_EVENTS": 100}`` (the
``OTAS_`` prefix is optional there), which wins over keyword arguments of
the WSGI/ASGI middleware, which win over the engine's defaults.  So an
operator can always override what the code says.  Lists may be given as
Python lists or comma-separated strings; booleans as bools or 1/0.

The engine (otas_config_set) owns every option's name, default and check:
this module only turns values into strings and reports the engine's
message, which names the option and the fix, as OtasConfigurationError.
Options that need code (callables) live only in the Django setting and are
kept aside in `Settings.hooks`.
"""

import difflib
import logging
import os
import warnings

from ._native import engine
from ._version import __version__ as VERSION
from .exceptions import MISSING_KEY_MESSAGE, OtasConfigurationError

# Options that take Python callables: never sent to the engine.
HOOK_OPTIONS = frozenset({"SKIP", "IDENTIFY_USER", "IDENTIFY_COMPANY",
                          "GET_SESSION_TOKEN", "GET_METADATA", "MASK_EVENT",
                          # Moesif's hooks for outgoing calls (outgoing.py)
                          "SKIP_OUTGOING", "IDENTIFY_USER_OUTGOING",
                          "IDENTIFY_COMPANY_OUTGOING",
                          "GET_SESSION_TOKEN_OUTGOING",
                          "GET_METADATA_OUTGOING"})


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

logger = logging.getLogger("otas")

# OTAS_ variables read by other parts (the binding, the test helpers, the
# collector, the dashboard tests): not engine options, never warned about.
OTHER_VARIABLES = frozenset({
    "OTAS_ENGINE", "OTAS_COLLECTOR_BIN",
    "OTAS_JWT_SECRET", "OTAS_DASHBOARD_EVENT_SOURCE", "OTAS_CHROMIUM",
    "OTAS_CHROMEDRIVER",
})

# Renamed options: old name -> (new name, value converter).
DEPRECATED = {
    "OTAS_SHUTDOWN_TIMEOUT": ("OTAS_SHUTDOWN_TIMEOUT_MS",
                              lambda v: str(round(float(v) * 1000))),
}

# Moesif's and APIToolkit's option names, answered with ours.
PEER_NAMES = {
    "LOG_BODY": "CAPTURE_BODIES",
    "LOG_BODY_OUTGOING": "CAPTURE_OUTGOING_BODIES",
    "BATCH_SIZE": "BATCH_MAX_EVENTS",
    "EVENT_BATCH_SIZE": "BATCH_MAX_EVENTS",
    "EVENT_QUEUE_SIZE": "QUEUE_MAX_BYTES",
    "BATCH_MAX_TIME": "FLUSH_INTERVAL_MS",
    "APPLICATION_ID": "SDK_KEY",
    "API_KEY": "SDK_KEY",
    "APITOOLKIT_KEY": "SDK_KEY",
    "BASE_URI": "BASE_URL",
    "ROOT_URL": "BASE_URL",
    "CAPTURE_OUTGOING_REQUESTS": "CAPTURE_OUTGOING",
    "REDACT_HEADERS": "SENSITIVE_HEADERS",
    "REQUEST_BODY_MASKS": "REDACT_REQUEST_BODY",
    "REDACT_REQUEST_BODY": "REDACT_REQUEST_BODY",
    "RESPONSE_BODY_MASKS": "REDACT_RESPONSE_BODY",
    "REDACT_RESPONSE_BODY": "REDACT_RESPONSE_BODY",
    "MASK_EVENT_MODEL": "MASK_EVENT",
    "ROUTES_TO_SKIP": "EXCLUDE_PATHS",
    "SERVICE_NAME": "TAGS",
    "SERVICE_VERSION": "SERVICE_VERSION",
    "LOCAL_DEBUG": "DEBUG",
    "DEBUG": "DEBUG",
    "SAMPLING_PERCENTAGE": "SAMPLE_RATE",
    "CAPTURE_REQUEST_BODY": "CAPTURE_BODIES",
    "CAPTURE_RESPONSE_BODY": "CAPTURE_BODIES",
}


def as_bool(value):
    return str(value).strip().lower() in _TRUE


def strict_bool(name, value):
    """A boolean option's value; anything but 1/0, true/false, yes/no,
    on/off is an error that names the option."""
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise OtasConfigurationError(
        f'{name}="{value}" is not a boolean: use 1/0, true/false, yes/no '
        "or on/off")


def _hint(name, names):
    """" Did you mean X?" for an unknown option name, peers' names first."""
    bare = name[5:] if name.startswith("OTAS_") else name
    ours = PEER_NAMES.get(bare)
    if ours is not None and ("OTAS_" + ours in names or ours in HOOK_OPTIONS):
        return f" Did you mean {ours!r}? (OTAS's name for it)"
    close = difflib.get_close_matches(
        "OTAS_" + bare, sorted(names | {"OTAS_" + h for h in HOOK_OPTIONS}
                               | set(DEPRECATED)), n=1)
    return f" Did you mean {close[0][5:]!r}?" if close else ""


_warned = set()


def _warn_once(key, message):
    if key in _warned:
        return
    _warned.add(key)
    logger.warning("%s", message)


def _to_str(name, value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value)
    if isinstance(value, (str, int, float)):
        return str(value)
    raise OtasConfigurationError(
        f"{name} must be a string, number, bool or list, not "
        f"{type(value).__name__}"
    )


def _table():
    """The engine's option table (engine/options.def through the binding):
    {name: default}, read once.  {} when the C engine did not load."""
    global _TABLE
    if _TABLE is None:
        _TABLE = dict(engine.option_defaults()) if engine is not None else {}
    return _TABLE


_TABLE = None


def default(name):
    """The C option table's default of `name` (a str).  Python repeats no
    default: a second copy would drift from the table.  Without the C
    engine there is no table and nothing is captured; "" then (enabled,
    no timeouts)."""
    return _table().get(name, "")


class Settings:
    """What the runtime needs: engine options (str -> str) and hooks.  An
    option not set reads as the C option table's default (default())."""

    __slots__ = ("options", "hooks")

    def __init__(self, options, hooks):
        self.options = options
        self.hooks = hooks

    def get(self, name):
        """The option's value as set, else the C table's default; trimmed,
        as the engine reads every value."""
        v = self.options.get(name)
        return default(name) if v is None else v.strip()

    @property
    def enabled(self):
        # No table (the C engine did not load): on, so that the Django
        # check and the middleware say why nothing is captured.
        return as_bool(self.get("OTAS_ENABLED") or "1")

    @property
    def strict_startup(self):
        return as_bool(self.get("OTAS_STRICT_STARTUP") or "0")

    @property
    def debug(self):
        return as_bool(self.get("OTAS_DEBUG") or "0")

    def ms(self, name):
        """An integer option in ms: as set, else the table's default (0
        when neither parses: the engine rejected a bad value already)."""
        for v in (self.options.get(name), default(name)):
            try:
                return int(float(v))
            except (TypeError, ValueError):
                continue
        return 0

    @property
    def exports_otlp(self):
        """OTAS_EXPORTER=otlp: OpenTelemetry logs, no OTAS key needed."""
        return self.get("OTAS_EXPORTER").strip().lower() == "otlp"

    @property
    def shutdown_timeout_ms(self):
        return self.ms("OTAS_SHUTDOWN_TIMEOUT_MS")

    def __repr__(self):  # never shows the key
        # The engine's option table says which options are secret; without
        # it (the null engine) no value is shown.
        types = engine.option_types() if engine is not None else {}
        shown = {k: v for k, v in self.options.items()
                 if types.get(k, "secret") not in ("sdk_key", "secret")}
        return f"Settings({shown!r}, hooks={sorted(self.hooks)!r})"


def option_names():
    return frozenset(engine.option_defaults()) if engine is not None else frozenset()


def load(setting=None, kwargs=None, environ=None, require_key=True):
    """Collect and validate options; raise OtasConfigurationError.

    setting: the Django ``OTAS`` dict (or None); kwargs: middleware keyword
    arguments (names without the prefix, lower or upper case).
    """
    environ = os.environ if environ is None else environ
    # The no-op benchmark engine knows no names: take every OTAS_ variable.
    names = option_names() or frozenset(k for k in environ if k.startswith("OTAS_"))
    options, hooks = {}, {}
    for source in (kwargs or {}, setting or {}):
        for key, value in source.items():
            name = str(key).upper()
            if not name.startswith("OTAS_"):
                name = "OTAS_" + name
            if name[5:] in HOOK_OPTIONS:
                if value is not None and not callable(value):
                    raise OtasConfigurationError(
                        f"OTAS[{key!r}] must be a callable, not "
                        f"{type(value).__name__}"
                    )
                hooks[name[5:]] = value
                continue
            if names and name in DEPRECATED and value is not None:
                new, convert = DEPRECATED[name]
                _deprecated(name, new)
                options.setdefault(new, _convert(name, convert, value))
                continue
            if names and name not in names:
                raise OtasConfigurationError(
                    f"OTAS option {key!r} is not known.{_hint(name, names)} "
                    "See the README's Configuration section for every option."
                )
            if value is not None:
                options[name] = _to_str(name, value)
    for name in names:
        if name in environ:
            options[name] = environ[name]
    if names:
        for name in environ:
            if not name.startswith("OTAS_") or name in names:
                continue
            if name in DEPRECATED:
                new, convert = DEPRECATED[name]
                _deprecated(name, new)
                if new not in environ:
                    options[new] = _convert(name, convert, environ[name])
            elif name not in OTHER_VARIABLES:
                _warn_once(name, f"OTAS: the environment variable {name} is "
                           f"not an OTAS option and is ignored.{_hint(name, names)}")
    if "OTAS_SDK_NAME" in names:
        options.setdefault("OTAS_SDK_NAME", "otas-python/" + VERSION)
    settings = Settings(options, hooks)
    for name in ("OTAS_ENABLED", "OTAS_DEBUG"):
        if name in options:
            strict_bool(name, options[name])
    if not settings.enabled:
        return settings
    cit = options.get("OTAS_CAPTURE_IN_TESTS")
    if cit is None:
        cit = environ.get("OTAS_CAPTURE_IN_TESTS")
    if cit is None:
        cit = settings.get("OTAS_CAPTURE_IN_TESTS") or "0"
    in_tests = in_django_tests() and not strict_bool("OTAS_CAPTURE_IN_TESTS", cit)
    # Options first: a misspelt OTAS_EXPORTER is named before a missing key.
    if engine is not None:
        try:
            engine.check_options(options)
        except ValueError as exc:
            raise OtasConfigurationError(str(exc)) from None
    if (require_key and not in_tests and not options.get("OTAS_SDK_KEY")
            and not settings.exports_otlp):
        raise OtasConfigurationError(MISSING_KEY_MESSAGE)
    if in_tests:
        # A test suite's traffic is not the API's: checked as above, then
        # nothing is captured or sent, and no key is needed (otas.testing
        # shows what would be sent).
        options["OTAS_ENABLED"] = "0"
    return settings


def _deprecated(old, new):
    message = (f"OTAS: {old} is deprecated (every duration is in "
               f"milliseconds now): use {new}")
    if old not in _warned:
        warnings.warn(message, DeprecationWarning, stacklevel=3)
    _warn_once(old, message)


def _convert(name, convert, value):
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise OtasConfigurationError(
            f'{name}="{value}" is invalid: it is deprecated, give '
            "OTAS_SHUTDOWN_TIMEOUT_MS in milliseconds instead") from None


def in_django_tests():
    """True between Django's setup_test_environment() and its teardown:
    `manage.py test` and pytest-django both call it; it sets mail.outbox."""
    import sys

    mail = sys.modules.get("django.core.mail")
    return mail is not None and hasattr(mail, "outbox")


def django_setting():
    """The Django ``OTAS`` setting, or None when Django is not configured."""
    try:
        from django.conf import settings
    except ImportError:  # pragma: no cover
        return None
    if not settings.configured:
        return None
    value = getattr(settings, "OTAS", None)
    if value is not None and not isinstance(value, dict):
        raise OtasConfigurationError(
            "settings.OTAS must be a dict, e.g. OTAS = {\"SENSITIVE_HEADERS\": "
            "[\"x-internal-token\"]}"
        )
    return value
