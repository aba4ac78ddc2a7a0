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
