"""The same engine for any WSGI or ASGI app: a real Flask app and a real
FastAPI app, through their test clients and through real servers
(gunicorn, uvicorn), delivering to the real collector."""

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from sdk_support import PYTHONPATH, as_obj, events_for, wait_for
from sdk_support import free_port

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.usefixtures("collector")


def check_common(ev, path, route):
    assert ev["method"] == "GET"
    assert ev["status_code"] == 200
    assert ev["path"] == path
    assert ev["latency_ms"] > 0
    assert ev["metadata"]["route"] == route
    assert ev["metadata"]["direction"] == "incoming"
    assert json.loads(ev["response_body"])["id"] == int(path.rsplit("/", 1)[1])
    req_h = as_obj(ev["request_headers"])
    assert req_h["authorization"] == "[REDACTED]"
    assert as_obj(ev["query_params"]) == {"a": ["1"]}


def test_flask_test_client(collector, uid):
    from apps.flask_app import app

    c = app.test_client()
    r = c.get(f"/api/items/{uid}?a=1", headers={"Authorization": "Bearer flask-secret"})
    assert r.status_code == 200
    assert r.get_json()["id"] == uid  # the body is sent (and captured) when read
    ev = events_for(collector, 1, path=f"/api/items/{uid}")[0]
    check_common(ev, f"/api/items/{uid}", "/api/items/<int:pk>")
    assert "flask-secret" not in json.dumps(ev)

    r = c.post(f"/api/items?u={uid}", json={"k": uid})
    assert r.status_code == 201
    assert r.get_json()["echo"] == {"k": uid}
    ev = [e for e in events_for(collector, 1, path="/api/items", method="POST")
          if as_obj(e["query_params"]).get("u") == [str(uid)]][0]
    assert json.loads(ev["request_body"]) == {"k": uid}
    assert ev["status_code"] == 201

    r = c.get(f"/api/stream?u={uid}")
    assert r.data == b"y" * 30000
    ev = [e for e in events_for(collector, 1, path="/api/stream")
          if as_obj(e["query_params"]).get("u") == [str(uid)]][0]
    assert ev["response_size_bytes"] == 30000


def test_fastapi_test_client(collector, uid):
    from fastapi.testclient import TestClient

    from apps.fastapi_app import app

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get(f"/api/items/{uid}?a=1", headers={"Authorization": "Bearer fa-secret"})
        assert r.status_code == 200
        r = c.get(f"/api/boom?u={uid}")
        assert r.status_code == 500
        r = c.get(f"/api/stream?u={uid}")
        assert r.content == b"z" * 30000
    ev = events_for(collector, 1, path=f"/api/items/{uid}")[0]
    check_common(ev, f"/api/items/{uid}", "/api/items/{pk}")
    boom = [e for e in events_for(collector, 1, path="/api/boom")
            if as_obj(e["query_params"]).get("u") == [str(uid)]][0]
    assert boom["status_code"] == 500
    assert boom["metadata"]["errors"][0]["type"] == "ValueError"
    st = [e for e in events_for(collector, 1, path="/api/stream")
          if as_obj(e["query_params"]).get("u") == [str(uid)]][0]
    assert st["response_size_bytes"] == 30000


def serve(cmd, port, collector, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"PYTHONPATH": PYTHONPATH, "OTAS_SDK_KEY": collector.key,
                "OTAS_BASE_URL": collector.url, "OTAS_SPOOL_DIR": str(tmp_path)})
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def up():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/items/0", timeout=1)
            return True
        except OSError:
            return False
    wait_for(up, timeout=30, what=" ".join(cmd[:2]))
    return proc


