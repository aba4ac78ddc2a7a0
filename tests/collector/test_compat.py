"""--platform-compat: behave like the platform's Brain."""
import base64
import hashlib
import hmac
import json
import time

from otas_testing.collector import AUTH_PATH, BATCH_PATH, make_event


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(claims, secret):
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64(json.dumps(claims).encode())
    s = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(s)}"


def test_platform_compat(make_collector):
    secret = b"platform-secret"
    c = make_collector(["--platform-compat"], env={"OTAS_JWT_SECRET": secret.decode()})
    # no batch endpoint: the SDK falls back to one event per request
    r = c.send_batch([make_event(1)])
    assert r.status == 404
    # key before token
    r = c.send_event(make_event(1), key=None)
    assert (r.status, r.json()["status_description"]) == (401, "missing_sdk_key")
    r = c.send_event(make_event(1))
    assert (r.status, r.json()) == (401, {"status": 0, "status_description": "missing_agent_session_token"})
    r = c.send_event(make_event(1), token="not-a-jwt")
    assert (r.status, r.json()["status_description"]) == (401, "invalid_or_expired_token")
    expired = sign({"agent_id": "a", "agent_session_id": "s", "exp": int(time.time()) - 5}, secret)
    r = c.send_event(make_event(1), token=expired)
    assert (r.status, r.json()["status_description"]) == (401, "invalid_or_expired_token")
    forged = sign({"agent_id": "a", "agent_session_id": "s", "exp": int(time.time()) + 60}, b"other")
    assert c.send_event(make_event(1), token=forged).status == 401
    # the platform's own token, and one of ours
    good = sign({"agent_id": "a1", "agent_session_id": "s1", "iat": int(time.time()),
                 "exp": int(time.time()) + 60}, secret)
    r = c.send_event(make_event(1), token=good)
    assert (r.status, r.json()) == (201, {"status": 1, "status_description": "event_captured", "response": {}})
    ours = c.agent_session("bot")
    assert c.send_event(make_event(2), token=ours).status == 201
    evs = c.events()
    assert len(evs) == 2 and all(e["agent_verified"] for e in evs)
    assert {e["agent_session_id"] for e in evs} >= {"s1"}
    # authentication is the same as in normal mode
    assert c.post_json(AUTH_PATH, b"").status == 200
    assert c.request("POST", BATCH_PATH).status == 404
