"""A Django REST framework API under gunicorn, the real collector
(tests/python/drfproject): DefaultRouter's regex routes are recorded as
templates, DRF's parser reads a body OTAS read first, DRF's own
authentication names the user, and its error answers are captured."""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import rest_framework  # noqa: F401 - requirements-dev.txt: missing, the module fails

from sdk_support import PYTHONPATH, free_port, wait_for


@pytest.fixture(scope="module")
def drf(collector, tmp_path_factory):
    """(base URL, collector) of drfproject under gunicorn (1 worker)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"DJANGO_SETTINGS_MODULE": "drfproject.settings", "PYTHONPATH": PYTHONPATH,
                "OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                "OTAS_FLUSH_INTERVAL_MS": "50",
                "OTAS_SPOOL_DIR": str(tmp_path_factory.mktemp("drf-spool"))})
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "-w", "1", "-b", f"127.0.0.1:{port}",
                             "django.core.wsgi:get_wsgi_application()"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            return True
        except OSError:
            return proc.poll() is not None  # ended: fail below, with its output
    try:
        wait_for(up, timeout=30, what="gunicorn with drfproject")
        assert proc.poll() is None, proc.communicate(timeout=5)[0].decode(errors="replace")
        yield base, collector
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def call(base, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def event(collector, path, method="GET"):
    """The one event of path (the collector's own filter), waited for."""
    evs = wait_for(lambda: [e for e in collector.events(path=path) if e["method"] == method],
                   timeout=20, what=f"the event of {method} {path}")
    assert len(evs) == 1, evs
    return evs[0]


def test_router_and_re_path_routes_are_recorded_as_templates(drf, uid):
    base, c = drf
    assert call(base, "GET", f"/api/items/{uid}/")[0] == 200
    assert call(base, "GET", f"/api/items/{uid}.json")[0] == 200
    assert call(base, "GET", f"/legacy/2024/{uid}/")[0] == 200
    assert call(base, "GET", "/api/items/")[0] == 200
    assert event(c, f"/api/items/{uid}/")["metadata"]["route"] == "api/items/<pk>/"
    assert event(c, f"/api/items/{uid}.json")["metadata"]["route"] == "api/items/<pk>.<format>"
    assert event(c, f"/legacy/2024/{uid}/")["metadata"]["route"] == "legacy/<arg1>/<arg2>/"
    # The endpoints view groups by the template: one row for every item.
    routes = {(r["method"], r["route"])
              for r in c.get("/api/v1/stats/endpoints").json()["endpoints"]}
    assert {("GET", "api/items/<pk>/"), ("GET", "api/items/"),
            ("GET", "api/items/<pk>.<format>")} <= routes
    assert not [r for m, r in routes if "(?P<" in r or r.endswith("$")]


def test_request_data_parsed_by_drf_after_capture_and_redacted(drf, uid):
    base, c = drf
    status, body = call(base, "POST", f"/api/items/?u={uid}",
                        {"name": f"lamp-{uid}", "password": "hunter2-drf"})
    assert (status, body) == (201, {"name": f"lamp-{uid}", "fields": ["name", "password"]})
    ev = wait_for(lambda: [e for e in c.events(route="api/items/", method="POST")
                           if f"lamp-{uid}" in (e.get("request_body") or "")],
                  timeout=20, what="the POST's event")[0]
    assert json.loads(ev["request_body"]) == {"name": f"lamp-{uid}", "password": "[REDACTED]"}
    assert json.loads(ev["response_body"])["name"] == f"lamp-{uid}"


def test_drf_authentication_names_the_user(drf, uid):
    base, c = drf
    status, body = call(base, "GET", f"/api/items/{uid}/",
                        headers={"Authorization": f"Token alice-{uid}"})
    assert (status, body["user"]) == (200, "alice")
    ev = wait_for(lambda: [e for e in c.events(path=f"/api/items/{uid}/")
                           if e["metadata"].get("user_id")],
                  timeout=20, what="the authenticated event")
    assert ev[0]["metadata"]["user_id"] == "alice"
    assert ev[0]["request_headers"]["authorization"] == "[REDACTED]"


def test_drf_error_answers(drf):
    base, c = drf
    assert call(base, "GET", "/api/items/404/")[0] == 404
    assert call(base, "GET", "/api/items/500/")[0] == 500
    assert event(c, "/api/items/404/")["status_code"] == 404
    boom = event(c, "/api/items/500/")
    assert boom["status_code"] == 500
    assert boom["error"].startswith("ZeroDivisionError")
    assert boom["metadata"]["route"] == "api/items/<pk>/"
