"""Every status code and status_description of PROTOCOL.md, over real HTTP."""
import gzip
import json

from otas_testing.collector import AUTH_PATH, BATCH_PATH, LOG_PATH, make_event


def test_healthz(collector):
    r = collector.request("GET", "/healthz")
    assert r.status == 200 and r.json() == {"status": "ok"}


def test_authenticate_ok(collector):
    r = collector.post_json(AUTH_PATH, b"")
    assert r.status == 200
    body = r.json()
    assert body["status"] == 1 and body["status_description"] == "authenticated"
    assert body["response"]["project"] == {
        "id": collector.project_id, "name": "Test project", "description": ""}


def test_authenticate_errors(collector):
    r = collector.post_json(AUTH_PATH, b"", key=None)
    assert (r.status, r.json()) == (401, {"error": "SDK Key missing"})
    r = collector.post_json(AUTH_PATH, b"", key="garbage")
    assert (r.status, r.json()) == (403, {"error": "Invalid Key Format"})
    r = collector.post_json(AUTH_PATH, b"", key="otas_abc_def")
    assert (r.status, r.json()) == (403, {"error": "Invalid SDK Key"})
    # right shape, right prefix, wrong secret
    bad = collector.key[:-1] + ("A" if collector.key[-1] != "A" else "B")
    r = collector.post_json(AUTH_PATH, b"", key=bad)
    assert (r.status, r.json()) == (403, {"error": "Invalid SDK Key"})
    r = collector.request("GET", AUTH_PATH, headers={"X-OTAS-SDK-KEY": collector.key})
    assert r.status == 405


def test_log_one_event(collector):
    r = collector.send_event(make_event(1))
    assert r.status == 201
    b = r.json()
    assert b["status"] == 1 and b["status_description"] == "event_captured"
    (ev,) = collector.events()
    assert ev["path"] == "/api/items/1" and ev["event_id"] == b["response"]["event_id"]
    # a generated id is a UUIDv7
    assert ev["event_id"][14] == "7"


def test_log_errors(collector):
    def status(r):
        return r.status, r.json()["status"], r.json()["status_description"]

    assert status(collector.send_event(make_event(), key=None)) == (401, 0, "missing_sdk_key")
    assert status(collector.send_event(make_event(), key="nope")) == (401, 0, "invalid_sdk_key")
    assert status(collector.send_event(make_event(), key="x" * 60)) == (401, 0, "invalid_sdk_key")
    assert status(collector.post_json(LOG_PATH, b"{not json")) == (400, 0, "invalid_json")
    assert status(collector.post_json(LOG_PATH, b"[1,2]")) == (400, 0, "invalid_json")
    ev = make_event()
    del ev["path"], ev["latency_ms"]
    r = collector.send_event(ev)
    assert status(r) == (400, 0, "missing_required_fields")
    assert sorted(r.json()["missing_fields"]) == ["latency_ms", "path"]
    r = collector.send_event(make_event(status_code="200"))
    assert status(r) == (400, 0, "invalid_field_types")
    assert r.json()["invalid_fields"] == ["status_code"]
    assert collector.events() == []


def test_batch_ok_and_rejected(collector):
    bad = make_event(2)
    del bad["method"]
    r = collector.send_batch([make_event(1), bad, 7, make_event(3, error="boom")])
    assert r.status == 200
    assert r.json() == {
        "status": 1, "status_description": "batch_captured", "accepted": 2,
        "duplicates": 0,
        "rejected": [
            {"index": 1, "status_description": "missing_required_fields"},
            {"index": 2, "status_description": "invalid_event"},
        ]}
    assert len(collector.events()) == 2


def test_batch_answer_bytes(collector):
    """A batch with nothing rejected is answered with these exact bytes
    (written without jansson, routes.c answer_batch), the compact JSON
    of the same object as an answer with rejections."""
    r = collector.send_batch([make_event(1, event_id="b-1"), make_event(2, event_id="b-2")])
    assert (r.status, r.headers["content-type"]) == (200, "application/json")
    assert r.body == (b'{"status":1,"status_description":"batch_captured",'
                      b'"accepted":2,"duplicates":0,"rejected":[]}')
    r = collector.send_batch([make_event(1, event_id="b-1"), make_event(3, event_id="b-3")])
    assert r.body == (b'{"status":1,"status_description":"batch_captured",'
                      b'"accepted":1,"duplicates":1,"rejected":[]}')
    r = collector.send_batch([make_event(4, event_id="b-4"), 7])
    assert r.body == (b'{"status":1,"status_description":"batch_captured",'
                      b'"accepted":1,"duplicates":0,"rejected":'
                      b'[{"index":1,"status_description":"invalid_event"}]}')


