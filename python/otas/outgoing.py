"""Outgoing HTTP calls and reported errors, tied to the request served.

With OTAS_CAPTURE_OUTGOING=1 every call made through `requests`, `urllib3`
or `httpx` (sync and async) while a request is being served becomes an
event with metadata.direction "outgoing" and metadata.parent_event_id the
id of that incoming request.  Each call is one engine capture call, like an
incoming request: no thread per call, the same queue, the same redaction
(headers, query, bodies) and body caps.  Calls to the OTAS back end itself
are never captured (the engine talks to it through libcurl, not Python,
and URLs under OTAS_BASE_URL / OTAS_AUTH_URL are skipped).

Linking: the middleware puts the request being served in a context
variable; the first outgoing call of a request gives it its event id (so
requests that make no calls pay nothing).  Context variables follow async
tasks; threads started by the view (threading.Thread, ThreadPoolExecutor)
get the parent too, because starting them copies it.

`observe_request(request)` returns an httpx.Client whose calls are captured
and linked to `request` even without OTAS_CAPTURE_OUTGOING (APIToolkit's
API); `observe_request_async` the AsyncClient.  `report_error(request, exc)`
attaches an error to the request's event; outside a request it is an event
of its own.
"""

import contextvars
import threading
import time
from urllib.parse import urlsplit

from . import _mask, _native, _otel, _runtime, conf
from ._common import exception_record

_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns

# The request being served (Django HttpRequest, WSGI environ, ASGI scope).
current_request = contextvars.ContextVar("otas_current_request", default=None)
# Set while an outer instrumented call runs, so layers below it (requests
# -> urllib3, httpx redirects) are not captured twice.
_inside = contextvars.ContextVar("otas_inside_outgoing", default=False)

ERRORS_ATTR = "_otas_errors"
EVENT_ID_ATTR = "_otas_event_id"
ERRORS_KEY = "otas.errors"
EVENT_ID_KEY = "otas.event_id"
# In the parent's store: outgoing events waiting for it (CHILDREN_KEY), and
# once it was captured, what they inherit (DONE_KEY: event id or None when
# the parent was skipped, dropped or masked out; user; company; session).
CHILDREN_KEY = "otas.children"
DONE_KEY = "otas.parent_done"
# A request that makes more calls than this has the rest sent at once,
# without waiting for (and inheriting from) their parent.
MAX_WAITING = 100
_children_lock = threading.Lock()

OUTGOING_HOOKS = ("SKIP_OUTGOING", "IDENTIFY_USER_OUTGOING",
                  "IDENTIFY_COMPANY_OUTGOING", "GET_SESSION_TOKEN_OUTGOING",
                  "GET_METADATA_OUTGOING")

_recorder = None


def _engine():
    rt = _runtime.current()
    return None if rt is None or rt.engine.closed else rt.engine


_start_failed = []


def _engine_or_start():
    """The running engine, or one started from the options (a management
    command, a worker: nothing else started it).  None when OTAS is off or
    not configured (logged once)."""
    engine = _engine()
    if engine is not None:
        return engine
    from . import conf
    from ._common import start_engine

    try:
        return start_engine(conf.load(conf.django_setting()))
    except Exception as exc:
        if not _start_failed:
            _start_failed.append(exc)
            import logging

            logging.getLogger("otas").warning(
                "OTAS report_error: capture is not configured (%s); the "
                "error is not recorded (logged once)",
                str(exc).splitlines()[0])
        return None


def _job_name():
    """What the process runs: the management command, else the program."""
    import os
    import sys

    argv = sys.argv or ["python"]
    prog = os.path.basename(argv[0] or "python")
    if prog in ("manage.py", "django-admin", "django-admin.py", "__main__.py") \
            and len(argv) > 1:
        return argv[1]
    return prog or "python"


def _unwrap(request):
    """DRF's Request wraps Django's HttpRequest: use that one."""
    inner = getattr(request, "__dict__", {}).get("_request")
    return inner if inner is not None and hasattr(inner, "META") else request


