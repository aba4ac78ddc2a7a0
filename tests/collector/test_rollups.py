"""Rollups (collector/src/rollup.h): the dashboard's series and routes read
from per-minute and per-hour aggregates kept at ingest; their answers must
be the raw scan's (counts exactly, percentiles within one histogram bin),
across minute and hour boundaries, with late and out-of-order timestamps,
duplicate event ids, filters the rollups hold, and after a migration that
fills them from an existing events table."""
import base64
import json
import math
import random
import sqlite3
from datetime import datetime, timedelta, timezone

from otas_testing.collector import make_event
from test_compat import sign

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
RATIO = 2 ** 0.25  # rollup.h: bins per doubling 4


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make(i, t, *, status=200, latency=10.0, method="GET", route="api/items/<int:pk>",
         path=None, error="", user=None, company=None, token=None):
    md = {"timestamp": iso(t), "event_id": f"r-{i:05d}"}
    if user is not None:
        md["user_id"] = user
    if company is not None:
        md["company_id"] = company
    if route is not None:
        md["route"] = route
    extra = {"agent_session_token": token} if token else {}
    return make_event(i, event_id=f"r-{i:05d}", status_code=status, latency_ms=latency,
                      method=method, path=path or f"/api/items/{i % 7}", error=error,
                      metadata=md, **extra)


def corpus():
    """~1,200 events over 3 h 10 min, on and next to minute and hour
    boundaries, with unmatched scanner paths, 4xx/5xx, exceptions."""
    rnd = random.Random(20)
    evs = []
    for i in range(1200):
        if i % 10 == 0:   # right on a minute boundary, or a microsecond before
            t = T0 + timedelta(minutes=rnd.randrange(190)) - timedelta(
                microseconds=i % 20 == 0)
        else:
            t = T0 + timedelta(seconds=rnd.uniform(0, 190 * 60))
        lat = round(rnd.lognormvariate(3, 1.2), 3)
        status = rnd.choice([200] * 12 + [201, 302, 401, 404, 500, 503])
        method = "POST" if i % 4 == 0 else "GET"
        route, path = f"api/r{i % 5}/<int:pk>", None
        if i % 25 == 3:   # no route matched: route is the path
            route, path = None, f"/scan/{i % 9}.php"
            status = 404
        evs.append(make(i, t, status=status, latency=lat, method=method, route=route,
                        path=path, error="ValueError: x" if i % 37 == 0 else ""))
    return evs


def ingest(c, evs):
    """Batches out of time order, each batch once, then ~10 % again
    (duplicates: same event ids)."""
    rnd = random.Random(5)
    evs = evs[:]
    rnd.shuffle(evs)
    for k in range(0, len(evs), 100):
        r = c.send_batch(evs[k:k + 100])
        assert r.status == 200, r.body
    r = c.send_batch(evs[::10])
    assert r.status == 200, r.body


