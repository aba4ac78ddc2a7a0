"""Shared by the migration tests (Moesif / APIToolkit parity, outgoing
hooks, OpenTelemetry): a local third party the app calls, and a real
Django app (djproject, in a subprocess) configured by a settings snippet
and driven by a body of code, delivering to the session's otas-collector.
"""

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sdk_support import run_app, wait_for

PREAMBLE = """
import json, os, sys, threading
import djproject.settings as s
from djproject import hooks
T = {target!r}
s.OTAS = {{"SDK_KEY": {key!r}, "BASE_URL": {url!r}, "SPOOL_DIR": {spool!r},
          "FLUSH_INTERVAL_MS": 50}}
{settings}
import django
django.setup()
from django.test import Client
import otas, requests
out = {{}}
"""

EPILOGUE = """
out["flushed"] = otas.flush(timeout=10)
print("RESULT " + json.dumps(out, default=str))
"""


class ThirdParty:
    """A local HTTP server: answers JSON naming the path, the traceparent
    it received and a password field (for the masks)."""

    def __init__(self):
        seen = self.seen = []

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                seen.append((self.path, dict(self.headers)))
                data = json.dumps({
                    "path": self.path, "got": len(body),
                    "traceparent": self.headers.get("traceparent"),
                    "password": "callee-pw-secret",
                    "note": "callee-note-secret"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Resp-Only", "callee-resp-only")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run_django(collector, spool, target, settings, body, env=None):
    """Run djproject with `settings` (code that edits `s`, the settings
    module, before django.setup()) and `body` (code that fills `out`);
    return (process, result dict)."""
    code = PREAMBLE.format(target=target, key=collector.key, url=collector.url,
                           spool=str(spool), settings=settings) + body + EPILOGUE
    p, res = run_app(dict(env or {}), code=code, timeout=120)
    assert res is not None, (p.stdout[-2000:], p.stderr[-4000:])
    assert res["flushed"] is True, p.stderr[-3000:]
    return p, res


def events_with(collector, pred, n=1, what="events"):
    """Wait until >= n stored events satisfy pred; return them all."""
    def got():
        evs = [e for e in collector.events(limit=1000) if pred(e)]
        return evs if len(evs) >= n else None
    return wait_for(got, timeout=20, what=what)


def by_marker(collector, marker, n=1):
    """Events whose path or URL holds marker."""
    return events_with(collector, lambda e: marker in (e.get("path") or "")
                       or marker in (e["metadata"].get("url") or ""), n,
                       what=f"{n} events with {marker}")


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


def make_jwt(claims):
    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return (b64(b'{"alg":"HS256"}') + "." +
            b64(json.dumps(claims).encode()) + ".c2ln")


def doc_rows(path):
    """(their name, our name) of every row of the guide's option tables
    (two backticked names in the first two cells)."""
    rows = []
    for line in path.read_text().splitlines():
        m = re.match(r"^\| `([^`]+)` \| `([^`]+)` \|", line)
        if m:
            rows.append((m.group(1), m.group(2)))
    return rows


def body_obj(value):
    return json.loads(value) if isinstance(value, (str, bytes)) and value else value


def q_has(event, name, value):
    """Whether the stored event's query has name=value."""
    q = event.get("query_params")
    q = json.loads(q) if isinstance(q, (str, bytes)) and q else (q or {})
    got = q.get(name)
    return got == value or (isinstance(got, list) and value in got)
