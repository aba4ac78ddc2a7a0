"""Run a real ``otas-collector`` process for tests.

Usage::

    from otas_testing import Collector

    with Collector(tmp_path) as c:          # init a database, serve on a free port
        c.post_json("/api/v1/backend/log/sdk/batch/", {"events": [...]})
        assert len(c.events()) == 1
        c.restart()                          # same database, new process
        token = c.agent_session("research-bot")

Everything goes over real HTTP on 127.0.0.1 to the real binary. The binary is
found by :func:`find_collector_binary`: ``$OTAS_COLLECTOR_BIN``, else
``otas-collector`` on ``PATH`` (a venv after ``pip install .``), else
``build/c/collector/otas-collector`` in the repository.

Import it with ``tests/`` on ``sys.path`` (``tests/collector/conftest.py``
does ``sys.path.insert(0, <repo>/tests)``); it needs only the standard
library.

The collector is started with ``serve --listen 127.0.0.1:0``; it binds a free
port and prints ``listening on 127.0.0.1:PORT``, which ``start()`` waits for
(with a deadline), so there is no port race and no sleeping. Its stderr goes
to ``<tmp_dir>/collector-N.log`` (``.log_text()`` reads it).
"""
from __future__ import annotations

import gzip as _gzip
import http.client
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

KEY_HEADER = "X-OTAS-SDK-KEY"
TOKEN_HEADER = "X-OTAS-AGENT-SESSION-TOKEN"
AUTH_PATH = "/api/project/v1/sdk/backend/key/authenticate/"
LOG_PATH = "/api/v1/backend/log/sdk/"
BATCH_PATH = "/api/v1/backend/log/sdk/batch/"

_REPO = Path(__file__).resolve().parents[2]


class CollectorError(RuntimeError):
    """The collector did not start, or a CLI call failed."""


def find_collector_binary() -> str:
    """Path of the otas-collector binary to test, or raise CollectorError."""
    env = os.environ.get("OTAS_COLLECTOR_BIN")
    if env:
        if not os.access(env, os.X_OK):
            raise CollectorError(f"OTAS_COLLECTOR_BIN={env} is not executable")
        return env
    beside = Path(sys.executable).with_name("otas-collector")  # the venv's
    if beside.exists():
        return str(beside)
    found = shutil.which("otas-collector")
    if found:
        return found
    built = _REPO / "build" / "c" / "collector" / "otas-collector"
    if built.exists():
        return str(built)
    raise CollectorError(
        "otas-collector not found: set OTAS_COLLECTOR_BIN, `pip install .`, "
        "or build with cmake -S . -B build/c && cmake --build build/c"
    )


