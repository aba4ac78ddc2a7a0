"""The back end down from the SDK's start-up: once authentication has
failed, events go to the spool instead of waiting in memory for it (the
queue stays near empty), and when the back end comes up they all arrive,
each once.  Real processes: a Django app and an otas-collector."""
import sqlite3

from otas_testing.collector import Collector
from sdk_support import run_app, wait_for


def count_paths(coll, lo, hi):
    evs = coll.events(route="api/pid/<int:n>", limit=100000)
    ns = [int(e["path"].rsplit("/", 1)[1]) for e in evs]
    mine = [n for n in ns if lo <= n < hi]
    return len(mine), len(set(mine))


DOWN = """
import json, time, django, otas
django.setup()
from django.test import Client
c = Client()
peak = 0
for i in range({n}):
    c.get(f"/api/pid/{{7000 + i}}")
    if i % 50 == 0:
        peak = max(peak, otas.stats()["queue_bytes"])
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    s = otas.stats()
    peak = max(peak, s["queue_bytes"])
    if s["spooled"] >= {n}:
        break
    time.sleep(0.05)
print("RESULT " + json.dumps({{"stats": otas.stats(), "peak": peak}}))
"""


def test_backend_down_from_startup_events_go_to_the_spool(tmp_path):
    n = 2000
    coll = Collector(tmp_path / "collector")
    coll.start()
    spool = tmp_path / "spool"
    try:
        coll.kill()  # down from the SDK's start-up on
        env = {"OTAS_SDK_KEY": coll.key, "OTAS_BASE_URL": coll.url,
               "OTAS_SPOOL_DIR": str(spool), "OTAS_SHUTDOWN_TIMEOUT_MS": "500"}
        p, res = run_app(env, code=DOWN.format(n=n), timeout=120)
        assert res is not None, p.stderr
        st = res["stats"]
        # spooled while the process ran, not at shutdown; memory stayed small
        assert st["captured"] == n and st["spooled"] == n, st
        assert st["queue_bytes"] == 0 and st["queue_events"] == 0, st
        assert res["peak"] < 1024 * 1024, res  # default queue budget is far larger
        assert st["authenticated"] is False or st["authenticated"] == 0
        files = list(spool.glob("*.sqlite"))
        assert len(files) == 1
        held = sqlite3.connect(files[0]).execute(
            "select sum(n_events) from batches").fetchone()[0]
        assert held == n
        # the back end comes up: everything arrives, once
        coll.restart()
        p2, res2 = run_app(env, code="""
import json, time, django, otas
django.setup()
from django.test import Client
Client().get("/health")
otas.flush(15)
deadline = time.monotonic() + 60
while otas.stats()["unspooled"] < %d and time.monotonic() < deadline:
    time.sleep(0.05)
print("RESULT " + json.dumps({"stats": otas.stats()}))
""" % n, timeout=120)
        assert res2 is not None, p2.stderr
        assert res2["stats"]["unspooled"] == n, res2
        assert wait_for(lambda: count_paths(coll, 7000, 7000 + n)[0] >= n,
                        timeout=60, what="spooled events delivered")
        assert count_paths(coll, 7000, 7000 + n) == (n, n)
        wait_for(lambda: sqlite3.connect(files[0]).execute(
            "select count(*) from batches").fetchone()[0] == 0, what="the spool to drain")
        assert count_paths(coll, 7000, 7000 + n) == (n, n)
    finally:
        coll.stop()
