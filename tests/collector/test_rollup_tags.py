"""Tag rollups (collector/src/rollup.h `rollup_tags`, `rollup_people_tags`):
/stats/series, /stats/routes, /stats/users, /stats/companies, /stats/agents
and /errors with `tag=` read per-tag aggregates kept at ingest; their
answers must be the raw scan's (counts exactly, percentiles within one
histogram bin) for several tags, ranges with partial minutes and hours at
either end and whole days, duplicates, odd `tags` values, retention, and
after the schema step that fills them from the events already stored."""
import random
import time
from datetime import timedelta

from otas_testing.collector import make_event
from test_retention import DAY, rfc3339, uuid7, wait_until
from test_rollups import (T0, agents_corpus, compare_agents, compare_errors,
                          compare_people, compare_routes, compare_series, errors_corpus,
                          ingest, iso, make, people_corpus, week_span)

# (tags value, the tags the raw filter sees in it)
TAGS = [
    ("blue", {"blue"}),
    (["red", "blue", "red"], {"red", "blue"}),     # a repeat counts once
    (["green"], {"green"}),
    ([1, "red", None, {"x": "blue"}], {"red"}),    # only strings count
    ({"blue": "blue"}, set()),                     # an object is no list
    ("caf\u00e9", {"caf\u00e9"}),                  # sent escaped, decoded
    ([], set()),
    (None, set()),                                 # no tags at all
]
NAMES = ["blue", "red", "green", "caf\u00e9", "absent"]


def tag_corpus():
    """~1,500 events over 3 h 10 min (test_rollups.corpus' shape: on and
    next to minute and hour boundaries, unmatched paths, 4xx/5xx,
    exceptions), each with one of TAGS, plus a few a day before and
    after (whole days in a range)."""
    rnd = random.Random(21)
    evs = []
    for i in range(1500):
        if i % 10 == 0:
            t = T0 + timedelta(minutes=rnd.randrange(190)) - timedelta(
                microseconds=i % 20 == 0)
        elif i % 50 == 1:
            t = T0 + timedelta(days=rnd.choice([-2, -1, 1, 2]), seconds=rnd.uniform(0, 9e4))
        else:
            t = T0 + timedelta(seconds=rnd.uniform(0, 190 * 60))
        lat = round(rnd.lognormvariate(3, 1.2), 3)
        status = rnd.choice([200] * 12 + [201, 302, 401, 404, 500, 503])
        method = "POST" if i % 4 == 0 else "GET"
        route, path = f"api/r{i % 5}/<int:pk>", None
        if i % 25 == 3:
            route, path = None, f"/scan/{i % 9}.php"
            status = 404
        e = make(i, t, status=status, latency=lat, method=method, route=route, path=path,
                 error="ValueError: x" if i % 37 == 0 else "")
        tags = TAGS[i % len(TAGS)][0]
        if tags is not None:
            e["metadata"]["tags"] = tags
        evs.append(e)
    return evs


def expected_count(evs, tag, lo, hi):
    n = 0
    for e in evs:
        t = e["metadata"]["timestamp"]
        if not (iso(lo) <= t < iso(hi)):
            continue
        tags = e["metadata"].get("tags")
        seen = TAGS[[x[0] for x in TAGS].index(tags)][1] if tags is not None else set()
        n += tag in seen
    return n


RANGES = [
    # partial minutes and hours at both ends
    (T0 + timedelta(minutes=7, seconds=13, microseconds=5),
     T0 + timedelta(hours=2, minutes=51, seconds=4)),
    # on minute boundaries, partial hours
    (T0 + timedelta(minutes=17), T0 + timedelta(hours=2, minutes=3)),
    # whole hours
    (T0, T0 + timedelta(hours=3)),
    # whole days in the middle, partial hours and minutes at the ends
    (T0 - timedelta(days=2, hours=3, minutes=1, seconds=7),
     T0 + timedelta(days=2, hours=1, seconds=31)),
]


