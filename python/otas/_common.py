"""What the framework adapters share: the runtime start and error records."""

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
