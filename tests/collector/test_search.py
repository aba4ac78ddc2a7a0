"""Text search (`q`) through the real collector, on both stores: the
trigram index (SQLite FTS5, PostgreSQL pg_trgm) over the searchable text
(path, query params, request and response bodies, error), substrings,
case, filters, duplicates, retention, FTS syntax taken literally, the
short-query row scan, redacted values and the index built for a database
made before it."""
import json
import random
import time

import pytest

from otas_testing.collector import make_event
from sdk_support import run_app, wait_for

FROM = "2026-03-02T10:00:00Z"
TO = "2026-03-02T11:00:00Z"
DAY = 86400


def ev(i, *, minute=1, req="", resp="{}", path=None, method="GET", status=200,
       user=None, error="", headers="{}", query="{}", eid=None):
    md = {"timestamp": f"2026-03-02T10:{minute:02d}:{i % 60:02d}.000000Z",
          "route": "api/items/<int:pk>", "note": "metadata-only-word"}
    if user:
        md["user_id"] = user
    return make_event(i, event_id=eid or f"s-{i:04d}", path=path or f"/api/items/{i}",
                      method=method, status_code=status, request_body=req,
                      response_body=resp, error=error, request_headers=headers,
                      query_params=query, metadata=md)


def search(c, **params):
    params.setdefault("from", FROM)
    params.setdefault("to", TO)
    r = c.get("/api/v1/search", **params)
    assert r.status == 200, (params, r.status, r.body[:300])
    return r.json()


def ids(c, **params):
    return [e["event_id"] for e in search(c, **params)["events"]]


def text_index(c):
    return c.get("/api/v1/collector/stats").json()["text_index"]


def wait_indexed(c):
    """Poll until the deferred indexer has caught up with every commit."""
    return wait_for(lambda: not text_index(c)["behind"], what="text indexer")


def loaded(c):
    evs = [
        ev(1, req=json.dumps({"customer": "Ada Lovelace", "note": "Invoice overdue"}),
           user="u1"),
        ev(2, resp=json.dumps({"result": "shipment DELAYED at depot"}), method="POST",
           user="u2"),
        ev(3, path="/api/warehouse/7", status=500, error="KeyError: 'palletid'"),
        ev(4, query=json.dumps({"sku": ["XQ-4471"]}), status=404),
        ev(5, req='a*b "quoted" x:y -minus NEAR(p q) 100%_off back\\slash'),
        ev(6, headers=json.dumps({"x-header-word": "zanzibar"})),
        ev(7, req="short zq here", minute=2),
        ev(8, req="Grüße aus Köln", minute=2),
    ]
    r = c.send_batch(evs)
    assert r.status == 200 and r.json()["accepted"] == len(evs), r.json()
    return c


def test_words_substrings_case_and_fields(collector):
    c = loaded(collector)
    out = search(c, q="lovelace")
    assert [e["event_id"] for e in out["events"]] == ["s-0001"]
    assert out["text_search"] == "index"
    assert ids(c, q="ovelac") == ["s-0001"]              # inside a word
    assert ids(c, q="INVOICE OVERDUE") == ["s-0001"]     # words in sequence, any case
    assert ids(c, q="delayed at dep") == ["s-0002"]       # response body
    assert ids(c, q="warehouse") == ["s-0003"]            # path
    assert ids(c, q="palletid") == ["s-0003"]             # error
    assert ids(c, q="xq-4471") == ["s-0004"]              # query params
    assert ids(c, q="grüße") == ["s-0008"]
    # no false positives: absent text, words out of order, what is not
    # searched (headers, metadata, field names)
    for miss in ("lovelace ada", "overdue invoice", "zanzibar", "metadata-only-word",
                 "request_body", "nothing-like-this"):
        assert ids(c, q=miss) == [], miss
    # the events list and every aggregate take q too
    series = c.get("/api/v1/stats/series", q="lovelace", **{"from": FROM, "to": TO}).json()
    assert series["totals"]["requests"] == 1
    assert series["text_search"] == "index"


