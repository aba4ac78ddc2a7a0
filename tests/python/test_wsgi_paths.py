"""The WSGI adapter on the paths the ASGI one already covers: a chunked
request body (no Content-Length) under a real server, and an exception
raised while the response streams; checked in the real otas-collector."""

import http.client
import io
import json
import signal
import sys
from pathlib import Path

import pytest

from sdk_support import as_obj, events_for, free_port
from test_wsgi_asgi import serve

pytestmark = pytest.mark.usefixtures("collector")


def test_chunked_request_body_under_gunicorn(collector, uid, tmp_path):
    """gunicorn hands a chunked body to Flask (wsgi.input_terminated): the
    event has it and its size, as the ASGI adapter records one."""
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = serve([gunicorn, "-w", "1", "-b", f"127.0.0.1:{port}",
                  "apps.flask_app:app"], port, collector, tmp_path)
    doc = {"k": uid, "pad": "x" * 3000}
    raw = json.dumps(doc).encode()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", f"/api/items?u={uid}",
                     body=iter([raw[:1000], raw[1000:]]),
                     headers={"Content-Type": "application/json"},
                     encode_chunked=True)
        r = conn.getresponse()
        assert r.status == 201
        assert json.loads(r.read())["echo"] == doc
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    ev = [e for e in events_for(collector, 1, path="/api/items", method="POST")
          if as_obj(e["query_params"]).get("u") == [str(uid)]][0]
    assert ev["request_size_bytes"] == len(raw)
    assert json.loads(ev["request_body"]) == doc


def test_exception_while_streaming_is_recorded(collector, uid):
    """A response iterable that raises half-way: the event carries the
    exception (type, message, stack), as the ASGI adapter's does."""
    from otas.wsgi import OtasWSGIMiddleware

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            yield b"first part "
            raise RuntimeError("the stream broke")
        return body()

    wrapped = OtasWSGIMiddleware(app)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/wsgi-stream-boom/{uid}",
               "QUERY_STRING": "", "SERVER_NAME": "t", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b"")}
    it = wrapped(environ, lambda status, headers, exc_info=None: None)
    got = []
    with pytest.raises(RuntimeError):
        for chunk in it:
            got.append(chunk)
    it.close()  # what a server does after a failed iteration
    assert got == [b"first part "]
    ev = events_for(collector, 1, path=f"/wsgi-stream-boom/{uid}")[0]
    errors = ev["metadata"].get("errors") or []
    assert [(e["type"], e["message"]) for e in errors] == [
        ("RuntimeError", "the stream broke")]
    assert "the stream broke" in errors[0]["stack"]
    assert ev["response_size_bytes"] == len(b"first part ")


class Unprintable(Exception):
    def __str__(self):
        raise TypeError("no str for you")


def test_an_unprintable_exception_reaches_the_server_as_it_is(collector, uid):
    """The app's exception goes on unchanged even when str() of it fails
    (OTAS records it with a placeholder message), on every adapter."""
    import asyncio

    from otas.asgi import OtasASGIMiddleware
    from otas.wsgi import OtasWSGIMiddleware

    def wsgi_app(environ, start_response):
        raise Unprintable()

    async def asgi_app(scope, receive, send):
        raise Unprintable()

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/unprintable-w/{uid}",
               "QUERY_STRING": "", "SERVER_NAME": "t", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b"")}
    with pytest.raises(Unprintable):
        OtasWSGIMiddleware(wsgi_app)(environ, lambda *a: None)
    scope = {"type": "http", "method": "GET", "path": f"/unprintable-a/{uid}",
             "root_path": "", "query_string": b"", "headers": [],
             "scheme": "http", "client": ("127.0.0.1", 1)}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(m):
        pass
    with pytest.raises(Unprintable):
        asyncio.run(OtasASGIMiddleware(asgi_app)(scope, receive, send))
    for path in (f"/unprintable-w/{uid}", f"/unprintable-a/{uid}"):
        ev = events_for(collector, 1, path=path)[0]
        assert ev["status_code"] == 500
        assert ev["metadata"]["errors"][0]["type"] == "Unprintable"
