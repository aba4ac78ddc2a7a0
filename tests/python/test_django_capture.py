"""The Django middleware against a real otas-collector: what is stored."""

import base64
import gzip
import hashlib
import json
import re

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from sdk_support import as_obj, events_for

pytestmark = pytest.mark.usefixtures("collector")

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def one(collector, path, **filters):
    evs = events_for(collector, 1, path=path, **filters)
    assert len(evs) == 1, evs
    return evs[0]


def headers_of(ev, which):
    return as_obj(ev[which])


def test_get_event_has_every_field(collector, uid):
    r = Client().get(f"/api/items/{uid}?q=shoes&page=2&page=3",
                     HTTP_USER_AGENT="pytest-agent", HTTP_X_REQUEST_ID="rid-1",
                     HTTP_HOST="api.example.com")
    assert r.status_code == 200
    ev = one(collector, f"/api/items/{uid}")
    assert ev["method"] == "GET"
    assert ev["status_code"] == 200
    assert ev["path"] == f"/api/items/{uid}"
    assert isinstance(ev["latency_ms"], float) and 0 < ev["latency_ms"] < 5000
    assert as_obj(ev["query_params"]) == {"q": ["shoes"], "page": ["2", "3"]}
    req_h = headers_of(ev, "request_headers")
    assert req_h["user-agent"] == "pytest-agent"
    assert req_h["x-request-id"] == "rid-1"
    resp_h = headers_of(ev, "response_headers")
    assert resp_h["content-type"] == "application/json"
    assert json.loads(ev["response_body"]) == {"id": uid, "name": f"item {uid}", "price": 9.5}
    assert ev["response_size_bytes"] == len(r.content)
    assert ev["response_content_type"] == "application/json"
    assert ev["error"] == ""
    md = ev["metadata"]
    assert md["route"] == "api/items/<int:pk>"
    assert UUID7.match(md["event_id"]), md["event_id"]
    assert md["sdk"].startswith("otas-python/")
    assert md["direction"] == "incoming"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", md["timestamp"])
    assert md["host"] == "api.example.com"


def test_post_json_body_and_sizes(collector, uid):
    payload = {"name": "widget", "qty": uid, "note": "é ü ✓"}
    body = json.dumps(payload).encode()
    r = Client().post(f"/api/items?u={uid}", body, content_type="application/json")
    assert r.status_code == 201
    ev = [e for e in events_for(collector, 1, path="/api/items", method="POST")
          if as_obj(e["query_params"]).get("u") == [str(uid)]]
    assert len(ev) == 1
    ev = ev[0]
    assert json.loads(ev["request_body"]) == payload
    assert ev["request_size_bytes"] == len(body)
    assert ev["request_content_type"] == "application/json"
    assert ev["status_code"] == 201
    assert json.loads(ev["response_body"])["echo"] == payload


def test_async_view(collector, uid):
    r = async_to_sync(AsyncClient().get)(f"/api/async/{uid}")
    assert r.status_code == 200
    ev = one(collector, f"/api/async/{uid}")
    assert ev["metadata"]["route"] == "api/async/<int:n>"
    assert json.loads(ev["response_body"]) == {"n": uid, "async": True}


