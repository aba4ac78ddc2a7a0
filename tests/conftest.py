"""For every suite (tests/python, tests/collector, tests/dashboard): scratch
stays inside pytest's own temporary directory, and goes when the run passes.

TMPDIR points into the session's base directory, so what the tests, the
fixtures and the servers they start create through tempfile (the Django test
app's download file, a browser's profile, gunicorn's worker files) lands
where pytest cleans up.  With tmp_path_retention_policy = "failed"
(pyproject.toml), a passed test's tmp_path (its collector database, its
spool) is removed when the test ends and the whole base directory (the
session's collector and spool) when the session passes; a failure keeps its
scratch to look at.  tests/python/test_scratch.py checks it.

SIGINT: a shell starts a background job (`make test &`, nohup) with SIGINT
ignored, and an ignored signal stays ignored across exec, so every server
the tests start would ignore the SIGINT the server matrix sends it
(test_server_stop.py) and Python would install no KeyboardInterrupt
handler.  The run gives SIGINT a handler here; exec resets a handler to the
default, so the servers start as they would from a terminal.
"""

import os
import signal
import tempfile

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import pytest


@pytest.fixture(scope="session", autouse=True)
def _scratch_in_basetemp(tmp_path_factory):
    old = os.environ.get("TMPDIR")
    scratch = tmp_path_factory.mktemp("tmpdir", numbered=False)
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = None  # tempfile caches the directory it chose
    yield scratch
    if old is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = old
    tempfile.tempdir = None
