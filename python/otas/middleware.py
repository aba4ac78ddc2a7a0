"""Django middleware: adapt one request/response to one engine call.

The middleware is sync- and async-capable and picks its mode once, from
the handler it wraps.  Per request it takes a monotonic clock reading,
reads the request body only when the engine says so (never multipart,
octet-stream or bodies over the cap: those stay unread for the view), and
after the view hands the raw pieces -- META, body bytes, the response's
header store and content -- to the engine in one call.  The engine copies
them and returns; redaction, JSON and delivery happen on its own thread.

Streaming responses are never consumed: their size is taken from
Content-Length when the app set one (FileResponse does, and keeps its
sendfile path), otherwise counted chunk by chunk as the server sends them,
and the event is captured when the stream ends.

Whatever goes wrong in here is logged once and swallowed: the response the
app produced is returned unchanged.
"""

import io
import logging
import sys
import time

from asgiref.sync import (iscoroutinefunction, markcoroutinefunction,
                          sync_to_async)
from django.core.exceptions import MiddlewareNotUsed
from django.core.signals import got_request_exception
from django.http import HttpResponse
from django.utils.functional import SimpleLazyObject

from . import _native, conf, outgoing
from ._common import HostOptions, exception_record, start_engine
from ._core import Core, Exchange

logger = logging.getLogger("otas")

_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns

# Attribute set on the request by the exception signal and report_error().
ERRORS_ATTR = outgoing.ERRORS_ATTR
_NO_BODY = (None, 0, 0)
# The same, for a request whose META has CONTENT_LENGTH "" (runserver):
# its META is cleaned (_clean_meta) without a look-up on every request.
_EMPTY_CL = tuple([None, 0, 0])
_EVENT_ID_ATTR = outgoing.EVENT_ID_ATTR


def _on_exception(sender, request=None, **kwargs):
    # Sent by Django inside its exception handler for any uncaught
    # exception (view or middleware), so sys.exc_info() is the exception.
    if request is None:
        return
    exc = sys.exc_info()[1]
    if exc is None:
        return
    try:
        errors = request.__dict__.setdefault(ERRORS_ATTR, [])
        errors.insert(0, exception_record(exc))
    except Exception:  # pragma: no cover - never disturb the response
        pass


got_request_exception.connect(_on_exception, dispatch_uid="otas.exceptions")


def _user_id(request, field="pk", resolve=False):
    """The authenticated user's id: `field` of request.user (OTAS_USER_ID_FIELD:
    pk, username, or any attribute).

    By default never forces the lazy request.user (that would cost a
    session load and a user query on requests whose view did not look):
    it is read only when authentication already ran -- DRF and views that
    touched request.user leave it evaluated.  OTAS_RESOLVE_USER=1 evaluates
    it after the view, as Moesif does.  Otherwise the engine reads the JWT
    in the Authorization header.
    """
    d = request.__dict__
    user = d.get("user")
    if user is None:
        return None
    if type(user) is SimpleLazyObject and not resolve:
        user = d.get("_cached_user")
        if user is None:
            return None
    try:
        if user.is_authenticated:
            if field == "pk":
                return str(user.pk)
            if field == "username":
                return str(user.get_username())
            value = getattr(user, field, None)
            return None if value is None or value == "" else str(value)
    except Exception:
        pass
    return None


def _evaluate(user):
    return user.is_authenticated


async def _async_user(request, resolve):
    """The lazy request.user on the async path, made readable for
    _user_id() (and the engine's capture_django, which reads the same
    cache).  An async view authenticates with `await request.auser()`,
    whose cache (_acached_user) is not request.user's (_cached_user): the
    user it found is request.user's too.  With OTAS_RESOLVE_USER=1 an
    unevaluated user loads the session and the user from the database,
    which Django refuses on the event loop (SynchronousOnlyOperation):
    evaluate it in a thread, as Django runs sync code."""
    if hasattr(request, "_cached_user"):
        return
    user = getattr(request, "_acached_user", None)
    if user is not None:
        request._cached_user = user
    elif resolve:
        try:
            await sync_to_async(_evaluate)(request.user)
        except Exception:
            pass  # _user_id() records no user, as before


