"""JSONPath body rules end to end (issue 19): bare names, unions, slices and
negative indexes, set by environment and by the Django setting's list form,
through the real Django test app and a real otas-collector.  The planted
values must be absent from the collector's stored bytes while the values
around them arrive intact; a filter rule is refused at start-up."""

import json
from pathlib import Path

from sdk_support import run_app, wait_for

RULES = ("ssn, $['dob','phone'], $.items[0,2].card, $.items[-1].note, "
         "$.history[1:3], $.log[-2:], $.matrix[::-2]")

BODY = {
    "name": "ann", "ssn": "SEC-SSN-1",
    "profile": {"ssn": "SEC-SSN-2", "dob": "keep-dob"},
    "dob": "SEC-DOB-3", "phone": "SEC-PHONE-4",
    "items": [{"card": "SEC-CARD-5", "n": 0}, {"card": "keep-card-1", "n": 1},
              {"card": "SEC-CARD-6", "n": 2}, {"note": "SEC-NOTE-7", "card": "keep-card-3"}],
    "history": ["keep-h0", "SEC-HIST-8", "SEC-HIST-9", "keep-h3"],
    "log": ["keep-l0", "SEC-LOG-10", "SEC-LOG-11"],
    "matrix": ["SEC-M0", "keep-m1", "SEC-M2", "keep-m3", "SEC-M4"],
}
SECRETS = [v for v in json.dumps(BODY).replace('"', " ").split() if v.startswith("SEC-")]

R = "[REDACTED]"
EXPECTED = {
    "name": "ann", "ssn": R, "profile": {"ssn": R, "dob": "keep-dob"},
    "dob": R, "phone": R,
    "items": [{"card": R, "n": 0}, {"card": "keep-card-1", "n": 1},
              {"card": R, "n": 2}, {"note": R, "card": "keep-card-3"}],
    "history": ["keep-h0", R, R, "keep-h3"],
    "log": ["keep-l0", R, R],
    "matrix": [R, "keep-m1", R, "keep-m3", R],
}

APP = """
import json, django
django.setup()
from django.conf import settings
SETTING = %r
if SETTING:
    settings.OTAS = {"REDACT_REQUEST_BODY": SETTING, "REDACT_RESPONSE_BODY": SETTING}
from django.test import Client
import otas
c = Client()
c.post("/api/echo?case=%s", %r, content_type="application/json")
print("RESULT " + json.dumps({"flushed": otas.flush(5), "stats": otas.stats()}))
"""


def stored_bytes(db_path):
    blob = b""
    for f in Path(db_path).parent.glob(Path(db_path).name + "*"):
        blob += f.read_bytes()
    return blob


def as_json(v):
    return json.loads(v) if isinstance(v, (str, bytes)) else v


def echo_event(collector, case):
    def find():
        evs = [e for e in collector.events(path="/api/echo")
               if as_json(e["query_params"]).get("case") == [case]]
        return evs[0] if evs else None
    return wait_for(find, what=f"echo event {case}")


def check_event(ev):
    assert json.loads(ev["request_body"]) == EXPECTED
    # The echo view returns the same document: the response rules apply.
    assert json.loads(ev["response_body"]) == EXPECTED
    raw = ev["request_body"]
    # Byte for byte around the redactions: key order and spacing kept.
    assert raw.index('"name"') < raw.index('"ssn"') < raw.index('"profile"')


def test_new_rule_forms_from_environment(collector, tmp_path):
    env = {"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
           "OTAS_SPOOL_DIR": str(tmp_path), "OTAS_REDACT_REQUEST_BODY": RULES,
           "OTAS_REDACT_RESPONSE_BODY": RULES}
    p, res = run_app(env, code=APP % (None, "env", json.dumps(BODY)))
    assert res is not None and res["flushed"] is True, p.stderr[-2000:]
    check_event(echo_event(collector, "env"))
    blob = stored_bytes(collector.db_path)
    assert b"keep-card-1" in blob and b"keep-m3" in blob
    for s in SECRETS:
        assert s.encode() not in blob, s
    for s in SECRETS:
        assert s not in p.stdout + p.stderr


def test_new_rule_forms_from_django_setting_list(collector, tmp_path):
    # A list is joined with commas: the commas inside brackets must not
    # split a rule.
    rules = [r.strip() for r in RULES.replace("$['dob','phone']", "DOBPHONE").split(",")]
    rules = [r.replace("DOBPHONE", "$['dob','phone']") for r in rules]
    env = {"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
           "OTAS_SPOOL_DIR": str(tmp_path)}
    p, res = run_app(env, code=APP % (rules, "setting", json.dumps(BODY)))
    assert res is not None and res["flushed"] is True, p.stderr[-2000:]
    check_event(echo_event(collector, "setting"))
    blob = stored_bytes(collector.db_path)
    for s in SECRETS:
        assert s.encode() not in blob, s


def test_filter_rule_refused_at_startup(tmp_path):
    env = {"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "B" * 43, "OTAS_BASE_URL": "http://127.0.0.1:9",
           "OTAS_SPOOL_DIR": str(tmp_path),
           "OTAS_REDACT_REQUEST_BODY": "password, $.items[?(@.price>10)]"}
    p, res = run_app(env)
    assert res["exc"] == "OtasConfigurationError", p.stderr[-2000:]
    assert ('OTAS_REDACT_REQUEST_BODY: rule "$.items[?(@.price>10)]" at position 9: '
            "filters [?...] are not supported") in res["msg"]
    env["OTAS_REDACT_REQUEST_BODY"] = "user.password"
    p, res = run_app(env)
    assert res["exc"] == "OtasConfigurationError", p.stderr[-2000:]
    assert ('rule "user.password" at position 5: expected \',\' after a bare name '
            "(a path starts with '$')") in res["msg"]
