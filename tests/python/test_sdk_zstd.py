"""Batch compression toward the back end, end to end with real processes:
zstd toward an otas-collector (which says it decodes it), gzip when told
or toward a back end that does not say so, and a 415 to zstd falls back
to gzip for good."""
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import zstandard

from otas_testing.collector import Collector
from sdk_support import run_app, wait_for

CAPTURE = """
import json, django, otas
django.setup()
from django.test import Client
c = Client()
for i in range({lo}, {hi}):
    c.get(f"/api/pid/{{i}}")
print("RESULT " + json.dumps({{"flushed": otas.flush(15), "stats": otas.stats()}}))
"""


def env_for(coll, **extra):
    return {"OTAS_SDK_KEY": coll.key, "OTAS_BASE_URL": coll.url,
            "OTAS_FLUSH_INTERVAL_MS": "100", **extra}


def count_paths(coll, lo, hi):
    evs = coll.events(route="api/pid/<int:n>", limit=100000)
    ns = [int(e["path"].rsplit("/", 1)[1]) for e in evs]
    mine = [n for n in ns if lo <= n < hi]
    return len(mine), len(set(mine))


def ingest_counts(coll):
    r = coll.get("/api/v1/collector/stats")
    assert r.status == 200, r.body
    return r.json()["ingest"]


def test_events_arrive_through_zstd_and_gzip_when_told(tmp_path):
    coll = Collector(tmp_path / "collector")
    coll.start()
    try:
        before = ingest_counts(coll)
        p, res = run_app(env_for(coll), code=CAPTURE.format(lo=100, hi=160))
        assert res is not None, p.stderr
        assert res["flushed"] is True and res["stats"]["sent"] == 60
        assert wait_for(lambda: count_paths(coll, 100, 160) == (60, 60),
                        what="60 events")
        mid = ingest_counts(coll)
        # every batch came as zstd: none fell back to gzip silently
        assert mid["zstd_bodies"] - before["zstd_bodies"] == res["stats"]["batches"] >= 1
        assert mid["gzip_bodies"] == before["gzip_bodies"]

        p, res = run_app(env_for(coll, OTAS_COMPRESSION="gzip"),
                         code=CAPTURE.format(lo=200, hi=230))
        assert res is not None, p.stderr
        assert res["stats"]["sent"] == 30
        assert wait_for(lambda: count_paths(coll, 200, 230) == (30, 30), what="30 events")
        after = ingest_counts(coll)
        assert after["zstd_bodies"] == mid["zstd_bodies"]
        assert after["gzip_bodies"] - mid["gzip_bodies"] == res["stats"]["batches"] >= 1
    finally:
        coll.stop()


class FakeBackend:
    """A back end that answers authentication (optionally listing zstd) and
    batches; zstd batches get 415 when `refuse_zstd`.  Records the encoding
    and event count of each batch."""

    def __init__(self, advertise, refuse_zstd):
        self.batches = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                enc = self.headers.get("Content-Encoding", "")
                if "authenticate" in self.path:
                    resp = {"project": {"id": "p1", "name": "n", "description": ""}}
                    if advertise:
                        resp["accept_encoding"] = ["zstd", "gzip"]
                    return self.answer(200, {"status": 1, "status_description":
                                             "authenticated", "response": resp})
                if enc == "zstd" and refuse_zstd:
                    outer.batches.append((enc, None))
                    return self.answer(415, {"status": 0, "status_description":
                                             "unsupported_content_encoding"})
                body = (zstandard.ZstdDecompressor().decompressobj().decompress(raw)
                        if enc == "zstd" else gzip.decompress(raw) if enc == "gzip" else raw)
                n = len(json.loads(body)["events"])
                outer.batches.append((enc, n))
                return self.answer(200, {"status": 1, "status_description": "ok",
                                         "accepted": n, "duplicates": 0, "rejected": []})

            def answer(self, code, obj):
                b = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


KEY = "otas_AAAAAAAAAAA_" + "D" * 43
BATCHES = """
import json, django, otas
django.setup()
from django.test import Client
c = Client()
for r in range(3):
    for i in range(10):
        c.get(f"/api/pid/{r * 10 + i}")
    otas.flush(10)
print("RESULT " + json.dumps({"stats": otas.stats()}))
"""


def test_backend_that_does_not_advertise_zstd_gets_gzip(tmp_path):
    fb = FakeBackend(advertise=False, refuse_zstd=True)
    try:
        p, res = run_app({"OTAS_SDK_KEY": KEY, "OTAS_BASE_URL": fb.url}, code=BATCHES)
        assert res is not None, p.stderr
        assert res["stats"]["sent"] == 30
        assert fb.batches and {e for e, _ in fb.batches} == {"gzip"}
        assert sum(n for _, n in fb.batches) == 30
    finally:
        fb.close()


def test_415_to_zstd_falls_back_to_gzip_and_remembers(tmp_path):
    fb = FakeBackend(advertise=True, refuse_zstd=True)
    try:
        p, res = run_app({"OTAS_SDK_KEY": KEY, "OTAS_BASE_URL": fb.url}, code=BATCHES)
        assert res is not None, p.stderr
        assert res["stats"]["sent"] == 30 and res["stats"]["dropped"]["rejected"] == 0
        # one zstd attempt, refused; then gzip for this and every later batch
        assert fb.batches[0] == ("zstd", None)
        assert [e for e, _ in fb.batches[1:]] == ["gzip"] * (len(fb.batches) - 1)
        assert len(fb.batches) >= 4  # three flushes, so three batches after the 415
        assert sum(n for _, n in fb.batches[1:]) == 30
    finally:
        fb.close()
