"""OTAS: API-traffic capture whose work is done by a C engine.

Django::

    MIDDLEWARE = [..., "otas.OtasMiddleware"]

The public API is here; everything else is private.
"""

from .client import OtasClient
from .exceptions import (
    OtasAuthenticationError,
    OtasConfigurationError,
    OtasConnectionError,
    OtasError,
)

from .conf import VERSION as __version__
from .entities import (
    update_companies_batch,
    update_company,
    update_subscription,
    update_subscriptions_batch,
    update_user,
    update_users_batch,
)

__all__ = [
    "OtasMiddleware",
    "OtasClient",
    "OtasError",
    "OtasAuthenticationError",
    "OtasConfigurationError",
    "OtasConnectionError",
    "flush",
    "stats",
    "report_error",
    "observe_request",
    "observe_request_async",
    "update_user",
    "update_users_batch",
    "update_company",
    "update_companies_batch",
    "update_subscription",
    "update_subscriptions_batch",
    "__version__",
]


def _has_django():
    import importlib.util

    try:
        return importlib.util.find_spec("django") is not None
    except (ImportError, ValueError):
        return False


if not _has_django():
    # `from otas import *` in a WSGI/ASGI app without Django: the
    # middleware (which imports Django) is left out of the star-import.
    __all__.remove("OtasMiddleware")


def flush(timeout=5.0):
    """Wait until everything captured so far is delivered or spooled.

    Returns True when it is, False when `timeout` seconds passed first.
    """
    from . import _runtime

    return _runtime.flush(timeout)


def stats():
    """The engine's counters: captured, sent, dropped by reason, retried,
    spooled, batches, bytes_sent, last_error (never the key)."""
    from . import _runtime

    return _runtime.stats()


def report_error(request, exc):
    """Attach an exception to the event of `request` (any number per
    request; a DRF Request is unwrapped to its HttpRequest).  With
    request=None it attaches to the request being served only under
    OTAS_CAPTURE_OUTGOING=1 (which tracks the current request); otherwise,
    in a view too, it is an event of its own, "JOB /jobs/<command>", and
    the engine is started from the settings if nothing else started it."""
    from .outgoing import report_error as _report

    _report(request, exc)


def observe_request(request):
    """An httpx.Client whose calls are captured as outgoing events of
    `request`."""
    from .outgoing import observe_request as _observe

    return _observe(request)


def observe_request_async(request):
    """An httpx.AsyncClient whose calls are captured as outgoing events of
    `request`."""
    from .outgoing import observe_request_async as _observe

    return _observe(request)


def __getattr__(name):
    # The middleware imports Django; load it only when asked for, so that
    # `import otas` works in apps without Django.
    if name == "OtasMiddleware":
        from .middleware import OtasMiddleware

        return OtasMiddleware
    raise AttributeError(f"module 'otas' has no attribute {name!r}")
