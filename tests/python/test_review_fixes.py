"""Fixes from the second review of the Python package: a closed engine at
ASGI lifespan shutdown, a blank SDK key, HEAD responses, the event-id
header of uncaptured responses, report_error without outgoing capture,
and `from otas import *` without Django."""

import asyncio
import json

import pytest

from sdk_support import as_obj, events_for

pytestmark = pytest.mark.usefixtures("collector")


def _asgi_app(body=b"asgi ok"):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    return app


async def _run(wrapped, scope, inbox):
    sent = []

    async def receive():
        return inbox.pop(0)

    async def send(msg):
        sent.append(msg)
    await wrapped(scope, receive, send)
    return sent


def _http(path, method="GET"):
    return ({"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": [(b"host", b"a.example")], "scheme": "http",
             "client": ("10.0.0.9", 5000)}, [{"type": "http.request", "body": b""}])


def test_asgi_lifespan_shutdown_after_engine_closed(collector, uid):
    from otas.asgi import OtasASGIMiddleware

    # An engine of its own (options of its own): the one it closes is not
    # the process's, which the other tests' apps keep using.
    wrapped = OtasASGIMiddleware(_asgi_app(), sensitive_headers=["x-closed-first"])
    assert wrapped._engine is not OtasASGIMiddleware(_asgi_app())._engine
    sent = asyncio.run(_run(wrapped, *_http(f"/closed-first/{uid}")))
    assert sent[1]["body"] == b"asgi ok"
    # A signal handler (or the app) closed OTAS before the server's
    # lifespan shutdown: closing delivered the event, the flush must not
    # raise out of the app's lifespan.
    wrapped._engine.close(5000)
    life = asyncio.run(_run(wrapped, {"type": "lifespan"},
                            [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]))
    assert [m["type"] for m in life] == ["lifespan.startup.complete",
                                         "lifespan.shutdown.complete"]
    ev = events_for(collector, 1, path=f"/closed-first/{uid}")
    assert len(ev) == 1 and ev[0]["response_body"] == "asgi ok"


@pytest.mark.parametrize("key", ["", "   ", " \t\n"])
def test_blank_sdk_key_is_a_missing_key(key, monkeypatch):
    from otas import conf
    from otas.checks import check_otas
    from otas.exceptions import MISSING_KEY_MESSAGE, OtasConfigurationError

    env = {"OTAS_CAPTURE_IN_TESTS": "1", "OTAS_SDK_KEY": key}
    with pytest.raises(OtasConfigurationError) as err:
        conf.load(None, None, environ=env)
    assert str(err.value) == MISSING_KEY_MESSAGE
    with pytest.raises(OtasConfigurationError) as err:
        conf.load(None, {"sdk_key": key}, environ={"OTAS_CAPTURE_IN_TESTS": "1"})
    assert str(err.value) == MISSING_KEY_MESSAGE
    # The system check warns as for a missing key (it reads os.environ).
    monkeypatch.setenv("OTAS_SDK_KEY", key)
    problems = check_otas()
    w002 = [p for p in problems if p.id == "otas.W002"]
    assert len(w002) == 1
    assert w002[0].msg == ("OTAS_SDK_KEY is not set: starting a server will raise "
                           "OtasConfigurationError.")
    monkeypatch.delenv("OTAS_SDK_KEY")
    assert [p.msg for p in check_otas() if p.id == "otas.W002"] == [w002[0].msg]


def _no_body(ev):
    assert ev["method"] == "HEAD"
    assert ev["status_code"] == 200
    assert ev["response_body"] in (None, "")
    assert ev["response_size_bytes"] == 0


