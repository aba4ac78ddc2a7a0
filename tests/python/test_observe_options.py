"""otas.observe_request() without OTAS_CAPTURE_OUTGOING (APIToolkit's
API): its calls are outgoing events like any other, so the options and
hooks for outgoing events apply to them too -- MASK_EVENT, the *_OUTGOING
hooks, CAPTURE_OUTGOING_BODIES.  A real Django app, the real collector."""

import pytest

from migrate_support import ThirdParty, by_marker, run_django

pytestmark = pytest.mark.usefixtures("collector")

SETTINGS = """
def mask(event):
    event["metadata"]["masked_" + event["direction"]] = True
    return event
s.OTAS.update({"MASK_EVENT": mask,
               "GET_METADATA_OUTGOING": hooks.get_metadata_outgoing,
               "CAPTURE_OUTGOING_BODIES": False})
"""

BODY = """
R = os.environ["RID"]
c = Client()
out["observed"] = c.get("/api/observed-mig", {"target": T + "/" + R}).json()
"""


def test_observe_request_applies_the_outgoing_options(collector, tmp_path):
    rid = str(__import__("random").randrange(10**8, 10**9))
    third = ThirdParty()
    try:
        p, res = run_django(collector, tmp_path, third.url, SETTINGS, BODY,
                            env={"RID": rid})
    finally:
        third.close()
    assert res["observed"]["observed"]["path"] == f"/{rid}/o"
    # A captured call carries a traceparent, in the trace its event records.
    tp = res["observed"]["observed"]["traceparent"]
    assert tp and tp.startswith("00-"), tp
    kid = by_marker(collector, f"/{rid}/o")[0]
    md = kid["metadata"]
    assert md["direction"] == "outgoing" and md.get("parent_event_id")
    assert md.get("masked_outgoing") is True, md          # MASK_EVENT ran
    assert md.get("method_seen") == "GET", md             # ..._OUTGOING hook
    assert not kid.get("response_body"), kid["response_body"]  # bodies off
    assert "callee-pw-secret" not in str(kid)
    assert kid["response_size_bytes"] > 0                 # the size is kept
    parent = [e for e in collector.events(limit=1000)
              if e["metadata"].get("event_id") == md["parent_event_id"]][0]
    assert parent["metadata"]["trace_id"] == tp.split("-")[1]
