"""Delivery paths against real processes: per-event fallback against the
collector in platform mode, 429 + Retry-After (a fault proxy in front of the
real collector), gunicorn --preload with 2 workers, and planted secrets
searched for in the collector's stored bytes."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


from sdk_support import PYTHONPATH, events_for, wait_for
from otas_testing.collector import Collector
from sdk_support import free_port, run_app

HERE = Path(__file__).resolve().parent


def test_fallback_to_single_event_endpoint(tmp_path):
    platform = Collector(tmp_path / "platform")
    platform.start(extra_args=["--platform-compat"])
    try:
        token = platform.agent_session("fallback-bot")
        code = """
import json, django
django.setup()
from django.test import Client
import otas
c = Client()
for i in range(3):
    c.get(f"/api/items/{100+i}", HTTP_X_OTAS_AGENT_SESSION_TOKEN=__TOK__)
for i in range(2):
    c.get(f"/api/items/{200+i}")
print("RESULT " + json.dumps({"flushed": otas.flush(10), "stats": otas.stats()}))
""".replace("__TOK__", repr(token))
        p, res = run_app({"OTAS_SDK_KEY": platform.key, "OTAS_BASE_URL": platform.url,
                          "OTAS_SPOOL_DIR": str(tmp_path / "spool")}, code=code)
        assert res is not None, p.stderr
        assert res["flushed"] is True
        s = res["stats"]
        assert s["batch_endpoint"] == 0
        assert s["dropped"]["skipped_no_agent_token"] == 2
        assert s["sent"] == 3
        evs = wait_for(lambda: (lambda e: e if len(e) == 3 else None)(platform.events()),
                       what="3 events on the platform")
        assert sorted(e["path"] for e in evs) == [f"/api/items/{100+i}" for i in range(3)]
        assert all(e["agent_session_id"] for e in evs)
    finally:
        platform.stop()


class FaultProxy:
    """Forwards to the real collector, but answers the first batch POST with
    429 and Retry-After (a fault the collector cannot be made to give on
    demand for exactly one request)."""

    def __init__(self, upstream, retry_after=1):
        self.upstream = upstream
        self.retry_after = retry_after
        self.batch_times = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/batch/"):
                    proxy.batch_times.append(time.monotonic())
                    if len(proxy.batch_times) == 1:
                        self.send_response(429)
                        self.send_header("Retry-After", str(proxy.retry_after))
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                req = urllib.request.Request(proxy.upstream + self.path, data=body,
                                             method="POST")
                for k, v in self.headers.items():
                    if k.lower() not in ("host", "content-length", "connection"):
                        req.add_header(k, v)
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        status, data = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, data = e.code, e.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_429_retry_after_is_honoured(collector, tmp_path):
    proxy = FaultProxy(collector.url, retry_after=1)
    try:
        code = """
import json, django
django.setup()
from django.test import Client
import otas
Client().get("/api/items/4290")
print("RESULT " + json.dumps({"flushed": otas.flush(15), "stats": otas.stats()}))
"""
        p, res = run_app({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": proxy.url,
                          "OTAS_SPOOL_DIR": str(tmp_path)}, code=code)
        assert res is not None, p.stderr
        assert res["flushed"] is True
        assert res["stats"]["retried"] >= 1
        assert len(proxy.batch_times) >= 2
        assert proxy.batch_times[1] - proxy.batch_times[0] >= 0.9
        evs = events_for(collector, 1, path="/api/items/4290")
        assert len(evs) == 1
    finally:
        proxy.close()


def test_gunicorn_preload_two_workers_every_request_delivered(collector, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"DJANGO_SETTINGS_MODULE": "djproject.settings", "PYTHONPATH": PYTHONPATH,
                "OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                "OTAS_SPOOL_DIR": str(tmp_path / "spool")})
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "--preload", "-w", "2", "-b",
                             f"127.0.0.1:{port}", "djproject.wsgi:application"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = 700_000 + (os.getpid() % 1000) * 1000
    n = 300
    try:
        def up():
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                return True
            except OSError:
                return False
        wait_for(up, timeout=30, what="gunicorn up")

        def hit(i):
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/pid/{base + i}", timeout=10) as r:
                return json.loads(r.read())["pid"]

        with ThreadPoolExecutor(8) as ex:
            pids = set(ex.map(hit, range(n)))
        assert pids and os.getpid() not in pids
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert proc.returncode == 0, out
    evs = wait_for(
        lambda: (lambda e: e if len(e) >= n else None)(
            collector.events(route="api/pid/<int:n>", limit=100000)),
        timeout=20, what=f"{n} gunicorn events")
    paths = [e["path"] for e in evs if e["path"].startswith("/api/pid/")]
    mine = [p for p in paths if base <= int(p.rsplit("/", 1)[1]) < base + n]
    assert len(mine) == n
    assert len(set(mine)) == n  # exactly once each


def test_planted_secrets_absent_from_collector_bytes(collector, uid):
    from django.test import Client

    secrets = {
        "auth": "Bearer PLANTED-AUTH-7f3a9c",
        "cookie": "sessionid=PLANTED-COOKIE-51be2d",
        "sdk": "PLANTED-SDKKEY-90ac11",
    }
    token = collector.agent_session("secret-bot")
    r = Client().get(f"/api/items/{uid}", HTTP_AUTHORIZATION=secrets["auth"],
                     HTTP_COOKIE=secrets["cookie"], HTTP_X_OTAS_SDK_KEY=secrets["sdk"],
                     HTTP_X_OTAS_AGENT_SESSION_TOKEN=token)
    assert r.status_code == 200
    ev = events_for(collector, 1, path=f"/api/items/{uid}")[0]
    assert ev["agent_session_id"]
    blob = b""
    for f in Path(collector.db_path).parent.glob(Path(collector.db_path).name + "*"):
        blob += f.read_bytes()
    assert f"/api/items/{uid}".encode() in blob  # the event is really in there
    for value in list(secrets.values()) + [token, collector.key]:
        needle = value.split("PLANTED-")[-1] if "PLANTED" in value else value
        assert needle.encode() not in blob, value[:12]
