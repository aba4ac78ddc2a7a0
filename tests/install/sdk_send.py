"""Run inside the bare root with the venv's Python: send N events with the
installed wheel's engine to OTAS_BASE_URL and print what happened as JSON.

    python sdk_send.py N
Options come from the environment (OTAS_SDK_KEY, OTAS_BASE_URL,
OTAS_CA_BUNDLE, ...), as they would in an app.
"""
import json
import os
import sys
import time

from otas import _engine

n = int(sys.argv[1])
opts = {k: v for k, v in os.environ.items() if k.startswith("OTAS_")}
opts.setdefault("OTAS_FLUSH_INTERVAL_MS", "100")
opts.setdefault("OTAS_SPOOL_DIR", "/tmp/otas-spool")
out = {}
try:
    eng = _engine.Engine(opts)
except ValueError as e:
    print(json.dumps({"config_error": str(e)}))
    sys.exit(0)
st, http_status, message, *_ = eng.authenticate(5000)
out["auth"] = {"ok": st == _engine.AUTH_OK, "status": st, "http": http_status,
               "message": message}
now_us = int(time.time() * 1e6)
for i in range(n):
    eng.capture(_engine.Exchange(
        "GET", f"/tls/{i}", "/tls/<int:i>", {"HTTP_HOST": "app"}, now_us,
        status=200, resp_headers=[("Content-Type", "application/json")],
        resp_body=b"{}", resp_size=2, duration_ns=1000))
out["flushed"] = eng.flush(4000)
s = eng.stats()
eng.close(0)
out["sent"], out["captured"], out["last_error"] = s["sent"], s["captured"], s["last_error"]
print(json.dumps(out))
