"""The dashboard's query API (api_dash.c), on both stores: one filter
language for series, error groups, search, routes, users, companies,
agents and export."""
import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from otas_testing.collector import make_event

# A fixed hour: every event's metadata.timestamp is inside it.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
FROM = "2026-03-02T10:00:00Z"
TO = "2026-03-02T11:00:00Z"


def at(minute, sec=0):
    return (T0 + timedelta(minutes=minute, seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def ev(i, minute, *, status=200, latency=10.0, route="api/items/<int:pk>",
       path=None, method="GET", error="", errors=None, user=None, company=None,
       tags=None, version=None, trace=None, body="{}", token=""):
    md = {"timestamp": at(minute, i % 60), "event_id": f"e-{i:04d}"}
    if route is not None:
        md["route"] = route
    if user:
        md["user_id"] = user
    if company:
        md["company_id"] = company
    if tags:
        md["tags"] = tags
    if version:
        md["service_version"] = version
    if trace:
        md["trace_id"] = trace
    if errors:
        md["errors"] = errors
    e = make_event(i, event_id=f"e-{i:04d}", status_code=status, latency_ms=latency,
                   path=path or f"/api/items/{i}", method=method, error=error,
                   request_body=body, metadata=md)
    if token:
        e["agent_session_token"] = token
    return e


@pytest.fixture
def loaded(collector):
    c = collector
    bot = c.agent_session("research-bot")
    evs = []
    # minute 1: 4 ok GETs, latencies 10, 20, 30, 40 (user u1 of acme)
    for k in range(4):
        evs.append(ev(k, 1, latency=10.0 * (k + 1), user="u1", company="acme",
                      tags=["blue"], version="1.0"))
    # minute 3: three 401s on one route (no exception) and one 404
    for k in range(3):
        evs.append(ev(10 + k, 3, status=401, route="api/login", path="/api/login",
                      method="POST", user="u2", company="globex"))
    evs.append(ev(13, 3, status=404, route="api/items/<int:pk>"))
    # minute 5: two ValueErrors (500) on one route, one KeyError elsewhere
    stack = "Traceback (most recent call last):\n  File \"views.py\"\nValueError: bad"
    for k in range(2):
        evs.append(ev(20 + k, 5, status=500, latency=100.0, route="api/pay",
                      path="/api/pay", method="POST", error="ValueError: bad %d" % k,
                      errors=[{"type": "ValueError", "message": "bad %d" % k,
                               "stack": stack}], version="2.0", trace="abc123"))
    evs.append(ev(22, 5, status=500, route="api/other", path="/api/other",
                  error="KeyError: 'x'", tags=["red"]))
    # minute 7: scanner paths no route matched, and a searchable body
    for k in range(5):
        evs.append(ev(30 + k, 7, status=404, route=None, path=f"/wp-admin/{k}.php"))
    evs.append(ev(40, 7, body='{"note": "the Quick brown fox"}', user="u1",
                  company="acme"))
    # minute 9: an agent's calls
    for k in range(3):
        evs.append(ev(50 + k, 9, token=bot, status=200 if k else 503,
                      route="api/search", path="/api/search"))
    r = c.send_batch(evs)
    assert r.status == 200 and r.json()["accepted"] == len(evs), r.json()
    r = c.post_json("/api/v1/entities/batch/", {"entities": [
        {"kind": "user", "user_id": "u1", "company_id": "acme",
         "metadata": {"email": "u1@example.com"}},
        {"kind": "user", "user_id": "u9", "metadata": {"email": "quiet@example.com"}},
        {"kind": "company", "company_id": "acme", "metadata": {"name": "Acme"}},
    ]})
    assert r.status == 200, r.json()
    c.total = len(evs)
    return c


def q(c, url, /, **params):
    params.setdefault("from", FROM)
    params.setdefault("to", TO)
    r = c.get(url, **params)
    assert r.status == 200, (url, params, r.status, r.body[:300])
    return r.json()


def test_series_minute_buckets(loaded):
    s = q(loaded, "/api/v1/stats/series", bucket="auto")
    assert s["bucket"] == "minute" and len(s["series"]) == 60
    assert s["totals"]["requests"] == loaded.total
    b1 = s["series"][1]
    assert b1["t"].startswith("2026-03-02T10:01:00")
    assert b1["requests"] == 4 and b1["status"]["2xx"] == 4
    assert (b1["p50_latency_ms"], b1["p95_latency_ms"], b1["p99_latency_ms"]) == (20.0, 40.0, 40.0)
    assert b1["error_rate"] == 0.0
    b3 = s["series"][3]
    assert b3["status"]["4xx"] == 4 and b3["errors"] == 4 and b3["error_rate"] == 1.0
    # empty buckets are empty, not 0 ms
    b0 = s["series"][0]
    assert b0["requests"] == 0 and b0["p50_latency_ms"] is None and b0["error_rate"] is None
    assert s["series"][5]["status"]["5xx"] == 3
    assert s["totals"]["status"] == {"2xx": 7, "3xx": 0, "4xx": 9, "5xx": 4, "other": 0}


def test_series_buckets_and_ranges(loaded):
    h = q(loaded, "/api/v1/stats/series", bucket="hour")
    assert len(h["series"]) == 1 and h["series"][0]["requests"] == loaded.total
    d = q(loaded, "/api/v1/stats/series", bucket="day", to="2026-03-05T00:00:00Z")
    assert d["bucket"] == "day" and [b["requests"] for b in d["series"]][:1] == [loaded.total]
    # a relative range ends now: nothing of March 2026 in the last 15 minutes
    r = loaded.get("/api/v1/stats/series", range="15m").json()
    assert r["range"] == "15m" and r["bucket"] == "minute" and len(r["series"]) in (15, 16)
    assert loaded.get("/api/v1/stats/series", range="24h").json()["bucket"] == "hour"
    assert loaded.get("/api/v1/stats/series", range="30d").json()["bucket"] == "day"
    for bad in ({"range": "2w"}, {"bucket": "week"}, {"from": "yesterday"},
                {"from": TO, "to": FROM}, {"status": "6xx"}, {"status": "abc"},
                {"from": "2020-01-01T00:00:00Z", "to": TO, "bucket": "minute"},
                {"from": "3767225667225600000"}, {"to": "1e30"}, {"q": "x" * 201},
                {"unmatched": "maybe"}, {"method": "X" * 40}):
        assert loaded.get("/api/v1/stats/series", **bad).status == 400, bad
    # unix milliseconds work as from/to (the page's pickers)
    ms = int(T0.timestamp() * 1000)
    r = loaded.get("/api/v1/stats/series", **{"from": ms, "to": ms + 3600_000}).json()
    assert r["totals"]["requests"] == loaded.total


def test_filters_on_every_aggregate(loaded):
    def total(**f):
        return q(loaded, "/api/v1/stats/series", **f)["totals"]["requests"]
    assert total(status="4xx") == 9
    assert total(status="401,500") == 6
    assert total(status="500-503") == 4
    assert total(method="post") == 5
    assert total(route="api/pay") == 2
    assert total(path="/api/items/*") == 6
    assert total(path="/wp-admin/3.php") == 1
    assert total(user="u1") == 5
    assert total(company="globex") == 3
    assert total(tag="blue") == 4
    assert total(version="2.0") == 2
    assert total(trace="abc123") == 2
    assert total(unmatched=1) == 5
    assert total(q="quick BROWN") == 1
    assert total(q="100%") == 0
    assert total(status="2xx", user="u1", tag="blue") == 4
    agents = q(loaded, "/api/v1/stats/agents")["agents"]
    assert total(agent=agents[0]["agent_id"]) == 3
    # the same filter narrows the other views
    assert q(loaded, "/api/v1/errors", route="api/pay")["errors"] == 2
    assert [e["count"] for e in q(loaded, "/api/v1/stats/routes", method="POST")["endpoints"]] == [3, 2]


def test_error_groups(loaded):
    g = q(loaded, "/api/v1/errors")
    groups = {(x["kind"], x["type"] or x["status"], x["route"]): x for x in g["groups"]}
    assert g["errors"] == 13
    pay = groups[("exception", "ValueError", "api/pay")]
    assert pay["count"] == 2 and pay["method"] == "POST"
    assert pay["latest"]["message"] == "bad 1" and "Traceback" in pay["latest"]["stack"]
    assert pay["latest"]["event_id"] == "e-0021"
    assert pay["first_seen"].startswith("2026-03-02T10:05:20")
    assert pay["last_seen"].startswith("2026-03-02T10:05:21")
    assert sum(pay["series"]) == 2 and len(pay["series"]) == 30
    key = groups[("exception", "KeyError", "api/other")]
    assert key["count"] == 1 and key["latest"]["message"] == "'x'" and key["latest"]["stack"] is None
    login = groups[("status", 401, "api/login")]
    assert login["count"] == 3 and login["type"] is None
    assert groups[("status", 503, "api/search")]["count"] == 1
    # unmatched 404s from 5 paths are one group, not five
    um = groups[("status", 404, "(unmatched)")]
    assert um["count"] == 5 and um["unmatched"] is True and um["method"] == "*"
    assert groups[("status", 404, "api/items/<int:pk>")]["count"] == 1
    assert len(g["groups"]) == 6
    # drill-down: the group's filter finds exactly its events
    evs = q(loaded, "/api/v1/search", route="api/login", status="401")["events"]
    assert len(evs) == 3 and {e["status"] for e in evs} == {401}


def test_routes_fold_unmatched(loaded):
    eps = q(loaded, "/api/v1/stats/routes")["endpoints"]
    um = [e for e in eps if e["unmatched"]]
    assert len(um) == 1 and um[0]["route"] == "(unmatched)" and um[0]["count"] == 5
    assert um[0]["distinct_paths"] == 5
    assert sorted(p["path"] for p in um[0]["paths"]) == [f"/wp-admin/{k}.php" for k in range(5)]
    items = [e for e in eps if e["route"] == "api/items/<int:pk>"][0]
    assert items["count"] == 6 and items["status"]["4xx"] == 1
    assert items["p50_latency_ms"] == 10.0  # 10, 10, 10, 20, 30, 40
    assert sum(e["count"] for e in eps) == loaded.total
    # the unmatched paths are one filter away
    assert len(q(loaded, "/api/v1/search", unmatched=1)["events"]) == 5


def test_search_paging(loaded):
    seen, cursor = [], None
    while True:
        page = q(loaded, "/api/v1/search", limit=4, cursor=cursor, status="4xx,5xx")
        seen += [e["event_id"] for e in page["events"]]
        cursor = page["next"]
        if not cursor:
            break
    assert len(seen) == 13 == len(set(seen))
    page = q(loaded, "/api/v1/search", q="quick brown")
    assert [e["event_id"] for e in page["events"]] == ["e-0040"]
    e = page["events"][0]
    assert e["user_id"] == "u1" and e["company_id"] == "acme" and e["status"] == 200
    assert q(loaded, "/api/v1/search", user="nobody")["events"] == []
    assert loaded.get("/api/v1/search", limit=0).status == 400


def test_users_and_companies(loaded):
    users = {u["id"]: u for u in q(loaded, "/api/v1/stats/users")["users"]}
    assert users["u1"]["requests"] == 5 and users["u1"]["errors"] == 0
    assert users["u1"]["company_id"] == "acme"
    assert users["u1"]["entity"]["metadata"]["email"] == "u1@example.com"
    assert users["u1"]["last_seen"].startswith("2026-03-02T10:07:40")
    assert users["u2"]["requests"] == 3 and users["u2"]["errors"] == 3
    # from entity updates alone: no traffic in the range
    assert users["u9"]["requests"] == 0 and users["u9"]["last_seen"] is None
    cos = {x["id"]: x for x in q(loaded, "/api/v1/stats/companies")["companies"]}
    assert cos["acme"]["requests"] == 5 and cos["acme"]["entity"]["metadata"]["name"] == "Acme"
    assert cos["globex"]["errors"] == 3


def test_agents(loaded):
    agents = q(loaded, "/api/v1/stats/agents")["agents"]
    assert len(agents) == 1
    a = agents[0]
    assert (a["sessions"], a["calls"], a["errors"]) == (1, 3, 1)
    assert a["endpoints"] == [{"method": "GET", "route": "api/search", "count": 3, "errors": 1}]
    sessions = loaded.get("/api/v1/agent-sessions").json()["sessions"]
    sid = [s for s in sessions if s["agent_id"] == a["agent_id"]][0]["agent_session_id"]
    assert q(loaded, "/api/v1/stats/series", session=sid)["totals"]["requests"] == 3


def test_export_csv_and_json(loaded):
    r = loaded.get("/api/v1/export", format="csv", status="4xx", **{"from": FROM, "to": TO})
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.body.decode())))
    assert len(rows) == 9 and {x["status"] for x in rows} == {"401", "404"}
    assert rows[0]["event_time"].startswith("2026-03-02T10:07")
    r = loaded.get("/api/v1/export", format="json", limit=3, **{"from": FROM, "to": TO})
    body = json.loads(r.body)
    assert body["rows"] == 3 and body["truncated"] is True and len(body["events"]) == 3
    r = loaded.get("/api/v1/export", format="json", **{"from": FROM, "to": TO})
    assert json.loads(r.body)["rows"] == loaded.total
    assert loaded.get("/api/v1/export", format="xml").status == 400


