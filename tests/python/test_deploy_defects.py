"""The smaller defects of issue 15, each against the real engine and the
real otas-collector (or a real server process where the defect needs one)."""

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.test import Client, override_settings

from sdk_support import (HERE, PYTHONPATH, as_obj, events_for, free_port, run_app,
                          wait_for)


def one(collector, path, **kw):
    return events_for(collector, 1, path=path, **kw)[0]


def test_large_django_response_is_cut_not_dropped(collector):
    import otas

    before = otas.stats().get("dropped", {}).get("queue_full", 0) if otas.stats() else 0
    r = Client().get("/api/huge")
    assert r.status_code == 200 and len(r.content) == 40 << 20
    ev = one(collector, "/api/huge")
    assert ev["response_size_bytes"] == 40 << 20
    assert "response" in ev["metadata"]["truncated"]
    assert len(ev["response_body"]) <= 102400
    assert otas.stats()["dropped"].get("queue_full", 0) == before


def test_view_reading_wsgi_input_gets_the_bytes(collector):
    body = json.dumps({"x": "y" * 100}).encode()
    r = Client().post("/api/raw-input", data=body, content_type="application/json")
    assert r.json() == {"read": len(body)}
    ev = one(collector, "/api/raw-input")
    assert json.loads(ev["request_body"]) == {"x": "y" * 100}


