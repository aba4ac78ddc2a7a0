"""Start-up behaviour, each in a fresh Python process (a real Django app):
missing key, invalid key, unreachable back end, strict start-up, disabled,
bad options, and the OtasClient API."""

import os
import subprocess
import sys

import pytest

from sdk_support import HERE, PYTHONPATH, free_port, run_app

def test_missing_key_raises_configuration_error(tmp_path):
    p, res = run_app({"OTAS_SPOOL_DIR": str(tmp_path)})
    assert res["exc"] == "OtasConfigurationError"
    assert res["msg"].startswith("OTAS_SDK_KEY environment variable is not set.")
    assert "export OTAS_SDK_KEY='otas_...'" in res["msg"]


def test_invalid_key_raises_authentication_error(collector, tmp_path):
    bad = "otas_AAAAAAAAAAA_" + "B" * 43
    p, res = run_app({"OTAS_SDK_KEY": bad, "OTAS_BASE_URL": collector.url,
                      "OTAS_SPOOL_DIR": str(tmp_path)})
    assert res["exc"] == "OtasAuthenticationError", p.stderr
    assert "Invalid SDK Key" in res["msg"]
    assert bad not in p.stdout + p.stderr
    assert "B" * 43 not in p.stdout + p.stderr


def test_unreachable_backend_app_still_serves(collector, tmp_path):
    port = free_port()  # nothing listens there
    p, res = run_app({"OTAS_SDK_KEY": collector.key,
                      "OTAS_BASE_URL": f"http://127.0.0.1:{port}",
                      "OTAS_SPOOL_DIR": str(tmp_path),
                      "OTAS_SHUTDOWN_TIMEOUT_MS": "500"})
    assert res["status"] == 200, p.stderr
    assert res["body"] == {"id": 7, "name": "item 7", "price": 9.5}
    assert "unreachable" in p.stderr
    assert res["stats"]["captured"] == 1
    assert collector.key not in p.stdout + p.stderr


def test_strict_startup_raises_when_unreachable(collector, tmp_path):
    port = free_port()
    p, res = run_app({"OTAS_SDK_KEY": collector.key,
                      "OTAS_BASE_URL": f"http://127.0.0.1:{port}",
                      "OTAS_SPOOL_DIR": str(tmp_path),
                      "OTAS_STRICT_STARTUP": "1"})
    assert res["exc"] == "OtasConnectionError"


def test_disabled_passes_through(tmp_path):
    p, res = run_app({"OTAS_ENABLED": "0", "OTAS_SPOOL_DIR": str(tmp_path)})
    assert res["status"] == 200
    assert res["stats"] == {}


def test_bad_option_names_option_and_fix(collector, tmp_path):
    p, res = run_app({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                      "OTAS_SPOOL_DIR": str(tmp_path),
                      "OTAS_BATCH_MAX_EVENTS": "lots"})
    assert res["exc"] == "OtasConfigurationError"
    assert "OTAS_BATCH_MAX_EVENTS" in res["msg"]
    assert collector.key not in res["msg"]


def test_system_check_reports_bad_option(collector, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({"DJANGO_SETTINGS_MODULE": "djproject.settings",
                "PYTHONPATH": PYTHONPATH, "OTAS_SDK_KEY": collector.key,
                "OTAS_FLUSH_INTERVAL_MS": "-5"})
    p = subprocess.run([sys.executable, "-m", "django", "check"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "otas.E002" in p.stderr
    assert "OTAS_FLUSH_INTERVAL_MS" in p.stderr


def test_otas_client_authenticates(collector):
    from otas import OtasClient

    c = OtasClient(collector.key, auth_url=collector.url).authenticate()
    assert c.is_authenticated is True
    assert c.project_id == collector.project_id
    assert c.project_name
    assert collector.key not in repr(c)


def test_otas_client_errors(collector):
    from otas import (OtasAuthenticationError, OtasClient,
                      OtasConfigurationError, OtasConnectionError)

    with pytest.raises(OtasAuthenticationError) as ei:
        OtasClient("otas_AAAAAAAAAAA_" + "C" * 43, auth_url=collector.url).authenticate()
    assert "C" * 43 not in str(ei.value)
    with pytest.raises(OtasConnectionError):
        OtasClient(collector.key, auth_url=f"http://127.0.0.1:{free_port()}",
                   timeout=2).authenticate()
    env = os.environ.pop("OTAS_SDK_KEY")
    try:
        with pytest.raises(OtasConfigurationError):
            OtasClient()
    finally:
        os.environ["OTAS_SDK_KEY"] = env
