"""Every Moesif option of docs/migrating-from-moesif.md, set and checked in
what a real otas-collector stored, through a real Django app (djproject in
a subprocess: outgoing capture patches the process)."""

import json
from pathlib import Path

import pytest

from migrate_support import (q_has, ThirdParty, body_obj, by_marker, doc_rows,
                             events_with, make_jwt, run_django, sha256)
from sdk_support import as_obj

pytestmark = pytest.mark.usefixtures("collector")

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-moesif.md"

MAIN_SETTINGS = """
s.OTAS.update({
    "SKIP": hooks.skip, "IDENTIFY_USER": hooks.identify_user,
    "IDENTIFY_COMPANY": hooks.identify_company,
    "GET_SESSION_TOKEN": hooks.get_session_token,
    "GET_METADATA": hooks.get_metadata, "MASK_EVENT": hooks.mask_event,
    "REQUEST_HEADER_MASKS": ["X-Req-Only"],
    "RESPONSE_HEADER_MASKS": ["x-resp-only"],
    "REDACT_REQUEST_BODY": ["secret_field"],
    "REDACT_RESPONSE_BODY": ["number"],
    "CAPTURE_OUTGOING": True,
    "SKIP_OUTGOING": hooks.skip_outgoing,
    "IDENTIFY_USER_OUTGOING": hooks.identify_user_outgoing,
    "IDENTIFY_COMPANY_OUTGOING": hooks.identify_company_outgoing,
    "GET_SESSION_TOKEN_OUTGOING": hooks.get_session_token_outgoing,
    "GET_METADATA_OUTGOING": hooks.get_metadata_outgoing,
    "AUTHORIZATION_HEADER_NAME": "x-jwt",
    "AUTHORIZATION_USER_ID_FIELD": "uid",
    "BATCH_MAX_EVENTS": 3, "QUEUE_MAX_BYTES": 1048576,
    "FLUSH_INTERVAL_MS": 20, "DEBUG": True,
})
"""

MAIN_BODY = """
c = Client()
R = os.environ["RID"]
hdr = dict(HTTP_X_USER="u-" + R, HTTP_X_COMPANY="c-" + R, HTTP_X_SESSION="s-" + R,
           HTTP_X_REQ_ONLY="req-only-secret")
out["call"] = c.get("/api/call", {"target": T, "rid": R,
                    "paths": f"/plain-{R},/{R}/who,/{R}/skip,/{R}/masked"}, **hdr).json()
out["skipped"] = c.get("/api/call", {"target": T, "skip": "1",
                       "paths": f"/child-of-skipped-{R}"}, **hdr).status_code
out["dropped"] = c.get("/api/call", {"target": T, "drop": "1",
                       "paths": f"/child-of-dropped-{R}"}, **hdr).status_code
out["echo"] = c.post("/api/echo-json?rid=" + R,
                     json.dumps({"secret_field": "sf-secret", "a": 1}),
                     content_type="application/json", HTTP_X_USER="rename-me",
                     HTTP_X_REQ_ONLY="req-only-secret").status_code
out["jwt"] = c.get(f"/api/items/{R}", HTTP_X_JWT=os.environ["JWT"]).status_code
"""


@pytest.fixture(scope="module")
def third():
    t = ThirdParty()
    yield t
    t.close()


@pytest.fixture(scope="module")
def main_run(collector, third, tmp_path_factory):
    rid = str(__import__("random").randrange(10**8, 10**9))
    p, res = run_django(collector, tmp_path_factory.mktemp("spool"), third.url,
                        MAIN_SETTINGS, MAIN_BODY,
                        env={"RID": rid, "JWT": make_jwt({"uid": "jwt-" + rid})})
    return {"rid": rid, "res": res, "stderr": p.stderr}


def _incoming(collector, path, rid):
    return events_with(collector, lambda e: e["path"] == path
                       and e["metadata"].get("direction") == "incoming"
                       and q_has(e, "rid", rid),
                       what=f"incoming {path}")[0]


def _kid(collector, marker):
    return by_marker(collector, marker)[0]


# --------------------------------------------------------------- the guide