@pytest.mark.parametrize("server", ["gunicorn-flask", "uvicorn-fastapi"])
def test_real_servers(server, collector, uid, tmp_path):
    port = free_port()
    bindir = Path(sys.executable).parent
    if server == "gunicorn-flask":
        cmd = [str(bindir / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
               "apps.flask_app:app"]
        route = "/api/items/<int:pk>"
    else:
        cmd = [str(bindir / "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
               "apps.fastapi_app:app"]
        route = "/api/items/{pk}"
    proc = serve(cmd, port, collector, tmp_path)
    try:
        for i in range(20):
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/items/{uid + i}?a=1",
                headers={"Authorization": "Bearer served-secret"})
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    # uvicorn re-raises SIGTERM after its graceful shutdown (exit status
    # -15); the events still arrive because OTAS flushes on ASGI lifespan
    # shutdown.
    assert proc.returncode in ((0,) if server.startswith("gunicorn") else (0, -15)), out
    assert "Finished server process" in out or "Shutting down" in out or proc.returncode == 0
    for i in range(20):
        ev = events_for(collector, 1, path=f"/api/items/{uid + i}")
        assert len(ev) == 1
        check_common(ev[0], f"/api/items/{uid + i}", route)


def test_plain_wsgi_options_as_kwargs_hooks_and_event_id_header(collector, uid):
    from otas.wsgi import OtasWSGIMiddleware

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"plain": true}']

    seen = []
    wrapped = OtasWSGIMiddleware(
        app, event_id_header=True, tags=["plain", "wsgi"],
        identify_user=lambda environ, response: environ.get("HTTP_X_USER"),
        get_metadata=lambda environ, response: seen.append(response[0]) or {"k": 1})
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/plain/{uid}", "QUERY_STRING": "",
               "SERVER_NAME": "t", "SERVER_PORT": "80", "HTTP_HOST": "plain.example",
               "HTTP_X_USER": "user-7", "wsgi.url_scheme": "http",
               "wsgi.input": __import__("io").BytesIO(b"")}
    body = b"".join(wrapped(environ, start_response))
    assert body == b'{"plain": true}'
    eid = got["headers"]["X-OTAS-Event-Id"]
    ev = events_for(collector, 1, path=f"/plain/{uid}")[0]
    assert ev["metadata"]["event_id"] == eid
    assert ev["metadata"]["user_id"] == "user-7"
    assert ev["metadata"]["tags"] == ["plain", "wsgi"]
    assert ev["metadata"]["k"] == 1
    assert seen == [200]


def test_plain_asgi_event_id_header_websocket_and_lifespan(collector, uid):
    import asyncio

    from otas.asgi import OtasASGIMiddleware

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"asgi ok"})

    wrapped = OtasASGIMiddleware(app, event_id_header=True)

    async def run(scope, inbox):
        sent = []

        async def receive():
            return inbox.pop(0)

        async def send(msg):
            sent.append(msg)
        await wrapped(scope, receive, send)
        return sent

    http = asyncio.run(run({"type": "http", "method": "GET", "path": f"/asgi/{uid}",
                            "query_string": b"", "headers": [(b"host", b"a.example")],
                            "scheme": "http", "client": ("10.0.0.9", 5000)},
                           [{"type": "http.request", "body": b""}]))
    start = http[0]
    eid = dict(start["headers"])[b"x-otas-event-id"].decode()
    assert http[1]["body"] == b"asgi ok"
    ws = asyncio.run(run({"type": "websocket", "path": "/ws"}, [{"type": "websocket.connect"}]))
    assert ws == [{"type": "websocket.accept"}]
    life = asyncio.run(run({"type": "lifespan"}, [{"type": "lifespan.startup"},
                                                  {"type": "lifespan.shutdown"}]))
    assert [m["type"] for m in life] == ["lifespan.startup.complete",
                                         "lifespan.shutdown.complete"]
    ev = events_for(collector, 1, path=f"/asgi/{uid}")[0]
    assert ev["metadata"]["event_id"] == eid
    assert ev["metadata"]["client_ip"] == "10.0.0.9"
    assert ev["response_body"] == "asgi ok"
    assert collector.events(path="/ws") == []
