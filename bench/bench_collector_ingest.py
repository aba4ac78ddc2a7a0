"""Ingest throughput of otas-collector: 1 KB events, batches of 100, gzip,
concurrent keep-alive clients, durable acknowledgement (synchronous=FULL,
group commit). Prints a table.

    .venv/bin/python bench/bench_collector_ingest.py [--clients 8] [--batches 400]
        [--client c|python] [--sync full|normal] [--no-gzip]
        [--bin build/c/collector/otas-collector]

--client c (default): the load generator in bench/bench_collector_ingest.c
(`load` mode; built on demand with cmake --build build/c --target
bench_collector_ingest): threads with one kept-alive libcurl handle each,
gzip bodies built before the clock starts.  --client python: one process per
client (http.client), which costs the machine about as much CPU as the
collector itself, so on 2 cores it measures the client as much as the
server.  Either way the client's own CPU is reported.

Each client builds its bodies before the clock starts (distinct UUIDv7(-like)
event ids, ~1.1-1.2 KB of JSON per event, part random so gzip is realistic),
then sends them one after another on one kept-alive connection.  The
collector must answer every batch 200 with accepted == 100; the final row
count is checked in the database.
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import json
import multiprocessing as mp
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from otas_testing import Collector  # noqa: E402


def make_event(client: int, b: int, i: int) -> dict:
    ms = int(time.time() * 1000)
    eid = f"{ms >> 16:08x}-{ms & 0xffff:04x}-7{client:03x}-8{b:03x}-{i:012x}"
    return {
        "event_id": eid,
        "project_id": "bench",
        "path": f"/api/items/{i}",
        "method": "POST" if i % 4 == 0 else "GET",
        "status_code": 500 if i % 50 == 0 else 200,
        "latency_ms": 0.5 + (i % 37) * 0.7,
        "request_size_bytes": 120,
        "response_size_bytes": 480,
        "request_headers": json.dumps({"content-type": "application/json",
                                       "user-agent": "bench/1.0",
                                       "x-request-id": secrets.token_hex(8)}),
        "response_headers": "{\"content-type\": \"application/json\"}",
        "request_body": json.dumps({"name": "item", "qty": i, "note": secrets.token_hex(24)}),
        "response_body": json.dumps({"id": i, "name": "item", "tags": ["a", "b"],
                                     "blob": secrets.token_urlsafe(180)}),
        "query_params": "{}",
        "post_data": "{}",
        "request_content_type": "application/json",
        "response_content_type": "application/json",
        "custom_properties": {},
        "error": "",
        "agent_session_token": "",
        "metadata": {"route": "api/items/<int:pk>",
                     "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
                     "sdk": "otas-python/0.2.0", "host": "bench", "direction": "incoming"},
    }


def client(n, port, key, batches, batch_size, use_gzip, barrier, q):
    bodies = []
    raw_bytes = 0
    for b in range(batches):
        body = json.dumps({"events": [make_event(n, b, i) for i in range(batch_size)]}).encode()
        raw_bytes += len(body)
        bodies.append(gzip.compress(body, 1) if use_gzip else body)
    headers = {"X-OTAS-SDK-KEY": key, "Content-Type": "application/json"}
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.connect()
    lat = []
    bad = 0
    barrier.wait()
    cpu0 = time.process_time()
    for body in bodies:
        t = time.perf_counter()
        conn.request("POST", "/api/v1/backend/log/sdk/batch/", body, headers)
        r = conn.getresponse()
        data = r.read()
        lat.append(time.perf_counter() - t)
        if r.status != 200 or json.loads(data)["accepted"] != batch_size:
            bad += 1
    conn.close()
    q.put((lat, bad, raw_bytes, sum(len(b) for b in bodies), time.process_time() - cpu0))


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the collector has used so far."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def run_c(a, c):
    """The C load generator (bench_collector_ingest load); see the docstring."""
    if a.batch_size != 100 or a.no_gzip:
        sys.exit("--client c sends gzip batches of 100")
    # Beside the collector under test, else in the plain CMake build
    # (make bench builds it there).
    tool = Path(os.environ["OTAS_COLLECTOR_BIN"]).resolve().parent / "bench_collector_ingest"
    if not tool.exists():
        tool = Path(__file__).resolve().parent.parent / "build/c/collector/bench_collector_ingest"
    if not tool.exists():
        sys.exit(f"{tool.name} is not built: cmake --build build/c --target {tool.name}")
    cpu0 = server_cpu(c.proc.pid)
    out = subprocess.run([str(tool), "load", str(c.port), c.key, str(a.clients),
                          str(a.batches)], capture_output=True, text=True)
    cpu = server_cpu(c.proc.pid) - cpu0  # the collector idles while bodies are built
    f = out.stdout.split()
    if out.returncode not in (0, 1) or len(f) != 12:
        sys.exit(f"load generator failed: {out.stdout} {out.stderr}")
    v = dict(zip(f[0::2], f[1::2]))
    return (float(v["seconds"]), cpu, int(v["failed"]), float(v["client_cpu"]),
            float(v["p50_ms"]) / 1e3, float(v["p99_ms"]) / 1e3, None, None)


def run_python(a, c):
    """One http.client process per client."""
    barrier = mp.Barrier(a.clients + 1)
    q = mp.Queue()
    procs = [mp.Process(target=client, args=(n, c.port, c.key, a.batches, a.batch_size,
                                             not a.no_gzip, barrier, q))
             for n in range(a.clients)]
    for p in procs:
        p.start()
    barrier.wait()
    cpu0 = server_cpu(c.proc.pid)
    t0 = time.perf_counter()
    results = [q.get() for _ in procs]
    elapsed = time.perf_counter() - t0
    cpu = server_cpu(c.proc.pid) - cpu0
    for p in procs:
        p.join()
    lat = sorted(x for r in results for x in r[0])
    return (elapsed, cpu, sum(r[1] for r in results), sum(r[4] for r in results),
            lat[len(lat) // 2], lat[int(len(lat) * 0.99)],
            sum(r[2] for r in results), sum(r[3] for r in results))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batches", type=int, default=400, help="per client")
    ap.add_argument("--client", default="c", choices=["c", "python"])
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--sync", default="full", choices=["full", "normal"])
    ap.add_argument("--no-gzip", action="store_true")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--bin", default=None)
    a = ap.parse_args()
    if a.bin:
        os.environ["OTAS_COLLECTOR_BIN"] = a.bin
    os.environ.setdefault("OTAS_COLLECTOR_BIN", "build/c/collector/otas-collector")
    tmp = tempfile.mkdtemp(prefix="otas-bench-")
    c = Collector(tmp).start(extra_args=["--quiet", "--sync", a.sync,
                                         "--threads", str(a.threads)])
    try:
        run = run_c if a.client == "c" else run_python
        elapsed, cpu, bad, client_cpu, p50, p99, raw, sent = run(a, c)
    finally:
        c.stop()
    n_events = a.clients * a.batches * a.batch_size
    db = sqlite3.connect(c.db_path)
    stored = db.execute("SELECT count(*) FROM events").fetchone()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    rows = [
        ("commit", commit),
        ("machine", f"{os.cpu_count()} cores, {os.uname().machine}"),
        ("clients (keep-alive)", a.clients),
        ("batch size", a.batch_size),
        ("gzip", not a.no_gzip),
        ("sync", a.sync),
        ("client", a.client),
        ("event size (JSON)", f"{raw / n_events:.0f} B" if raw else "1140 B"),
        ("bytes on the wire", f"{sent / 1e6:.1f} MB" if sent else "-"),
        ("events sent", n_events),
        ("events stored", stored),
        ("failed batches", bad),
        ("elapsed", f"{elapsed:.2f} s"),
        ("events/s", f"{n_events / elapsed:,.0f}"),
        ("collector CPU", f"{cpu:.2f} s = {cpu / n_events * 1e6:.1f} us/event "
                          f"({cpu / elapsed:.2f} cores)"),
        ("client CPU", f"{client_cpu:.2f} s = {client_cpu / n_events * 1e6:.1f} us/event "
                       f"({client_cpu / elapsed:.2f} cores)"),
        ("load average", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("batch p50 / p99", f"{p50 * 1e3:.1f} / {p99 * 1e3:.1f} ms"),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    if stored != n_events or bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
