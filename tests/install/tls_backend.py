"""A stand-in OTAS back end over HTTPS for the TLS check when this
otas-collector has no TLS of its own: answers authentication and the
batch endpoint (docs/PROTOCOL.md) and appends each event's path to a file.

    python tls_backend.py CERT KEY PORT_FILE EVENTS_FILE
"""
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cert, key, port_file, events_file = sys.argv[1:5]
AUTH = "/api/project/v1/sdk/backend/key/authenticate/"
BATCH = "/api/v1/backend/log/sdk/batch/"


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == AUTH:
            return self.answer(200, {"status": 1, "status_description": "authenticated",
                                     "response": {"project": {
                                         "id": "00000000-0000-7000-8000-000000000001",
                                         "name": "tls", "description": ""}}})
        if self.path == BATCH:
            if self.headers.get("Content-Encoding") == "gzip":
                import gzip
                body = gzip.decompress(body)
            events = json.loads(body)["events"]
            with open(events_file, "a") as f:
                for e in events:
                    f.write(e["path"] + "\n")
            return self.answer(200, {"status": 1, "status_description": "batch_captured",
                                     "accepted": len(events), "duplicates": 0,
                                     "rejected": []})
        self.answer(404, {"error": "not found"})


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402
os.replace(port_file + ".tmp", port_file)
srv.serve_forever()
