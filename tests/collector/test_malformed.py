"""Malformed input in every position is a 400 (or a per-event rejection),
never a crash, never a stored event."""
import json

import pytest

from otas_testing.collector import BATCH_PATH, LOG_PATH, make_event


def test_every_prefix_of_a_batch(collector):
    body = json.dumps({"events": [make_event(1), make_event(2, metadata={"a": [1, {"b": None}]})]})
    for n in range(len(body)):
        r = collector.post_json(BATCH_PATH, body[:n].encode())
        assert r.status == 400, (n, r)
        assert r.json()["status_description"] in ("invalid_json", "invalid_batch")
    assert collector.events() == []
    assert collector.post_json(BATCH_PATH, body.encode()).json()["accepted"] == 2


def test_every_prefix_of_an_event(collector):
    body = json.dumps(make_event(1))
    for n in range(0, len(body), 3):
        r = collector.post_json(LOG_PATH, body[:n].encode())
        assert (r.status, r.json()["status_description"]) == (400, "invalid_json"), n
    assert collector.events() == []


WRONG = {
    "path": [1, None],  # None is treated as missing
    "method": [5],
    "status_code": ["200", 1.5, True],
    "latency_ms": ["1", [1]],
    "request_size_bytes": [-1, "10", 1.5],
    "response_size_bytes": [{}],
    "request_headers": [{"a": "b"}],
    "response_headers": [[1]],
    "request_body": [1],
    "response_body": [False],
    "query_params": [{"q": ["1"]}],
    "post_data": [3],
    "request_content_type": [1],
    "response_content_type": [[]],
    "custom_properties": ["x", [1]],
    "error": [1, {}],
    "metadata": ["x", 1],
    "event_id": [1, "", "x" * 200],
    "agent_session_token": [1],
}


@pytest.mark.parametrize("field,values", sorted(WRONG.items()))
def test_wrong_type_per_field(collector, field, values):
    for v in values:
        ev = make_event(1, **{field: v})
        r = collector.send_batch([make_event(0), ev])
        want = "missing_required_fields" if v is None else "invalid_field_types"
        assert r.status == 200
        assert r.json()["rejected"] == [{"index": 1, "status_description": want}], (field, v)
        r = collector.send_event(ev)
        assert (r.status, r.json()["status_description"]) == (400, want), (field, v)
        if want == "invalid_field_types":
            assert r.json()["invalid_fields"] == [field]


@pytest.mark.parametrize("body", [
    {"events": "x"}, {"events": 1}, {"events": None}, {"events": {"0": {}}},
    [], "events", 1, None, {},
])
def test_events_not_a_list(collector, body):
    r = collector.post_json(BATCH_PATH, body)
    assert (r.status, r.json()["status_description"]) == (400, "invalid_batch")


def test_non_object_events(collector):
    r = collector.send_batch([1, "x", None, [], True, make_event(1)])
    assert r.json()["accepted"] == 1
    assert [x["index"] for x in r.json()["rejected"]] == [0, 1, 2, 3, 4]
    assert {x["status_description"] for x in r.json()["rejected"]} == {"invalid_event"}


def test_duplicate_keys_and_bad_utf8(collector):
    # valid JSON, but which list would count? An ambiguous batch, not bad JSON
    r = collector.post_json(BATCH_PATH, b'{"events": [], "events": []}')
    assert (r.status, r.json()["status_description"]) == (400, "invalid_batch")
    r = collector.post_json(BATCH_PATH, b'{"events": [{"": [0]}], "events": []}')
    assert (r.status, r.json()["status_description"]) == (400, "invalid_batch")
    r = collector.post_json(BATCH_PATH, b'{"events": ["\xff\xfe"]}')
    assert (r.status, r.json()["status_description"]) == (400, "invalid_json")
    r = collector.post_json(BATCH_PATH, b'{"events": ["a\\u0000b"]}')
    assert r.json()["rejected"] == [{"index": 0, "status_description": "invalid_event"}]
    # a NUL in a body is kept as sent
    r = collector.send_batch([make_event(2, event_id="nul", response_body="x\u0000y")])
    assert r.json()["accepted"] == 1
    assert collector.get("/api/v1/events/nul").json()["response_body"] == "x\u0000y"


def test_deep_nesting(collector):
    body = b'{"events": [' + b"[" * 100000 + b"]" * 100000 + b"]}"
    r = collector.post_json(BATCH_PATH, body)
    assert r.status == 400
    assert collector.request("GET", "/healthz").status == 200


def test_unknown_fields_are_kept(collector):
    r = collector.send_event(make_event(1, extra_field={"x": 1}))
    assert r.status == 201
    assert collector.events()[0]["extra_field"] == {"x": 1}


# Valid JSON the query API's reader refuses (a lone surrogate escape, an
# integer beyond int64, a double overflow, NUL in a key): refused per event,
# so everything accepted reads back (issue 16, item 16).
UNREADABLE = [
    '"request_body": "\\ud800"',
    '"error": "x\\udc00"',
    '"custom_properties": {"n": 9223372036854775808}',
    '"custom_properties": {"n": -9223372036854775809}',
    '"custom_properties": {"r": 1e999}',
    '"custom_properties": {"a\\u0000": 1}',
    '"metadata": {"deep": [{"s": "\\udbff"}]}',
]


def raw_event(i, extra):
    ev = make_event(i, event_id=f"raw-{i}")
    ev.pop(extra.split(":", 1)[0].strip().strip('"'))  # given raw instead
    base = json.dumps(ev)
    return base[:-1] + ", " + extra + "}"


@pytest.mark.parametrize("extra", UNREADABLE)
def test_unreadable_value_refused_single(collector, extra):
    r = collector.post_json(LOG_PATH, raw_event(1, extra).encode())
    assert r.status == 400, r
    assert r.json()["status_description"] == "invalid_json_value"
    assert collector.events() == []


def test_unreadable_values_rejected_per_event_in_batch(collector):
    good = [json.dumps(make_event(100 + i, event_id=f"ok-{i}",
                                  custom_properties={"n": 9223372036854775807,
                                                     "s": "\U0001f600"}))
            for i in range(3)]
    bad = [raw_event(i, extra) for i, extra in enumerate(UNREADABLE)]
    body = '{"events": [' + ", ".join(good[:1] + bad + good[1:]) + "]}"
    r = collector.post_json(BATCH_PATH, body.encode())
    assert r.status == 200, r
    out = r.json()
    assert out["accepted"] == 3
    assert [x["index"] for x in out["rejected"]] == list(range(1, 1 + len(bad)))
    assert {x["status_description"] for x in out["rejected"]} == {"invalid_json_value"}
    # everything accepted reads back, values intact
    evs = collector.events()
    assert sorted(e["event_id"] for e in evs) == ["ok-0", "ok-1", "ok-2"]
    for e in evs:
        assert e["custom_properties"] == {"n": 9223372036854775807, "s": "\U0001f600"}
        assert collector.get(f"/api/v1/events/{e['event_id']}").status == 200
