"""The request path's added time, two builds of the binding in ONE process.

Process-to-process variance on a shared machine (±1 µs) is larger than the
changes a request-path round makes, so this compares in one interpreter:
Django's WSGIHandler over bench/benchproj, built once per variant and
instance, blocks of 200 requests interleaved (the order reversed every
round), the median of each block, the median over rounds:

  baseline        no middleware
  empty           a pass-through Python middleware (what one more layer of
                  Django's handler costs)
  null_new/_old   OtasMiddleware with the null engine of each build (the
                  adapter alone: the binding's whole read, no copy)
  otas_new/_old   OtasMiddleware with each build's real engine, sending to a
                  real otas-collector

`new` is the installed otas._engine (or --new-so); `old` is the extension
file given with --old-so, loaded beside it under the same name (build the
other tree with `pip install --no-deps --target DIR TREE` and pass
DIR/otas/_engine.abi3.so).  Each variant is built --instances times,
alternating old and new: where a handler's objects land in memory moves a
request by up to ±0.5 µs (measured: four handlers of one build, +1.91 to
+2.84 µs added in one run), so one instance of each is not a comparison.  Reported per
variant: the mean over its instances of the added median, and each
instance's figure; beside it the added request-thread CPU (thread_time)
and the process's minor page faults per request, medians over blocks.

    .venv/bin/python bench/bench_reqpath.py --old-so DIR/otas/_engine.abi3.so \\
        [--workload get|post|post64k] [--variants null,otas] [--rounds 80] [--instances 4]
"""

import argparse
import gc
import importlib.machinery
import importlib.util
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from benchproj.environ import environ  # noqa: E402


class Empty:
    """A pass-through middleware: one more layer of Django's handler."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


def load_ext(path):
    loader = importlib.machinery.ExtensionFileLoader("otas._engine", path)
    spec = importlib.util.spec_from_file_location("otas._engine", path, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-so", help="the other build's otas/_engine*.so")
    ap.add_argument("--new-so", help="default: the installed otas._engine")
    ap.add_argument("--workload", choices=("get", "post", "post64k"), default="get")
    ap.add_argument("--variants", default="null,otas")
    ap.add_argument("--rounds", type=int, default=80)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--block", type=int, default=200)
    ap.add_argument("--gc-off", action="store_true", help="gc.disable() while timing")
    a = ap.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
    os.environ["BENCH_VARIANT"] = "otas"
    import harness as H
    coll = H.Collector(tempfile.mkdtemp(), extra=("--sync", "normal"))
    os.environ["OTAS_SDK_KEY"] = coll.key
    os.environ["OTAS_BASE_URL"] = coll.url
    import django
    from django.conf import settings
    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    import otas
    import otas._native as native
    import otas._null_engine as null_engine
    import otas._runtime as runtime
    import otas.middleware as mw
    from otas import _engine as installed

    builds = {"new": load_ext(a.new_so) if a.new_so else installed}
    if a.old_so:
        builds["old"] = load_ext(a.old_so)
    sys.modules["otas._engine"] = installed
    sys.modules[__name__].Empty = Empty
    base_mw = ["django.middleware.common.CommonMiddleware"]
    real_start = mw.start_engine

    def handler(middleware):
        settings.MIDDLEWARE = middleware
        return WSGIHandler()

    def otas_handler(kind, mod):
        if kind == "null":
            null_engine._c = mod
            eng = null_engine.Engine({})
            null_engine._c = installed
            mw.start_engine = lambda s: eng
        else:
            native.engine = mod
            runtime._runtimes.clear()  # a runtime (engine) of its own
        try:
            return handler(["otas.OtasMiddleware"] + base_mw)
        finally:
            mw.start_engine = real_start
            native.engine = installed

    hs = {"baseline": handler(base_mw), "empty": handler([f"{__name__}.Empty"] + base_mw)}
    order = list(builds)
    for i in range(a.instances):
        for tag in (order if i % 2 == 0 else order[::-1]):
            for kind in a.variants.split(","):
                hs[f"{kind}_{tag}#{i + 1}"] = otas_handler(kind, builds[tag])

    post = json.dumps({"name": "x" * 40, **{f"k{i}": "v" * 20 for i in range(30)}}
                      ).encode()[:1024]
    post64k = json.dumps({"name": "w", "items": [  # bench_overhead's POST_64K
        {"id": i, "sku": f"SKU-{i:06d}", "note": "n" * 40} for i in range(745)]}).encode()
    req = {"get": ("GET", "/api/items/7", b""), "post": ("POST", "/api/items", post),
           "post64k": ("POST", "/api/items", post64k)}[a.workload]
    perf = time.perf_counter_ns
    cpu = time.thread_time_ns

    def sr(status, headers, exc_info=None):
        pass

    def block(h, n):
        """Times of n requests, and the block's request-thread CPU and
        minor page faults (the whole process's) per request."""
        ts = []
        f0, c0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, cpu()
        for _ in range(n):
            e = environ(*req)
            t = perf()
            r = h(e, sr)
            for _c in r:
                pass
            r.close()
            ts.append(perf() - t)
        c1, f1 = cpu(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        return ts, (c1 - c0) / n, (f1 - f0) / n

    for h in hs.values():
        block(h, 500)
    names = list(hs)
    res = {k: [] for k in names}
    tcpu = {k: [] for k in names}
    flt = {k: [] for k in names}
    if a.gc_off:
        gc.disable()
    for rnd in range(a.rounds):
        for k in (names if rnd % 2 == 0 else names[::-1]):
            ts, c, f = block(hs[k], a.block)
            res[k].append(statistics.median(ts))
            tcpu[k].append(c)
            flt[k].append(f)
    gc.enable()
    base = statistics.median(res["baseline"]) / 1000
    base_cpu = statistics.median(tcpu["baseline"]) / 1000
    groups = {}
    for k in names:
        groups.setdefault(k.split("#")[0], []).append(
            (statistics.median(res[k]) / 1000 - base,
             statistics.median(tcpu[k]) / 1000 - base_cpu,
             statistics.median(flt[k])))
    print(f"{a.workload}: baseline {base:.2f} µs ({base_cpu:.2f} µs request-thread CPU, "
          f"{statistics.median(flt['baseline']):.2f} page faults); added over it, mean of "
          f"instances ({a.rounds} rounds of {a.block}, {a.instances} instance(s) each)")
    print(f"  {'variant':10s} {'median':>9s} {'thread CPU':>11s} {'faults/req':>10s}   each instance's median")
    for k, v in groups.items():
        each = " ".join(f"{x[0]:+.2f}" for x in v)
        print(f"  {k:10s} {statistics.mean(x[0] for x in v):+7.2f} µs {statistics.mean(x[1] for x in v):+8.2f} µs "
              f"{statistics.mean(x[2] for x in v):10.2f}   ({each})")
    otas.flush(timeout=30)
    coll.stop()


if __name__ == "__main__":
    main()
