"""Teams without the secret: every command but a server start runs without
OTAS_SDK_KEY; a test suite captures and sends nothing unless it opts in;
otas.testing shows the engine's redacted events."""

import json
import os
import subprocess
import sys

import pytest
from django.test import Client

from otas.exceptions import MISSING_KEY_MESSAGE
from otas.testing import capture_events, otas_events  # noqa: F401
from sdk_support import HERE, PYTHONPATH, as_obj, free_port, run_app, wait_for


def _django(args, env_over=None, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"DJANGO_SETTINGS_MODULE": "djproject.settings_static",
                "PYTHONPATH": PYTHONPATH})
    env.update(env_over or {})
    return subprocess.run([sys.executable, "-m", "django", *args], cwd=HERE,
                          env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args", [
    ["check"], ["migrate", "--noinput"],
    ["makemigrations", "--check", "--dry-run"],
    ["shell", "-c", "print('shell ok')"],
    ["collectstatic", "--noinput"],
    ["test", "djproject.selftests"],
], ids=lambda a: a[0])
def test_commands_run_without_key(args, tmp_path):
    p = _django(args, {"DJPROJECT_STATIC_ROOT": str(tmp_path / "static")})
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "otas.E002" not in p.stderr
    if args[0] == "check":
        assert "otas.W002" in p.stderr  # said, not failed


def test_server_start_without_key_raises_the_seed_message():
    code = ("import django; django.setup()\n"
            "from django.core.handlers.wsgi import WSGIHandler\n"
            "from otas import OtasConfigurationError\n"
            "try:\n    WSGIHandler()\n"
            "except OtasConfigurationError as e:\n"
            "    import json; print('RESULT ' + json.dumps(str(e)))\n")
    p, res = run_app({}, code=code)
    assert res == MISSING_KEY_MESSAGE, p.stderr[-2000:]


def test_runserver_without_key_fails_with_the_message():
    port = free_port()
    p = _django(["runserver", "--noreload", f"127.0.0.1:{port}"], timeout=60)
    assert p.returncode != 0
    assert "OtasConfigurationError" in p.stderr
    assert MISSING_KEY_MESSAGE.splitlines()[0] in p.stderr


@pytest.mark.parametrize("opt_in", ["0", "1"])
def test_django_test_runner_sends_nothing_unless_opted_in(opt_in, collector,
                                                          uid, tmp_path):
    env = {"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
           "OTAS_SPOOL_DIR": str(tmp_path), "OTAS_FLUSH_INTERVAL_MS": "20",
           "SELFTEST_PK": str(uid)}
    if opt_in == "1":
        env["OTAS_CAPTURE_IN_TESTS"] = "1"
    p = _django(["test", "djproject.selftests"], env)
    assert p.returncode == 0, p.stderr[-3000:]
    path = f"/api/items/{uid}"
    if opt_in == "1":
        assert wait_for(lambda: collector.events(path=path), what=path)
    else:
        # the suite ran (its request answered 200) and nothing arrived:
        # the process has exited, so nothing is still on its way
        assert collector.events(path=path) == []


PYTEST_DJANGO_SUITE = '''
import os
from django.test import Client

def test_item():
    assert Client().get("/api/items/{uid}").status_code == 200
'''


def test_pytest_django_sends_nothing_by_default(collector, uid, tmp_path):
    (tmp_path / "test_user_suite.py").write_text(
        PYTEST_DJANGO_SUITE.replace("{uid}", str(uid)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                "OTAS_SPOOL_DIR": str(tmp_path), "PYTHONPATH": PYTHONPATH,
                "DJANGO_SETTINGS_MODULE": "djproject.settings"})
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p",
                        "no:cacheprovider", "--rootdir", str(tmp_path),
                        "-c", os.devnull, str(tmp_path)],
                       env=env, capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert "1 passed" in p.stdout, p.stdout[-3000:] + p.stderr[-2000:]
    assert collector.events(path=f"/api/items/{uid}") == []


def test_capture_events_shows_the_engines_redacted_events():
    with capture_events(sensitive_headers=["x-team-secret"],
                        redact_request_body="$.password",
                        redact_response_body="$..password") as sent:
        r = Client().post("/api/items?token=qs-secret",
                          data=json.dumps({"name": "a", "password": "hunter2"}),
                          content_type="application/json",
                          HTTP_AUTHORIZATION="Bearer abc.def.ghi",
                          HTTP_X_TEAM_SECRET="team-secret-value")
        assert r.status_code == 201
    assert len(sent.events) == 1
    ev = sent.events[0]
    raw = json.dumps(ev)
    for secret in ("hunter2", "abc.def.ghi", "team-secret-value", "qs-secret",
                   "cookie-secret-value"):
        assert secret not in raw
    body = json.loads(ev["request_body"])  # the wire format: a JSON string
    assert body == {"name": "a", "password": "[REDACTED]"}
    headers = as_obj(ev["request_headers"])
    assert headers["x-team-secret"] == "[REDACTED]"
    assert ev["metadata"]["route"] == "api/items"
    # the engine's own serialisation: its event id and SDK name are there
    assert ev["metadata"]["event_id"]


def test_otas_events_fixture(otas_events):
    assert Client().get("/api/items/5").status_code == 200
    ev = otas_events.wait(1)[0]
    assert ev["path"] == "/api/items/5" and ev["status_code"] == 200