def test_needs_a_read_key(loaded):
    for p in ("/api/v1/stats/series", "/api/v1/errors", "/api/v1/search",
              "/api/v1/stats/routes", "/api/v1/stats/users", "/api/v1/export"):
        assert loaded.get(p, key=None).status == 401
        assert loaded.get(p, key=loaded.key).status in (200, 403)


def test_export_streams_past_one_chunk(collector):
    # 4,500 events: the export is read in chunks of 2,000 rows
    for b in range(9):
        evs = [ev(b * 500 + k, (b * 500 + k) // 100, status=500 if k % 10 == 0 else 200,
                  user="u%d" % (k % 7)) for k in range(500)]
        for e in evs:
            e["event_id"] = e["metadata"]["event_id"] = f"s-{b}-{e['event_id']}"
        assert collector.send_batch(evs).json()["accepted"] == 500
    rng = {"from": FROM, "to": "2026-03-02T12:00:00Z"}
    r = collector.get("/api/v1/export", format="csv", limit=100000, **rng)
    rows = list(csv.DictReader(io.StringIO(r.body.decode())))
    assert len(rows) == 4500 and len({x["event_id"] for x in rows}) == 4500
    assert [x["event_time"] for x in rows] == sorted((x["event_time"] for x in rows), reverse=True)
    # a row-checked filter (status set) across chunks
    body = json.loads(collector.get("/api/v1/export", format="json", status="500,501",
                                    limit=100000, **rng).body)
    assert body["rows"] == 450 and body["truncated"] is False
    assert {e["status"] for e in body["events"]} == {500}
    body = json.loads(collector.get("/api/v1/export", format="json", limit=2500, **rng).body)
    assert body["rows"] == 2500 and body["truncated"] is True


def test_filtered_people_only_with_matching_traffic(loaded):
    users = q(loaded, "/api/v1/stats/users", company="acme")["users"]
    assert [(u["id"], u["requests"]) for u in users] == [("u1", 5)]
    assert users[0]["entity"]["metadata"]["email"] == "u1@example.com"
    # unfiltered, the entity-only user is listed too
    assert "u9" in {u["id"] for u in q(loaded, "/api/v1/stats/users")["users"]}
