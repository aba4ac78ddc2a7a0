"""Filters no time-bucket rollup holds (collector/README.md "Filtered
views"): a path glob's literal head walks a path index, user / company
walk theirs (PostgreSQL: expression indexes), users and companies with a
route filter read the per-route people rollups.  Every answer must be the
one the scan of every event of the range gives: checked field by field
against an equivalent query that cannot take the new plan (a glob with no
literal head, plan=raw) and against our own count of the events sent.
Also the upgrade from the schema before (SQLite 12, PostgreSQL 9), and
SQLite's path table (schema 15), filled in bulk: its rows and the events
above its watermark together."""
import fnmatch
import random
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from otas_testing.collector import make_event

T0 = datetime(2026, 4, 6, 8, 0, tzinfo=timezone.utc)
LONG = "/api/long/" + "x" * 240  # a head longer than PostgreSQL's 200-char key

PATHS = ["/api/r3/{n}", "/api/r30/{n}", "/api/r3", "/api/r4/{n}", "/api/r3x/{n}",
         "/api/caf\u00e9/{n}", "/api/50%_off/{n}", "/api/50%Xoff/{n}", "/Api/r3/{n}",
         LONG + "/{n}", LONG + "y/{n}", "/scan/{n}.php"]
GLOBS = ["/api/r3/*", "/api/r3*", "/api/r3", "/api/caf\u00e9/*", "/api/50%_off/*",
         "/api/50%?off/*", "/api/r[34]/*", "/api/r3/1?", LONG + "/*", LONG + "y*",
         "/nothing/*", "/api/r3/7"]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_of(e):
    return datetime.strptime(e["metadata"]["timestamp"],
                             "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def corpus(n=1500, days=3.3, seed=3):
    """n events over `days`: the paths above (shared heads, LIKE's % and _,
    non-ASCII, a head past 200 characters, case), users u0..u12 and the
    integer 13 (user k of company c(k % 4)), some anonymous, 4xx/5xx."""
    rnd = random.Random(seed)
    evs = []
    for i in range(n):
        t = T0 + timedelta(seconds=rnd.uniform(0, days * 86400))
        k = rnd.randrange(16)
        md = {"timestamp": iso(t), "event_id": f"f-{seed}-{i:05d}"}
        if k < 13:
            md["user_id"] = f"u{k}"
        elif k == 13:
            md["user_id"] = 13
        if k < 15:
            md["company_id"] = f"c{k % 4}"
        p = rnd.choice(PATHS).format(n=rnd.randrange(30))
        if not p.startswith("/scan/"):  # else unmatched: its path is its route
            md["route"] = f"api/r{rnd.randrange(4)}/<int:pk>"
        evs.append(make_event(i, event_id=md["event_id"], path=p, metadata=md,
                              method=rnd.choice(["GET", "GET", "POST"]),
                              status_code=rnd.choice([200, 200, 200, 201, 404, 500]),
                              latency_ms=round(rnd.lognormvariate(2, 1), 3),
                              error="ValueError: v" if i % 53 == 0 else ""))
    return evs


def ingest(c, evs, again=False):
    for k in range(0, len(evs), 200):
        r = c.send_batch(evs[k:k + 200])
        n = len(evs[k:k + 200])
        assert r.status == 200 and r.json()["accepted"] == (0 if again else n), r.body


def no_head(glob):
    """The same glob with no literal head: its first character as a
    bracket expression, so no index can take it (the scan of the range)."""
    return f"[{glob[0]}]{glob[1:]}"


SPANS = [
    (T0 + timedelta(minutes=7, seconds=3), T0 + timedelta(days=3, hours=1, minutes=5)),
    (T0 - timedelta(days=1), T0 + timedelta(days=5)),
    (T0 + timedelta(hours=20, minutes=1), T0 + timedelta(hours=22, minutes=30)),
]


def test_path_heads_equal_the_scan(collector):
    c = collector
    evs = corpus()
    ingest(c, evs)
    check_path_heads(c, evs)


def check_path_heads(c, evs):
    for lo, hi in SPANS:
        span = {"from": iso(lo), "to": iso(hi)}
        for g in GLOBS:
            want = [e for e in evs if fnmatch.fnmatchcase(e["path"], g)
                    and lo <= ts_of(e) < hi] if any(ch in g for ch in "*?[") else \
                [e for e in evs if e["path"] == g and lo <= ts_of(e) < hi]
            for view in ("stats/series", "stats/routes", "stats/users", "stats/companies",
                         "errors", "stats/agents"):
                a = c.get(f"/api/v1/{view}", path=g, **span).json()
                b = c.get(f"/api/v1/{view}", path=no_head(g), plan="raw", **span).json()
                assert a.get("plan") == b.get("plan")
                a.pop("path", None), b.pop("path", None)
                assert a == b, (view, g, span)
            s = c.get("/api/v1/stats/series", path=g, bucket="hour", **span).json()
            assert s["totals"]["requests"] == len(want), g
            assert s["totals"]["errors"] == sum(
                1 for e in want if e["status_code"] >= 400 or e["error"])
            # pages, newest first, and the export: the same events in order
            a = c.get("/api/v1/search", path=g, limit=1000, **span).json()
            b = c.get("/api/v1/search", path=no_head(g), limit=1000, **span).json()
            assert [e["event_id"] for e in a["events"]] == [e["event_id"] for e in b["events"]]
            assert sorted(e["event_id"] for e in a["events"]) == sorted(
                e["metadata"]["event_id"] for e in want)
            a = c.get("/api/v1/search", path=g, limit=7, **span).json()
            assert [e["event_id"] for e in a["events"]] == \
                [e["event_id"] for e in b["events"]][:7]
            x = c.get("/api/v1/export", format="json", path=g, **span).json()
            assert [e["event_id"] for e in x["events"]] == [e["event_id"] for e in b["events"]]


def test_user_and_company_filters(collector):
    c = collector
    evs = corpus(seed=4)
    ingest(c, evs)
    for lo, hi in SPANS:
        span = {"from": iso(lo), "to": iso(hi)}
        for key, field, vals in (("user", "user_id", ["u3", "13", "u12", "nobody"]),
                                 ("company", "company_id", ["c1", "c3", "c9"])):
            for v in vals:
                want = [e for e in evs if str(e["metadata"].get(field)) == v
                        and lo <= ts_of(e) < hi]
                s = c.get("/api/v1/stats/series", bucket="hour", **{key: v}, **span).json()
                assert s["plan"] == "raw"
                assert s["totals"]["requests"] == len(want), (key, v)
                assert s["totals"]["errors"] == sum(
                    1 for e in want if e["status_code"] >= 400 or e["error"])
                got = c.get("/api/v1/search", limit=1000, **{key: v}, **span).json()
                assert sorted(e["event_id"] for e in got["events"]) == sorted(
                    e["metadata"]["event_id"] for e in want)
                # with a path head too (both indexes could serve)
                a = c.get("/api/v1/stats/routes", path="/api/r3/*", **{key: v},
                          **span).json()
                b = c.get("/api/v1/stats/routes", path=no_head("/api/r3/*"),
                          **{key: v}, **span).json()
                a.pop("path", None), b.pop("path", None)
                assert a == b


def compare_people(c, kind, **args):
    a = c.get(f"/api/v1/stats/{kind}", plan="rollup", **args).json()
    b = c.get(f"/api/v1/stats/{kind}", plan="raw", **args).json()
    assert a["plan"] == "rollup" and b["plan"] == "raw", (a["plan"], b["plan"])
    assert a[kind] == b[kind], args
    assert a["truncated"] == b["truncated"]
    return a


ROUTES = ["api/r0/<int:pk>", "api/r2/<int:pk>", "/scan/7.php", "api/none"]


def check_route_people(c, evs):
    for lo, hi in SPANS + [(T0 + timedelta(hours=5, minutes=1),
                            T0 + timedelta(hours=5, minutes=40))]:
        span = {"from": iso(lo), "to": iso(hi)}
        for route in ROUTES:
            u = compare_people(c, "users", route=route, **span)
            compare_people(c, "companies", route=route, **span)
            want = [e for e in evs if e["metadata"].get("route", e["path"]) == route
                    and e["metadata"].get("user_id") is not None and lo <= ts_of(e) < hi]
            assert sum(x["requests"] for x in u["users"]) == len(want), (route, span)
            for x in u["users"]:
                assert x["company_id"] == f"c{int(x['id'].lstrip('u')) % 4}"
        # a method or status with the route: the events, not the rollups
        assert c.get("/api/v1/stats/users", route=ROUTES[0], method="GET",
                     plan="rollup", **span).json()["plan"] == "raw"
    long = {"from": iso(T0), "to": iso(T0 + timedelta(hours=3, seconds=1))}
    assert c.get("/api/v1/stats/users", route=ROUTES[0], **long).json()["plan"] == "rollup"


def test_people_per_route_equal_raw(collector):
    c = collector
    evs = corpus(seed=5)
    ingest(c, evs)
    ingest(c, evs[::9], again=True)  # duplicates count once
    check_route_people(c, evs)


def test_upgrade_from_the_schema_before(new_collector, store, request):
    """A database of the schema before these steps (SQLite 12, PostgreSQL
    9): the open builds the indexes and fills the per-route rows from the
    events; the answers are the scan's."""
    c = new_collector("up")
    c.init()
    c.start(extra_args=["--quiet"])
    evs = corpus(seed=6)
    ingest(c, evs)
    span = {"from": iso(SPANS[0][0]), "to": iso(SPANS[0][1])}
    before = {r: c.get("/api/v1/stats/users", route=r, plan="raw", **span).json()["users"]
              for r in ROUTES}
    assert c.stop() == 0
    if store == "pg":
        pg = request.getfixturevalue("pg_server")
        pg.psql(c.db_path, "DROP INDEX events_path; DROP INDEX events_user;"
                " DROP INDEX events_company;"
                " DELETE FROM rollup_people WHERE kind IN ('ru', 'rc');"
                " UPDATE otas_schema SET version = 9;")
    else:
        con = sqlite3.connect(c.db_path)
        con.execute("DROP TRIGGER events_path_del")  # schema 15's table
        con.execute("DROP TABLE events_path")
        con.execute("DELETE FROM rollup_people WHERE kind IN ('ru', 'rc')")
        con.execute("PRAGMA user_version=12")
        con.commit()
        con.close()
    c.start(extra_args=["--quiet"])
    try:
        if store == "pg":
            assert c.sql("SELECT version FROM otas_schema") == "11"
            assert c.sql("SELECT count(*) FROM pg_indexes WHERE indexname IN"
                         " ('events_path', 'events_user', 'events_company')") == "3"
        else:
            assert c.sql("PRAGMA user_version") == "15"
            assert c.sql("SELECT count(*) FROM sqlite_master WHERE name ="
                         " 'events_path'") == "1"
        for r in ROUTES:
            got = c.get("/api/v1/stats/users", route=r, plan="rollup", **span).json()
            assert got["plan"] == "rollup" and got["users"] == before[r]
        check_route_people(c, evs)
        # and the writer keeps them from here on
        more = corpus(n=300, seed=7)
        ingest(c, more)
        check_route_people(c, evs + more)
        g = "/api/r3/*"
        a = c.get("/api/v1/stats/series", path=g, **span).json()
        b = c.get("/api/v1/stats/series", path=no_head(g), **span).json()
        a.pop("path", None), b.pop("path", None)
        assert a == b
    finally:
        c.stop()


PATH_COLS = "project, path, ts, id, method, route, status, latency_ms, is_error"


def path_table_is_events(c):
    assert c.sql(f"SELECT count(*) FROM (SELECT {PATH_COLS} FROM events WHERE"
                 f" id <= (SELECT wm FROM path_state) EXCEPT SELECT {PATH_COLS}"
                 " FROM events_path)") == "0"
    assert c.sql(f"SELECT count(*) FROM (SELECT {PATH_COLS} FROM events_path"
                 f" EXCEPT SELECT {PATH_COLS} FROM events)") == "0"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("fill", ["1", "750", "1000000000"])
def test_sqlite_path_table_and_the_rows_above_it(make_collector, store, fill):
    """The writer fills the path table every `fill` events: at every group
    (all in the table), once midway (part in it, part above the
    watermark), never (all above it); the answers are the scan's."""
    c = make_collector(extra_args=["--test-path-fill", fill])
    evs = corpus()
    ingest(c, evs)
    in_table = int(c.sql("SELECT count(*) FROM events_path"))
    assert in_table == {"1": 1500, "750": 800, "1000000000": 0}[fill]
    assert c.sql("SELECT count(*) FROM events WHERE id > (SELECT wm FROM"
                 " path_state)") == str(1500 - in_table)
    path_table_is_events(c)
    check_path_heads(c, evs)


@pytest.mark.sqlite_only
def test_sqlite_upgrade_from_the_path_index(new_collector, store):
    """Schema 14 -> 15: the index events_path becomes the table, filled
    with every event; deletes (retention) take its rows with them."""
    c = new_collector("old")
    c.init()
    c.start(extra_args=["--quiet"])
    evs = corpus()
    ingest(c, evs)
    assert c.stop() == 0
    con = sqlite3.connect(c.db_path)
    con.executescript("DROP TABLE events_path; DROP TABLE path_state;"
                      " DROP TRIGGER events_path_del;"
                      " CREATE INDEX events_path ON events(project, path, ts,"
                      " method, route, status, latency_ms, is_error);"
                      " PRAGMA user_version=14;")
    con.close()
    c.start(extra_args=["--quiet"])
    try:
        assert c.sql("PRAGMA user_version") == "15"
        assert c.sql("SELECT type FROM sqlite_master WHERE name = 'events_path'") == "table"
        assert c.sql("SELECT count(*) FROM events_path") == "1500"
        assert c.sql("SELECT wm FROM path_state") == c.sql("SELECT max(id) FROM events")
        path_table_is_events(c)
        check_path_heads(c, evs)
    finally:
        c.stop()
    con = sqlite3.connect(c.db_path)
    con.execute("DELETE FROM events WHERE id % 3 = 0")
    con.commit()
    con.close()
    assert c.sql("SELECT count(*) FROM events_path") == c.sql("SELECT count(*) FROM events")
    path_table_is_events(c)


# Raw metadata texts (the document as sent) whose user_id PostgreSQL's
# json reads in ways the decoder does not vouch for: the writer must
# then compute the value as the query expression does.
ODD_META = [
    '"user_id": "u1", "company_id": "c1"',
    '"user_id": 7, "company_id": 7',
    '"user_id": 7.0',
    '"user_id": true',
    '"user_id": {"a": 1}',
    '"user_id": "dup1", "user_id": "dup2"',   # json reads the last
    '"user_id": "u\\u0031"',                   # u1, escaped
    '"user_id": "a\\"b"',
    '"user_id": ""',
    '"user_id": null, "company_id": "c1"',
    '"company_id": "c1", "company_id": "c2"',
]


def odd_body(i, meta, body=""):
    ts = iso(T0 + timedelta(minutes=i))
    return (f'{{"project_id": "p", "path": "/odd/{i}", "method": "GET", "status_code": 200,'
            f' "latency_ms": 1.5, "request_body": "{body}", "event_id": "odd-{i}",'
            f' "metadata": {{"timestamp": "{ts}", {meta}}}}}')


@pytest.mark.pg_only
def test_pg_who_columns_are_the_query_expression(collector):
    """Every odd user/company id answers as the expression over the
    stored document answers (the plan before the columns), for rows the
    writer filled and for rows stored before schema 9 (who_set false)."""
    c = collector
    docs = [odd_body(i, m) for i, m in enumerate(ODD_META)]
    # the same ids with a \u0000 elsewhere in the document: never found
    docs += [odd_body(100 + i, m, body="nul \\u0000 here")
             for i, m in enumerate(ODD_META[:2])]
    body = ('{"events": [' + ", ".join(docs) + "]}").encode()
    r = c.post_json("/api/v1/backend/log/sdk/batch/", body)
    assert r.status == 200 and r.json()["accepted"] == len(docs), r.body
    span = {"from": iso(T0 - timedelta(hours=1)), "to": iso(T0 + timedelta(days=1))}
    who = ("(CASE WHEN strpos(doc, '\\u') = 0 OR doc !~* '\\\\u(0000|d[89a-f])'"
           " THEN (doc::json -> 'metadata') ->> '{f}' END)")
    vals = ["u1", "7", "7.0", "true", '{"a": 1}', "dup1", "dup2", 'a"b', "c1", "c2",
            "nobody"]

    def check():
        for key, f in (("user", "user_id"), ("company", "company_id")):
            for v in vals:
                lit = v.replace("'", "''")
                want = int(c.sql(f"SELECT count(*) FROM events WHERE "
                                 f"{who.format(f=f)} = '{lit}'"))
                got = c.get("/api/v1/stats/series", **{key: v}, **span).json()
                assert got["totals"]["requests"] == want, (key, v)
                ids = c.get("/api/v1/search", **{key: v}, **span).json()["events"]
                assert len(ids) == want, (key, v)
    def listed():
        evs = c.get("/api/v1/search", limit=100, **span).json()["events"]
        users = c.get("/api/v1/stats/users", **span).json()["users"]
        return ([(e["event_id"], e["user_id"], e["company_id"]) for e in evs],
                [(u["id"], u["requests"], u["company_id"]) for u in users])
    check()
    assert c.sql("SELECT count(*) FROM events WHERE user_id = 'u1'") == "2"
    shown = listed()
    assert ("odd-5", "dup2", None) in shown[0] and ("odd-100", None, None) in shown[0]
    # as a database upgraded to schema 9 has them: filled by nobody
    c.sql("UPDATE events SET user_id = NULL, company_id = NULL, who_set = false")
    check()
    assert listed() == shown