def test_django_head_records_no_response_body(collector, uid):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient, Client

    get = Client().get(f"/api/items/{uid}")
    r = Client().head(f"/api/items/{uid}")  # the C fast path
    assert r.status_code == 200 and r.content == b""
    ev = [e for e in events_for(collector, 2, path=f"/api/items/{uid}")
          if e["method"] == "HEAD"][0]
    _no_body(ev)
    assert as_obj(ev["response_headers"])["content-type"] == "application/json"
    full = [e for e in collector.events(path=f"/api/items/{uid}") if e["method"] == "GET"][0]
    assert json.loads(full["response_body"])["id"] == uid
    assert full["response_size_bytes"] == len(get.content)
    # The Python path (reported errors), a stream and the async path.
    r = Client().head(f"/api/report-errors?u={uid}")
    assert r.status_code == 200
    r = Client().head(f"/api/stream?u={uid}")
    assert r.status_code == 200
    r = async_to_sync(AsyncClient().head)(f"/api/async/{uid}")
    assert r.status_code == 200
    for path in ("/api/report-errors", "/api/stream"):
        ev = [e for e in events_for(collector, 1, path=path, method="HEAD")
              if as_obj(e["query_params"]).get("u") == [str(uid)]]
        assert len(ev) == 1, path
        _no_body(ev[0])
    _no_body(events_for(collector, 1, path=f"/api/async/{uid}")[0])


def test_wsgi_and_asgi_head_record_no_response_body(collector, uid):
    import io

    from otas.asgi import OtasASGIMiddleware
    from otas.wsgi import OtasWSGIMiddleware

    def wsgi_app(environ, start_response):
        # wsgiref-style: the app sends the body, the server drops it.
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "8")])
        return [b"wsgi ok!"]

    wrapped = OtasWSGIMiddleware(wsgi_app)
    environ = {"REQUEST_METHOD": "HEAD", "PATH_INFO": f"/head-wsgi/{uid}",
               "QUERY_STRING": "", "SERVER_NAME": "t", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b"")}
    result = wrapped(environ, lambda status, headers, exc_info=None: None)
    assert b"".join(result) == b"wsgi ok!"  # passed on unchanged
    result.close()
    ev = events_for(collector, 1, path=f"/head-wsgi/{uid}")[0]
    _no_body(ev)
    assert as_obj(ev["response_headers"])["content-length"] == "8"

    awrapped = OtasASGIMiddleware(_asgi_app(b"asgi ok!"))
    sent = asyncio.run(_run(awrapped, *_http(f"/head-asgi/{uid}", "HEAD")))
    assert sent[1]["body"] == b"asgi ok!"
    ev = events_for(collector, 1, path=f"/head-asgi/{uid}")[0]
    _no_body(ev)
    assert as_obj(ev["response_headers"])["content-length"] == "8"


DJANGO_ID_HEADER = """
import json, django
django.setup()
from django.test import Client
import otas
r = Client().get("/api/items/5")
s = Client().get("/api/stream")
b"".join(s.streaming_content)
print("RESULT " + json.dumps({"plain": r.headers.get("X-OTAS-Event-Id"),
                              "stream": s.headers.get("X-OTAS-Event-Id"),
                              "flushed": otas.flush(timeout=3)}))
"""


def test_django_event_id_header_only_on_captured_responses(collector, tmp_path):
    """The reference: a sampled-out response has no X-OTAS-Event-Id; a
    stream without Content-Length is named up front (its header goes out
    before it is captured)."""
    from sdk_support import run_app

    base = {"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
            "OTAS_SPOOL_DIR": str(tmp_path), "OTAS_EVENT_ID_HEADER": "1"}
    p, kept = run_app(dict(base, OTAS_SAMPLE_RATE="1"), DJANGO_ID_HEADER)
    assert kept is not None, p.stderr
    assert kept["plain"] and kept["stream"]
    p, out = run_app(dict(base, OTAS_SAMPLE_RATE="0"), DJANGO_ID_HEADER)
    assert out is not None, p.stderr
    assert out["plain"] is None
    assert out["stream"]  # named up front


def _wsgi_call(wrapped, path, app_headers=True):
    import io

    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, dict(headers)
        return lambda data: None

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "t", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(b"")}
    result = wrapped(environ, start_response)
    body = b"".join(result)
    getattr(result, "close", lambda: None)()
    return got, body


