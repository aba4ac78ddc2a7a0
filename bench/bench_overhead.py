"""Request overhead of capture middleware, in-process, ours and the peers'.

Variants, each in its own long-lived worker process (bench/worker.py) running
the same Django project (bench/benchproj) through its WSGI handler:
  baseline    no capture middleware
  null        OTAS middleware with the no-op engine (the Python adapter alone)
  otas        OTAS middleware with the C engine -> a real otas-collector
  before      the same, otas as built from a git ref (run.py --before REF;
              harness.Before): the engine before a change, side by side
  nostore     otas -> a second otas-collector that stores nothing
              (--test-discard-commits): otas without the store's CPU on
              the same two cores
  moesif      moesifdjango                      -> the sink (bench/sink.py)
  apitoolkit  apitoolkit-django 2.x + OTel SDK, BatchSpanProcessor, OTLP/HTTP
  otel        OTel Django instrumentation, BatchSpanProcessor, OTLP/HTTP
  sentry      sentry-sdk, traces_sample_rate=1.0
For every workload a fresh set of workers is started; rounds are interleaved
across the variants, rotating who goes first (the machine is shared and
noisy); each round times N requests one by one.  Reported: the median over
rounds of each round's median, the median over rounds of each round's p99
(a tail the SDK causes shows in every round; a burst of load from the
machine's other tenants in one round does not move it), and the time added
over the baseline.

Back end down (`down()`): the same with every sink stopped (a port nobody
listens on) from start-up on; 20,000 requests per variant, RSS before/after.

    python bench/bench_overhead.py [--rounds 15] [--requests 1000] [--peers]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

POST_1K = json.dumps({"name": "w", "pad": "p" * 980}).encode()
POST_64K = json.dumps({"name": "w", "items": [
    {"id": i, "sku": f"SKU-{i:06d}", "note": "n" * 40} for i in range(745)]}).encode()

# key -> (label, (method, path, body, content type), redaction rules on)
WORKLOADS = {
    "get": ("GET small JSON", ("GET", "/api/items/7", b"", ""), False),
    "post1k": ("POST 1 KB JSON", ("POST", "/api/items", POST_1K, "application/json"),
               False),
    "post64k": ("POST 64 KB JSON", ("POST", "/api/items", POST_64K,
                                    "application/json"), False),
    "redact": ("GET, 5 body-redaction rules", ("GET", "/api/users/7", b"", ""), True),
}
OURS = ["baseline", "null", "otas"]
PEERS = ["moesif", "apitoolkit", "otel", "sentry"]
ALL = ["baseline", "null", "before", "otas"] + PEERS
ENGINE = ("otas", "before", "nostore")  # variants that run the C engine

# What "5 body-redaction rules" means for each SDK (README and the table).
REDACTION = {
    "otas": "OTAS_REDACT_RESPONSE_BODY, 5 JSONPath rules",
    "null": "same settings, no-op engine",
    "before": "as otas (the --before tree)",
    "moesif": "RESPONSE_BODY_MASKS, 5 key names (removed at any depth)",
    "apitoolkit": "APITOOLKIT_REDACT_RESPONSE_BODY, 5 JSONPath rules (jsonpath-ng)",
    "otel": "none: it captures no bodies",
    "sentry": "EventScrubber(denylist=5 keys, recursive=True); it captures no "
              "response bodies",
}


def _wire(req):
    method, path, body, ctype = req
    return [method, path, body.decode("latin-1"), ctype]


class Setup:
    """Where each variant sends, and which variants cannot run (and why)."""

    def __init__(self, python, unavailable, otas_path, down=False, before_path=None):
        self.python = python
        self.unavailable = dict(unavailable)
        self.otas_path = otas_path
        # Each engine variant's package directory: both are named `otas`,
        # a worker gets exactly one of them on its path.
        self.paths = {"otas": otas_path}
        if before_path:
            self.paths["before"] = before_path
        elif "before" not in self.unavailable:
            self.unavailable["before"] = "no --before tree given"
        engines = [v for v in ENGINE if v not in self.unavailable]
        self.down = down
        self.tmp = H.tmpdir("otas-bench-")
        self.sink = self.collector = self.nostore = None
        self.key = "otas_bench_unused_key"
        if down:
            self.unavailable.setdefault("nostore", "the back end is down for every "
                                                   "variant")
            self.sink_url = H.dead_url()
            self.otas_url = H.dead_url()
            if engines:
                try:  # a real key, then the collector is stopped
                    c = H.Collector(self.tmp)
                    self.key = c.key
                    c.stop()
                except Exception as exc:
                    self.unavailable.update((v, str(exc)) for v in engines)
        else:
            if any(p not in self.unavailable for p in PEERS):
                self.sink = H.start_sink()
            self.sink_url = self.sink.url if self.sink else H.dead_url()
            self.otas_url = H.dead_url()
            if engines:  # one collector for both engines: the same back end
                try:
                    self.collector = H.Collector(self.tmp)
                    self.key, self.otas_url = self.collector.key, self.collector.url
                except Exception as exc:
                    self.unavailable.update((v, str(exc)) for v in engines)

    def env(self, variant, redact, n):
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("OTAS_", "PYTHON", "DJANGO_"))}
        pkg = self.paths.get(variant, self.otas_path)
        base.update(PYTHONPATH=os.pathsep.join([str(H.BENCH), pkg]),
                    BENCH_SINK_URL=self.sink_url, BENCH_REDACT="1" if redact else "0",
                    PYTHONHASHSEED="0")
        if variant in ("otas", "null", "before", "nostore"):
            base.update(OTAS_SDK_KEY=self.key, OTAS_BASE_URL=self.otas_url,
                        OTAS_SPOOL_DIR=str(self.tmp / f"spool-{variant}-{n}"))
        if variant == "nostore":  # otas's code, the non-storing collector
            if self.nostore is None:  # started when first asked for
                (self.tmp / "nostore").mkdir(exist_ok=True)
                self.nostore = H.Collector(self.tmp / "nostore",
                                           extra=["--test-discard-commits", "1"])
            base.update(BENCH_VARIANT="otas", OTAS_SDK_KEY=self.nostore.key,
                        OTAS_BASE_URL=self.nostore.url)
        if variant == "null":
            base["OTAS_ENGINE"] = "null"
        return base

    def close(self):
        for p in (self.sink, self.collector, self.nostore):
            if p:
                p.stop()


def start_workers(setup, variants, redact, tag, timeout):
    """Start every variant at once, then wait for each; returns the ready
    ones and {variant: why not} for the others."""
    workers = {v: H.Worker(setup.python, v, setup.env(v, redact, tag), f"-{tag}")
               for v in variants}
    ready, failed = {}, {}
    deadline = time.monotonic() + timeout
    for v, w in workers.items():
        if w.wait_ready(max(1.0, deadline - time.monotonic())):
            if v in ENGINE and not w.info.get("engine"):
                failed[v] = f"C engine did not load: {w.info.get('native_error')}"
                w.close(kill=True)
                continue
            ready[v] = w
        else:
            failed[v] = f"start-up failed after {w.setup_s:.1f} s: {w.error}"
    return ready, failed


def measure(workers, req, rounds, n, warmup, failed=None):
    """Interleaved rounds; returns {variant: {"medians", "all", "status", "errors"}}.
    A worker that dies or stops answering is dropped from the rest of the
    run and reported in `failed` (variant -> why), not allowed to stop it."""
    failed = {} if failed is None else failed
    res = {v: {"medians": [], "p99s": [], "all": [], "status": {}, "errors": {}}
           for v in workers}
    cmd = {"op": "run", "req": _wire(req), "n": warmup}

    def call(v):
        try:
            return workers[v].call(cmd, timeout=300)
        except Exception as exc:
            failed[v] = f"worker failed during the run: {exc}"
            workers[v].close(kill=True)
            return None

    names = list(workers)
    if warmup:
        names = [v for v in names if call(v) is not None]  # warm-up, not recorded
    cmd["n"] = n
    for r in range(rounds):
        k = r % len(names) if names else 0
        for v in names[k:] + names[:k]:
            if v in failed:
                continue
            out = call(v)
            if out is None:
                continue
            t = out["times"]
            res[v]["medians"].append(H.median(t))
            res[v]["p99s"].append(H.pct(t, 0.99))
            res[v]["all"].extend(t)
            for d in ("status", "errors"):
                for code, c in out[d].items():
                    res[v][d][code] = res[v][d].get(code, 0) + c
    for v in failed:
        res.pop(v, None)
    return res


def summarise(res, variants):
    """Rows: median/p99/added (µs) and the ratio of added time to otas's."""
    rows = {}
    base = H.median(res["baseline"]["medians"]) / 1000 if "baseline" in res else None
    for v in variants:
        if v not in res:
            continue
        med = H.median(res[v]["medians"]) / 1000
        rows[v] = {"median_us": med, "p99_us": H.median(res[v]["p99s"]) / 1000,
                   "p99_all_us": H.pct(res[v]["all"], 0.99) / 1000,
                   "round_medians_us": [m / 1000 for m in res[v]["medians"]],
                   "added_us": med - base if base is not None else None,
                   "requests": len(res[v]["all"]),
                   "status": res[v]["status"], "errors": res[v]["errors"]}
    # Paired: each round's median less the baseline's in the same round
    # (the variants of a round run within a second of each other, so a
    # slow drift of the shared host cancels), then the median over rounds.
    bm = res["baseline"]["medians"] if "baseline" in res else None
    for v, row in rows.items():
        m = res[v]["medians"]
        row["added_paired_us"] = (H.median([a - b for a, b in zip(m, bm)]) / 1000
                                  if bm and v != "baseline" and len(m) == len(bm)
                                  else None)
    ours = rows.get("otas", {}).get("added_us")
    for v, row in rows.items():
        a = row["added_us"]
        row["ratio_to_otas"] = (a / ours if ours and ours > 0 and a is not None
                                and v not in ("baseline",) else None)
    return rows


