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
from ._core import Exchange

_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns


def _header(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def _path(scope):
    """The path the client asked for.  Servers put the mount prefix
    (root_path, e.g. `uvicorn --root-path`) in `path` too, as Starlette
    and Django read it; one that leaves it out has it added."""
    path = scope.get("path") or "/"
    root = scope.get("root_path") or ""
    if root and not (path == root or path.startswith(root.rstrip("/") + "/")):
        path = root.rstrip("/") + path
    return path


class OtasASGIMiddleware(Adapter):
    def __init__(self, app, **options):
        super().__init__(app, options)

    async def __call__(self, scope, receive, send):
        if self._engine is None:
            return await self.app(scope, receive, send)
        kind = scope["type"]
        if kind == "lifespan":
            return await self.app(scope, self._lifespan_receive(receive), send)
        if kind != "http":
            return await self.app(scope, receive, send)
        path = _path(scope)
        if self._opts.filtering and not self._engine.should_capture(
                scope.get("method", "GET"), path):
            return await self.app(scope, receive, send)
        headers = scope.get("headers") or []
        client = scope.get("client")
        x = Exchange(scope.get("method", "GET"), path, None,
                     headers, _time_ns() // 1000)
        x.store = scope
        x.query = scope.get("query_string", b"")
        x.remote_addr = client[0] if client else None
        x.scheme = scope.get("scheme", "http")
        t0 = _perf_ns()
        cap = self._cap
        cl = _header(headers, b"content-length")
        req_size = int(cl) if cl and cl.isdigit() else -1
        # Without a Content-Length (chunked) the type decides; the copy
        # stops at the cap whatever the size turns out to be.
        want = req_size != 0 and self._want_body(
            _header(headers, b"content-type"), max(req_size, 0))
        req = {"chunks": [], "kept": 0, "seen": 0}
        resp = {"status": 0, "headers": None, "chunks": [], "kept": 0, "sent": 0}
        if self._opts.id_header:
            eid = scope[outgoing.EVENT_ID_KEY] = self._engine.new_event_id()
            eid_header = (b"x-otas-event-id", eid.encode())
        else:
            eid_header = None

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
                if eid_header is not None:
                    message = dict(message, headers=list(message.get("headers") or [])
                                   + [eid_header])
                resp["status"] = message["status"]
                resp["headers"] = message.get("headers") or []
            elif kind == "http.response.body":
                body = message.get("body", b"")
                resp["sent"] += len(body)
                if resp["kept"] < cap and body:
                    piece = body[:cap - resp["kept"]]
                    resp["chunks"].append(piece)
                    resp["kept"] += len(piece)
            elif kind == "http.response.pathsend":
                # The server sends the file itself (Starlette's FileResponse
                # under a server offering the extension): its size is the
                # Content-Length the response declared.
                length = _header(resp["headers"] or (), b"content-length")
                if length and length.isdigit():
                    resp["sent"] += int(length)
                resp["file"] = True
            await send(message)

        token = outgoing.current_request.set(scope) if self._outgoing else None
        try:
            await self.app(scope, receive_copy, send_copy)
        except Exception as exc:
            x.errors = [exception_record(exc)]
            if not resp["status"]:
                resp["status"] = 500
            raise
        finally:
            if token is not None:
                outgoing.current_request.reset(token)
            x.duration_ns = _perf_ns() - t0
            try:
                x.flags = 0 if want else (self._skipped if req_size else 0)
                if "file" in resp:
                    x.flags |= self._streaming
                x.route = getattr(scope.get("route"), "path", None)
                x.req_body = b"".join(req["chunks"])
                x.req_size = req_size if req_size >= 0 else req["seen"]
                x.status, x.resp_headers = resp["status"], resp["headers"]
                x.resp_body = b"".join(resp["chunks"])
                x.resp_size = resp["sent"]
                x.request, x.response = scope, (resp["status"], resp["headers"])
                self._core.submit(x)
            except Exception:
                self._core.fail()

    def _lifespan_receive(self, receive):
        """Flush when the server announces shutdown (the process may end
        without atexit: see _runtime)."""
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