def test_wsgi_event_id_header_only_on_captured_responses(collector, uid):
    from otas.wsgi import OtasWSGIMiddleware

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "7")])
        return [b"wsgi ok"]

    def stream(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"a" * 10
        yield b"b" * 10

    kept = OtasWSGIMiddleware(app, event_id_header=True)
    got, body = _wsgi_call(kept, f"/id-wsgi/{uid}")
    assert body == b"wsgi ok"
    ev = events_for(collector, 1, path=f"/id-wsgi/{uid}")[0]
    assert got["headers"]["X-OTAS-Event-Id"] == ev["metadata"]["event_id"]
    for wrapped in (OtasWSGIMiddleware(app, event_id_header=True, sample_rate="0"),
                    OtasWSGIMiddleware(app, event_id_header=True,
                                       skip=lambda environ, response: True)):
        got, body = _wsgi_call(wrapped, f"/id-wsgi-out/{uid}")
        assert body == b"wsgi ok" and got["status"] == "200 OK"
        assert "X-OTAS-Event-Id" not in got["headers"]
    # A stream without Content-Length is named up front (as Django's).
    got, body = _wsgi_call(OtasWSGIMiddleware(stream, event_id_header=True),
                           f"/id-wsgi-stream/{uid}")
    assert body == b"a" * 10 + b"b" * 10
    ev = events_for(collector, 1, path=f"/id-wsgi-stream/{uid}")[0]
    assert got["headers"]["X-OTAS-Event-Id"] == ev["metadata"]["event_id"]
    assert ev["response_size_bytes"] == 20
    assert collector.events(path=f"/id-wsgi-out/{uid}") == []


def test_asgi_event_id_header_only_on_captured_responses(collector, uid):
    from otas.asgi import OtasASGIMiddleware

    async def stream(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"a" * 10, "more_body": True})
        await send({"type": "http.response.body", "body": b"b" * 10})

    kept = OtasASGIMiddleware(_asgi_app(), event_id_header=True)
    sent = asyncio.run(_run(kept, *_http(f"/id-asgi/{uid}")))
    assert sent[1]["body"] == b"asgi ok"
    ev = events_for(collector, 1, path=f"/id-asgi/{uid}")[0]
    assert dict(sent[0]["headers"])[b"x-otas-event-id"].decode() == ev["metadata"]["event_id"]
    assert ev["response_body"] == "asgi ok"
    for wrapped in (OtasASGIMiddleware(_asgi_app(), event_id_header=True, sample_rate="0"),
                    OtasASGIMiddleware(_asgi_app(), event_id_header=True,
                                       skip=lambda scope, response: True)):
        sent = asyncio.run(_run(wrapped, *_http(f"/id-asgi-out/{uid}")))
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
        assert sent[0]["status"] == 200 and sent[1]["body"] == b"asgi ok"
        assert b"x-otas-event-id" not in dict(sent[0]["headers"])
    sent = asyncio.run(_run(OtasASGIMiddleware(stream, event_id_header=True),
                            *_http(f"/id-asgi-stream/{uid}")))
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"a" * 10 + b"b" * 10
    ev = events_for(collector, 1, path=f"/id-asgi-stream/{uid}")[0]
    assert dict(sent[0]["headers"])[b"x-otas-event-id"].decode() == ev["metadata"]["event_id"]
    assert ev["response_size_bytes"] == 20
    assert collector.events(path=f"/id-asgi-out/{uid}") == []


REPORT_NONE = """
import json, sys, django
django.setup()
sys.argv = ["manage.py", "report_job_%s"]
from django.test import Client
import otas
r = Client().get("/api/report-no-request?u=%s")
print("RESULT " + json.dumps({"status": r.status_code, "flushed": otas.flush(10)}))
"""


