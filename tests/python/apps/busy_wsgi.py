"""A plain WSGI app under OtasWSGIMiddleware whose /busy response stays
open after its body is sent: its close() waits, so the server worker is
still busy with that request when the test stops the server.  /stats
answers the worker's otas.stats() (e.g. whether it authenticated)."""

import json
import os
import time

import otas

from otas.wsgi import OtasWSGIMiddleware


class _Lingering:
    def __init__(self, marker):
        self.marker = marker

    def __iter__(self):
        yield b"ok"

    def close(self):
        # tell the test we are inside close(), then linger
        with open(self.marker, "w") as f:
            f.write("closing")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.05)


def _app(environ, start_response):
    if environ.get("PATH_INFO") == "/busy":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "2")])
        return _Lingering(os.environ["BUSY_MARKER"])
    if environ.get("PATH_INFO") == "/stats":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(otas.stats()).encode()]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"ok": true}']


app = OtasWSGIMiddleware(_app)
