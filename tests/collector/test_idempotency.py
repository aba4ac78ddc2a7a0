"""A retried batch is stored once; per-event dedupe by event_id."""
from datetime import datetime, timedelta, timezone

from otas_testing.collector import make_event


def test_replayed_batch(collector):
    batch = [make_event(i, event_id=f"018f0000-0000-7000-8000-{i:012d}") for i in range(10)]
    r1 = collector.send_batch(batch)
    assert (r1.json()["accepted"], r1.json()["duplicates"]) == (10, 0)
    r2 = collector.send_batch(batch, gzip=True)
    assert (r2.json()["accepted"], r2.json()["duplicates"]) == (0, 10)
    # partly new
    r3 = collector.send_batch(batch[5:] + [make_event(99, event_id="new-one")])
    assert (r3.json()["accepted"], r3.json()["duplicates"]) == (1, 5)
    assert len(collector.events(limit=1000)) == 11


def test_duplicate_inside_one_batch(collector):
    r = collector.send_batch([make_event(1, event_id="same"), make_event(2, event_id="same")])
    assert (r.json()["accepted"], r.json()["duplicates"]) == (1, 1)
    (ev,) = collector.events()
    assert ev["path"] == "/api/items/1"  # the first one wins


def test_single_endpoint_dedupes(collector):
    r1 = collector.send_event(make_event(1, event_id="e-1"))
    r2 = collector.send_event(make_event(1, event_id="e-1"))
    assert r1.status == r2.status == 201
    assert r1.json()["response"] == {"event_id": "e-1", "duplicate": False}
    assert r2.json()["response"] == {"event_id": "e-1", "duplicate": True}
    # metadata.event_id is honoured too
    ev = make_event(2)
    ev["metadata"]["event_id"] = "m-2"
    collector.send_event(ev)
    collector.send_event(ev)
    ids = sorted(e["event_id"] for e in collector.events())
    assert ids == ["e-1", "m-2"]


def test_generated_ids_are_distinct(collector):
    r = collector.send_batch([make_event(i) for i in range(5)])
    assert r.json()["accepted"] == 5
    ids = {e["event_id"] for e in collector.events()}
    assert len(ids) == 5 and all(i[14] == "7" for i in ids)


def test_duplicates_in_multi_row_inserts(collector):
    """SQLite inserts 16 rows a statement: every mix of new, stored and
    repeated events in those chunks still counts, stores and rolls up
    each event once (the first of two in a batch wins)."""
    c = collector
    first = [make_event(i, event_id=f"m-{i:03d}", path=f"/api/m/{i}") for i in range(40)]
    r = c.send_batch(first)
    assert (r.json()["accepted"], r.json()["duplicates"]) == (40, 0)
    # stored, new and a repeat of a new one, mixed inside each 16-row chunk
    mixed = []
    for i in range(40, 80):
        mixed.append(make_event(i, event_id=f"m-{i:03d}", path=f"/api/m/{i}"))
        if i % 2 == 0:
            mixed.append(make_event(1000 + i, event_id=f"m-{i - 40:03d}", path="/api/x"))
        if i % 5 == 0:
            mixed.append(make_event(2000 + i, event_id=f"m-{i:03d}", path="/api/y"))
    r = c.send_batch(mixed)
    assert (r.json()["accepted"], r.json()["duplicates"]) == (40, 20 + 8)
    # a batch of only stored ones, 16 rows a statement
    r = c.send_batch(first[:32])
    assert (r.json()["accepted"], r.json()["duplicates"]) == (0, 32)
    evs = c.events(limit=1000)
    assert len(evs) == 80
    assert sorted(e["path"] for e in evs) == sorted(f"/api/m/{i}" for i in range(80))
    assert c.sql("SELECT count(*) FROM events") == "80"
    now = datetime.now(timezone.utc)
    span = {"from": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "to": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    s = c.get("/api/v1/stats/series", plan="rollup", **span).json()
    assert s["totals"]["requests"] == 80, s
