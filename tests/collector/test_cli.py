"""The command line: help, errors (exit 2, one line), machine-readable output."""
import subprocess

import pytest


def run(bin_, *args):
    return subprocess.run([bin_, *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("args", [
    ["--help"], ["init", "--help"], ["serve", "--help"], ["project", "--help"],
    ["project", "create", "--help"], ["project", "list", "--help"], ["key", "--help"],
    ["key", "create", "--help"], ["key", "revoke", "--help"], ["key", "rotate", "--help"],
    ["agent-session", "--help"], ["agent-session", "create", "--help"],
])
def test_help(collector_bin, args):
    p = run(collector_bin, *args)
    assert p.returncode == 0 and p.stdout.startswith("usage: otas-collector")


@pytest.mark.parametrize("args", [
    [], ["bogus"], ["init"], ["init", "--db"], ["init", "--db", "x.db"],
    ["init", "--db", "{tmp}/a.db", "--project", "p", "--bogus"],
    ["serve", "--db", "{tmp}/missing.db"],
    ["serve", "--db", "{tmp}/db", "--listen"],
    ["key", "create", "--db", "{tmp}/missing.db", "--project", "x"],
    ["key", "create", "--db", "{tmp}/db", "--project", "x", "--days", "301"],
    ["key", "create", "--db", "{tmp}/db", "--project", "x", "--days", "ten"],
    ["key", "revoke", "--db", "{tmp}/db"],
    ["key", "frob", "--db", "{tmp}/db"],
    ["project", "list", "--db", "{tmp}/missing.db"],
    ["agent-session", "create", "--db", "{tmp}/db", "--project", "x"],
    ["serve", "--db", "{tmp}/db", "--sync", "maybe"],
    ["serve", "--db", "{tmp}/db", "--max-body-bytes", "-1"],
])
def test_usage_errors_exit_2(collector_bin, tmp_path, args):
    run(collector_bin, "init", "--db", str(tmp_path / "db"), "--project", "p", "--quiet")
    p = run(collector_bin, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert p.returncode == 2, (args, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 or args == [], p.stderr
    assert "Traceback" not in p.stderr and "Sanitizer" not in p.stderr
    assert not (tmp_path / "missing.db").exists()


def test_init_and_cli_flow(collector_bin, tmp_path):
    db = str(tmp_path / "o.db")
    p = run(collector_bin, "init", "--db", db, "--project", "My API", "--quiet")
    key, pid, rkey = p.stdout.splitlines()
    assert p.returncode == 0 and len(key) == 60 and len(pid) == 36 and len(rkey) == 60
    assert run(collector_bin, "init", "--db", db, "--project", "again").returncode == 2
    p = run(collector_bin, "init", "--db", str(tmp_path / "h.db"), "--project", "H")
    assert p.returncode == 0 and "shown once" in p.stdout
    p = run(collector_bin, "project", "create", "--db", db, "--project", "Two", "--key-only")
    key2, pid2, rkey2 = p.stdout.splitlines()
    p = run(collector_bin, "project", "list", "--db", db)
    assert "My API" in p.stdout and "Two" in p.stdout and key not in p.stdout
    p = run(collector_bin, "project", "list", "--db", db, "--json")
    import json
    assert [x["name"] for x in json.loads(p.stdout)] == ["My API", "Two"]
    p = run(collector_bin, "key", "create", "--db", db, "--project", pid, "--days", "5", "--quiet")
    k3 = p.stdout.strip()
    assert len(k3) == 60
    assert run(collector_bin, "key", "revoke", "--db", db, "--prefix", k3[5:16]).returncode == 0
    assert run(collector_bin, "key", "revoke", "--db", db, "--prefix", k3[5:16]).returncode == 1
    assert run(collector_bin, "key", "create", "--db", db, "--project", "nope").returncode == 1
    p = run(collector_bin, "agent-session", "create", "--db", db, "--project", pid, "--agent", "bot")
    assert p.returncode == 0 and p.stdout.count(".") == 2
