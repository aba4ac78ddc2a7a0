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
import os

from ._native import engine
from ._version import __version__ as VERSION
from .exceptions import MISSING_KEY_MESSAGE, OtasConfigurationError

# Options that take Python callables: never sent to the engine.
HOOK_OPTIONS = frozenset({"SKIP", "IDENTIFY_USER", "IDENTIFY_COMPANY",
                          "GET_SESSION_TOKEN", "GET_METADATA", "MASK_EVENT"})


_TRUE = frozenset({"1", "true", "yes", "on"})


def as_bool(value):
    return str(value).strip().lower() in _TRUE


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


class Settings:
    """What the runtime needs: engine options (str -> str) and hooks."""

    __slots__ = ("options", "hooks")

    def __init__(self, options, hooks):
        self.options = options
        self.hooks = hooks

    @property
    def enabled(self):
        return as_bool(self.options.get("OTAS_ENABLED", "1"))

    @property
    def strict_startup(self):
        return as_bool(self.options.get("OTAS_STRICT_STARTUP", "0"))

    @property
    def debug(self):
        return as_bool(self.options.get("OTAS_DEBUG", "0"))

    def ms(self, name, default):
        try:
            return int(float(self.options.get(name, default)))
        except ValueError:
            return int(default)

    @property
    def shutdown_timeout_ms(self):
        try:
            return int(float(self.options.get("OTAS_SHUTDOWN_TIMEOUT", 5)) * 1000)
        except ValueError:
            return 5000

    def __repr__(self):  # never shows the key
        shown = {k: v for k, v in self.options.items() if k != "OTAS_SDK_KEY"}
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
            if names and name not in names:
                close = difflib.get_close_matches(name, sorted(names), n=1)
                hint = f" Did you mean {close[0][5:]!r}?" if close else ""
                raise OtasConfigurationError(
                    f"OTAS option {key!r} is not known.{hint} "
                    "See the README's Configuration section for every option."
                )
            if value is not None:
                options[name] = _to_str(name, value)
    for name in names:
        if name in environ:
            options[name] = environ[name]
    if "OTAS_SDK_NAME" in names:
        options.setdefault("OTAS_SDK_NAME", "otas-python/" + VERSION)
    settings = Settings(options, hooks)
    if not settings.enabled:
        return settings
    if require_key and not options.get("OTAS_SDK_KEY"):
        raise OtasConfigurationError(MISSING_KEY_MESSAGE)
    if engine is not None:
        try:
            engine.check_options(options)
        except ValueError as exc:
            raise OtasConfigurationError(str(exc)) from None
    return settings


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
