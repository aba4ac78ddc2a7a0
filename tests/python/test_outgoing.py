"""Outgoing calls and reported errors, linked to the incoming request.

A real Django app (a subprocess with OTAS_CAPTURE_OUTGOING=1) calls a local
HTTP server (the third party its views talk to) through requests, httpx,
async httpx and a thread; the collector must hold the incoming event and
the outgoing ones with parent_event_id pointing at it."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sdk_support import as_obj, free_port, run_app, wait_for


@pytest.fixture
def third_party():
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            path, _, query = self.path.partition("?")
            data = json.dumps({"path": path, "query_len": len(query),
                               "got": len(body)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


APP = """
import json, django
django.setup()
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
import otas
c = Client()
out = {}
out["sync"] = c.get("/api/outgoing", {"target": TARGET}).json()
out["async"] = async_to_sync(AsyncClient().get)("/api/async-outgoing", {"target": TARGET}).json()
out["fail"] = c.get("/api/outgoing-fail", {"target": DEAD}).json()
out["observed"] = c.get("/api/observed", {"target": TARGET}).json()
out["errors"] = c.get("/api/report-errors").json()
out["flushed"] = otas.flush(10)
out["stats"] = otas.stats()
print("RESULT " + json.dumps(out))
"""


def test_outgoing_calls_linked_to_incoming(collector, third_party, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    code = APP.replace("TARGET", repr(third_party)).replace("DEAD", repr(dead))
    p, res = run_app({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                      "OTAS_SPOOL_DIR": str(tmp_path), "OTAS_CAPTURE_OUTGOING": "1"},
                     code=code)
    assert res is not None, p.stderr[-3000:]
    # The views' own results are unchanged by the capture.
    assert res["sync"]["requests"] == {"path": "/r", "query_len": 22, "got": 0}
    assert res["sync"]["httpx"]["got"] > 0
    assert res["sync"]["thread"]["path"] == "/t"
    assert res["async"]["async"]["path"] == "/a"
    assert res["fail"] == {"failed_as_expected": True}
    assert res["observed"]["observed"]["path"] == "/o"
    assert res["flushed"] is True

    def incoming(path):
        evs = [e for e in collector.events(path=path)
               if e["metadata"].get("direction") == "incoming"]
        return evs[-1] if evs else None

    sync_in = wait_for(lambda: incoming("/api/outgoing"), what="incoming event")
    parent = sync_in["metadata"]["event_id"]
    kids = wait_for(lambda: (lambda k: k if len(k) >= 3 else None)(
        [e for e in collector.events(limit=1000)
         if e["metadata"].get("parent_event_id") == parent]), what="3 outgoing events")
    assert sorted(k["path"] for k in kids) == ["/h", "/r", "/t"]
    for k in kids:
        assert k["metadata"]["direction"] == "outgoing"
        assert k["status_code"] == 200
    r = next(k for k in kids if k["path"] == "/r")
    # Outgoing headers and query are redacted like incoming ones.
    assert as_obj(r["request_headers"])["authorization"] == "[REDACTED]"
    assert as_obj(r["query_params"])["token"] == ["[REDACTED]"]
    assert "out-secret" not in json.dumps(kids)
    # The planted value is not hex, so an event id or trace id cannot hold it.
    assert "q-secret-Zx9" not in json.dumps(r)
    assert r["metadata"]["url"].endswith("/r?token=%5BREDACTED%5D&x=1")

    async_in = wait_for(lambda: incoming("/api/async-outgoing"), what="async incoming")
    akids = [e for e in collector.events(limit=1000)
             if e["metadata"].get("parent_event_id") == async_in["metadata"]["event_id"]]
    assert [k["path"] for k in akids] == ["/a"]

    fail_in = wait_for(lambda: incoming("/api/outgoing-fail"), what="fail incoming")
    fkids = [e for e in collector.events(limit=1000)
             if e["metadata"].get("parent_event_id") == fail_in["metadata"]["event_id"]]
    assert len(fkids) == 1
    assert fkids[0]["status_code"] == 0
    assert "ConnectionError" in fkids[0]["error"]

    # The collector is shared with other tests that call /api/observed
    # too (through their own third-party server): this run's incoming event
    # is the one whose child went to this test's server.
    wait_for(lambda: incoming("/api/observed"), what="observed incoming")
    everything = collector.events(limit=1000)
    ours = [e for e in everything
            if e["metadata"].get("direction") == "outgoing"
            and e["metadata"].get("url", "").startswith(third_party + "/o")]
    assert len(ours) == 1, [e["metadata"].get("url") for e in ours]
    parent_of_o = [e for e in everything
                   if e["metadata"].get("event_id") == ours[0]["metadata"]["parent_event_id"]]
    assert [e["path"] for e in parent_of_o] == ["/api/observed"]
    okids = [e for e in everything
             if e["metadata"].get("parent_event_id") == parent_of_o[0]["metadata"]["event_id"]]
    assert [k["path"] for k in okids] == ["/o"]

    err = wait_for(lambda: incoming("/api/report-errors"), what="reported errors")
    assert err["status_code"] == 200
    types = [e["type"] for e in err["metadata"]["errors"]]
    assert types == ["ValueError", "KeyError"]
    assert err["metadata"]["errors"][0]["message"] == "first problem"
