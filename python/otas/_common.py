"""What the framework adapters share: the runtime start and error records."""

import logging
import traceback

from . import _native, _runtime, conf

logger = logging.getLogger("otas")


def exception_record(exc):
    """(type, message, stack) of an exception, as the engine takes it.
    Never raises: it runs in the adapters' except blocks, where an error
    of its own would replace the app's exception."""
    try:
        message = str(exc)
    except Exception:
        message = f"<unprintable {type(exc).__qualname__}>"
    return (
        type(exc).__qualname__,
        message,
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    )


def start_engine(settings):
    """The engine for these settings (conf.load()), or None: capture off.

    Raises OtasAuthenticationError as documented; returns None when
    OTAS_ENABLED is off or the C engine did not load (then requests pass
    through untouched, and the log says so once).
    """
    if not settings.enabled:
        return None
    if _native.engine is None:
        logger.error(
            "OTAS capture is off: the C engine did not load (%s). "
            "Requests pass through untouched; reinstall otas.",
            _native.NATIVE_ERROR)
        return None
    return _runtime.start(settings).engine


class HostOptions:
    """What a framework adapter decides once from the options: the
    event-id response header, the early filter, outgoing capture.  Every
    option was validated by the engine (conf.load)."""

    __slots__ = ("id_header", "filtering", "outgoing")

    def __init__(self, settings, engine):
        self.id_header = engine is not None and conf.as_bool(
            settings.get("OTAS_EVENT_ID_HEADER"))
        # Worth an early call into the engine only when a filter is set;
        # the engine applies filters at capture time in any case.
        self.filtering = engine is not None and any(
            settings.options.get(k) for k in ("OTAS_EXCLUDE_PATHS", "OTAS_CAPTURE_METHODS"))
        self.outgoing = engine is not None and conf.as_bool(
            settings.get("OTAS_CAPTURE_OUTGOING"))


class Adapter:
    """What the WSGI and ASGI middleware share: the engine for the options
    (keyword arguments, then the environment), the capture core (hooks,
    MASK_EVENT, body cut, event id, errors) and HostOptions' decisions.
    Hooks (skip, identify_user, get_metadata, mask_event, ...) are keyword
    arguments too; each is called as f(request, response) with the environ
    or scope and (status, headers), MASK_EVENT as f(event)."""

    def __init__(self, app, options):
        from . import conf, outgoing
        from ._core import Core

        self.app = app
        settings = conf.load(None, options)
        self._engine = start_engine(settings)
        self._core = None
        if self._engine is not None:
            self._core = Core(self._engine, settings.hooks)
            self._want_body = self._engine.want_request_body
            self._cap = self._core.cap
            self._streaming = _native.engine.CAP_RESP_STREAMING
            self._skipped = _native.engine.CAP_REQ_BODY_SKIPPED
        self._opts = HostOptions(settings, self._engine)
        self._outgoing = self._opts.outgoing
        if self._outgoing:
            outgoing.install(self._engine, settings)
