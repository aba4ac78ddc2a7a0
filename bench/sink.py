"""A local sink for the peers' SDKs: accepts whatever they post.

Run as a process of its own (so its CPU is not charged to the process being
measured, just as otas-collector's is not)::

    python bench/sink.py            # prints "listening on 127.0.0.1:PORT"

It speaks HTTP/1.1 with keep-alive (the peers' clients reuse connections),
reads every body (Content-Length or chunked) and answers:
  GET  /v1/config      200, a Moesif app config, X-Moesif-Config-ETag header
  GET  /v1/rules       200, []                      (Moesif governance rules)
  POST /v1/events*     201                          (Moesif event batches)
  anything else        200, {}                      (OTLP/HTTP, Sentry envelopes)
It counts requests and body bytes per path prefix: GET /__stats returns them.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MOESIF_CONFIG = json.dumps({
    "org_id": "bench", "app_id": "bench", "sample_rate": 100,
    "user_sample_rate": {}, "company_sample_rate": {}, "regex_config": [],
    "user_rules": {}, "company_rules": {}, "ip_addresses_blocked_by_name": {},
}).encode()

_stats = {}
_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the peers post a lot
        pass

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            n = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return n
                n += len(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return len(self.rfile.read(length)) if length else 0

    def _answer(self, status, body=b"{}", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _count(self, nbytes):
        key = "/".join(self.path.split("?")[0].split("/")[:3])
        with _lock:
            s = _stats.setdefault(key, [0, 0])
            s[0] += 1
            s[1] += nbytes

    def do_GET(self):
        self._read_body()
        path = self.path.split("?")[0]
        if path == "/__stats":
            with _lock:
                body = json.dumps(_stats).encode()
            return self._answer(200, body)
        self._count(0)
        if path.startswith("/v1/config"):
            return self._answer(200, MOESIF_CONFIG,
                                [("X-Moesif-Config-ETag", "bench-etag-1")])
        if path.startswith("/v1/rules"):
            return self._answer(200, b"[]", [("X-Moesif-Rules-ETag", "bench-rules-1")])
        return self._answer(200)

    def do_POST(self):
        n = self._read_body()
        self._count(n)
        path = self.path.split("?")[0]
        if path.startswith("/v1/events"):
            return self._answer(201, b"{}",
                                [("X-Moesif-Config-ETag", "bench-etag-1"),
                                 ("X-Moesif-Rules-ETag", "bench-rules-1")])
        return self._answer(200)

    do_PUT = do_POST


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(f"listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