def test_guide_names_every_option_and_each_loads():
    """Every OTAS name beside a Moesif one is accepted by the real
    configuration reader (hooks as callables, the rest as values)."""
    from otas import conf

    rows = doc_rows(GUIDE)
    theirs = {t for t, _ in rows}
    for name in ("APPLICATION_ID", "SKIP_OUTGOING", "IDENTIFY_USER_OUTGOING",
                 "IDENTIFY_COMPANY_OUTGOING", "GET_SESSION_TOKEN_OUTGOING",
                 "GET_METADATA_OUTGOING", "LOG_BODY_OUTGOING",
                 "REQUEST_HEADER_MASKS", "RESPONSE_HEADER_MASKS",
                 "MASK_EVENT_MODEL", "CAPTURE_OUTGOING_REQUESTS"):
        assert name in theirs, name
    assert len(rows) == 26
    values = {"SDK_KEY": None, "BASE_URL": "http://127.0.0.1:9",
              "BATCH_MAX_EVENTS": "5", "QUEUE_MAX_BYTES": "1048576",
              "FLUSH_INTERVAL_MS": "100", "USER_ID_FIELD": "username",
              "AUTHORIZATION_HEADER_NAME": "x-jwt",
              "AUTHORIZATION_USER_ID_FIELD": "uid",
              "REDACT_REQUEST_BODY": "password",
              "REDACT_RESPONSE_BODY": "password"}
    for _, ours in rows:
        if ours in conf.HOOK_OPTIONS:
            st = conf.load({ours: lambda *a: None}, environ={}, require_key=False)
            assert ours in st.hooks, ours
            continue
        value = values.get(ours, "1")
        if value is None:
            continue  # the key: checked end to end below
        st = conf.load({ours: value}, environ={}, require_key=False)
        assert st.options["OTAS_" + ours] == value, ours


# ---------------------------------------------------------- incoming hooks

def test_application_id_base_uri_batch_queue_flush_debug(main_run, collector):
    """APPLICATION_ID/BASE_URI (SDK_KEY/BASE_URL in the dict), BATCH_SIZE,
    EVENT_QUEUE_SIZE, BATCH_MAX_TIME, LOCAL_DEBUG: every event arrived."""
    rid = main_run["rid"]
    assert main_run["res"]["jwt"] == 200
    ev = events_with(collector, lambda e: e["path"] == f"/api/items/{rid}")[0]
    assert ev["status_code"] == 200
    # LOCAL_DEBUG -> DEBUG: one line per event on stderr.
    assert f"/api/items/{rid}" in main_run["stderr"]


def test_skip_identify_session_metadata_mask(main_run, collector):
    rid = main_run["rid"]
    ev = _incoming(collector, "/api/call", rid)
    md = ev["metadata"]
    assert md["user_id"] == "u-" + rid                  # IDENTIFY_USER
    assert md["company_id"] == "c-" + rid               # IDENTIFY_COMPANY
    assert md["session_token"] == sha256("s-" + rid)    # GET_SESSION_TOKEN
    assert md["plan"] == "gold" and md["status_seen"] == 200  # GET_METADATA
    body = body_obj(ev["response_body"])
    assert body["note"] is None                         # MASK_EVENT, parsed body
    assert body["password"] == "[REDACTED]"             # the default names still apply
    assert body["card"]["number"] == "[REDACTED]"       # RESPONSE_BODY_MASKS, bare
    assert as_obj(ev["request_headers"])["x-req-only"] == "[REDACTED]"
    assert "resp-pw-secret" not in json.dumps(ev)
    # SKIP: the skipped request is not stored; MASK_EVENT -> None drops.
    assert not [e for e in collector.events(limit=1000)
                if e["path"] == "/api/call" and "skip" in json.dumps(e.get("query_params"))
                and f"child-of-skipped-{rid}" in json.dumps(e.get("query_params"))]
    assert not [e for e in collector.events(limit=1000)
                if e["path"] == "/api/call"
                and f"child-of-dropped-{rid}" in json.dumps(e.get("query_params"))]


