"""OpenTelemetry: a Django app under opentelemetry-instrumentation-django
whose OTAS events carry the server span's ids, an outgoing call whose
traceparent reaches the callee, and the collector's query API filtering
by trace id.  Without OpenTelemetry the incoming traceparent is kept and
propagated.  Real Django app (subprocess), real collector."""

import json
import random

import pytest

from migrate_support import q_has, ThirdParty, by_marker, events_with, run_django

pytestmark = pytest.mark.usefixtures("collector")

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

OTEL_SETTINGS = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.instrumentation.django import DjangoInstrumentor
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
DjangoInstrumentor().instrument()
s.OTAS.update({"CAPTURE_OUTGOING": True})
"""

BODY = """
R = os.environ["RID"]
c = Client()
kw = {"HTTP_TRACEPARENT": os.environ["CALLER"]} if os.environ.get("CALLER") else {}
out["call"] = c.get("/api/call", {"target": T, "rid": R, "paths": "/traced-" + R},
                    **kw).json()
try:
    out["spans"] = [
        {"name": sp.name, "kind": str(sp.kind), "trace_id": format(sp.context.trace_id, "032x"),
         "span_id": format(sp.context.span_id, "016x"),
         "parent": format(sp.parent.span_id, "016x") if sp.parent else None}
        for sp in exporter.get_finished_spans()]
except NameError:
    out["spans"] = None
"""


@pytest.fixture
def third():
    t = ThirdParty()
    yield t
    t.close()


def _run(collector, third, tmp_path, settings, caller=None):
    rid = str(random.randrange(10**8, 10**9))
    env = {"RID": rid}
    if caller:
        env["CALLER"] = caller
    p, res = run_django(collector, tmp_path, third.url, settings, BODY, env=env)
    parent = events_with(collector, lambda e: e["path"] == "/api/call"
                         and q_has(e, "rid", rid))[0]
    kid = by_marker(collector, f"/traced-{rid}")[0]
    return rid, res, parent, kid


def test_server_span_ids_recorded_and_traceparent_reaches_callee(collector, third, tmp_path):
    rid, res, parent, kid = _run(collector, third, tmp_path, OTEL_SETTINGS,
                                 caller=CALLER)
    server = [sp for sp in res["spans"] if "SERVER" in sp["kind"]]
    assert len(server) == 1, res["spans"]
    span = server[0]
    md = parent["metadata"]
    assert md["trace_id"] == span["trace_id"] == CALLER[3:35]
    assert md["span_id"] == span["span_id"]
    assert md["parent_span_id"] == CALLER[36:52] == span["parent"]
    # The callee got a traceparent in the same trace, naming the span active
    # at the call (no client instrumentation: the server span).
    got = res["call"]["calls"][0]["traceparent"]
    assert got == f"00-{span['trace_id']}-{span['span_id']}-01"
    assert kid["metadata"]["traceparent"] == got
    assert kid["metadata"]["parent_event_id"] == md["event_id"]
    # The query API filters by trace id: both events, nothing else.
    r = collector.get("/api/v1/search", trace=span["trace_id"], range="24h")
    assert r.status == 200, r
    ids = {e["event_id"] if "event_id" in e else e.get("metadata", {}).get("event_id")
           for e in r.json()["events"]}
    assert md["event_id"] in ids and kid["metadata"]["event_id"] in ids


def test_otel_server_span_without_incoming_traceparent(collector, third, tmp_path):
    rid, res, parent, kid = _run(collector, third, tmp_path, OTEL_SETTINGS)
    span = [sp for sp in res["spans"] if "SERVER" in sp["kind"]][0]
    md = parent["metadata"]
    assert md["trace_id"] == span["trace_id"] and md["span_id"] == span["span_id"]
    assert "parent_span_id" not in md
    assert res["call"]["calls"][0]["traceparent"].split("-")[1] == span["trace_id"]


def test_without_otel_incoming_traceparent_kept_and_propagated(collector, third, tmp_path):
    settings = 's.OTAS.update({"CAPTURE_OUTGOING": True})'
    rid, res, parent, kid = _run(collector, third, tmp_path, settings, caller=CALLER)
    assert res["spans"] is None
    assert parent["metadata"]["traceparent"] == CALLER
    got = res["call"]["calls"][0]["traceparent"]
    version, trace_id, span_id, flags = got.split("-")
    assert (version, trace_id, flags) == ("00", CALLER[3:35], "01")
    assert span_id != CALLER[36:52] and len(span_id) == 16
    assert kid["metadata"]["traceparent"] == got


def test_without_otel_or_caller_one_trace_per_request(collector, third, tmp_path):
    settings = 's.OTAS.update({"CAPTURE_OUTGOING": True})'
    rid, res, parent, kid = _run(collector, third, tmp_path, settings)
    got = res["call"]["calls"][0]["traceparent"]
    assert parent["metadata"]["trace_id"] == got.split("-")[1]
    r = collector.get("/api/v1/search", trace=got.split("-")[1], range="24h")
    assert len(r.json()["events"]) == 2


def test_propagate_traceparent_off(collector, third, tmp_path):
    settings = 's.OTAS.update({"CAPTURE_OUTGOING": True, "PROPAGATE_TRACEPARENT": False})'
    rid, res, parent, kid = _run(collector, third, tmp_path, settings)
    assert res["call"]["calls"][0]["traceparent"] is None
    assert "traceparent" not in kid["metadata"]


def test_otel_requests_instrumentation_propagates_itself(collector, third, tmp_path):
    """With OpenTelemetry's requests instrumentation on, the callee gets its
    client span's traceparent (OTAS adds none of its own), and the
    outgoing event records that one."""
    settings = OTEL_SETTINGS + """
