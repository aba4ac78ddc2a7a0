"""Fixtures for the otas-collector tests: a real binary on a free port."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otas_testing import Collector, find_collector_binary  # noqa: E402


@pytest.fixture(scope="session")
def collector_bin():
    return find_collector_binary()


@pytest.fixture
def make_collector(tmp_path, collector_bin):
    """Factory: make_collector(extra_args=[...], env={...}) -> started Collector."""
    made = []

    def make(extra_args=(), env=None, name="c"):
        c = Collector(tmp_path / f"{name}{len(made)}", binary=collector_bin)
        made.append(c)
        return c.start(extra_args=["--quiet", *extra_args] if "--verbose" not in extra_args
                       else [a for a in extra_args if a != "--verbose"], env=env)

    yield make
    for c in made:
        c.stop()
    # Under ASan/UBSan/TSan builds a report goes to the collector's stderr;
    # any report fails the test that produced it.
    for c in made:
        for path in sorted(c.tmp_dir.glob("collector-*.log")):
            text = path.read_text(errors="replace")
            for marker in ("Sanitizer", "runtime error:"):
                assert marker not in text, f"{path}:\n{text[-4000:]}"


@pytest.fixture
def collector(make_collector):
    return make_collector()