def close(a, b):
    """A histogram percentile a against the exact b: within one bin."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= b * (RATIO - 1) + 0.0100001


def strip_pcts(o):
    o = dict(o)
    pc = {k: o.pop(k) for k in ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms")
          if k in o}
    return o, pc


def compare_series(c, **args):
    ra = c.get("/api/v1/stats/series", plan="rollup", **args)
    assert ra.status == 200, ra
    a = ra.json()
    b = c.get("/api/v1/stats/series", plan="raw", **args).json()
    assert a["plan"] == "rollup" and b["plan"] == "raw"
    assert len(a["series"]) == len(b["series"])
    for x, y in zip(a["series"] + [a["totals"]], b["series"] + [b["totals"]]):
        x, px = strip_pcts(x)
        y, py = strip_pcts(y)
        assert x == y, args
        for k in px:
            assert close(px[k], py[k]), (args, k, px[k], py[k])
    return a, b


def compare_routes(c, **args):
    a = c.get("/api/v1/stats/routes", plan="rollup", **args).json()
    b = c.get("/api/v1/stats/routes", plan="raw", **args).json()
    assert a["plan"] == "rollup" and b["plan"] == "raw"
    ka = sorted((e["method"], e["route"]) for e in a["endpoints"])
    kb = sorted((e["method"], e["route"]) for e in b["endpoints"])
    assert ka == kb, args
    by = {(e["method"], e["route"]): e for e in b["endpoints"]}
    for e in a["endpoints"]:
        x, px = strip_pcts(e)
        y, py = strip_pcts(by[(e["method"], e["route"])])
        assert x == y, args
        for k in px:
            assert close(px[k], py[k]), (args, k, px[k], py[k])
    return a, b


RANGES = [
    # unaligned at both ends: raw edges, minutes, hours, minutes, raw
    (T0 + timedelta(seconds=30.5), T0 + timedelta(hours=2, minutes=47, seconds=10)),
    # the whole corpus, aligned
    (T0 - timedelta(hours=1), T0 + timedelta(hours=4)),
    # inside one minute (raw only) and less than an hour (minutes only)
    (T0 + timedelta(minutes=61, seconds=5), T0 + timedelta(minutes=61, seconds=50)),
    (T0 + timedelta(minutes=12, seconds=59), T0 + timedelta(minutes=58, seconds=1)),
]


def test_rollups_equal_raw(collector):
    c = collector
    evs = corpus()
    ingest(c, evs)
    for lo, hi in RANGES:
        for bucket in ("minute", "hour", "day"):
            a, _ = compare_series(c, **{"from": iso(lo), "to": iso(hi)}, bucket=bucket)
        # against a computation of our own (every event once, duplicates not)
        want = [e for e in evs
                if lo <= datetime.strptime(e["metadata"]["timestamp"],
                                           "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                                               tzinfo=timezone.utc) < hi]
        assert a["totals"]["requests"] == len(want)
        assert a["totals"]["errors"] == sum(
            1 for e in want if e["status_code"] >= 400 or e["error"])
        lat = sorted(e["latency_ms"] for e in want)
        if lat:
            for p in (50, 95, 99):
                exact = lat[max(1, math.ceil(p / 100 * len(lat))) - 1]
                assert close(a["totals"][f"p{p}_latency_ms"], exact), (p, exact)
        ra, _ = compare_routes(c, **{"from": iso(lo), "to": iso(hi)})
        assert sum(e["count"] for e in ra["endpoints"]) == len(want)
    lo, hi = RANGES[0]
    span = {"from": iso(lo), "to": iso(hi)}
    for f in ({"method": "post"}, {"route": "api/r2/<int:pk>"}, {"status": "4xx"},
              {"status": "500,404"}, {"status": "200-302"}, {"unmatched": "1"},
              {"method": "GET", "status": "5xx", "route": "api/r1/<int:pk>"}):
        compare_series(c, **span, bucket="hour", **f)
        compare_routes(c, **span, **f)
    # unmatched requests fold into one endpoint with their paths
    ra, _ = compare_routes(c, **span)
    um = [e for e in ra["endpoints"] if e["unmatched"]]
    assert len(um) == 1 and um[0]["distinct_paths"] == 9


def test_auto_plan_and_fallbacks(collector):
    """Few events in at most 3 hours: the raw scan (exact percentiles);
    filters the rollups do not hold always scan the events."""
    c = collector
    ingest(c, corpus()[:300])
    span = {"from": iso(T0), "to": iso(T0 + timedelta(hours=3))}
    assert c.get("/api/v1/stats/series", **span).json()["plan"] == "raw"
    # over 3 hours: the rollups whatever the count
    long = {"from": iso(T0), "to": iso(T0 + timedelta(hours=3, seconds=1))}
    assert c.get("/api/v1/stats/series", **long).json()["plan"] == "rollup"
    assert c.get("/api/v1/stats/routes", **long).json()["plan"] == "rollup"
    assert c.get("/api/v1/stats/series", plan="rollup", **span).json()["plan"] == "rollup"
    # (a tag has rollups of its own: tests/collector/test_rollup_tags.py)
    for f in ({"path": "/scan/*"}, {"user": "u1"}, {"q": "x"}, {"version": "1.0"}):
        assert c.get("/api/v1/stats/series", plan="rollup", **span,
                     **f).json()["plan"] == "raw"
        assert c.get("/api/v1/stats/routes", plan="rollup", **span,
                     **f).json()["plan"] == "raw"


def test_late_events_after_the_minute_closed(collector):
    """An event for a minute whose rollup row exists already is added to it."""
    c = collector
    t = T0 + timedelta(minutes=5, seconds=10)
    assert c.send_batch([make(1, t, latency=5.0)]).status == 200
    assert c.send_batch([make(2, T0 + timedelta(minutes=90), latency=7.0)]).status == 200
    assert c.send_batch([make(3, t + timedelta(seconds=20), latency=9.0),
                         make(1, t, latency=5.0)]).status == 200  # 1 is a duplicate
    span = {"from": iso(T0), "to": iso(T0 + timedelta(hours=2))}
    a, _ = compare_series(c, **span, bucket="minute")
    row = [b for b in a["series"] if b["t"].startswith("2026-03-02T09:05:00")][0]
    assert row["requests"] == 2 and row["p99_latency_ms"] == 9.0
    assert a["totals"]["requests"] == 3


def people_corpus():
    """~900 events over 3 days and a bit: users u0..u10 and 11 (a number;
    user k always of company c(k % 3)), some anonymous, some with a company
    only."""
    rnd = random.Random(7)
    evs = []
    for i in range(900):
        t = T0 + timedelta(seconds=rnd.uniform(0, 3.2 * 86400))
        k = rnd.randrange(14)
        user = f"u{k}" if k < 11 else 11 if k == 11 else None  # an integer id too
        company = f"c{k % 3}" if k != 13 else None
        evs.append(make(50000 + i, t, status=rnd.choice([200, 200, 200, 404, 500]),
                        user=user, company=company))
    return evs


def compare_people(c, kind, **args):
    a = c.get(f"/api/v1/stats/{kind}", plan="rollup", **args).json()
    b = c.get(f"/api/v1/stats/{kind}", plan="raw", **args).json()
    assert a["plan"] == "rollup" and b["plan"] == "raw"
    assert a[kind] == b[kind], args
    return a


def test_people_rollups_equal_raw(collector):
    c = collector
    evs = people_corpus()
    ingest(c, evs)
    for lo, hi in [(T0 + timedelta(minutes=17, seconds=3), T0 + timedelta(days=3, hours=2,
                                                                         minutes=5)),
                   (T0 - timedelta(days=1), T0 + timedelta(days=5)),
                   (T0 + timedelta(hours=30, minutes=1), T0 + timedelta(hours=33)),
                   (T0 + timedelta(hours=5, minutes=1), T0 + timedelta(hours=5, minutes=9))]:
        span = {"from": iso(lo), "to": iso(hi)}
        for bucket in ("hour", "day"):  # days, hours, minutes and raw edges
            compare_series(c, **span, bucket=bucket)
        compare_routes(c, **span)
        compare_routes(c, **span, status="5xx")
        u = compare_people(c, "users", **span)
        compare_people(c, "companies", **span)
        want = [e for e in evs if e["metadata"].get("user_id")
                and lo <= datetime.strptime(e["metadata"]["timestamp"],
                                            "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                                                tzinfo=timezone.utc) < hi]
        assert sum(x["requests"] for x in u["users"]) == len(want)
        for x in u["users"]:
            assert x["company_id"] == f"c{int(x['id'].lstrip('u')) % 3}"
        assert "11" in [x["id"] for x in u["users"]] or hi - lo < timedelta(hours=1)
    # a filter: the events, not the rollups
    assert c.get("/api/v1/stats/users", status="5xx", plan="rollup").json()["plan"] == "raw"


def agents_corpus():
    """~800 events over 3 days and a bit from agents a0..a4 (tokens signed
    with a key we do not know: unverified, still stored with their agent
    and session ids), a few sessions each, some with no session, and some
    events of no agent."""
    rnd = random.Random(11)
    evs = []
    for i in range(800):
        t = T0 + timedelta(seconds=rnd.uniform(0, 3.2 * 86400))
        k = rnd.randrange(6)
        token = None
        if k < 5:
            claims = {"agent_id": f"a{k}"}
            if rnd.random() < 0.9:
                claims["agent_session_id"] = f"s{k}-{rnd.randrange(4 + k)}"
            token = sign(claims, b"not-ours")
        evs.append(make(70000 + i, t, status=rnd.choice([200, 200, 201, 404, 500]),
                        method=rnd.choice(["GET", "POST"]),
                        route=f"api/r{rnd.randrange(4)}/<int:pk>", token=token,
                        error="ValueError: y" if i % 41 == 0 else ""))
    return evs


def week_span():
    return {"from": iso(T0 - timedelta(hours=1, seconds=1)),
            "to": iso(T0 + timedelta(days=6, seconds=13))}


def compare_agents(c, **args):
    a = c.get("/api/v1/stats/agents", plan="rollup", **args).json()
    b = c.get("/api/v1/stats/agents", plan="raw", **args).json()
    assert a["plan"] == "rollup" and b["plan"] == "raw"
    assert a["agents"] == b["agents"], args
    return a


def test_agent_rollups_equal_raw(collector):
    c = collector
    evs = agents_corpus()
    ingest(c, evs)

    def ts(e):
        return datetime.strptime(e["metadata"]["timestamp"],
                                 "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)

    spans = [(T0 + timedelta(minutes=17, seconds=3), T0 + timedelta(days=3, hours=2, minutes=5)),
             (T0 - timedelta(days=1), T0 + timedelta(days=5)),
             (T0 + timedelta(hours=30, minutes=1), T0 + timedelta(hours=33)),
             (T0 + timedelta(hours=5, minutes=1), T0 + timedelta(hours=5, minutes=9)),
             (T0 + timedelta(hours=24), T0 + timedelta(hours=48))]
    for lo, hi in spans:
        span = {"from": iso(lo), "to": iso(hi)}
        a = compare_agents(c, **span)
        want = [e for e in evs if "agent_session_token" in e and lo <= ts(e) < hi]
        assert sum(x["calls"] for x in a["agents"]) == len(want)
        for x in a["agents"]:
            mine = [e for e in want if e["metadata"]["event_id"] and
                    json.loads(base64.urlsafe_b64decode(
                        e["agent_session_token"].split(".")[1] + "=="))["agent_id"]
                    == x["agent_id"]]
            assert x["calls"] == len(mine)
            assert sum(p["count"] for p in x["endpoints"]) == x["calls"]
        if hi - lo > timedelta(days=1):
            assert len(a["agents"]) == 5 and a["agents"][0]["sessions"] >= 4
    # a late event into hours already summed, and its duplicate
    late = make(79999, T0 + timedelta(hours=30, minutes=2), status=500, route="api/late",
                token=sign({"agent_id": "a1", "agent_session_id": "s-late"}, b"k"))
    for _ in range(2):
        assert c.send_batch([late]).status == 200
    a = compare_agents(c, **{"from": iso(T0), "to": iso(T0 + timedelta(days=3))})
    a1 = [x for x in a["agents"] if x["agent_id"] == "a1"][0]
    assert [p["count"] for p in a1["endpoints"] if p["route"] == "api/late"] == [1]
    # a filter: the events, not the rollups
    assert c.get("/api/v1/stats/agents", status="5xx", plan="rollup").json()["plan"] == "raw"


def errors_corpus():
    """~600 error-heavy events over 3 days: exceptions as metadata.errors
    records (object and array forms) and as `error` strings, 4xx/5xx
    without one, unmatched paths."""
    rnd = random.Random(13)
    evs = []
    for i in range(600):
        t = T0 + timedelta(seconds=rnd.uniform(0, 3.1 * 86400))
        k = i % 6
        route, path = f"api/e{i % 3}/<int:pk>", None
        if k == 5:
            route, path = None, f"/wp/{i}.php"
        e = make(90000 + i, t, status=rnd.choice([200, 400, 404, 500, 503]), route=route,
                 path=path, error=f"KeyError: k{i}" if k == 1 else "")
        if k == 2:
            e["metadata"]["errors"] = [{"type": "TypeError", "message": f"m{i}",
                                        "stack": f"st{i}"}]
        elif k == 3:
            e["metadata"]["errors"] = [["OSError", f"o{i}", f"s{i}"]]
        evs.append(e)
    return evs


def compare_errors(c, **args):
    a = c.get("/api/v1/errors", plan="rollup", **args).json()
    b = c.get("/api/v1/errors", plan="raw", **args).json()
    assert a["plan"] == "rollup" and b["plan"] == "raw"

    # every field, on SQLite the 30-cell series cell by cell too (each
    # cell is read on its own: rows inside it, its cut hours from the
    # events); PostgreSQL places a row's events in its first cell still
    if c.store == "sqlite":
        assert a["groups"] == b["groups"], args
    else:
        def nos(g):
            return {k: v for k, v in g.items() if k != "series"}
        assert [nos(g) for g in a["groups"]] == [nos(g) for g in b["groups"]], args
    for g in a["groups"]:
        assert sum(g["series"]) == g["count"]
    assert (a["errors"], a["truncated"]) == (b["errors"], b["truncated"])
    assert a["series_bucket_seconds"] == b["series_bucket_seconds"]
    return a


def test_error_rollups_equal_raw(collector):
    c = collector
    evs = errors_corpus() + agents_corpus()[:200]
    ingest(c, evs)
    spans = [(T0 + timedelta(minutes=17, seconds=3), T0 + timedelta(days=3, hours=2, minutes=5)),
             (T0 - timedelta(days=1), T0 + timedelta(days=5)),
             (T0 + timedelta(hours=30, minutes=1), T0 + timedelta(hours=33)),
             (T0 + timedelta(hours=5, minutes=1), T0 + timedelta(hours=5, minutes=9))]
    for lo, hi in spans:
        a = compare_errors(c, **{"from": iso(lo), "to": iso(hi)})
        assert a["errors"] > 0 or hi - lo < timedelta(hours=1)
    a = compare_errors(c, **{"from": iso(spans[1][0]), "to": iso(spans[1][1])})
    kinds = {(g["kind"], g["type"]) for g in a["groups"]}
    assert {("exception", "TypeError"), ("exception", "OSError"),
            ("exception", "KeyError"), ("status", None)} <= kinds
    assert any(g["unmatched"] for g in a["groups"])
    te = [g for g in a["groups"] if g["type"] == "TypeError"][0]
    assert te["latest"]["message"].startswith("m") and te["latest"]["stack"].startswith("st")
    # a late error into hours already summed, and its duplicate: counted once
    late = make(99999, T0 + timedelta(hours=30, minutes=2), status=500, route="api/late",
                error="LateError: now")
    for _ in range(2):
        assert c.send_batch([late]).status == 200
    a = compare_errors(c, **{"from": iso(T0), "to": iso(T0 + timedelta(days=3))})
    assert [g["count"] for g in a["groups"] if g["type"] == "LateError"] == [1]
    assert c.get("/api/v1/errors", status="5xx", plan="rollup").json()["plan"] == "raw"


def test_migration_fills_rollups_from_events(new_collector, store, request):
    """A database from before the rollups (schema one step back, no rollup
    table) gets them filled from its events when a collector opens it."""
    c = new_collector("m")
    c.init()
    c.start(extra_args=["--quiet"])
    evs = corpus()
    ingest(c, evs)
    span = {"from": iso(RANGES[0][0]), "to": iso(RANGES[0][1])}
    ingest(c, people_corpus()[:300])
    ingest(c, agents_corpus()[:300])
    agents = c.get("/api/v1/stats/agents", plan="rollup", **week_span()).json()["agents"]
    assert sum(a["calls"] for a in agents) > 100
    ingest(c, errors_corpus())
    errs = c.get("/api/v1/errors", plan="rollup", **week_span()).json()
    assert errs["errors"] > 100
    before = c.get("/api/v1/stats/routes", plan="rollup", **span).json()
    week = {"from": iso(T0 - timedelta(hours=1, seconds=1)),
            "to": iso(T0 + timedelta(days=6, seconds=13))}
    users = c.get("/api/v1/stats/users", plan="rollup", **week).json()["users"]
    assert sum(u["requests"] for u in users) > 200
    assert c.stop() == 0
    if store == "pg":
        pg = request.getfixturevalue("pg_server")
        # back to schema 2: every step after it is undone (the filtered
        # views' indexes of schema 9 too)
        pg.psql(c.db_path, "DROP INDEX events_errors; DROP INDEX events_agents;"
                " DROP INDEX events_path; DROP INDEX events_user;"
                " DROP INDEX events_company;"
                " DROP TABLE rollup_people; DROP TABLE rollups;"
                " DROP AGGREGATE otas_hist_agg(int, bigint);"
                " DROP FUNCTION otas_hist_put(int[], int, bigint);"
                " DROP FUNCTION otas_hist_bin(float8);"
                " DROP FUNCTION otas_hist_merge(int[], int[]);"
                # and the deferred text index's step after them
                " DROP INDEX events_unindexed;"
                " ALTER TABLE events DROP COLUMN text_indexed;"
                # schema 2, before the rollups: every later step runs again
                # (the tag rollups' step makes its table anew)
                " UPDATE otas_schema SET version = 2;")
    else:
        # back to schema 4 (the filtered views' index of 12 too)
        con = sqlite3.connect(c.db_path)
        con.execute("DROP TABLE rollups")
        con.execute("DROP TABLE rollup_people")
        con.execute("DROP INDEX events_errors")
        con.execute("DROP INDEX events_agents")
        con.execute("DROP TABLE fts_state")  # the deferred text index's step
        # and schema 11's: the search text was a generated column
        con.execute("DROP VIEW events_text")
        con.execute("ALTER TABLE events ADD COLUMN search_text TEXT"
                    " GENERATED ALWAYS AS (doc) VIRTUAL")
        con.execute("DROP TRIGGER events_path_del")  # schema 15's table
        con.execute("DROP TABLE events_path")
        con.execute("PRAGMA user_version=4")  # before the rollups
        con.commit()
        con.close()
    c.start(extra_args=["--quiet"])
    after = c.get("/api/v1/stats/routes", plan="rollup", **span).json()
    assert [strip_pcts(e)[0] for e in after["endpoints"]] == \
        [strip_pcts(e)[0] for e in before["endpoints"]]
    compare_series(c, **span, bucket="hour")
    compare_routes(c, **span)
    assert c.get("/api/v1/stats/users", plan="rollup", **week).json()["users"] == users
    compare_people(c, "users", **week)
    compare_people(c, "companies", **week)
    assert c.get("/api/v1/stats/agents", plan="rollup",
                 **week_span()).json()["agents"] == agents
    compare_agents(c, **week_span())
    got = c.get("/api/v1/errors", plan="rollup", **week_span()).json()
    if store == "sqlite":
        assert got["groups"] == errs["groups"]
    else:  # cells placed per row (one per writer before, one after)
        assert [dict(g, series=sum(g["series"])) for g in got["groups"]] == \
            [dict(g, series=sum(g["series"])) for g in errs["groups"]]
    assert got["errors"] == errs["errors"]
    compare_errors(c, **week_span())
    compare_errors(c, **span)
    c.stop()
