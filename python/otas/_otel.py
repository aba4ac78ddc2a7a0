"""OpenTelemetry, when the app runs it: the active span's ids for the
event, and `traceparent` for the outgoing calls OTAS captures.

OTAS never imports OpenTelemetry: it looks in sys.modules, so an app
without it pays one dict lookup per event and nothing else.  With a span
active (opentelemetry-instrumentation-django's server span, or the app's
own), the event gets metadata.trace_id / span_id / parent_span_id of that
span.  Without one, the incoming `traceparent` header is stored by the
engine as before (metadata.traceparent).

Outgoing calls: a captured call that has no `traceparent` yet gets one --
the active span's when there is one, else one in the trace of the request
being served (its incoming `traceparent`, or a trace id made for it once
and recorded on its event as metadata.trace_id) with a new span id.  A
call that already carries one (OpenTelemetry's own client
instrumentation, or the app) is left alone.
"""

import os
import sys

TRACE_KEY = "otas.trace"  # (trace_id, flags) made for a request, in its store


def span_ids():
    """(trace_id, span_id, parent_span_id or None, flags) as lower-case hex
    of the active OpenTelemetry span, or None."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    try:
        span = trace.get_current_span()
        ctx = span.get_span_context()
        if not ctx.is_valid:
            return None
        parent = getattr(span, "parent", None)
        return (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"),
                format(parent.span_id, "016x") if parent is not None
                and getattr(parent, "is_valid", True) else None,
                int(ctx.trace_flags))
    except Exception:
        return None


def span_metadata(ids):
    """The metadata members for ids from span_ids()."""
    meta = {"trace_id": ids[0], "span_id": ids[1]}
    if ids[2]:
        meta["parent_span_id"] = ids[2]
    return meta


def _incoming_traceparent(parent):
    """The request's own valid traceparent header, or None."""
    if parent is None:
        return None
    meta = getattr(parent, "META", None)
    if isinstance(meta, dict):
        tp = meta.get("HTTP_TRACEPARENT")
    elif isinstance(parent, dict):  # WSGI environ / ASGI scope
        tp = parent.get("HTTP_TRACEPARENT")
        if tp is None and isinstance(parent.get("headers"), list):
            for k, v in parent["headers"]:
                if k.lower() == b"traceparent":
                    tp = v.decode("latin-1")
                    break
    else:
        tp = None
    if not tp or len(tp) != 55 or tp[2] != "-" or tp[35] != "-":
        return None
    try:
        int(tp[3:35], 16), int(tp[36:52], 16), int(tp[53:55], 16)
    except ValueError:
        return None
    return tp


def request_trace(store, parent):
    """(trace_id, flags) of the request being served, when no span is
    active: its incoming traceparent's, else one made for it and kept in
    its store (the core records it as metadata.trace_id)."""
    tp = _incoming_traceparent(parent)
    if tp is not None:
        return tp[3:35], int(tp[53:55], 16)
    if store is None:
        return os.urandom(16).hex(), 1
    got = store.get(TRACE_KEY)
    if got is None:
        got = store[TRACE_KEY] = (os.urandom(16).hex(), 1)
    return got


def outgoing_traceparent(store, parent):
    """The traceparent a captured outgoing call carries."""
    ids = span_ids()
    if ids is not None:
        return f"00-{ids[0]}-{ids[1]}-{ids[3]:02x}"
    trace_id, flags = request_trace(store, parent)
    return f"00-{trace_id}-{os.urandom(8).hex()}-{flags:02x}"


# OpenTelemetry's client instrumentations, by the client OTAS patched.
# requests goes through urllib3, so either instruments a requests call.
_CLIENT_INSTRUMENTATIONS = {
    "requests": (("opentelemetry.instrumentation.requests", "RequestsInstrumentor"),
                 ("opentelemetry.instrumentation.urllib3", "URLLib3Instrumentor")),
    "urllib3": (("opentelemetry.instrumentation.urllib3", "URLLib3Instrumentor"),),
    "httpx": (("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),),
}


def client_instrumented(client):
    """Whether OpenTelemetry's own instrumentation of `client` is on: it
    propagates the trace itself (with its client span), so OTAS adds
    nothing -- whichever of the two wraps the other."""
    for module, name in _CLIENT_INSTRUMENTATIONS.get(client, ()):
        mod = sys.modules.get(module)
        if mod is None:
            continue
        try:
            # BaseInstrumentor is a singleton: this is the app's instance.
            if getattr(mod, name)().is_instrumented_by_opentelemetry:
                return True
        except Exception:
            continue
    return False


def has_traceparent(headers):
    """Whether a header mapping / pair list already holds traceparent."""
    try:
        items = headers.items() if hasattr(headers, "items") else headers or ()
        return any(str(k).lower() == "traceparent" for k, _ in items)
    except Exception:
        return True  # unknown shape: leave it alone