def test_combined_with_filters(collector):
    c = loaded(collector)
    assert ids(c, q="delayed", method="post") == ["s-0002"]
    assert ids(c, q="delayed", method="GET") == []
    assert ids(c, q="palletid", status="5xx") == ["s-0003"]
    assert ids(c, q="palletid", status="4xx") == []
    assert ids(c, q="lovelace", user="u1") == ["s-0001"]
    assert ids(c, q="lovelace", user="u2") == []
    assert ids(c, q="warehouse", path="/api/warehouse/*") == ["s-0003"]
    assert ids(c, q="here", **{"from": "2026-03-02T10:02:00Z"}) == ["s-0007"]
    assert ids(c, q="lovelace", **{"from": "2026-03-02T10:02:00Z"}) == []


def test_newest_first_capped_and_paged(collector):
    c = collector
    evs = [ev(i, minute=1 + i // 60, req=f"common-term number {i}") for i in range(150)]
    assert c.send_batch(evs).json()["accepted"] == 150
    page = search(c, q="common-term", limit=100)
    got = [e["event_id"] for e in page["events"]]
    assert got == [f"s-{i:04d}" for i in range(149, 49, -1)]
    rest = search(c, q="common-term", limit=100, cursor=page["next"])
    assert [e["event_id"] for e in rest["events"]] == [f"s-{i:04d}" for i in range(49, -1, -1)]
    assert rest["next"] is None
    assert ids(c, q="number 17 ") == []  # "number 17" then end of body
    assert ids(c, q="number 117") == ["s-0117"]


def test_fts_syntax_is_literal(collector):
    c = loaded(collector)
    for q in ('"', '""', '"quoted"', "a*b", "x:y", "-minus", "NEAR(p q)", "100%_off",
              "back\\slash", "'; DROP TABLE events; --", "* OR 1", "AND", "^abc", "%", "_",
              "(", ")", "{x}", "p NOT q"):
        r = c.get("/api/v1/search", q=q, **{"from": FROM, "to": TO})
        assert r.status == 200, (q, r.status, r.body[:200])
    assert ids(c, q='"quoted"') == ["s-0005"]
    assert ids(c, q="a*b") == ["s-0005"]
    assert ids(c, q="x:y -minus") == ["s-0005"]
    assert ids(c, q="NEAR(p q)") == ["s-0005"]
    assert ids(c, q="100%_off") == ["s-0005"]
    assert ids(c, q="back\\slash") == ["s-0005"]
    assert ids(c, q="100%off") == []          # % and _ are not wildcards
    assert ids(c, q="a_b") == []
    assert ids(c, q="* OR 1") == []
    assert int(c.sql("SELECT count(*) FROM events")) == 8


def test_short_query_scans_rows(collector):
    c = loaded(collector)
    out = search(c, q="zq")
    assert [e["event_id"] for e in out["events"]] == ["s-0007"]
    assert out["text_search"] == "scan"
    assert ids(c, q="ZQ") == ["s-0007"]
    assert ids(c, q="ö") == ["s-0008"]       # one character (two bytes)
    assert ids(c, q="qz") == []
    assert ids(c, q="zq", method="POST") == []
    assert search(c)["text_search"] is None


def test_duplicates_not_doubled(collector):
    c = collector
    e = ev(1, req="only-once-please")
    assert c.send_batch([e]).json()["accepted"] == 1
    r = c.send_batch([e, e]).json()
    assert r["accepted"] == 0 and r["duplicates"] == 2
    assert ids(c, q="only-once") == ["s-0001"]
    if c.store == "sqlite":
        # The second commit came right after the first: the indexer's
        # pass waits for a lull (store.c index_due), so wait for it.
        wait_indexed(c)
        assert c.sql("SELECT count(*) FROM events_fts"
                     " WHERE events_fts MATCH '\"only-once\"'") == "1"


def uuid7(ms):
    import os
    r = os.urandom(10).hex()
    h = f"{ms:012x}"
    return f"{h[:8]}-{h[8:12]}-7{r[:3]}-a{r[3:6]}-{r[6:18]}"


def test_retention_removes_hits(make_collector):
    c = make_collector(["--retain-days", "30", "--maintain-interval", "2"])
    now = time.time()
    old_t = now - 40 * DAY
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old_t))
    old = [make_event(i, event_id=uuid7(int(old_t * 1000) + i),
                      request_body=f"ancient-needle {i}",
                      metadata={"route": "r", "timestamp": stamp}) for i in range(5)]
    new = [make_event(9, event_id=uuid7(int(now * 1000)), request_body="ancient-needle new")]
    assert c.send_batch(old + new).json()["accepted"] == 6
    rng = {"from": str(int(now - 50 * DAY)), "to": str(int(now + 60))}
    wait_until = time.monotonic() + 20
    while int(c.sql("SELECT count(*) FROM events")) != 1:
        assert time.monotonic() < wait_until, "retention did not run"
        time.sleep(0.1)
    got = search(c, q="ancient-needle", **rng)["events"]
    assert [e["event_id"] for e in got] == [new[0]["event_id"]]
    if c.store == "sqlite":
        assert c.sql("SELECT count(*) FROM events_fts"
                     " WHERE events_fts MATCH '\"ancient-needle\"'") == "1"
        assert c.sql("INSERT INTO events_fts(events_fts) VALUES('integrity-check')") == ""