def test_batch_errors(collector):
    def status(r):
        return r.status, r.json()["status_description"]

    assert status(collector.send_batch([make_event()], key=None)) == (401, "missing_sdk_key")
    assert status(collector.send_batch([make_event()], key="bad")) == (401, "invalid_sdk_key")
    assert status(collector.post_json(BATCH_PATH, b"{")) == (400, "invalid_json")
    assert status(collector.post_json(BATCH_PATH, {"events": {}})) == (400, "invalid_batch")
    assert status(collector.post_json(BATCH_PATH, [make_event()])) == (400, "invalid_batch")
    assert status(collector.post_json(BATCH_PATH, {"evts": []})) == (400, "invalid_batch")
    r = collector.post_json(BATCH_PATH, b"x", headers={"Content-Encoding": "br"})
    assert status(r) == (415, "unsupported_content_encoding")
    r = collector.post_json(BATCH_PATH, b"not gzip", headers={"Content-Encoding": "gzip"})
    assert status(r) == (400, "invalid_gzip")
    r = collector.request("GET", BATCH_PATH)
    assert r.status == 405


def test_batch_gzip(collector):
    r = collector.send_batch([make_event(i) for i in range(50)], gzip=True)
    assert r.status == 200 and r.json()["accepted"] == 50
    assert len(collector.events()) == 50


def test_limits(make_collector):
    c = make_collector(["--max-body-bytes", "20000", "--max-decoded-bytes", "100000",
                        "--max-batch-events", "10"])
    # over the body limit, declared by Content-Length: refused before reading
    r = c.send_batch([make_event(i, response_body="x" * 1000) for i in range(30)])
    assert (r.status, r.json()["status_description"]) == (413, "payload_too_large")
    r = c.send_event(make_event(response_body="x" * 30000))
    assert (r.status, r.json()["status_description"]) == (413, "payload_too_large")
    r = c.send_batch([make_event(i) for i in range(11)])
    assert (r.status, r.json()["status_description"]) == (413, "too_many_events")
    r = c.send_batch([make_event(i) for i in range(10)])
    assert r.status == 200 and r.json()["accepted"] == 10


def test_chunked_body_over_limit(make_collector):
    import http.client
    c = make_collector(["--max-body-bytes", "1000"])

    def chunks():
        for _ in range(10):
            yield b" " * 500

    conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
    conn.request("POST", BATCH_PATH, body=chunks(), encode_chunked=True,
                 headers={"X-OTAS-SDK-KEY": c.key, "Transfer-Encoding": "chunked"})
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["status_description"] == "payload_too_large"


def test_gzip_bomb(make_collector):
    c = make_collector(["--max-decoded-bytes", "1000000"])
    # 1 GB of spaces compresses to ~1 MB; build it in chunks
    comp = gzip.compress(b"{\"events\": [" + b" " * (200 * 1024 * 1024) + b"]}", 9)
    assert len(comp) < 16 * 1024 * 1024
    r = c.request("POST", BATCH_PATH, comp, {
        "X-OTAS-SDK-KEY": c.key, "Content-Encoding": "gzip",
        "Content-Type": "application/json"})
    assert (r.status, r.json()["status_description"]) == (413, "payload_too_large")
    # the collector did not inflate it: resident memory stays far below 200 MB
    rss_kb = int([l for l in open(f"/proc/{c.proc.pid}/status")
                  if l.startswith("VmHWM:")][0].split()[1])
    assert rss_kb < 100 * 1024
    assert c.request("GET", "/healthz").status == 200


def test_unknown_path(collector):
    assert collector.request("GET", "/nope").status == 404
    assert collector.request("POST", "/api/v1/backend/log/sdk").status == 404


def test_keep_alive(collector):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=10)
    for i in range(20):
        conn.request("POST", BATCH_PATH, body=json.dumps({"events": [make_event(i)]}),
                     headers={"X-OTAS-SDK-KEY": collector.key})
        r = conn.getresponse()
        r.read()
        assert r.status == 200
    sock = conn.sock
    assert sock is not None  # same connection all along
    conn.close()
    assert len(collector.events()) == 20


def test_header_limit(make_collector):
    c = make_collector(["--max-header-bytes", "4096"])
    r = c.request("GET", "/healthz", headers={"X-Big": "x" * 100000})
    assert r.status in (413, 431)
    assert c.request("GET", "/healthz").status == 200


def test_slow_client_times_out(make_collector):
    import socket
    import time
    c = make_collector(["--timeout", "1"])
    s = socket.create_connection(("127.0.0.1", c.port))
    s.sendall(b"POST /api/v1/backend/log/sdk/batch/ HTTP/1.1\r\nHost: x\r\n")  # never ends
    s.settimeout(10)
    t0 = time.monotonic()
    assert s.recv(100) == b""  # the collector closed it
    assert time.monotonic() - t0 < 8
    s.close()
    assert c.request("GET", "/healthz").status == 200


def test_connection_limit(make_collector):
    import http.client
    c = make_collector(["--max-connections", "2"])
    held = [http.client.HTTPConnection("127.0.0.1", c.port, timeout=5) for _ in range(2)]
    for h in held:
        h.request("GET", "/healthz")
        assert h.getresponse().read()  # both kept alive
    extra = http.client.HTTPConnection("127.0.0.1", c.port, timeout=5)
    try:
        extra.request("GET", "/healthz")
        refused = False
        extra.getresponse()
    except (ConnectionError, http.client.HTTPException, OSError):
        refused = True
    assert refused
    for h in held:
        h.close()