def _slot(request):
    """Where a request keeps OTAS's per-request values: its __dict__
    (Django), or the environ/scope dict (WSGI, ASGI, Flask, Starlette)."""
    if isinstance(request, dict):
        return request, ERRORS_KEY, EVENT_ID_KEY
    d = getattr(request, "__dict__", None)
    if d is not None and "META" in d:  # Django (its request has .environ too)
        return d, ERRORS_ATTR, EVENT_ID_ATTR
    env = getattr(request, "environ", None)
    if isinstance(env, dict):  # Flask / Werkzeug
        return env, ERRORS_KEY, EVENT_ID_KEY
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):  # Starlette / FastAPI
        return scope, ERRORS_KEY, EVENT_ID_KEY
    return request.__dict__, ERRORS_ATTR, EVENT_ID_ATTR


def event_id_of(request, engine):
    """The request's event id, created on first use."""
    store, _, key = _slot(request)
    eid = store.get(key)
    if eid is None:
        eid = store[key] = engine.new_event_id()
    return eid


def report_error(request, exc):
    """Attach `exc` (type, message, stack) to the event of `request`.

    Any number per request; the request's response is unaffected.  With
    `request=None` (a background job, a management command) the error is
    sent as an event of its own.
    """
    record = exception_record(exc)
    if request is not None:
        store, key, _ = _slot(_unwrap(request))
        store.setdefault(key, []).append(record)
        return
    parent = current_request.get()
    if parent is not None:
        # Inside a request without a handle on it: that request's event.
        store, key, _ = _slot(parent)
        store.setdefault(key, []).append(record)
        return
    engine = _engine_or_start()
    if engine is None:
        return
    # An event of its own, named for the job: "JOB /jobs/<command>".
    path = "/jobs/" + _job_name()
    engine.capture(_native.engine.Exchange(
        "JOB", path, path, [], _time_ns() // 1000, status=500,
        errors=[record]))


class OutgoingRequest:
    """What SKIP_OUTGOING & co. see of the call (Moesif's hooks read
    req.url, req.method, req.headers, req.body)."""

    __slots__ = ("method", "url", "headers", "body")

    def __init__(self, method, url, headers, body):
        self.method, self.url, self.headers, self.body = method, url, headers, body


