"""CPU per event, the sender thread's profile, and compression levers.

Four measurements, all against today's engine, for issue 18's redesign:

1. CPU per event (`cpu_per_event`).  The in-process workers of
   bench_overhead (baseline: no capture; null: the Python adapter alone;
   otas: adapter + C engine delivering to a real otas-collector) run the
   same requests in interleaved rounds; each round reads the worker's
   CLOCK_PROCESS_CPUTIME_ID (every thread, user + system) before the first
   request and after the last one, and for otas after otas.flush() returned,
   so the sender's work on the round's events (redaction, JSON, gzip, HTTP,
   spool) is inside the figure.  CPU per event = that CPU / requests; the
   figure to quote is otas minus baseline (medians over rounds).  CPU time,
   not wall time: another tenant of the machine slows a round but does not
   add CPU to the worker (it still moves cache and frequency: compare within
   one run).
2. The C driver (`driver`).  bench/bench_sender.c captures N events through
   the public C API into the real engine and flushes to a real collector:
   events/s and CPU per event with no Python at all, split into the
   capturing thread and the sender; with each tree's defaults (batches of
   1,000 events since issue 18's fourth round, 100 before) and with
   batches of 100.
3. The sender's profile (`profile`).  The same driver under valgrind
   --tool=callgrind (perf's hardware counters are not available in this
   VM): instructions of the sender thread over the measured events only,
   per function, grouped into stages; each stage's µs per event is its
   share of instructions times the sender's CPU per event from (2).
4. Compression (`compress`).  Real batches as the engine sends them,
   recorded by a small proxy between the driver and the collector, are
   compressed with the engine's gzip settings (level 1) and with zstd
   (levels -1, 1, 3; Debian's libzstd) at 100 events and joined to 1,000.

    python bench/bench_cpu.py [--quick]
"""

import argparse
import gzip
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

DRIVER_SRC = H.BENCH / "bench_sender.c"
DRIVER = H.BUILD / "bench_sender"
REDACT_RULES = "$.password,$.token,$.ssn,$.card.number,$.card.cvv"
CPU_WORKLOADS = ["get", "post1k"]
CPU_VARIANTS = ["baseline", "null", "before", "otas"]

# bench_sender's modes for the events the Django bench's worker hands the
# engine (get and post1k workloads), paced as that bench paces them.
DJANGO_EVENTS = {
    "Django GET small JSON, paced 60 µs": {"BENCH_EVENT": "django-get",
                                           "BENCH_PACE_US": "60"},
    "Django POST 1 KB, paced 70 µs": {"BENCH_EVENT": "django-post1k",
                                      "BENCH_PACE_US": "70"},
}

# Stages of the sender's profile: (name, test on "file:function [object]").
STAGES = [
    # JSON bodies are redacted and escaped in one pass
    # (otas__redact_json_names_str): its escaping counts as redaction, and
    # so does what is inlined into it from headers (json.h, emmintrin.h).
    ("redaction (header names, JSON keys, JSONPath)",
     re.compile(r"redact_names\.c|redact_body\.c|redact_json\.c|redact_form\.c|jsonpath\.c|"
                r":otas__redact_json_names_str\b|:otas__name_memo_ask\b|"
                r"(event|headers)\.c:(is_sensitive|hdr_name_eq|hdr_in|may_hold_url)")),
    ("compression (zstd to our collector, zlib for gzip)",
     re.compile(r"libz\.so|libzstd|compress\.c|gzip\.c")),
    ("JSON serialisation (event.c, headers.c, identity.c, json.c, buf, printf)",
     re.compile(r"event\.c|headers\.c|identity\.c|json\.c|utf8\.c|buf\.[ch]|vfprintf|"
                r"vsnprintf|printf|"
                r"_itoa|strchrnul")),
    ("copies and allocation (memcpy, malloc, free)",
     re.compile(r"mem(cpy|move|set)|malloc|realloc|free|calloc|_int_|strlen")),
    ("HTTP (libcurl, http_curl.c)", re.compile(r"libcurl|http_curl\.c|libnghttp|"
                                               r"libssl|libcrypto|libidn|libbrotli")),
    ("answer parse (jansson)", re.compile(r"libjansson")),
    ("spool (SQLite)", re.compile(r"spool\.c|libsqlite3")),
    ("queue and locks", re.compile(r"queue\.c|pthread|futex|lll_")),
    # (?<!d): entity.c, not identity.c (the serialiser's metadata).
    ("sender logic (sender.c, retry.c)", re.compile(r"sender\.c|retry\.c|capture\.c|"
                                                    r"filter\.c|(?<!d)entity\.c|"
                                                    r"schedule\.c|protocol\.c")),
]


def env_base():
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("OTAS_", "PYTHON", "DJANGO_"))}


# ------------------------------------------------------------ 1. CPU/event