class Response:
    """An HTTP answer: status, headers (lower-case names), body, .json()."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:200]!r}>"


class Collector:
    """One otas-collector database and (while started) one serving process.

    Attributes after ``start()``: ``url``, ``port``, ``db_path``, ``key`` (the
    first project's SDK key), ``project_id``, ``proc``.
    """

    def __init__(
        self,
        tmp_dir: str | os.PathLike,
        *,
        binary: str | None = None,
        project: str = "Test project",
        db_url: str | None = None,
        pg: Any = None,
    ):
        self.tmp_dir = Path(tmp_dir)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.binary = binary or find_collector_binary()
        self.project_name = project
        # The --db target: a Path (SQLite) or a postgresql:// URL (with
        # `pg`, the otas_testing.postgres.Postgres serving it).
        self.db_path: Path | str | None = None
        self.db_url = db_url
        self.pg = pg
        self.key: str | None = None       # the first project's ingest key
        self.read_key: str | None = None  # ... and its read key
        self.project_read_keys: dict[str, str] = {}
        self.project_id: str | None = None
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.url: str | None = None
        self.extra_args: list[str] = []
        self.env: dict[str, str] = {}
        self._log_n = 0
        self.log_path: Path | None = None
        self.returncode: int | None = None

    # ---- CLI --------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``otas-collector ARGS`` and return the completed process."""
        p = subprocess.run(
            [self.binary, *args], capture_output=True, text=True, timeout=60
        )
        if check and p.returncode != 0:
            raise CollectorError(
                f"otas-collector {args[0]} failed ({p.returncode}): {p.stderr.strip()}"
            )
        return p

    def init(self, db_path: str | os.PathLike | None = None) -> "Collector":
        """Create the database with one project and key (sets .key, .project_id)."""
        if db_path:
            self.db_path = Path(db_path)
        elif self.db_url:
            self.db_path = self.db_url
        else:
            self.db_path = self.tmp_dir / "otas.db"
        out = self.cli(
            "init", "--db", str(self.db_path), "--project", self.project_name,
            "--quiet",
        ).stdout.splitlines()
        # --quiet prints the ingest key, the project id, then a read key.
        self.key, self.project_id = out[0], out[1]
        self.read_key = out[2] if len(out) > 2 else out[0]
        return self

    @property
    def store(self) -> str:
        return "pg" if self.db_url else "sqlite"

    def sql(self, query: str) -> str:
        """Run one SQL statement on the store; rows as text (|-separated
        columns, one row a line), as psql -At prints them."""
        if self.db_url:
            return self.pg.psql(self.db_url, query)
        import sqlite3
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            rows = db.execute(query).fetchall()
            db.commit()
        finally:
            db.close()
        return "\n".join("|".join("" if v is None else str(v) for v in r)
                         for r in rows)

    def stored_bytes(self) -> bytes:
        """Everything the store holds, as bytes (the SQLite file and WAL;
        a text dump of every table on PostgreSQL)."""
        if self.db_url:
            tables = self.pg.psql(self.db_url, "SELECT tablename FROM pg_tables"
                                  " WHERE schemaname='public'").split()
            return "\n".join(self.pg.psql(self.db_url, f"SELECT t::text FROM {t} t")
                             for t in tables).encode()
        out = b""
        for f in Path(self.db_path).parent.glob(Path(self.db_path).name + "*"):
            out += f.read_bytes()
        return out

    def create_project(self, name: str, days: int = 300) -> tuple[str, str]:
        """A new project; returns (project_id, ingest key).  Its read key
        is in ``.project_read_keys[project_id]``."""
        out = self.cli(
            "project", "create", "--db", str(self.db_path), "--project", name,
            "--days", str(days), "--quiet",
        ).stdout.splitlines()
        self.project_read_keys[out[1]] = out[2]
        return out[1], out[0]

    def create_key(self, project_id: str | None = None, days: int = 300,
                   role: str = "ingest") -> str:
        """Another key for the project (default: the first one)."""
        return self.cli(
            "key", "create", "--db", str(self.db_path),
            "--project", project_id or self.project_id, "--days", str(days),
            "--role", role, "--quiet",
        ).stdout.splitlines()[0]

    def revoke_key(self, key: str) -> None:
        """Revoke a key by its prefix (the 11 characters after ``otas_``)."""
        self.cli("key", "revoke", "--db", str(self.db_path), "--prefix", key[5:16])

    def agent_session(
        self, agent: str, project_id: str | None = None, days: int = 30
    ) -> str:
        """A verified agent session token (JWT) for agent name ``agent``."""
        return self.cli(
            "agent-session", "create", "--db", str(self.db_path),
            "--project", project_id or self.project_id, "--agent", agent,
            "--days", str(days),
        ).stdout.splitlines()[0]

    # ---- process ----------------------------------------------------------

    def start(
        self,
        db_path: str | os.PathLike | None = None,
        extra_args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 15.0,
        port: int = 0,
    ) -> "Collector":
        """Serve ``db_path`` (initialised first if it does not exist).

        ``extra_args`` are added to ``serve`` (e.g. ``["--platform-compat"]``)
        and reused by ``restart()``.
        """
        if self.proc is not None:
            raise CollectorError("already started")
        if db_path is not None and str(db_path) != str(self.db_path):
            self.db_path = Path(db_path)
            if not self.db_path.exists():
                self.init(self.db_path)
        if self.db_path is None:
            self.init()
        self.extra_args = list(extra_args)
        if env is not None:
            self.env = dict(env)
        self._log_n += 1
        self.log_path = self.tmp_dir / f"collector-{self._log_n}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--db", str(self.db_path),
             "--listen", f"127.0.0.1:{port}", *self.extra_args],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
        )
        log.close()
        self.returncode = None
        line = self._read_line(timeout)
        if not line.startswith("listening on "):
            self.kill()
            raise CollectorError(f"collector did not start: {line!r}\n{self.log_text()}")
        self.port = int(line.rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def _read_line(self, timeout: float) -> str:
        assert self.proc and self.proc.stdout
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        buf = b""
        try:
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return buf.decode(errors="replace")
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
        finally:
            sel.close()
        return buf.split(b"\n", 1)[0].decode(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait for a clean exit; returns the exit status."""
        if self.proc is None:
            return self.returncode if self.returncode is not None else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.returncode = self.proc.wait()
        self._reap()
        return self.returncode

    def kill(self) -> None:
        """SIGKILL (a crash, as far as the database can tell)."""
        if self.proc is None:
            return
        self.proc.kill()
        self.returncode = self.proc.wait()
        self._reap()

    def _reap(self) -> None:
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def restart(self, extra_args: Sequence[str] | None = None,
                same_port: bool = True) -> "Collector":
        """Stop (SIGTERM; nothing if already killed) and start again on the
        same database -- on the same port by default, as a real back end
        comes back at the same address the SDK is configured with."""
        port = self.port if same_port and self.port else 0
        self.stop()
        return self.start(extra_args=self.extra_args if extra_args is None else extra_args,
                          port=port)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def __enter__(self) -> "Collector":
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- HTTP -------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = 30.0,
    ) -> Response:
        """One request on a fresh connection."""
        assert self.port, "collector not started"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            r = conn.getresponse()
            return Response(r.status, dict(r.getheaders()), r.read())
        finally:
            conn.close()

    def post_json(
        self,
        path: str,
        payload: Any,
        *,
        key: str | None | bool = True,
        token: str | None = None,
        gzip: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """POST JSON; ``key=True`` sends the first project's key, None none."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h = {"Content-Type": "application/json", **(headers or {})}
        if key is True:
            key = self.key
        if key:
            h[KEY_HEADER] = key
        if token:
            h[TOKEN_HEADER] = token
        if gzip:
            body = _gzip.compress(body)
            h["Content-Encoding"] = "gzip"
        return self.request("POST", path, body, h)

    def send_batch(self, events: Iterable[Mapping[str, Any]], **kw: Any) -> Response:
        return self.post_json(BATCH_PATH, {"events": list(events)}, **kw)

    def send_event(self, event: Mapping[str, Any], **kw: Any) -> Response:
        return self.post_json(LOG_PATH, event, **kw)

    def get(self, url_path: str, /, key: str | None | bool = True, **params: Any) -> Response:
        """GET url_path with query parameters (None values dropped) and the
        key (``key=True``: the first project's read key)."""
        q = {k: v for k, v in params.items() if v is not None}
        path = url_path
        if q:
            path += "?" + urllib.parse.urlencode(q)
        h = {}
        if key is True:
            key = self.read_key or self.key
        if key:
            h[KEY_HEADER] = key
        return self.request("GET", path, None, h)

    def events(self, key: str | None = None, *, all_pages: bool = True,
               **filters: Any) -> list[dict]:
        """Events via GET /api/v1/events (newest first), following cursors."""
        out: list[dict] = []
        cursor = None
        while True:
            r = self.get("/api/v1/events", key=key or self.read_key or self.key,
                         cursor=cursor,
                         **filters)
            if r.status != 200:
                raise CollectorError(f"GET /api/v1/events: {r!r}")
            page = r.json()
            out.extend(page["events"])
            cursor = page.get("next")
            if not cursor or not all_pages:
                return out

    def wait_for_events(self, n: int, timeout: float = 10.0, **filters: Any) -> list[dict]:
        """Poll until at least n events match (events are committed before
        the 2xx, so this is for senders that deliver in the background)."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.events(**filters)
            if len(ev) >= n or time.monotonic() > deadline:
                return ev
            time.sleep(0.05)


def as_object(v: Any) -> Any:
    """A headers/query/form field as an object, whether it comes from the
    query API (an object) or from the wire / a captured event (the
    contract's JSON string)."""
    return json.loads(v) if isinstance(v, str) else v


def make_event(i: int = 0, **fields: Any) -> dict:
    """A valid event in the PROTOCOL.md shape (override any field)."""
    ev = {
        "project_id": "ignored",
        "path": f"/api/items/{i}",
        "method": "GET",
        "status_code": 200,
        "latency_ms": 1.0 + i,
        "request_size_bytes": 0,
        "response_size_bytes": 2,
        "request_headers": "{}",
        "response_headers": "{\"content-type\": \"application/json\"}",
        "request_body": "",
        "response_body": "{}",
        "query_params": "{}",
        "post_data": "{}",
        "request_content_type": "",
        "response_content_type": "application/json",
        "custom_properties": {},
        "error": "",
        "metadata": {"route": "api/items/<int:pk>"},
    }
    ev.update(fields)
    return ev