def test_tag_rollups_equal_raw(collector):
    c = collector
    evs = tag_corpus()
    ingest(c, evs)  # shuffled batches, then 10 % again (duplicates)
    for lo, hi in RANGES:
        span = {"from": iso(lo), "to": iso(hi)}
        for tag in NAMES:
            want = expected_count(evs, tag, lo, hi)
            assert want > 0 or tag == "absent"
            a, b = compare_series(c, **span, tag=tag)
            assert a["totals"]["requests"] == b["totals"]["requests"] == want, (tag, span)
            compare_series(c, **span, tag=tag, bucket="hour")
            if hi - lo <= timedelta(hours=4):
                compare_series(c, **span, tag=tag, bucket="minute")
            ra, rb = compare_routes(c, **span, tag=tag)
            assert sum(e["count"] for e in ra["endpoints"]) == want
        # with the filters the rollups hold beside it
        compare_series(c, **span, tag="blue", status="4xx,500")
        compare_routes(c, **span, tag="red", method="POST")
        compare_routes(c, **span, tag="blue", unmatched="1")
        compare_series(c, **span, tag="green", route="api/r2/<int:pk>")
    # the collector's own plan: rollups beyond 3 hours, and it says so
    wide = {"from": iso(RANGES[3][0]), "to": iso(RANGES[3][1])}
    assert c.get("/api/v1/stats/series", tag="blue", **wide).json()["plan"] == "rollup"
    assert c.get("/api/v1/stats/routes", tag="blue", **wide).json()["plan"] == "rollup"
    assert c.get("/api/v1/stats/routes", tag="blue", plan="raw", **wide).json()["plan"] == "raw"
    # a filter no rollup holds beside the tag still scans the events
    assert c.get("/api/v1/stats/series", tag="blue", user="x", **wide).json()["plan"] == "raw"
    # a filter the people rows do not hold, beside the tag, scans
    assert c.get("/api/v1/stats/users", tag="blue", status="5xx", plan="rollup",
                 **wide).json()["plan"] == "raw"


def tagged_people():
    """test_rollups' users/companies, agents and error corpora (3 days and
    a bit), each event with one of TAGS in turn."""
    evs = people_corpus() + agents_corpus() + errors_corpus()
    for i, e in enumerate(evs):
        tags = TAGS[i % len(TAGS)][0]
        if tags is not None:
            e["metadata"]["tags"] = tags
    return evs


PEOPLE_SPANS = [
    week_span(),
    {"from": iso(T0 + timedelta(minutes=17, seconds=3)),
     "to": iso(T0 + timedelta(days=2, hours=2, minutes=5))},
    {"from": iso(T0 + timedelta(hours=30, minutes=1)), "to": iso(T0 + timedelta(hours=33))},
]


def test_people_tag_rollups_equal_raw(collector):
    """Users, companies, agents and error groups with tag=: whole days and
    hours from rollup_people_tags, the partial hours from the events, the
    raw scan's answers."""
    c = collector
    evs = tagged_people()
    ingest(c, evs)
    for span in PEOPLE_SPANS:
        for tag in NAMES:
            u = compare_people(c, "users", **span, tag=tag)
            assert (sum(x["requests"] for x in u["users"]) > 0) == (tag != "absent")
            compare_people(c, "companies", **span, tag=tag)
            a = compare_agents(c, **span, tag=tag)
            assert (sum(x["calls"] for x in a["agents"]) > 0) == (tag != "absent")
            e = compare_errors(c, **span, tag=tag)
            assert (e["errors"] > 0) == (tag != "absent")
    # the collector's own plan over 3 hours: the rollups
    for path in ("/api/v1/stats/users", "/api/v1/stats/companies", "/api/v1/stats/agents",
                 "/api/v1/errors"):
        assert c.get(path, tag="blue", **week_span()).json()["plan"] == "rollup", path


def test_long_tags_scan_the_events(collector):
    """A tag over 200 bytes is kept out of the rollups; a filter on one
    scans the events, so it is still counted."""
    c = collector
    long_tag = "L" * 201
    evs = [make(i, T0 + timedelta(minutes=i), latency=5.0 + i) for i in range(6)]
    for e in evs[:4]:
        e["metadata"]["tags"] = [long_tag, "short"]
    assert c.send_batch(evs).status == 200
    span = {"from": iso(T0 - timedelta(days=1)), "to": iso(T0 + timedelta(days=1))}
    r = c.get("/api/v1/stats/series", tag=long_tag, plan="rollup", **span).json()
    assert r["plan"] == "raw" and r["totals"]["requests"] == 4
    a, _ = compare_series(c, **span, tag="short")
    assert a["totals"]["requests"] == 4
    assert int(c.sql("SELECT count(*) FROM rollup_tags WHERE tag <> 'short'")) == 0


