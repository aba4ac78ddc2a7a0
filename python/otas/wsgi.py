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
from ._core import Exchange

_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns


def _path(environ):
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if not path.isascii():
        # PEP 3333: the server decoded the raw bytes as latin-1.
        path = path.encode("latin-1").decode("utf-8", "replace")
    return path or "/"


def _watch_flask(app):
    """Flask clears its request from the environ when the app returns, so
    the route template is noted while the request runs (request_started
    fires after URL matching).  Flask turns an unhandled exception into a
    500 itself, so it never reaches this middleware: got_request_exception
    records it (type, message, stack) for the event, as Django's does."""
    owner = getattr(app, "__self__", app)  # app.wsgi_app is a bound method
    if not (hasattr(owner, "url_map") and hasattr(owner, "request_class")):
        return
    try:
        from flask import got_request_exception, request_started
        from flask import request as flask_request
    except ImportError:  # pragma: no cover
        return

    def remember_route(sender, **kwargs):
        rule = flask_request.url_rule
        if rule is not None:
            flask_request.environ["otas.route"] = rule.rule

    def remember_error(sender, exception=None, **kwargs):
        if exception is not None:
            errors = flask_request.environ.setdefault(outgoing.ERRORS_KEY, [])
            errors.insert(0, exception_record(exception))

    request_started.connect(remember_route, owner, weak=False)
    got_request_exception.connect(remember_error, owner, weak=False)


class OtasWSGIMiddleware(Adapter):
    def __init__(self, app, **options):
        super().__init__(app, options)
        if self._engine is not None:
            _watch_flask(app)

    def __call__(self, environ, start_response):
        if self._engine is None or (self._opts.filtering and not self._engine.should_capture(
                environ.get("REQUEST_METHOD", "GET"), _path(environ))):
            return self.app(environ, start_response)
        x = Exchange(environ.get("REQUEST_METHOD", "GET"), _path(environ),
                     None, environ, _time_ns() // 1000)
        x.store = environ
        t0 = _perf_ns()
        reader = None
        cl = environ.get("CONTENT_LENGTH")
        if cl and cl != "0":
            try:
                x.req_size = int(cl)
                if self._want_body(environ.get("CONTENT_TYPE"), x.req_size):
                    x.req_body = environ["wsgi.input"].read(x.req_size)
                    environ["wsgi.input"] = io.BytesIO(x.req_body)
                else:
                    x.flags = self._skipped
            except Exception:
                x.flags = self._skipped
        elif environ.get("HTTP_TRANSFER_ENCODING"):
            # A chunked body (no Content-Length; the server hands it over
            # as wsgi.input_terminated): its size is known only once read,
            # so the app's own reads are watched, as the ASGI adapter
            # watches receive().
            try:
                want = self._want_body(environ.get("CONTENT_TYPE"), 0)
                reader = environ["wsgi.input"] = _WatchedInput(
                    environ["wsgi.input"], self._cap if want else 0)
                if not want:
                    x.flags = self._skipped
            except Exception:
                reader = None
        state = [0, None, reader]
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
            x.duration_ns = _perf_ns() - t0
            x.status, x.errors, x.resp_size = 500, [exception_record(exc)], -1
            self._submit(x, state)
            raise
        finally:
            if token is not None:
                outgoing.current_request.reset(token)
        x.duration_ns = _perf_ns() - t0
        file_wrapper = environ.get("wsgi.file_wrapper")
        # PEP 3333 only says it is callable: wsgiref's is a class, uWSGI's
        # a function (isinstance() against it raised on every request).
        if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
            length = next((v for k, v in state[1] or ()
                           if k.lower() == "content-length"), None)
            if length is not None and length.isdigit():
                x.resp_size = int(length)
                x.flags |= self._streaming
                self._submit(x, state)
                return result
        return _Counted(self, result, x, state)

    def _submit(self, x, state):
        try:
            status, headers, reader = state
            if reader is not None:
                x.req_size = reader.seen
                if reader.chunks:
                    x.req_body = b"".join(reader.chunks)
            if isinstance(status, str):
                status = int(status[:3])
            if status:
                x.status = status
            x.resp_headers = headers
            x.route = x.headers.get("otas.route")
            x.request, x.response = x.headers, (x.status, headers)
            self._core.submit(x)
        except Exception:
            self._core.fail()


class _Counted:
    """The app's response iterable, counted and copied up to the cap."""

    __slots__ = ("mw", "result", "x", "state", "chunks", "kept", "sent",
                 "done")

    def __init__(self, mw, result, x, state):
        self.mw, self.result, self.x, self.state = mw, result, x, state
        self.chunks, self.kept, self.sent, self.done = [], 0, 0, False

    def __iter__(self):
        cap = self.mw._cap
        expected = None
        try:
            for chunk in self.result:
                self.sent += len(chunk)
                if self.kept < cap:
                    piece = chunk[:cap - self.kept]
                    self.chunks.append(piece)
                    self.kept += len(piece)
                if expected is None:
                    length = next((v for k, v in self.state[1] or ()
                                   if k.lower() == "content-length"), "")
                    expected = int(length) if length.isdigit() else -1
                if 0 <= expected <= self.sent:
                    # The last bytes: capture before the server sends them,
                    # so a process stopped right after the client has its
                    # answer still has the event.
                    self._finish()
                yield chunk
        except Exception as exc:
            # Raised while the response streams (the status is sent): the
            # event still says what went wrong, as the ASGI adapter's does.
            if not self.done:
                self.x.errors = [exception_record(exc)]
                self._finish()
            raise
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
        x = self.x
        x.resp_body = b"".join(self.chunks)
        x.resp_size = self.sent
        self.mw._submit(x, self.state)


class _WatchedInput:
    """wsgi.input of a request without a Content-Length: what the app
    reads is counted, and its first `cap` bytes kept for the event."""

    __slots__ = ("stream", "cap", "chunks", "kept", "seen")

    def __init__(self, stream, cap):
        self.stream, self.cap = stream, cap
        self.chunks, self.kept, self.seen = [], 0, 0

    def _note(self, data):
        if data:
            self.seen += len(data)
            if self.kept < self.cap:
                piece = data[:self.cap - self.kept]
                self.chunks.append(bytes(piece))
                self.kept += len(piece)
        return data

    def read(self, *args):
        return self._note(self.stream.read(*args))

    def readline(self, *args):
        return self._note(self.stream.readline(*args))

    def readlines(self, *args):
        return [self._note(line) for line in self.stream.readlines(*args)]

    def __iter__(self):
        for line in self.stream:
            yield self._note(line)

    def __getattr__(self, name):
        return getattr(self.stream, name)