def test_exception_becomes_500_with_error(collector, uid):
    c = Client(raise_request_exception=False)
    r = c.get("/api/boom", {"u": uid})
    assert r.status_code == 500
    evs = [e for e in events_for(collector, 1, path="/api/boom")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    ev = evs[0]
    assert ev["status_code"] == 500
    assert ev["error"] == "ValueError: the view failed on purpose"
    err = ev["metadata"]["errors"][0]
    assert err["type"] == "ValueError"
    assert err["message"] == "the view failed on purpose"
    assert "views.py" in err["stack"] and "raise ValueError" in err["stack"]


def test_async_exception(collector, uid):
    c = AsyncClient(raise_request_exception=False)
    r = async_to_sync(c.get)("/api/async-boom", {"u": uid})
    assert r.status_code == 500
    evs = [e for e in events_for(collector, 1, path="/api/async-boom")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    assert evs[0]["metadata"]["errors"][0]["type"] == "KeyError"


def test_streaming_response_untouched_and_counted(collector, uid):
    r = Client().get("/api/stream", {"u": uid})
    content = b"".join(r.streaming_content)
    assert content == b"x" * 50_000
    evs = [e for e in events_for(collector, 1, path="/api/stream")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    ev = evs[0]
    assert ev["response_size_bytes"] == 50_000
    assert ev["response_body"] == ""


def test_async_streaming_response(collector, uid):
    async def go():
        r = await AsyncClient().get("/api/async-stream", {"u": uid})
        return b"".join([c async for c in r.streaming_content])

    assert async_to_sync(go)() == b"x" * 20_000
    evs = [e for e in events_for(collector, 1, path="/api/async-stream")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    assert evs[0]["response_size_bytes"] == 20_000


def test_file_response_byte_for_byte(collector, uid):
    r = Client().get("/api/file", {"u": uid})
    data = b"".join(r.streaming_content)
    assert data == bytes(range(256)) * 400
    evs = [e for e in events_for(collector, 1, path="/api/file")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    assert evs[0]["response_size_bytes"] == len(data)
    assert evs[0]["response_body"] == ""


def test_large_response_truncated_full_size_kept(collector, uid):
    r = Client().get("/api/big", {"u": uid})
    assert len(r.content) == 300_000
    evs = [e for e in events_for(collector, 1, path="/api/big")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    ev = evs[0]
    assert ev["response_size_bytes"] == 300_000
    assert len(ev["response_body"]) == 102_400
    assert "response" in ev["metadata"]["truncated"]


def test_big_bodies_lent_to_the_engine_arrive_whole(collector, uid):
    # Bodies of 8 KB and more are lent to the engine (a reference, no
    # copy) and handed back once the event is serialised: every event of
    # a run of them holds its own bytes, request and response.
    import otas

    sent = []
    for i in range(24):
        body = json.dumps({"u": uid, "i": i, "pad": chr(97 + i) * (64_000 + i)})
        r = Client().post(f"/api/echo?u={uid}", body, content_type="application/json")
        assert r.content == body.encode()
        sent.append(body)
        if i == 11:
            otas.flush(timeout=15)  # half of them given back before the rest
    evs = [e for e in events_for(collector, 24, path="/api/echo")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    assert len(evs) == 24
    got = sorted(evs, key=lambda e: json.loads(e["request_body"])["i"])
    for body, ev in zip(sent, got):
        assert ev["request_body"] == body
        assert ev["response_body"] == body
        assert ev["request_size_bytes"] == len(body)


def test_response_body_is_what_the_client_got(collector, uid):
    # the binding takes the bytes from HttpResponse._container when that
    # is the content; a response written in pieces or with a content
    # property of its own is read through the property
    for kind, body in (("pieces", "first,second"), ("own", "own content")):
        r = Client().get("/api/written", {"u": uid, "kind": kind})
        assert r.content == body.encode()
        evs = [e for e in events_for(collector, 1, path="/api/written")
               if as_obj(e["query_params"]) == {"u": [str(uid)], "kind": [kind]}]
        assert len(evs) == 1, evs
        assert evs[0]["response_body"] == body
        assert evs[0]["response_size_bytes"] == len(body)


def test_binary_body_is_base64(collector, uid):
    r = Client().get("/api/binary", {"u": uid})
    evs = [e for e in events_for(collector, 1, path="/api/binary")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    ev = evs[0]
    assert base64.b64decode(ev["response_body"]) == r.content
    assert ev["metadata"]["body_encoding"] in ("base64", {"response": "base64"},
                                               ["response"])


def test_gzip_request_body_decoded(collector, uid):
    raw = json.dumps({"gz": uid, "pad": "z" * 2000}).encode()
    r = Client().post(f"/api/echo?u={uid}", gzip.compress(raw),
                      content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert r.status_code == 200
    evs = [e for e in events_for(collector, 1, path="/api/echo")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    assert json.loads(evs[0]["request_body"]) == {"gz": uid, "pad": "z" * 2000}


def test_multipart_not_loaded_view_still_works(collector, uid):
    from django.core.files.uploadedfile import SimpleUploadedFile

    blob = bytes(range(256)) * 100
    r = Client().post(f"/api/upload?u={uid}",
                      {"file": SimpleUploadedFile("a.bin", blob), "field": "v"})
    assert r.status_code == 200
    assert r.json() == {"name": "a.bin", "sha256": hashlib.sha256(blob).hexdigest(),
                        "field": "v"}
    evs = [e for e in events_for(collector, 1, path="/api/upload")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    ev = evs[0]
    assert ev["request_body"] == ""
    assert ev["request_size_bytes"] > len(blob)
    assert ev["request_content_type"].startswith("multipart/form-data")


def test_view_reading_stream_after_middleware(collector, uid):
    data = json.dumps({"k": "v" * 500, "u": uid}).encode()
    r = Client().post(f"/api/read-stream?u={uid}", data, content_type="application/json")
    assert r.status_code == 200
    assert r.json() == {"read": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    evs = [e for e in events_for(collector, 1, path="/api/read-stream")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    assert json.loads(evs[0]["request_body"])["u"] == uid


def test_octet_stream_request_not_loaded(collector, uid):
    blob = b"\x00\x01" * 1000
    r = Client().post(f"/api/read-stream?u={uid}", blob,
                      content_type="application/octet-stream")
    assert r.json()["read"] == len(blob)
    evs = [e for e in events_for(collector, 1, path="/api/read-stream")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    assert evs[0]["request_size_bytes"] == len(blob)
    assert evs[0]["request_body"] == ""


def test_agent_token_forwarded_and_redacted(collector, uid):
    token = collector.agent_session("pytest-bot")
    r = Client().get(f"/api/items/{uid}", HTTP_X_OTAS_AGENT_SESSION_TOKEN=token)
    assert r.status_code == 200
    ev = one(collector, f"/api/items/{uid}")
    assert ev["agent_id"] and ev["agent_session_id"]
    assert ev["agent_verified"] in (True, 1)
    req_h = headers_of(ev, "request_headers")
    assert token not in json.dumps(ev)
    assert req_h.get("x-otas-agent-session-token") in (None, "[REDACTED]")


def test_default_sensitive_headers_redacted(collector, uid):
    r = Client().get(
        f"/api/items/{uid}",
        HTTP_AUTHORIZATION="Bearer planted-auth-secret",
        HTTP_COOKIE="sessionid=planted-cookie-secret",
        HTTP_X_API_KEY="planted-api-key",
        HTTP_X_OTAS_SDK_KEY="planted-sdk-key",
        HTTP_PROXY_AUTHORIZATION="Basic planted-proxy",
    )
    assert r.status_code == 200
    ev = one(collector, f"/api/items/{uid}")
    req_h = headers_of(ev, "request_headers")
    for name in ("authorization", "cookie", "x-api-key", "x-otas-sdk-key",
                 "proxy-authorization"):
        assert req_h[name] == "[REDACTED]", name
    assert "planted" not in json.dumps(ev)


def test_response_set_cookie_redacted(collector, uid):
    r = Client().post(f"/api/items?u={uid}", b"{}", content_type="application/json")
    assert r.status_code == 201
    evs = [e for e in events_for(collector, 1, path="/api/items", method="POST")
           if as_obj(e["query_params"]).get("u") == [str(uid)]]
    assert "cookie-secret-value" not in json.dumps(evs[0])


def test_stats_and_flush(collector, uid):
    import otas

    Client().get(f"/api/items/{uid}")
    assert otas.flush(timeout=10) is True
    s = otas.stats()
    assert s["captured"] >= 1
    assert s["sent"] >= 1
    assert s["batch_endpoint"] == 1
    assert collector.key not in json.dumps(s)
