"""What the framework adapters share: the runtime start and error records."""

import json
import logging
import traceback

from . import _native, _runtime

logger = logging.getLogger("otas")


def exception_record(exc):
    """(type, message, stack) of an exception, as the engine takes it."""
    return (
        type(exc).__qualname__,
        str(exc),
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


class FailOnce:
    """Log the first capture failure with its traceback, count the rest."""

    __slots__ = ("failed",)

    def __init__(self):
        self.failed = 0

    def __call__(self):
        self.failed += 1
        if self.failed == 1:
            logger.exception("OTAS capture failed; the response is "
                             "unaffected (logged once)")


class Hooks:
    """The user's callables: SKIP, IDENTIFY_USER, IDENTIFY_COMPANY,
    GET_SESSION_TOKEN, GET_METADATA; each called as f(request, response).

    A callable that raises is logged once (per callable) and treated as
    absent for that request; the request is unaffected.  Only set callables
    cost anything.  The values go to the engine, which hashes the session
    token and falls back to the JWT in the Authorization header for the user
    id when IDENTIFY_USER gives none.
    """

    __slots__ = ("skip", "user", "company", "session", "metadata", "failed")

    def __init__(self, hooks):
        self.skip = hooks.get("SKIP")
        self.user = hooks.get("IDENTIFY_USER")
        self.company = hooks.get("IDENTIFY_COMPANY")
        self.session = hooks.get("GET_SESSION_TOKEN")
        self.metadata = hooks.get("GET_METADATA")
        self.failed = set()

    def _call(self, name, fn, request, response):
        try:
            return fn(request, response)
        except Exception:
            if name not in self.failed:
                self.failed.add(name)
                logger.exception("OTAS %s raised; ignored for this and later "
                                 "requests' values (logged once)", name)
            return None

    def should_skip(self, request, response):
        return bool(self.skip and self._call("SKIP", self.skip, request, response))

    def extra(self, request, response, default_user=None):
        """The capture call's `extra` tuple, or None when nothing is set."""
        user = company = session = meta = None
        if self.user:
            user = self._call("IDENTIFY_USER", self.user, request, response)
        if user is None:
            user = default_user
        if self.company:
            company = self._call("IDENTIFY_COMPANY", self.company, request, response)
        if self.session:
            session = self._call("GET_SESSION_TOKEN", self.session, request, response)
        if self.metadata:
            value = self._call("GET_METADATA", self.metadata, request, response)
            if value is not None:
                try:
                    meta = json.dumps(value, default=str)
                except (TypeError, ValueError):
                    if "GET_METADATA:json" not in self.failed:
                        self.failed.add("GET_METADATA:json")
                        logger.warning("OTAS GET_METADATA returned a value that "
                                       "is not JSON-serialisable; ignored")
        if user is None and company is None and session is None and meta is None:
            return None
        return (None if user is None else str(user),
                None if company is None else str(company),
                None if session is None else str(session),
                meta, None, None, None, None)
