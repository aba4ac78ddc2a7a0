"""Request overhead of the Django middleware, in-process.

Variants, each in its own long-lived worker process running the same Django
app (tests/python/djproject) through its WSGI handler:
  baseline  no OTAS middleware
  null      OTAS middleware with the no-op engine (the Python adapter alone)
  otas      OTAS middleware with the C engine, delivering to a real
            otas-collector on loopback
Rounds are interleaved across the variants (the machine is shared and
noisy); each round times N requests one by one; the table reports the
median over rounds of each round's median, the p99 over all requests, and
the time added over the baseline.

    python bench/bench_overhead.py [--rounds 15] [--requests 2000]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

WORKLOADS = {
    "GET small JSON": ("GET", "/api/items/7", b"", ""),
    "POST 1 KB JSON": ("POST", "/api/items",
                       json.dumps({"name": "w", "pad": "p" * 980}).encode(),
                       "application/json"),
}

WORKER = r'''
import io, json, os, sys, time
import django
from django.conf import settings
django.setup()
if os.environ["BENCH_VARIANT"] == "baseline":
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "otas" not in m]
from django.core.handlers.wsgi import WSGIHandler
app = WSGIHandler()
perf = time.perf_counter_ns

def environ(method, path, body, ctype):
    e = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
         "QUERY_STRING": "", "SERVER_NAME": "bench", "SERVER_PORT": "80",
         "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
         "HTTP_HOST": "bench", "HTTP_USER_AGENT": "bench/1.0",
         "HTTP_ACCEPT": "application/json", "HTTP_AUTHORIZATION": "Bearer x",
         "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
         "wsgi.errors": sys.stderr, "wsgi.multithread": False,
         "wsgi.multiprocess": True, "wsgi.run_once": False}
    if body:
        e["CONTENT_LENGTH"] = str(len(body)); e["CONTENT_TYPE"] = ctype
    return e

def start_response(status, headers, exc_info=None):
    pass

for line in sys.stdin:
    cmd = json.loads(line)
    method, path, body, ctype = cmd["req"]
    body = body.encode("latin-1")
    times = []
    for _ in range(cmd["n"]):
        e = environ(method, path, body, ctype)
        t0 = perf()
        r = app(e, start_response)
        for _c in r:
            pass
        r.close()
        times.append(perf() - t0)
    print(json.dumps(times), flush=True)
'''


def start_worker(variant, env):
    env = dict(env, BENCH_VARIANT=variant,
               DJANGO_SETTINGS_MODULE="djproject.settings",
               PYTHONPATH=str(ROOT / "tests" / "python"))
    if variant == "null":
        env["OTAS_ENGINE"] = "null"
    return subprocess.Popen([sys.executable, "-c", WORKER], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    from otas_testing.collector import Collector

    tmp = Path(tempfile.mkdtemp(prefix="otas-bench-"))
    coll = Collector(tmp)
    coll.start(extra_args=["--quiet"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update(OTAS_SDK_KEY=coll.key, OTAS_BASE_URL=coll.url,
               OTAS_SPOOL_DIR=str(tmp / "spool"))
    variants = ["baseline", "null", "otas"]
    workers = {v: start_worker(v, env) for v in variants}
    results = {w: {v: {"medians": [], "all": []} for v in variants} for w in WORKLOADS}
    try:
        for wname, req in WORKLOADS.items():
            cmd = json.dumps({"req": [req[0], req[1], req[2].decode("latin-1"), req[3]],
                              "n": args.requests}) + "\n"
            for p in workers.values():  # warm-up round, not recorded
                p.stdin.write(cmd); p.stdin.flush(); p.stdout.readline()
            for r in range(args.rounds):
                order = variants[r % 3:] + variants[:r % 3]  # rotate who goes first
                for v in order:
                    p = workers[v]
                    p.stdin.write(cmd); p.stdin.flush()
                    times = json.loads(p.stdout.readline())
                    results[wname][v]["medians"].append(statistics.median(times))
                    results[wname][v]["all"].extend(times)
    finally:
        for p in workers.values():
            p.stdin.close()
            p.wait(timeout=60)
        coll.stop()

    rows = []
    for wname in WORKLOADS:
        base = statistics.median(results[wname]["baseline"]["medians"]) / 1000
        for v in variants:
            med = statistics.median(results[wname][v]["medians"]) / 1000
            allt = sorted(results[wname][v]["all"])
            p99 = allt[int(len(allt) * 0.99)] / 1000
            rows.append((wname, v, med, p99, med - base))
    head = (f"| workload | variant | median µs | p99 µs | added µs |\n"
            f"|---|---|---:|---:|---:|")
    lines = [head] + [f"| {w} | {v} | {m:.1f} | {p:.1f} | {a:+.1f} |"
                      for w, v, m, p, a in rows]
    table = "\n".join(lines)
    meta = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"{args.rounds} rounds x {args.requests} requests, interleaved")
    print(table)
    print(meta)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.md").write_text(f"{table}\n\n{meta}\n")
    return rows


if __name__ == "__main__":
    main()
