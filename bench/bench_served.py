"""Served throughput: gunicorn (2 sync workers) + wrk against the demo app
(demo/demoapp), with and without otas, in the same run.

Both servers are started once and stay up; wrk runs alternate between them
(rotating who goes first) for several rounds on each endpoint, and the table
reports the median over rounds of requests/s and of wrk's p99 latency, and
the ratio with/without.  The otas server delivers to a real otas-collector.
The no-otas server runs benchproj/demo_no_otas.py: the demo's settings less
the middleware and the app.  With a `before` tree (run.py --before REF) a
third server runs the demo with that otas, delivering to the same collector.

    python bench/bench_served.py [--rounds 3] [--duration 5]
"""

import argparse
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

ENDPOINTS = {
    "/api/products/3": "product (view sleeps 1-3 ms)",
    "/health": "health (no work: worst case)",
}


def start_gunicorn(python, settings, env, name):
    port = H.free_port()
    e = dict(env, DJANGO_SETTINGS_MODULE=settings)
    H.LOGS.mkdir(parents=True, exist_ok=True)
    with open(H.LOGS / f"gunicorn-{name}.log", "wb") as log:
        proc = subprocess.Popen(
            [python, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
             "--access-logfile", "/dev/null", "demoapp.wsgi:application"],
            env=e, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except Exception:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"gunicorn {name} did not start (see "
                               f"{H.LOGS / f'gunicorn-{name}.log'})")
        time.sleep(0.1)
    return proc, url


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _tree_pids(pid, children=True):
    """pid and, with children, its child processes (a gunicorn master's
    workers)."""
    pids = [pid]
    if children:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return pids


