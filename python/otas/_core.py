"""The one capture core the Django, WSGI and ASGI adapters share.

An adapter fills an `Exchange` (a typed record: one request/response as the
framework gave it) and hands it to `Core.submit()`.  Everything that is
not framework-specific happens here, once: the body cut at the engine's
cap (a 50 MB Django response is handed over as its first
OTAS_MAX_BODY_BYTES, never whole), the user's hooks (SKIP, IDENTIFY_*,
GET_SESSION_TOKEN, GET_METADATA), MASK_EVENT, the event id (created
early for the response header, or by outgoing calls), the reported and
raised errors, and the single call into the engine.  The engine's capture
call is positional because it is on the request path (a keyword or
attribute call costs more than the whole capture budget); this module is
its only caller besides outgoing calls, so its order lives in one place.
"""

import json
import logging
import sys

from . import _mask, _otel, outgoing

logger = logging.getLogger("otas")

ERRORS_ATTR = outgoing.ERRORS_ATTR
EVENT_ID_ATTR = outgoing.EVENT_ID_ATTR
ERRORS_KEY = outgoing.ERRORS_KEY
EVENT_ID_KEY = outgoing.EVENT_ID_KEY


class Exchange:
    """One request/response.

    headers: the WSGI environ / Django META dict, or (name, value) pairs
    (ASGI).  resp_headers: a mapping or (name, value) pairs.  Bodies are
    bytes-like (the core cuts them) or None; sizes are the full sizes (-1
    unknown).  store: the dict where report_error()/outgoing calls left
    errors and the event id (request.__dict__, the environ, the scope), with
    the key names of that store.  query/remote_addr/scheme override what the
    engine would read from a dict `headers` (ASGI has no environ).

    The defaults are class attributes, so an adapter sets only what it has
    (an instance dict of a few entries is cheaper than filling 23 slots on
    the request path).
    """

    method = path = route = headers = None
    start_us = duration_ns = 0
    req_body = resp_body = None
    req_size = resp_size = 0
    status = 0
    resp_headers = None
    flags = 0
    errors = None
    request = response = None
    store = None
    errors_key = ERRORS_KEY  # Django's store uses the attribute names
    event_id_key = EVENT_ID_KEY
    query = remote_addr = scheme = None
    user_id = None
    session = None  # the framework's session key: GET_SESSION_TOKEN's default

    def __init__(self, method, path, route, headers, start_us):
        self.method = method
        self.path = path
        self.route = route
        self.headers = headers
        self.start_us = start_us


# metadata names the engine writes: a GET_METADATA / MASK_EVENT value with
# one of these names would be written twice.  Ours win; the user's value
# is kept under metadata.app (documented in the README).
RESERVED_METADATA = frozenset({
    "event_id", "timestamp", "sdk", "host", "route", "client_ip", "user_id",
    "company_id", "session_token", "traceparent", "trace_id", "span_id",
    "parent_span_id", "tags",
    "service_version", "direction", "url", "parent_event_id", "truncated",
    "body_encoding", "errors"})


def _metadata_json(value):
    """The user's metadata dict as the engine takes it (JSON), with names
    of ours moved under "app"."""
    return json.dumps(_metadata_dict(value), default=str)


def _metadata_dict(value):
    """The user's metadata as a dict, with names of ours moved under
    "app"."""
    if not isinstance(value, dict):
        value = {"value": value}
    clash = RESERVED_METADATA.intersection(value)
    if clash:
        value = dict(value)
        app = value.get("app")
        app = dict(app) if isinstance(app, dict) else (
            {} if app is None else {"app": app})
        app.update((k, value.pop(k)) for k in sorted(clash))
        value["app"] = app
    return value


def _header_name(cgi):
    if cgi.startswith("HTTP_"):
        cgi = cgi[5:]
    return cgi.replace("_", "-").lower()


