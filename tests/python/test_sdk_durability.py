"""Durable delivery: nothing lost, nothing stored twice, memory bounded, the
request path never waits -- with real processes (gunicorn, the collector)
killed and restarted underneath."""

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


from sdk_support import PYTHONPATH, wait_for
from otas_testing.collector import Collector
from sdk_support import free_port, run_app

HERE = Path(__file__).resolve().parent


def app_env(collector, spool, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"DJANGO_SETTINGS_MODULE": "djproject.settings", "PYTHONPATH": PYTHONPATH,
                "OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                "OTAS_SPOOL_DIR": str(spool), "OTAS_FLUSH_INTERVAL_MS": "100"})
    env.update(extra)
    return env


def count_paths(collector, lo, hi):
    evs = collector.events(route="api/pid/<int:n>", limit=100000)
    ns = [int(e["path"].rsplit("/", 1)[1]) for e in evs]
    mine = [n for n in ns if lo <= n < hi]
    return len(mine), len(set(mine))


def test_gunicorn_collector_killed_worker_replaced_exactly_once(tmp_path):
    """Load through gunicorn (2 workers, --preload); the collector is killed
    mid-run and restarted later; one worker gets SIGTERM and is replaced.
    At the end the collector holds exactly one event per request."""
    coll = Collector(tmp_path / "collector")
    coll.start()
    port = free_port()
    env = app_env(coll, tmp_path / "spool")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "--preload", "-w", "2", "--graceful-timeout",
                             "20", "-b", f"127.0.0.1:{port}", "djproject.wsgi:application"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base, n = 1_000_000, 1500
    sent = []
    try:
        wait_for(lambda: _up(port), timeout=30, what="gunicorn up")

        def hit(i):
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/pid/{base + i}", timeout=30) as r:
                return json.loads(r.read())["pid"]

        pids = set()
        with ThreadPoolExecutor(4) as ex:
            for i, pid in enumerate(ex.map(hit, range(0, 500))):
                pids.add(pid)
            coll.kill()                                   # back end gone
            pids |= set(ex.map(hit, range(500, 1000)))
            victim = sorted(pids)[0]
            os.kill(victim, signal.SIGTERM)               # one worker replaced
            pids |= set(ex.map(hit, range(1000, 1250)))
            coll.restart()                                # back end back
            pids |= set(ex.map(hit, range(1250, n)))
        sent = list(range(n))
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 0, out
    assert len(sent) == n
    try:
        done = lambda: (lambda c: c if c[0] >= n else None)(count_paths(coll, base, base + n))
        try:
            wait_for(done, timeout=20, what=f"{n} events")
        except AssertionError:
            # Batches that stopping workers spooled are delivered by the next
            # process of the app to run: run one until everything is there.
            with _app_process(env):
                wait_for(done, timeout=60, what=f"{n} events from a new process")
        total, distinct = count_paths(coll, base, base + n)
        assert total == n, (total, distinct)
        assert distinct == n
    finally:
        coll.stop()


def _up(port):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _app_process(env):
    """A fresh process of the app, alive (capturing nothing) until the
    block ends: its engine drains the shared spool in the background."""
    code = ("import django, sys, otas; django.setup(); "
            "from django.test import Client; Client().get('/health'); "
            "sys.stdin.read()")
    p = subprocess.Popen([sys.executable, "-c", code], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        yield p
    finally:
        p.stdin.close()
        p.wait(timeout=30)


def test_spool_survives_process_exit_and_is_delivered_by_next(tmp_path):
    coll = Collector(tmp_path / "collector")
    coll.start()
    spool = tmp_path / "spool"
    try:
        coll.kill()
        code = """
import json, django
django.setup()
from django.test import Client
import otas
c = Client()
for i in range(40):
    c.get(f"/api/pid/{5000+i}")
print("RESULT " + json.dumps({"stats": otas.stats()}))
"""
        env_over = {"OTAS_SDK_KEY": coll.key, "OTAS_BASE_URL": coll.url,
                    "OTAS_SPOOL_DIR": str(spool), "OTAS_SHUTDOWN_TIMEOUT_MS": "1000"}
        p, res = run_app(env_over, code=code)
        assert res is not None, p.stderr
        assert res["stats"]["captured"] == 40
        files = list(spool.glob("*.sqlite"))
        assert files, f"no spool file in {spool}: {list(spool.iterdir()) if spool.exists() else None}"
        n = sqlite3.connect(files[0]).execute("select sum(n_events) from batches").fetchone()[0]
        assert n == 40
        coll.restart()
        # The next process replays the spool in the background: it stays up
        # until its stats say the 40 left the spool (or 30 s pass), so a
        # loaded machine cannot end it before the replay is done.
        p2, res2 = run_app(env_over, code="""
import json, time, django, otas
django.setup()
from django.test import Client
Client().get("/health")
flushed = otas.flush(15)
deadline = time.monotonic() + 30
while otas.stats()["unspooled"] < 40 and time.monotonic() < deadline:
    time.sleep(0.05)
print("RESULT " + json.dumps({"flushed": flushed, "stats": otas.stats()}))
""")
        assert res2 is not None, p2.stderr
        assert res2["stats"]["unspooled"] == 40, res2
        total, distinct = wait_for(
            lambda: (lambda c: c if c[0] >= 40 else None)(count_paths(coll, 5000, 5040)),
            timeout=30, what="spooled events delivered")
        assert (total, distinct) == (40, 40)
        # ... and they came out of the spool, which is now empty.
        wait_for(lambda: sqlite3.connect(files[0]).execute(
            "select count(*) from batches").fetchone()[0] == 0,
            what="the spool to drain")
    finally:
        coll.stop()


class SlowServer:
    """Answers every request after `delay` seconds (a slow back end)."""

    def __init__(self, delay):
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(delay)
                body = json.dumps({"status": 1, "status_description": "authenticated",
                                   "response": {"project": {"id": "p", "name": "n",
                                                            "description": ""}},
                                   "accepted": 0, "duplicates": 0, "rejected": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


LATENCY_APP = """
import json, time, django
django.setup()
from django.test import Client
c = Client()
for i in range(50):
    c.get("/api/items/1")
lat = []
for i in range(400):
    t = time.perf_counter()
    c.get(f"/api/items/{i}")
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
print("RESULT " + json.dumps({"p50": lat[200], "p99": lat[396], "max": lat[-1]}))
"""


def test_slow_backend_does_not_slow_requests(collector, tmp_path):
    slow = SlowServer(delay=3.0)
    try:
        _, healthy = run_app({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                              "OTAS_SPOOL_DIR": str(tmp_path / "a"),
                              "OTAS_SHUTDOWN_TIMEOUT_MS": "200"}, code=LATENCY_APP)
        _, slowed = run_app({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": slow.url,
                             "OTAS_AUTH_URL": collector.url,
                             "OTAS_SPOOL_DIR": str(tmp_path / "b"),
                             "OTAS_FLUSH_INTERVAL_MS": "20",
                             "OTAS_SHUTDOWN_TIMEOUT_MS": "200"}, code=LATENCY_APP)
    finally:
        slow.close()
    # A synchronous design adds >= 3000 ms to every request; the margins
    # only absorb the noise of a shared 2-core machine.
    assert slowed["p50"] < healthy["p50"] + 5, (healthy, slowed)
    assert slowed["p99"] < healthy["p99"] + 50, (healthy, slowed)
    assert slowed["max"] < 1000, slowed


RSS_APP = """
import io, json, resource, sys, django
django.setup()
from django.core.handlers.wsgi import WSGIHandler
import otas
app = WSGIHandler()
def call(i):
    e = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/api/items/{i}", "QUERY_STRING": "",
         "SERVER_NAME": "t", "SERVER_PORT": "80", "HTTP_HOST": "t",
         "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr}
    r = app(e, lambda *a: None)
    for _ in r: pass
    r.close()
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
for i in range(2000):
    call(i)
before = rss()
for i in range(100000):
    call(i)
after = rss()
print("RESULT " + json.dumps({"before": before, "after": after, "stats": otas.stats()}))
"""


def test_rss_bounded_with_backend_down(tmp_path):
    budget = 4 * 1024 * 1024
    port = free_port()
    p, res = run_app({"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "D" * 43,
                      "OTAS_BASE_URL": f"http://127.0.0.1:{port}",
                      "OTAS_SPOOL_DIR": str(tmp_path / "spool"),
                      "OTAS_QUEUE_MAX_BYTES": str(budget),
                      "OTAS_SPOOL_MAX_BYTES": str(8 * 1024 * 1024),
                      "OTAS_SHUTDOWN_TIMEOUT_MS": "200"}, code=RSS_APP, timeout=600)
    assert res is not None, p.stderr[-3000:]
    growth = res["after"] - res["before"]
    assert res["stats"]["captured"] + res["stats"]["dropped"]["queue_full"] >= 100000
    assert growth < budget + 24 * 1024 * 1024, res
