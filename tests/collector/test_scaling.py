"""Several collectors on one PostgreSQL are one service.

Two real otas-collector processes serve one database behind a real haproxy
(Debian's package; config written here, health checks on /healthz).  A load
generator sends batches through haproxy and retries every batch that did
not come back 200, as the SDK does; one collector is SIGKILLed mid-load.
Every event must be stored exactly once.
"""
import http.client
import json
import shutil
import socket
import subprocess
import threading
import time

import pytest

from otas_testing.collector import BATCH_PATH, KEY_HEADER, Collector, make_event

pytestmark = pytest.mark.pg_only


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def second_collector(first, tmp_path, collector_bin, name="b"):
    """Another collector on the first one's database (no init)."""
    c = Collector(tmp_path / name, binary=collector_bin, db_url=first.db_url, pg=first.pg)
    c.db_path, c.key, c.read_key, c.project_id = (first.db_path, first.key,
                                                  first.read_key, first.project_id)
    return c.start(extra_args=["--quiet"])


def test_two_collectors_one_database(make_collector, tmp_path, collector_bin):
    a = make_collector()
    b = second_collector(a, tmp_path, collector_bin)
    try:
        ev = [make_event(i, event_id=f"two-{i}") for i in range(50)]
        assert a.send_batch(ev).json()["accepted"] == 50
        # the same batch retried through the other collector: stored once
        r = b.send_batch(ev).json()
        assert (r["accepted"], r["duplicates"]) == (0, 50)
        # either answers queries, with the other's events
        assert len(b.events()) == 50 and len(a.events()) == 50
        assert a.sql("SELECT count(*) FROM events") == "50"
    finally:
        b.stop()


def _haproxy_cfg(port, backends):
    servers = "\n".join(
        f"    server c{i} 127.0.0.1:{p} check inter 100ms fall 1 rise 2"
        for i, p in enumerate(backends))
    return f"""global
    maxconn 512
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /healthz
{servers}
"""


def test_haproxy_kill_one_collector_mid_load(make_collector, tmp_path, collector_bin):
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    a = make_collector()
    b = second_collector(a, tmp_path, collector_bin)
    port = free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(_haproxy_cfg(port, [a.port, b.port]))
    hp = subprocess.Popen([haproxy, "-db", "-f", str(cfg)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:  # haproxy up and both backends healthy
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "haproxy did not come up"
            time.sleep(0.05)

        n_threads, n_batches, size = 4, 40, 100
        sent = threading.Event()
        progress = [0]
        retries = [0]
        lock = threading.Lock()
        errors = []

        def client(t):
            try:
                for bi in range(n_batches):
                    body = json.dumps({"events": [
                        make_event(j, event_id=f"ha-{t}-{bi}-{j}") for j in range(size)]})
                    give_up = time.monotonic() + 30
                    while True:  # the SDK's retry: until a 200 or give up
                        try:
                            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                            conn.request("POST", BATCH_PATH, body=body,
                                         headers={KEY_HEADER: a.key,
                                                  "Content-Type": "application/json"})
                            r = conn.getresponse()
                            r.read()
                            conn.close()
                            if r.status == 200:
                                break
                        except (OSError, http.client.HTTPException):
                            pass
                        with lock:
                            retries[0] += 1
                        assert time.monotonic() < give_up, "batch never accepted"
                        time.sleep(0.05)
                    with lock:
                        progress[0] += 1
                        if progress[0] >= n_threads * n_batches // 3:
                            sent.set()
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(e)

        threads = [threading.Thread(target=client, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        assert sent.wait(60), "load did not start"
        a.kill()  # SIGKILL mid-load
        killed_at = progress[0]
        for t in threads:
            t.join(120)
        assert errors == []
        assert killed_at < n_threads * n_batches  # the kill was mid-load
        total = n_threads * n_batches * size
        got = b.sql("SELECT count(*), count(DISTINCT event_id) FROM events")
        assert got == f"{total}|{total}", (got, retries[0])
        # and the survivor answers queries for all of it
        assert int(b.sql("SELECT count(*) FROM events WHERE event_id LIKE 'ha-%'")) == total
    finally:
        hp.terminate()
        hp.wait(10)
        b.stop()


def test_database_password_never_logged(make_collector, tmp_path, collector_bin):
    """A libpq URL may carry a password: it never reaches a log line or an
    error message (the test server trusts local users, so any password
    is accepted and ignored)."""
    a = make_collector()
    secret = "pw-s3cret-4471"
    url = a.db_url.replace("postgresql://otas@", f"postgresql://otas:{secret}@")
    c = Collector(tmp_path / "pw", binary=collector_bin, db_url=url, pg=a.pg)
    c.db_path, c.key, c.read_key = url, a.key, a.read_key
    c.start(extra_args=[])  # no --quiet: request log and start-up lines on
    try:
        assert c.send_batch([make_event(1, event_id="pw-1")]).status == 200
    finally:
        c.stop()
    assert secret not in c.log_text()
    assert "a PostgreSQL database" in c.log_text()
    bad = url.rsplit("/", 1)[0] + "/no_such_db?" + url.split("?", 1)[1]
    p = c.cli("project", "list", "--db", bad, check=False)
    assert p.returncode == 2 and secret not in p.stderr + p.stdout
    assert "cannot connect to PostgreSQL" in p.stderr
