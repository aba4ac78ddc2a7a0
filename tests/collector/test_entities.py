"""Entities: POST /api/v1/entities/batch/ (users, companies, subscriptions),
their list endpoints, and events filtered by user_id / company_id."""

import time

from otas_testing.collector import make_event

PATH = "/api/v1/entities/batch/"


def post(c, entities, **kw):
    return c.post_json(PATH, {"entities": entities}, **kw)


def by_id(items, field, value):
    found = [e for e in items if e.get(field) == value]
    assert len(found) == 1, items
    return found[0]


def test_requires_the_sdk_key(collector):
    r = post(collector, [{"kind": "user", "user_id": "u1"}], key=None)
    assert (r.status, r.json()["status_description"]) == (401, "missing_sdk_key")
    r = post(collector, [{"kind": "user", "user_id": "u1"}],
             key="otas_AAAAAAAAAAA_" + "B" * 43)
    assert (r.status, r.json()["status_description"]) == (401, "invalid_sdk_key")
    assert collector.get("/api/v1/users", key=None).status == 401


def test_bad_bodies(collector):
    r = collector.post_json(PATH, b"not json")
    assert (r.status, r.json()["status_description"]) == (400, "invalid_json")
    r = collector.post_json(PATH, {"entities": "nope"})
    assert (r.status, r.json()["status_description"]) == (400, "invalid_batch")
    assert collector.request("GET", PATH, None, {}).status == 405


def test_invalid_elements_are_rejected_by_index(collector):
    r = post(collector, [
        {"kind": "user", "user_id": "ok-1"},
        {"kind": "user"},
        {"kind": "alien", "user_id": "x"},
        {"kind": "company"},
        {"kind": "subscription", "subscription_id": "s1"},
        {"kind": "user", "user_id": "u", "metadata": [1]},
        "string",
        {"kind": "company", "company_id": 42},
    ])
    assert r.status == 200
    body = r.json()
    assert body["status"] == 1 and body["accepted"] == 2
    assert body["rejected"] == [
        {"index": 1, "status_description": "missing_user_id"},
        {"index": 2, "status_description": "invalid_kind"},
        {"index": 3, "status_description": "missing_company_id"},
        {"index": 4, "status_description": "missing_company_id"},
        {"index": 5, "status_description": "invalid_metadata"},
        {"index": 6, "status_description": "invalid_entity"},
    ]
    users = collector.get("/api/v1/users").json()["users"]
    assert [u["user_id"] for u in users] == ["ok-1"]
    companies = collector.get("/api/v1/companies").json()["companies"]
    assert companies[0]["company_id"] == 42 and companies[0]["kind"] == "company"


def test_latest_wins_and_metadata_merges(collector):
    r = post(collector, [{"kind": "user", "user_id": "u7", "email": "a@x.io",
                          "company_id": "c1",
                          "metadata": {"plan": "free", "seats": 1,
                                       "nested": {"a": 1}}}])
    assert r.json()["accepted"] == 1
    r = post(collector, [{"kind": "user", "user_id": "u7", "email": "b@x.io",
                          "metadata": {"plan": "pro", "nested": {"b": 2},
                                       "seats": None}}])
    assert r.json()["accepted"] == 1
    u = by_id(collector.get("/api/v1/users").json()["users"], "user_id", "u7")
    assert u["email"] == "b@x.io"
    assert u["company_id"] == "c1"  # kept: the update did not name it
    assert u["metadata"] == {"plan": "pro", "nested": {"a": 1, "b": 2}}
    assert u["created_at"] <= u["updated_at"]


def test_list_endpoints_and_filters(collector):
    r = post(collector, [
        {"kind": "company", "company_id": "acme", "metadata": {"tier": "gold"}},
        {"kind": "subscription", "subscription_id": "sub-1",
         "company_id": "acme", "status": "active"},
        {"kind": "subscription", "subscription_id": "sub-2",
         "company_id": "other"},
        {"kind": "user", "user_id": "u-acme", "company_id": "acme"},
        {"kind": "user", "user_id": "u-other", "company_id": "other"},
    ])
    assert r.json()["accepted"] == 5
    subs = collector.get("/api/v1/subscriptions").json()["subscriptions"]
    assert {s["subscription_id"] for s in subs} == {"sub-1", "sub-2"}
    assert by_id(subs, "subscription_id", "sub-1")["status"] == "active"
    users = collector.get("/api/v1/users", company_id="acme").json()["users"]
    assert [u["user_id"] for u in users] == ["u-acme"]
    every = collector.get("/api/v1/entities").json()["entities"]
    assert sorted(e["kind"] for e in every) == [
        "company", "subscription", "subscription", "user", "user"]
    only = collector.get("/api/v1/entities", kind="company").json()["entities"]
    assert [e["company_id"] for e in only] == ["acme"]
    assert collector.get("/api/v1/entities", kind="alien").status == 400
    assert len(collector.get("/api/v1/users", limit=1).json()["users"]) == 1


def test_entities_are_per_project(collector):
    post(collector, [{"kind": "user", "user_id": "mine"}])
    other_id, _ = collector.create_project("other")
    other_read = collector.project_read_keys[other_id]
    assert collector.get("/api/v1/users", key=other_read).json()["users"] == []


def test_events_filter_by_user_and_company(collector):
    evs = [make_event(i, event_id=f"e-{i}",
                      metadata={"user_id": f"u{i % 2}", "company_id": f"c{i % 3}"})
           for i in range(12)]
    evs.append(make_event(99, event_id="e-none", metadata={}))
    assert collector.send_batch(evs).json()["accepted"] == 13
    got = collector.events(user_id="u1")
    assert sorted(e["event_id"] for e in got) == sorted(
        f"e-{i}" for i in range(12) if i % 2 == 1)
    got = collector.events(user_id="u0", company_id="c0")
    assert sorted(e["event_id"] for e in got) == ["e-0", "e-6"]
    assert collector.events(user_id="nobody") == []


def test_platform_compat_has_no_entities(make_collector):
    c = make_collector(["--platform-compat"])
    assert post(c, [{"kind": "user", "user_id": "u"}]).status == 404


def test_entities_counted_while_decoding(collector):
    """Past 1,000 entities the batch is refused before it is parsed: a
    gzipped body that inflates to many small entities costs neither the
    memory of a JSON tree nor the time to build it."""
    import gzip as _gz
    import json as _json
    body = _json.dumps({"entities": [{"kind": "user", "user_id": f"u{i}"}
                                     for i in range(200000)]}).encode()
    small = _gz.compress(body, 9)
    t0 = time.monotonic()
    r = collector.post_json("/api/v1/entities/batch/", small,
                            headers={"Content-Encoding": "gzip"})
    took = time.monotonic() - t0
    assert (r.status, r.json()["status_description"]) == (413, "too_many_entities")
    assert took < 2.0, took
    # exactly at the cap is fine, one more is not; nested arrays don't count
    ok = [{"kind": "user", "user_id": f"k{i}", "metadata": {"a": [1, 2, {"b": [3]}]}}
          for i in range(1000)]
    assert post(collector, ok).status == 200
    assert post(collector, ok + [{"kind": "user", "user_id": "x"}]).status == 413