def cpu_per_event(setup, rounds, n, workloads=CPU_WORKLOADS, variants=CPU_VARIANTS,
                  log=H.log):
    import bench_overhead as O

    out = {"workloads": {}, "rounds": rounds, "requests_per_round": n,
           "unavailable": {}}
    todo = [v for v in variants if v not in setup.unavailable]
    for key in workloads:
        label, req, redact = O.WORKLOADS[key]
        workers, failed = O.start_workers(setup, todo, redact, f"cpu-{key}", 90)
        out["unavailable"].update(failed)
        res = {v: {"cpu": [], "thread": [], "wall": [], "unflushed": 0} for v in workers}
        try:
            warm = {"op": "run", "req": O._wire(req), "n": max(50, n // 4), "flush": True}
            for w in workers.values():
                w.call(warm, timeout=300)
            cmd = dict(warm, n=n)
            names = list(workers)
            for r in range(rounds):
                k = r % len(names)
                for v in names[k:] + names[:k]:
                    a = workers[v].call(cmd, timeout=300)
                    res[v]["cpu"].append(a["cpu_ns"] / n / 1000)
                    res[v]["thread"].append(a["thread_cpu_ns"] / n / 1000)
                    res[v]["wall"].append(H.median(a["times"]) / 1000)
                    if a.get("flushed") is False:
                        res[v]["unflushed"] += 1
            stats = {v: workers[v].call({"op": "stats"})["stats"]
                     for v in ("otas", "before") if v in workers}
        finally:
            for w in workers.values():
                w.close()
        rows = {}
        for v, x in res.items():
            rows[v] = {"cpu_us": H.median(x["cpu"]), "thread_cpu_us": H.median(x["thread"]),
                       "wall_us": H.median(x["wall"]), "round_cpu_us": x["cpu"],
                       "unflushed_rounds": x["unflushed"]}
        base = rows.get("baseline")
        for v, row in rows.items():
            if base:
                # Per-round differences against the baseline of the same round
                # index (interleaved), then the median: less noise than the
                # difference of medians.
                d = [a - b for a, b in zip(res[v]["cpu"], res["baseline"]["cpu"])]
                row["added_cpu_us"] = row["cpu_us"] - base["cpu_us"]
                row["added_cpu_us_paired"] = H.median(d)
                row["added_wall_us"] = row["wall_us"] - base["wall_us"]
                row["added_background_us"] = ((row["cpu_us"] - row["thread_cpu_us"])
                                              - (base["cpu_us"] - base["thread_cpu_us"]))
        out["workloads"][key] = {"label": label, "rows": rows,
                                 "otas_sent": stats.get("otas", {}).get("sent"),
                                 "otas_captured": stats.get("otas", {}).get("captured"),
                                 "before_sent": stats.get("before", {}).get("sent"),
                                 "before_captured": stats.get("before", {}).get("captured")}
        log(f"cpu: {label}: " + ", ".join(
            f"{v} {r['cpu_us']:.1f}" for v, r in rows.items()) + " µs CPU/request")
    return out


# ------------------------------------- 1b. instructions per event (callgrind)

def _total_ir(path):
    """The Ir total of one callgrind output file (one thread's, with
    --separate-threads)."""
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def instructions(setup, n, workloads=CPU_WORKLOADS, variants=("baseline", "null", "otas"),
                 log=H.log):
    """Instructions per request of the whole worker process, every thread,
    under valgrind --tool=callgrind: what the CPU-per-event figure counts,
    without the shared machine's noise.  Each variant runs twice, as the
    worker of section 1: a warm-up of 300 requests and otas.flush(), then
    n more requests and a flush, or nothing more; the difference over n
    is one request with its delivery (the sender's redaction, JSON, zstd
    and HTTP for it), start-up and warm-up cancelled.  PYTHONHASHSEED=0
    (Setup.env) keeps the interpreter's work the same from run to run."""
    import bench_overhead as O

    if not shutil.which("valgrind"):
        return {"error": "valgrind is not installed (apt-get install valgrind)"}
    tmp = H.tmpdir("otas-instr-")
    out = {"requests": n, "workloads": {}, "unavailable": {}}

    def one(key, v, req, redact, k):
        cg = tmp / f"cg-{key}-{v}-{k}.out"
        w = H.Worker(setup.python, v, setup.env(v, redact, f"instr-{key}-{k}"),
                     f"-instr-{key}-{k}",
                     prefix=["valgrind", "--tool=callgrind", "--separate-threads=yes",
                             f"--callgrind-out-file={cg}"])
        try:
            if not w.wait_ready(900):
                raise RuntimeError(f"{v} did not start under valgrind: {w.error}")
            cmd = {"op": "run", "req": O._wire(req), "n": 300, "flush": True}
            w.call(cmd, timeout=3600)
            if k:
                a = w.call(dict(cmd, n=k), timeout=3600)
                if a.get("flushed") is False:
                    raise RuntimeError(f"{v}: otas.flush() did not finish")
        finally:
            w.close(wait_s=600)
        # One file a thread (cg-...out-01, -02, ...); thread 1 is the one
        # that runs the requests.
        files = sorted(tmp.glob(cg.name + "-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
        if not files:
            raise RuntimeError(f"callgrind wrote nothing for {v}")
        per = [_total_ir(f) for f in files]
        return per[0], sum(per[1:])

    for key in workloads:
        label, req, redact = O.WORKLOADS[key]
        rows = {}
        for v in variants:
            if v in setup.unavailable:
                out["unavailable"][v] = setup.unavailable[v]
                continue
            # The two runs of a variant side by side: one per CPU.
            with ThreadPoolExecutor(2) as ex:
                fut = [ex.submit(one, key, v, req, redact, k) for k in (n, 0)]
                try:
                    full, zero = (f.result() for f in fut)
                except Exception as exc:
                    out["unavailable"][v] = f"{type(exc).__name__}: {exc}"
                    continue
            req_t = (full[0] - zero[0]) / n
            rows[v] = {"ir_per_request": req_t + (full[1] - zero[1]) / n,
                       "ir_request_thread": req_t,
                       "ir_other_threads": (full[1] - zero[1]) / n}
        base = rows.get("baseline", {}).get("ir_per_request")
        for r in rows.values():
            r["added_ir"] = r["ir_per_request"] - base if base is not None else None
        out["workloads"][key] = {"label": label, "rows": rows}
        log(f"instructions: {label}: " + ", ".join(
            f"{v} {r['ir_per_request'] / 1000:.1f}k" for v, r in rows.items())
            + " per request")
    return out


def md_instructions(d, per_event=None):
    if "error" in d:
        return f"Not measured: {d['error']}"
    lines = ["| workload | variant | instructions/request | added | of it, request thread "
             "| of it, other threads | ≈ µs added at the request's own rate |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for key, wl in d["workloads"].items():
        rows = wl["rows"]
        base = rows.get("baseline", {})
        cpu = (((per_event or {}).get("workloads") or {}).get(key) or {}).get(
            "rows", {}).get("baseline", {}).get("cpu_us")
        rate = cpu / base["ir_per_request"] if cpu and base else None
        for v, r in rows.items():
            b = v == "baseline" or r["added_ir"] is None
            added = "—" if b else f"{r['added_ir'] / 1000:+.1f}k"
            rt = "—" if b else (
                f"{(r['ir_request_thread'] - base['ir_request_thread']) / 1000:+.1f}k")
            ot = "—" if b else (
                f"{(r['ir_other_threads'] - base['ir_other_threads']) / 1000:+.1f}k")
            us = "—" if b or rate is None else f"{r['added_ir'] * rate:+.1f}"
            lines.append(f"| {wl['label']} | {v} | {r['ir_per_request'] / 1000:.1f}k | "
                         f"{added} | {rt} | {ot} | {us} |")
    for v, why in d.get("unavailable", {}).items():
        lines.append(f"| — | {v} | not measured: {why} | | | | |")
    return "\n".join(lines) + (
        f"\n\nvalgrind --tool=callgrind on the whole worker process (every thread), "
        f"{d['requests']:,} requests after a warm-up of 300, each with its delivery "
        "(otas.flush() inside), less the same worker with the warm-up only.  "
        "Deterministic where the CPU-time figures above move with the machine's other "
        "tenants.  The µs column converts at the baseline request's own rate (its CPU "
        "µs per instruction in this run); code that misses the caches runs slower than "
        "that, so it is a floor, not a measurement.")


# ------------------------------------------------------------ 2. the driver

def build_driver(root=None, out=None):
    """Compile bench/bench_sender.c (always this tree's) with every engine
    source of `root` (default this tree; the --before tree for the before
    driver) at -O2 -g (symbols for the profile) into `out` (default
    build/bench_sender).  bench_sender.c adapts to the public API of the
    tree it is built against (OTAS_API_VERSION).  Returns None or why it
    could not."""
    root = Path(root) if root else H.ROOT
    out = Path(out) if out else DRIVER
    cc = os.environ.get("CC", "cc")
    pk = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl", "zlib",
                         "sqlite3", "jansson", "libcrypto", "libzstd"],
                        capture_output=True, text=True)
    if pk.returncode != 0:
        return f"pkg-config: {pk.stderr.strip()}"
    # Every engine source, wherever the redesign puts it (engine/<stage>/,
    # and the library shared with the collector, common/, if there is one).
    srcs = sorted(str(p) for d in ("engine", "common") if (root / d).is_dir()
                  for p in (root / d).rglob("*.c"))
    newest = max(Path(p).stat().st_mtime for p in srcs + [str(DRIVER_SRC)])
    if out.exists() and out.stat().st_mtime > newest:
        return None
    extra = ["-DHAVE_CALLGRIND"] if Path("/usr/include/valgrind/callgrind.h").exists() \
        else []
    inc = [f"-I{root / 'engine'}", f"-I{root / 'include'}", f"-I{root}"]
    inc += [f"-I{d}" for d in sorted({str(Path(s).parent) for s in srcs})]
    out.parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([cc, "-O2", "-g", "-D_GNU_SOURCE", "-DOTAS_BUILDING=1", *extra,
                        *inc, str(DRIVER_SRC), *srcs, *pk.stdout.split(), "-lpthread",
                        "-lm", "-o", str(out)], capture_output=True, text=True)
    if p.returncode != 0:
        return f"{cc} failed: {p.stderr.strip()[-600:]}"
    return None


# The engine is measured, not the collector: its text search index
# (--text-index on, the default) makes ingest ~13x slower and would put
# the collector's work on the driver's two cores.
COLLECTOR_FLAGS = ["--sync", "normal", "--text-index", "off"]
# The driver rows whose collector stores nothing (--test-discard-commits).
NOSTORE = "collector storing nothing"


def driver_env(coll, tmp, extra=None):
    e = env_base()
    e.update(OTAS_SDK_KEY=coll.key, OTAS_BASE_URL=coll.url,
             OTAS_SPOOL_DIR=str(tmp / "spool"), OTAS_REDACT_RESPONSE_BODY=REDACT_RULES)
    e.update(extra or {})
    if e.get("BENCH_EVENT", "").startswith("django"):
        # The Django bench's get and post1k workloads set no rules.
        e.pop("OTAS_REDACT_RESPONSE_BODY", None)
    return e


def proc_cpu_s(pid):
    """CPU seconds (on a CPU, every thread) of process pid from
    /proc/PID/task/*/schedstat; None where there is no such file."""
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


def run_driver(env, n, prefix=(), timeout=600, binary=None):
    p = subprocess.run([*prefix, str(binary or DRIVER), "capture", str(n)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"bench_sender exit {p.returncode}: {p.stderr.strip()[-400:]}")
    return json.loads(lines[-1])


def driver(n, rounds, log=H.log, before=None):
    """Events/s and CPU per event with no Python: batches of 100 and of
    1,000 events, interleaved, median of `rounds`.  `before`: the driver
    binary built against the --before tree; its rows ("before, ...") run
    in the same rounds against the same collector."""
    tmp = H.tmpdir("otas-cpu-")
    coll = H.Collector(tmp, extra=COLLECTOR_FLAGS)
    # The same collector with its store cut out (--test-discard-commits:
    # key check, decode, every event's checks and the answer, nothing
    # written): what the SDK delivers when storing is not on these two
    # cores, and, by difference, what the store costs.
    tmp_ns = H.tmpdir("otas-cpu-nostore-")
    coll_ns = H.Collector(tmp_ns, extra=COLLECTOR_FLAGS + ["--test-discard-commits", "1"])
    # The collector advertises zstd, so the default (OTAS_COMPRESSION=auto)
    # sends zstd; "gzip" is what the OTAS platform gets (and the engine
    # sent everywhere before zstd).  A before tree without that option
    # ignores it (the driver sets only the options the tree knows).
    # OTAS_MAX_IN_FLIGHT defaults to 4 batches in flight; "1 in flight"
    # is the engine's behaviour before several were (issue 18).
    big = {"OTAS_BATCH_MAX_EVENTS": "1000", "OTAS_BATCH_MAX_BYTES": "8388608"}
    # "defaults": each tree's own (batches of 1,000 events since issue
    # 18's fourth round; 100 in the --before tree of 95696e0).
    small = {"OTAS_BATCH_MAX_EVENTS": "100"}
    settings = {"defaults": {},
                "defaults, 1 in flight": {"OTAS_MAX_IN_FLIGHT": "1"},
                "defaults, gzip": {"OTAS_COMPRESSION": "gzip"},
                "batch 100": dict(small),
                "batch 100, 1 in flight": dict(small, OTAS_MAX_IN_FLIGHT="1"),
                "batch 1000, 8 MB": dict(big),
                # The Django bench's own events at its pace (a request every
                # ~60-70 µs): the sender sleeps between batches as it does
                # behind the application.
                **{k: dict(v) for k, v in DJANGO_EVENTS.items()}}
    variants = {}
    for k, extra in settings.items():
        if before:
            variants[f"before, {k}"] = (before, extra, coll)
        variants[k] = (DRIVER, extra, coll)
    for k in ("defaults", "defaults, 1 in flight"):
        if before:
            variants[f"before, {k}, {NOSTORE}"] = (before, settings[k], coll_ns)
        variants[f"{k}, {NOSTORE}"] = (DRIVER, settings[k], coll_ns)
    res = {k: [] for k in variants}
    try:
        names = list(variants)
        for r in range(rounds):
            for k in (names if r % 2 == 0 else names[::-1]):
                binary, extra, to = variants[k]
                c0 = proc_cpu_s(to.proc.pid)
                x = run_driver(driver_env(to, tmp if to is coll else tmp_ns, extra), n,
                               binary=binary)
                c1 = proc_cpu_s(to.proc.pid)
                # The collector's CPU for this run (it answered every batch
                # before the driver's flush returned), and the sender
                # thread's share of the wall time on a CPU and waiting for
                # one: the rest it waited for the collector or the queue.
                x["collector_us_per_event"] = ((c1 - c0) / n * 1e6 if c0 is not None
                                               and c1 is not None else float("nan"))
                if "sender_run_s" in x:
                    x["sender_on_cpu"] = x["sender_run_s"] / x["wall_s"]
                    x["sender_runq"] = x["sender_runq_s"] / x["wall_s"]
                res[k].append(x)
    finally:
        coll.stop()
        coll_ns.stop()
    out = {"events": n, "rounds": rounds, "rows": {}}
    for k, rs in res.items():
        row = {f: H.median([x[f] for x in rs]) for f in
               ("events_per_s", "cpu_us_per_event", "capture_us_per_event",
                "sender_us_per_event", "user_us_per_event", "sys_us_per_event",
                "collector_us_per_event")}
        for f in ("sender_on_cpu", "sender_runq"):
            vals = [x[f] for x in rs if f in x]
            row[f] = H.median(vals) if vals else float("nan")
        row["sent_all"] = all(x["sent"] == n for x in rs)
        row["batches"] = rs[-1]["batches"]
        row["bytes_per_event"] = rs[-1]["bytes_sent"] / n
        out["rows"][k] = row
        log(f"driver {k}: {row['events_per_s']:.0f} events/s, "
            f"{row['cpu_us_per_event']:.1f} µs CPU/event")
    return out


# ----------------------------------------------------------- 3. the profile

# Functions whose inclusive cost (callees included) the profile reports:
# the pipeline's steps as the sender calls them.
INCLUSIVE = [
    ("otas__event_write", "serialise one event (headers, bodies, redaction)"),
    ("otas__name_sensitive", "  is this header / key name sensitive?"),
    ("otas__redact_json_names_str", "  JSON body: remove sensitive keys, escape (one pass)"),
    ("otas__headers_write", "  headers"),
    ("escape", "  JSON string escaping (json.c)"),
    ("otas__urlencoded_to_json", "  query string to JSON"),
    ("otas__gzip", "gzip the batch"),
    ("otas__zstd", "zstd the batch"),
    ("otas__http_post", "HTTP POST (libcurl)"),
    ("json_loadb", "parse the answer (jansson)"),
    ("spool_ready", "spool checks (SQLite)"),
]


def _annotate(path, inclusive=False):
    """{"file:function [object]": self (or inclusive) Ir} of one callgrind
    output file."""
    p = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no",
                        f"--inclusive={'yes' if inclusive else 'no'}", str(path)],
                       capture_output=True, text=True)
    costs = {}
    for ln in p.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?(\S.*)$", ln)
        if not m or "PROGRAM TOTALS" in ln:
            continue
        try:
            costs[m.group(2).strip()] = int(m.group(1).replace(",", ""))
        except ValueError:
            pass
    return costs


def _short(name):
    """'/x/engine/event/event.c:write_body [/x/build/bench_sender]' ->
    'event.c:write_body'."""
    fn = name.split(" [", 1)[0]
    obj = name.split(" [", 1)[1].rstrip("]") if " [" in name else ""
    f, _, func = fn.rpartition(":")
    base = os.path.basename(f) if f and f != "???" else os.path.basename(obj)
    return f"{base}:{func}" if func else fn


def _callgrind(n, extra, binary):
    """One driver run of n events under callgrind: the sender thread's
    self and inclusive cost per function, and the capturing thread's."""
    tmp = H.tmpdir("otas-cg-")
    coll = H.Collector(tmp, extra=COLLECTOR_FLAGS)
    cg = tmp / "cg.out"
    try:
        env = driver_env(coll, tmp, extra)
        run_driver(env, n, prefix=["valgrind", "--tool=callgrind", "--separate-threads=yes",
                                   f"--callgrind-out-file={cg}"], timeout=1200,
                   binary=binary)
    finally:
        coll.stop()
    # One file per thread; the sender is the thread with the most
    # instructions that is not thread 1.  CALLGRIND_DUMP_STATS after the
    # flush dumps the calling (main) thread only (cg.out.1-01, zeroed just
    # before the measured loop); the other threads dump at exit (cg.out-NN:
    # from their start to engine shutdown, which is small after the flush).
    threads = {}
    for f in sorted(tmp.glob("cg.out-*")):
        threads[f.name.rsplit("-", 1)[1]] = _annotate(f)
    if (tmp / "cg.out.1-01").exists():
        threads["01"] = _annotate(tmp / "cg.out.1-01")
    if not threads:
        return {"error": f"callgrind wrote no dump ({sorted(os.listdir(tmp))})"}
    sender_tid = max((t for t in threads if t != "01"),
                     key=lambda t: sum(threads[t].values()), default=None)
    if not sender_tid:
        return {"error": "callgrind: no sender thread in the dumps"}
    return {"sender": threads[sender_tid], "main": threads.get("01", {}),
            "sender_incl": _annotate(tmp / f"cg.out-{sender_tid}", inclusive=True)}


def profile(n, sender_us, log=H.log, extra=None, binary=None):
    """Callgrind of the driver's sender thread over n events; `extra`: more
    environment for the driver (BENCH_EVENT, BENCH_PACE_US, OTAS_*),
    `binary`: another driver (the --before tree's)."""
    if not shutil.which("valgrind"):
        return {"error": "valgrind is not installed (scripts/apt-deps.sh)"}
    run = _callgrind(n, extra, binary)
    if "error" in run:
        return run
    # The sender thread's dump holds everything it did from its start (the
    # driver's CALLGRIND_ZERO_STATS zeroes the calling thread only): its
    # start-up, the warm-up events and what it does once after its first
    # delivery (the spool's open and key derivation, ~6 M instructions).
    # A second run of the same driver with no measured events gives that
    # part alone; the figures below are the difference, per event.
    zero = _callgrind(0, extra, binary)
    if "error" in zero:
        return zero
    sender = {k: v - zero["sender"].get(k, 0) for k, v in run["sender"].items()}
    sender = {k: v for k, v in sender.items() if v > 0}
    sender_incl = {k: v - zero["sender_incl"].get(k, 0)
                   for k, v in run["sender_incl"].items()}
    main = run["main"]
    total = sum(sender.values())
    stages = {name: 0 for name, _ in STAGES}
    stages["other (libc, kernel entry)"] = 0
    funcs = []
    for fn, ir in sender.items():
        for name, rx in STAGES:
            if rx.search(fn):
                stages[name] += ir
                break
        else:
            stages["other (libc, kernel entry)"] += ir
        funcs.append((ir, fn))
    funcs.sort(reverse=True)
    per_ev = total / n if n else 0
    incl = sender_incl
    inclusive = []
    for fn, label in INCLUSIVE:
        # otas__event_write_with: the sender's entry (kept buffers).
        ir = sum(v for k, v in incl.items()
                 if re.search(r":" + re.escape(fn) + r"(_with)?(\.part\.\d+)?(\'\d+)? \[", k))
        inclusive.append({"function": fn, "what": label, "ir_per_event": ir / n,
                          "share": ir / total if total else 0,
                          "us_per_event": sender_us * ir / total if total else None})
    out = {"events": n, "sender_ir_per_event": per_ev,
           "main_ir_per_event": sum(main.values()) / n if n else 0,
           "sender_us_per_event": sender_us,
           "stages": [{"stage": k, "ir_per_event": v / n, "share": v / total if total else 0,
                       "us_per_event": sender_us * v / total if total else None}
                      for k, v in sorted(stages.items(), key=lambda kv: -kv[1])],
           "inclusive": inclusive,
           "top": [{"function": _short(fn), "ir_per_event": ir / n,
                    "share": ir / total if total else 0,
                    "us_per_event": sender_us * ir / total if total else None}
                   for ir, fn in funcs[:20]],
           "functions": [{"function": _short(fn), "ir_per_event": ir / n,
                          "stage": next((nm for nm, rx in STAGES if rx.search(fn)),
                                        "other (libc, kernel entry)")}
                         for ir, fn in funcs if ir / n >= 1]}
    log(f"profile: sender {per_ev:,.0f} instructions/event")
    return out


# -------------------------------------------------------- 4. compression

class _Recorder(http.server.BaseHTTPRequestHandler):
    """Forwards to the collector; keeps the bodies of batch posts."""
    protocol_version = "HTTP/1.1"
    upstream = None
    bodies = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if self.path.endswith("/batch/"):
            raw = gzip.decompress(body) if self.headers.get(
                "Content-Encoding") == "gzip" else body
            self.bodies.append(raw)
        hdrs = {k: v for k, v in self.headers.items()
                if k.lower() not in ("host", "content-length", "connection")}
        req = urllib.request.Request(self.upstream + self.path, data=body, headers=hdrs,
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                code, data, ctype = r.status, r.read(), r.headers.get("Content-Type")
        except urllib.error.HTTPError as e:
            code, data, ctype = e.code, e.read(), e.headers.get("Content-Type")
        self.send_response(code)
        self.send_header("Content-Type", ctype or "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def compress(log=H.log):
    """Record ten real batches, then compare gzip and zstd on them."""
    tmp = H.tmpdir("otas-zstd-")
    coll = H.Collector(tmp, extra=["--sync", "normal"])
    _Recorder.upstream = coll.url
    _Recorder.bodies = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        proxy = f"http://127.0.0.1:{srv.server_address[1]}"
        # gzip: the recorder keeps the JSON the engine sent (it decodes gzip;
        # zstd, the default to this collector, would reach it undecoded).
        # Batches of 100 events (the default was 100 until issue 18's
        # fourth round; the 1,000 rows join ten): the driver captures
        # faster than one collector takes, and a backlog would grow them
        # (OTAS_BATCH_BACKLOG_EVENTS).
        env = driver_env(coll, tmp, {"OTAS_BASE_URL": proxy, "OTAS_COMPRESSION": "gzip",
                                     "OTAS_BATCH_MAX_EVENTS": "100",
                                     "OTAS_BATCH_BACKLOG_EVENTS": "0"})
        run_driver(env, 1000)
    finally:
        srv.shutdown()
        coll.stop()
    full = [b for b in _Recorder.bodies if len(json.loads(b)["events"]) >= 100]
    if not full:
        return {"error": f"no full batch recorded ({len(_Recorder.bodies)} batches)"}
    files = []
    for i, b in enumerate(full[:10]):
        f = tmp / f"batch{i}.json"
        f.write_bytes(b)
        files.append(f"{len(json.loads(b)['events'])}:{f}")
    p = subprocess.run([str(DRIVER), "compress", *files], capture_output=True, text=True,
                       timeout=600)
    rows = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not rows:
        return {"error": f"bench_sender compress: {p.stderr.strip()[-300:]}"}
    log("compress: " + ", ".join(f"{r['codec']} {r['level']} x{r['events']} "
                                 f"{r['ratio']:.1f}:1 {r['us_per_event']:.2f} µs"
                                 for r in rows))
    return {"batches": len(full),
            "bytes_per_event": len(full[0]) / len(json.loads(full[0])["events"]),
            "rows": rows}


# ------------------------------------------------------------------ all

def run_all(python, otas_path, unavailable, quick, log=H.log, before=None,
            variants=CPU_VARIANTS):
    """Every part; `before` (a harness.Before or None) adds the before
    variant to CPU per event and the before driver to the driver table."""
    import bench_overhead as O

    rounds, n = (3, 300) if quick else (15, 2000)
    data = {}
    # "null" may be listed as unavailable because the overhead section's
    # redaction workload sets an option the null engine does not know; the
    # workloads here set none, so it is tried again.
    setup = O.Setup(python, {k: v for k, v in unavailable.items() if k != "null"},
                    otas_path, before_path=before.path if before and not before.error
                    else None)
    try:
        data["per_event"] = cpu_per_event(setup, rounds, n, log=log, variants=[
            v for v in CPU_VARIANTS if v in variants])
    except Exception as exc:
        data["per_event"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        data["instructions"] = instructions(setup, 100 if quick else 1000, log=log,
                                            variants=[v for v in CPU_VARIANTS
                                                      if v in variants])
    except Exception as exc:
        data["instructions"] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        setup.close()
    why = build_driver()
    if why:
        data["driver"] = data["profile"] = data["compress"] = {"error": why}
        return data
    before_bin = None
    if before and not before.error and "before" in variants:
        before_bin = before.dir / "bench_sender"
        bwhy = build_driver(before.root, before_bin)
        if bwhy:
            data["driver_before_error"] = bwhy
            log(f"driver: before tree: {bwhy}")
            before_bin = None
    for name, fn in (("driver", lambda: driver(5000 if quick else 50000,
                                               1 if quick else 5, log, before_bin)),
                     ("compress", lambda: compress(log))):
        try:
            data[name] = fn()
        except Exception as exc:
            data[name] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        us = data["driver"]["rows"]["defaults"]["sender_us_per_event"]
    except (KeyError, TypeError):
        us = None
    try:
        data["profile"] = profile(300 if quick else 3000, us or 0, log)
    except Exception as exc:
        data["profile"] = {"error": f"{type(exc).__name__}: {exc}"}
    django_profiles(data, 500 if quick else 2000, log)
    return data


def build_before_driver(ref):
    """bench_sender.c (this tree's) built against the engine of git ref,
    exported with git archive into build/bench-before-driver/<sha>/.
    Returns (binary, None) or (None, why not)."""
    p = subprocess.run(["git", "-C", str(H.ROOT), "rev-parse", "--verify", "--quiet",
                        f"{ref}^{{commit}}"], capture_output=True, text=True)
    if p.returncode != 0:
        return None, f"--before {ref}: not a commit of this repository"
    sha = p.stdout.strip()
    d = H.BUILD / "bench-before-driver" / sha
    src = d / "src"
    if not (src / "engine").is_dir():
        src.mkdir(parents=True, exist_ok=True)
        arch = subprocess.Popen(["git", "-C", str(H.ROOT), "archive", "--format=tar", sha],
                                stdout=subprocess.PIPE)
        tar = subprocess.run(["tar", "-x", "-C", str(src)], stdin=arch.stdout,
                             capture_output=True, text=True)
        arch.stdout.close()
        if arch.wait() != 0 or tar.returncode != 0:
            return None, f"git archive | tar: {tar.stderr.strip()[-300:]}"
    out = d / "bench_sender"
    why = build_driver(src, out)
    return (None, why) if why else (out, None)


def django_profiles(data, n, log=H.log, binary=None):
    """The sender's profile for the Django bench's GET and POST 1 KB events
    (paced slowly enough under callgrind that batches fill one by one, as
    behind the application), µs from the paced driver rows."""
    for key, (label, extra) in zip(("profile_django_get", "profile_django_post1k"),
                                   DJANGO_EVENTS.items()):
        try:
            us = data.get("driver", {}).get("rows", {}).get(label, {}).get(
                "sender_us_per_event", 0)
            data[key] = profile(n, us or 0, log, extra=dict(extra, BENCH_PACE_US="1000"),
                                binary=binary)
            data[key]["label"] = label
        except Exception as exc:
            data[key] = {"error": f"{type(exc).__name__}: {exc}"}


# ----------------------------------------------------------------- tables

def md_per_event(d):
    if "error" in d:
        return f"Not measured: {d['error']}"
    lines = ["| workload | variant | CPU µs/request | added CPU µs | added (paired) "
             "| request thread µs | background threads added µs | request path µs "
             "| added µs |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for wl in d["workloads"].values():
        for v, r in wl["rows"].items():
            dash = v == "baseline"
            f = (lambda k: "—" if dash else f"{r[k]:+.1f}")
            lines.append(f"| {wl['label']} | {v} | {r['cpu_us']:.1f} | {f('added_cpu_us')} | "
                         f"{f('added_cpu_us_paired')} | {r['thread_cpu_us']:.1f} | "
                         f"{f('added_background_us')} | {r['wall_us']:.1f} | "
                         f"{f('added_wall_us')} |")
    sent = "; ".join(
        f"{wl['label']}: {wl[v + '_sent']:,} of {wl[v + '_captured']:,}"
        + (f" ({v})" if v == "before" else "")
        for wl in d["workloads"].values() for v in ("otas", "before")
        if wl.get(v + "_captured"))
    return "\n".join(lines) + (
        f"\n\nMedian of {d['rounds']} interleaved rounds of {d['requests_per_round']:,} "
        "requests.  CPU: the worker process's CLOCK_PROCESS_CPUTIME_ID (all threads) "
        "from the first request to otas.flush() returned.  'paired': median of the "
        "per-round differences.  Events the otas engine delivered (acknowledged by "
        f"the collector) of those it captured: {sent}.")


def md_driver(d, before_error=None):
    if "error" in d:
        return f"Not measured: {d['error']}"
    lines = ["| C driver, no Python | events/s (wall) | CPU µs/event | capture thread µs "
             "| other threads µs | user µs | system µs | collector CPU µs/event "
             "| sender on a CPU / waiting for one | batches "
             "| bytes sent/event | all sent |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    nan = float("nan")
    for k, r in d["rows"].items():
        lines.append(f"| {k} | {r['events_per_s']:,.0f} | {r['cpu_us_per_event']:.1f} | "
                     f"{r['capture_us_per_event']:.1f} | {r['sender_us_per_event']:.1f} | "
                     f"{r['user_us_per_event']:.1f} | {r['sys_us_per_event']:.1f} | "
                     f"{r.get('collector_us_per_event', nan):.1f} | "
                     f"{r.get('sender_on_cpu', nan):.0%} / {r.get('sender_runq', nan):.0%} | "
                     f"{r.get('batches', 0):,} | "
                     f"{r['bytes_per_event']:.0f} | {'yes' if r['sent_all'] else 'NO'} |")
    return "\n".join(lines) + (f"\n\n{d['events']:,} events per run, median of "
                               f"{d['rounds']} interleaved runs, collector on the same "
                               "machine (`--sync normal`).  'defaults': each tree's own "
                               "(batches of up to 1,000 events and 1 MB since issue 18's "
                               "fourth round, 100 before it).  Sender on a CPU / waiting "
                               "for one: shares of the wall time (schedstat); the rest "
                               "it slept, waiting for the collector or the queue." + (
                                   "  'before, ...' rows: the same driver built against "
                                   "the --before tree, in the same rounds." if any(
                                       k.startswith("before") for k in d["rows"]) else "")
                               + (f"  '{NOSTORE}': the same collector with "
                                  "`--test-discard-commits 1` (key, decode, every "
                                  "event's checks and the answer; nothing written): "
                                  "what the SDK delivers when no store shares its two "
                                  "cores." if any(NOSTORE in k for k in d["rows"]) else "")
                               + (f"\n\nBefore driver not built: {before_error}"
                                  if before_error else ""))


def md_profile(d):
    if "error" in d:
        return f"Not measured: {d['error']}"
    lines = [f"Sender thread, {d['events']:,} events under callgrind: "
             f"{d['sender_ir_per_event']:,.0f} instructions per event (the capturing "
             f"thread: {d['main_ir_per_event']:,.0f}).  µs = share × the sender's "
             f"{d['sender_us_per_event']:.1f} µs CPU/event measured natively (system "
             "time included: callgrind sees no kernel instructions, so the µs of "
             "syscall-heavy stages are under-stated and the others over-stated).", "",
             "| stage | instructions/event | share | ≈ µs/event |", "|---|---:|---:|---:|"]
    for s in d["stages"]:
        lines.append(f"| {s['stage']} | {s['ir_per_event']:,.0f} | {s['share']:.1%} | "
                     f"{s['us_per_event']:.2f} |")
    if d.get("inclusive"):
        lines += ["", "| step (inclusive of callees) | function | instructions/event | share "
                  "| ≈ µs/event |", "|---|---|---:|---:|---:|"]
        for t in d["inclusive"]:
            lines.append(f"| {t['what'].strip()} | `{t['function']}` | "
                         f"{t['ir_per_event']:,.0f} | {t['share']:.1%} | "
                         f"{t['us_per_event']:.2f} |")
    lines += ["", "| top functions (self) | instructions/event | share | ≈ µs/event |",
              "|---|---:|---:|---:|"]
    for t in d["top"]:
        lines.append(f"| `{t['function']}` | {t['ir_per_event']:,.0f} | {t['share']:.1%} | "
                     f"{t['us_per_event']:.2f} |")
    return "\n".join(lines)


def md_compress(d):
    if "error" in d:
        return f"Not measured: {d['error']}"
    lines = ["| codec | level | events per batch | ratio | CPU µs/event | MB/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in d["rows"]:
        lines.append(f"| {r['codec']} | {r['level']} | {r['events']:,} | {r['ratio']:.1f}:1 "
                     f"| {r['us_per_event']:.2f} | {r['mb_per_s']:.0f} |")
    return "\n".join(lines) + (f"\n\n{d['batches']} real batches recorded between the "
                               f"engine and the collector ({d['bytes_per_event']:.0f} bytes "
                               "of JSON per event); 1,000-event rows join ten of them.")


def md_all(d):
    parts = [("per_event", "CPU per event, in-process WSGI", md_per_event),
             ("instructions", "Instructions per event, in-process WSGI (callgrind)",
              lambda x: md_instructions(x, d.get("per_event"))),
             ("driver", "The engine alone (C driver)",
              lambda x: md_driver(x, d.get("driver_before_error"))),
             ("profile", "Profile of the sender thread", md_profile),
             ("profile_django_get", "Profile of the sender thread, the Django bench's GET "
              "event", md_profile),
             ("profile_django_post1k", "Profile of the sender thread, the Django bench's "
              "POST 1 KB event", md_profile),
             ("profile_django_get_before", "Profile of the sender thread, the Django "
              "bench's GET event, the --before tree", md_profile),
             ("profile_django_post1k_before", "Profile of the sender thread, the Django "
              "bench's POST 1 KB event, the --before tree", md_profile),
             ("compress", "gzip vs zstd on real batches", md_compress)]
    return "\n\n".join(f"### {title}\n\n{fn(d[k])}" for k, title, fn in parts if k in d)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="all", help="driver,profile,compress or all")
    ap.add_argument("--before", metavar="REF",
                    help="with --only: the driver built against the engine of git REF "
                         "too, in the same runs (driver rows 'before, ...', the "
                         "profiles of both trees)")
    ap.add_argument("--rounds", type=int, help="with --only driver: interleaved runs")
    args = ap.parse_args()
    if args.only != "all":
        why = build_driver()
        if why:
            sys.exit(why)
        before_bin = None
        if args.before:
            before_bin, why = build_before_driver(args.before)
            if why:
                sys.exit(why)
        d = {}
        parts = args.only.split(",")
        if "driver" in parts:
            d["driver"] = driver(5000 if args.quick else 50000,
                                 args.rounds or (1 if args.quick else 5), before=before_bin)
        if "compress" in parts:
            d["compress"] = compress()
        if "profile" in parts:
            us = (d.get("driver") or {}).get("rows", {}).get(
                "defaults", {}).get("sender_us_per_event", 0)
            d["profile"] = profile(500 if args.quick else 3000, us)
            django_profiles(d, 500 if args.quick else 2000)
            if before_bin:
                b = {"driver": {"rows": {k[len("before, "):]: v for k, v in
                                         (d.get("driver") or {}).get("rows", {}).items()
                                         if k.startswith("before, ")}}}
                django_profiles(b, 500 if args.quick else 2000, binary=before_bin)
                for k in ("profile_django_get", "profile_django_post1k"):
                    d[k + "_before"] = b[k]
        print(md_all(d))
        return
    python, unavailable = H.ensure_venv()
    otas_path, why = H.otas_pythonpath()
    if why:
        sys.exit(why)
    print(md_all(run_all(python, otas_path, unavailable, args.quick)))


if __name__ == "__main__":
    main()