def tree_cpu_s(pid):
    """CPU seconds (user + system, every thread) of a gunicorn master and
    its workers, from /proc: a measure the machine's other tenants do not
    inflate the way they do requests/s."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in _tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tck
        except (OSError, ValueError, IndexError):
            pass
    return total


def thread_cpu_s(pid, children=True):
    """{"sender": s, "other": s}: CPU seconds on a CPU (schedstat) of the
    otas-sender threads and of every other thread of pid (and of its
    children, a gunicorn master's workers).  Empty when /proc has none."""
    out = {"sender": 0.0, "other": 0.0}
    for p in _tree_pids(pid, children):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/comm") as f:
                    name = f.read().strip()
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    run = int(f.read().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                continue
            out["sender" if name == "otas-sender" else "other"] += run
    return out


def wrk(url, duration, connections=4):
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s",
                          "--latency", url], capture_output=True, text=True,
                         timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    p99 = float(m.group(1)) * _UNITS[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                     r"timeout (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    if sock:
        bad += sum(int(x) for x in sock.groups())
    return rps, p99, bad, total


def served(python, otas_path, rounds, duration, log=H.log, before_path=None,
           collector_before=None, endpoints=None, nostore=False):
    """Servers: baseline (no otas), otas, and before if before_path is given
    (the package directory of the --before tree).  collector_before: a
    second otas-collector binary; a fourth server ("otas, collector
    before") runs this tree's otas delivering to it, so both collectors'
    CPU per request come from the same rounds.  nostore: one more server,
    this tree's otas delivering to a collector that stores nothing
    (--test-discard-commits: key, decode, checks, answer), which splits
    otas's cost to the application into the SDK's and the store's, both
    on these two cores."""
    tmp = H.tmpdir("otas-served-")
    coll = H.Collector(tmp)
    colls = {}
    if nostore:
        (tmp / "ns").mkdir(exist_ok=True)
        colls["nostore"] = H.Collector(tmp / "ns", extra=["--test-discard-commits", "1"])
    if collector_before:
        saved = os.environ.get("OTAS_COLLECTOR_BIN")
        os.environ["OTAS_COLLECTOR_BIN"] = collector_before
        try:
            (tmp / "cb").mkdir(exist_ok=True)
            colls["coll_before"] = H.Collector(tmp / "cb")
        finally:
            if saved is None:
                os.environ.pop("OTAS_COLLECTOR_BIN", None)
            else:
                os.environ["OTAS_COLLECTOR_BIN"] = saved
    eps = {ep: ENDPOINTS[ep] for ep in (endpoints or ENDPOINTS)}
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("OTAS_", "PYTHON", "DJANGO_"))}
    base["PYTHONPATH"] = os.pathsep.join([str(H.ROOT / "demo"), str(H.BENCH), otas_path])

    def with_otas(v, pkg, c=coll):
        # The demo app comes from this tree for every server: only the SDK
        # differs between otas and before.
        return dict(base, OTAS_SDK_KEY=c.key, OTAS_BASE_URL=c.url,
                    OTAS_SPOOL_DIR=str(tmp / f"spool-{v}"), PYTHONPATH=os.pathsep.join(
                        [str(H.ROOT / "demo"), str(H.BENCH), pkg]))
    servers = {}
    try:
        servers["baseline"] = start_gunicorn(python, "benchproj.demo_no_otas", base,
                                             "baseline")
        if before_path:
            servers["before"] = start_gunicorn(python, "demoapp.settings",
                                               with_otas("before", before_path), "before")
        servers["otas"] = start_gunicorn(python, "demoapp.settings",
                                         with_otas("otas", otas_path), "otas")
        if "nostore" in colls:
            servers["nostore"] = start_gunicorn(
                python, "demoapp.settings",
                with_otas("nostore", otas_path, colls["nostore"]), "nostore")
        if "coll_before" in colls:
            servers["coll_before"] = start_gunicorn(
                python, "demoapp.settings",
                with_otas("coll_before", otas_path, colls["coll_before"]), "coll_before")
        res = {ep: {v: {"rps": [], "p99_ms": [], "errors": 0, "cpu_us": [],
                        "sender_us": [], "collector_us": []}
                    for v in servers} for ep in eps}
        served_n = {v: 0 for v in servers}
        for ep in eps:
            for v, (_p, url) in servers.items():  # warm-up
                served_n[v] += wrk(url + ep, 1)[3]
            names = list(servers)
            for r in range(rounds):  # rotate who goes first
                k = r % len(names)
                order = names[k:] + names[:k]
                for v in order:
                    cpid = colls.get(v, coll).proc.pid
                    c0 = tree_cpu_s(servers[v][0].pid)
                    t0 = thread_cpu_s(servers[v][0].pid)
                    k0 = thread_cpu_s(cpid, children=False)
                    rps, p99, bad, total = wrk(servers[v][1] + ep, duration)
                    if total:
                        res[ep][v]["cpu_us"].append(
                            (tree_cpu_s(servers[v][0].pid) - c0) / total * 1e6)
                        # Where the added CPU goes: the workers' sender
                        # threads, and the collector (its ingest runs on
                        # the same cores).
                        t1 = thread_cpu_s(servers[v][0].pid)
                        k1 = thread_cpu_s(cpid, children=False)
                        res[ep][v]["sender_us"].append(
                            (t1["sender"] - t0["sender"]) / total * 1e6)
                        res[ep][v]["collector_us"].append(
                            (k1["other"] - k0["other"]) / total * 1e6)
                    served_n[v] += total
                    res[ep][v]["rps"].append(rps)
                    res[ep][v]["p99_ms"].append(p99)
                    res[ep][v]["errors"] += bad
            log(f"served {ep}: " + ", ".join(
                f"{v} {H.median(x['rps']):.0f} req/s" for v, x in res[ep].items()))
    finally:
        for proc, _url in servers.values():
            proc.terminate()  # gunicorn's workers flush otas at exit
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        # Each collector's CPU over the whole run (warm-ups and the text
        # indexer's deferred work included: it may run after a round, which
        # the per-round figure then misses), per event stored; the indexer
        # starts a pass 100 ms after the last commit.
        time.sleep(1.5)
        whole = {}
        for v, c in (("otas", coll), *colls.items()):
            if v == "nostore":
                continue  # it stores nothing to divide by
            try:
                import sqlite3
                with sqlite3.connect(Path(c.proc.args[3])) as db:
                    n = db.execute("SELECT count(*) FROM events").fetchone()[0]
                whole[v] = thread_cpu_s(c.proc.pid, children=False)["other"] / n * 1e6
            except Exception:
                pass
        coll.stop()
        for c in colls.values():
            c.stop()
    try:  # what reached the collector: capture is really on
        import sqlite3

        with sqlite3.connect(tmp / "otas.db") as db:
            stored = db.execute("SELECT count(*) FROM events").fetchone()[0]
    except Exception as exc:
        stored = f"unknown ({exc})"
    rows = {}
    for ep, label in eps.items():
        rows[ep] = {"label": label}
        for v, x in res[ep].items():
            rows[ep][v] = {"rps": H.median(x["rps"]), "p99_ms": H.median(x["p99_ms"]),
                           "errors": x["errors"], "all_rps": x["rps"],
                           "cpu_us": H.median(x["cpu_us"]),
                           "sender_us": H.median(x["sender_us"]),
                           "collector_us": H.median(x["collector_us"])}
        b = rows[ep]["baseline"]
        # Paired: each round's requests/s over the baseline's in the same
        # round (seconds apart), then the median over rounds.
        for v in rows[ep]:
            if v not in ("label", "baseline"):
                rows[ep][v]["rps_ratio_paired"] = H.median(
                    [a / c for a, c in zip(res[ep][v]["rps"], res[ep]["baseline"]["rps"])])
        rows[ep]["rps_ratio"] = rows[ep]["otas"]["rps"] / b["rps"]
        rows[ep]["p99_ratio"] = rows[ep]["otas"]["p99_ms"] / b["p99_ms"]
        if "before" in rows[ep]:
            rows[ep]["before_rps_ratio"] = rows[ep]["before"]["rps"] / b["rps"]
            rows[ep]["before_p99_ratio"] = rows[ep]["before"]["p99_ms"] / b["p99_ms"]
    for ep in rows:
        for v, us in whole.items():
            if v in rows[ep]:
                rows[ep][v]["collector_whole_us"] = us
    return {"rows": rows, "rounds": rounds, "duration_s": duration,
            "otas_requests_served": served_n["otas"],
            "before_requests_served": served_n.get("before"),
            "collector_events": stored}