@override_settings(DEBUG_PROPAGATE_EXCEPTIONS=True)
def test_exception_propagating_through_middleware_leaves_an_event(collector, uid):
    with pytest.raises(ValueError):
        Client().get(f"/api/boom?u={uid}")
    evs = [e for e in events_for(collector, 1, path="/api/boom")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    assert len(evs) == 1
    ev = evs[0]
    assert ev["status_code"] == 500
    assert ev["metadata"]["errors"][0]["type"] == "ValueError"


def test_static_and_media_not_captured(collector, uid):
    with override_settings(STATIC_URL="/static/", MEDIA_URL="/media/"):
        c = Client()
        c.get(f"/static/app-{uid}.css")
        c.get(f"/media/up-{uid}.png")
        c.get(f"/api/items/{uid}")
    one(collector, f"/api/items/{uid}")  # flushed: the others would be in
    assert collector.events(path=f"/static/app-{uid}.css") == []
    assert collector.events(path=f"/media/up-{uid}.png") == []


def test_agent_token_name_never_in_request_headers(collector, uid):
    Client().get(f"/api/items/{uid}", HTTP_X_OTAS_AGENT_SESSION_TOKEN="tok-abc")
    ev = one(collector, f"/api/items/{uid}")
    names = {k.lower() for k in as_obj(ev["request_headers"])}
    assert "x-otas-agent-session-token" not in names
    assert "tok-abc" not in json.dumps(ev)


def test_drf_request_passes_through_to_report_error(collector):
    assert Client().get("/api/drf-error").json() == {"ok": True}
    ev = one(collector, "/api/drf-error")
    assert [e["type"] for e in ev["metadata"]["errors"]] == ["KeyError"]


def test_flask_unhandled_exception_recorded(collector):
    from apps.flask_app import app

    r = app.test_client().get("/api/boom")
    assert r.status_code == 500
    r.get_data()  # the test client streams: the event is taken at the end
    r.close()
    import otas

    otas.flush(10)

    def flask_errors():
        return [e for e in collector.events(path="/api/boom")
                if e["metadata"].get("errors")
                and e["metadata"]["errors"][0]["message"] == "flask view failed"]
    errs = wait_for(flask_errors, what="the Flask error event")
    assert errs[0]["metadata"]["errors"][0]["type"] == "ValueError"
    assert "flask_app.py" in errs[0]["metadata"]["errors"][0]["stack"]
    assert errs[0]["status_code"] == 500


def test_asgi_body_without_content_length_captured(collector, uid):
    from otas.asgi import OtasASGIMiddleware

    async def app(scope, receive, send):
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    mw = OtasASGIMiddleware(app)
    chunks = [{"type": "http.request", "body": b'{"part": ', "more_body": True},
              {"type": "http.request", "body": b'"two"}', "more_body": False}]
    path = f"/chunked/{uid}"
    scope = {"type": "http", "method": "POST", "path": path, "root_path": "",
             "query_string": b"", "scheme": "http", "client": ("127.0.0.1", 1),
             "headers": [(b"content-type", b"application/json"),
                         (b"transfer-encoding", b"chunked")]}

    async def receive():
        return chunks.pop(0)

    async def send(m):
        pass

    asyncio.run(mw(scope, receive, send))
    ev = one(collector, path)
    assert json.loads(ev["request_body"]) == {"part": "two"}
    assert ev["request_size_bytes"] == len(b'{"part": "two"}')


NULL_ENGINE = """
import asyncio, io, json
from otas.wsgi import OtasWSGIMiddleware
from otas.asgi import OtasASGIMiddleware
w = OtasWSGIMiddleware(lambda e, s: (s("200 OK", []), [b"w"])[1])
got = b"".join(w({"REQUEST_METHOD": "POST", "PATH_INFO": "/x", "CONTENT_LENGTH": "2",
                  "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(b"{}")},
                 lambda *a: None))
async def app(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"a"})
sent = []
async def rcv():
    return {"type": "http.request", "body": b"{}"}
async def snd(m):
    sent.append(m)
asyncio.run(OtasASGIMiddleware(app)({"type": "http", "method": "GET", "path": "/y",
            "headers": []}, rcv, snd))
print("RESULT " + json.dumps({"wsgi": got.decode(), "asgi": len(sent)}))
"""


def test_null_engine_in_wsgi_and_asgi():
    p, res = run_app({"OTAS_ENGINE": "null", "OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "E" * 43},
                     code=NULL_ENGINE)
    assert res == {"wsgi": "w", "asgi": 2}, p.stderr[-2000:]


def test_null_engine_takes_the_real_options():
    # the benchmarks configure the no-op engine as they configure the real
    # one (body-redaction rules included); a bad value is still refused
    from otas import _null_engine
    assert "OTAS_REDACT_RESPONSE_BODY" in _null_engine.option_defaults()
    _null_engine.check_options({"OTAS_REDACT_RESPONSE_BODY": "$.password"})
    with pytest.raises(ValueError, match="OTAS_REDACT_RESPONSE_BODY"):
        _null_engine.check_options({"OTAS_REDACT_RESPONSE_BODY": "$[bad"})


JOB = """
import json, sys, django
django.setup()
sys.argv = ["manage.py", "nightly_import"]
import otas
try:
    raise RuntimeError("import failed")
except RuntimeError as e:
    otas.report_error(None, e)
print("RESULT " + json.dumps({"flushed": otas.flush(10)}))
"""


def test_report_error_in_a_management_command(collector, tmp_path):
    p, res = run_app({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                      "OTAS_SPOOL_DIR": str(tmp_path)}, code=JOB)
    assert res == {"flushed": True}, p.stderr[-2000:]
    ev = one(collector, "/jobs/nightly_import")
    assert ev["method"] == "JOB"
    assert ev["metadata"]["errors"][0]["message"] == "import failed"


DEBUG_APP = """
import json, logging, django
django.setup()
logging.getLogger("otas").handlers[:] = []     # whatever the logging set-up
logging.getLogger("otas").propagate = False
from django.test import Client
import otas
Client().get("/api/items/31?token=qs-secret", HTTP_AUTHORIZATION="Bearer sekrit",
             HTTP_X_OTAS_AGENT_SESSION_TOKEN="agent-tok-123")
print("RESULT " + json.dumps({"flushed": otas.flush(10)}))
"""


def test_debug_prints_each_redacted_event_and_the_options(collector, tmp_path):
    p, res = run_app({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                      "OTAS_SPOOL_DIR": str(tmp_path), "OTAS_DEBUG": "1"},
                     code=DEBUG_APP)
    assert res == {"flushed": True}, p.stderr[-2000:]
    err = p.stderr
    start = [ln for ln in err.splitlines() if ln.startswith("otas: start")]
    assert len(start) == 1
    assert "OTAS_SDK_KEY='***'" in start[0] and "OTAS_MAX_BODY_BYTES=" in start[0]
    assert "OTAS_BASE_URL='http" in start[0]
    lines = [ln for ln in err.splitlines() if ln.startswith("otas: GET /api/items/31 200")]
    assert len(lines) == 1, err[-3000:]
    ev = json.loads(lines[0][lines[0].index("{"):])
    assert ev["path"] == "/api/items/31"
    for secret in (collector.key, "sekrit", "qs-secret", "agent-tok-123"):
        assert secret not in err


UNREACHABLE = """
import json, logging, django
django.setup()
from django.test import Client
import otas
for i in range(3):
    Client().get("/api/items/1")
print("RESULT " + json.dumps({"flushed": otas.flush(2)}))
"""


def test_unreachable_back_end_logged_once(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    p, res = run_app({"OTAS_SDK_KEY": "otas_PocKPi56xDI_" + "a" * 43,
                      "OTAS_BASE_URL": dead, "OTAS_SPOOL_DIR": str(tmp_path),
                      "OTAS_SHUTDOWN_TIMEOUT_MS": "300"}, code=UNREACHABLE)
    assert res is not None, p.stderr[-2000:]
    assert p.stderr.lower().count("unreachable") == 1, p.stderr


def test_e001_hint_names_a_reinstall_that_works(monkeypatch):
    from otas import _native, checks

    monkeypatch.setattr(_native, "engine", None)
    monkeypatch.setattr(_native, "NATIVE_ERROR", "ImportError: test")
    (err,) = checks.check_otas()
    assert err.id == "otas.E001"
    assert "pip install --force-reinstall otas" not in err.hint
    assert "--no-deps" in err.hint and ".whl" in err.hint


def _runserver_event(collector, tmp_path, uid):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                "OTAS_SPOOL_DIR": str(tmp_path), "PYTHONPATH": PYTHONPATH,
                "DJANGO_SETTINGS_MODULE": "djproject.settings"})
    p = subprocess.Popen([sys.executable, "-m", "django", "runserver", "--noreload",
                          f"127.0.0.1:{port}"], cwd=HERE, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up():
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.putrequest("GET", f"/api/items/{uid}", skip_host=True,
                             skip_accept_encoding=True)
                c.endheaders()  # no Host, no Content-Type, no Content-Length
                return c.getresponse().status == 200
            except OSError:
                return False
        wait_for(up, timeout=30, what="runserver")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    return one(collector, f"/api/items/{uid}")


def test_runserver_phantom_headers_not_recorded(collector, tmp_path, uid):
    ev = _runserver_event(collector, tmp_path, uid)
    names = set(as_obj(ev["request_headers"]))
    assert "content-type" not in names and "content-length" not in names
    assert "host" not in names
    assert ev["metadata"]["host"]  # SERVER_NAME:SERVER_PORT (PEP 3333)


def _demo_kept():
    """`DEMO_KEEP=1 make demo`'s script, read until it says it keeps its
    servers running: (process, its output lines)."""
    repo = HERE.parents[1]
    p = subprocess.Popen([sys.executable, str(repo / "demo" / "run_demo.py")],
                         env=dict(os.environ, DEMO_KEEP="1"), cwd=repo,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    deadline = time.monotonic() + 180
    out = []
    for line in p.stdout:
        out.append(line)
        if "DEMO_KEEP=1" in line:
            return p, out
        if time.monotonic() > deadline:
            break
    os.killpg(p.pid, signal.SIGKILL)
    raise AssertionError("demo ended early or hung:\n" + "".join(out))


def test_demo_users_come_from_jwts_that_are_never_stored():
    """The demo's users sign their requests with JWTs: the dashboard's Users
    view lists the nine `sub`s with the companies IDENTIFY_COMPANY gave and
    the e-mail a login's otas.update_user() sent, and no byte of any token
    (nor the key that signed them) is in the collector's database."""
    sys.path.insert(0, str(HERE.parents[1] / "demo"))
    try:
        import run_demo
    finally:
        sys.path.pop(0)
    p, out = _demo_kept()
    try:
        text = "".join(out)
        url = next(ln.split()[1] for ln in out if ln.strip().startswith("dashboard:"))
        key = next(ln.split()[2] for ln in out if ln.strip().startswith("read key:"))
        db = Path(next(ln.split()[2] for ln in out if ln.strip().startswith("database:")))
        assert "Users (9, from their JWT's sub claim) of 3 companies" in text, text

        def get(path):
            req = urllib.request.Request(url.rstrip("/") + path,
                                         headers={"X-OTAS-SDK-KEY": key})
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        users = {u["id"]: u for u in get("/api/v1/stats/users")["users"]}
        want = {run_demo.demo_user(i) for i in range(9)}
        assert {(uid, u["company_id"]) for uid, u in users.items()} == want
        assert sum(u["requests"] for u in users.values()) == 150
        logged_in = [u for u in users.values() if (u.get("entity") or {}).get("email")]
        assert logged_in, users
        for u in logged_in:
            assert u["entity"]["email"] == f"{u['id']}@{u['company_id']}.example"
        companies = {c["id"] for c in get("/api/v1/stats/companies")["companies"]}
        assert companies == set(run_demo.COMPANIES)
        tokens = [run_demo.user_jwt(*run_demo.demo_user(i)) for i in range(9)]
        stored = b"".join(f.read_bytes() for f in db.parent.glob(db.name + "*"))
        assert len(stored) > 100_000  # the database, its WAL: what was written
        for t in tokens:
            for part in [t] + t.split(".")[1:]:  # the token, its claims, its signature
                assert part.encode() not in stored
        assert run_demo.JWT_SECRET not in stored
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=60)


def test_demo_keep_stopped_by_sigterm_leaves_no_process(tmp_path):
    p, _ = _demo_kept()
    try:
        os.kill(p.pid, signal.SIGTERM)
        p.wait(timeout=60)

        def group_gone():
            try:
                os.killpg(p.pid, 0)
                return False
            except ProcessLookupError:
                return True
        wait_for(group_gone, timeout=30, what="the demo's servers to stop")
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_host_falls_back_to_server_name_and_port(collector, uid):
    import io

    from otas.wsgi import OtasWSGIMiddleware

    app = OtasWSGIMiddleware(lambda e, s: (s("200 OK", []), [b"ok"])[1])
    path = f"/no-host/{uid}"
    for port, want in (("8080", "api.internal:8080"), ("80", "api.internal")):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path + "/" + port,
                   "SERVER_NAME": "api.internal", "SERVER_PORT": port,
                   "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO()}
        b"".join(app(environ, lambda *a: None))
        ev = one(collector, path + "/" + port)
        assert ev["metadata"]["host"] == want
        assert "host" not in as_obj(ev["request_headers"])


HANG_APP = """
import json, time, django
django.setup()
from django.test import Client
import otas
for i in range(3):
    Client().get("/api/items/%d" % i)
print("RESULT " + json.dumps({"t": time.time()}), flush=True)
"""


def test_shutdown_deadline_holds_against_a_hanging_back_end(tmp_path):
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns = []

    def accept():  # takes every connection, reads, never answers
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            conns.append(c)

    threading.Thread(target=accept, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.getsockname()[1]}"
        p, res = run_app({"OTAS_SDK_KEY": "otas_PocKPi56xDI_" + "a" * 43,
                          "OTAS_BASE_URL": url, "OTAS_SPOOL_DIR": str(tmp_path),
                          "OTAS_TIMEOUT_MS": "20000",
                          "OTAS_SHUTDOWN_TIMEOUT_MS": "700"}, code=HANG_APP)
        ended = time.time()
        assert res is not None, p.stderr[-2000:]
        # interpreter teardown included; the deadline is 0.7 s, the HTTP
        # timeout 20 s
        assert ended - res["t"] < 2.5, (ended - res["t"], p.stderr[-2000:])
        assert list(tmp_path.glob("*.sqlite")), "nothing spooled"
    finally:
        srv.close()
        for c in conns:
            c.close()
