"""Durable acknowledgement: SIGTERM mid-batch, concurrency, restarts."""
import http.client
import json
import sqlite3
import threading
import time

import pytest

from otas_testing.collector import BATCH_PATH, make_event


def count_rows(c):
    if c.store == "sqlite":
        assert c.sql("PRAGMA integrity_check") == "ok"
    return int(c.sql("SELECT count(*) FROM events"))


def test_sigterm_during_batch(make_collector):
    """Whatever the interleaving, an acknowledged batch is stored, and a
    batch is stored whole or not at all."""
    c = make_collector(["--test-commit-delay-ms", "300"])
    stored_before = 0
    for i, pause in enumerate([0.0, 0.05, 0.15, 0.4, 0.0, 0.2]):
        batch = [make_event(j, event_id=f"b{i}-{j}") for j in range(50)]
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=30)
        conn.request("POST", BATCH_PATH, body=json.dumps({"events": batch}),
                     headers={"X-OTAS-SDK-KEY": c.key})
        time.sleep(pause)  # vary where the signal lands; the check holds anyway
        c.proc.send_signal(15)
        try:
            r = conn.getresponse()
            acked = r.status == 200 and json.loads(r.read())["accepted"] == 50
        except (ConnectionError, http.client.HTTPException):
            acked = False
        assert c.proc.wait(20) == 0
        c.returncode = 0
        c._reap()
        n = count_rows(c)
        assert n - stored_before in ((50,) if acked else (0, 50)), (i, pause, acked, n)
        stored_before = n
        c.start(extra_args=c.extra_args)


def test_acknowledged_events_survive_kill(make_collector):
    c = make_collector()
    for i in range(5):
        assert c.send_batch([make_event(j, event_id=f"{i}-{j}") for j in range(20)]).status == 200
    c.kill()  # no clean shutdown: the WAL must hold every committed batch
    assert count_rows(c) == 100
    c.start(extra_args=c.extra_args)
    assert len(c.events(limit=1000)) == 100


def test_concurrent_clients_exact_count(make_collector):
    c = make_collector()
    errors = []

    def client(n):
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=60)
        try:
            for b in range(25):
                batch = [make_event(j, event_id=f"c{n}-{b}-{j}") for j in range(100)]
                conn.request("POST", BATCH_PATH, body=json.dumps({"events": batch}),
                             headers={"X-OTAS-SDK-KEY": c.key})
                r = conn.getresponse()
                body = json.loads(r.read())
                if r.status != 200 or body["accepted"] != 100:
                    errors.append((r.status, body))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stats = c.get("/api/v1/stats/endpoints").json()["endpoints"]
    assert sum(e["count"] for e in stats) == 8 * 25 * 100
    assert c.stop() == 0
    assert count_rows(c) == 20000


@pytest.mark.sqlite_only
def test_clean_shutdown_leaves_no_wal(make_collector):
    c = make_collector()
    c.send_batch([make_event(1)])
    assert c.stop() == 0
    wal = c.db_path.with_name(c.db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.sqlite_only
def test_schema_version_and_migration(make_collector, tmp_path):
    c = make_collector()
    c.stop()
    db = sqlite3.connect(c.db_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 15
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    p = c.cli("serve", "--db", str(c.db_path), "--listen", "127.0.0.1:0", check=False)
    assert p.returncode == 2 and "newer" in p.stderr


def test_failed_commit_is_never_acknowledged(make_collector):
    c = make_collector(["--test-fail-commits", "1"])
    r = c.send_batch([make_event(1, event_id="f-1")])
    assert (r.status, r.json()) == (500, {"status": 0, "status_description": "event_capture_failed"})
    r = c.send_event(make_event(2, event_id="f-2"))
    assert (r.status, r.json()["status_description"]) == (500, "event_capture_failed")
    assert c.events() == []
    assert "commit failed" in c.log_text()
    # the same events, once the store works, are stored (no half state)
    c.restart(extra_args=["--quiet"])
    assert c.send_batch([make_event(1, event_id="f-1")]).json()["accepted"] == 1
    assert c.send_event(make_event(2, event_id="f-2")).json()["response"]["duplicate"] is False


def test_discard_commits_answers_as_stored_and_stores_nothing(make_collector):
    """The benchmarks' collector without its store (--test-discard-commits):
    the HTTP side does all its work (key, decode, checks, answer) and a
    batch is answered as if stored, every valid event new; the database
    stays empty, and a rejected event is still rejected."""
    c = make_collector(["--test-discard-commits", "1"])
    bad = make_event(3, event_id="d-3")
    del bad["path"]
    r = c.send_batch([make_event(1, event_id="d-1"), make_event(2, event_id="d-2"), bad])
    body = r.json()
    assert (r.status, body["accepted"], body["duplicates"]) == (200, 2, 0)
    assert [x["index"] for x in body["rejected"]] == [2]
    # sent again: the store is not consulted, so nothing is a duplicate
    assert c.send_batch([make_event(1, event_id="d-1")]).json()["accepted"] == 1
    assert c.send_batch([make_event(1)], key="otas_wrong").status in (401, 403)
    assert count_rows(c) == 0
    assert "nothing is written" in c.log_text()