class Core:
    """Per adapter instance: the engine's calls and the user's hooks."""

    __slots__ = ("engine", "capture", "cap", "hooks", "mask", "failed",
                 "hook_failed", "plain")

    def __init__(self, engine, hooks):
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
        body, without a copy."""
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
        """Capture one exchange; the event id when want_id, else None.
        Never raises: a failure is logged once and counted."""
        try:
            store = x.store
            if self.plain and (store is None or (
                    x.errors_key not in store and x.event_id_key not in store)):
                # The common case (no hooks, nothing reported): straight
                # to the engine.
                user = x.user_id
                sess = x.session
                cap = self.cap + 1
                body = x.resp_body
                if body is not None and len(body) > cap:
                    body = memoryview(body)[:cap]
                rq = x.req_body
                if rq is not None and len(rq) > cap:
                    rq = memoryview(rq)[:cap]
                q = x.query
                return self.capture(
                    x.method, x.path, x.route, x.headers, rq, x.req_size,
                    x.status, x.resp_headers, body, x.resp_size, x.start_us,
                    x.duration_ns, x.flags, x.errors,
                    None if user is None and q is None and sess is None else
                    (None if user is None else str(user), None, sess, None,
                     None, q, x.remote_addr, x.scheme),
                    want_id)
            return self._submit(x, want_id)
        except Exception:
            self.fail()
            return None

    def call(self, method, path, route, headers, start_us, duration_ns,
             status, resp_headers, resp_body, resp_size, *, req_body=None,
             req_size=0, flags=0, errors=None, store=None,
             errors_key=ERRORS_KEY, event_id_key=EVENT_ID_KEY, user_id=None,
             request=None, response=None, want_id=False, session=None):
        """submit() as a keyword call, for an adapter that has every piece
        at hand (Django): the common case reaches the engine without
        building an Exchange (the request path's budget is a few µs)."""
        try:
            if self.plain and (store is None or (
                    errors_key not in store and event_id_key not in store)):
                cap = self.cap + 1
                if resp_body is not None and len(resp_body) > cap:
                    resp_body = memoryview(resp_body)[:cap]
                if req_body is not None and len(req_body) > cap:
                    req_body = memoryview(req_body)[:cap]
                return self.capture(
                    method, path, route, headers, req_body, req_size, status,
                    resp_headers, resp_body, resp_size, start_us, duration_ns,
                    flags, errors, None if user_id is None and session is None
                    else (None if user_id is None else str(user_id), None,
                          session, None, None, None, None, None),
                    want_id)
            x = Exchange(method, path, route, headers, start_us)
            x.duration_ns, x.status, x.resp_headers = duration_ns, status, resp_headers
            x.resp_body, x.resp_size, x.req_body = resp_body, resp_size, req_body
            x.req_size, x.flags, x.errors, x.store = req_size, flags, errors, store
            x.errors_key, x.event_id_key = errors_key, event_id_key
            x.user_id, x.request, x.response = user_id, request, response
            x.session = session
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
        link = children or store is not None and x.event_id_key in store
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
                                 if session is not None else x.session)
                return None
            value = self._call("GET_METADATA", request, response)
            if value is not None:
                try:
                    meta = _metadata_dict(value)
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
            session = x.session
        # OpenTelemetry's active span (the server span), else the trace
        # made for this request's outgoing calls: metadata.trace_id & co.
        ids = _otel.span_ids()
        if ids is not None:
            meta = dict(meta or {}, **_otel.span_metadata(ids))
        elif store is not None and _otel.TRACE_KEY in store:
            meta = dict(meta or {}, trace_id=store[_otel.TRACE_KEY][0])
        errors = x.errors
        eid = None
        if store is not None:
            reported = store.get(x.errors_key)
            if reported:
                errors = (errors or []) + reported
            eid = store.get(x.event_id_key)
        meta_json = json.dumps(meta, default=str) if meta else None
        if (user is None and company is None and session is None
                and meta_json is None and eid is None and x.query is None
                and x.remote_addr is None and x.scheme is None):
            extra = None
        else:
            extra = (None if user is None else str(user),
                     None if company is None else str(company),
                     None if session is None else str(session),
                     meta_json, None, x.query, x.remote_addr, x.scheme)
            if eid is not None:
                extra += (eid,)
        req_body = self.cut(x.req_body)
        resp_body = self.cut(x.resp_body)
        if self.mask is not None:
            got = self._masked(x, req_body, resp_body, errors, extra,
                               want_id or link)
        else:
            got = self.capture(x.method, x.path, x.route, x.headers, req_body,
                               x.req_size, x.status, x.resp_headers,
                               resp_body, x.resp_size, x.start_us,
                               x.duration_ns, x.flags, errors, extra,
                               want_id or link)
        if link:
            # got: the id when the engine queued it (None: dropped by a
            # filter, sampling or MASK_EVENT) -- children link only to a
            # parent that exists.
            if isinstance(got, tuple):
                got, (user, company, session) = got
            outgoing.release(store, got, user, company, session)
        elif isinstance(got, tuple):
            got = got[0]
        return got if want_id else None

    def _masked(self, x, req_body, resp_body, errors, extra, want_id):
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
        if isinstance(query, bytes):
            query = query.decode("latin-1")
        rh = x.resp_headers
        if isinstance(rh, dict):
            resp_h = {k.lower(): (v[1] if isinstance(v, tuple) else v)
                      for k, v in rh.items()}
        else:
            resp_h = {_text(k).lower(): _text(v) for k, v in (rh or ())}
        extra = list(extra or (None,) * 8)
        metadata = json.loads(extra[3]) if extra[3] else {}
        rq, rq_json = _mask.body_for_hook(req_body)
        rs, rs_json = _mask.body_for_hook(resp_body)
        who = (extra[0], extra[1], extra[2])
        event = {"direction": "incoming", "method": x.method, "path": x.path,
                 "route": x.route, "status_code": x.status,
                 "query_string": query, "request_headers": req_h,
                 "response_headers": resp_h, "request_body": rq,
                 "response_body": rs, "user_id": extra[0],
                 "company_id": extra[1], "session_token": extra[2],
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
        extra[0] = _mask.text_or_none(event.get("user_id"))
        extra[1] = _mask.text_or_none(event.get("company_id"))
        extra[2] = _mask.text_or_none(event.get("session_token"))
        meta = event.get("metadata") or {}
        extra[3] = json.dumps(meta, default=str) if meta else None
        extra[5] = event.get("query_string", query)
        extra[6], extra[7] = remote, scheme
        body_q = _mask.body_from_hook(event.get("request_body"), rq_json)
        body_s = _mask.body_from_hook(event.get("response_body"), rs_json)
        got = self.capture(
            event.get("method", x.method), event.get("path", x.path),
            event.get("route", x.route),
            list((event.get("request_headers") or {}).items()),
            self.cut(body_q),
            len(body_q or b"") if rq_json or body_q is None else x.req_size,
            event.get("status_code", x.status),
            list((event.get("response_headers") or {}).items()),
            self.cut(body_s),
            len(body_s or b"") if rs_json or body_s is None else x.resp_size,
            x.start_us, x.duration_ns, x.flags, errors, tuple(extra),
            want_id)
        return got, (extra[0], extra[1], extra[2])


def _text(v):
    return v.decode("latin-1") if isinstance(v, (bytes, bytearray)) else str(v)