def test_index_built_for_an_older_database(new_collector):
    """A database from before the index (schema 3 in SQLite, 1 in
    PostgreSQL) gets it at open, its events included."""
    c = new_collector("old")
    c.start(extra_args=["--quiet"])
    assert c.send_batch([ev(1, req="from-before-the-index")]).json()["accepted"] == 1
    c.stop()
    if c.store == "sqlite":
        for stmt in ("DROP TRIGGER IF EXISTS events_fts_ins",
                     "DROP TRIGGER events_fts_del", "DROP TRIGGER events_fts_upd",
                     "DROP TABLE events_fts", "DROP TABLE fts_state",
                     # the search text became a view (schema 11)
                     "DROP VIEW events_text",
                     # and what later schemas added (rollups, indexes)
                     "DROP TABLE rollups", "DROP TABLE rollup_people",
                     "DROP INDEX events_errors", "DROP INDEX events_agents",
                     "PRAGMA user_version=3"):
            c.sql(stmt)
    else:
        c.sql("DROP INDEX events_search")
        c.sql("DROP INDEX events_unindexed")
        c.sql("ALTER TABLE events DROP COLUMN text_indexed")
        c.sql("DROP FUNCTION otas_search_text(text) CASCADE")  # and its statistics
        for stmt in ("DROP TABLE rollups", "DROP TABLE rollup_people",
                     "DROP AGGREGATE otas_hist_agg(int, bigint)",
                     "DROP FUNCTION otas_hist_put(int[], int, bigint)",
                     "DROP FUNCTION otas_hist_bin(float8)",
                     "DROP FUNCTION otas_hist_merge(int[], int[])",
                     "DROP INDEX events_errors", "DROP INDEX events_agents"):
            c.sql(stmt)
        c.sql("UPDATE otas_schema SET version = 1")
    c.start(extra_args=["--quiet"])
    try:
        assert ids(c, q="before-the-index") == ["s-0001"]
        assert c.send_batch([ev(2, req="after-the-index")]).json()["accepted"] == 1
        assert ids(c, q="the-index") == ["s-0002", "s-0001"]
        if c.store == "sqlite":
            assert c.sql("PRAGMA user_version") == "15"
        else:
            assert c.sql("SELECT version FROM otas_schema") == "11"
            assert c.sql("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == "1"
    finally:
        c.stop()


APP = """
import json, django
django.setup()
from django.test import Client
import otas
c = Client()
c.post("/api/account?case=search",
       json.dumps({"name": "alice-searchable", "password": "SECRET-PW-4f1c9"}),
       content_type="application/json")
print("RESULT " + json.dumps({"flushed": otas.flush(5)}))
"""


def test_redacted_value_not_findable(collector, tmp_path):
    env = {"OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
           "OTAS_SPOOL_DIR": str(tmp_path / "spool"),
           "OTAS_REDACT_REQUEST_BODY": "$.password", "OTAS_SHUTDOWN_TIMEOUT_MS": "500"}
    p, res = run_app(env, code=APP)
    assert res and res["flushed"] is True, p.stderr[-2000:]
    wait_for(lambda: collector.events(path="/api/account"), what="the event")
    rng = {"from": str(int(time.time() - 3600)), "to": str(int(time.time() + 60))}
    hit = search(collector, q="alice-searchable", **rng)["events"]
    assert len(hit) == 1 and hit[0]["path"] == "/api/account"
    assert search(collector, q="SECRET-PW", **rng)["events"] == []
    assert search(collector, q="4f1c9", **rng)["events"] == []
    assert len(search(collector, q="[REDACTED]", **rng)["events"]) == 1


def test_text_index_off_and_on_again(new_collector):
    """--text-index off drops the index (q still answers, by a scan);
    on again builds it, with the events stored meanwhile."""
    c = new_collector("switch")
    c.start(extra_args=["--quiet", "--text-index", "off"])
    try:
        assert c.send_batch([ev(1, req="stored-while-off")]).json()["accepted"] == 1
        assert ids(c, q="while-off") == ["s-0001"]
        assert ids(c, q="nowhere-at-all") == []
        if c.store == "sqlite":
            assert c.sql("SELECT count(*) FROM sqlite_master WHERE name = 'events_fts'") == "0"
        else:
            assert c.sql("SELECT to_regclass('events_search')") == ""
    finally:
        c.stop()
    c.start(extra_args=["--quiet"])
    try:
        assert ids(c, q="while-off") == ["s-0001"]
        assert c.send_batch([ev(2, req="stored-while-on")]).json()["accepted"] == 1
        assert ids(c, q="stored-while") == ["s-0002", "s-0001"]
        wait_indexed(c)
        assert ids(c, q="stored-while") == ["s-0002", "s-0001"]
        if c.store == "sqlite":
            assert c.sql("SELECT count(*) FROM events_fts"
                         " WHERE events_fts MATCH '\"stored-while\"'") == "2"
        else:
            assert c.sql("SELECT to_regclass('events_search')") == "events_search"
    finally:
        c.stop()
    p = c.cli("serve", "--db", str(c.db_path), "--text-index", "maybe", check=False)
    assert p.returncode == 2 and "--text-index" in p.stderr


def unindexed(c):
    """Events the deferred indexer has not reached (read from the store)."""
    if c.store == "sqlite":
        return int(c.sql("SELECT count(*) FROM events WHERE id >"
                         " (SELECT wm FROM fts_state)"))
    return int(c.sql("SELECT count(*) FROM events WHERE NOT text_indexed"))


def test_deferred_index_tail_then_index(new_collector):
    """Ingest writes events only; a search right after finds them in the
    not-yet-indexed tail (indexer held by a test flag), and the same
    answer comes through the index once the indexer has caught up.
    Retention of indexed and unindexed rows and duplicates stay right."""
    c = new_collector("deferred")
    c.start(extra_args=["--quiet", "--test-hold-text-index", "1"])
    try:
        assert c.send_batch([ev(1, req="alpha-deferred-one"),
                             ev(2, resp="ALPHA-DEFERRED-two")]).json()["accepted"] == 2
        assert unindexed(c) == 2
        assert text_index(c)["behind"] is True
        assert text_index(c)["indexed_events"] == 0
        assert ids(c, q="alpha-deferred") == ["s-0002", "s-0001"]
        assert ids(c, q="deferred-one") == ["s-0001"]
        assert ids(c, q="not-there-at-all") == []
        # a retry of an unindexed event is still a duplicate
        r = c.send_batch([ev(1, req="alpha-deferred-one")]).json()
        assert r["accepted"] == 0 and r["duplicates"] == 1
    finally:
        c.stop()
    c.start(extra_args=["--quiet"])
    try:
        wait_indexed(c)
        assert unindexed(c) == 0
        assert ids(c, q="alpha-deferred") == ["s-0002", "s-0001"]
        assert ids(c, q="deferred-one") == ["s-0001"]
        if c.store == "sqlite":
            assert c.sql("SELECT count(*) FROM events_fts"
                         " WHERE events_fts MATCH '\"alpha-deferred\"'") == "2"
        # a mix: indexed rows and a new unindexed tail answer together
        assert c.send_batch([ev(3, req="alpha-deferred-three")]).json()["accepted"] == 1
        assert ids(c, q="alpha-deferred") == ["s-0003", "s-0002", "s-0001"]
        wait_indexed(c)
        assert text_index(c)["indexed_events"] >= 3
        assert unindexed(c) == 0
        assert ids(c, q="alpha-deferred") == ["s-0003", "s-0002", "s-0001"]
    finally:
        c.stop()


def test_synchronous_index_database_upgraded(new_collector):
    """A database whose index was kept at insert (SQLite schema 4-7,
    PostgreSQL 2-5) keeps its indexed events and goes deferred."""
    c = new_collector("sync")
    c.start(extra_args=["--quiet"])
    assert c.send_batch([ev(1, req="kept-at-insert")]).json()["accepted"] == 1
    wait_indexed(c)
    c.stop()
    if c.store == "sqlite":
        for stmt in ("DROP TRIGGER events_fts_del", "DROP TRIGGER events_fts_upd",
                     "DROP TABLE fts_state",
                     # schema 11 made the search text a view
                     "DROP VIEW events_text",
                     "ALTER TABLE events ADD COLUMN search_text TEXT"
                     " GENERATED ALWAYS AS (doc) VIRTUAL",
                     "CREATE TRIGGER events_fts_ins AFTER INSERT ON events BEGIN"
                     " INSERT INTO events_fts(rowid, search_text)"
                     " VALUES(new.id, new.search_text); END",
                     "CREATE TRIGGER events_fts_del AFTER DELETE ON events BEGIN"
                     " INSERT INTO events_fts(events_fts, rowid, search_text)"
                     " VALUES('delete', old.id, old.search_text); END",
                     "PRAGMA user_version=7"):
            c.sql(stmt)
    else:
        for stmt in ("DROP INDEX events_search", "DROP INDEX events_unindexed",
                     "ALTER TABLE events DROP COLUMN text_indexed",
                     "CREATE INDEX events_search ON events USING gin"
                     " (otas_search_text(doc) gin_trgm_ops)",
                     "UPDATE otas_schema SET version = 5"):
            c.sql(stmt)
    c.start(extra_args=["--quiet", "--test-hold-text-index", "1"])
    try:
        assert unindexed(c) == 0  # schemas 4-7 / 2-5 had indexed it
        assert c.send_batch([ev(2, req="kept-after")]).json()["accepted"] == 1
        assert unindexed(c) == 1
        assert ids(c, q="kept-a") == ["s-0002", "s-0001"]
        if c.store == "sqlite":
            assert c.sql("PRAGMA user_version") == "15"
            assert c.sql("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                         " AND name = 'events_fts_ins'") == "0"
        else:
            assert c.sql("SELECT version FROM otas_schema") == "11"
    finally:
        c.stop()


def test_time_budget_answers_503(make_collector):
    """A text scan past its budget stops and says so; the collector goes
    on answering (budget shrunk to 1 ms for the test)."""
    c = make_collector(["--text-index", "off", "--test-text-budget-ms", "1"])
    for b in range(10):
        r = c.send_batch([ev(b * 2000 + i, minute=1 + i % 50, eid=f"b-{b}-{i}",
                             req=f"filler body {i} with some words")
                          for i in range(2000)])
        assert r.json()["accepted"] == 2000
    for q in ("nowhere-to-be-found", "zq"):
        r = c.get("/api/v1/search", q=q, **{"from": FROM, "to": TO})
        assert r.status == 503, (q, r.status, r.body[:200])
        assert "time budget (1 ms)" in r.json()["error"]
    r = c.get("/api/v1/stats/series", q="nowhere-to-be-found", **{"from": FROM, "to": TO})
    assert r.status == 503
    assert len(search(c, limit=5)["events"]) == 5  # no q: no budget


@pytest.mark.sqlite_only
def test_indexed_text_is_the_views(collector):
    """The indexer computes each event's text from one parse of its
    document (store_sqlite.c otas_search_text) and leaves the odd ones to
    the view events_text's expression: the index holds exactly the view's
    text, which FTS5's integrity-check with rank 1 compares row by row.
    Escapes, \\u escapes (BMP, surrogate pairs, NUL), fields cut at 4096
    characters of several bytes, null and absent fields, an escaped key
    and a null written before a value."""
    c = collector
    evs = [
        ev(1, req="plain words here"),
        ev(2, req="é" * 5000 + "tail", resp="ab\u0000cd"),
        ev(3, resp='tab\there "quoted" back\\slash / slash é \U0001F600 ☃'),
        ev(4, error="E" * 4100, query="x" * 4096),
        ev(5, req=None, resp=None),
    ]
    rnd = random.Random(18)
    alphabet = "ab Z09\"\\/\b\f\n\r\t\x01\x1f\x7f" + "éß☃\u2028\U0001F600\U00010348"
    for i in range(40):  # seeded: \u escapes of every kind json.dumps makes
        evs.append(ev(100 + i, eid=f"s-rnd-{i}", **{
            f: "".join(rnd.choice(alphabet) for _ in range(rnd.choice((0, 5, 300, 4200))))
            for f in ("req", "resp", "error", "query")}))
    raw = [json.dumps(e, ensure_ascii=bool(i % 2)) for i, e in enumerate(evs)]
    raw.append(json.dumps(ev(5, resp="\ud800x", eid="s-lone"))[:-1] + "}")
    base = json.dumps(ev(6, eid="s-raw1"))[1:-1]
    raw.append('{' + base.replace('"request_body": ""', '"request_bod\\u0079": "esc-key"') + '}')
    raw.append('{' + base.replace('"s-raw1"', '"s-raw2"').replace(
        '"error": ""', '"error": null, "error": "second-error"') + '}')
    raw.append('{' + base.replace('"s-raw1"', '"s-raw3"').replace(
        '"response_body": "{}"', '"response_body": "a\\/b\\u00e9\\ud83d\\ude00\\n"') + '}')
    body = ('{"events":[' + ",".join(raw) + ']}').encode()
    r = c.post_json("/api/v1/backend/log/sdk/batch/", body).json()
    stored = r["accepted"]
    assert stored >= 48, r
    wait_indexed(c)
    assert unindexed(c) == 0
    assert c.sql("SELECT count(*) FROM events_fts") == str(stored)
    c.sql("INSERT INTO events_fts(events_fts, rank) VALUES('integrity-check', 1)")
    assert ids(c, q="plain words") == ["s-0001"]
    assert ids(c, q="ééétail") == []  # past the field's 4096 characters
    assert ids(c, q="second-error") == []  # json_extract reads the first
