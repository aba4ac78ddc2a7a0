"""A Django streaming response whose iterator raises after the status was
sent: the event still says what went wrong (type, message, stack), as the
ASGI adapter's and the WSGI adapter's do.  The real collector."""

import pytest
from django.test import Client

from sdk_support import as_obj, events_for

pytestmark = pytest.mark.usefixtures("collector")


def test_exception_while_a_django_response_streams(collector, uid):
    r = Client().get("/api/stream-boom", {"u": uid})
    assert r.status_code == 200
    got = []
    with pytest.raises(RuntimeError, match="the stream broke"):
        for chunk in r.streaming_content:
            got.append(chunk)
    assert got == [b"x" * 1000]
    ev = [e for e in events_for(collector, 1, path="/api/stream-boom")
          if as_obj(e["query_params"]).get("u") == [str(uid)]][0]
    errors = ev["metadata"].get("errors") or []
    assert [(e["type"], e["message"]) for e in errors] == [
        ("RuntimeError", "the stream broke")]
    assert 'raise RuntimeError("the stream broke")' in errors[0]["stack"]
    assert ev["response_size_bytes"] == 1000
