"""A file sent with the ASGI `http.response.pathsend` extension (Starlette's
FileResponse does when the server offers it, as Granian does): the event
has the file's size, as for a file sent in body messages.  A real
Starlette app, the real collector."""

import asyncio

import pytest

from sdk_support import events_for

pytestmark = pytest.mark.usefixtures("collector")


def test_pathsend_response_size(collector, uid, tmp_path):
    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Route

    from otas.asgi import OtasASGIMiddleware

    data = bytes(range(256)) * 40
    f = tmp_path / "download.bin"
    f.write_bytes(data)

    async def download(request):
        return FileResponse(f)

    app = Starlette(routes=[Route("/api/download/{n}", download)])
    app.add_middleware(OtasASGIMiddleware)
    path = f"/api/download/{uid}"
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": "GET", "path": path,
             "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"files.example")], "scheme": "http",
             "client": ("127.0.0.1", 5000), "server": ("files.example", 80),
             "extensions": {"http.response.pathsend": {}}}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start",
                                         "http.response.pathsend"]
    ev = events_for(collector, 1, path=path)[0]
    assert ev["status_code"] == 200
    assert ev["response_size_bytes"] == len(data)
