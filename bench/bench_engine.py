"""Engine throughput: events/s through capture -> redact -> serialise ->
gzip -> send on one core.

A process pinned to one CPU hands N realistic events (a 1 KB JSON request
body, a ~0.8 KB JSON response body with five fields removed by five
OTAS_REDACT_RESPONSE_BODY rules, a dozen headers) to the otas engine in a
tight loop, then calls otas.flush(); the figure is N / (time from the first
capture until flush returned with everything delivered).  The capture loop
and the engine's sender thread share that one CPU, so the figure is a floor
for the pipeline alone.  otas-collector runs pinned to the other CPU and
acknowledges every batch with --sync normal (no fsync per commit: the
figure is the engine's, not the disk's); the sender waits for each answer,
so the collector's time per batch is inside the figure.  The loop
never lets the queue pass half its byte limit (it waits for the sender), so
no event is dropped: the run checks that every event was sent.

    python bench/bench_engine.py [--events 50000]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def inner(n):
    """Runs in the bench venv with otas importable; prints one JSON line."""
    os.sched_setaffinity(0, {0})
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchproj.views import USER
    from bench_overhead import POST_1K

    import otas
    from otas import _native, _runtime, conf

    if _native.engine is None:
        print(json.dumps({"error": f"C engine did not load: {_native.NATIVE_ERROR}"}))
        return
    rt = _runtime.start(conf.load())
    eng = rt.engine
    Exchange = _native.engine.Exchange
    resp = json.dumps(USER).encode()
    meta = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/users/7",
            "QUERY_STRING": "page=2&sort=name", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(POST_1K)), "REMOTE_ADDR": "10.1.2.3",
            "SERVER_NAME": "bench", "SERVER_PORT": "80", "HTTP_HOST": "api.example.com",
            "HTTP_USER_AGENT": "bench/1.0 (engine throughput)",
            "HTTP_ACCEPT": "application/json", "HTTP_AUTHORIZATION": "Bearer abc.def.ghi",
            "HTTP_COOKIE": "session=s3cr3t", "HTTP_X_REQUEST_ID": "req-123456",
            "HTTP_ACCEPT_ENCODING": "gzip, deflate", "wsgi.url_scheme": "http"}
    headers = {"content-type": ("Content-Type", "application/json"),
               "content-length": ("Content-Length", str(len(resp))),
               "x-frame-options": ("X-Frame-Options", "DENY")}
    half = int(rt.settings.options.get("OTAS_QUEUE_MAX_BYTES", 33554432)) // 2
    per = len(resp) + len(POST_1K) + 600
    chunk = max(100, min(5000, half // per))
    now_us = time.time_ns() // 1000
    cpu0 = os.times()
    t0 = time.perf_counter()
    t_capture = 0.0
    done = 0
    while done < n:
        c0 = time.perf_counter()
        for i in range(min(chunk, n - done)):
            x = Exchange("POST", "/api/users/7", "api/users/<int:pk>", meta,
                         now_us + i)
            x.req_body, x.req_size, x.status = POST_1K, len(POST_1K), 200
            x.resp_headers, x.resp_body, x.resp_size = headers, resp, len(resp)
            x.duration_ns = 1_500_000
            eng.capture(x)
        t_capture += time.perf_counter() - c0
        done += min(chunk, n - done)
        while (eng.stats().get("queue_bytes") or 0) > half:  # let the sender drain
            time.sleep(0.001)
    ok = otas.flush(timeout=120)
    elapsed = time.perf_counter() - t0
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    st = eng.stats()
    print(json.dumps({"events": n, "elapsed_s": elapsed, "capture_s": t_capture,
                      "flushed": ok, "stats": st, "cpu_s": cpu,
                      "cpu_us_per_event": cpu / n * 1e6,
                      "events_per_s": n / elapsed,
                      "capture_calls_per_s": n / t_capture if t_capture else None}))


def engine_throughput(python, otas_path, n, log=None, name="otas"):
    import harness as H

    log = log or H.log
    tmp = H.tmpdir("otas-engine-")
    cpus = os.sched_getaffinity(0)
    # --sync normal: the figure is the engine's, not the disk's fsync latency.
    coll = H.Collector(tmp, cpu={1} if 1 in cpus and len(cpus) > 1 else None,
                       extra=["--sync", "normal"])
    try:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OTAS_", "PYTHON", "DJANGO_"))}
        env.update(PYTHONPATH=os.pathsep.join([str(H.BENCH), otas_path]),
                   OTAS_SDK_KEY=coll.key, OTAS_BASE_URL=coll.url,
                   OTAS_SPOOL_DIR=str(tmp / "spool"),
                   OTAS_REDACT_RESPONSE_BODY=",".join(
                       ["$.password", "$.token", "$.ssn", "$.card.number",
                        "$.card.cvv"]))
        c0 = coll.cpu_s()
        p = subprocess.run([python, __file__, "--inner", "--events", str(n)],
                           env=env, capture_output=True, text=True, timeout=600)
        c1 = coll.cpu_s()
    finally:
        coll.stop()
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": f"exit {p.returncode}: {p.stderr.strip()[-500:]}"}
    out = json.loads(lines[-1])
    if c0 is not None and c1 is not None:
        out["collector_cpu_s"] = c1 - c0
    if "error" not in out:
        log(f"engine {name}: {out['events_per_s']:.0f} events/s "
            f"(sent {out['stats'].get('sent')} of {n})")
    return out


def engine_compare(python, paths, n, rounds, log=None):
    """engine_throughput for each engine variant ({variant: package dir}),
    in `rounds` interleaved runs (rotating who goes first); per variant the
    run with the median events/s, with every run's events/s beside it."""
    runs = {v: [] for v in paths}
    names = list(paths)
    for r in range(rounds):
        k = r % len(names)
        for v in names[k:] + names[:k]:
            runs[v].append(engine_throughput(python, paths[v], n, log=log, name=v))
    out = {}
    for v, rs in runs.items():
        ok = sorted((x for x in rs if "error" not in x), key=lambda x: x["events_per_s"])
        if not ok:
            out[v] = rs[-1]
            continue
        out[v] = dict(ok[len(ok) // 2], rounds_events_per_s=[x["events_per_s"] for x in ok])
    return out


def md_engine(d, before=None):
    """The table for `d` (today's engine) and, if given, `before` (the
    engine of the --before tree, same run)."""
    head = ("| engine | events | time s | events/s (wall) | engine CPU µs/event | events/s "
            "per CPU-second | collector CPU µs/event | sent | batches | bytes sent | "
            "dropped |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    rows = []
    for name, x in (("before", before), ("otas", d)):
        if x is None:
            continue
        if "error" in x:
            rows.append(f"| {name} | not measured: {x['error']} |||||||||| \n")
            continue
        st = x["stats"]
        dropped = st.get("dropped", 0)
        if isinstance(dropped, dict):
            dropped = sum(v for v in dropped.values() if isinstance(v, (int, float)))
        coll = x.get("collector_cpu_s")
        coll_us = f"{coll / x['events'] * 1e6:.1f}" if coll is not None else "?"
        rows.append(
            f"| {name} | {x['events']:,} | {x['elapsed_s']:.2f} | {x['events_per_s']:,.0f} | "
            f"{x['cpu_us_per_event']:.1f} | {1e6 / x['cpu_us_per_event']:,.0f} | "
            f"{coll_us} | {st.get('sent'):,} | {st.get('batches'):,} | "
            f"{st.get('bytes_sent'):,} | {dropped} |\n")
    rounds = [f"{name} " + ", ".join(f"{e:,.0f}" for e in x["rounds_events_per_s"])
              for name, x in (("before", before), ("otas", d))
              if x and len(x.get("rounds_events_per_s") or ()) > 1]
    return (
        head + "".join(rows) + "\n"
        + (f"Median run of each; events/s of every run: {'; '.join(rounds)}.  "
           if rounds else "") +
        "events/s (wall): events / (first capture to otas.flush() returned). Engine "
        "CPU: the pinned process's user+system time (capture calls, redaction, "
        "serialisation, gzip, HTTP) per event; its inverse is what one core could "
        "do if the engine never waited for the collector's answer.")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50000)
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        return inner(args.events)
    import harness as H

    python, _ = H.ensure_venv()
    otas_path, why = H.otas_pythonpath()
    if why:
        sys.exit(f"engine throughput needs the engine: {why}")
    print(md_engine(engine_throughput(python, otas_path, args.events)))


if __name__ == "__main__":
    main()
