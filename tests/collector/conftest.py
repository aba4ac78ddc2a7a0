"""Fixtures for the otas-collector tests: a real binary on a free port.

Every test that uses ``collector`` or ``make_collector`` runs twice, once
per store: ``store`` is ``sqlite`` (a file in the test's tmp dir) or ``pg``
(a fresh database on one throwaway PostgreSQL server for the session,
otas_testing/postgres.py).  A test about SQLite's files is marked
``@pytest.mark.sqlite_only`` and runs once; it is not skipped for pg, it
is simply not generated.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otas_testing import Collector, find_collector_binary  # noqa: E402
from otas_testing.postgres import Postgres  # noqa: E402

STORES = ("sqlite", "pg")


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: about SQLite's files; one store")
    config.addinivalue_line("markers", "pg_only: about PostgreSQL; one store")


def pytest_generate_tests(metafunc):
    if "store" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("sqlite_only"):
        stores = ["sqlite"]
    elif metafunc.definition.get_closest_marker("pg_only"):
        stores = ["pg"]
    else:
        stores = list(STORES)
    metafunc.parametrize("store", stores, indirect=True)


@pytest.fixture(scope="session")
def pg_server():
    pg = Postgres()
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture
def store(request):
    return request.param


@pytest.fixture(scope="session")
def collector_bin():
    return find_collector_binary()


@pytest.fixture
def new_collector(tmp_path, collector_bin, store, request):
    """Factory: an unstarted Collector on a fresh database of `store`."""
    def make(name):
        if store == "pg":
            pg = request.getfixturevalue("pg_server")
            return Collector(tmp_path / name, binary=collector_bin,
                             db_url=pg.new_database(), pg=pg)
        return Collector(tmp_path / name, binary=collector_bin)
    return make


@pytest.fixture
def make_collector(new_collector):
    """Factory: make_collector(extra_args=[...], env={...}) -> started Collector."""
    made = []

    def make(extra_args=(), env=None, name="c"):
        c = new_collector(f"{name}{len(made)}")
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
