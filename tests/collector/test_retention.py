"""--retain-days: old events go on a schedule, on both stores.

SQLite deletes rows older than the cutoff and gives the pages back
(incremental vacuum); PostgreSQL drops whole day partitions and deletes
old rows from the default partition.  --maintain-interval N makes the
schedule run every N seconds; the test polls with a deadline.
"""
import os
import time

from otas_testing.collector import make_event

DAY = 86400


def uuid7(ms):
    """A UUIDv7 whose timestamp is ms (what the SDK makes, at that time)."""
    r = os.urandom(10).hex()
    h = f"{ms:012x}"
    return f"{h[:8]}-{h[8:12]}-7{r[:3]}-a{r[3:6]}-{r[6:18]}"


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def wait_until(pred, timeout=15):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_retention_deletes_old_events(make_collector):
    # The first run is at start; the next 3 s later, after the inserts.
    c = make_collector(["--retain-days", "30", "--maintain-interval", "3"])
    now = time.time()
    old_t, mid_t = now - 40 * DAY, now - 35 * DAY
    if c.store == "pg":
        # the start-up run is over (partitions made, DDL lock released) ...
        today = int(now // DAY)
        wait_until(lambda: c.sql(f"SELECT to_regclass('events_p{today + 2}')") != ""
                   and c.sql("SELECT count(*) FROM pg_locks"
                             " WHERE locktype = 'advisory'") == "0")
        # ... then a partition of its own for one old day: retention drops
        # it whole
        mid_day = int(mid_t // DAY)
        c.sql(f"CREATE TABLE events_p{mid_day} PARTITION OF events"
              f" FOR VALUES FROM ({mid_day}) TO ({mid_day + 1})")
    old = [make_event(i, event_id=uuid7(int(old_t * 1000) + i),
                      metadata={"route": "r", "timestamp": rfc3339(old_t)})
           for i in range(30)]
    mid = [make_event(i, event_id=uuid7(int(mid_t * 1000) + i),
                      metadata={"route": "r", "timestamp": rfc3339(mid_t)})
           for i in range(20)]
    new = [make_event(i, event_id=uuid7(int(now * 1000) + i)) for i in range(10)]
    assert c.send_batch(old + mid + new).json()["accepted"] == 60

    wait_until(lambda: int(c.sql("SELECT count(*) FROM events")) == 10)
    assert sorted(e["event_id"] for e in c.events()) == sorted(e["event_id"] for e in new)
    if c.store == "pg":
        assert c.sql(f"SELECT to_regclass('events_p{mid_day}')") == ""
        wait_until(lambda: "dropped 1 day partitions" in c.log_text())
        assert "deleted 30 events" in c.log_text()
    else:
        wait_until(lambda: "deleted 50 events" in c.log_text())
        assert c.sql("PRAGMA auto_vacuum") == "2"  # incremental
        assert c.sql("PRAGMA freelist_count") == "0"  # pages given back
    # the rollups of the deleted events are gone too (rollup.h), the new
    # events' stay
    wait_until(lambda: int(c.sql("SELECT count(*) FROM rollups WHERE bucket < "
                                 f"{int((now - 31 * DAY) * 1e6)}")) == 0
               and int(c.sql("SELECT count(*) FROM rollup_people WHERE bucket < "
                             f"{int((now - 31 * DAY) * 1e6)}")) == 0)
    assert int(c.sql("SELECT sum(n) FROM rollups WHERE res = 60")) == 10
    # ingest goes on while the schedule runs
    assert c.send_batch([make_event(99, event_id=uuid7(int(time.time() * 1000)))]).status == 200


def test_no_retention_keeps_everything(make_collector):
    c = make_collector(["--maintain-interval", "1"])
    t = time.time() - 400 * DAY
    ev = [make_event(i, event_id=uuid7(int(t * 1000) + i),
                     metadata={"route": "r", "timestamp": rfc3339(t)}) for i in range(5)]
    assert c.send_batch(ev).json()["accepted"] == 5
    time.sleep(1.5)  # two schedule runs; nothing may go
    assert int(c.sql("SELECT count(*) FROM events")) == 5
    if c.store == "pg":
        # partitions are made ahead: yesterday .. today+2
        today = int(time.time() // DAY)
        for d in range(today - 1, today + 3):
            assert c.sql(f"SELECT to_regclass('events_p{d}')") == f"events_p{d}"