def md_served(data):
    lines = ["| endpoint | server | req/s | × without | × without, paired | p99 ms | × without "
             "| server CPU µs/req | added CPU µs/req | of it, otas-sender threads µs/req "
             "| collector CPU µs/req |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    nan = float("nan")
    for ep, r in data["rows"].items():
        b = r["baseline"]
        for v, name in (("baseline", "without otas"), ("before", "otas before"),
                        ("coll_before", "otas, collector before"),
                        ("nostore", "otas, collector storing nothing"), ("otas", "otas")):
            if v not in r:
                continue
            x = r[v]
            ratio = "—" if v == "baseline" else f"{x['rps'] / b['rps']:.3f}"
            pr = "—" if v == "baseline" else f"{x.get('rps_ratio_paired', nan):.3f}"
            p99r = "—" if v == "baseline" else f"{x['p99_ms'] / b['p99_ms']:.2f}"
            cpu, bcpu = x.get("cpu_us", nan), b.get("cpu_us", nan)
            added = "—" if v == "baseline" else f"{cpu - bcpu:+.0f}"
            snd = "—" if v == "baseline" else f"{x.get('sender_us', nan):.1f}"
            col = "—" if v == "baseline" else f"{x.get('collector_us', nan):.1f}"
            lines.append(f"| `{ep}` {r['label']} | {name} | {x['rps']:.0f} | {ratio} | {pr} | "
                         f"{x['p99_ms']:.2f} | {p99r} | {cpu:.0f} | {added} | {snd} | {col} |")
    errs = {ep: "/".join(str(r[v]["errors"]) for v in ("baseline", "before", "otas")
                         if v in r)
            for ep, r in data["rows"].items()
            if any(r[v]["errors"] for v in ("baseline", "before", "otas") if v in r)}
    if errs:
        lines += ["", "wrk errors (non-2xx + socket errors), without/"
                  + ("before/" if any("before" in r for r in data["rows"].values())
                     else "") + "with: " + ", ".join(
            f"`{ep}` {e}" for ep, e in errs.items())]
    lines += ["", "× without, paired: the median over rounds of each round's requests/s "
              "over the server without otas in the same round (seconds apart).",
              "", "Server CPU µs/req: user + system time of the gunicorn master and "
              "its workers (every thread, otas's sender included) over a wrk run, "
              "divided by the requests wrk counted; median over rounds.  otas-sender "
              "threads: the workers' sender threads' time on a CPU (schedstat) per "
              "request, part of the server's.  Collector CPU: every thread of the "
              "otas-collector process (it runs on the same cores, default flags) "
              "during the same wrk run, per request; not in the server's figure."]
    if any("nostore" in r for r in data["rows"].values()):
        lines += ["", "otas, collector storing nothing: this tree's otas delivering to "
                  "an otas-collector started with `--test-discard-commits 1` (it checks "
                  "the key, decodes and checks every event and answers, and writes "
                  "nothing): the application's cost of the SDK alone, with the "
                  "collector's HTTP side still on these cores."]
    whole = [(name, r[v]["collector_whole_us"]) for r in list(data["rows"].values())[:1]
             for v, name in (("coll_before", "collector before"), ("otas", "collector"))
             if v in r and "collector_whole_us" in r[v]]
    if whole:
        lines += ["", "Collector CPU over the whole run (warm-ups and every round, the "
                  "text indexer's deferred work included) per event it stored: "
                  + ", ".join(f"{n} {us:.1f} µs" for n, us in whole) + "."]
    answered = data["otas_requests_served"] + (data.get("before_requests_served") or 0)
    stored = data["collector_events"]
    lines += ["", f"The otas server{'s' if data.get('before_requests_served') else ''} "
              f"answered {answered:,} requests (wrk's count); the collector stored "
              f"{stored:,} events." if isinstance(stored, int) else
              f"The collector's event count: {stored}."]
    per_round = []
    for v, name in (("baseline", "without"), ("before", "otas before"),
                    ("nostore", "otas, collector storing nothing"), ("otas", "otas")):
        if all(v in r for r in data["rows"].values()):
            per_round.append(f"{name}: " + "; ".join(
                f"`{ep}` " + ", ".join(f"{x:.0f}" for x in r[v]["all_rps"])
                for ep, r in data["rows"].items()))
    lines += ["", "Requests/s per round, " + ".  ".join(per_round) + "."]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--collector-before", default=None,
                    help="a second otas-collector binary (e.g. main's): one more "
                         "otas server delivers to it, both collectors' CPU per "
                         "request in the same rounds")
    ap.add_argument("--nostore", action="store_true",
                    help="one more otas server, delivering to a collector that "
                         "stores nothing (--test-discard-commits)")
    ap.add_argument("--endpoints", default=None,
                    help="comma list, default every one (" + ", ".join(ENDPOINTS) + ")")
    args = ap.parse_args()
    python, _ = H.ensure_venv()
    otas_path, why = H.otas_pythonpath()
    if why:
        sys.exit(f"served throughput needs otas: {why}")
    eps = args.endpoints.split(",") if args.endpoints else None
    print(md_served(served(python, otas_path, args.rounds, args.duration,
                           collector_before=args.collector_before, endpoints=eps,
                           nostore=args.nostore)))


if __name__ == "__main__":
    main()