def overhead(setup, variants, workloads, rounds, n, log=H.log):
    """The in-process table for every workload; returns a JSON-able dict."""
    out = {"workloads": {}, "unavailable": {}}
    for key in workloads:
        label, req, redact = WORKLOADS[key]
        todo = [v for v in variants if v not in setup.unavailable]
        log(f"overhead: {label}: starting {', '.join(todo)}")
        workers, failed = start_workers(setup, todo, redact, key, timeout=90)
        sink0 = H.sink_stats(setup.sink.url) if setup.sink else {}
        for v, why in failed.items():
            out["unavailable"].setdefault(v, why)
        try:
            nn = max(50, n // 4) if key == "post64k" else n
            res = measure(workers, req, rounds, nn, warmup=max(20, nn // 4),
                          failed=failed)
            for v in failed:
                out["unavailable"].setdefault(v, failed[v])
            # What each engine captured: a variant that silently captures
            # nothing (settings that leave its middleware out) would look
            # free; the table says so instead.
            captured = {}
            for v in ENGINE:
                if v in workers and v not in failed:
                    try:
                        captured[v] = workers[v].call({"op": "stats"}, 60)["stats"].get(
                            "captured")
                    except Exception:
                        captured[v] = None
        finally:
            for w in workers.values():
                w.close()
        rows = summarise(res, variants)
        for v, w in workers.items():
            if v in rows:
                rows[v]["setup_s"] = w.setup_s
                rows[v]["info"] = w.info
                if v in captured:
                    rows[v]["captured"] = captured[v]
        sink1 = H.sink_stats(setup.sink.url) if setup.sink else {}
        received = {k: [v[0] - sink0.get(k, [0, 0])[0], v[1] - sink0.get(k, [0, 0])[1]]
                    for k, v in sink1.items()}
        out["workloads"][key] = {"label": label, "rows": rows, "rounds": rounds,
                                 "requests_per_round": nn, "sink_received": received}
        log("overhead: " + label + ": " + ", ".join(
            f"{v} {r['median_us']:.0f}" for v, r in rows.items()) + " µs")
    for v, why in setup.unavailable.items():
        if v in variants:
            out["unavailable"].setdefault(v, why)
    return out


def _down_pass(setup, variants, total, rounds, tag, startup_timeout, stop_first=None):
    """One interleaved pass; stop_first (a sink) is stopped once every worker
    is up: the back end goes away after start-up."""
    label, req, _ = WORKLOADS["get"]
    t0 = time.monotonic()
    workers, failed = start_workers(setup, variants, False, tag, startup_timeout)
    H.log(f"back end down ({tag}): workers up in {time.monotonic() - t0:.1f} s; "
          f"failed: {failed}")
    if stop_first is not None:
        stop_first.stop()
    rss0, rss1, stats = {}, {}, {}
    try:
        for v, w in list(workers.items()):
            try:
                w.call({"op": "run", "req": _wire(req), "n": 200}, timeout=300)
                rss0[v] = w.call({"op": "rss"}, timeout=60)["rss_kb"]
            except Exception as exc:
                failed[v] = f"worker failed during the run: {exc}"
                w.close(kill=True)
                del workers[v]
        res = measure(workers, req, rounds, total // rounds, warmup=0, failed=failed)
        for v in failed:
            workers.pop(v, None)
        rss1 = {v: w.call({"op": "rss"})["rss_kb"] for v, w in workers.items()}
        for v in ENGINE:
            if v in workers:
                stats[v] = workers[v].call({"op": "stats"})["stats"]
    finally:
        for w in workers.values():
            w.close()
    rows = summarise(res, variants)
    for v, w in workers.items():
        rows[v].update(setup_s=w.setup_s, rss_start_kb=rss0[v], rss_end_kb=rss1[v],
                       rss_growth_kb=rss1[v] - rss0[v])
    return rows, failed, stats


def down(setup, variants, total, rounds, log=H.log, startup_timeout=45):
    """Back end down from start-up: added latency and RSS growth over
    `total` requests (GET small JSON) per variant.  A variant that cannot
    start with its back end down is measured again, with a baseline, in a
    second pass where the sink is up at start-up and stopped right after."""
    label = WORKLOADS["get"][0]
    todo = [v for v in variants if v not in setup.unavailable]
    log(f"back end down: starting {', '.join(todo)} (sinks stopped)")
    rows, failed, stats = _down_pass(setup, todo, total, rounds, "down",
                                     startup_timeout)
    after = {}
    again = [v for v in failed if v in PEERS]
    if again:
        sink = H.start_sink()
        saved = setup.sink_url
        setup.sink_url = sink.url
        try:
            after, _f, _s = _down_pass(setup, ["baseline"] + again, total, rounds,
                                       "gone", startup_timeout, stop_first=sink)
        finally:
            setup.sink_url = saved
            sink.stop()
    unavailable = dict(setup.unavailable)
    unavailable.update(failed)
    return {"label": label, "rows": rows, "failed": failed, "unavailable": unavailable,
            "requests": total, "rounds": rounds, "engine_stats": stats,
            "gone_after_start": after}


def md_overhead(data):
    lines = ["| workload | variant | median µs | p99 µs | added µs | added µs, paired "
             "| × otas's added |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for key, wl in data["workloads"].items():
        for v, r in wl["rows"].items():
            ratio = f"{r['ratio_to_otas']:.1f}×" if r["ratio_to_otas"] else "—"
            if v == "otas" and r["ratio_to_otas"]:
                ratio = "1.0×"
            bad = sum(c for s, c in r["status"].items() if not s.startswith("2"))
            note = f" ({bad} non-2xx)" if bad else ""
            if "captured" in r and not r["captured"]:
                note += " (captured NOTHING)"
            added = "—" if v == "baseline" else f"{r['added_us']:+.1f}"
            ap = r.get("added_paired_us")
            paired = "—" if ap is None else f"{ap:+.1f}"
            lines.append(f"| {wl['label']} | {v}{note} | {r['median_us']:.1f} | "
                         f"{r['p99_us']:.1f} | {added} | {paired} | {ratio} |")
    return "\n".join(lines)


def md_down(data):
    lines = ["| variant | start-up s | median µs | p99 µs | added µs | RSS start MB "
             "| RSS growth MB | responses |", "|---|---:|---:|---:|---:|---:|---:|---|"]

    def add(rows, suffix=""):
        for v, r in rows.items():
            if suffix and v == "baseline":
                name = "baseline (second pass)"
            else:
                name = v + suffix
            added = "—" if v == "baseline" else f"{r['added_us']:+.1f}"
            st = ", ".join(f"{c}×{s}" for s, c in sorted(r["status"].items()))
            lines.append(f"| {name} | {r['setup_s']:.1f} | {r['median_us']:.1f} | "
                         f"{r['p99_us']:.1f} | {added} | {r['rss_start_kb'] / 1024:.1f} "
                         f"| {r['rss_growth_kb'] / 1024:+.1f} | {st} |")
    add(data["rows"])
    for v, why in data["failed"].items():
        lines.append(f"| {v} | — | — | — | — | — | — | not measured: {why} |")
    if data.get("gone_after_start"):
        add(data["gone_after_start"], " (back end up at start-up, then stopped)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--peers", action="store_true",
                    help="also the peers (installs build/bench-venv)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--out", default=str(H.BENCH / "results"))
    args = ap.parse_args()
    if args.peers:
        python, unavailable = H.ensure_venv()
        variants = ALL
    else:
        python, unavailable, variants = sys.executable, {}, OURS
    otas_path, why = H.otas_pythonpath()
    if why:
        unavailable["otas"] = why
    setup = Setup(python, unavailable, otas_path)
    try:
        data = overhead(setup, variants, args.workloads.split(","), args.rounds,
                        args.requests)
    finally:
        setup.close()
    table = md_overhead(data)
    print(table)
    for v, why in data["unavailable"].items():
        print(f"- {v}: not measured: {why}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
