"""Options that cannot be misread: strict booleans, lists checked against
their domain, unknown OTAS_* variables warned about with a did-you-mean,
the peers' option names answered with ours, durations in milliseconds."""

import logging

import pytest

from otas import OtasConfigurationError, conf

KEY = "otas_PocKPi56xDI_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"


def load(setting=None, **env):
    return conf.load(setting, environ={"OTAS_SDK_KEY": KEY,
                                       "OTAS_CAPTURE_IN_TESTS": "1", **env})


def test_enabled_maybe_is_an_error_naming_the_option():
    with pytest.raises(OtasConfigurationError, match='OTAS_ENABLED="maybe"'):
        load(OTAS_ENABLED="maybe")
    with pytest.raises(OtasConfigurationError, match="OTAS_ENABLED"):
        load({"ENABLED": "maybe"})
    assert load(OTAS_ENABLED="off").enabled is False
    assert load(OTAS_ENABLED="Yes").enabled is True


def test_every_boolean_is_strict():
    with pytest.raises(OtasConfigurationError, match="OTAS_CAPTURE_BODIES"):
        load({"CAPTURE_BODIES": "sometimes"})
    with pytest.raises(OtasConfigurationError, match="OTAS_DEBUG"):
        load(OTAS_DEBUG="2")


def test_capture_methods_checked_against_http_methods():
    with pytest.raises(OtasConfigurationError, match='"GETT" is not an HTTP'):
        load({"CAPTURE_METHODS": ["GETT"]})
    assert load({"CAPTURE_METHODS": ["get", "POST"]}).options[
        "OTAS_CAPTURE_METHODS"] == "get,POST"


@pytest.mark.parametrize("theirs,ours", [
    ("LOG_BODY", "CAPTURE_BODIES"),
    ("BATCH_SIZE", "BATCH_MAX_EVENTS"),
    ("APPLICATION_ID", "SDK_KEY"),
    # REQUEST_HEADER_MASKS and the *_OUTGOING hooks are OTAS names too.
    ("RESPONSE_BODY_MASKS", "REDACT_RESPONSE_BODY"),
    ("LOG_BODY_OUTGOING", "CAPTURE_OUTGOING_BODIES"),
    ("REQUEST_BODY_MASKS", "REDACT_REQUEST_BODY"),
    ("BASE_URI", "BASE_URL"),
    ("CAPTURE_OUTGOING_REQUESTS", "CAPTURE_OUTGOING"),
    ("MASK_EVENT_MODEL", "MASK_EVENT"),
])
def test_peer_names_answered_with_ours(theirs, ours):
    with pytest.raises(OtasConfigurationError) as e:
        load({theirs: "1"})
    assert f"Did you mean '{ours}'?" in str(e.value)


def test_unknown_environment_variable_warned_with_did_you_mean(caplog):
    with caplog.at_level(logging.WARNING, logger="otas"):
        load(OTAS_SAMPLE_RAT="0.5", OTAS_ENGINE="")
    text = caplog.text
    assert "OTAS_SAMPLE_RAT is not an OTAS option" in text
    assert "Did you mean 'SAMPLE_RATE'?" in text
    assert "OTAS_ENGINE" not in text  # the binding's own switch


def test_peer_environment_variable_answered(caplog):
    with caplog.at_level(logging.WARNING, logger="otas"):
        load(OTAS_LOG_BODY="0")
    assert "Did you mean 'CAPTURE_BODIES'?" in caplog.text


def test_shutdown_timeout_in_ms_and_old_name_deprecated(caplog):
    assert load().shutdown_timeout_ms == 5000
    assert load(OTAS_SHUTDOWN_TIMEOUT_MS="1500").shutdown_timeout_ms == 1500
    with caplog.at_level(logging.WARNING, logger="otas"), \
            pytest.warns(DeprecationWarning, match="OTAS_SHUTDOWN_TIMEOUT_MS"):
        s = load(OTAS_SHUTDOWN_TIMEOUT="2.5")
    assert s.options["OTAS_SHUTDOWN_TIMEOUT_MS"] == "2500"
    assert s.shutdown_timeout_ms == 2500
    assert "deprecated" in caplog.text
    # the new name wins when both are set
    assert load(OTAS_SHUTDOWN_TIMEOUT="9",
                OTAS_SHUTDOWN_TIMEOUT_MS="100").shutdown_timeout_ms == 100
    with pytest.raises(OtasConfigurationError, match="OTAS_SHUTDOWN_TIMEOUT"):
        load(OTAS_SHUTDOWN_TIMEOUT="soon")


def test_the_readmes_examples_of_peer_names_are_answered_so():
    """README, "Options that cannot be misread": each `theirs` → `ours`
    example is a name OTAS refuses with that hint."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    para = text[text.index("is answered with ours"):]
    para = para[:para.index("\n- ")]
    pairs = re.findall(r"`([A-Z_]+)` →\s+`([A-Z_]+)`", para)
    assert len(pairs) >= 4, para
    for theirs, ours in pairs:
        with pytest.raises(OtasConfigurationError) as e:
            load({theirs: "1"})
        assert f"Did you mean '{ours}'?" in str(e.value), theirs


def test_host_options_are_read_trimmed_as_the_engine_reads_them(collector,
                                                                 tmp_path):
    """The engine trims every value; the Python side read the options it
    acts on itself untrimmed: OTAS_USER_ID_FIELD="username\\n" (a value
    from a file or a YAML block) recorded no user.  A real Django app."""
    from migrate_support import events_with, q_has, run_django

    rid = str(__import__("random").randrange(10**8, 10**9))
    settings = """
s.INSTALLED_APPS = s.INSTALLED_APPS + ["django.contrib.sessions"]
s.MIDDLEWARE = ["otas.OtasMiddleware",
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware"]
"""
    body = """
R = os.environ["RID"]
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
c = Client()
c.force_login(User.objects.create_user("dora-" + R, password="x"))
out["touched"] = c.get("/api/touched-user", {"rid": R}).json()
"""
    p, res = run_django(collector, tmp_path, "http://127.0.0.1:9", settings,
                        body, env={"RID": rid,
                                   "OTAS_USER_ID_FIELD": "username\n",
                                   "OTAS_RESOLVE_USER": " 0 "})
    assert res["touched"] == {"user": "dora-" + rid}
    ev = events_with(collector, lambda e: e["path"] == "/api/touched-user"
                     and q_has(e, "rid", rid))[0]
    assert ev["metadata"].get("user_id") == "dora-" + rid, p.stderr[-2000:]
