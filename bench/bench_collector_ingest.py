"""Ingest throughput of otas-collector: 1 KB events, batches of 100, gzip,
concurrent keep-alive clients, durable acknowledgement (synchronous=FULL,
group commit), on SQLite and on PostgreSQL with one and with two collectors
(--stores sqlite,pg1,pg2, side by side in one table).  PostgreSQL is a
throwaway durable server (tests/otas_testing/postgres.py: fsync on); the
two-collector run splits the clients between two processes on one
database, each fed by its own load generator.  Collector and PostgreSQL CPU
per event are reported separately.

    .venv/bin/python bench/bench_collector_ingest.py [--clients 8] [--batches 400]
        [--client c|python] [--sync full|normal] [--no-gzip]
        [--stores sqlite,pg1,pg2] [--prefill N] [--bin build/c/collector/otas-collector]

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
import atexit
import gzip
import http.client
import json
import multiprocessing as mp
import os
import secrets
import shutil
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
                     "sdk": "otas-python/0.2.0", "host": "bench", "direction": "incoming",
                     **tagged(i)},
    }


def tagged(i: int) -> dict:
    """--tags N (python client): N tags of 10 and a user of 1,000 per event,
    so the tag rollups (rollup_tags, rollup_people_tags) have rows to write."""
    n = int(os.environ.get("OTAS_BENCH_TAGS", "0"))
    if not n:
        return {}
    return {"tags": [f"t{(i + k) % 10}" for k in range(n)], "user_id": f"u{i % 1000}"}


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


def load_tool():
    # Beside the collector under test, else in the plain CMake build
    # (make bench builds it there).
    tool = Path(os.environ["OTAS_COLLECTOR_BIN"]).resolve().parent / "bench_collector_ingest"
    if not tool.exists():
        tool = Path(__file__).resolve().parent.parent / "build/c/collector/bench_collector_ingest"
    if not tool.exists():
        sys.exit(f"{tool.name} is not built: cmake --build build/c --target {tool.name}")
    return tool


def run_c(a, c):
    """The C load generator (bench_collector_ingest load); see the docstring."""
    if a.batch_size != 100 or a.no_gzip:
        sys.exit("--client c sends gzip batches of 100")
    tool = load_tool()
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


def pg_cpu(pg) -> float:
    """CPU seconds used so far by the PostgreSQL server (postmaster and all
    its children: backends, WAL writer, checkpointer)."""
    try:
        root = int((pg.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError):
        return 0.0
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d) == root or int(f[1]) == root:
            total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return total


def run_store(a, tmp, store, n_coll, pg):
    """One configuration: `store` sqlite or pg, n_coll collectors on it, the
    load split evenly between them.  Returns a dict of figures."""
    extra = ["--quiet", "--sync", a.sync, "--threads", str(a.threads),
             *(["--text-index", a.text_index] if a.text_index else [])]
    base = list(extra)
    if a.hold_index:
        extra += ["--test-hold-text-index", "1"]
    url = pg.new_database("bench") if store == "pg" else None
    first = Collector(Path(tmp) / f"{store}{n_coll}-0", db_url=url, pg=pg)
    first.start(extra_args=extra)
    colls = [first]
    for i in range(1, n_coll):
        c = Collector(Path(tmp) / f"{store}{n_coll}-{i}", db_url=url, pg=pg)
        c.db_path, c.key, c.project_id = first.db_path, first.key, first.project_id
        colls.append(c.start(extra_args=extra))
    if a.prefill:
        # a database that is not empty: what the indexes cost depends on
        # how many events they hold (not measured)
        out = subprocess.run([str(load_tool()), "load", str(first.port), first.key, "4",
                              str(max(1, a.prefill // 400))], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"prefill failed: {out.stdout} {out.stderr}")
    pre = int(first.sql("SELECT count(*) FROM events")) if a.prefill else 0
    run = run_c if a.client == "c" else run_python
    per = argparse.Namespace(**{**vars(a), "clients": max(1, a.clients // n_coll)})
    pg0 = pg_cpu(pg) if store == "pg" else 0.0
    results = [None] * n_coll
    import threading
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, run(per, colls[i])))
               for i in range(n_coll)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    pgc = pg_cpu(pg) - pg0 if store == "pg" else 0.0
    idx = {"cpu": 0.0, "pg_cpu": 0.0, "n": 0, "wall": 0.0, "during": None}
    try:
        stored = int(first.sql("SELECT count(*) FROM events")) - pre
        if a.text_index != "off":
            idx["during"] = sum(c.get("/api/v1/collector/stats").json()
                                .get("text_index", {}).get("indexed_events", 0)
                                for c in colls)  # 0: an older collector
        if a.hold_index and a.text_index != "off":
            # the load ran with the indexer held: now let it catch up alone
            for c in colls:
                c.stop()
            for c in colls:
                c.start(extra_args=base)
            cpu0 = [server_cpu(c.proc.pid) for c in colls]
            pgi0 = pg_cpu(pg) if store == "pg" else 0.0
            t1 = time.perf_counter()
            while any(c.get("/api/v1/collector/stats").json()["text_index"]["behind"]
                      for c in colls):
                time.sleep(0.05)
            idx["wall"] = time.perf_counter() - t1
            idx["cpu"] = sum(server_cpu(c.proc.pid) - x for c, x in zip(colls, cpu0))
            idx["pg_cpu"] = pg_cpu(pg) - pgi0 if store == "pg" else 0.0
            idx["n"] = sum(c.get("/api/v1/collector/stats").json()["text_index"]
                           ["indexed_events"] for c in colls)
    finally:
        for c in colls:
            c.stop()
    n_events = per.clients * n_coll * a.batches * a.batch_size
    elapsed = max(r[0] for r in results)
    lat = [r for r in results]
    return {
        "n_events": n_events, "stored": stored,
        "bad": sum(r[2] for r in results),
        "elapsed": elapsed, "wall": wall,
        "cpu": sum(r[1] for r in results), "pg_cpu": pgc,
        "client_cpu": sum(r[3] for r in results),
        "p50": max(r[4] for r in lat), "p99": max(r[5] for r in lat),
        "raw": sum(r[6] or 0 for r in results), "sent": sum(r[7] or 0 for r in results),
        "idx": idx,
    }


CONFIGS = {"sqlite": ("sqlite", 1), "pg1": ("pg", 1), "pg2": ("pg", 2)}


# ---- --engine-load: the engine's own batches, collectors side by side ----

def _task_cpu_s(pid: int) -> float:
    """CPU seconds on a CPU of every thread of pid (schedstat)."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def _stats(url: str, key: str) -> dict:
    import urllib.request
    req = urllib.request.Request(url + "/api/v1/collector/stats",
                                 headers={"X-OTAS-SDK-KEY": key})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def engine_load(a) -> None:
    """bench_sender (the real engine, bench/bench_cpu.py's driver) into
    each collector binary of --bin and --before in turn, interleaved, a
    fresh database each run.  `driver`: bench_cpu.py's driver load (POST
    events, batches as the engine makes them, `--sync normal --text-index
    off`).  `served`: bench_served.py's (small GET events, batches of
    --batch-size, default flags: text index on, sync full), then waits
    until the indexer caught up, so its work is counted.  Prints the
    collector's CPU per event, events/s, and callgrind-free medians."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_cpu
    import harness as H
    why = bench_cpu.build_driver()
    if why:
        sys.exit(f"bench_sender: {why}")
    bins = {"after": a.bin or os.environ["OTAS_COLLECTOR_BIN"]}
    if a.before:
        bins = {"before": a.before, **bins}
    flags = (["--sync", "normal", "--text-index", "off"] if a.engine_load == "driver"
             else [])
    extra = {} if a.engine_load == "driver" else {
        "BENCH_EVENT": "get", "OTAS_BATCH_MAX_EVENTS": str(a.batch_size),
        "OTAS_BATCH_BACKLOG_EVENTS": "0"}
    res: dict = {k: [] for k in bins}
    for r in range(a.rounds):
        for name in (list(bins) if r % 2 == 0 else list(bins)[::-1]):
            os.environ["OTAS_COLLECTOR_BIN"] = bins[name]
            tmp = Path(tempfile.mkdtemp(prefix="otas-engine-load-"))
            coll = H.Collector(tmp, extra=flags)
            try:
                db = str(tmp / "otas.db")
                pid = json.loads(subprocess.run(
                    [bins[name], "project", "list", "--db", db, "--json"],
                    capture_output=True, text=True).stdout)[0]["id"]
                rkey = subprocess.run(
                    [bins[name], "key", "create", "--db", db, "--project", pid,
                     "--role", "read", "--key-only"],
                    capture_output=True, text=True).stdout.strip().splitlines()
                c0 = _task_cpu_s(coll.proc.pid)
                x = bench_cpu.run_driver(bench_cpu.driver_env(coll, tmp, extra), a.events)
                c1 = _task_cpu_s(coll.proc.pid)
                idx = {}
                if a.engine_load == "served" and rkey:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        idx = _stats(coll.url, rkey[-1]).get("text_index", {})
                        if not idx.get("behind", True):
                            break
                        time.sleep(0.05)
                c2 = _task_cpu_s(coll.proc.pid)
            finally:
                coll.stop()
                shutil.rmtree(tmp, True)
            row = {"ingest_us": (c1 - c0) / a.events * 1e6,
                   "total_us": (c2 - c0) / a.events * 1e6,
                   "events_per_s": x["events_per_s"], "batches": x["batches"],
                   "index_chunks": idx.get("chunks"), "index_busy_us": idx.get("busy_us")}
            res[name].append(row)
            print(f"  {name} round {r + 1}: " + ", ".join(
                f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in row.items()), flush=True)
    print(f"\n{a.engine_load} load, {a.events} events a run, {a.rounds} rounds, "
          f"medians (collector CPU per event: every thread, /proc schedstat)")
    print("| collector | CPU µs/event (ingest) | CPU µs/event (with the indexer's "
          "catch-up) | events/s | batches |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in res.items():
        print(f"| {name} ({bins[name]}) | {H.median([x['ingest_us'] for x in rows]):.1f} | "
              f"{H.median([x['total_us'] for x in rows]):.1f} | "
              f"{H.median([x['events_per_s'] for x in rows]):,.0f} | {rows[-1]['batches']} |")



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batches", type=int, default=400, help="per client")
    ap.add_argument("--client", default="c", choices=["c", "python"])
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--sync", default="full", choices=["full", "normal"])
    ap.add_argument("--no-gzip", action="store_true")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--stores", default="sqlite,pg1,pg2",
                    help="comma list of sqlite, pg1 (one collector on "
                         "PostgreSQL), pg2 (two collectors on one PostgreSQL)")
    ap.add_argument("--bin", default=None)
    ap.add_argument("--text-index", choices=["on", "off"], default=None,
                    help="the collector's --text-index (default: its own default, on)")
    ap.add_argument("--hold-index", action="store_true",
                    help="hold the deferred text indexer during the load (ingest "
                         "CPU alone), then time its catch-up separately")
    ap.add_argument("--prefill", type=int, default=0,
                    help="store about N events first (C generator, not measured): "
                         "the indexes' cost grows with what they hold")
    ap.add_argument("--tags", type=int, default=0,
                    help="N tags and a user id per event (--client python only)")
    ap.add_argument("--engine-load", choices=["driver", "served"], default=None,
                    help="instead: the real engine (bench_sender) into --bin and "
                         "--before side by side; `driver` as bench_cpu.py's driver "
                         "load, `served` as bench_served.py's (small GET batches of "
                         "--batch-size, default flags)")
    ap.add_argument("--before", default=None,
                    help="--engine-load: a second collector binary (e.g. main's)")
    ap.add_argument("--events", type=int, default=30000, help="--engine-load: per run")
    ap.add_argument("--rounds", type=int, default=3, help="--engine-load")
    a = ap.parse_args()
    if a.engine_load:
        if a.bin:
            os.environ["OTAS_COLLECTOR_BIN"] = a.bin
        os.environ.setdefault("OTAS_COLLECTOR_BIN", "build/c/collector/otas-collector")
        if a.engine_load == "served" and a.batch_size == 100:
            a.batch_size = 10
        engine_load(a)
        return
    if a.tags:
        if a.client != "python":
            sys.exit("--tags needs --client python (the C generator sends none)")
        os.environ["OTAS_BENCH_TAGS"] = str(a.tags)
    if a.bin:
        os.environ["OTAS_COLLECTOR_BIN"] = a.bin
    os.environ.setdefault("OTAS_COLLECTOR_BIN", "build/c/collector/otas-collector")
    names = [n for n in a.stores.split(",") if n]
    for n in names:
        if n not in CONFIGS:
            sys.exit(f"unknown store {n!r} (sqlite, pg1, pg2)")
    tmp = tempfile.mkdtemp(prefix="otas-bench-")
    if os.environ.get("OTAS_BENCH_KEEP") != "1":
        atexit.register(shutil.rmtree, tmp, True)
    pg = None
    if any(CONFIGS[n][0] == "pg" for n in names):
        from otas_testing.postgres import Postgres
        # durable: fsync on, synchronous_commit on (the default)
        pg = Postgres(durable=True).start()
    res = {}
    try:
        for n in names:
            store, k = CONFIGS[n]
            res[n] = run_store(a, tmp, store, k, pg)
    finally:
        if pg:
            pg.stop()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    any_r = next(iter(res.values()))
    head = [
        ("commit", commit),
        ("machine", f"{os.cpu_count()} cores, {os.uname().machine}"),
        ("clients (keep-alive)", f"{a.clients} in all, split between the collectors"),
        ("batch size", a.batch_size),
        ("gzip", not a.no_gzip),
        ("sync", f"{a.sync} (PostgreSQL: fsync on, synchronous_commit on)"),
        ("client", a.client),
        ("stored before (prefill)", a.prefill),
        ("event size (JSON)", f"{any_r['raw'] / any_r['n_events']:.0f} B"
                              if any_r["raw"] else "1140 B"),
    ]
    def per_ev(x, r):
        return f"{x / r['n_events'] * 1e6:.1f} us"
    table = [
        ("store", lambda n, r: {"sqlite": "SQLite", "pg1": "PG, 1 collector",
                                "pg2": "PG, 2 collectors"}[n]),
        ("events sent", lambda n, r: f"{r['n_events']}"),
        ("events stored", lambda n, r: f"{r['stored']}"),
        ("failed batches", lambda n, r: f"{r['bad']}"),
        ("elapsed", lambda n, r: f"{r['elapsed']:.2f} s"),
        ("events/s", lambda n, r: f"{r['n_events'] / r['elapsed']:,.0f}"),
        ("collector CPU/event", lambda n, r: per_ev(r["cpu"], r)),
        ("collector cores", lambda n, r: f"{r['cpu'] / r['elapsed']:.2f}"),
        ("PostgreSQL CPU/event", lambda n, r: per_ev(r["pg_cpu"], r) if n != "sqlite" else "-"),
        ("client CPU/event", lambda n, r: per_ev(r["client_cpu"], r)),
        ("batch p50 / p99", lambda n, r: f"{r['p50'] * 1e3:.1f} / {r['p99'] * 1e3:.1f} ms"),
        ("indexed during load", lambda n, r: "-" if r["idx"]["during"] is None
         else f"{r['idx']['during']}"),
    ]
    if a.hold_index:
        table += [
            ("indexer catch-up", lambda n, r: f"{r['idx']['n']} in {r['idx']['wall']:.2f} s"),
            ("indexer collector CPU/event", lambda n, r: per_ev(r["idx"]["cpu"], r)),
            ("indexer PostgreSQL CPU/event",
             lambda n, r: per_ev(r["idx"]["pg_cpu"], r) if n != "sqlite" else "-"),
        ]
    w = max(len(k) for k, _ in head + table)
    for k, v in head:
        print(f"{k:<{w}}  {v}")
    cells = [[f(n, res[n]) for n in names] for _, f in table]
    cw = [max(len(row[i]) for row in cells) for i in range(len(names))]
    for (k, _), row in zip(table, cells):
        print(f"{k:<{w}}  " + "  ".join(f"{c:>{cw[i]}}" for i, c in enumerate(row)))
    print(f"{'load average':<{w}}  " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if any(r["stored"] != r["n_events"] or r["bad"] for r in res.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
