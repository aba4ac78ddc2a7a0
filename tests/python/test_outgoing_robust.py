"""OTAS_CAPTURE_OUTGOING must never change or break the app's own HTTP
calls: a real Django app (a subprocess: outgoing capture patches the
process) calls a local server through requests and urllib3, and the
events reach the real otas-collector."""

import socket
import threading

import pytest

from migrate_support import by_marker, run_django

pytestmark = pytest.mark.usefixtures("collector")


@pytest.fixture
def raw_server():
    """Answers every request with a fixed raw HTTP response: two identical
    Content-Length headers (RFC 9110 lets a recipient accept them, and
    requests/urllib3 do), and echoes back the request's X-Pool-Key."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                data = b""
                while b"\r\n\r\n" not in data:
                    got = c.recv(65536)
                    if not got:
                        break
                    data += got
                key = b"none"
                for line in data.split(b"\r\n"):
                    if line.lower().startswith(b"x-pool-key:"):
                        key = line.split(b":", 1)[1].strip()
                body = b"key=" + key
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: %d\r\nContent-Length: %d\r\n"
                          b"Connection: close\r\n\r\n%s"
                          % (len(body), len(body), body))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    srv.close()


SETTINGS = 's.OTAS.update({"CAPTURE_OUTGOING": True})'

BODY = """
R = os.environ["RID"]
import urllib3
def attempt(name, fn):
    try:
        out[name] = fn()
    except Exception as exc:
        out[name] = "raised " + type(exc).__name__ + ": " + str(exc)

def streamed():
    r = requests.get(T + "/stream-" + R, stream=True)
    return r.raw.read().decode()
attempt("requests_stream", streamed)

def pool_urlopen():
    host, port = T[len("http://"):].split(":")
    pool = urllib3.HTTPConnectionPool(host, int(port),
                                      headers={"X-Pool-Key": "k-" + R})
    r = pool.urlopen("GET", "/pool-" + R)
    return r.data.decode()
attempt("pool", pool_urlopen)

def default_port():
    # No port: urllib3 uses the scheme's (80; nothing listens there).
    pool = urllib3.HTTPConnectionPool("127.0.0.1", retries=False)
    return pool.urlopen("GET", "/default-port-" + R).status
attempt("default_port", default_port)

def local_service():
    # Not OTAS's back end (that is OTAS_BASE_URL, with no OTAS_AUTH_URL):
    # a call to localhost:8002, the default base URL, is the app's own.
    return requests.get("http://localhost:8002/local-" + R, timeout=2).status_code
attempt("local", local_service)
"""


def test_outgoing_capture_never_breaks_or_changes_the_apps_calls(
        collector, raw_server, tmp_path):
    rid = str(__import__("random").randrange(10**8, 10**9))
    p, res = run_django(collector, tmp_path, raw_server, SETTINGS, BODY,
                        env={"RID": rid})
    # A streamed response with a repeated Content-Length: the app's call
    # returns as without OTAS (it raised ValueError from OTAS's size parse).
    assert res["requests_stream"] == "key=none", p.stderr[-2000:]
    # urllib3's pool sends its own default headers when urlopen() is given
    # none (OTAS added traceparent in a new dict and dropped them).
    assert res["pool"] == f"key=k-{rid}", p.stderr[-2000:]
    ev = by_marker(collector, f"/stream-{rid}")[0]
    assert ev["metadata"]["direction"] == "outgoing"
    assert ev["response_size_bytes"] == len("key=none")
    pool = by_marker(collector, f"/pool-{rid}")[0]
    assert pool["status_code"] == 200
    assert pool["response_body"] == f"key=k-{rid}"
    # A pool made without a port records the URL the call went to.
    assert res["default_port"].startswith("raised "), res["default_port"]
    dp = by_marker(collector, f"/default-port-{rid}")[0]
    assert dp["metadata"]["url"] == f"http://127.0.0.1/default-port-{rid}"
    assert dp["metadata"]["host"] == "127.0.0.1"
    assert by_marker(collector, f"/local-{rid}")[0]["metadata"]["direction"] \
        == "outgoing"


SUBCLASS_BODY = """
R = os.environ["RID"]
out["view"] = Client().get("/api/thread-subclass",
                           {"target": T + "/" + R, "rid": R}).json()
"""


def test_calls_from_a_thread_subclass_link_to_the_request(collector, tmp_path):
    """README: outgoing calls link to the request "also from threads the
    view starts" -- a threading.Thread subclass overrides run() itself."""
    from migrate_support import ThirdParty, events_with, q_has

    rid = str(__import__("random").randrange(10**8, 10**9))
    third = ThirdParty()
    try:
        p, res = run_django(collector, tmp_path, third.url, SETTINGS,
                            SUBCLASS_BODY, env={"RID": rid})
    finally:
        third.close()
    assert res["view"]["thread"]["path"] == f"/{rid}/from-subclass"
    parent = events_with(collector, lambda e: e["path"] == "/api/thread-subclass"
                         and q_has(e, "rid", rid))[0]
    kid = by_marker(collector, f"/{rid}/from-subclass")[0]
    assert kid["metadata"].get("parent_event_id") == parent["metadata"]["event_id"]
