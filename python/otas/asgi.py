"""OTAS for any ASGI application (FastAPI, Starlette, Quart, plain ASGI).

    from otas.asgi import OtasASGIMiddleware
    app.add_middleware(OtasASGIMiddleware)                  # FastAPI/Starlette
    application = OtasASGIMiddleware(application, sdk_key="otas_...")

HTTP scopes are captured; websocket and lifespan scopes pass straight
through.  The request body is copied (up to the engine's cap) as the app
receives it, the response as it is sent; streaming responses are passed on
message by message and their size counted.  The event is captured when
the app returns.
"""

import time

from . import _runtime, outgoing
from ._common import Adapter, exception_record

_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns


def _header(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return None


class OtasASGIMiddleware(Adapter):
    def __init__(self, app, **options):
        super().__init__(app, options)

    async def __call__(self, scope, receive, send):
        if self._engine is None:
            return await self.app(scope, receive, send)
        kind = scope["type"]
        if kind == "lifespan":
            return await self.app(scope, self._lifespan_receive(receive), send)
        if kind != "http" or (self._opts.filtering and not self._engine.should_capture(
                scope.get("method", "GET"), scope.get("path", "/"))):
            return await self.app(scope, receive, send)
        start_us = _time_ns() // 1000
        t0 = _perf_ns()
        cap = self._cap
        headers = scope.get("headers") or []
        cl = _header(headers, b"content-length")
        req_size = int(cl) if cl and cl.isdigit() else -1
        want = req_size != 0 and self._want_body(
            _header(headers, b"content-type"), req_size)
        req = {"chunks": [], "kept": 0, "seen": 0}
        resp = {"status": 0, "headers": None, "chunks": [], "kept": 0, "sent": 0}
        eid = None
        if self._opts.id_header:
            eid = scope[outgoing.EVENT_ID_KEY] = self._engine.new_event_id()

        async def receive_copy():
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                req["seen"] += len(body)
                if want and req["kept"] < cap and body:
                    piece = body[:cap - req["kept"]]
                    req["chunks"].append(piece)
                    req["kept"] += len(piece)
            return message

        async def send_copy(message):
            kind = message["type"]
            if kind == "http.response.start":
                if eid is not None:
                    message = dict(message, headers=list(message.get("headers") or [])
                                   + [(b"x-otas-event-id", eid.encode())])
                resp["status"] = message["status"]
                resp["headers"] = message.get("headers") or []
            elif kind == "http.response.body":
                body = message.get("body", b"")
                resp["sent"] += len(body)
                if resp["kept"] < cap and body:
                    piece = body[:cap - resp["kept"]]
                    resp["chunks"].append(piece)
                    resp["kept"] += len(piece)
            await send(message)

        errors = None
        token = outgoing.current_request.set(scope) if self._outgoing else None
        try:
            await self.app(scope, receive_copy, send_copy)
        except Exception as exc:
            errors = [exception_record(exc)]
            if not resp["status"]:
                resp["status"] = 500
            raise
        finally:
            if token is not None:
                outgoing.current_request.reset(token)
            self._record(scope, req, req_size, want, resp, start_us,
                         _perf_ns() - t0, errors)

    def _lifespan_receive(self, receive):
        """Flush when the server announces shutdown: some servers (uvicorn)
        end the process by re-raising SIGTERM, which skips atexit."""
        engine = self._engine

        async def lifespan_receive():
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                import asyncio

                timeout = _runtime.current_shutdown_timeout_ms()
                await asyncio.get_running_loop().run_in_executor(
                    None, engine.flush, timeout)
            return message

        return lifespan_receive

    def _record(self, scope, req, req_size, want, resp, start_us, duration,
                errors):
        try:
            flags = 0 if want else (self._skipped if req_size else 0)
            route = getattr(scope.get("route"), "path", None)
            path = scope.get("root_path", "") + scope.get("path", "")
            client = scope.get("client")
            skip, ident = self._opts.extra(scope, (resp["status"], resp["headers"]),
                                           None)
            if skip:
                return
            extra = (ident or (None,) * 8)[:5] + (
                scope.get("query_string", b""), client[0] if client else None,
                scope.get("scheme", "http"))
            eid = scope.get(outgoing.EVENT_ID_KEY)
            if eid is not None:
                extra += (eid,)
            reported = scope.get(outgoing.ERRORS_KEY)
            if reported:
                errors = (errors or []) + reported
            self._capture(scope.get("method", "GET"), path, route,
                          scope.get("headers") or [], b"".join(req["chunks"]),
                          req_size if req_size >= 0 else req["seen"],
                          resp["status"], resp["headers"],
                          b"".join(resp["chunks"]), resp["sent"], start_us,
                          duration, flags, errors, extra, False)
        except Exception:
            self._failed()
