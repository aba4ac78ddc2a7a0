"""Who called and what to keep, end to end: a real Django app, the real
engine and a real otas-collector.

Options are engine options, and the engine is shared per distinct option
set, so each test that needs other options builds its middleware under
override_settings(OTAS={...}) (a new option set: its own engine, in this
process) or, for the environment, runs a subprocess (sdk_support.run_app).
"""

import base64
import hashlib
import json
import logging
import re

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client, override_settings

import otas
from otas import OtasError
from sdk_support import as_obj, events_for, run_app, wait_for

pytestmark = pytest.mark.usefixtures("collector")

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_jwt(claims, std=False):
    payload = json.dumps(claims, separators=(",", ":")).encode()
    enc = (base64.b64encode(payload).decode() if std else b64url(payload))
    return b64url(b'{"alg":"HS256"}') + "." + enc + ".c2lnbmF0dXJl"


def one(collector, path, **filters):
    evs = events_for(collector, 1, path=path, **filters)
    assert len(evs) == 1, evs
    return evs[0]


def nothing_for(collector, path):
    """Prove no event exists for path: a later request is delivered
    first (flush is ordered), then the path has none."""
    sentinel = f"/api/items/{abs(hash(path)) % 10**9}"
    Client().get(sentinel)
    events_for(collector, 1, path=sentinel)
    return collector.events(path=path) == []


# ----------------------------------------------------------------- users