def test_mask_event_changes_user_company_session_and_body_masks(main_run, collector):
    rid = main_run["rid"]
    ev = _incoming(collector, "/api/echo-json", rid)
    md = ev["metadata"]
    assert md["user_id"] == "renamed"
    assert md["company_id"] == "co-renamed"
    assert md["session_token"] == sha256("sess-renamed")
    assert body_obj(ev["request_body"]) == {"secret_field": "[REDACTED]", "a": 1}
    assert as_obj(ev["request_headers"])["x-req-only"] == "[REDACTED]"
    rh = as_obj(ev["response_headers"])
    assert rh["x-resp-only"] == "[REDACTED]"            # RESPONSE_HEADER_MASKS
    assert rh["x-req-only"] == "visible-in-response"    # request-only mask
    assert "sf-secret" not in json.dumps(ev)


def test_authorization_header_name_and_user_id_field(main_run, collector):
    rid = main_run["rid"]
    ev = events_with(collector, lambda e: e["path"] == f"/api/items/{rid}")[0]
    assert ev["metadata"]["user_id"] == "jwt-" + rid


# ---------------------------------------------------------- outgoing hooks

def test_outgoing_inherits_parent_and_hooks_apply(main_run, collector):
    rid = main_run["rid"]
    parent = _incoming(collector, "/api/call", rid)
    pid = parent["metadata"]["event_id"]
    plain = _kid(collector, f"/plain-{rid}")
    md = plain["metadata"]
    assert md["direction"] == "outgoing"                # CAPTURE_OUTGOING_REQUESTS
    assert md["parent_event_id"] == pid
    assert md["user_id"] == "u-" + rid                  # inherited
    assert md["company_id"] == "c-" + rid
    assert md["session_token"] == sha256("s-" + rid)
    assert md["callee_status"] == 200 and md["method_seen"] == "GET"  # GET_METADATA_OUTGOING
    body = body_obj(plain["response_body"])
    assert body["note"] is None and body["seen_by_mask"] is True  # MASK_EVENT
    who = _kid(collector, f"/{rid}/who")
    assert who["metadata"]["user_id"] == "out-user"     # IDENTIFY_USER_OUTGOING
    assert who["metadata"]["company_id"] == "out-co"    # IDENTIFY_COMPANY_OUTGOING
    assert who["metadata"]["session_token"] == sha256("out-session")
    assert who["metadata"]["parent_event_id"] == pid
    # SKIP_OUTGOING and MASK_EVENT -> None: not stored (but called).
    assert main_run["res"]["call"]["calls"][2]["path"] == f"/{rid}/skip"
    out_paths = [e["path"] for e in collector.events(limit=1000)
                 if e["metadata"].get("direction") == "outgoing"]
    assert f"/{rid}/skip" not in out_paths and f"/{rid}/masked" not in out_paths
    assert f"/plain-{rid}" in out_paths


def test_children_of_skipped_or_dropped_parent_have_no_dangling_link(main_run, collector):
    rid = main_run["rid"]
    ids = {e["metadata"]["event_id"] for e in collector.events(limit=1000)}
    for marker in (f"child-of-skipped-{rid}", f"child-of-dropped-{rid}"):
        kid = _kid(collector, marker)
        assert kid["metadata"]["direction"] == "outgoing"
        pid = kid["metadata"].get("parent_event_id")
        assert pid is None or pid in ids, (marker, pid)
        assert pid is None
        # Still the parent request's user (it was known).
        assert kid["metadata"]["user_id"] == "u-" + rid


# ------------------------------------------------------------ bodies off

BODIES_BODY = """
R = os.environ["RID"]
c = Client()
out["a"] = c.post("/api/call?paths=/nobody-" + R + "&target=" + T,
                  json.dumps({"in": "kept-" + R}),
                  content_type="application/json").status_code
"""


