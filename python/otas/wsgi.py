"""OTAS for any WSGI application (Flask, Bottle, Falcon, plain WSGI).

    from otas.wsgi import OtasWSGIMiddleware
    app.wsgi_app = OtasWSGIMiddleware(app.wsgi_app)        # Flask
    application = OtasWSGIMiddleware(application, sdk_key="otas_...")

Options are the environment variables' names without the ``OTAS_`` prefix,
as keyword arguments (``sensitive_headers=["x-token"]``); an environment
variable wins over a keyword argument.

The request body is read before the app runs only when the engine wants it
(not multipart, octet-stream or over the cap) and handed back to the app as
a fresh stream.  The response iterable is passed through chunk by chunk;
its size is counted and at most the body cap is copied, and the event is
captured when the server closes the iterable.  A wsgi.file_wrapper
response with a Content-Length is not wrapped, so sendfile still applies.
"""

import io
import time

from . import outgoing
from ._common import Adapter, exception_record

_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns


def _path(environ):
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if not path.isascii():
        # PEP 3333: the server decoded the raw bytes as latin-1.
        path = path.encode("latin-1").decode("utf-8", "replace")
    return path or "/"


def _route(environ):
    return environ.get("otas.route")


def _watch_flask_routes(app):
    """Flask clears its request from the environ when the app returns, so
    the route template is noted while the request runs: Flask's
    request_started signal fires after URL matching."""
    owner = getattr(app, "__self__", app)  # app.wsgi_app is a bound method
    if not (hasattr(owner, "url_map") and hasattr(owner, "request_class")):
        return
    try:
        from flask import request as flask_request
        from flask import request_started
    except ImportError:  # pragma: no cover
        return

    def remember_route(sender, **kwargs):
        rule = flask_request.url_rule
        if rule is not None:
            flask_request.environ["otas.route"] = rule.rule

    request_started.connect(remember_route, owner, weak=False)


class OtasWSGIMiddleware(Adapter):
    def __init__(self, app, **options):
        super().__init__(app, options)
        if self._engine is not None:
            _watch_flask_routes(app)

    def __call__(self, environ, start_response):
        if self._engine is None or (self._opts.filtering and not self._engine.should_capture(
                environ.get("REQUEST_METHOD", "GET"), _path(environ))):
            return self.app(environ, start_response)
        start_us = _time_ns() // 1000
        t0 = _perf_ns()
        req_body, req_size, flags = None, 0, 0
        cl = environ.get("CONTENT_LENGTH")
        if cl and cl != "0":
            try:
                req_size = int(cl)
                if self._want_body(environ.get("CONTENT_TYPE"), req_size):
                    req_body = environ["wsgi.input"].read(req_size)
                    environ["wsgi.input"] = io.BytesIO(req_body)
                else:
                    flags = self._skipped
            except Exception:
                flags = self._skipped
        state = [0, None]
        eid = None
        if self._opts.id_header:
            eid = environ[outgoing.EVENT_ID_KEY] = self._engine.new_event_id()

        def capturing_start_response(status, headers, exc_info=None):
            if eid is not None:
                headers = list(headers) + [("X-OTAS-Event-Id", eid)]
            state[0], state[1] = status, headers
            return start_response(status, headers, exc_info)

        token = outgoing.current_request.set(environ) if self._outgoing else None
        try:
            result = self.app(environ, capturing_start_response)
        except Exception as exc:
            self._record(environ, 500, [], req_body, req_size, None, 0,
                         start_us, _perf_ns() - t0, flags,
                         [exception_record(exc)])
            raise
        finally:
            if token is not None:
                outgoing.current_request.reset(token)
        duration = _perf_ns() - t0
        status, headers = state
        file_wrapper = environ.get("wsgi.file_wrapper")
        if file_wrapper is not None and isinstance(result, file_wrapper):
            length = next((v for k, v in headers or ()
                           if k.lower() == "content-length"), None)
            if length is not None and length.isdigit():
                self._record(environ, status, headers, req_body, req_size,
                             None, int(length), start_us, duration,
                             flags | self._streaming, None)
                return result
        return _Counted(self, result, environ, state, req_body, req_size,
                        flags, start_us, duration)

    def _record(self, environ, status, headers, req_body, req_size,
                resp_body, resp_size, start_us, duration, flags, errors):
        try:
            if isinstance(status, str):
                status = int(status[:3])
            reported = environ.get(outgoing.ERRORS_KEY)
            if reported:
                errors = (errors or []) + reported
            skip, extra = self._opts.extra(environ, (status, headers),
                                           environ.get(outgoing.EVENT_ID_KEY))
            if skip:
                return
            self._capture(environ.get("REQUEST_METHOD", "GET"), _path(environ),
                          _route(environ), environ, req_body, req_size,
                          status, headers, resp_body, resp_size, start_us,
                          duration, flags, errors, extra, False)
        except Exception:
            self._failed()


class _Counted:
    """The app's response iterable, counted and copied up to the cap."""

    __slots__ = ("mw", "result", "environ", "state", "req_body", "req_size",
                 "flags", "start_us", "duration", "chunks", "kept", "sent",
                 "done")

    def __init__(self, mw, result, environ, state, req_body, req_size, flags,
                 start_us, duration):
        self.mw, self.result, self.environ, self.state = mw, result, environ, state
        self.req_body, self.req_size, self.flags = req_body, req_size, flags
        self.start_us, self.duration = start_us, duration
        self.chunks, self.kept, self.sent, self.done = [], 0, 0, False

    def __iter__(self):
        cap = self.mw._cap
        for chunk in self.result:
            self.sent += len(chunk)
            if self.kept < cap:
                piece = chunk[:cap - self.kept]
                self.chunks.append(piece)
                self.kept += len(piece)
            yield chunk
        # Exhausted: capture now (a server calls close() too, but not every
        # test client does).
        self._finish()

    def close(self):
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()

    def _finish(self):
        if self.done:
            return
        self.done = True
        status, headers = self.state
        self.mw._record(self.environ, status, headers, self.req_body,
                        self.req_size, b"".join(self.chunks), self.sent,
                        self.start_us, self.duration, self.flags, None)
