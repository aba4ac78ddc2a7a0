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

import logging
import sys
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import MiddlewareNotUsed
from django.core.signals import got_request_exception
from django.utils.functional import SimpleLazyObject

from . import _native, conf, outgoing
from ._common import (
    FailOnce,
    Hooks,
    exception_record,
    masking_capture,
    start_engine,
)

logger = logging.getLogger("otas")

_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns

# Attribute set on the request by the exception signal and report_error().
ERRORS_ATTR = outgoing.ERRORS_ATTR
_NO_EXTRA = (None,) * 8


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


def _user_id(request):
    """The authenticated user's id when Django already knows it.

    Never forces the lazy request.user (that would cost a session and a
    database query on requests whose view did not look): it is read only
    when authentication already ran -- DRF and views that touched
    request.user leave it evaluated.  Otherwise the engine reads the JWT in
    the Authorization header.
    """
    d = request.__dict__
    user = d.get("user")
    if user is None:
        return None
    if type(user) is SimpleLazyObject:
        user = d.get("_cached_user")
        if user is None:
            return None
    try:
        if user.is_authenticated:
            return str(user.pk)
    except Exception:
        pass
    return None


def _identity(request):
    user = _user_id(request) if "user" in request.__dict__ else None
    if user is None:
        return None
    return (user, None, None, None, None, None, None, None)


class OtasMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        settings = conf.load(conf.django_setting())
        if not settings.enabled:
            raise MiddlewareNotUsed("OTAS_ENABLED is off")
        engine = start_engine(settings)
        self._capture = engine.capture if engine is not None else None
        if engine is not None:
            self._want_body = engine.want_request_body
            self._streaming_flag = _native.engine.CAP_RESP_STREAMING
            self._skipped_flag = _native.engine.CAP_REQ_BODY_SKIPPED
        self._capture_failed = FailOnce()
        self._hooks = Hooks(settings.hooks) if settings.hooks else None
        mask = settings.hooks.get("MASK_EVENT")
        if mask is not None and self._capture is not None:
            self._capture = masking_capture(mask, self._capture,
                                            self._hooks.failed)
        self._outgoing = engine is not None and conf.as_bool(
            settings.options.get("OTAS_CAPTURE_OUTGOING", "0"))
        if self._outgoing:
            outgoing.install(engine, settings)

    # ------------------------------------------------------------ request

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        if self._capture is None:
            return self.get_response(request)
        start_us = _time_ns() // 1000
        t0 = _perf_ns()
        body = self._request_body(request)
        if self._outgoing:
            token = outgoing.current_request.set(request)
            try:
                response = self.get_response(request)
            finally:
                outgoing.current_request.reset(token)
        else:
            response = self.get_response(request)
        self._record(request, response, body, start_us, _perf_ns() - t0)
        return response

    async def __acall__(self, request):
        if self._capture is None:
            return await self.get_response(request)
        start_us = _time_ns() // 1000
        t0 = _perf_ns()
        body = self._request_body(request)
        if self._outgoing:
            token = outgoing.current_request.set(request)
            try:
                response = await self.get_response(request)
            finally:
                outgoing.current_request.reset(token)
        else:
            response = await self.get_response(request)
        self._record(request, response, body, start_us, _perf_ns() - t0)
        return response

    def _request_body(self, request):
        """(bytes or None, declared size, flags) before the view runs."""
        meta = request.META
        cl = meta.get("CONTENT_LENGTH")
        if not cl or cl == "0":
            return None, 0, 0
        try:
            size = int(cl)
        except ValueError:
            return None, 0, 0
        try:
            if self._want_body(meta.get("CONTENT_TYPE"), size):
                # Django caches the bytes and re-serves them to the view
                # through request.read()/request.POST.
                return request.body, size, 0
        except Exception:
            pass  # e.g. RequestDataTooBig: the view meets it as before
        return None, size, self._skipped_flag

    # ----------------------------------------------------------- response

    def _record(self, request, response, body, start_us, duration_ns):
        try:
            req_body, req_size, flags = body
            if req_body is None and flags:
                # The view may have read the body itself: take that copy
                # (the engine cuts it at the cap).
                req_body = request.__dict__.get("_body")
                if req_body is not None:
                    flags = 0
            match = request.resolver_match
            route = match.route if match is not None else None
            headers = response.headers
            headers = getattr(headers, "_store", headers)
            d = request.__dict__
            errors = d.get(ERRORS_ATTR)
            hooks = self._hooks
            if hooks is None:
                extra = _identity(request)
            else:
                if hooks.should_skip(request, response):
                    return
                extra = hooks.extra(request, response, _user_id(request))
            eid = d.get(outgoing.EVENT_ID_ATTR)
            if eid is not None:
                # Outgoing calls or observe_request() already named this
                # event: capture it under that id so they link to it.
                extra = (extra or _NO_EXTRA)[:8] + (eid,)
            if response.streaming:
                length = response.get("Content-Length")
                if length is None or not length.isdigit():
                    self._count_stream(request, response, route, headers,
                                       req_body, req_size, flags, errors,
                                       extra, start_us, duration_ns)
                    return
                resp_body, resp_size = None, int(length)
                flags |= self._streaming_flag
            else:
                resp_body = response.content
                resp_size = len(resp_body)
            self._capture(request.method, request.path, route, request.META,
                          req_body, req_size, response.status_code, headers,
                          resp_body, resp_size, start_us, duration_ns, flags,
                          errors, extra, False)
        except Exception:
            self._capture_failed()

    def _count_stream(self, request, response, route, headers, req_body,
                      req_size, flags, errors, extra, start_us, duration_ns):
        """Wrap the stream to count bytes; capture when it ends."""
        capture = self._capture
        flags |= self._streaming_flag
        method, path, meta = request.method, request.path, request.META
        status = response.status_code
        failed = self._capture_failed

        def done(sent):
            try:
                capture(method, path, route, meta, req_body, req_size,
                        status, headers, None, sent, start_us, duration_ns,
                        flags, errors, extra, False)
            except Exception:
                failed()

        stream = response.streaming_content
        if getattr(response, "is_async", False):
            async def counted():
                sent = 0
                try:
                    async for chunk in stream:
                        sent += len(chunk)
                        yield chunk
                finally:
                    done(sent)
        else:
            def counted():
                sent = 0
                try:
                    for chunk in stream:
                        sent += len(chunk)
                        yield chunk
                finally:
                    done(sent)
        response.streaming_content = counted()
