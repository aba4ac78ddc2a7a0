"""The query API: filters, cursors, single event, stats."""
import pytest

import time
from otas_testing.collector import make_event


def ts(day, sec):
    return f"2026-01-{day:02d}T00:00:{sec:02d}.000000Z"


@pytest.fixture
def loaded(collector):
    evs = []
    for i in range(30):
        e = make_event(i, event_id=f"q-{i:02d}", latency_ms=float(i + 1),
                       method="GET" if i % 3 else "POST",
                       status_code=500 if i % 10 == 9 else 200,
                       path=f"/api/items/{i}",
                       metadata={"route": "api/items/<int:pk>" if i % 2 else "api/other",
                                 "timestamp": ts(1 + i // 10, i % 10)})
        evs.append(e)
    evs[5]["error"] = "ValueError: x"
    assert collector.send_batch(evs).json()["accepted"] == 30
    return collector


def ids(events):
    return [e["event_id"] for e in events]


def test_newest_first_and_fields(loaded):
    evs = loaded.events()
    assert ids(evs) == [f"q-{i:02d}" for i in reversed(range(30))]
    e = evs[0]
    assert e["request_headers"] == {} and isinstance(e["metadata"], dict)
    assert e["response_headers"] == {"content-type": "application/json"}
    assert {"agent_id", "agent_session_id", "agent_verified", "received_at"} <= set(e)


def test_filters(loaded):
    assert ids(loaded.events(path="/api/items/3")) == ["q-03"]
    assert len(loaded.events(route="api/other")) == 15
    assert len(loaded.events(method="POST")) == 10
    assert ids(loaded.events(status=500)) == ["q-29", "q-19", "q-09"]
    # time filters use metadata.timestamp; RFC 3339 and unix seconds
    assert len(loaded.events(since="2026-01-02T00:00:00Z")) == 20
    assert len(loaded.events(since="2026-01-02T00:00:00Z", until="2026-01-02T00:00:04Z")) == 5
    assert len(loaded.events(until=1767225600 + 2)) == 3  # 2026-01-01T00:00:02Z
    assert len(loaded.events(method="GET", route="api/other", status=200)) == 10
    assert loaded.get("/api/v1/events", since="yesterday").status == 400
    assert loaded.get("/api/v1/events", limit=0).status == 400
    assert loaded.get("/api/v1/events", limit=100001).status == 400
    assert loaded.get("/api/v1/events", cursor="zz").status == 400


def test_cursor_paging(loaded):
    seen = []
    cursor = None
    pages = 0
    while True:
        page = loaded.get("/api/v1/events", limit=7, cursor=cursor).json()
        seen += ids(page["events"])
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == 5 and seen == [f"q-{i:02d}" for i in reversed(range(30))]
    page = loaded.get("/api/v1/events", limit=30).json()
    assert page["next"] is None and len(page["events"]) == 30
    # cursors compose with filters
    p1 = loaded.get("/api/v1/events", limit=2, method="POST").json()
    p2 = loaded.get("/api/v1/events", limit=2, method="POST", cursor=p1["next"]).json()
    assert ids(p1["events"]) + ids(p2["events"]) == ["q-27", "q-24", "q-21", "q-18"]


def test_event_by_id(loaded):
    r = loaded.get("/api/v1/events/q-05")
    assert r.status == 200 and r.json()["error"] == "ValueError: x"
    assert loaded.get("/api/v1/events/nope").status == 404


def test_auth_required(loaded):
    for path in ["/api/v1/events", "/api/v1/events/q-01", "/api/v1/stats/endpoints",
                 "/api/v1/stats/timeseries", "/api/v1/agent-sessions", "/api/v1/project"]:
        assert loaded.get(path, key=None).status == 401, path
        assert loaded.get(path, key="otas_x_y").status == 401, path


def test_stats_endpoints(loaded):
    r = loaded.get("/api/v1/stats/endpoints")
    eps = {(e["method"], e["route"]): e for e in r.json()["endpoints"]}
    # GET api/other: even i not multiple of 3 -> 2,4,8,10,14,16,20,22,26,28
    e = eps[("GET", "api/other")]
    assert e["count"] == 10 and e["errors"] == 0
    assert e["p50_latency_ms"] == 15.0  # nearest rank and e["p99_latency_ms"] == 29.0
    e = eps[("POST", "api/items/<int:pk>")]  # 3, 9, 15, 21, 27
    assert e["count"] == 5 and e["errors"] == 1  # 9 is a 500
    assert e["error_rate"] == pytest.approx(0.2)
    # 1,5,7,...,29: 5 has an error string, 19 and 29 are 500s
    assert eps[("GET", "api/items/<int:pk>")]["errors"] == 3
    r = loaded.get("/api/v1/stats/endpoints", since="2026-01-03T00:00:00Z")
    assert sum(e["count"] for e in r.json()["endpoints"]) == 10


def test_stats_latency_and_timeseries(loaded):
    r = loaded.get("/api/v1/stats/latency", method="GET", route="api/other").json()
    assert r["count"] == 10 and sum(b["count"] for b in r["buckets"]) == 10
    assert r["buckets"][-1]["le"] is None
    le5 = [b for b in r["buckets"] if b["le"] == 5][0]
    assert le5["count"] == 2  # latencies 3 and 5
    assert loaded.get("/api/v1/stats/latency", method="GET").status == 400
    # today's traffic in the timeseries (events without timestamp use arrival)
    loaded.send_batch([make_event(1, event_id="now-1", status_code=503),
                       make_event(2, event_id="now-2")])
    s = loaded.get("/api/v1/stats/timeseries", days=7).json()["series"]
    assert len(s) == 7
    assert (s[-1]["events"], s[-1]["errors"], s[-1]["error_rate"]) == (2, 1, 0.5)
    assert loaded.get("/api/v1/stats/timeseries", days=0).status == 400


def test_project_endpoint(loaded):
    p = loaded.get("/api/v1/project").json()
    key = p.pop("key")
    assert p == {"id": loaded.project_id, "name": "Test project", "description": ""}
    # the signed-in key's role and expiry (init's default: 300 days)
    assert key["role"] == "read"
    assert abs(key["expires_at_unix"] - (time.time() + 300 * 86400)) < 120
    assert key["expires_at"].startswith(
        time.strftime("%Y-%m-%d", time.gmtime(key["expires_at_unix"])))


def test_large_limit(collector):
    for b in range(3):
        collector.send_batch([make_event(i, event_id=f"l{b}-{i}") for i in range(1000)])
    # A page is capped (1,000 events) whatever the limit; the cursor
    # pages through the rest.
    page = collector.get("/api/v1/events", limit=100000).json()
    assert len(page["events"]) == 1000 and page["next"]
    assert len(collector.events(limit=100000)) == 3000


def test_headers_query_and_form_come_back_as_objects(collector):
    ev = make_event(1, event_id="obj-1",
                    request_headers='{"accept": "text/html"}',
                    query_params='{"q": ["1"]}', post_data='{"a": ["b"]}',
                    response_headers="not json")
    assert collector.send_batch([ev]).status == 200
    e = collector.get("/api/v1/events/obj-1").json()
    assert e["request_headers"] == {"accept": "text/html"}
    assert e["query_params"] == {"q": ["1"]} and e["post_data"] == {"a": ["b"]}
    assert e["response_headers"] == "not json"
