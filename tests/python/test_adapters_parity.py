"""One capture core: the same scenarios through the Django, WSGI and ASGI
adapters store the same events in the real otas-collector (hooks,
MASK_EVENT, metadata collisions, errors, bodies, headers, query)."""

import asyncio
import io
import json

import pytest
from django.test import Client, override_settings

from otas.asgi import OtasASGIMiddleware
from otas.wsgi import OtasWSGIMiddleware
from sdk_support import as_obj, events_for

ADAPTERS = ["django", "wsgi", "asgi"]


def identify(request, response):
    return "user-7"


def metadata(request, response):
    # "route" and "event_id" are ours: theirs go under metadata.app
    return {"team": "payments", "route": "theirs", "event_id": "nope"}


def mask(event):
    event["metadata"]["masked"] = True
    event["request_headers"].pop("x-drop-me", None)
    return event


HOOKS = {"IDENTIFY_USER": identify, "GET_METADATA": metadata,
         "MASK_EVENT": mask}


# ---------------------------------------------------------------- the apps

def _answer(method, path, body):
    """(status, content type, body) of the plain WSGI/ASGI apps, as the
    Django views of djproject answer."""
    if path.startswith("/api/items/") and method == "GET":
        pk = int(path.rsplit("/", 1)[1])
        return 200, {"id": pk, "name": f"item {pk}", "price": 9.5}
    if path == "/api/items" and method == "POST":
        return 201, {"created": True, "echo": json.loads(body or b"{}")}
    if path == "/api/boom":
        raise ValueError("the view failed on purpose")
    return 404, {}


def wsgi_app(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(n) if n else b""
    status, doc = _answer(environ["REQUEST_METHOD"], environ["PATH_INFO"], body)
    out = json.dumps(doc).encode()
    start_response(f"{status} X", [("Content-Type", "application/json"),
                                   ("Content-Length", str(len(out)))])
    return [out]


async def asgi_app(scope, receive, send):
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    status, doc = _answer(scope["method"], scope["path"], body)
    out = json.dumps(doc).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


def call(adapter, method, path, query="", body=b"", headers=None):
    headers = dict(headers or {})
    if body:
        headers["content-type"] = "application/json"
    if adapter == "django":
        extra = {"HTTP_" + k.upper().replace("-", "_"): v
                 for k, v in headers.items() if k != "content-type"}
        with override_settings(OTAS=HOOKS):
            c = Client(raise_request_exception=False)
            url = path + ("?" + query if query else "")
            if method == "GET":
                return c.get(url, **extra).status_code
            return c.post(url, data=body, content_type="application/json",
                          **extra).status_code
    if adapter == "wsgi":
        app = OtasWSGIMiddleware(wsgi_app, **{k.lower(): v for k, v in HOOKS.items()})
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path,
                   "QUERY_STRING": query, "SERVER_NAME": "testserver",
                   "SERVER_PORT": "80", "wsgi.url_scheme": "http",
                   "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.1"}
        if body:
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["CONTENT_TYPE"] = "application/json"
        for k, v in headers.items():
            if k != "content-type":
                environ["HTTP_" + k.upper().replace("-", "_")] = v
        got = []
        try:
            it = app(environ, lambda s, h, e=None: got.append(s))
            b"".join(it)
            it.close()
        except ValueError:
            return 500
        return int(got[0][:3])
    app = OtasASGIMiddleware(asgi_app, **{k.lower(): v for k, v in HOOKS.items()})
    hs = [(k.encode(), v.encode()) for k, v in headers.items()]
    if body:
        hs.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "method": method, "path": path, "root_path": "",
             "query_string": query.encode(), "headers": hs, "scheme": "http",
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    sent = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(m):
        sent.append(m)

    try:
        asyncio.run(app(scope, receive, send))
    except ValueError:
        return 500
    return sent[0]["status"]


def _json_or_text(body):
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body


def view(ev):
    """What every adapter must agree on."""
    md = ev["metadata"]
    req_h = as_obj(ev["request_headers"])
    return {
        "method": ev["method"], "status": ev["status_code"],
        "query": as_obj(ev["query_params"]),
        "probe": req_h.get("x-probe"), "dropped": "x-drop-me" in req_h,
        "request_body": ev["request_body"],
        "response": _json_or_text(ev["response_body"]),
        "user_id": md.get("user_id"), "team": md.get("team"),
        "app": md.get("app"), "masked": md.get("masked"),
        "event_id_is_ours": md.get("event_id") != "nope",
        "route_is_ours": md.get("route") != "theirs",
        "errors": [(e["type"], e["message"]) for e in md.get("errors", [])],
    }


@pytest.mark.parametrize("scenario", ["get", "post", "error"])
def test_same_events_through_every_adapter(scenario, collector, uid):
    views = {}
    for k, adapter in enumerate(ADAPTERS):
        pk = uid * 10 + k
        if scenario == "get":
            path = f"/api/items/{pk}"
            status = call(adapter, "GET", path, "q=shoes&page=2",
                          headers={"x-probe": "p1", "x-drop-me": "d"})
            assert status == 200
        elif scenario == "post":
            path = "/api/items"
            status = call(adapter, "POST", path, f"pk={pk}",
                          body=json.dumps({"name": "n", "pk": pk}).encode(),
                          headers={"x-probe": "p2"})
            assert status == 201
        else:
            path = "/api/boom"
            status = call(adapter, "GET", path, f"pk={pk}")
            assert status == 500
        evs = events_for(collector, 1, path=path)
        mine = [e for e in evs if as_obj(e["query_params"]).get("pk") == [str(pk)]
                or e["path"] == f"/api/items/{pk}"]
        assert len(mine) == 1, (adapter, evs)
        v = view(mine[0])
        if scenario == "post":
            assert json.loads(v.pop("request_body")) == {"name": "n", "pk": pk}
            assert v["response"]["echo"] == {"name": "n", "pk": pk}
            v["response"] = None
        elif scenario == "get":
            assert v["response"] == {"id": pk, "name": f"item {pk}", "price": 9.5}
            v["response"] = None
        v.pop("response") if scenario == "error" else None
        v.pop("query")
        views[adapter] = v
    assert views["django"]["user_id"] == "user-7"
    assert views["django"]["team"] == "payments"
    assert views["django"]["app"] == {"event_id": "nope", "route": "theirs"}
    assert views["django"]["masked"] is True
    assert views["django"]["event_id_is_ours"] and views["django"]["route_is_ours"]
    if scenario == "get":
        assert views["django"]["probe"] == "p1"
        assert views["django"]["dropped"] is False
    if scenario == "error":
        assert views["django"]["errors"][0] == ("ValueError",
                                                "the view failed on purpose")
    assert views["wsgi"] == views["django"]
    assert views["asgi"] == views["django"]
