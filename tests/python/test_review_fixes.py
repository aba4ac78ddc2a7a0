"""Fixes from the second review of the Python package: a closed engine at
ASGI lifespan shutdown, a blank SDK key, HEAD responses, the event-id
header of uncaptured responses, report_error without outgoing capture,
and `from otas import *` without Django."""

import asyncio

import pytest

from sdk_support import events_for

pytestmark = pytest.mark.usefixtures("collector")


def _asgi_app(body=b"asgi ok"):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    return app


async def _run(wrapped, scope, inbox):
    sent = []

    async def receive():
        return inbox.pop(0)

    async def send(msg):
        sent.append(msg)
    await wrapped(scope, receive, send)
    return sent


def _http(path, method="GET"):
    return ({"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": [(b"host", b"a.example")], "scheme": "http",
             "client": ("10.0.0.9", 5000)}, [{"type": "http.request", "body": b""}])


def test_asgi_lifespan_shutdown_after_engine_closed(collector, uid):
    from otas.asgi import OtasASGIMiddleware

    wrapped = OtasASGIMiddleware(_asgi_app())
    sent = asyncio.run(_run(wrapped, *_http(f"/closed-first/{uid}")))
    assert sent[1]["body"] == b"asgi ok"
    # A signal handler (or the app) closed OTAS before the server's
    # lifespan shutdown: closing delivered the event, the flush must not
    # raise out of the app's lifespan.
    wrapped._engine.close(5000)
    life = asyncio.run(_run(wrapped, {"type": "lifespan"},
                            [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]))
    assert [m["type"] for m in life] == ["lifespan.startup.complete",
                                         "lifespan.shutdown.complete"]
    ev = events_for(collector, 1, path=f"/closed-first/{uid}")
    assert len(ev) == 1 and ev[0]["response_body"] == "asgi ok"


@pytest.mark.parametrize("key", ["", "   ", " \t\n"])
def test_blank_sdk_key_is_a_missing_key(key, monkeypatch):
    from otas import conf
    from otas.checks import check_otas
    from otas.exceptions import MISSING_KEY_MESSAGE, OtasConfigurationError

    env = {"OTAS_CAPTURE_IN_TESTS": "1", "OTAS_SDK_KEY": key}
    with pytest.raises(OtasConfigurationError) as err:
        conf.load(None, None, environ=env)
    assert str(err.value) == MISSING_KEY_MESSAGE
    with pytest.raises(OtasConfigurationError) as err:
        conf.load(None, {"sdk_key": key}, environ={"OTAS_CAPTURE_IN_TESTS": "1"})
    assert str(err.value) == MISSING_KEY_MESSAGE
    # The system check warns as for a missing key (it reads os.environ).
    monkeypatch.setenv("OTAS_SDK_KEY", key)
    problems = check_otas()
    w002 = [p for p in problems if p.id == "otas.W002"]
    assert len(w002) == 1
    assert w002[0].msg == ("OTAS_SDK_KEY is not set: starting a server will raise "
                           "OtasConfigurationError.")
    monkeypatch.delenv("OTAS_SDK_KEY")
    assert [p.msg for p in check_otas() if p.id == "otas.W002"] == [w002[0].msg]
