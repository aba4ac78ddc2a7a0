"""One benchmark variant in a long-lived process: bench/benchproj through
Django's WSGI handler, called in-process (no sockets on the request path).

Started by bench/harness.py with BENCH_VARIANT set; speaks JSON lines on a
private copy of stdout (fd 1 is pointed at stderr so that whatever an SDK
prints cannot corrupt the protocol).  First line out:
  {"ready": true, "setup_s": S, "info": {...}}  or  {"ready": false, "error": "..."}
Then one answer per command read from stdin:
  {"op": "run", "req": [method, path, body_latin1, ctype], "n": N, "flush": F}
      -> {"times": [ns, ...], "status": {"200": N}, "errors": {...},
          "cpu_ns": C, "thread_cpu_ns": T, "flushed": B}
      cpu_ns is the process's CPU time (every thread, user + system, from
      CLOCK_PROCESS_CPUTIME_ID) over the N requests and, with "flush": true
      and the otas engine, until otas.flush() returned: what the captured
      events cost to deliver is inside it.  thread_cpu_ns: the request
      thread's own share.
  {"op": "rss"}   -> {"rss_kb": K}
  {"op": "stats"} -> the SDK's own counters where it has them (otas.stats())
"""

import json
import os
import sys
import time
import traceback

from benchproj.environ import environ

VARIANT = os.environ["BENCH_VARIANT"]
SINK = os.environ.get("BENCH_SINK_URL", "http://127.0.0.1:9")
REDACT = os.environ.get("BENCH_REDACT") == "1"

proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def say(obj):
    proto.write(json.dumps(obj) + "\n")
    proto.flush()


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def otel_provider():
    """The OTel SDK set-up an APIToolkit 2.x or OTel user must write:
    a TracerProvider with a BatchSpanProcessor and an OTLP/HTTP exporter
    (all defaults: 5 s schedule, 512-span batches, 2,048-span queue)."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=SINK + "/v1/traces")))
    trace.set_tracer_provider(provider)
    return provider


ENGINE = ("otas", "before")  # the C engine: today's tree, and the one of --before
DISTS = {"baseline": [], "null": [], "otas": [], "before": [],
         "moesif": ["moesifdjango", "moesifapi"],
         "apitoolkit": ["apitoolkit-django", "opentelemetry-sdk",
                        "opentelemetry-exporter-otlp-proto-http"],
         "otel": ["opentelemetry-instrumentation-django", "opentelemetry-sdk",
                  "opentelemetry-exporter-otlp-proto-http"],
         "sentry": ["sentry-sdk"]}


def versions():
    from importlib.metadata import version

    out = {}
    for d in ["Django"] + DISTS.get(VARIANT, []):
        try:
            out[d] = version(d)
        except Exception:
            out[d] = None
    return out


def setup():
    info = {"variant": VARIANT, "versions": versions()}
    if VARIANT == "sentry":
        import sentry_sdk
        from sentry_sdk.scrubber import EventScrubber

        host = SINK.split("://", 1)[1]
        kw = {}
        if REDACT:
            from benchproj.settings import REDACT_KEYS

            kw["event_scrubber"] = EventScrubber(
                denylist=REDACT_KEYS, recursive=True)
        sentry_sdk.init(dsn=f"http://bench@{host}/1", traces_sample_rate=1.0, **kw)
        info["version"] = sentry_sdk.VERSION
    import django

    django.setup()
    if VARIANT in ("otel", "apitoolkit"):
        otel_provider()
    if VARIANT == "otel":
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().instrument()
    if VARIANT in ("otas", "null", "before"):
        import otas
        from otas import _native

        info["engine"] = getattr(_native.engine, "VERSION", None)
        info["native_error"] = _native.NATIVE_ERROR
        # Relative to the repository: results are committed, machine paths are not.
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        info["otas_file"] = os.path.relpath(otas.__file__, repo)
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler(), info


def main():
    t0 = time.monotonic()
    try:
        app, info = setup()
    except BaseException as exc:  # report why this SDK could not start
        say({"ready": False, "setup_s": time.monotonic() - t0,
             "error": f"{type(exc).__name__}: {exc}",
             "trace": traceback.format_exc()[-2000:]})
        return 1
    say({"ready": True, "setup_s": time.monotonic() - t0, "info": info})
    status_box = [0]

    def start_response(status, headers, exc_info=None):
        status_box[0] = int(status[:3])

    perf = time.perf_counter_ns
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "rss":
            say({"rss_kb": rss_kb()})
        elif op == "stats":
            out = {}
            if VARIANT in ENGINE:
                import otas

                out = otas.stats()
            say({"stats": out})
        elif op == "run":
            method, path, body, ctype = cmd["req"]
            body = body.encode("latin-1")
            times, status, errors = [], {}, {}
            pt, tt = time.process_time_ns, time.thread_time_ns
            cpu0, th0 = pt(), tt()
            for _ in range(cmd["n"]):
                e = environ(method, path, body, ctype)
                t = perf()
                try:
                    r = app(e, start_response)
                    for _c in r:
                        pass
                    r.close()
                    code = str(status_box[0])
                except Exception as exc:  # an SDK that raises into the app
                    code = "exception"
                    k = f"{type(exc).__name__}: {str(exc)[:200]}"
                    errors[k] = errors.get(k, 0) + 1
                times.append(perf() - t)
                status[code] = status.get(code, 0) + 1
            flushed = None
            if cmd.get("flush") and VARIANT in ENGINE:
                import otas

                flushed = bool(otas.flush(timeout=60))
            say({"times": times, "status": status, "errors": errors,
                 "cpu_ns": pt() - cpu0, "thread_cpu_ns": tt() - th0,
                 "flushed": flushed})
        else:
            say({"error": f"unknown op {op}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
