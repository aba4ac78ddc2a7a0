"""The one capture core the Django, WSGI and ASGI adapters share.

An adapter fills an `Exchange` -- the engine's typed record of one
request/response (otas._engine.Exchange, a C type whose fields are listed
with their types in _engine.pyi) -- and hands it to `Core.submit()`.
Everything that is not framework-specific happens here, once: the user's
hooks (SKIP, IDENTIFY_*, GET_SESSION_TOKEN, GET_METADATA), MASK_EVENT, the
event id (created early for the response header, or by outgoing calls),
the reported and raised errors, and the single call into the engine,
`engine.capture(exchange, want_id)`, which reads the record's fields
straight from its C struct and cuts each body at the engine's cap without
a copy (a 50 MB Django response is handed over as its first
OTAS_MAX_BODY_BYTES, never whole).
"""

import json
import logging
import sys

from . import _mask, _native, _null_engine, _otel, outgoing

logger = logging.getLogger("otas")

ERRORS_ATTR = outgoing.ERRORS_ATTR
EVENT_ID_ATTR = outgoing.EVENT_ID_ATTR
ERRORS_KEY = outgoing.ERRORS_KEY
EVENT_ID_KEY = outgoing.EVENT_ID_KEY

# The record: Exchange(method, path, route, headers, start_us), then the
# other fields set by name (each a slot: a store costs what a local does).
Exchange = getattr(_native.engine, "Exchange", None) or _null_engine.Exchange


def _header_name(cgi):
    if cgi.startswith("HTTP_"):
        cgi = cgi[5:]
    return cgi.replace("_", "-").lower()


