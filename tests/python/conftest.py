"""Fixtures: a real otas-collector process for the whole session, and the
environment that points the SDK at it.

The SDK under test is the installed package (pip install . in make test),
so these tests exercise the built C engine, not the source tree.
"""

import os
import uuid

import pytest

from otas_testing.collector import Collector

# These tests check capture itself under pytest-django, where OTAS is off
# unless asked for (tests/python/test_teams_without_key.py checks that).
os.environ["OTAS_CAPTURE_IN_TESTS"] = "1"


@pytest.fixture(scope="session")
def collector(tmp_path_factory):
    c = Collector(tmp_path_factory.mktemp("collector"))
    c.start()
    spool = tmp_path_factory.mktemp("spool")
    os.environ.update({
        "OTAS_SDK_KEY": c.key,
        "OTAS_BASE_URL": c.url,
        "OTAS_SPOOL_DIR": str(spool),
        "OTAS_FLUSH_INTERVAL_MS": "50",
    })
    yield c
    import otas._runtime
    otas._runtime.shutdown(timeout=5)
    c.stop()


@pytest.fixture
def uid():
    return uuid.uuid4().int % 10**9