@pytest.mark.parametrize("outgoing", ["0", "1"])
def test_report_error_none_inside_a_django_view(outgoing, collector, uid, tmp_path):
    """report_error(None, exc) attaches to the request only where the
    middleware tracks the current request (OTAS_CAPTURE_OUTGOING=1, a
    context variable per request); otherwise it is an event of its own,
    JOB /jobs/<command>, as documented."""
    from sdk_support import run_app

    tag = f"{uid}_{outgoing}"
    p, res = run_app({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                      "OTAS_SPOOL_DIR": str(tmp_path), "OTAS_CAPTURE_OUTGOING": outgoing},
                     code=REPORT_NONE % (tag, tag))
    assert res == {"status": 200, "flushed": True}, p.stderr[-2000:]
    ev = [e for e in events_for(collector, 1, path="/api/report-no-request")
          if as_obj(e["query_params"]).get("u") == [tag]]
    assert len(ev) == 1
    errors = ev[0]["metadata"].get("errors") or []
    if outgoing == "1":
        assert [e["message"] for e in errors] == ["reported without the request"]
        assert collector.events(path=f"/jobs/report_job_{tag}") == []
    else:
        assert errors == []
        job = events_for(collector, 1, path=f"/jobs/report_job_{tag}")
        assert len(job) == 1 and job[0]["method"] == "JOB"
        assert job[0]["status_code"] == 500
        assert job[0]["metadata"]["errors"][0]["message"] == "reported without the request"


STAR_WITHOUT_DJANGO = """
import json, sys

class HideDjango:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("django", "asgiref"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideDjango())
from otas import *
import otas
names = sorted(k for k in dir() if k == "__version__" or not k.startswith("_"))
print("RESULT " + json.dumps({"names": names,
                              "django": [m for m in sys.modules if m.split(".")[0] == "django"],
                              "all": otas.__all__}))
"""


def test_star_import_without_django():
    import os
    import subprocess
    import sys

    from sdk_support import PYTHONPATH

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OTAS_") and k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = PYTHONPATH
    p = subprocess.run([sys.executable, "-c", STAR_WITHOUT_DJANGO], env=env,
                       capture_output=True, text=True, timeout=60)
    out = [line for line in p.stdout.splitlines() if line.startswith("RESULT ")]
    assert out, p.stderr[-2000:]
    res = json.loads(out[0][7:])
    assert res["django"] == []
    for name in ("flush", "stats", "report_error", "observe_request", "OtasClient",
                 "OtasError", "update_user", "__version__"):
        assert name in res["names"]
    assert "OtasMiddleware" not in res["names"] and "OtasMiddleware" not in res["all"]


@pytest.mark.parametrize("server", ["gunicorn-flask", "uvicorn-fastapi"])
@pytest.mark.parametrize("rate", ["1", "0"])
def test_event_id_header_under_real_servers(server, rate, collector, uid, tmp_path):
    """The held start_response / http.response.start reach real servers:
    the whole response arrives, with the header only when captured."""
    import os
    import signal
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    from sdk_support import PYTHONPATH, free_port, wait_for

    port = free_port()
    bindir = Path(sys.executable).parent
    if server == "gunicorn-flask":
        cmd = [str(bindir / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}",
               "apps.flask_app:app"]
    else:
        cmd = [str(bindir / "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
               "apps.fastapi_app:app"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"PYTHONPATH": PYTHONPATH, "OTAS_SDK_KEY": collector.key,
                "OTAS_BASE_URL": collector.url, "OTAS_SPOOL_DIR": str(tmp_path),
                "OTAS_EVENT_ID_HEADER": "1", "OTAS_SAMPLE_RATE": rate,
                "OTAS_FLUSH_INTERVAL_MS": "50"})
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/api/items/0", timeout=1)
            except OSError:
                return None
        wait_for(up, timeout=30, what=server)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/items/{uid}", timeout=10) as r:
            assert r.status == 200
            assert json.loads(r.read())["id"] == uid
            eid = r.headers.get("X-OTAS-Event-Id")
        if rate == "1":
            ev = events_for(collector, 1, path=f"/api/items/{uid}")[0]
            assert eid == ev["metadata"]["event_id"]
        else:
            assert eid is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
