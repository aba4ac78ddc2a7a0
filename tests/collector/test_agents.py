"""Agent session tokens: verified (ours or the platform's) vs unverified."""
import base64
import json
import time

from otas_testing.collector import make_event
from test_compat import sign


def payload(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def test_verified_and_unverified(make_collector):
    c = make_collector(env={"OTAS_JWT_SECRET": "platform"})
    ours = c.agent_session("research-bot")
    claims = payload(ours)
    assert claims["exp"] - claims["iat"] == 30 * 86400
    forged = sign({"agent_id": "evil", "agent_session_id": claims["agent_session_id"]}, b"guess")
    platform = sign({"agent_id": "p-agent", "agent_session_id": "p-sess",
                     "exp": int(time.time()) + 100}, b"platform")
    expired = sign({"agent_id": "x", "agent_session_id": "old", "exp": 1}, b"platform")
    assert c.send_event(make_event(1, event_id="ours"), token=ours).status == 201
    assert c.send_event(make_event(2, event_id="forged"), token=forged).status == 201
    assert c.send_event(make_event(3, event_id="garbage"), token="a.b.c").status == 201
    assert c.send_event(make_event(4, event_id="none")).status == 201
    r = c.send_batch([make_event(5, event_id="platform", agent_session_token=platform),
                      make_event(6, event_id="expired", agent_session_token=expired),
                      make_event(7, event_id="empty", agent_session_token="")])
    assert r.json()["accepted"] == 3
    ev = {e["event_id"]: e for e in c.events()}
    assert (ev["ours"]["agent_verified"], ev["ours"]["agent_id"]) == (True, claims["agent_id"])
    assert ev["ours"]["agent_session_id"] == claims["agent_session_id"]
    assert (ev["forged"]["agent_verified"], ev["forged"]["agent_id"]) == (False, "evil")
    assert (ev["garbage"]["agent_verified"], ev["garbage"]["agent_id"]) == (False, None)
    assert (ev["none"]["agent_verified"], ev["none"]["agent_session_id"]) == (False, None)
    assert (ev["platform"]["agent_verified"], ev["platform"]["agent_session_id"]) == (True, "p-sess")
    assert (ev["expired"]["agent_verified"], ev["expired"]["agent_session_id"]) == (False, "old")
    assert ev["empty"]["agent_session_id"] is None
    # the token is a credential: never stored, never in the event
    assert all("agent_session_token" not in e for e in ev.values())
    c.stop()
    raw = c.stored_bytes()
    assert ours.encode() not in raw and platform.encode() not in raw
    assert ours.split(".")[2].encode() not in raw
    c.start(extra_args=c.extra_args)
    # sessions: the forged traffic never merges with the verified session
    sessions = c.get("/api/v1/agent-sessions").json()["sessions"]
    mine = [s for s in sessions if s["agent_session_id"] == claims["agent_session_id"]]
    assert sorted((s["verified"], s["agent_id"], s["events"]) for s in mine) == [
        (False, "evil", 1), (True, claims["agent_id"], 1)]
    assert all({"first_seen", "last_seen", "errors"} <= set(s) for s in sessions)
    # filter by session
    assert [e["event_id"] for e in c.events(agent_session_id="p-sess")] == ["platform"]


def test_same_agent_name_same_agent_id(collector):
    a = payload(collector.agent_session("bot"))
    b = payload(collector.agent_session("bot"))
    assert a["agent_id"] == b["agent_id"] and a["agent_session_id"] != b["agent_session_id"]
    assert collector.sql("SELECT count(*) FROM agents") == "1"


def test_token_of_another_project_is_not_verified(collector):
    """A token minted for project A proves nothing in project B's events
    (issue 16, item 14): B stores it unverified; A still verifies it."""
    c = collector
    b_id, b_key = c.create_project("Project B")
    token_a = c.agent_session("bot-a")
    token_b = c.agent_session("bot-b", project_id=b_id)
    assert payload(token_a)["project_id"] == c.project_id
    assert payload(token_b)["project_id"] == b_id
    assert c.send_event(make_event(1, event_id="a-in-b"), key=b_key,
                        token=token_a).status == 201
    assert c.send_batch([make_event(2, event_id="a-in-b-batch",
                                    agent_session_token=token_a),
                         make_event(3, event_id="b-in-b",
                                    agent_session_token=token_b)],
                        key=b_key).json()["accepted"] == 2
    assert c.send_event(make_event(4, event_id="a-in-a"), token=token_a).status == 201
    in_b = {e["event_id"]: e for e in c.events(key=c.project_read_keys[b_id])}
    assert in_b["a-in-b"]["agent_verified"] is False
    assert in_b["a-in-b-batch"]["agent_verified"] is False
    assert in_b["b-in-b"]["agent_verified"] is True
    in_a = {e["event_id"]: e for e in c.events()}
    assert set(in_a) == {"a-in-a"} and in_a["a-in-a"]["agent_verified"] is True