class OutgoingResponse:
    """... and of its answer (None when the call failed)."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code, headers, content):
        self.status_code, self.headers, self.content = status_code, headers, content


class _Recorder:
    """Turns one finished outgoing call into one capture call.

    engine None: started from the options on first use (calls made before
    or outside any request: a management command, a worker)."""

    def __init__(self, engine, skip_prefixes, settings=None):
        self._engine = engine
        self.skip = tuple(p.rstrip("/") for p in skip_prefixes if p)
        self.flag = _native.engine.CAP_OUTGOING
        hooks = settings.hooks if settings is not None else {}
        get = settings.get if settings is not None else conf.default
        self.hooks = {k: hooks[k] for k in OUTGOING_HOOKS if hooks.get(k)}
        self.mask = hooks.get("MASK_EVENT")
        # As the engine reads a BOOL: 1/0, true/false, yes/no, on/off.
        self.bodies = conf.as_bool(get("OTAS_CAPTURE_OUTGOING_BODIES"))
        self.propagate = conf.as_bool(get("OTAS_PROPAGATE_TRACEPARENT"))
        self.failed = set()

    @property
    def engine(self):
        eng = self._engine
        if eng is None or eng.closed:
            eng = self._engine = _engine_or_start()
        return eng

    def skipped(self, url):
        return bool(self.skip) and str(url).startswith(self.skip)

    def traceparent(self, parent, headers, client):
        """The traceparent to add to a call's headers, or None: none when
        the call has one or OpenTelemetry instruments the client."""
        if not self.propagate or _otel.has_traceparent(headers) or \
                _otel.client_instrumented(client):
            return None
        try:
            store = _slot(parent)[0] if parent is not None else None
            return _otel.outgoing_traceparent(store, parent)
        except Exception:
            return None

    def _hook(self, name, req, resp):
        fn = self.hooks.get(name)
        if fn is None:
            return None
        try:
            return fn(req, resp)
        except Exception:
            if name not in self.failed:
                self.failed.add(name)
                import logging

                logging.getLogger("otas").exception(
                    "OTAS %s raised; ignored (logged once)", name)
            return None

    def record(self, parent, method, url, req_headers, req_body, status,
               resp_headers, resp_body, resp_size, start_us, duration, exc):
        try:
            parts = urlsplit(str(url))
            headers = [(str(k), str(v)) for k, v in (req_headers or ())]
            if not any(k.lower() == "host" for k, _ in headers):
                headers.append(("host", parts.netloc))
            if isinstance(req_body, str):
                req_body = req_body.encode()
            elif not isinstance(req_body, (bytes, bytearray, memoryview)):
                req_body = None
            resp_headers = list(resp_headers or ())
            size = resp_size if resp_size is not None else len(resp_body or b"")
            user = company = session = meta = None
            if self.hooks:
                req = OutgoingRequest(str(method).upper(), str(url), dict(headers),
                                      req_body)
                resp = None if exc is not None else OutgoingResponse(
                    status, dict(resp_headers), resp_body)
                if self._hook("SKIP_OUTGOING", req, resp):
                    return
                user = self._hook("IDENTIFY_USER_OUTGOING", req, resp)
                company = self._hook("IDENTIFY_COMPANY_OUTGOING", req, resp)
                session = self._hook("GET_SESSION_TOKEN_OUTGOING", req, resp)
                value = self._hook("GET_METADATA_OUTGOING", req, resp)
                if value is not None:
                    meta = value if isinstance(value, dict) else {"value": value}
            req_size = len(req_body) if req_body else 0
            if not self.bodies:
                req_body = resp_body = None
            call = [str(method).upper(), parts, headers, req_body, req_size,
                    status, resp_headers, resp_body, size, start_us, duration,
                    [exception_record(exc)] if exc is not None else None,
                    user, company, session, meta]
            if parent is not None:
                store = _slot(parent)[0]
                with _children_lock:
                    done = store.get(DONE_KEY)
                    if done is None:
                        waiting = store.setdefault(CHILDREN_KEY, [])
                        if len(waiting) < MAX_WAITING:
                            # Sent when the parent is captured (release()),
                            # with its user and its event id if it was kept.
                            waiting.append((self, call))
                            if EVENT_ID_KEY not in store and EVENT_ID_ATTR not in store:
                                event_id_of(parent, self.engine)
                            return
                        done = (None, None, None, None)
                self.submit(call, done)
            else:
                self.submit(call, (None, None, None, None))
        except Exception:
            pass  # never disturb the app's own call

    def submit(self, call, parent_info):
        """Capture one outgoing call; parent_info = (parent event id or
        None, its user, company, session) -- inherited where the call's
        own hooks gave none."""
        engine = self.engine
        if engine is None:
            return
        (method, parts, headers, req_body, req_size, status, resp_headers,
         resp_body, size, start_us, duration, errors, user, company, session,
         meta) = call
        pid, p_user, p_company, p_session = parent_info
        user = p_user if user is None else user
        company = p_company if company is None else company
        session = p_session if session is None else session
        path, query = parts.path or "/", parts.query
        if self.mask is not None:
            rq, rq_json = _mask.body_for_hook(req_body)
            rs, rs_json = _mask.body_for_hook(resp_body)
            event = {"direction": "outgoing", "method": method, "path": path,
                     "url": parts.geturl(), "route": None, "status_code": status,
                     "query_string": query,
                     "request_headers": {k.lower(): v for k, v in headers},
                     "response_headers": {str(k).lower(): str(v)
                                          for k, v in resp_headers},
                     "request_body": rq, "response_body": rs,
                     "user_id": _mask.text_or_none(user),
                     "company_id": _mask.text_or_none(company),
                     "session_token": _mask.text_or_none(session),
                     "metadata": dict(meta or {})}
            try:
                event = self.mask(event)
            except Exception:
                if "MASK_EVENT" not in self.failed:
                    self.failed.add("MASK_EVENT")
                    import logging

                    logging.getLogger("otas").exception(
                        "OTAS MASK_EVENT raised; events it fails on are "
                        "dropped (logged once)")
                return
            if event is None:
                return
            method = event.get("method", method)
            path = event.get("path", path)
            status = event.get("status_code", status)
            query = event.get("query_string", query)
            headers = list((event.get("request_headers") or {}).items())
            resp_headers = list((event.get("response_headers") or {}).items())
            new_q = _mask.body_from_hook(event.get("request_body"), rq_json)
            new_s = _mask.body_from_hook(event.get("response_body"), rs_json)
            # A parsed body goes back re-serialised: its size is the new one.
            if rq_json:
                req_size = len(new_q or b"")
            if rs_json:
                size = len(new_s or b"")
            req_body, resp_body = new_q, new_s
            user = event.get("user_id")
            company = event.get("company_id")
            session = event.get("session_token")
            meta = event.get("metadata")
        import json

        x = _native.engine.Exchange(str(method), path, None, headers,
                                    start_us)
        x.req_body, x.req_size, x.status = req_body, req_size, status
        x.resp_headers, x.resp_body, x.resp_size = resp_headers, resp_body, size
        x.duration_ns, x.flags, x.errors = duration, self.flag, errors
        x.user_id = None if user is None else str(user)
        x.company_id = None if company is None else str(company)
        x.session_token = None if session is None else str(session)
        x.metadata = json.dumps(meta, default=str) if meta else None
        x.parent_event_id, x.query, x.scheme = pid, query, parts.scheme
        engine.capture(x)


def release(store, event_id, user, company, session):
    """The parent request was captured (event_id) or not (None): send the
    outgoing events that waited for it, and let later ones (threads that
    outlive the request) inherit the same.  Called once per request by
    the capture core."""
    try:
        with _children_lock:
            store[DONE_KEY] = (event_id, None if user is None else str(user),
                               None if company is None else str(company),
                               None if session is None else str(session))
            waiting = store.pop(CHILDREN_KEY, None)
        for rec, call in waiting or ():
            try:
                rec.submit(call, store[DONE_KEY])
            except Exception:
                pass
    except Exception:
        pass


def _length(headers):
    """A response's Content-Length as an int, 0 when absent or unusable.
    A repeated header reaches us joined ("5, 5": requests and urllib3
    accept identical repeats)."""
    try:
        return int(str(headers.get("content-length") or 0).split(",")[0])
    except (TypeError, ValueError):
        return 0


def _done_safely(on_done, *args):
    """Record a finished call: whatever goes wrong in here is not the
    app's call's business (it returns, or raises its own exception)."""
    try:
        on_done(*args)
    except Exception:
        pass


def _timed(call, on_done):
    start_us = _time_ns() // 1000
    t0 = _perf_ns()
    token = _inside.set(True)
    try:
        result = call()
    except Exception as exc:
        _done_safely(on_done, None, start_us, _perf_ns() - t0, exc)
        raise
    finally:
        _inside.reset(token)
    _done_safely(on_done, result, start_us, _perf_ns() - t0, None)
    return result


def _should(url):
    """(recorder, parent request or None) when this call is captured:
    inside a request, or outside any (CAPTURE_OUTGOING: a management
    command, a task, a thread of the app's)."""
    rec = _recorder
    if rec is None or _inside.get() or rec.skipped(url):
        return None
    return rec, current_request.get()


# ------------------------------------------------------------- requests

def _patch_requests():
    try:
        import requests
    except ImportError:
        return
    orig = requests.Session.send
    if getattr(orig, "_otas", False):
        return

    def send(self, request, **kwargs):
        hit = _should(request.url)
        if hit is None:
            return orig(self, request, **kwargs)
        rec, parent = hit
        tp = rec.traceparent(parent, request.headers, "requests")
        if tp is not None:
            request.headers["traceparent"] = tp
        stream = kwargs.get("stream", False)

        def done(resp, start_us, duration, exc):
            if resp is None:
                rec.record(parent, request.method, request.url, request.headers.items(),
                           request.body, 0, None, None, 0, start_us, duration, exc)
                return
            body = None if stream else resp.content
            size = len(body) if body is not None else _length(
                resp.headers)
            rec.record(parent, request.method, request.url, request.headers.items(),
                       request.body, resp.status_code, resp.headers.items(), body,
                       size, start_us, duration, None)

        return _timed(lambda: orig(self, request, **kwargs), done)

    send._otas = True
    requests.Session.send = send


# -------------------------------------------------------------- urllib3

def _pool_url(pool, path):
    """The URL a connection pool's call goes to: no port when it is the
    scheme's (a pool made without one has port None), IPv6 in brackets."""
    host = pool.host or ""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(pool.scheme)
    port = "" if pool.port in (None, default) else f":{pool.port}"
    return f"{pool.scheme}://{host}{port}{path}"


def _patch_urllib3():
    try:
        from urllib3.connectionpool import HTTPConnectionPool
    except ImportError:
        return
    orig = HTTPConnectionPool.urlopen
    if getattr(orig, "_otas", False):
        return

    def urlopen(self, method, url, body=None, headers=None, *args, **kwargs):
        full = url if "://" in url else _pool_url(self, url)
        hit = _should(full)
        if hit is None:
            return orig(self, method, url, body, headers, *args, **kwargs)
        rec, parent = hit
        if headers is None:
            # What urlopen() sends then: the pool's default headers.
            headers = self.headers
        tp = rec.traceparent(parent, headers, "urllib3")
        if tp is not None:
            headers = dict(headers or {})
            headers["traceparent"] = tp
        preload = kwargs.get("preload_content", True)

        def done(resp, start_us, duration, exc):
            hdrs = (headers or {}).items()
            if resp is None:
                rec.record(parent, method, full, hdrs, body, 0, None, None, 0,
                           start_us, duration, exc)
                return
            data = resp.data if preload else None
            size = len(data) if data is not None else _length(
                resp.headers)
            rec.record(parent, method, full, hdrs, body, resp.status,
                       resp.headers.items(), data, size, start_us, duration, None)

        return _timed(lambda: orig(self, method, url, body, headers, *args, **kwargs),
                      done)

    urlopen._otas = True
    HTTPConnectionPool.urlopen = urlopen


# ---------------------------------------------------------------- httpx

def _httpx_done(rec, parent, request, stream):
    def done(resp, start_us, duration, exc):
        try:
            req_body = request.content
        except Exception:
            req_body = None
        if resp is None:
            rec.record(parent, request.method, request.url, request.headers.items(),
                       req_body, 0, None, None, 0, start_us, duration, exc)
            return
        body = None if stream else resp.content
        size = len(body) if body is not None else _length(
            resp.headers)
        rec.record(parent, request.method, request.url, request.headers.items(),
                   req_body, resp.status_code, resp.headers.items(), body, size,
                   start_us, duration, None)
    return done


def _patch_httpx():
    try:
        import httpx
    except ImportError:
        return
    orig = httpx.Client.send
    if getattr(orig, "_otas", False):
        return
    aorig = httpx.AsyncClient.send

    def send(self, request, **kwargs):
        hit = _should(request.url)
        if hit is None:
            return orig(self, request, **kwargs)
        rec, parent = hit
        tp = rec.traceparent(parent, request.headers, "httpx")
        if tp is not None:
            request.headers["traceparent"] = tp
        return _timed(lambda: orig(self, request, **kwargs),
                      _httpx_done(rec, parent, request, kwargs.get("stream", False)))

    async def asend(self, request, **kwargs):
        hit = _should(request.url)
        if hit is None:
            return await aorig(self, request, **kwargs)
        rec, parent = hit
        tp = rec.traceparent(parent, request.headers, "httpx")
        if tp is not None:
            request.headers["traceparent"] = tp
        done = _httpx_done(rec, parent, request, kwargs.get("stream", False))
        start_us = _time_ns() // 1000
        t0 = _perf_ns()
        token = _inside.set(True)
        try:
            resp = await aorig(self, request, **kwargs)
        except Exception as exc:
            _done_safely(done, None, start_us, _perf_ns() - t0, exc)
            raise
        finally:
            _inside.reset(token)
        _done_safely(done, resp, start_us, _perf_ns() - t0, None)
        return resp

    send._otas = asend._otas = True
    httpx.Client.send = send
    httpx.AsyncClient.send = asend


# -------------------------------------------------------------- threads

def _patch_threads():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    start = threading.Thread.start
    if getattr(start, "_otas", False):
        return
    run = threading.Thread.run

    def start_with_parent(self):
        parent = self._otas_parent = current_request.get()
        if parent is not None and type(self).run is not run_with_parent:
            # A Thread subclass with its own run() never reaches
            # run_with_parent: wrap this thread's run instead.
            own = self.run

            def run_own():
                token = current_request.set(parent)
                try:
                    return own()
                finally:
                    current_request.reset(token)
                    self.__dict__.pop("run", None)  # no cycle left behind
            self.run = run_own
        return start(self)

    def run_with_parent(self):
        parent = getattr(self, "_otas_parent", None)
        if parent is None:
            return run(self)
        token = current_request.set(parent)
        try:
            return run(self)
        finally:
            current_request.reset(token)

    submit = ThreadPoolExecutor.submit

    def submit_with_parent(self, fn, /, *args, **kwargs):
        parent = current_request.get()
        if parent is None:
            return submit(self, fn, *args, **kwargs)

        def call():
            token = current_request.set(parent)
            try:
                return fn(*args, **kwargs)
            finally:
                current_request.reset(token)
        return submit(self, call)

    start_with_parent._otas = True
    threading.Thread.start = start_with_parent
    threading.Thread.run = run_with_parent
    ThreadPoolExecutor.submit = submit_with_parent


def install(engine, settings):
    """Patch the HTTP clients once per process (OTAS_CAPTURE_OUTGOING=1).
    engine None: started on the first call (apps.ready() installs before
    any request, so that calls outside requests are captured too)."""
    global _recorder
    if _recorder is not None and engine is None:
        return
    base = settings.get("OTAS_BASE_URL")
    # An unset OTAS_AUTH_URL is OTAS_BASE_URL (the C table's default for
    # it is the default base URL, not this app's).
    auth = (settings.options.get("OTAS_AUTH_URL") or "").strip() or base
    _recorder = _Recorder(engine, [base, auth], settings)
    _patch_requests()
    _patch_urllib3()
    _patch_httpx()
    _patch_threads()


# --------------------------------------------------- observe_request API

def _add_traceparent(rec, parent, req):
    """As the global patch does for the calls it captures."""
    tp = rec.traceparent(parent, req.headers, "httpx")
    if tp is not None:
        req.headers["traceparent"] = tp


def _observed_client(request, client_cls, is_async):
    import httpx

    engine = _engine()
    if engine is None:
        return client_cls()
    # Without OTAS_CAPTURE_OUTGOING there is no process-wide recorder: this
    # one takes the running engine's options and hooks (MASK_EVENT, the
    # *_OUTGOING hooks, CAPTURE_OUTGOING_BODIES), as that one would.
    rt = _runtime.current()
    rec = _recorder or _Recorder(engine, [], rt.settings if rt is not None
                                 else None)

    if is_async:
        class Observed(client_cls):
            async def send(self, req, **kwargs):
                token = current_request.set(request)
                try:
                    if _recorder is not None:  # the global patch records it
                        return await super().send(req, **kwargs)
                    _add_traceparent(rec, request, req)
                    done = _httpx_done(rec, request, req, kwargs.get("stream", False))
                    start_us = _time_ns() // 1000
                    t0 = _perf_ns()
                    try:
                        resp = await super().send(req, **kwargs)
                    except Exception as exc:
                        _done_safely(done, None, start_us, _perf_ns() - t0, exc)
                        raise
                    _done_safely(done, resp, start_us, _perf_ns() - t0, None)
                    return resp
                finally:
                    current_request.reset(token)
    else:
        class Observed(client_cls):
            def send(self, req, **kwargs):
                token = current_request.set(request)
                try:
                    if _recorder is not None:
                        return super().send(req, **kwargs)
                    _add_traceparent(rec, request, req)
                    return _timed(lambda: super(Observed, self).send(req, **kwargs),
                                  _httpx_done(rec, request, req,
                                              kwargs.get("stream", False)))
                finally:
                    current_request.reset(token)
    Observed.__name__ = Observed.__qualname__ = client_cls.__name__
    del httpx
    return Observed()


def observe_request(request):
    """An httpx.Client whose calls are captured and tied to `request`."""
    import httpx

    return _observed_client(_unwrap(request), httpx.Client, False)


def observe_request_async(request):
    """An httpx.AsyncClient whose calls are captured and tied to `request`."""
    import httpx

    return _observed_client(_unwrap(request), httpx.AsyncClient, True)
