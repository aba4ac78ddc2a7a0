"""Every APIToolkit option of docs/migrating-from-apitoolkit.md, set and
checked in what a real otas-collector stored, through a real Django app
(djproject in a subprocess)."""

import json
import random
from pathlib import Path

import pytest

from migrate_support import (q_has, ThirdParty, body_obj, by_marker, doc_rows,
                             events_with, run_django)
from sdk_support import as_obj

pytestmark = pytest.mark.usefixtures("collector")

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-apitoolkit.md"

SETTINGS = """
s.OTAS.update({
    "DEBUG": True,
    "SENSITIVE_HEADERS": ["X-Req-Only", "x-resp-only"],
    "REDACT_REQUEST_BODY": ["$.items[0:2].card", "$['user','token']", "$.list[-1]"],
    "REDACT_RESPONSE_BODY": ["$.items[-1].n", "password"],
    "SERVICE_VERSION": "2.1.2",
    "TAGS": ["prod", "eu", "service:billing"],
})
"""

BODY = """
R = os.environ["RID"]
c = Client()
payload = {"items": [{"card": "c0"}, {"card": "c1"}, {"card": "c2"}],
           "user": "u-secret", "token": "t-secret", "keep": R,
           "list": [1, 2, "last-secret"]}
out["echo"] = c.post("/api/echo-json?rid=" + R, json.dumps(payload),
                     content_type="application/json",
                     HTTP_X_REQ_ONLY="req-secret").status_code
out["observed"] = c.get("/api/observed-mig", {"target": T + "/obs-" + R}).status_code
out["errors"] = c.get("/api/report-errors-mig", {"rid": R}).status_code
"""


@pytest.fixture(scope="module")
def run(collector, tmp_path_factory):
    third = ThirdParty()
    rid = str(random.randrange(10**8, 10**9))
    try:
        p, res = run_django(collector, tmp_path_factory.mktemp("spool"), third.url,
                            SETTINGS, BODY, env={"RID": rid})
    finally:
        third.close()
    return {"rid": rid, "res": res, "stderr": p.stderr}


def _echo(collector, rid):
    return events_with(collector, lambda e: e["path"] == "/api/echo-json"
                       and q_has(e, "rid", rid))[0]


def test_guide_names_every_option_and_each_loads():
    from otas import conf

    rows = doc_rows(GUIDE)
    theirs = {t for t, _ in rows}
    for name in ("APITOOLKIT_KEY", "APITOOLKIT_REDACT_HEADERS",
                 "APITOOLKIT_REDACT_REQ_BODY", "APITOOLKIT_REDACT_RESPONSE_BODY",
                 "APITOOLKIT_SERVICE_VERSION", "APITOOLKIT_TAGS",
                 "APITOOLKIT_CAPTURE_REQUEST_BODY", "observe_request(request)",
                 "report_error(request, exc)"):
        assert name in theirs, name
    values = {"BASE_URL": "http://127.0.0.1:9", "SENSITIVE_HEADERS": "x-a",
              "REDACT_REQUEST_BODY": "$.items[0:2].card",
              "REDACT_RESPONSE_BODY": "$['a','b']", "SERVICE_VERSION": "2.1.2",
              "TAGS": "prod,eu", "DEBUG": "1", "CAPTURE_BODIES": "1"}
    import otas
    for _, ours in rows:
        if ours.startswith("otas."):
            assert callable(getattr(otas, ours[5:].split("(")[0])), ours
            continue
        if ours == "SDK_KEY":
            continue  # checked end to end: the events arrive
        st = conf.load({ours: values[ours]}, environ={}, require_key=False)
        assert st.options["OTAS_" + ours] == values[ours], ours


def test_key_root_url_debug(run, collector):
    """APITOOLKIT_KEY / APITOOLKIT_ROOT_URL (SDK_KEY / BASE_URL in the
    settings dict): the events reached this collector; DEBUG printed them."""
    ev = _echo(collector, run["rid"])
    assert ev["status_code"] == 200
    assert "/api/echo-json" in run["stderr"]


