"""OTAS_EXPORTER=otlp end to end: the Django test app under gunicorn sends
its events as OpenTelemetry log records to an OTLP/HTTP receiver on
127.0.0.1, and what arrived is decoded with the opentelemetry-proto
package.  The receiver is a small HTTP server of this test (the collector
does not speak OTLP): it records every request and can answer 503 or 400
first, to prove retry and drop."""

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from sdk_support import PYTHONPATH, free_port, run_app, wait_for

HERE = Path(__file__).resolve().parent
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
PLANTED = ("SECRET-AUTH-1", "SECRET-KEY-2", "SECRET-PW-3", "SECRET-Q-4",
           "SECRET-COOKIE-5", "cookie-secret-value")


class Receiver:
    """OTLP/HTTP logs receiver: answers `script` statuses first, then 200."""

    def __init__(self, script=()):
        self.requests = []
        self.script = list(script)
        self.lock = threading.Lock()
        rcv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with rcv.lock:
                    status = rcv.script.pop(0) if rcv.script else 200
                    rcv.requests.append({"path": self.path, "status": status,
                                         "headers": dict(self.headers.items()),
                                         "raw": raw})
                body = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def plain(req):
        raw = req["raw"]
        if req["headers"].get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        return raw

    def records(self, status=200):
        out = []
        for req in list(self.requests):
            if req["status"] != status:
                continue
            msg = logs_service_pb2.ExportLogsServiceRequest()
            msg.ParseFromString(self.plain(req))
            for rl in msg.resource_logs:
                for sl in rl.scope_logs:
                    for lr in sl.log_records:
                        out.append((rl.resource, sl.scope, lr))
        return out


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attrs(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def gunicorn_env(receiver, tmp_path, **over):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"DJANGO_SETTINGS_MODULE": "djproject.settings",
                "PYTHONPATH": PYTHONPATH,
                # no OTAS_SDK_KEY: the OTLP exporter needs none
                "OTAS_EXPORTER": "otlp",
                "OTAS_OTLP_ENDPOINT": receiver.url,  # base URL: /v1/logs added
                "OTAS_OTLP_HEADERS": "x-pipeline-token=tk%3Dpipe-77",
                "OTAS_SERVICE_NAME": "shop-api",
                "OTAS_SERVICE_VERSION": "2.1.0",
                "OTAS_REDACT_REQUEST_BODY": "$.card",
                "OTAS_FLUSH_INTERVAL_MS": "20",
                "OTAS_SPOOL_DIR": str(tmp_path / "spool")})
    env.update(over)
    return env


