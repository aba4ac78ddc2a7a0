"""Load shedding: 429 with Retry-After when too many batches wait to commit."""
import http.client
import json
import threading

from otas_testing.collector import make_event


def test_always_shed_with_zero_threshold(make_collector):
    c = make_collector(["--max-pending", "0"])
    r = c.send_batch([make_event(1)])
    assert r.status == 429 and r.headers["retry-after"] == "1"
    assert r.json() == {"status": 0, "status_description": "overloaded"}
    r = c.send_event(make_event(1))
    assert r.status == 429 and "retry-after" in r.headers
    # queries and auth are not shed
    assert c.get("/api/v1/events").status == 200


def test_shed_under_contention(make_collector):
    c = make_collector(["--max-pending", "1", "--test-commit-delay-ms", "1000"])
    results = []
    lock = threading.Lock()

    def client(n):
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=30)
        conn.request("POST", "/api/v1/backend/log/sdk/batch/",
                     body=json.dumps({"events": [make_event(n, event_id=f"s{n}")]}),
                     headers={"X-OTAS-SDK-KEY": c.key})
        r = conn.getresponse()
        with lock:
            results.append((r.status, r.getheader("Retry-After"), json.loads(r.read())))
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(s for s, _, _ in results)
    assert 200 in statuses and 429 in statuses
    assert all(ra == "1" for s, ra, _ in results if s == 429)
    accepted = sum(b["accepted"] for s, _, b in results if s == 200)
    assert len(c.events()) == accepted == statuses.count(200)
