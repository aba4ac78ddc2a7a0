"""A throwaway PostgreSQL server for tests and benchmarks.

Usage::

    from otas_testing.postgres import Postgres

    with Postgres(tmp_dir) as pg:           # initdb + pg_ctl start
        url = pg.new_database()             # a fresh, empty database
        pg.psql(url, "select 1")            # -> "1"

The server is the machine's PostgreSQL 15 (``/usr/lib/postgresql/15/bin``, or
``$OTAS_PG_BINDIR``, or ``pg_config --bindir``).  PostgreSQL refuses to run
as root, so under root (CI) the server runs as the ``postgres`` system user
the Debian package creates, or as a system user ``otas-pg`` made with
``useradd -r`` when that is absent.  It listens on a Unix socket in its own
directory only (no TCP port), with trust authentication for the user
``otas``, and is stopped (``pg_ctl stop -m immediate``) by ``stop()``.

``durable=False`` (the tests' default) turns fsync off: the tests check the
collector's behaviour, not the disk's.  Benchmarks pass ``durable=True``.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

_counter = itertools.count()


class PostgresError(RuntimeError):
    pass


def pg_bindir() -> Path:
    env = os.environ.get("OTAS_PG_BINDIR")
    if env:
        return Path(env)
    for v in ("15", "16", "17"):
        p = Path(f"/usr/lib/postgresql/{v}/bin")
        if (p / "initdb").exists():
            return p
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True,
                             text=True).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    raise PostgresError("PostgreSQL server binaries not found "
                        "(apt-get install postgresql-15, or set OTAS_PG_BINDIR)")


def _run_as_user() -> str | None:
    """The user to run the server as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "otas-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", "otas-pg"],
                   check=True)
    return "otas-pg"


class Postgres:
    def __init__(self, base_dir: str | os.PathLike | None = None, *,
                 durable: bool = False):
        # A Unix socket path must stay under ~107 bytes: keep it short.
        self.root = Path(tempfile.mkdtemp(prefix="otaspg-", dir=base_dir or "/tmp"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.durable = durable
        self.bindir = pg_bindir()
        self.user = _run_as_user()
        self.port = 5432
        self.started = False

    def _cmd(self, args: list[str]) -> list[str]:
        if self.user:
            return ["runuser", "-u", self.user, "--", *args]
        return args

    def start(self) -> "Postgres":
        self.sock.mkdir()
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chmod(self.root, 0o755)
            for p in (self.root, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        p = subprocess.run(self._cmd([
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "otas",
            "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]),
            capture_output=True, text=True)
        if p.returncode != 0:
            raise PostgresError(f"initdb failed: {p.stderr}")
        opts = [
            "-c", "listen_addresses=", "-c", f"unix_socket_directories={self.sock}",
            "-c", "max_connections=200", "-c", "shared_buffers=128MB",
            "-c", "log_min_messages=warning",
        ]
        if not self.durable:
            opts += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        p = subprocess.run(self._cmd([
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
            "-l", str(self.root / "server.log"), "-o", " ".join(opts), "start"]),
            capture_output=True, text=True)
        if p.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace") \
                if (self.root / "server.log").exists() else ""
            raise PostgresError(f"pg_ctl start failed: {p.stderr}\n{log}")
        self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            subprocess.run(self._cmd([str(self.bindir / "pg_ctl"), "-D",
                                      str(self.data), "-m", "immediate", "stop"]),
                           capture_output=True)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, db: str) -> str:
        return f"postgresql://otas@/{db}?host={self.sock}&port={self.port}"

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database; returns its libpq URL."""
        name = f"{prefix}{os.getpid()}_{next(_counter)}"
        self.psql(self.url("postgres"), f'CREATE DATABASE "{name}"')
        return self.url(name)

    def psql(self, url: str, sql: str) -> str:
        """Run SQL with psql; returns the unaligned, tuples-only output."""
        p = subprocess.run([str(self.bindir / "psql"), "-X", "-q", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise PostgresError(f"psql failed: {p.stderr.strip()}")
        return p.stdout.strip()

    def __enter__(self) -> "Postgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(pred, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)
