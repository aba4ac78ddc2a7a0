"""The process's engines: created once per distinct configuration.

Every middleware instance (Django builds one per handler; the test client
one per client) with the same options shares one engine, so a process has
one sender thread.  Engines are closed with the OTAS_SHUTDOWN_TIMEOUT_MS
deadline (the engine cuts a transfer in flight there): what cannot be
delivered by then goes to the spool, and the next process sends it.

Closing has to happen on every way a server process ends, and atexit alone
does not see them all:

- a normal interpreter exit (gunicorn workers, hypercorn, daphne, a
  KeyboardInterrupt): the atexit handler;
- a terminating signal nobody handles (SIG_DFL: waitress, runserver
  --noreload on SIGTERM, SIGHUP): our handler closes the engines, then puts
  the default back and re-delivers the signal, so the process ends as it
  would have, exit status included;
- a server that catches the signal, shuts down gracefully, restores the
  default and re-raises it with signal.raise_signal() (uvicorn, and so
  gunicorn's UvicornWorker): signal.raise_signal is wrapped to close the
  engines first when the signal is about to kill the process.

atexit and these hooks run before interpreter finalization, which is what
makes the engine's logging callback (it takes the GIL from the sender
thread) safe.  Closing twice is harmless: the first one empties _runtimes.
"""

import atexit
import logging
import os
import signal
import sys
import threading

from . import _native, conf
from .exceptions import (
    OtasAuthenticationError,
    OtasConfigurationError,
    OtasConnectionError,
)

logger = logging.getLogger("otas")

# Re-entrant: the stop-signal handler (main thread) may run while that
# thread is inside start() holding it.
_lock = threading.RLock()
# Start-up authentication waits at most this long (OTAS_TIMEOUT_MS, from
# the C option table, when shorter): an app must not wait a full delivery
# timeout to start when the back end is slow (policy, not an option).
STARTUP_AUTH_MAX_MS = 5000
_runtimes = {}
_current = None
_atexit_registered = False


def _log(level, message):
    logger.log(level, "%s", message)


def _debug_log(level, message):
    # OTAS_DEBUG=1: the engine's debug lines (one per event, with the event
    # as sent) must show whatever the logging set-up: through the "otas"
    # logger when it has a handler that takes DEBUG, else on stderr.
    if level <= logging.DEBUG and not (logger.isEnabledFor(logging.DEBUG)
                                       and logger.hasHandlers()):
        try:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        except Exception:  # pragma: no cover - a closed stderr
            pass
    else:
        logger.log(level, "%s", message)


class Runtime:
    """One engine and what authentication told us."""

    __slots__ = ("engine", "settings", "project_id", "project_name",
                 "project_description", "authenticated")

    def __init__(self, engine, settings):
        self.engine = engine
        self.settings = settings
        self.project_id = self.project_name = self.project_description = None
        self.authenticated = False


