"""Content-Encoding: zstd on the ingest endpoints, over real HTTP: bodies
decode, the decoded-size limit holds for a zstd bomb (413 without
inflating it), bad frames are 400, and the authenticate answer tells the
SDK that this collector decodes zstd."""
import zstandard

from otas_testing.collector import AUTH_PATH, BATCH_PATH, LOG_PATH, make_event


def zpost(c, path, raw, **kw):
    return c.request("POST", path, raw, {
        "X-OTAS-SDK-KEY": c.key, "Content-Encoding": "zstd",
        "Content-Type": "application/json", **kw})


def ingest_counts(c):
    r = c.get("/api/v1/collector/stats")
    assert r.status == 200, r.body
    return r.json()["ingest"]


def test_authenticate_advertises_zstd(collector):
    r = collector.post_json(AUTH_PATH, b"")
    assert r.status == 200
    assert r.json()["response"]["accept_encoding"] == ["zstd", "gzip"]


def test_batch_and_single_event_in_zstd(collector):
    import json
    before = ingest_counts(collector)
    body = json.dumps({"events": [make_event(i) for i in range(50)]}).encode()
    r = zpost(collector, BATCH_PATH, zstandard.ZstdCompressor(level=1).compress(body))
    assert r.status == 200 and r.json()["accepted"] == 50, r.body
    # a streamed frame (no content size in its header) decodes too
    one = json.dumps(make_event(99)).encode()
    cobj = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    r = zpost(collector, LOG_PATH, cobj.compress(one) + cobj.flush())
    assert r.status == 201, r.body
    paths = sorted(e["path"] for e in collector.events(limit=1000))
    assert len(paths) == 51 and "/api/items/99" in paths
    after = ingest_counts(collector)
    assert after["zstd_bodies"] - before["zstd_bodies"] == 2
    assert after["gzip_bodies"] == before["gzip_bodies"]


def test_bad_zstd_is_400(collector):
    r = zpost(collector, BATCH_PATH, b"not zstd at all")
    assert (r.status, r.json()["status_description"]) == (400, "invalid_zstd")
    good = zstandard.ZstdCompressor().compress(b'{"events":[]}')
    r = zpost(collector, BATCH_PATH, good[:-3])  # truncated frame
    assert (r.status, r.json()["status_description"]) == (400, "invalid_zstd")
    r = collector.request("POST", BATCH_PATH, good, {
        "X-OTAS-SDK-KEY": collector.key, "Content-Encoding": "br"})
    assert (r.status, r.json()["status_description"]) == (415, "unsupported_content_encoding")


def test_zstd_bomb_over_the_decoded_limit_is_413(make_collector):
    c = make_collector(["--max-decoded-bytes", "1000000"])
    raw = b'{"events": [' + b" " * (200 * 1024 * 1024) + b"]}"
    for content_size in (True, False):
        comp = zstandard.ZstdCompressor(level=3, write_content_size=content_size).compress(raw)
        assert len(comp) < 64 * 1024  # 200 MB in a few KB
        r = zpost(c, BATCH_PATH, comp)
        assert (r.status, r.json()["status_description"]) == (413, "payload_too_large")
    # just under the limit is accepted
    ok = b'{"events": [' + b" " * 900000 + b"]}"
    r = zpost(c, BATCH_PATH, zstandard.ZstdCompressor().compress(ok))
    assert r.status == 200 and r.json()["accepted"] == 0, r.body
    # the collector never inflated the bomb
    rss_kb = int([l for l in open(f"/proc/{c.proc.pid}/status")
                  if l.startswith("VmHWM:")][0].split()[1])
    assert rss_kb < 100 * 1024
    assert c.request("GET", "/healthz").status == 200


def test_platform_compat_does_not_advertise_zstd(make_collector):
    # --platform-compat answers as the OTAS platform, which lists no
    # encodings: an SDK pointed at it sends gzip, as it would to the platform
    c = make_collector(["--platform-compat"])
    r = c.post_json(AUTH_PATH, b"")
    assert r.status == 200
    assert "accept_encoding" not in r.json()["response"]