class Core:
    """Per adapter instance: the engine's calls and the user's hooks.

    errors_key / event_id_key: the names under which report_error() and
    outgoing calls leave errors and the event id in an exchange's store
    (the environ's keys; Django's store is request.__dict__, with the
    attribute names)."""

    __slots__ = ("engine", "capture", "cap", "hooks", "mask", "failed",
                 "hook_failed", "plain", "errors_key", "event_id_key")

    def __init__(self, engine, hooks, errors_key=ERRORS_KEY,
                 event_id_key=EVENT_ID_KEY):
        self.engine = engine
        self.capture = engine.capture
        self.cap = engine.body_cap()
        self.hooks = {k: v for k, v in (hooks or {}).items() if v is not None}
        self.mask = self.hooks.pop("MASK_EVENT", None)
        # No hook, no mask, no OpenTelemetry: submit() takes the short
        # path.  (OpenTelemetry is looked for once: its instrumentation is
        # set up before the first request.)
        self.plain = (not self.hooks and self.mask is None
                      and "opentelemetry.trace" not in sys.modules)
        self.failed = 0
        self.hook_failed = set()
        self.errors_key = errors_key
        self.event_id_key = event_id_key

    # ------------------------------------------------------------- hooks

    def _call(self, name, request, response):
        fn = self.hooks.get(name)
        if fn is None:
            return None
        try:
            return fn(request, response)
        except Exception:
            if name not in self.hook_failed:
                self.hook_failed.add(name)
                logger.exception("OTAS %s raised; ignored for this and later "
                                 "requests' values (logged once)", name)
            return None

    def cut(self, body):
        """At most the engine's cap (+1 byte, so that the engine sees the
        body is longer, cuts it and marks it truncated) of a bytes-like
        body, without a copy.  capture() cuts by itself; this is for a
        body about to be copied (MASK_EVENT's bytes)."""
        if body is None:
            return None
        if len(body) > self.cap + 1:
            return memoryview(body)[:self.cap + 1]
        return body

    # ------------------------------------------------------------ submit

    def fail(self):
        """An adapter's own step failed: log once (with the traceback),
        count the rest; the response is unaffected."""
        if getattr(self.engine, "closed", False):
            # The process is stopping (the engines were closed): say so
            # once, without a traceback that reads like a bug.
            if "closed" not in self.hook_failed:
                self.hook_failed.add("closed")
                logger.warning("OTAS: a request finished after OTAS was "
                               "closed for the process's stop; its event "
                               "is not recorded")
            return
        self.failed += 1
        if self.failed == 1:
            logger.exception("OTAS capture failed; the response is "
                             "unaffected (logged once)")

    def submit(self, x, want_id=False):
        """Capture one Exchange; the event id when want_id, else None.
        Never raises: a failure is logged once and counted."""
        try:
            store = x.store
            if self.plain and (store is None or (
                    self.errors_key not in store
                    and self.event_id_key not in store)):
                # The common case (no hooks, nothing reported): straight
                # to the engine.
                return self.capture(x, want_id)
            return self._submit(x, want_id)
        except Exception:
            self.fail()
            return None

    def _submit(self, x, want_id):
        hooks = self.hooks
        store = x.store
        request, response = x.request, x.response
        user = company = session = meta = None
        # Outgoing calls made while serving it wait for this event
        # (outgoing.release): they inherit its user, and link to it only if
        # it is kept.
        children = store is not None and outgoing.CHILDREN_KEY in store
        link = children or store is not None and self.event_id_key in store
        if hooks:
            skip = "SKIP" in hooks and self._call("SKIP", request, response)
            if skip and not link:
                return None
            user = self._call("IDENTIFY_USER", request, response)
            company = self._call("IDENTIFY_COMPANY", request, response)
            session = self._call("GET_SESSION_TOKEN", request, response)
            if skip:
                outgoing.release(store, None, user if user is not None
                                 else x.user_id, company, session
                                 if session is not None else x.session_token)
                return None
            value = self._call("GET_METADATA", request, response)
            if value is not None:
                try:
                    # Names of ours in it go under metadata.app: the
                    # engine's serialiser decides (event.c).
                    meta = (value if isinstance(value, dict)
                            else {"value": value})
                    json.dumps(meta, default=str)
                except (TypeError, ValueError):
                    meta = None
                    if "GET_METADATA:json" not in self.hook_failed:
                        self.hook_failed.add("GET_METADATA:json")
                        logger.warning("OTAS GET_METADATA returned a value "
                                       "that is not JSON-serialisable; "
                                       "ignored")
        if user is None:
            user = x.user_id
        if session is None and "GET_SESSION_TOKEN" not in hooks:
            # The adapter's session_token (the framework's session key) is
            # GET_SESSION_TOKEN's default.
            session = x.session_token
        # OpenTelemetry's active span (the server span), else the trace
        # made for this request's outgoing calls: metadata.trace_id & co.
        ids = _otel.span_ids()
        if ids is not None:
            meta = dict(meta or {}, **_otel.span_metadata(ids))
        elif store is not None and _otel.TRACE_KEY in store:
            meta = dict(meta or {}, trace_id=store[_otel.TRACE_KEY][0])
        if store is not None:
            reported = store.get(self.errors_key)
            if reported:
                x.errors = (x.errors or []) + reported
            eid = store.get(self.event_id_key)
            if eid is not None:
                # Outgoing calls or observe_request() already named this
                # event: capture it under that id so they link to it.
                x.event_id = eid
        x.user_id = None if user is None else str(user)
        x.company_id = None if company is None else str(company)
        x.session_token = None if session is None else str(session)
        x.metadata = json.dumps(meta, default=str) if meta else None
        if self.mask is not None:
            got = self._masked(x, want_id or link)
        else:
            got = self.capture(x, want_id or link)
        if link:
            # got: the id when the engine queued it (None: dropped by a
            # filter, sampling or MASK_EVENT) -- children link only to a
            # parent that exists.
            if isinstance(got, tuple):
                got, (user, company, session) = got
            else:
                user, company, session = x.user_id, x.company_id, x.session_token
            outgoing.release(store, got, user, company, session)
        elif isinstance(got, tuple):
            got = got[0]
        return got if want_id else None

    def _masked(self, x, want_id):
        """MASK_EVENT(event) -> event or None (drop).  The hook gets the
        event as a dict -- direction, method, path, route, status_code,
        query_string, request_headers and response_headers (lower-case
        names), request_body and response_body (parsed JSON when the body
        is JSON, else bytes or None), user_id, company_id, session_token,
        metadata (dict) -- and returns it changed, or None to drop the
        event.  The engine still applies every redaction rule to what comes
        back.  A hook that raises drops its event (logged once): a broken
        mask never leaks.  Returns (event id or None, (user, company,
        session) as the hook left them)."""
        environ = x.headers
        if isinstance(environ, dict):
            req_h = {_header_name(k): v for k, v in environ.items()
                     if isinstance(v, str) and (k.startswith("HTTP_")
                                                or k in ("CONTENT_TYPE",
                                                         "CONTENT_LENGTH"))}
            query = environ.get("QUERY_STRING", "")
            remote = environ.get("REMOTE_ADDR")
            scheme = environ.get("wsgi.url_scheme")
        else:
            req_h = {_text(k).lower(): _text(v) for k, v in environ or ()}
            query, remote, scheme = x.query, x.remote_addr, x.scheme
        if x.query is not None:
            query = x.query
        if isinstance(query, bytes):
            query = query.decode("latin-1")
        rh = x.resp_headers
        if isinstance(rh, dict):
            resp_h = {k.lower(): (v[1] if isinstance(v, tuple) else v)
                      for k, v in rh.items()}
        else:
            resp_h = {_text(k).lower(): _text(v) for k, v in (rh or ())}
        metadata = json.loads(x.metadata) if x.metadata else {}
        rq, rq_json = _mask.body_for_hook(self.cut(x.req_body))
        rs, rs_json = _mask.body_for_hook(self.cut(x.resp_body))
        who = (x.user_id, x.company_id, x.session_token)
        event = {"direction": "incoming", "method": x.method, "path": x.path,
                 "route": x.route, "status_code": x.status,
                 "query_string": query, "request_headers": req_h,
                 "response_headers": resp_h, "request_body": rq,
                 "response_body": rs, "user_id": who[0],
                 "company_id": who[1], "session_token": who[2],
                 "metadata": metadata}
        try:
            event = self.mask(event)
        except Exception:
            if "MASK_EVENT" not in self.hook_failed:
                self.hook_failed.add("MASK_EVENT")
                logger.exception("OTAS MASK_EVENT raised; events it fails "
                                 "on are dropped (logged once)")
            return None, who
        if event is None:
            return None, who
        body_q = _mask.body_from_hook(event.get("request_body"), rq_json)
        body_s = _mask.body_from_hook(event.get("response_body"), rs_json)
        m = Exchange(event.get("method", x.method), event.get("path", x.path),
                     event.get("route", x.route),
                     list((event.get("request_headers") or {}).items()),
                     x.start_us)
        # A parsed body goes back re-serialised: its size is the new one.
        m.req_body = body_q
        m.req_size = (len(body_q or b"") if rq_json or body_q is None
                      else x.req_size)
        m.status = event.get("status_code", x.status)
        m.resp_headers = list((event.get("response_headers") or {}).items())
        m.resp_body = body_s
        m.resp_size = (len(body_s or b"") if rs_json or body_s is None
                       else x.resp_size)
        m.duration_ns, m.flags, m.errors = x.duration_ns, x.flags, x.errors
        m.user_id = _mask.text_or_none(event.get("user_id"))
        m.company_id = _mask.text_or_none(event.get("company_id"))
        m.session_token = _mask.text_or_none(event.get("session_token"))
        m.event_id, m.parent_event_id = x.event_id, x.parent_event_id
        meta = event.get("metadata") or {}
        m.metadata = json.dumps(meta, default=str) if meta else None
        m.query = event.get("query_string", query)
        m.remote_addr, m.scheme = remote, scheme
        got = self.capture(m, want_id)
        return got, (m.user_id, m.company_id, m.session_token)


def _text(v):
    return v.decode("latin-1") if isinstance(v, (bytes, bytearray)) else str(v)
