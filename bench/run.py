"""`make bench`: OTAS against its peers, side by side, in one run.

Installs what it needs (build/bench-venv for the peers, pip from PyPI only),
then runs, in this order:
  1. request overhead in-process, back end up   (bench_overhead.overhead)
  2. request overhead and RSS, back end down     (bench_overhead.down)
  3. served throughput, gunicorn + wrk           (bench_served.served)
  4. engine throughput, one core                 (bench_engine.engine_throughput)
  5. collector ingest, if bench/bench_collector_ingest.* is present (SQLite and
     PostgreSQL with 1 and 2 collectors, side by side)
  6. CPU per event, the C driver, the sender's profile, gzip vs zstd
                                                 (bench_cpu.run_all)
  7. the dashboard's query API on 1M events, SQLite and PostgreSQL
     (bench_dashboard.py; --quick: 200,000 events)
and a first table, "Engine figures (issue 18)", that puts the figures the
engine redesign is judged by side by side against no OTAS.
and writes bench/results/results.md (the tables), results.json (every
number) and PNG plots; the tables are printed too.  bench/README.md says how
to read them.

    python bench/run.py            # the full run (< 15 minutes)
    python bench/run.py --quick    # a fast pass for development
                                   # (written to build/bench-quick/)
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cpu as C  # noqa: E402
import bench_engine as E  # noqa: E402
import bench_overhead as O  # noqa: E402
import bench_served as S  # noqa: E402
import harness as H  # noqa: E402

FULL = dict(rounds=31, requests=1000, down_total=20000, down_rounds=10,
            served_rounds=9, served_s=3, engine_events=50000, engine_rounds=3)
QUICK = dict(rounds=3, requests=200, down_total=2000, down_rounds=4,
             served_rounds=1, served_s=2, engine_events=5000, engine_rounds=1)
SECTIONS = ["overhead", "down", "served", "engine", "ingest", "cpu", "dashboard"]


def collector_ingest(out, quick):
    """Run the collector ingest benchmark (another helper's) if it is here."""
    for ext, runner in (("py", [sys.executable]), ("sh", ["bash"])):
        script = H.BENCH / f"bench_collector_ingest.{ext}"
        if script.exists():
            break
    else:
        return {"missing": "bench/bench_collector_ingest.* is not in this tree"}
    before = set(out.glob("*"))
    args = runner + [str(script)]
    if quick:  # its own quick switch if it has one, else fewer batches
        try:
            helptext = subprocess.run(args + ["--help"], capture_output=True,
                                      text=True, timeout=60, cwd=H.ROOT).stdout
        except subprocess.TimeoutExpired:
            helptext = ""
        if "--quick" in helptext:
            args.append("--quick")
        elif "--batches" in helptext:
            args += ["--batches", "50"]
    env = dict(os.environ, BENCH_RESULTS_DIR=str(out), BENCH_QUICK="1" if quick else "0")
    binary = H.collector_binary()
    if binary and "OTAS_COLLECTOR_BIN" not in env:
        env["OTAS_COLLECTOR_BIN"] = binary
    H.log("collector ingest: " + " ".join(args[len(runner):]))
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=420,
                           cwd=H.ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 420 s", "command": args}
    new = sorted(str(f.name) for f in set(out.glob("*")) - before)
    res = {"stdout": p.stdout.strip(), "returncode": p.returncode, "files": new,
           "command": [Path(a).name if i < 2 else a for i, a in enumerate(args)]}
    if p.returncode != 0:
        res["error"] = f"exit {p.returncode}: {p.stderr.strip()[-500:]}"
    return res


def dashboard(out, quick, python):
    """bench_dashboard.py: every view at 15m..30d on a big database."""
    args = [sys.executable, str(H.BENCH / "bench_dashboard.py"),
            "--json", str(out / "dashboard.json"), "--md", str(out / "dashboard.md")]
    args += ["--events", "200000", "--rounds", "2"] if quick else ["--rounds", "5"]
    env = dict(os.environ)
    binary = H.collector_binary()
    if binary and "OTAS_COLLECTOR_BIN" not in env:
        env["OTAS_COLLECTOR_BIN"] = binary
    H.log("dashboard: " + " ".join(args[2:]))
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=3600,
                           cwd=H.ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 3600 s"}
    res = {"returncode": p.returncode}
    if p.returncode != 0:
        res["error"] = f"exit {p.returncode}: {p.stderr.strip()[-500:]}"
    if (out / "dashboard.md").exists():
        res["table"] = (out / "dashboard.md").read_text()
        res["rows"] = json.loads((out / "dashboard.json").read_text())
    return res


def engine_figures(data):
    """The figures issue 18 judges the engine by, side by side, from the
    sections of this run (— where a section did not run): no OTAS, the
    engine of the --before tree, today's, and after ÷ before (of the added
    cost for times and CPU, of the figure itself for rates)."""
    rows = []
    dash = "—"

    def wl(key):
        return (((data.get("overhead") or {}).get("workloads") or {}).get(key) or {}).get(
            "rows", {})

    def ratio(a, b):
        # Of an added cost that is noise (≤ 0) no ratio means anything.
        return f"{a / b:.2f}×" if a is not None and b and b > 0 else dash

    def us(x, sign=False):
        return dash if x is None else (f"{x:+.1f} µs" if sign else f"{x:.1f} µs")

    def added(row):
        # The paired figure where the run has it (bench_overhead.summarise).
        a = row.get("added_paired_us")
        return row.get("added_us") if a is None else a

    for key, label, goal in (("get", "GET small JSON", "≤ 3"),
                             ("post1k", "POST 1 KB JSON", "≤ 5"),
                             ("post64k", "POST 64 KB JSON", "≤ 10")):
        r = wl(key)
        if "otas" in r and "baseline" in r:
            b = r.get("before", {})
            rows.append((f"Request path, {label}", us(r["baseline"]["median_us"]),
                         us(b.get("median_us")), us(r["otas"]["median_us"]),
                         us(added(b) if b else None, True), us(added(r["otas"]), True),
                         ratio(added(r["otas"]), added(b) if b else None),
                         goal + " µs added"))
            if "nostore" in r:
                rows.append((f"Request path, {label}, collector storing nothing",
                             us(r["baseline"]["median_us"]), dash,
                             us(r["nostore"]["median_us"]), dash,
                             us(added(r["nostore"]), True), dash,
                             "(the SDK without the store)"))
    pe = ((data.get("cpu") or {}).get("per_event") or {}).get("workloads") or {}
    for key, goal in (("get", "≤ 6"), ("post1k", "≤ 6")):
        r = (pe.get(key) or {}).get("rows", {})
        if "otas" in r and "baseline" in r:
            b = r.get("before", {})
            adapter = (f" (adapter {r['null']['added_cpu_us_paired']:+.1f})"
                       if "null" in r else "")
            rows.append((f"CPU per event (process, all threads), {pe[key]['label']}",
                         us(r["baseline"]["cpu_us"]), us(b.get("cpu_us")),
                         us(r["otas"]["cpu_us"]), us(b.get("added_cpu_us_paired"), True),
                         us(r["otas"]["added_cpu_us_paired"], True) + adapter,
                         ratio(r["otas"]["added_cpu_us_paired"],
                               b.get("added_cpu_us_paired")), goal + " µs added"))
    ins = ((data.get("cpu") or {}).get("instructions") or {}).get("workloads") or {}
    for key in ("get", "post1k"):
        r = (ins.get(key) or {}).get("rows", {})
        if "otas" in r and "baseline" in r:
            b = r.get("before", {})

            def k(x, sign=False):
                return dash if x is None else (f"{x / 1000:+.1f}k" if sign
                                               else f"{x / 1000:.1f}k")
            adapter = (f" (adapter {r['null']['added_ir'] / 1000:+.1f}k)"
                       if "null" in r else "")
            rows.append((f"Instructions per event (callgrind, process, all threads), "
                         f"{ins[key]['label']}", k(r["baseline"]["ir_per_request"]),
                         k(b.get("ir_per_request")), k(r["otas"]["ir_per_request"]),
                         k(b.get("added_ir"), True), k(r["otas"]["added_ir"], True) + adapter,
                         ratio(r["otas"]["added_ir"], b.get("added_ir")), dash))
    en, eb = data.get("engine") or {}, data.get("engine_before") or {}
    if "events_per_s" in en:
        b = eb.get("events_per_s")
        rows.append(("Delivery, one process to one collector (Python capture loop), "
                     "events/s", dash, f"{b:,.0f}" if b else dash,
                     f"{en['events_per_s']:,.0f}", dash, dash,
                     ratio(en["events_per_s"], b), "≥ 100,000 events/s"))
    dr = ((data.get("cpu") or {}).get("driver") or {}).get("rows") or {}
    for k, r in dr.items():
        if k.startswith("before, "):
            continue
        b = dr.get(f"before, {k}", {})
        be = b.get("events_per_s")
        rows.append((f"Delivery, C driver, {k}, events/s", dash,
                     f"{be:,.0f}" if be else dash, f"{r['events_per_s']:,.0f}", dash, dash,
                     ratio(r["events_per_s"], be), "≥ 100,000 events/s"))
        rows.append((f"Delivery, C driver, {k}, CPU per event", dash,
                     us(b.get("cpu_us_per_event")), us(r["cpu_us_per_event"]), dash, dash,
                     ratio(r["cpu_us_per_event"], b.get("cpu_us_per_event")), dash))
        if k.startswith("defaults") and "in flight" not in k and "gzip" not in k:
            # The other side of the delivery rate: what the collector on
            # the same two cores spent per event (with and without its store).
            rows.append((f"Delivery, C driver, {k}, collector CPU per event", dash,
                         us(b.get("collector_us_per_event")),
                         us(r.get("collector_us_per_event")), dash, dash,
                         ratio(r.get("collector_us_per_event"),
                               b.get("collector_us_per_event")), dash))
    dn = (data.get("down") or {}).get("rows") or {}
    if "otas" in dn and "baseline" in dn:
        bl, o, b = dn["baseline"], dn["otas"], dn.get("before", {})
        up = added(wl("get").get("otas", {}))
        upb = added(wl("get").get("before", {}))
        rows.append(("Back end down: request path, GET", us(bl["median_us"]),
                     us(b.get("median_us")), us(o["median_us"]),
                     us(added(b) if b else None, True) + (
                         f" (up: {upb:+.1f})" if upb is not None and b else ""),
                     us(added(o), True) + (f" (up: {up:+.1f})" if up is not None
                                           else ""),
                     ratio(added(o), added(b) if b else None), "within 1 µs of up"))

        def mb(x):
            return dash if x is None else f"{x / 1024:+.1f} MB"
        rows.append((f"Back end down: RSS growth over {data['down']['requests']:,} requests",
                     mb(bl["rss_growth_kb"]), mb(b.get("rss_growth_kb")),
                     mb(o["rss_growth_kb"]), dash, dash,
                     ratio(o["rss_growth_kb"], b.get("rss_growth_kb")), "≤ 2 MB"))
    for ep, r in ((data.get("served") or {}).get("rows") or {}).items():
        b = r.get("before") or {}

        def rr(x):
            p = x.get("rps_ratio_paired")
            return f"{x['rps']:.0f} ({x['rps'] / r['baseline']['rps']:.3f}×" + (
                f"; paired {p:.3f}×)" if p is not None else ")")
        rows.append((f"Served req/s, gunicorn 2 workers, `{ep}`",
                     f"{r['baseline']['rps']:.0f}", rr(b) if b else dash,
                     rr(r["otas"]), dash, dash,
                     ratio(r["otas"]["rps"], b.get("rps")), "≥ 0.97× of no OTAS"))
        if "nostore" in r:
            rows.append((f"Served req/s, `{ep}`, collector storing nothing",
                         f"{r['baseline']['rps']:.0f}", dash,
                         rr(r["nostore"]),
                         dash, dash, dash, "(the SDK without the store)"))
        if r["baseline"].get("cpu_us") is not None:
            bc, oc = r["baseline"]["cpu_us"], r["otas"]["cpu_us"]
            pc = b.get("cpu_us")
            rows.append((f"Served, server CPU per request, `{ep}`", f"{bc:.0f} µs",
                         f"{pc:.0f} µs" if pc is not None else dash, f"{oc:.0f} µs",
                         f"{pc - bc:+.0f} µs" if pc is not None else dash,
                         f"{oc - bc:+.0f} µs", ratio(oc - bc, pc - bc if pc is not None
                                                     else None), dash))
    if not rows:
        return "No section of this run measured them."
    bf = data.get("before") or {}
    out = [f"before: otas at {bf.get('ref', '?')} ({bf.get('sha', '?')[:9]})"
           + (f"; not measured: {bf['error']}" if bf.get("error") else "")
           + "; after: this tree.  after ÷ before: of the added cost (times, CPU), "
           "of the figure (rates, RSS growth).", "",
           "| figure | no OTAS | before | after | before − none | after − none "
           "| after ÷ before | issue 18 goal |",
           "|---|---:|---:|---:|---:|---:|---:|---|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def machine():
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f
                        if ln.startswith("model name")), platform.processor())
    except OSError:
        cpu = platform.processor()
    return (f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def write_results(out, data, quick):
    (out / "results.json").write_text(json.dumps(data, indent=1, default=str))
    cfg = data["config"]
    md = [f"# OTAS benchmarks{' (quick run: not for publication)' if quick else ''}",
          "", f"{data['when']}; commit {data.get('commit', '?')}; {data['machine']}; "
          f"run took {data['took_s']:.0f} s.",
          "How to read this: bench/README.md.", ""]
    if data.get("merged"):
        md[-1:-1] = [f"Sections {', '.join(data['merged']['sections'])} re-run at "
                     f"{data['when']} into the run of {data['merged']['into']}.", ""]
    try:
        figures = engine_figures(data)
    except Exception as exc:  # a missing field must not lose the run
        figures = f"Could not be assembled: {type(exc).__name__}: {exc}"
    md += ["## Engine figures (issue 18): before and after against no OTAS, one run", "",
           figures, ""]
    ov = data.get("overhead")
    if ov:
        md += ["## Summary", ""]
        for wl in ov["workloads"].values():
            rows = wl["rows"]
            if "otas" not in rows:
                continue
            peers = [(v, r) for v, r in rows.items() if v in O.PEERS]
            others = ", ".join(f"{v} {r['added_us']:.0f} µs ({r['ratio_to_otas']:.0f}×)"
                               for v, r in peers if r["ratio_to_otas"])
            ap = rows["otas"].get("added_paired_us")
            md.append(f"- {wl['label']}: otas adds {rows['otas']['added_us']:.1f} µs"
                      + (f" ({ap:+.1f} µs paired)" if ap is not None else "")
                      + (f"; {others}." if others else "."))
        sv = data.get("served") or {}
        for ep, r in (sv.get("rows") or {}).items():
            md.append(f"- Served `{ep}` with otas: {r['rps_ratio']:.2f}× the requests/s "
                      f"without it (p99 {r['p99_ratio']:.2f}×).")
        en = data.get("engine") or {}
        if "events_per_s" in en:
            md.append(f"- Engine: {en['events_per_s']:,.0f} events/s on one core "
                      f"(wall), {en['cpu_us_per_event']:.1f} µs of CPU per event.")
        ing = data.get("ingest") or {}
        for ln in (ing.get("stdout") or "").splitlines():
            if ln.startswith("events/s"):
                cells = ln.split()[1:]
                label = (" / ".join(cells) + " events/s (SQLite / PostgreSQL, 1 collector"
                         " / PostgreSQL, 2 collectors)") if len(cells) == 3 \
                    else " ".join(cells) + " events/s"
                md.append(f"- Collector ingest: {label} (its own benchmark, below).")
        md += [""]
        md += ["## Request overhead, back end up (in-process WSGI, µs per request)", "",
               f"Median of {cfg['rounds']} interleaved rounds' medians; p99: median "
               f"of the rounds' p99s; {cfg['requests']} requests per round "
               f"({cfg['requests'] // 4} for 64 KB).  'added' is over the baseline; "
               "'added, paired': the median over rounds of each round's median less "
               "the baseline's in the same round (what the first table quotes: a slow "
               "drift of the shared host cancels in it); "
               "'× otas's added' divides a variant's added time by otas's.", "",
               O.md_overhead(ov), "", "![overhead](overhead.png)", "",
               "Body redaction, per SDK: " + "; ".join(
                   f"{v}: {why}" for v, why in O.REDACTION.items()) + ".", ""]
        rx = {k: wl.get("sink_received") for k, wl in ov["workloads"].items()}
        md += ["What the peers' sink received per workload (path prefix: requests, "
               "bytes): " + "; ".join(
                   f"{k}: " + ", ".join(f"{p} {c[0]}/{c[1]}" for p, c in (v or {}).items()
                                        if c[0])
                   for k, v in rx.items()), ""]
    if ov:
        seen = {}
        for wl in ov["workloads"].values():
            for v, r in wl["rows"].items():
                seen.update((k, val) for k, val in (r.get("info") or {}).get(
                    "versions", {}).items() if val)
                eng = (r.get("info") or {}).get("engine")
                if v in ("otas", "before") and eng:
                    seen[f"{v} engine"] = eng
        md += ["Versions measured: " + ", ".join(f"{k} {val}" for k, val in
                                                 sorted(seen.items())) + ".", ""]
    dn = data.get("down")
    if dn:
        md += ["## Back end down from start-up", "",
               f"GET small JSON, {dn['requests']:,} requests per variant in "
               f"{dn['rounds']} interleaved rounds; every sink stopped (nothing "
               "listens on the configured port).  RSS growth is from after 200 "
               "warm-up requests to after the last one.", "", O.md_down(dn), "",
               "![down](down.png)", ""]
        for name, st in (dn.get("engine_stats") or {}).items():
            flat = {}
            for k, v in st.items():
                if isinstance(v, dict):
                    flat.update((f"{k}.{k2}", v2) for k2, v2 in v.items())
                else:
                    flat[k] = v
            md += [f"{name} engine counters after the run: " + ", ".join(
                f"{k}={v}" for k, v in flat.items() if v not in (0, "", None)), ""]
    sv = data.get("served")
    if sv:
        if "error" in sv:
            md += ["## Served throughput", "", f"Not measured: {sv['error']}", ""]
        else:
            md += ["## Served throughput (gunicorn, 2 sync workers, demo app, wrk -t1 -c4)",
                   "", f"Median of {sv['rounds']} alternating {sv['duration_s']} s wrk "
                   "runs per server and endpoint; both servers up at once.", "",
                   S.md_served(sv), "", "![served](served.png)", ""]
    en = data.get("engine")
    if en:
        md += ["## Engine throughput (one core)", "",
               E.md_engine(en, data.get("engine_before")), ""]
    ing = data.get("ingest")
    if ing:
        md += ["## Collector ingest", ""]
        if "missing" in ing:
            md += [f"Not measured: {ing['missing']}.", ""]
        else:
            if ing.get("error"):
                md += [f"Failed: {ing['error']}", ""]
            if ing.get("stdout"):
                md += ["`" + " ".join(ing.get("command", [])[1:]) + "`", "",
                       "```", ing["stdout"], "```", ""]
            md += [f"![{f}]({f})" for f in ing.get("files", []) if f.endswith(".png")]
            md += [""]
    db = data.get("dashboard")
    if db:
        md += ["## Dashboard query API (bench/bench_dashboard.py)", ""]
        if db.get("error"):
            md += [f"Failed: {db['error']}", ""]
        if db.get("table"):
            md += [db["table"], "", "![dashboard](dashboard.png)", ""]
    cp = data.get("cpu")
    if cp:
        md += ["## CPU per event, the engine alone, the sender's profile, compression", "",
               "bench/bench_cpu.py; how to read it: bench/README.md.", "",
               C.md_all(cp), "", "![cpu](cpu.png)", ""]
    un = data.get("unavailable", {})
    md += ["## Not measured", ""]
    md += [f"- **{v}**: {why}" for v, why in un.items()] or ["Every variant was measured."]
    text = "\n".join(md) + "\n"
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(data, indent=1, default=str))
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run for development")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--variants", default=",".join(O.ALL),
                    help="comma-separated; `before` is otas built from --before")
    ap.add_argument("--before", default=os.environ.get("BENCH_BEFORE") or H.BEFORE_DEFAULT,
                    help="git ref of the `before` variant (default: BENCH_BEFORE, else "
                    f"{H.BEFORE_DEFAULT}, where round 2's engine work started)")
    ap.add_argument("--out", help="results directory (default bench/results, "
                    "build/bench-quick with --quick)")
    ap.add_argument("--skip-install", action="store_true",
                    help="use build/bench-venv as it is")
    ap.add_argument("--merge", action="store_true",
                    help="keep the sections of OUT/results.json that this run does "
                    "not measure (re-run one section into an existing result)")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    out = Path(args.out) if args.out else (
        H.BUILD / "bench-quick" if args.quick else H.BENCH / "results")
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    variants = args.variants.split(",")
    t0 = time.monotonic()

    python, unavailable = H.ensure_venv(skip_install=args.skip_install)
    otas_path, why = H.otas_pythonpath()
    if why:
        unavailable["otas"] = why
    for v in list(unavailable):
        if v in O.PEERS:
            unavailable[v] = f"{H.PEERS[v][0]}: {unavailable[v]}"
    before = None
    if "before" in variants:
        before = H.before_tree(args.before)
        if before.error:
            unavailable["before"] = before.error
    bpath = before.path if before and not before.error else None
    try:
        commit = subprocess.run(["git", "-C", str(H.ROOT), "describe", "--always",
                                 "--dirty"], capture_output=True, text=True,
                                timeout=30).stdout.strip()
    except Exception:
        commit = "?"
    data = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "machine": machine(), "config": cfg, "quick": args.quick,
            "peers": {v: H.PEERS[v][0] for v in H.PEERS}, "variants": variants}
    if before:
        data["before"] = {"ref": args.before, "sha": before.sha, "built_s": before.built_s,
                          "error": before.error}

    if "overhead" in only:
        setup = O.Setup(python, unavailable, otas_path, before_path=bpath)
        try:
            # nostore beside otas: the request path without the store's
            # CPU on the same cores (the rows "collector storing nothing").
            ov_variants = variants + (["nostore"] if "otas" in variants else [])
            data["overhead"] = O.overhead(setup, ov_variants, list(O.WORKLOADS),
                                          cfg["rounds"], cfg["requests"])
        finally:
            setup.close()
        unavailable.update({v: w for v, w in data["overhead"]["unavailable"].items()
                            if v not in unavailable})
    if "down" in only:
        setup = O.Setup(python, unavailable, otas_path, down=True, before_path=bpath)
        try:
            data["down"] = O.down(setup, variants, cfg["down_total"], cfg["down_rounds"])
        finally:
            setup.close()
    if "served" in only:
        import shutil

        if "otas" in unavailable:
            data["served"] = {"error": f"otas: {unavailable['otas']}"}
        elif not shutil.which("wrk"):
            data["served"] = {"error": "wrk is not installed (scripts/apt-deps.sh "
                                       "installs it: apt-get install wrk)"}
        else:
            try:
                data["served"] = S.served(
                    python, otas_path, cfg["served_rounds"], cfg["served_s"],
                    before_path=bpath if "before" not in unavailable else None,
                    nostore=True)
            except Exception as exc:
                data["served"] = {"error": f"{type(exc).__name__}: {exc}"}
    if "engine" in only:
        if "otas" in unavailable:
            data["engine"] = {"error": f"otas: {unavailable['otas']}"}
        else:
            paths = {"otas": otas_path}
            if bpath and "before" not in unavailable:
                paths = {"before": bpath, "otas": otas_path}
            res = E.engine_compare(python, paths, cfg["engine_events"],
                                   cfg["engine_rounds"])
            data["engine"] = res["otas"]
            if "before" in res:
                data["engine_before"] = res["before"]
    if "cpu" in only:
        if "otas" in unavailable:
            data["cpu"] = {"per_event": {"error": f"otas: {unavailable['otas']}"}}
        else:
            H.log("cpu per event, driver, profile, compression")
            data["cpu"] = C.run_all(python, otas_path, unavailable, args.quick,
                                    before=before, variants=variants)
    if "ingest" in only:
        H.log("collector ingest")
        data["ingest"] = collector_ingest(out, args.quick)
    if "dashboard" in only:
        data["dashboard"] = dashboard(out, args.quick, python)
    # Only what was asked for: a variant not requested is not "not measured".
    data["unavailable"] = {v: why for v, why in unavailable.items() if v in variants}
    data["took_s"] = time.monotonic() - t0
    if args.merge and (out / "results.json").exists():
        old = json.loads((out / "results.json").read_text())
        for k in SECTIONS + ["engine_before"]:
            key = "engine" if k == "engine_before" else k
            if key not in only and k in old:
                data[k] = old[k]
        data["merged"] = {"sections": sorted(only & set(SECTIONS)),
                          "into": f"{old.get('when')} ({old.get('commit')})"}

    text = write_results(out, data, args.quick)
    p = subprocess.run([python, str(H.BENCH / "plots.py"), str(out)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        H.log(f"plots failed: {p.stderr.strip()[-800:]}")
    print(text)
    H.log(f"results in {out} ({data['took_s']:.0f} s)")


if __name__ == "__main__":
    main()
