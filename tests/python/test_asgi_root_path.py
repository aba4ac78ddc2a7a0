"""A FastAPI app served under a path prefix (`uvicorn --root-path`, the
set-up behind a proxy that strips it): the event's path is the path the
client asked for, once, and OTAS_EXCLUDE_PATHS matches that same path.
Real uvicorn, the real collector."""

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from sdk_support import PYTHONPATH, events_for, free_port, wait_for

pytestmark = pytest.mark.usefixtures("collector")


def test_root_path_is_not_doubled(collector, uid, tmp_path):
    port = free_port()
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"PYTHONPATH": PYTHONPATH, "OTAS_SDK_KEY": collector.key,
                "OTAS_BASE_URL": collector.url, "OTAS_SPOOL_DIR": str(tmp_path),
                "OTAS_EXCLUDE_PATHS": "/prefix/api/items/0"})
    proc = subprocess.Popen([uvicorn, "--host", "127.0.0.1", "--port", str(port),
                             "--root-path", "/prefix", "apps.fastapi_app:app"],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def up():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/items/0",
                                   timeout=1)
            return True
        except OSError:
            return False
    try:
        wait_for(up, timeout=30, what="uvicorn")
        with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/items/{uid}", timeout=10) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    ev = events_for(collector, 1, path=f"/prefix/api/items/{uid}")[0]
    assert ev["metadata"]["route"] == "/api/items/{pk}"
    assert collector.events(path=f"/prefix/prefix/api/items/{uid}") == []
    # the readiness probe, GET /api/items/0, is excluded by its path
    assert collector.events(path="/prefix/api/items/0") == []
    assert collector.events(path="/prefix/prefix/api/items/0") == []
