"""otas.testing.capture_events() keeps what it writes to itself: a test
that fails inside the block (events not yet delivered to the sink when it
closes) leaves no spool file in the user's home, and nothing in the
temporary directory once the block is over."""

import os
import subprocess
import sys

from sdk_support import PYTHONPATH

CODE = """
import io
from otas.testing import capture_events
from otas.wsgi import OtasWSGIMiddleware
try:
    with capture_events(flush_interval_ms=60000) as sent:
        app = OtasWSGIMiddleware(lambda e, s: (s("200 OK", []), [b"ok"])[1])
        for i in range(20):
            b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/t/%d" % i,
                          "wsgi.input": io.BytesIO()}, lambda *a: None))
        raise AssertionError("the test failed")
except AssertionError:
    pass
print("RESULT ok")
"""


def test_a_failed_block_leaves_no_spool_behind(tmp_path):
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.pop("XDG_CACHE_HOME", None)
    env.update({"HOME": str(home), "TMPDIR": str(tmp), "PYTHONPATH": PYTHONPATH})
    p = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True,
                       text=True, timeout=60)
    assert "RESULT ok" in p.stdout, p.stderr[-2000:]
    assert [str(f) for f in home.rglob("*")] == []
    assert [str(f) for f in tmp.rglob("*")] == []


DELIVERY_CODE = """
import io, os
from otas.testing import capture_events
from otas.wsgi import OtasWSGIMiddleware
with capture_events() as sent:
    app = OtasWSGIMiddleware(lambda e, s: (s("200 OK", []), [b"ok"])[1])
    b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/delivered",
                  "wsgi.input": io.BytesIO()}, lambda *a: None))
    got = sent.wait(1, timeout=5)
print("RESULT", got[0]["path"])
"""


def test_the_sink_gets_the_events_whatever_the_delivery_options(tmp_path):
    """An app whose settings pick zstd, or OTLP export, still sees its
    events in capture_events(): the sink is what they are delivered to."""
    for extra in ({"OTAS_COMPRESSION": "zstd"},
                  {"OTAS_EXPORTER": "otlp",
                   "OTAS_OTLP_ENDPOINT": "http://127.0.0.1:9/v1/logs"}):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
        env.update({"PYTHONPATH": PYTHONPATH, "TMPDIR": str(tmp_path), **extra})
        p = subprocess.run([sys.executable, "-c", DELIVERY_CODE], env=env,
                           capture_output=True, text=True, timeout=60)
        assert "RESULT /delivered" in p.stdout, (extra, p.stderr[-2000:])