class Gunicorn:
    def __init__(self, env):
        self.port = free_port()
        exe = Path(sys.executable).with_name("gunicorn")
        self.proc = subprocess.Popen(
            [str(exe), "-w", "1", "-b", f"127.0.0.1:{self.port}",
             "djproject.wsgi:application"], cwd=HERE, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        def up():
            try:
                urllib.request.urlopen(self.url("/health"), timeout=1).read()
                return True
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(self.proc.stdout.read().decode())
                return False
        wait_for(up, timeout=30, what="gunicorn up")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, path, data=None, headers=None):
        req = urllib.request.Request(self.url(path), data=data,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out = self.proc.communicate(timeout=30)[0].decode(errors="replace")
        return self.proc.returncode, out


def traffic(app):
    assert app.request(
        "/api/items/7?password=SECRET-Q-4&x=1",
        headers={"Authorization": "Bearer SECRET-AUTH-1",
                 "X-Api-Key": "SECRET-KEY-2",
                 "Cookie": "sessionid=SECRET-COOKIE-5",
                 "User-Agent": "agent-bot/3.1",
                 "traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01"}) == 200
    assert app.request(
        "/api/items",
        data=json.dumps({"name": "pen", "password": "SECRET-PW-3",
                         "card": "4111"}).encode(),
        headers={"Content-Type": "application/json"}) == 201
    assert app.request("/api/status/404") == 404
    assert app.request("/api/boom") == 500


def by_path(records):
    return {attrs(lr.attributes)["url.path"]: (res, scope, lr)
            for res, scope, lr in records}


def test_events_arrive_as_otlp_log_records(tmp_path):
    rcv = Receiver()
    try:
        app = Gunicorn(gunicorn_env(rcv, tmp_path, OTAS_DEBUG="1"))
        try:
            traffic(app)
            wait_for(lambda: len(by_path(rcv.records())) >= 5, timeout=20,
                     what="4 log records (and /health)")
        finally:
            rc, out = app.stop()
        assert rc == 0, out
        recs = by_path(rcv.records())
        paths = [attrs(lr.attributes)["url.path"] for _, _, lr in rcv.records()]
        assert sorted(p for p in paths if p != "/health") == [
            "/api/boom", "/api/items", "/api/items/7", "/api/status/404"]
        req = rcv.requests[0]
        assert req["path"] == "/v1/logs"
        assert req["headers"]["Content-Type"] == "application/x-protobuf"
        assert req["headers"]["Content-Encoding"] == "gzip"
        assert req["headers"]["x-pipeline-token"] == "tk=pipe-77"
        assert "X-OTAS-SDK-KEY" not in req["headers"]
        # the header value is a secret: never in the server's output, not
        # even in OTAS_DEBUG's start-up line of options and event lines
        assert "OTAS_OTLP_HEADERS='***'" in out and "/api/items/7" in out
        assert "pipe-77" not in out

        res, scope, lr = recs["/api/items/7"]
        ra = attrs(res.attributes)
        assert ra["service.name"] == "shop-api"
        assert ra["service.version"] == "2.1.0"
        assert ra["telemetry.sdk.name"] == "otas"
        assert ra["telemetry.sdk.language"] == "python"
        assert ra["otas.sdk"].startswith("otas-python/")
        assert scope.name == "otas"
        a = attrs(lr.attributes)
        assert lr.body.string_value == "GET /api/items/<int:pk> 200"
        assert lr.severity_text == "INFO" and lr.severity_number == 9
        assert lr.event_name == "otas.http.request"
        assert lr.trace_id.hex() == TRACE_ID
        assert lr.span_id.hex() == SPAN_ID
        assert lr.flags == 1
        assert lr.observed_time_unix_nano >= lr.time_unix_nano > 1.6e18
        assert a["http.request.method"] == "GET"
        assert a["url.query"] == "password=[REDACTED]&x=1"
        assert a["http.route"] == "/api/items/<int:pk>"
        assert a["http.response.status_code"] == 200
        assert a["server.address"] == "127.0.0.1"
        assert a["server.port"] == app.port
        assert a["client.address"] == "127.0.0.1"
        assert a["user_agent.original"] == "agent-bot/3.1"
        assert a["http.request.header.authorization"] == ["[REDACTED]"]
        assert a["http.request.header.x-api-key"] == ["[REDACTED]"]
        assert a["http.request.header.cookie"] == ["[REDACTED]"]
        assert a["http.response.header.content-type"] == ["application/json"]
        body = json.loads(a["otas.response.body"])
        assert body == {"id": 7, "name": "item 7", "price": 9.5}
        assert a["http.response.body.size"] == len(a["otas.response.body"])
        assert a["otas.direction"] == "incoming"
        assert len(a["otas.event_id"]) == 36
        assert a["otas.latency_ms"] > 0
        assert "error.type" not in a

        _, _, lr = recs["/api/items"]
        a = attrs(lr.attributes)
        assert a["http.request.method"] == "POST"
        assert json.loads(a["otas.request.body"]) == {
            "name": "pen", "password": "[REDACTED]", "card": "[REDACTED]"}
        assert a["http.request.body.size"] == len(json.dumps(
            {"name": "pen", "password": "SECRET-PW-3", "card": "4111"}))
        assert lr.trace_id == b""  # no traceparent, no trace context

        _, _, lr = recs["/api/status/404"]
        assert lr.severity_text == "WARN" and lr.severity_number == 13
        _, _, lr = recs["/api/boom"]
        a = attrs(lr.attributes)
        assert lr.severity_text == "ERROR" and lr.severity_number == 17
        assert a["error.type"] == "ValueError"
        assert a["exception.message"] == "the view failed on purpose"
        assert a["exception.type"] == "ValueError"

        # redaction came first: no planted secret in any byte sent
        for r in rcv.requests:
            plain = Receiver.plain(r)
            for s in PLANTED:
                assert s.encode() not in plain, s
    finally:
        rcv.close()


def test_503_is_retried_and_400_is_dropped(tmp_path):
    code = """
import json, django
django.setup()
from django.test import Client
import otas
c = Client()
for i in range(3):
    c.get(f"/api/items/{i}")
out = {"flushed": otas.flush(timeout=15), "stats": otas.stats()}
for i in range(2):
    c.get(f"/api/items/{100 + i}")
out["flushed2"] = otas.flush(timeout=15)
out["stats2"] = otas.stats()
print("RESULT " + json.dumps(out))
"""
    # 503, 503, then accepted; later one 400 (never retried).
    rcv = Receiver(script=[503, 503, 200, 400])
    try:
        env = gunicorn_env(rcv, tmp_path)
        env["OTAS_OTLP_ENDPOINT"] = rcv.url + "/v1/logs"
        env["OTAS_BATCH_MAX_EVENTS"] = "100"
        env["OTAS_FLUSH_INTERVAL_MS"] = "60000"  # only flush() sends
        p, res = run_app({k: v for k, v in env.items() if k.startswith("OTAS_")},
                         code=code)
        assert res, p.stdout + p.stderr
        statuses = [r["status"] for r in rcv.requests]
        assert statuses[:3] == [503, 503, 200]
        assert statuses[3:] == [400]
        # the retried request carried the same records
        ids = [sorted(attrs(lr.attributes)["otas.event_id"]
                      for _, _, lr in _decode(r)) for r in rcv.requests[:3]]
        assert ids[0] == ids[1] == ids[2] and len(ids[0]) == 3
        st = res["stats"]
        assert st["sent"] == 3 and st["retried"] >= 2
        st2 = res["stats2"]
        assert st2["sent"] == 3 and st2["dropped"]["rejected"] == 2
        assert "OTLP endpoint" in p.stderr and "refused 2 log" in p.stderr
    finally:
        rcv.close()


def _decode(req):
    msg = logs_service_pb2.ExportLogsServiceRequest()
    msg.ParseFromString(Receiver.plain(req))
    return [(rl.resource, sl.scope, lr) for rl in msg.resource_logs
            for sl in rl.scope_logs for lr in sl.log_records]


@pytest.mark.parametrize("name,value,want", [
    ("OTAS_EXPORTER", "otel", 'OTAS_EXPORTER="otel" is not known'),
    ("OTAS_OTLP_HEADERS", "x-token", "OTAS_OTLP_HEADERS is invalid: item 1"),
    ("OTAS_OTLP_COMPRESSION", "br", 'OTAS_OTLP_COMPRESSION="br" is not known'),
])
def test_bad_otlp_options_fail_at_startup_naming_the_option(name, value, want):
    code = """
import json, django
django.setup()
from django.test import Client
try:
    Client().get("/api/items/1")
    out = {"ok": True}
except Exception as exc:
    out = {"exc": type(exc).__name__, "msg": str(exc)}
print("RESULT " + json.dumps(out))
"""
    env = {"OTAS_EXPORTER": "otlp", "OTAS_OTLP_ENDPOINT": "http://127.0.0.1:9",
           "OTAS_SPOOL_MAX_BYTES": "0", name: value}
    p, res = run_app(env, code=code)
    assert res and res.get("exc") == "OtasConfigurationError", p.stdout + p.stderr
    assert want in res["msg"]
    if name == "OTAS_OTLP_HEADERS":
        assert "x-token" not in res["msg"]


def test_otas_check_command_in_otlp_mode():
    code = """
import io, json, django
django.setup()
from django.core.management import call_command
out = io.StringIO()
call_command("otas_check", stdout=out)
print("RESULT " + json.dumps({"out": out.getvalue()}))
"""
    p, res = run_app({"OTAS_EXPORTER": "otlp",
                      "OTAS_OTLP_ENDPOINT": "http://otel.internal:4318"}, code=code)
    assert res, p.stdout + p.stderr
    assert "OTAS_EXPORTER=otlp" in res["out"]
    assert "http://otel.internal:4318" in res["out"]