def test_redact_headers_both_directions(run, collector):
    ev = _echo(collector, run["rid"])
    assert as_obj(ev["request_headers"])["x-req-only"] == "[REDACTED]"
    assert as_obj(ev["response_headers"])["x-resp-only"] == "[REDACTED]"
    assert as_obj(ev["response_headers"])["x-req-only"] == "[REDACTED]"
    assert "req-secret" not in json.dumps(ev) and "resp-only-secret" not in json.dumps(ev)


def test_redact_request_body_slices_unions_negative(run, collector):
    ev = _echo(collector, run["rid"])
    body = body_obj(ev["request_body"])
    assert [i["card"] for i in body["items"]] == ["[REDACTED]", "[REDACTED]", "c2"]
    assert body["user"] == body["token"] == "[REDACTED]"
    assert body["list"] == [1, 2, "[REDACTED]"]
    assert body["keep"] == run["rid"]


def test_redact_response_body(run, collector):
    ev = _echo(collector, run["rid"])
    body = body_obj(ev["response_body"])
    assert [i["n"] for i in body["items"]] == [1, 2, "[REDACTED]"]
    assert body["password"] == "[REDACTED]"


def test_service_version_tags_service_name(run, collector):
    md = _echo(collector, run["rid"])["metadata"]
    assert md["service_version"] == "2.1.2"
    assert md["tags"] == ["prod", "eu", "service:billing"]


def test_observe_request_and_report_error(run, collector):
    rid = run["rid"]
    kid = by_marker(collector, f"/obs-{rid}")[0]
    assert kid["metadata"]["direction"] == "outgoing"
    parent = events_with(collector, lambda e: e["metadata"].get("event_id")
                         == kid["metadata"]["parent_event_id"])[0]
    assert parent["path"] == "/api/observed-mig"
    err = events_with(collector, lambda e: e["path"] == "/api/report-errors-mig"
                      and q_has(e, "rid", rid))[0]
    assert [e["type"] for e in err["metadata"]["errors"]] == ["ValueError", "KeyError"]


@pytest.mark.parametrize("option", ["APITOOLKIT_CAPTURE_REQUEST_BODY",
                                    "APITOOLKIT_CAPTURE_RESPONSE_BODY"])
def test_capture_bodies(option, collector, tmp_path):
    assert (option, "CAPTURE_BODIES") in doc_rows(GUIDE)
    rid = str(random.randrange(10**8, 10**9))
    for value in (False, True):
        settings = f's.OTAS.update({{"CAPTURE_BODIES": {value}}})'
        body = ('R = os.environ["RID"]\nout["s"] = Client().post("/api/echo-json?rid=" + R'
                f' + "-{int(value)}", json.dumps({{"k": R}}), content_type="application/json")'
                '.status_code\n')
        run_django(collector, tmp_path, "http://127.0.0.1:9", settings, body,
                   env={"RID": rid})
        ev = events_with(collector, lambda e: e["path"] == "/api/echo-json"
                         and q_has(e, "rid", f"{rid}-{int(value)}"))[0]
        if value:
            assert body_obj(ev["request_body"]) == {"k": rid}
            assert body_obj(ev["response_body"])["echo"] == {"k": rid}
        else:
            assert not ev.get("request_body") and not ev.get("response_body")
            assert ev["request_size_bytes"] > 0 and ev["response_size_bytes"] > 0


def test_a_jsonpath_filter_is_a_startup_error_naming_the_rule():
    from otas import conf
    from otas.exceptions import OtasConfigurationError

    with pytest.raises(OtasConfigurationError) as e:
        conf.load({"REDACT_REQUEST_BODY": ["$.items[?(@.a==1)]"]}, environ={},
                  require_key=False)
    assert '"$.items[?(@.a==1)]"' in str(e.value) and "filters" in str(e.value)