def start(settings):
    """The runtime for these settings, authenticating a new engine.

    Raises OtasAuthenticationError for a refused key, OtasConnectionError
    for an unreachable back end when OTAS_STRICT_STARTUP is set; otherwise
    an unreachable back end is logged and retried in the background.
    """
    global _current, _atexit_registered
    mod = _native.engine
    if mod is None:
        raise OtasConfigurationError(
            "the OTAS C engine is not installed (" + str(_native.NATIVE_ERROR)
            + "); reinstall with `pip install otas`"
        )
    key = tuple(sorted(settings.options.items()))
    with _lock:
        rt = _runtimes.get(key)
        if rt is not None and not rt.engine.closed:
            _current = rt
            return rt
        level = logging.DEBUG if settings.debug else logger.getEffectiveLevel()
        # OTAS_DEBUG=1: the engine logs its start-up line of options
        # (secrets as '***') when it is given the DEBUG level.
        try:
            eng = mod.Engine(settings.options,
                             _debug_log if settings.debug else _log, level)
        except ValueError as exc:
            raise OtasConfigurationError(str(exc)) from None
        rt = Runtime(eng, settings)
        timeout = min(settings.ms("OTAS_TIMEOUT_MS"), STARTUP_AUTH_MAX_MS)
        status, http, message, pid, name, desc = eng.authenticate(timeout)
        if status == mod.AUTH_OK:
            rt.authenticated = True
            rt.project_id, rt.project_name, rt.project_description = pid, name, desc
        elif status == mod.AUTH_INVALID_KEY or status == mod.AUTH_CONFIG:
            eng.close(0)
            raise OtasAuthenticationError(
                f"OTAS rejected the SDK key: {message} (HTTP {http}). "
                "Check OTAS_SDK_KEY and OTAS_AUTH_URL.", http)
        else:
            if settings.strict_startup:
                eng.close(0)
                raise OtasConnectionError(
                    f"OTAS back end unreachable at start-up: {message} "
                    "(OTAS_STRICT_STARTUP=1)", http)
            logger.warning(
                "OTAS back end unreachable at start-up (%s); capturing "
                "anyway and retrying authentication in the background",
                message)
        _runtimes[key] = rt
        _current = rt
        if not _atexit_registered:
            atexit.register(shutdown)
            _install_exit_hooks()
            _atexit_registered = True
        return rt


# Signals whose default action ends the process without atexit.
_FATAL = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP",
                                            "SIGQUIT") if hasattr(signal, n))
_raise_signal = signal.raise_signal


def _flush_then_redeliver(signum, frame):
    """Handler for a fatal signal nobody else handles: deliver or spool
    what is in memory (deadline OTAS_SHUTDOWN_TIMEOUT_MS), then end the
    process the way the default action would."""
    shutdown()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _raise_signal_closing(signum):
    # uvicorn's graceful shutdown ends with raise_signal(sig) under the
    # default disposition, which kills the process without atexit (and
    # under gunicorn's UvicornWorker a SIGQUIT so raised never ends it,
    # until the master's SIGKILL): a process raising a stop signal at
    # itself is done serving, so deliver now.
    try:
        if signum in _FATAL:
            shutdown()
    except Exception:  # pragma: no cover - never stop the signal
        pass
    return _raise_signal(signum)


def _install_exit_hooks():
    """Called once, with _lock held, when the first engine starts."""
    signal.raise_signal = _raise_signal_closing
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal works only there; the server's thread runs us
    for signum in _FATAL:
        try:
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, _flush_then_redeliver)
        except (ValueError, OSError):  # pragma: no cover
            pass


def current():
    return _current


def shutdown(timeout=None):
    """Close every engine: flush until the deadline, spool the rest."""
    global _current
    with _lock:
        runtimes = list(_runtimes.values())
        _runtimes.clear()
        _current = None
    for rt in runtimes:
        ms = rt.settings.shutdown_timeout_ms if timeout is None else int(timeout * 1000)
        try:
            rt.engine.close(ms)
        except Exception:  # pragma: no cover - never fail interpreter exit
            logger.exception("OTAS engine shutdown failed")


def close_where(name, value, timeout_ms=None):
    """Close the engines whose option `name` is `value` (otas.testing)."""
    global _current
    with _lock:
        keys = [k for k, rt in _runtimes.items()
                if rt.settings.options.get(name) == value]
        runtimes = [_runtimes.pop(k) for k in keys]
        if _current in runtimes:
            _current = None
    for rt in runtimes:
        ms = rt.settings.shutdown_timeout_ms if timeout_ms is None else timeout_ms
        rt.engine.close(ms)


def flush(timeout=5.0):
    ok = True
    with _lock:
        runtimes = list(_runtimes.values())
    for rt in runtimes:
        if not rt.engine.closed:
            ok = rt.engine.flush(int(timeout * 1000)) and ok
    return ok


def stats():
    rt = _current
    if rt is None or rt.engine.closed:
        return {}
    return rt.engine.stats()


def current_shutdown_timeout_ms():
    rt = _current
    if rt is not None:
        return rt.settings.shutdown_timeout_ms
    return conf.Settings({}, {}).shutdown_timeout_ms  # the C table's
