"""metadata.user_id / company_id as the collector stores and filters them.

SQLite keeps them in plain columns the writer binds from what the decoder
read (ingest.h `who`), no longer generated from the document at insert;
the values must stay exactly what json_extract(doc, '$.metadata.user_id')
gives, for every JSON type and for the odd spellings (an escaped key, a
key written twice), where the writer asks json_extract itself.
PostgreSQL reads them from the document when a query filters on them.
"""
import json

from otas_testing.collector import BATCH_PATH, make_event

# (raw metadata member text, user_id the filter finds it by on SQLite,
# the same on PostgreSQL, whose JSON text of a value differs: -0, 1e3,
# true and objects keep their own spelling there; None: not looked up)
CASES = [
    ('"user_id": "bob"', "bob", "bob"),
    ('"user_id": 42', "42", "42"),
    ('"user_id": -0', "0", None),
    ('"user_id": 1.5', "1.5", "1.5"),
    ('"user_id": 1e3', "1000.0", None),
    ('"user_id": true', "1", None),
    ('"user_id": ""', None, None),
    ('"user_id": null', None, None),
    ('"user_id": {"a": [1, 2]}', '{"a":[1,2]}', None),
    ('"user_id": "b\\u006fb2"', "bob2", "bob2"),
    ('"user\\u005fid": "escaped-key"', None, None),
    ('"user_id": "first", "user_id": "second"', None, None),
    ('"company_id": 7', None, None),
    ('"company_id": "acme", "user_id": "with-company"', "with-company",
     "with-company"),
]


def raw_event(i, meta_members):
    e = make_event(i, path=f"/who/{i}")
    e["metadata"] = "@META@"
    return json.dumps(e).replace('"@META@"', "{" + meta_members + "}")


def test_who_columns_are_what_the_document_says(collector):
    c = collector
    events = [raw_event(i, m) for i, (m, _, _) in enumerate(CASES)]
    # metadata written with an escaped key, and none at all
    events.append(raw_event(90, '"x": 1').replace('"metadata"', '"metad\\u0061ta"'))
    events[-1] = events[-1].replace('"x": 1', '"user_id": "meta-esc", "company_id": 5')
    bare = make_event(91, path="/who/91")
    del bare["metadata"]
    events.append(json.dumps(bare))
    body = ('{"events": [' + ", ".join(events) + "]}").encode()
    r = c.post_json(BATCH_PATH, body)
    assert r.status == 200, r.body
    assert r.json()["accepted"] == len(events)
    for i, (m, lite, pg) in enumerate(CASES):
        user = lite if c.store == "sqlite" else pg
        if user is None:
            continue
        got = c.get("/api/v1/events", user_id=user).json()["events"]
        assert [e["path"] for e in got] == [f"/who/{i}"], (m, user, got)
    got = c.get("/api/v1/events", company_id="acme").json()["events"]
    assert [e["path"] for e in got] == [f"/who/{len(CASES) - 1}"]
    got = c.get("/api/v1/events", company_id="7").json()["events"]
    assert [e["path"] for e in got] == [f"/who/{len(CASES) - 2}"]
    if c.store == "sqlite":
        # every row, every case: the column is the extraction, type and all
        rows = c.sql("SELECT count(*), sum(user_id IS json_extract(doc,"
                     " '$.metadata.user_id') AND company_id IS json_extract(doc,"
                     " '$.metadata.company_id')), sum(typeof(user_id) = 'text'),"
                     " sum(user_id IS NULL) FROM events")
        n, same, text, null = map(int, rows.split("|"))
        assert (n, same) == (len(events), len(events))
        assert text + null == n
        # what SQLite's own extraction says of the odd spellings
        assert c.sql("SELECT user_id FROM events WHERE path = '/who/11'") == \
            c.sql("SELECT json_extract(doc, '$.metadata.user_id') FROM events"
                  " WHERE path = '/who/11'")
