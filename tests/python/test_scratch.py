"""A passed run leaves no scratch behind: a pytest session of a few test
files (the session's collector and spool, per-test collectors, the Django
app's download file, real servers) run with TMPDIR pointing to an empty
directory leaves that directory empty but for pytest's per-user folder
(tests/conftest.py, tmp_path_retention_policy in pyproject.toml)."""

import getpass
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FILES = ["tests/python/test_django_capture.py", "tests/collector/test_keys.py"]


def test_a_passed_session_leaves_no_scratch(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", *FILES],
                       cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    left = sorted(str(f.relative_to(tmp)) for f in tmp.rglob("*"))
    assert left == [f"pytest-of-{getpass.getuser()}"], left