def test_jwt_user_id_urlsafe_redacted_and_never_stored(collector, uid):
    # A payload whose URL-safe base64 has both - and _.
    claims = {"sub": f"user-{uid}", "pad": ">>>???~~~>>>"}
    token = make_jwt(claims)
    payload = token.split(".")[1]
    assert "-" in payload and "_" in payload
    r = Client().get(f"/api/items/{uid}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 200
    ev = one(collector, f"/api/items/{uid}")
    assert ev["metadata"]["user_id"] == f"user-{uid}"
    assert as_obj(ev["request_headers"])["authorization"] == "[REDACTED]"
    assert token not in json.dumps(ev) and payload not in json.dumps(ev)
    # The collector filters on it.
    got = collector.events(user_id=f"user-{uid}")
    assert [e["path"] for e in got] == [f"/api/items/{uid}"]


def test_jwt_standard_base64_numeric_claim_custom_headers(collector, uid):
    token = make_jwt({"uid": uid, "pad": ">>>???"}, std=True)
    assert "+" in token.split(".")[1] or "/" in token.split(".")[1]
    with override_settings(OTAS={"AUTHORIZATION_HEADER_NAME": "x-api-token, authorization",
                                 "AUTHORIZATION_USER_ID_FIELD": "uid"}):
        c = Client()
        c.get(f"/api/items/{uid}", HTTP_X_API_TOKEN="not-a-jwt",
              HTTP_AUTHORIZATION=token)
        c.get(f"/api/echo?u={uid}", HTTP_X_API_TOKEN=make_jwt({"uid": "first"}),
              HTTP_AUTHORIZATION=token)
    assert one(collector, f"/api/items/{uid}")["metadata"]["user_id"] == str(uid)
    ev = [e for e in events_for(collector, 1, path="/api/echo")
          if as_obj(e["query_params"]) == {"u": [str(uid)]}]
    assert ev[0]["metadata"]["user_id"] == "first"  # header order counts


class FakeAuth:
    """Stands in for AuthenticationMiddleware: an evaluated request.user."""

    class User:
        is_authenticated = True

        def __init__(self, pk):
            self.pk = pk

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_X_TEST_USER" in request.META:
            request.user = self.User(request.META["HTTP_X_TEST_USER"])
        return self.get_response(request)


MIDDLEWARE = ["otas.OtasMiddleware", "test_identity.FakeAuth"]


def test_authenticated_user_wins_over_jwt(collector, uid):
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        Client().get(f"/api/items/{uid}", HTTP_X_TEST_USER=f"dj-{uid}",
                     HTTP_AUTHORIZATION="Bearer " + make_jwt({"sub": "jwt-user"}))
    assert one(collector, f"/api/items/{uid}")["metadata"]["user_id"] == f"dj-{uid}"


def test_callables_identify_user_company_session_metadata(collector, uid):
    seen = []

    def user(request, response):
        seen.append(response.status_code)
        return f"cb-{uid}"

    hooks = {
        "IDENTIFY_USER": user,
        "IDENTIFY_COMPANY": lambda req, resp: f"co-{uid}",
        "GET_SESSION_TOKEN": lambda req, resp: f"raw-session-{uid}",
        "GET_METADATA": lambda req, resp: {"plan": "gold", "n": uid},
    }
    with override_settings(OTAS=hooks):
        Client().get(f"/api/items/{uid}")
    ev = one(collector, f"/api/items/{uid}")
    md = ev["metadata"]
    assert seen == [200]
    assert md["user_id"] == f"cb-{uid}"
    assert md["company_id"] == f"co-{uid}"
    assert md["session_token"] == hashlib.sha256(f"raw-session-{uid}".encode()).hexdigest()
    assert f"raw-session-{uid}" not in json.dumps(ev)
    assert md["plan"] == "gold" and md["n"] == uid
    assert [e["path"] for e in collector.events(company_id=f"co-{uid}")] == [
        f"/api/items/{uid}"]


def test_each_callable_failure_is_isolated_and_logged_once(collector, uid, caplog):
    def boom(request, response):
        raise RuntimeError("callable broke")

    hooks = {"SKIP": boom, "IDENTIFY_USER": boom,
             "IDENTIFY_COMPANY": lambda req, resp: f"co-{uid}",
             "GET_SESSION_TOKEN": boom, "GET_METADATA": boom}
    caplog.set_level(logging.ERROR, logger="otas")
    with override_settings(OTAS=hooks):
        c = Client()
        for _ in range(3):
            assert c.get(f"/api/items/{uid}").status_code == 200
    evs = events_for(collector, 3, path=f"/api/items/{uid}")
    assert len(evs) == 3
    for ev in evs:
        assert ev["metadata"]["company_id"] == f"co-{uid}"  # the others failed
        assert "user_id" not in ev["metadata"]
        assert "session_token" not in ev["metadata"]
    logged = [r.getMessage() for r in caplog.records if "raised" in r.getMessage()]
    assert sorted(m.split()[1] for m in logged) == [
        "GET_METADATA", "GET_SESSION_TOKEN", "IDENTIFY_USER", "SKIP"]


def test_skip_callable(collector, uid):
    with override_settings(OTAS={"SKIP": lambda req, resp: "skipme" in req.GET}):
        Client().get(f"/api/items/{uid}?skipme=1")
    assert nothing_for(collector, f"/api/items/{uid}")


# ------------------------------------------------------------ client ip

def test_client_ip_ignores_forwarded_headers_by_default(collector, uid):
    Client().get(f"/api/items/{uid}", HTTP_X_FORWARDED_FOR="6.6.6.6",
                 HTTP_X_REAL_IP="7.7.7.7")
    assert one(collector, f"/api/items/{uid}")["metadata"]["client_ip"] == "127.0.0.1"


def test_client_ip_behind_trusted_proxies(collector, uid):
    with override_settings(OTAS={"TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8, fd00::/8"}):
        c = Client()
        # The client wrote 6.6.6.6 itself; our proxy appended 203.0.113.9.
        c.get(f"/api/items/{uid}",
              HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9, 10.0.0.5")
        c.get(f"/api/items/{uid + 1}", HTTP_X_REAL_IP="198.51.100.7")
        c.get(f"/api/items/{uid + 2}", HTTP_X_FORWARDED_FOR="2001:db8::9, fd00::1")
        c.get(f"/api/items/{uid + 3}", HTTP_X_FORWARDED_FOR="1.2.3.4",
              REMOTE_ADDR="192.0.2.50")  # peer not a proxy
    ip = lambda p: one(collector, p)["metadata"]["client_ip"]  # noqa: E731
    assert ip(f"/api/items/{uid}") == "203.0.113.9"
    assert ip(f"/api/items/{uid + 1}") == "198.51.100.7"
    assert ip(f"/api/items/{uid + 2}") == "2001:db8::9"
    assert ip(f"/api/items/{uid + 3}") == "192.0.2.50"


# ----------------------------------------------------------- event id

def test_event_id_header_off_by_default(collector, uid):
    r = Client().get(f"/api/items/{uid}")
    assert "X-OTAS-Event-Id" not in r.headers


def test_event_id_header(collector, uid):
    with override_settings(OTAS={"EVENT_ID_HEADER": True}):
        c = Client()
        r = c.get(f"/api/items/{uid}")
        s = c.get(f"/api/stream?u={uid}")
        b"".join(s.streaming_content)
    eid = r.headers["X-OTAS-Event-Id"]
    assert UUID7.match(eid)
    assert one(collector, f"/api/items/{uid}")["metadata"]["event_id"] == eid
    sid = s.headers["X-OTAS-Event-Id"]
    assert UUID7.match(sid) and sid != eid
    wait_for(lambda: otas.flush(5) and collector.get(f"/api/v1/events/{sid}").status == 200,
             what="the streamed event")
    ev = collector.get(f"/api/v1/events/{sid}").json()
    assert ev["path"] == "/api/stream" and ev["metadata"]["event_id"] == sid


def test_event_id_header_async(collector, uid):
    with override_settings(OTAS={"EVENT_ID_HEADER": True}):
        r = async_to_sync(AsyncClient().get)(f"/api/async/{uid}",
                                             headers={"Authorization": "Bearer " + make_jwt({"sub": 5})})
    eid = r.headers["X-OTAS-Event-Id"]
    ev = one(collector, f"/api/async/{uid}")
    assert ev["metadata"]["event_id"] == eid
    assert ev["metadata"]["user_id"] == "5"


# ------------------------------------------------- what to keep / context

def test_exclude_paths_methods_tags_version_traceparent(collector, uid):
    opts = {"EXCLUDE_PATHS": "/health*, /api/status/*",
            "CAPTURE_METHODS": "GET,post",
            "TAGS": ["eu-west", "canary"], "SERVICE_VERSION": "2.1.0"}
    with override_settings(OTAS=opts):
        c = Client()
        assert c.get("/health").status_code == 200
        assert c.get(f"/api/status/{200}?u={uid}").status_code == 200
        assert c.delete(f"/api/items/{uid + 1}").status_code == 200
        c.get(f"/api/items/{uid}", HTTP_TRACEPARENT=TRACEPARENT)
        c.get(f"/api/items/{uid + 2}", HTTP_TRACEPARENT="00-bogus")
        st = otas.stats()
    ev = one(collector, f"/api/items/{uid}")
    md = ev["metadata"]
    assert md["tags"] == ["eu-west", "canary"]
    assert md["service_version"] == "2.1.0"
    assert md["traceparent"] == TRACEPARENT
    assert "traceparent" not in one(collector, f"/api/items/{uid + 2}")["metadata"]
    assert nothing_for(collector, f"/api/items/{uid + 1}")  # DELETE
    assert not [e for e in collector.events(path="/api/status/200")
                if as_obj(e["query_params"]) == {"u": [str(uid)]}]
    assert st["excluded"] >= 3


def test_sampling_keeps_ten_percent(collector, uid):
    path = f"/api/items/{uid}"
    with override_settings(OTAS={"SAMPLE_RATE": "0.1"}):
        c = Client()
        for _ in range(5000):
            c.get(path)
        st = otas.stats()
        # Deterministic per event id: the same ids get the same answers.
        from otas import _engine, _runtime
        eng = _runtime.current().engine
        ids = [eng.new_event_id() for _ in range(300)]

        def decide():
            return [eng.capture(_engine.Exchange("GET", f"/det/{uid}", None, [],
                                                 status=200, event_id=i), True)
                    for i in ids]
        first = decide()
        assert decide() == first
        assert all(x is None or x == i for x, i in zip(first, ids))
        assert 5 <= sum(x is not None for x in first) <= 70
    assert st["captured"] + st["sampled_out"] == 5000
    assert otas.flush(10)
    kept = len(collector.events(path=path, limit=1000))
    assert kept == st["captured"]
    assert 400 <= kept <= 600, kept


def test_options_from_the_environment(collector, tmp_path):
    p, res = run_app({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                      "OTAS_SPOOL_DIR": str(tmp_path), "OTAS_TAGS": "from-env",
                      "OTAS_SERVICE_VERSION": "9.9.9"})
    assert res["status"] == 200, p.stderr
    ev = [e for e in collector.events(path="/api/items/7")
          if e["metadata"].get("tags") == ["from-env"]]
    assert len(ev) == 1 and ev[0]["metadata"]["service_version"] == "9.9.9"
    p, res = run_app({"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
                      "OTAS_SPOOL_DIR": str(tmp_path), "OTAS_SAMPLE_RATE": "2"})
    assert res["exc"] == "OtasConfigurationError"
    assert "OTAS_SAMPLE_RATE" in res["msg"] and "0 to 1" in res["msg"]


# -------------------------------------------------------------- entities

def entity(collector, what, field, value):
    def find():
        items = collector.get(f"/api/v1/{what}").json()[what]
        found = [e for e in items if e.get(field) == value]
        return found[0] if found else None
    otas.flush(5)
    return wait_for(find, what=f"{what} {value}")


def test_update_user_latest_wins_and_metadata_merges(collector, uid):
    Client().get("/health")  # the middleware started the engine
    assert otas.update_user({"user_id": f"u{uid}", "email": "a@x.io",
                             "metadata": {"plan": "free", "seats": 3}}) == 1
    otas.update_user({"user_id": f"u{uid}", "email": "b@x.io",
                      "metadata": {"plan": "pro"}})
    otas.flush(5)
    u = entity(collector, "users", "user_id", f"u{uid}")
    assert u["email"] == "b@x.io"
    assert u["metadata"] == {"plan": "pro", "seats": 3}


def test_batches_companies_subscriptions(collector, uid):
    assert otas.update_users_batch([{"user_id": f"b{uid}-{i}", "company_id": f"c{uid}"}
                                    for i in range(3)]) == 3
    assert otas.update_company({"company_id": f"c{uid}", "metadata": {"tier": "gold"}}) == 1
    assert otas.update_companies_batch([{"company_id": uid}]) == 1
    assert otas.update_subscription({"subscription_id": f"s{uid}", "company_id": f"c{uid}",
                                     "status": "active"}) == 1
    assert otas.update_subscriptions_batch([{"subscription_id": f"t{uid}",
                                             "company_id": f"c{uid}"}]) == 1
    assert entity(collector, "companies", "company_id", f"c{uid}")["metadata"] == {"tier": "gold"}
    assert entity(collector, "companies", "company_id", uid)
    assert entity(collector, "subscriptions", "subscription_id", f"s{uid}")["status"] == "active"
    users = collector.get("/api/v1/users", company_id=f"c{uid}").json()["users"]
    assert sorted(u["user_id"] for u in users) == [f"b{uid}-{i}" for i in range(3)]


@pytest.mark.parametrize("call, arg, msg", [
    (otas.update_user, {}, "'user_id' is required"),
    (otas.update_user, {"user_id": ""}, "'user_id' is required"),
    (otas.update_user, {"user_id": True}, "'user_id' is required"),
    (otas.update_user, {"user_id": "u", "metadata": [1]}, "'metadata' must be a dict"),
    (otas.update_user, "u1", "a user update is a dict"),
    (otas.update_company, {"name": "x"}, "'company_id' is required"),
    (otas.update_subscription, {"subscription_id": "s"}, "'company_id' is required"),
    (otas.update_subscription, {"company_id": "c"}, "'subscription_id' is required"),
    (otas.update_users_batch, {"user_id": "u"}, "takes a list of dicts"),
    (otas.update_companies_batch, [{"company_id": "ok"}, {}], "update_companies_batch[1]"),
])
def test_entity_validation(call, arg, msg):
    before = otas.stats().get("dropped_entities", 0)
    with pytest.raises(OtasError) as exc:
        call(arg)
    assert msg in str(exc.value)
    assert otas.stats().get("dropped_entities", 0) == before


ENTITY_APP = """
import json, django
django.setup()
import otas
from django.test import Client
Client().get("/health")
otas.update_user({"user_id": "u1"})
otas.flush(timeout=5)
print("RESULT " + json.dumps({"stats": otas.stats()}))
"""


def test_entities_dropped_against_a_platform_without_them(tmp_path):
    from otas_testing.collector import Collector
    c = Collector(tmp_path / "compat")
    c.start(extra_args=["--quiet", "--platform-compat"])
    try:
        p, res = run_app({"OTAS_SDK_KEY": c.key, "OTAS_BASE_URL": c.url,
                          "OTAS_SPOOL_DIR": str(tmp_path)}, code=ENTITY_APP)
    finally:
        c.stop()
    assert res["stats"]["dropped_entities"] == 1, p.stderr
    assert res["stats"]["entities_sent"] == 0
    assert p.stderr.count("no entities endpoint") == 1
