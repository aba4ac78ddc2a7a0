"""SDK keys: revocation, expiry, isolation between projects."""
import time

from otas_testing.collector import AUTH_PATH, make_event


def test_key_format(collector):
    k = collector.key
    assert len(k) == 60 and k.startswith("otas_") and k[16] == "_"
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert set(k[5:]) <= alphabet


def test_key_never_stored_in_clear(collector):
    collector.stop()
    raw = collector.stored_bytes()
    for k in (collector.key, collector.read_key):
        assert k.encode() not in raw
        assert k[17:].encode() not in raw  # nor the secret part
    rows = collector.sql("SELECT prefix, hash FROM sdk_keys ORDER BY created_at, prefix")
    got = {r.split("|")[0]: r.split("|")[1] for r in rows.splitlines()}
    assert set(got) == {collector.key[5:16], collector.read_key[5:16]}
    assert all(len(h) == 64 for h in got.values())


def test_revoked_key(collector):
    k2 = collector.create_key()
    assert collector.send_event(make_event(), key=k2).status == 201
    collector.revoke_key(k2)
    r = collector.post_json(AUTH_PATH, b"", key=k2)
    assert (r.status, r.json()) == (403, {"error": "Invalid SDK Key"})
    r = collector.send_event(make_event(), key=k2)
    assert (r.status, r.json()["status_description"]) == (401, "invalid_sdk_key")
    r = collector.send_batch([make_event()], key=k2)
    assert (r.status, r.json()["status_description"]) == (401, "invalid_sdk_key")
    assert collector.get("/api/v1/events", key=k2).status == 401
    # the other key still works
    assert collector.send_event(make_event()).status == 201


def test_expired_key_days_zero(collector):
    k = collector.create_key(days=0)
    r = collector.post_json(AUTH_PATH, b"", key=k)
    assert (r.status, r.json()) == (403, {"error": "Invalid SDK Key"})
    r = collector.send_event(make_event(), key=k)
    assert (r.status, r.json()["status_description"]) == (401, "invalid_sdk_key")


def test_expired_key_rewritten_in_db(collector):
    k = collector.create_key(days=30)
    assert collector.post_json(AUTH_PATH, b"", key=k).status == 200
    collector.sql(f"UPDATE sdk_keys SET expires_at={int(time.time()) - 1}"
                  f" WHERE prefix='{k[5:16]}'")
    r = collector.post_json(AUTH_PATH, b"", key=k)
    assert (r.status, r.json()) == (403, {"error": "Invalid SDK Key"})
    r = collector.send_batch([make_event()], key=k)
    assert (r.status, r.json()["status_description"]) == (401, "invalid_sdk_key")


def test_projects_are_isolated(collector):
    other_id, other_key = collector.create_project("Other")
    other_read = collector.project_read_keys[other_id]
    assert collector.send_batch([make_event(i, event_id=f"a-{i}") for i in range(3)]).status == 200
    assert collector.send_batch([make_event(i, event_id=f"a-{i}") for i in range(2)],
                                key=other_key).json()["accepted"] == 2
    # same event ids in two projects are two events
    mine = collector.events()
    theirs = collector.events(key=other_read)
    assert len(mine) == 3 and len(theirs) == 2
    assert collector.get("/api/v1/events/a-2", key=other_read).status == 404
    assert collector.get("/api/v1/events/a-2").status == 200
    assert collector.get("/api/v1/project", key=other_read).json()["id"] == other_id
    r = collector.post_json(AUTH_PATH, b"", key=other_key)
    assert r.json()["response"]["project"]["name"] == "Other"
    # project_id in the body does not choose the project: the key does
    collector.send_event(make_event(9, project_id=collector.project_id), key=other_key)
    assert len(collector.events()) == 3 and len(collector.events(key=other_read)) == 3
