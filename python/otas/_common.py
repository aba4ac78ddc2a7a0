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


def _header_name(cgi):
    if cgi.startswith("HTTP_"):
        cgi = cgi[5:]
    return cgi.replace("_", "-").lower()


def masking_capture(hook, capture, failed):
    """Wrap the engine's capture call with the user's MASK_EVENT(event).

    Costs time on the request path (a dict per request), so it is used only
    when MASK_EVENT is set.  The hook receives the event as a dict --
    method, path, route, status_code, query_string, request_headers and
    response_headers (lower-case names), request_body and response_body
    (bytes or None), metadata (dict) -- and returns it changed, or None to
    drop the event.  The engine still applies every redaction rule to what
    comes back.  A hook that raises is logged once; its event is
    dropped (not sent unmasked), so a broken mask never leaks.
    """

    def masked(method, path, route, environ, req_body, req_size, status,
               resp_headers, resp_body, resp_size, start_us, duration, flags,
               errors, extra, want_id):
        if isinstance(environ, dict):
            req_h = {_header_name(k): v for k, v in environ.items()
                     if isinstance(v, str) and (k.startswith("HTTP_")
                                                or k in ("CONTENT_TYPE", "CONTENT_LENGTH"))}
            query = environ.get("QUERY_STRING", "")
            remote = environ.get("REMOTE_ADDR")
            scheme = environ.get("wsgi.url_scheme")
        else:
            req_h = {str(k).lower(): v for k, v in environ}
            query = remote = scheme = None
        if isinstance(resp_headers, dict):
            resp_h = {k.lower(): (v[1] if isinstance(v, tuple) else v)
                      for k, v in resp_headers.items()}
        else:
            resp_h = {str(k).lower(): v for k, v in (resp_headers or ())}
        extra = list(extra or (None,) * 8)
        extra += [None] * (9 - len(extra))
        metadata = json.loads(extra[3]) if extra[3] else {}
        event = {"method": method, "path": path, "route": route,
                 "status_code": status, "query_string": query,
                 "request_headers": req_h, "response_headers": resp_h,
                 "request_body": req_body, "response_body": resp_body,
                 "metadata": metadata}
        try:
            event = hook(event)
        except Exception:
            if "MASK_EVENT" not in failed:
                failed.add("MASK_EVENT")
                logger.exception("OTAS MASK_EVENT raised; events it fails "
                                 "on are dropped (logged once)")
            return None
        if event is None:
            return None
        extra[3] = json.dumps(event.get("metadata") or {}, default=str)
        extra[5] = event.get("query_string", query)
        extra[6], extra[7] = remote, scheme
        body_q = event.get("request_body")
        body_s = event.get("response_body")
        return capture(
            event.get("method", method), event.get("path", path),
            event.get("route", route),
            list((event.get("request_headers") or {}).items()),
            body_q, req_size if body_q is req_body else len(body_q or b""),
            event.get("status_code", status),
            list((event.get("response_headers") or {}).items()),
            body_s, resp_size if body_s is resp_body else len(body_s or b""),
            start_us, duration, flags, errors,
            tuple(extra) if extra[8] else tuple(extra[:8]), want_id)

    return masked


class HostOptions:
    """What a framework adapter decides once from the options: hooks, the
    event-id response header, the early filter, outgoing capture.  Every
    option was validated by the engine (conf.load)."""

    __slots__ = ("hooks", "id_header", "filtering", "outgoing")

    def __init__(self, settings, engine):
        opts = settings.options
        self.hooks = Hooks(settings.hooks) if settings.hooks else None
        self.id_header = engine is not None and _as_bool(
            opts.get("OTAS_EVENT_ID_HEADER", "0"))
        # Worth an early call into the engine only when a filter is set;
        # the engine applies filters at capture time in any case.
        self.filtering = engine is not None and any(
            opts.get(k) for k in ("OTAS_EXCLUDE_PATHS", "OTAS_CAPTURE_METHODS"))
        self.outgoing = engine is not None and _as_bool(
            opts.get("OTAS_CAPTURE_OUTGOING", "0"))

    def extra(self, request, response, event_id):
        """(skip, extra tuple) for a capture: the hooks' values and the
        event id, when any."""
        extra = None
        if self.hooks is not None:
            if self.hooks.should_skip(request, response):
                return True, None
            extra = self.hooks.extra(request, response)
        if event_id is not None:
            extra = (extra or (None,) * 8)[:8] + (event_id,)
        return False, extra


def _as_bool(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class Adapter:
    """What the WSGI and ASGI middleware share: the engine for the options
    (keyword arguments, then the environment), its calls, and the
    decisions of HostOptions."""

    def __init__(self, app, options):
        from . import conf, outgoing

        self.app = app
        settings = conf.load(None, options)
        self._engine = start_engine(settings)
        if self._engine is not None:
            self._capture = self._engine.capture
            self._want_body = self._engine.want_request_body
            self._cap = self._engine.body_cap()
            self._streaming = _native.engine.CAP_RESP_STREAMING
            self._skipped = _native.engine.CAP_REQ_BODY_SKIPPED
        self._failed = FailOnce()
        self._opts = HostOptions(settings, self._engine)
        self._outgoing = self._opts.outgoing
        if self._outgoing:
            outgoing.install(self._engine, settings)