@pytest.mark.parametrize("option", ["LOG_BODY", "LOG_BODY_OUTGOING"])
def test_log_body_and_log_body_outgoing(option, collector, tmp_path):
    rid = str(__import__("random").randrange(10**8, 10**9))
    ours = {"LOG_BODY": "CAPTURE_BODIES",
            "LOG_BODY_OUTGOING": "CAPTURE_OUTGOING_BODIES"}[option]
    assert (option, ours) in doc_rows(GUIDE)
    settings = (f's.OTAS.update({{"CAPTURE_OUTGOING": True, "{ours}": False}})')
    third = ThirdParty()
    try:
        run_django(collector, tmp_path, third.url, settings, BODIES_BODY,
                   env={"RID": rid})
    finally:
        third.close()
    kid = _kid(collector, f"/nobody-{rid}")
    parent = events_with(collector, lambda e: e["metadata"].get("event_id")
                         == kid["metadata"]["parent_event_id"])[0]
    assert not kid.get("request_body") and not kid.get("response_body")
    assert kid["response_size_bytes"] > 0                      # sizes kept
    if option == "LOG_BODY":
        assert not parent.get("request_body")
        assert parent["request_size_bytes"] > 0
    else:
        assert body_obj(parent["request_body"]) == {"in": "kept-" + rid}


# ------------------------------------------------------- who called: users

IDENTITY_SETTINGS = """
s.INSTALLED_APPS = s.INSTALLED_APPS + ["django.contrib.sessions"]
s.MIDDLEWARE = ["otas.OtasMiddleware",
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "django.middleware.common.CommonMiddleware"]
s.OTAS.update({"USER_ID_FIELD": os.environ["FIELD"],
               "RESOLVE_USER": os.environ["RESOLVE"] == "1"})
"""

IDENTITY_BODY = """
R = os.environ["RID"]
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
u = User.objects.create_user("alice-" + R, email=R + "@example.com", password="x")
c = Client()
c.force_login(u)
out["pk"] = u.pk
out["session"] = c.session.session_key
out["untouched"] = c.get("/api/untouched-user", {"rid": R}).status_code
out["touched"] = c.get("/api/touched-user", {"rid": R}).json()
"""


@pytest.mark.parametrize("field,resolve", [("pk", "0"), ("username", "1"),
                                           ("email", "1"), ("username", "0")])
def test_user_identity_modes(field, resolve, collector, tmp_path):
    rid = str(__import__("random").randrange(10**8, 10**9))
    p, res = run_django(collector, tmp_path, "http://127.0.0.1:9",
                        IDENTITY_SETTINGS, IDENTITY_BODY,
                        env={"RID": rid, "FIELD": field, "RESOLVE": resolve})
    assert res["touched"] == {"user": "alice-" + rid}
    want = {"pk": str(res["pk"]), "username": "alice-" + rid,
            "email": rid + "@example.com"}[field]

    def ev(path):
        return events_with(collector, lambda e: e["path"] == path and
                           q_has(e, "rid", rid))[0]
    touched, untouched = ev("/api/touched-user"), ev("/api/untouched-user")
    assert touched["metadata"]["user_id"] == want
    if resolve == "1":
        assert untouched["metadata"]["user_id"] == want
    else:
        assert "user_id" not in untouched["metadata"]
    # No GET_SESSION_TOKEN: the Django session, stored as its SHA-256 only.
    for e in (touched, untouched):
        assert e["metadata"]["session_token"] == sha256(res["session"])
        assert res["session"] not in json.dumps(e)


def test_a_pasted_moesif_name_is_refused_with_ours():
    from otas import conf
    from otas.exceptions import OtasConfigurationError

    for theirs, ours in (("REQUEST_BODY_MASKS", "REDACT_REQUEST_BODY"),
                         ("RESPONSE_BODY_MASKS", "REDACT_RESPONSE_BODY"),
                         ("LOG_BODY_OUTGOING", "CAPTURE_OUTGOING_BODIES"),
                         ("MASK_EVENT_MODEL", "MASK_EVENT")):
        assert (theirs, ours) in doc_rows(GUIDE)
        with pytest.raises(OtasConfigurationError) as e:
            conf.load({theirs: ["x"]}, environ={}, require_key=False)
        assert f"OTAS option '{theirs}' is not known. Did you mean '{ours}'?" in str(e.value)