from opentelemetry.instrumentation.requests import RequestsInstrumentor
RequestsInstrumentor().instrument()
"""
    rid, res, parent, kid = _run(collector, third, tmp_path, settings)
    server = [sp for sp in res["spans"] if "SERVER" in sp["kind"]][0]
    client = [sp for sp in res["spans"] if "CLIENT" in sp["kind"]]
    assert len(client) == 1, res["spans"]
    client = client[0]
    assert client["parent"] == server["span_id"]
    got = res["call"]["calls"][0]["traceparent"]
    assert got.startswith(f"00-{client['trace_id']}-{client['span_id']}-")
    assert kid["metadata"]["traceparent"] == got
    assert parent["metadata"]["span_id"] == server["span_id"]


def test_otlp_export_carries_the_server_span(tmp_path):
    """OTAS_EXPORTER=otlp under the OpenTelemetry Django instrumentation:
    the log record's trace_id / span_id are the server span's, so the
    record joins the app's trace in the team's pipeline."""
    from sdk_support import run_app
    from test_otlp import Receiver

    code = OTEL_SETTINGS.replace('s.OTAS.update({"CAPTURE_OUTGOING": True})', "") + """
import django
django.setup()
from django.test import Client
import otas
Client().get("/api/items/5", HTTP_TRACEPARENT=os.environ["CALLER"])
span = [sp for sp in exporter.get_finished_spans() if "SERVER" in str(sp.kind)][0]
out = {"trace_id": format(span.context.trace_id, "032x"),
       "span_id": format(span.context.span_id, "016x"),
       "flushed": otas.flush(timeout=10)}
print("RESULT " + json.dumps(out))
"""
    code = "import json, os, sys, threading\nimport djproject.settings as s\n" + code
    rcv = Receiver()
    try:
        p, res = run_app({"OTAS_EXPORTER": "otlp", "CALLER": CALLER,
                          "OTAS_OTLP_ENDPOINT": rcv.url + "/v1/logs",
                          "OTAS_SPOOL_DIR": str(tmp_path)}, code=code)
        assert res and res["flushed"] is True, p.stderr[-3000:]
        recs = [lr for _, _, lr in rcv.records()]
        assert len(recs) == 1
        assert recs[0].trace_id.hex() == res["trace_id"] == CALLER[3:35]
        assert recs[0].span_id.hex() == res["span_id"] != CALLER[36:52]
    finally:
        rcv.close()