def test_retention_deletes_tag_rollups(make_collector):
    c = make_collector(["--retain-days", "30", "--maintain-interval", "3"])
    now = time.time()
    old_t = now - 40 * DAY

    def tagged(i, t, tag):
        return make_event(i, event_id=uuid7(int(t * 1000) + i),
                          metadata={"route": "r", "timestamp": rfc3339(t), "tags": [tag],
                                    "user_id": f"u{i % 3}"})
    if c.store == "pg":
        today = int(now // DAY)
        wait_until(lambda: c.sql(f"SELECT to_regclass('events_p{today + 2}')") != ""
                   and c.sql("SELECT count(*) FROM pg_locks"
                             " WHERE locktype = 'advisory'") == "0")
    old = [tagged(i, old_t, "old") for i in range(30)]
    new = [tagged(100 + i, now, "new") for i in range(10)]
    assert c.send_batch(old + new).json()["accepted"] == 40
    wait_until(lambda: int(c.sql("SELECT count(*) FROM events")) == 10)
    cut = int((now - 31 * DAY) * 1e6)
    wait_until(lambda: int(c.sql(f"SELECT count(*) FROM rollup_tags WHERE bucket < {cut}"))
               == 0 and int(c.sql("SELECT count(*) FROM rollup_people_tags"
                                  f" WHERE bucket < {cut}")) == 0)
    assert c.sql("SELECT DISTINCT tag FROM rollup_tags") == "new"
    assert c.sql("SELECT DISTINCT tag FROM rollup_people_tags") == "new"
    assert int(c.sql("SELECT sum(n) FROM rollup_tags WHERE res = 60")) == 10
    r = c.get("/api/v1/stats/series", range="30d", tag="new", plan="rollup").json()
    assert r["plan"] == "rollup" and r["totals"]["requests"] == 10
    r = c.get("/api/v1/stats/users", range="30d", tag="new", plan="rollup").json()
    assert r["plan"] == "rollup" and sum(u["requests"] for u in r["users"]) == 10


def test_migration_fills_tag_rollups(new_collector, store, request):
    """A database of the schema before the tag rollups gets them filled
    from its events when a collector opens it: the same rows ingest wrote
    (PostgreSQL: one shard after, summed), the same answers as raw."""
    c = new_collector("m")
    c.init()
    c.start(extra_args=["--quiet"])
    evs = tag_corpus()
    ingest(c, evs)
    ingest(c, tagged_people())
    key = ("project, res, bucket, tag, method, route, status, unmatched")
    q = (f"SELECT {key}, sum(n), sum(errors), min(lat_min), max(lat_max)"
         f" FROM rollup_tags GROUP BY {key} ORDER BY {key}")
    pkey = "project, res, bucket, tag, kind, id"
    pq = (f"SELECT {pkey}, sum(n), sum(errors), min(first_ts), max(last_ts)"
          f" FROM rollup_people_tags GROUP BY {pkey} ORDER BY {pkey}")
    before, pbefore = c.sql(q), c.sql(pq)
    assert before.count("\n") > 500 and pbefore.count("\n") > 500
    assert set(c.sql("SELECT DISTINCT kind FROM rollup_people_tags").split()) == \
        {"u", "c", "a", "e"}
    spans = [{"from": iso(lo), "to": iso(hi)} for lo, hi in RANGES]
    answers = [c.get("/api/v1/stats/routes", plan="rollup", tag=t, **s).json()
               for s in spans for t in NAMES]
    people = [c.get(p, plan="rollup", tag=t, **s).json()
              for s in PEOPLE_SPANS for t in NAMES
              for p in ("/api/v1/stats/users", "/api/v1/stats/companies",
                        "/api/v1/stats/agents")]
    assert c.stop() == 0
    c.sql("DROP TABLE rollup_tags")
    c.sql("DROP TABLE rollup_people_tags")
    # back to the schema before the tag step (SQLite 11, PostgreSQL 8);
    # the filtered views' steps after it run again too (idempotent)
    if store == "pg":
        c.sql("UPDATE otas_schema SET version = 8")
    else:
        c.sql("PRAGMA user_version=11")
    c.start(extra_args=["--quiet"])
    try:
        assert c.sql(q) == before
        assert c.sql(pq) == pbefore
        got = [c.get("/api/v1/stats/routes", plan="rollup", tag=t, **s).json()
               for s in spans for t in NAMES]
        assert got == answers
        assert [c.get(p, plan="rollup", tag=t, **s).json()
                for s in PEOPLE_SPANS for t in NAMES
                for p in ("/api/v1/stats/users", "/api/v1/stats/companies",
                          "/api/v1/stats/agents")] == people
        for s in spans:
            for t in NAMES:
                compare_series(c, **s, tag=t)
                compare_routes(c, **s, tag=t)
        for s in PEOPLE_SPANS:
            for t in NAMES:
                compare_people(c, "users", **s, tag=t)
                compare_errors(c, **s, tag=t)
    finally:
        c.stop()
