"""Helpers shared by the SDK tests (the fixtures are in conftest.py)."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# What the apps and servers a test starts import from: tests/python, then
# the run's own PYTHONPATH (make asan-python puts the sanitizer build of the
# package there), then the installed package.
PYTHONPATH = os.pathsep.join(
    [str(HERE)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

APP = textwrap.dedent("""
    import json, sys, django
    django.setup()
    from django.test import Client
    import otas
    try:
        r = Client().get("/api/items/7")
        out = {"status": r.status_code, "body": r.json()}
    except Exception as exc:
        out = {"exc": type(exc).__name__, "msg": str(exc)}
    out["flushed"] = otas.flush(timeout=3)
    out["stats"] = otas.stats()
    print("RESULT " + json.dumps(out))
""")


def as_obj(value):
    """A header/query/form field of a stored event: the collector's query
    API returns them as objects (the wire format has JSON strings)."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def wait_for(predicate, timeout=15.0, interval=0.05, what="condition"):
    """Poll predicate() until it returns a truthy value; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def events_for(collector, n=1, timeout=15.0, **filters):
    """Flush the SDK, then wait until the collector holds >= n events."""
    import otas

    otas.flush(timeout=timeout)

    def got():
        evs = collector.events(**filters)
        return evs if len(evs) >= n else None

    return wait_for(got, timeout=timeout, what=f"{n} events {filters}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_app(env_over, code=APP, timeout=60):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"DJANGO_SETTINGS_MODULE": "djproject.settings",
                "PYTHONPATH": PYTHONPATH})
    env.update(env_over)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                       text=True, timeout=timeout)
    result = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
    return p, result
