"""Outgoing calls made outside any request (a management command, a
Celery-like worker, a thread started at import) are captured with
CAPTURE_OUTGOING=1, as events of their own; and MASK_EVENT sees outgoing
events with parsed bodies.  Real Django app (subprocess), real collector."""

import json
import random

import pytest

from migrate_support import ThirdParty, body_obj, by_marker, run_django

pytestmark = pytest.mark.usefixtures("collector")


@pytest.fixture
def third():
    t = ThirdParty()
    yield t
    t.close()


OUTSIDE_SETTINGS = """
s.OTAS.update({"CAPTURE_OUTGOING": True, "MASK_EVENT": hooks.mask_event,
               "GET_METADATA_OUTGOING": hooks.get_metadata_outgoing})
R = os.environ["RID"]
# A thread started at import: it waits for the app to be ready, then calls.
go = threading.Event()
got = {}
def poller():
    go.wait(30)
    got["import"] = requests.get(T + "/import-thread-" + R).status_code
import requests
t0 = threading.Thread(target=poller, daemon=True)
t0.start()
"""

OUTSIDE_BODY = """
from concurrent.futures import ThreadPoolExecutor
from django.core.management import call_command
from django.core.management.base import BaseCommand
# A management command's own call.
out["command"] = requests.get(T + "/command-" + R).status_code
# A Celery-like worker: a pool thread running a task, no request around it.
def task(n):
    return requests.post(T + f"/task-{R}-{n}", json={"n": n}).status_code
with ThreadPoolExecutor(2) as pool:
    out["tasks"] = list(pool.map(task, [1, 2]))
go.set()
t0.join(30)
out["import"] = got.get("import")
# MASK_EVENT on an outgoing event outside a request: dropped.
out["masked"] = requests.get(T + "/" + R + "/masked").status_code
"""


def test_calls_outside_any_request_are_captured(collector, third, tmp_path):
    rid = str(random.randrange(10**8, 10**9))
    p, res = run_django(collector, tmp_path, third.url, OUTSIDE_SETTINGS,
                        OUTSIDE_BODY, env={"RID": rid})
    assert res["command"] == 200 and res["tasks"] == [200, 200]
    assert res["import"] == 200 and res["masked"] == 200
    for marker in (f"/command-{rid}", f"/task-{rid}-1", f"/task-{rid}-2",
                   f"/import-thread-{rid}"):
        ev = by_marker(collector, marker)[0]
        md = ev["metadata"]
        assert md["direction"] == "outgoing", marker
        assert "parent_event_id" not in md, marker
        assert ev["status_code"] == 200
        assert md["callee_status"] == 200                   # GET_METADATA_OUTGOING
        body = body_obj(ev["response_body"])
        assert body["note"] is None                         # MASK_EVENT, parsed
        assert body["seen_by_mask"] is True
        assert "callee-note-secret" not in json.dumps(ev)
    task = by_marker(collector, f"/task-{rid}-1")[0]
    assert body_obj(task["request_body"]) == {"n": 1}
    assert task["method"] == "POST"
    # Dropped by MASK_EVENT: the call was made, nothing stored.
    assert any(path == f"/{rid}/masked" for path, _ in third.seen)
    assert f"/{rid}/masked" not in json.dumps(collector.events(limit=1000))


def test_outgoing_off_by_default_outside_requests(collector, third, tmp_path):
    rid = str(random.randrange(10**8, 10**9))
    settings = 'R = os.environ["RID"]'
    body = 'out["command"] = requests.get(T + "/not-captured-" + R).status_code\n'
    run_django(collector, tmp_path, third.url, settings, body, env={"RID": rid})
    # The app flushed (run_django checks it); the call is not stored.
    assert any(p == f"/not-captured-{rid}" for p, _ in third.seen)
    assert f"/not-captured-{rid}" not in json.dumps(collector.events(limit=1000))


def test_children_of_excluded_or_sampled_out_parents_are_roots(collector, third, tmp_path):
    """A parent the engine does not keep (OTAS_EXCLUDE_PATHS, sampling)
    leaves its calls captured without a parent_event_id."""
    rid = str(random.randrange(10**8, 10**9))
    settings = 's.OTAS.update({"CAPTURE_OUTGOING": True, "EXCLUDE_PATHS": "/api/call"})'
    body = ('R = os.environ["RID"]\n'
            'out["s"] = Client().get("/api/call", {"target": T, "paths": "/excluded-kid-" + R})'
            '.status_code\n')
    run_django(collector, tmp_path, third.url, settings, body, env={"RID": rid})
    kid = by_marker(collector, f"/excluded-kid-{rid}")[0]
    assert kid["metadata"]["direction"] == "outgoing"
    assert "parent_event_id" not in kid["metadata"]
    assert not [e for e in collector.events(limit=1000) if e["path"] == "/api/call"
                and f"excluded-kid-{rid}" in json.dumps(e.get("query_params"))]


def test_sampling_never_leaves_a_dangling_parent_link(collector, third, tmp_path):
    """SAMPLE_RATE drops parents by their event id at capture time: every
    kept child links to a stored parent or to none."""
    rid = str(random.randrange(10**8, 10**9))
    settings = 's.OTAS.update({"CAPTURE_OUTGOING": True, "SAMPLE_RATE": "0.5"})'
    body = ('R = os.environ["RID"]\nc = Client()\n'
            'for i in range(30):\n'
            '    c.get("/api/call", {"target": T, "paths": f"/sampled-kid-{R}-{i}"})\n')
    run_django(collector, tmp_path, third.url, settings, body, env={"RID": rid})
    assert len(third.seen) == 30
    evs = collector.events(limit=1000)
    ids = {e["metadata"]["event_id"] for e in evs}
    kids = [e for e in evs if f"/sampled-kid-{rid}-" in e["path"]]
    parents = [e for e in evs if e["path"] == "/api/call"
               and f"sampled-kid-{rid}-" in json.dumps(e.get("query_params"))]
    assert 0 < len(kids) < 30 and 0 < len(parents) < 30  # 2^-30 odds either way
    for k in kids:
        pid = k["metadata"].get("parent_event_id")
        assert pid is None or pid in ids
    # A kept child of a kept parent links to it; of a dropped one, to none.
    kid_by_path = {k["path"]: k for k in kids}
    parent_of = {}
    for p in parents:
        q = p["query_params"]
        q = json.loads(q) if isinstance(q, str) else q
        parent_of[q["paths"][0]] = p["metadata"]["event_id"]
    for path, k in kid_by_path.items():
        assert k["metadata"].get("parent_event_id") == parent_of.get(path), path