def _session_key(d):
    """The Django session's key, when the request has one (reading it
    loads nothing); the engine stores its SHA-256, never the key."""
    session = d.get("session")
    if session is None:
        return None
    try:
        return session.session_key
    except Exception:
        return None


def _static_prefixes():
    """STATIC_URL and MEDIA_URL when they are paths of this site: their
    files are not API traffic and are not captured."""
    from django.conf import settings

    out = []
    for name in ("STATIC_URL", "MEDIA_URL"):
        url = getattr(settings, name, None)
        if isinstance(url, str) and url.startswith("/") and url != "/":
            out.append(url)
    return tuple(out)


def _clean_meta(meta):
    """runserver (wsgiref) puts CONTENT_TYPE "text/plain" and an empty
    CONTENT_LENGTH in the environ when the client sent neither: they are
    not the client's headers.  Rare, so the copy costs only there."""
    meta = dict(meta)
    meta.pop("CONTENT_LENGTH", None)
    if meta.get("CONTENT_TYPE") == "text/plain" and str(
            meta.get("SERVER_SOFTWARE", "")).startswith("WSGIServer"):
        del meta["CONTENT_TYPE"]
    return meta


class OtasMiddleware:
    sync_capable = True
    async_capable = True

    def __new__(cls, get_response):
        self = super().__new__(cls)
        self._setup(get_response)
        if self._whole is not None and cls is OtasMiddleware:
            # The common case: Django calls the C callable itself for
            # every request (Engine.django_caller with the skipped paths
            # and _call_direct for everything else), no Python frame of
            # ours in between.  It holds this instance's _record, _core
            # and _call_direct.  A subclass keeps its own __call__.
            return self._whole
        return self

    def __init__(self, get_response):
        pass  # set up by __new__ (_setup), whatever __new__ returned

    def _setup(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        settings = conf.load(conf.django_setting())
        if not settings.enabled:
            raise MiddlewareNotUsed("OTAS_ENABLED is off")
        engine = start_engine(settings)
        self._core = None
        if engine is not None:
            self._core = Core(engine, settings.hooks, ERRORS_ATTR,
                              _EVENT_ID_ATTR)
            self._want_body = engine.want_request_body
            self._should_capture = engine.should_capture
            self._new_event_id = engine.new_event_id
            self._streaming_flag = _native.engine.CAP_RESP_STREAMING
            self._skipped_flag = _native.engine.CAP_REQ_BODY_SKIPPED
        opts = HostOptions(settings, engine)
        self._filtering = opts.filtering
        self._skip_prefixes = _static_prefixes()
        self._id_header = opts.id_header
        self._outgoing = opts.outgoing
        if self._outgoing:
            outgoing.install(engine, settings)
        self._user_field = settings.get("OTAS_USER_ID_FIELD") or "pk"
        self._resolve_user = conf.as_bool(settings.get("OTAS_RESOLVE_USER"))
        # The common case in one C call (capture_django): no hooks, no
        # MASK_EVENT, no OpenTelemetry (Core.plain).  The request.__dict__
        # keys that need the Python core, and whether the engine may read
        # the user id itself (request.user.pk, never forcing a lazy user).
        self._fast = self._core is not None and self._core.plain
        self._direct = None  # __call__'s short path: capture_django
        self._c_call = None  # ... and the whole of it in C
        self._whole = None  # ... the middleware itself, in C
        if self._fast:
            self._capture_django = engine.capture_django
            engine.django_setup(
                SimpleLazyObject,
                (ERRORS_ATTR, _EVENT_ID_ATTR, outgoing.CHILDREN_KEY),
                self._user_field == "pk" and not self._resolve_user,
                HttpResponse.content)
            if not (self.async_mode or self._filtering or self._outgoing):
                self._direct = engine.capture_django
                self._c_call = engine.django_caller(
                    get_response, self._id_header, self._record,
                    self._core.fail, _NO_BODY)
                if self._c_call is not None:
                    self._whole = engine.django_caller(
                        get_response, self._id_header, self._record,
                        self._core.fail, _NO_BODY, self._skip_prefixes,
                        self._call_direct)

    # ------------------------------------------------------------ request

    def _skip(self, request):
        return self._core is None or (
            self._skip_prefixes and request.path.startswith(
                self._skip_prefixes)) or (
            self._filtering and not self._should_capture(
                request.method, request.path))

    def __call__(self, request):
        # Clock, body, view and capture in one C call (Engine.django_caller,
        # which reads the body as _request_body() does); NotImplemented
        # before the view leaves the request to the Python path below.
        call = self._c_call
        if call is not None and not (self._skip_prefixes and request.path.startswith(
                self._skip_prefixes)):
            response = call(request)
            if response is not NotImplemented:
                return response
        return self._call_direct(request)

    def _call_direct(self, request):
        direct = self._direct
        if direct is None or (self._skip_prefixes and request.path.startswith(
                self._skip_prefixes)):
            return self._call(request)
        # The common case, with as little Python as it takes: one clock
        # reading, the body decision, the view, one engine call.
        t0 = _perf_ns()
        cl = request.META.get("CONTENT_LENGTH")
        if cl is None or cl == "0":
            body = _NO_BODY
        elif cl == "":
            return self._call(request)
        else:
            body = self._request_body(request, cl)
        try:
            response = self.get_response(request)
        except BaseException as exc:
            # DEBUG_PROPAGATE_EXCEPTIONS (DRF's test settings) or a
            # middleware above Django's handler: the event is kept.
            self._record(request, None, body, t0, exc)
            raise
        try:
            eid = direct(request, response, t0, body, self._id_header)
        except Exception:
            self._core.fail()
            return response
        if eid is not None:
            if eid is NotImplemented:
                self._record(request, response, body, t0)
            else:
                response["X-OTAS-Event-Id"] = eid
        return response

    def _call(self, request):
        """Every other case: async, filters, outgoing capture, skipped
        paths, hooks."""
        if self.async_mode:
            return self.__acall__(request)
        if self._skip(request):
            return self.get_response(request)
        t0 = _perf_ns()
        cl = request.META.get("CONTENT_LENGTH")
        body = (_NO_BODY if cl is None or cl == "0" else _EMPTY_CL if cl == ""
                else self._request_body(request, cl))
        token = outgoing.current_request.set(request) if self._outgoing else None
        try:
            response = self.get_response(request)
        except BaseException as exc:
            self._record(request, None, body, t0, exc)
            raise
        finally:
            if token is not None:
                outgoing.current_request.reset(token)
        self._finish(request, response, body, t0)
        return response

    async def __acall__(self, request):
        if self._skip(request):
            return await self.get_response(request)
        t0 = _perf_ns()
        cl = request.META.get("CONTENT_LENGTH")
        body = (_NO_BODY if cl is None or cl == "0" else _EMPTY_CL if cl == ""
                else self._request_body(request, cl))
        token = outgoing.current_request.set(request) if self._outgoing else None
        try:
            response = await self.get_response(request)
        except BaseException as exc:
            self._record(request, None, body, t0, exc)
            raise
        finally:
            if token is not None:
                outgoing.current_request.reset(token)
        # (Not through request.__dict__: see opt_attr() in _engine.c.)
        if type(getattr(request, "user", None)) is SimpleLazyObject:
            await _async_user(request, self._resolve_user)
        self._finish(request, response, body, t0)
        return response

    def _finish(self, request, response, body, t0):
        """After the view: the engine's capture_django() reads the request
        and the response itself (one call, no Python per field); what it
        leaves to the Python core (NotImplemented: streaming, reported
        errors, an event id named up front, hooks) goes to _record()."""
        if self._fast and body is not _EMPTY_CL:
            try:
                eid = self._capture_django(request, response, t0, body,
                                           self._id_header)
            except Exception:
                self._core.fail()
                return
            if eid is None:
                return
            if eid is not NotImplemented:
                response["X-OTAS-Event-Id"] = eid
                return
        self._record(request, response, body, t0)

    def _request_body(self, request, cl):
        """(bytes or None, declared size, flags) before the view runs."""
        try:
            size = int(cl)
        except ValueError:
            return _NO_BODY
        try:
            if self._want_body(request.META.get("CONTENT_TYPE"), size):
                # Django caches the bytes and re-serves them to the view
                # through request.read()/request.POST; a view that reads
                # wsgi.input itself gets them from a fresh stream.
                body = request.body
                # Django keeps the bytes in a BytesIO (_stream) it reads
                # from now on: the same stream, no copy.
                stream = request.__dict__.get("_stream")
                if stream is not None:
                    request.META["wsgi.input"] = stream
                return body, size, 0
        except Exception:
            pass  # e.g. RequestDataTooBig: the view meets it as before
        return None, size, self._skipped_flag

    # ----------------------------------------------------------- response

    def _record(self, request, response, body, t0, exc=None):
        try:
            duration_ns = _perf_ns() - t0
            start_us = (_time_ns() - duration_ns) // 1000
            req_body, req_size, flags = body
            if req_body is None and flags:
                # The view may have read the body itself: take that copy
                # (the core cuts it at the cap).
                req_body = request.__dict__.get("_body")
                if req_body is not None:
                    flags = 0
            match = request.resolver_match
            route = match.route if match is not None else None
            meta = request.META
            if body is _EMPTY_CL:
                meta = _clean_meta(meta)
            d = request.__dict__
            x = Exchange(request.method, request.path, route, meta, start_us)
            x.duration_ns = duration_ns
            if req_body is not None:
                x.req_body = req_body
            if req_size:
                x.req_size = req_size
            if flags:
                x.flags = flags
            x.store, x.request = d, request
            if "user" in d:
                x.user_id = _user_id(request, self._user_field,
                                     self._resolve_user)
            if "session" in d:
                # GET_SESSION_TOKEN's default (the engine stores its hash)
                x.session_token = _session_key(d)
            core = self._core
            if response is None:
                x.status, x.resp_size = 500, -1
                x.errors = [exception_record(exc)]
                core.submit(x)
                return
            x.response = response
            x.status = response.status_code
            headers = response.headers
            x.resp_headers = getattr(headers, "_store", headers)
            if response.streaming:
                length = response.get("Content-Length")
                if length is None or not length.isdigit():
                    if self._id_header:
                        # Captured when the stream ends, but the header
                        # goes out now: name the event up front.
                        eid = d.get(_EVENT_ID_ATTR)
                        if eid is None:
                            eid = d[_EVENT_ID_ATTR] = self._new_event_id()
                        response["X-OTAS-Event-Id"] = eid
                    self._count_stream(response, x)
                    return
                x.resp_size = int(length)
                x.flags |= self._streaming_flag
            else:
                x.resp_body = body = response.content
                x.resp_size = len(body)
            eid = core.submit(x, self._id_header)
            if eid is not None:
                response["X-OTAS-Event-Id"] = eid
        except Exception:
            self._core.fail()

    def _count_stream(self, response, x):
        """Wrap the stream to count bytes; capture when it ends."""
        core = self._core
        x.flags |= self._streaming_flag

        def done(sent):
            x.resp_size = sent
            core.submit(x)

        def failed(exc):
            # Raised while the response streams (the status is sent): the
            # event still carries it, as a view's exception.
            x.errors = [exception_record(exc)]

        stream = response.streaming_content
        if getattr(response, "is_async", False):
            async def counted():
                sent = 0
                try:
                    async for chunk in stream:
                        sent += len(chunk)
                        yield chunk
                except Exception as exc:
                    failed(exc)
                    raise
                finally:
                    done(sent)
        else:
            def counted():
                sent = 0
                try:
                    for chunk in stream:
                        sent += len(chunk)
                        yield chunk
                except Exception as exc:
                    failed(exc)
                    raise
                finally:
                    done(sent)
        response.streaming_content = counted()
