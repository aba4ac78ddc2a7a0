"""Entity updates that the back end finds too large (413) are split, not
dropped: the engine halves the request until it fits, as it does for
events (protocol.c's answer table, docs/PROTOCOL.md), and drops (counted)
only an update that is too large on its own.

The 413 comes from a real otas-collector started with small body limits
(--max-body-bytes, --max-decoded-bytes): the fault is one the collector
produces itself, so no fake server is needed.
"""

import json
import secrets

from otas import _engine
from otas_testing.collector import Collector
from sdk_support import wait_for

LIMIT = 6000  # bytes of a request body, as sent and once decoded
N = 100       # one entities request of the engine (ENT_BATCH)


def test_413_on_entities_halves_the_batch_until_it_fits(tmp_path):
    c = Collector(tmp_path / "collector")
    c.start(extra_args=["--max-body-bytes", str(LIMIT),
                        "--max-decoded-bytes", str(LIMIT)])
    eng = None
    try:
        eng = _engine.Engine({"OTAS_SDK_KEY": c.key, "OTAS_BASE_URL": c.url,
                              "OTAS_SPOOL_DIR": str(tmp_path / "spool"),
                              "OTAS_FLUSH_INTERVAL_MS": "50"})
        company = "c-" + secrets.token_hex(4)
        # ~170 bytes each, random hex (compresses about 2:1): the whole
        # batch is over LIMIT however it is encoded, a quarter of it fits.
        for i in range(N):
            doc = {"user_id": f"u{i}", "company_id": company,
                   "metadata": {"noise": secrets.token_hex(60)}}
            assert eng.entity(_engine.ENTITY_USER, json.dumps(doc)) is True
        # One update over the limit by itself: dropped, counted.
        big = {"user_id": "too-big", "company_id": company,
               "metadata": {"noise": secrets.token_hex(LIMIT)}}
        assert eng.entity(_engine.ENTITY_USER, json.dumps(big)) is True
        assert eng.flush(15000) is True
        st = eng.stats()
        assert st["entities_sent"] == N
        assert st["dropped_entities"] == 1

        def users():
            got = c.get("/api/v1/users", company_id=company).json()["users"]
            return got if len(got) == N else None
        got = wait_for(users, what=f"{N} users of {company}")
        assert sorted(u["user_id"] for u in got) == sorted(f"u{i}" for i in range(N))
        # The collector answered 413 first (so the split is what delivered
        # them): its log names the refusal.
        assert "413" in c.log_text() or "payload_too_large" in c.log_text()
    finally:
        if eng is not None:
            eng.close(0)
        c.stop()
