"""Keys by role: ingest keys authenticate and log, read keys query and sign
into the dashboard; keys made before roles existed do both until rotated."""
import json
import os
import subprocess
import time

from otas_testing.collector import AUTH_PATH, make_event


def test_init_prints_ingest_then_read_key(collector):
    assert collector.key != collector.read_key
    roles = collector.sql("SELECT prefix, role FROM sdk_keys")
    got = dict(r.split("|") for r in roles.splitlines())
    assert got == {collector.key[5:16]: "1", collector.read_key[5:16]: "2"}


def test_ingest_key_logs_but_cannot_read(collector):
    r = collector.post_json(AUTH_PATH, b"", key=collector.key)
    assert r.status == 200
    k = r.json()["response"]["key"]
    assert k["role"] == "ingest"
    assert abs(k["expires_at_unix"] - (time.time() + 300 * 86400)) < 120
    assert collector.send_batch([make_event(1, event_id="r-1")]).status == 200
    assert collector.send_event(make_event(2, event_id="r-2")).status == 201
    for path in ("/api/v1/events", "/api/v1/events/r-1", "/api/v1/project",
                 "/api/v1/stats/endpoints", "/api/v1/users"):
        r = collector.get(path, key=collector.key)
        assert (r.status, r.json()) == (403, {"error": "key_role_not_read"}), path


def test_read_key_reads_but_cannot_log(collector):
    r = collector.post_json(AUTH_PATH, b"", key=collector.read_key)
    assert (r.status, r.json()) == (403, {"error": "Not an ingest key"})
    r = collector.send_batch([make_event(1)], key=collector.read_key)
    assert (r.status, r.json()["status_description"]) == (403, "key_role_not_ingest")
    r = collector.send_event(make_event(1), key=collector.read_key)
    assert r.status == 403
    r = collector.post_json("/api/v1/entities/batch/",
                            {"entities": [{"kind": "user", "user_id": "u"}]},
                            key=collector.read_key)
    assert r.status == 403
    assert collector.get("/api/v1/events").status == 200
    assert collector.get("/api/v1/project").json()["key"]["role"] == "read"


def test_old_keys_do_both_until_rotated(collector):
    # a key from before roles: the migration gave it role 3 (both)
    old = collector.create_key(role="ingest")
    collector.sql(f"UPDATE sdk_keys SET role=3 WHERE prefix='{old[5:16]}'")
    assert collector.send_batch([make_event(1, event_id="o-1")], key=old).status == 200
    assert [e["event_id"] for e in collector.events(key=old)] == ["o-1"]
    assert collector.get("/api/v1/project", key=old).json()["key"]["role"] == "ingest+read"
    # rotate: a new ingest key; the old one stops working at once
    p = collector.cli("key", "rotate", "--db", str(collector.db_path),
                      "--prefix", old[5:16], "--quiet")
    new = p.stdout.strip()
    assert len(new) == 60 and new != old
    assert collector.send_batch([make_event(2, event_id="o-2")], key=old).status == 401
    assert collector.send_batch([make_event(2, event_id="o-2")], key=new).status == 200
    assert collector.get("/api/v1/events", key=new).status == 403
    # rotating a read key keeps its role
    p = collector.cli("key", "rotate", "--db", str(collector.db_path),
                      "--prefix", collector.read_key[5:16], "--quiet")
    r2 = p.stdout.strip()
    assert collector.get("/api/v1/events", key=r2).status == 200
    assert collector.get("/api/v1/events", key=collector.read_key).status == 401
    # unknown prefix
    p = collector.cli("key", "rotate", "--db", str(collector.db_path),
                      "--prefix", "nope", check=False)
    assert p.returncode == 1


def test_key_create_role_read(collector):
    k = collector.create_key(role="read")
    assert collector.get("/api/v1/events", key=k).status == 200
    assert collector.send_batch([make_event(1)], key=k).status == 403
    p = collector.cli("key", "create", "--db", str(collector.db_path), "--project",
                      collector.project_id, "--role", "admin", check=False)
    assert p.returncode == 2 and "--role" in p.stderr


def test_collector_stats_endpoint(collector):
    # The first maintenance run starts with the collector but on its own
    # thread: poll for it (with a deadline) instead of racing it.
    deadline = time.monotonic() + 10
    while True:
        s = collector.get("/api/v1/collector/stats").json()
        if s["maintenance"]["runs"] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert s["store"] == {"sqlite": "sqlite", "pg": "postgresql"}[collector.store]
    assert s["maintenance"]["runs"] >= 1


def test_init_twice_is_refused(collector):
    p = collector.cli("init", "--db", str(collector.db_path), "--project", "again",
                      check=False)
    assert p.returncode == 2 and "already initialised" in p.stderr


def test_db_from_environment(collector):
    p = subprocess.run([collector.binary, "project", "list", "--json"],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "OTAS_COLLECTOR_DB": str(collector.db_path)})
    assert p.returncode == 0, p.stderr
    assert [x["name"] for x in json.loads(p.stdout)] == ["Test project"]
