"""Test helpers: see what OTAS would send, without a back end or a key.

Under Django's test runner and pytest-django OTAS captures nothing unless
OTAS_CAPTURE_IN_TESTS=1, so a test suite never needs the key and never
sends its traffic anywhere.  To test your own OTAS set-up (SENSITIVE_HEADERS,
REDACT_REQUEST_BODY, IDENTIFY_USER, GET_METADATA, ...) use::

    from otas.testing import capture_events

    def test_password_is_redacted(client):          # pytest-django
        with capture_events() as sent:
            client.post("/login", {"password": "hunter2"},
                        content_type="application/json")
        body = json.loads(sent.events[0]["request_body"])  # a JSON string
        assert body["password"] == "[REDACTED]"

Inside the block OTAS is on and points at a small HTTP sink on 127.0.0.1
that this module runs; `sent.events` (filled when the block ends, or by
`sent.wait(n)`) are the event objects exactly as the engine serialised
them after redaction -- the engine's own JSON, what the back end would
receive.  Middleware built inside the block (Django's test Client builds it
per client, WSGI/ASGI middleware when constructed) uses the sink; the
block's other options come from your settings and the environment as
usual, plus any keyword arguments (``capture_events(max_body_bytes=10)``).

For pytest, the fixture ``otas_events`` does the same::

    # conftest.py
    from otas.testing import otas_events  # noqa: F401

    def test_it(client, otas_events):
        client.get("/api/items/1")
        ev = otas_events.wait(1)[0]
        assert ev["metadata"]["route"] == "api/items/<int:pk>"
"""

import contextlib
import gzip
import json
import os
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["capture_events", "otas_events", "SentEvents"]

# Looks like an OTAS key (the engine checks the shape); valid only here.
TEST_KEY = "otas_testingKey0_" + "T" * 43
_AUTH = {"status": 1, "status_description": "authenticated",
         "response": {"project": {"id": "otas-testing", "name": "otas.testing",
                                  "description": "otas.testing's sink"}}}


class SentEvents:
    """What the engine sent to the sink: `.events`, `.requests` (count of
    HTTP requests), `.wait(n)`."""

    def __init__(self):
        self.events = []
        self.requests = 0
        self._cv = threading.Condition()

    def _add(self, events):
        with self._cv:
            self.events.extend(events)
            self.requests += 1
            self._cv.notify_all()

    def wait(self, n=1, timeout=10.0):
        """Flush OTAS and wait until at least n events arrived; return
        them.  Raises AssertionError at the deadline."""
        from . import flush

        flush(timeout=timeout)
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"OTAS sent {len(self.events)} event(s), expected {n}")
                self._cv.wait(left)
            return list(self.events)


def _handler(sent):
    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if "/key/authenticate/" in self.path:
                answer = _AUTH
                code = 200
            else:
                doc = json.loads(body or b"{}")
                events = doc["events"] if "events" in doc else [doc]
                sent._add(events)
                answer = {"accepted": len(events), "duplicates": 0,
                          "rejected": []}
                code = 200 if "events" in doc else 201
            out = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    return Sink


@contextlib.contextmanager
def capture_events(**options):
    """Turn OTAS on against an in-process sink; yield a SentEvents."""
    from . import _runtime

    sent = SentEvents()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sent))
    thread = threading.Thread(target=server.serve_forever, daemon=True,
                              name="otas-testing-sink")
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    # The block's own spool, removed with it: an empty OTAS_SPOOL_DIR is
    # the default, ~/.cache/otas, where a block that ends with events
    # still queued (a failing test) would leave a file for a sink that is
    # gone.
    spool = tempfile.mkdtemp(prefix="otas-testing-")
    env = {"OTAS_CAPTURE_IN_TESTS": "1", "OTAS_ENABLED": "1",
           "OTAS_SDK_KEY": TEST_KEY, "OTAS_BASE_URL": url,
           "OTAS_AUTH_URL": url, "OTAS_SPOOL_DIR": spool,
           "OTAS_FLUSH_INTERVAL_MS": "20",
           # What the sink reads, whatever the app's settings pick for its
           # back end (zstd, OpenTelemetry export).
           "OTAS_EXPORTER": "otas", "OTAS_COMPRESSION": "gzip"}
    for key, value in options.items():
        name = key.upper()
        env[name if name.startswith("OTAS_") else "OTAS_" + name] = (
            ",".join(value) if isinstance(value, (list, tuple)) else
            ("1" if value is True else "0" if value is False else str(value)))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield sent
        _runtime.close_where("OTAS_BASE_URL", url)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _runtime.close_where("OTAS_BASE_URL", url, timeout_ms=0)
        server.shutdown()
        server.server_close()
        shutil.rmtree(spool, ignore_errors=True)


try:  # the fixture, when pytest is there
    import pytest

    @pytest.fixture
    def otas_events():
        """SentEvents of what OTAS sent during the test (see module doc)."""
        with capture_events() as sent:
            yield sent
except ImportError:  # pragma: no cover
    pass
