"""How fast the dashboard's query API answers on a big database.

    .venv/bin/python bench/bench_dashboard.py                 # 1,000,000 events, both stores
    .venv/bin/python bench/bench_dashboard.py --events 200000 --stores sqlite --rounds 3
    .venv/bin/python bench/bench_dashboard.py --plan raw      # without the rollups

For each store it makes a throwaway database with `otas-collector init`,
fills it with N events spread over the last 30 days **in SQL, inside the
database** (a recursive CTE in SQLite, generate_series in PostgreSQL: no
row crosses a socket, so 1M rows take seconds, not the minutes the HTTP
ingest path would), then takes the rollup tables away and steps the schema
back so that the collector, when it opens the database, migrates it and
fills the rollups from the events (the time that takes is printed: what an
existing database pays once on upgrade).  Then it starts the real collector
and times every view's API call (the median of --rounds, wall clock through
HTTP on 127.0.0.1) for the 15m, 1h, 24h, 7d and 30d ranges: unfiltered,
with filters the rollups hold (method, route, status, tag) and with filters
that scan the events (user, path glob, text).  The events look like the
SDK's: 20 routes, 2 % unmatched scanner paths, 1,000 users in 50
companies, 10 agents with 100 sessions, 4xx and 5xx with exceptions, a
request body with words.

Prints a table (also --json, --md), and with --plot a PNG (matplotlib from
this interpreter, else build/bench-venv's).  Targets (issue #20): every
view within 300 ms, search within 1 s.  Not part of `make test`; `bench/run.py
--only dashboard` runs it as a section.  PostgreSQL comes from
tests/otas_testing/postgres.py (a throwaway server); the collector binary from
OTAS_COLLECTOR_BIN or the usual places.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from otas_testing.collector import Collector, find_collector_binary  # noqa: E402

DAY_US = 86400 * 1_000_000

# One generated event per i in [0, N): the same expressions in both SQL
# dialects (string concatenation is || in both; % and integer division too).
COLS = {
    "ts": "{now} - (i * {span}) / {n}",
    "method": "CASE WHEN i % 5 = 0 THEN 'POST' ELSE 'GET' END",
    "route": "CASE WHEN i % 50 = 7 THEN '/scan/' || (i % 997) || '.php'"
             " ELSE 'api/r' || (i % 20) || '/<int:pk>' END",
    "path": "CASE WHEN i % 50 = 7 THEN '/scan/' || (i % 997) || '.php'"
            " ELSE '/api/r' || (i % 20) || '/' || (i % 1000) END",
    "status": "CASE WHEN i % 50 = 7 THEN 404 WHEN i % 97 = 3 THEN 500"
              " WHEN i % 31 = 5 THEN 401 ELSE 200 END",
    "latency": "((i * 7919) % 5000) / 10.0",
    "is_error": "CASE WHEN i % 97 = 3 THEN 1 ELSE 0 END",
    "agent_id": "CASE WHEN i % 10 = 1 THEN 'agent-' || (i % 100 / 10) ELSE NULL END",
    "session": "CASE WHEN i % 10 = 1 THEN 'sess-' || (i % 1000 / 10) ELSE NULL END",
    "event_id": "'ev-' || i",
    "doc": "'{{\"path\":\"/api/r' || (i % 20) || '\",\"request_body\":\"order ' || i ||"
           " CASE WHEN i % 1000 = 0 THEN ' needle' ELSE '' END || ' widget\","
           "\"error\":\"' || CASE WHEN i % 97 = 3 THEN 'ValueError: bad ' || (i % 3) ELSE '' END ||"
           " '\",\"metadata\":{{\"route\":\"api/r' || (i % 20) || '/<int:pk>\","
           "\"user_id\":\"u' || (i % 1000) || '\",\"company_id\":\"c' || (i % 50) || '\","
           "\"tags\":[\"t' || (i % 3) || '\"],\"service_version\":\"1.' || (i % 4) || '\"}}}}'",
}


def sqlite_fill(db: Path, n: int, now_us: int) -> None:
    c = {k: v.format(now=now_us, span=30 * DAY_US, n=n) for k, v in COLS.items()}
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute(
        f"""INSERT INTO events(project, event_id, ts, received_at, method, path, route,
                status, latency_ms, is_error, agent_id, agent_session_id, agent_verified, doc)
            WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < {n - 1})
            SELECT 1, {c['event_id']}, {c['ts']}, {c['ts']}, {c['method']}, {c['path']},
                   {c['route']}, {c['status']}, {c['latency']}, {c['is_error']},
                   {c['agent_id']}, {c['session']}, 1, {c['doc']} FROM g""")
    con.commit()
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def pg_fill(pg, url: str, n: int, now_us: int) -> None:
    c = {k: v.format(now=now_us, span=30 * DAY_US, n=n) for k, v in COLS.items()}
    sql = f"""INSERT INTO events(day, project, event_id, ts, received_at, method, path, route,
                status, latency_ms, is_error, agent_id, agent_session_id, agent_verified, doc)
            SELECT ({c['ts']}) / {DAY_US}, 1, {c['event_id']}, {c['ts']}, {c['ts']},
                   {c['method']}, {c['path']}, {c['route']}, {c['status']}, {c['latency']},
                   {c['is_error']}, {c['agent_id']}, {c['session']}, 1, {c['doc']}
            FROM generate_series(0::bigint, {n - 1}::bigint) AS i"""
    # then VACUUM (its own statement: not in a transaction), as autovacuum
    # leaves a table that stopped growing: index-only scans need the
    # visibility map it sets
    for q in (sql, "VACUUM ANALYZE events"):
        p = subprocess.run([str(pg.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-d", url, "-c", q], capture_output=True, text=True, timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(p.stderr)


def timed_get(c: Collector, path: str, params: dict) -> tuple[float, int, int]:
    q = urllib.parse.urlencode(params)
    req = urllib.request.Request(f"{c.url}{path}?{q}",
                                 headers={"X-OTAS-SDK-KEY": c.read_key or c.key})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        body = r.read()
        status = r.status
    return (time.perf_counter() - t) * 1000, status, len(body)


CALLS = [
    ("series", "/api/v1/stats/series", {}),
    ("routes", "/api/v1/stats/routes", {}),
    ("errors", "/api/v1/errors", {}),
    ("users", "/api/v1/stats/users", {}),
    ("companies", "/api/v1/stats/companies", {}),
    ("agents", "/api/v1/stats/agents", {}),
    ("search (list)", "/api/v1/search", {}),
    ("search status=4xx,500", "/api/v1/search", {"status": "4xx,500"}),
    # filters the rollups hold
    ("series route=", "/api/v1/stats/series", {"route": "api/r3/<int:pk>"}),
    ("series method=POST status=5xx", "/api/v1/stats/series",
     {"method": "POST", "status": "5xx"}),
    ("routes status=4xx", "/api/v1/stats/routes", {"status": "4xx"}),
    # filters that scan the events
    ("series user=", "/api/v1/stats/series", {"user": "u17"}),
    ("series company=", "/api/v1/stats/series", {"company": "c7"}),
    ("series path=/api/r3/*", "/api/v1/stats/series", {"path": "/api/r3/*"}),
    # a tag: the tag rollups (rollup_tags) for series and routes
    ("series tag=t1", "/api/v1/stats/series", {"tag": "t1"}),
    ("routes tag=t1", "/api/v1/stats/routes", {"tag": "t1"}),
    ("routes tag=t1 status=4xx", "/api/v1/stats/routes", {"tag": "t1", "status": "4xx"}),
    ("errors tag=t1", "/api/v1/errors", {"tag": "t1"}),
    ("users tag=t1", "/api/v1/stats/users", {"tag": "t1"}),
    ("companies tag=t1", "/api/v1/stats/companies", {"tag": "t1"}),
    ("agents tag=t1", "/api/v1/stats/agents", {"tag": "t1"}),
    ("users route=", "/api/v1/stats/users", {"route": "api/r3/<int:pk>"}),
    ("export csv 10k", "/api/v1/export", {"format": "csv", "limit": 10000}),
]
SEARCHES = [
    ("text q=needle (rare)", "/api/v1/search", {"q": "needle"}),
    ("text q=widget (common)", "/api/v1/search", {"q": "widget"}),
    ("tag=t1 (row filter)", "/api/v1/search", {"tag": "t1"}),
]


def unroll(kind: str, db: str, pg=None) -> None:
    """Take the rollups away and step the schema back before them (SQLite
    4, PostgreSQL 2: they, the errors/agents indexes, the deferred text
    index, the agents' and error groups' rollups, the tag rollups and the
    filtered views' indexes and per-route rows are the steps after), so
    the collector fills and builds them at open.  A new step appended to
    the schema must undo its objects here too."""
    if kind == "pg":
        sql = ("DROP TABLE rollup_people; DROP TABLE rollups;"
               " DROP AGGREGATE otas_hist_agg(int, bigint);"
               " DROP FUNCTION otas_hist_put(int[], int, bigint);"
               " DROP FUNCTION otas_hist_bin(float8);"
               " DROP FUNCTION otas_hist_merge(int[], int[]);"
               " DROP INDEX events_errors; DROP INDEX events_agents;"
               # and the deferred text index's step between them (its
               # open makes the GIN index again: slower on a big database)
               " DROP INDEX events_unindexed;"
               " ALTER TABLE events DROP COLUMN text_indexed;"
               # schema 2, before the rollups: every later step runs again
               # (the tag rollups' step makes its table anew); the filtered
               # views' schema 10: its indexes and columns (the fill left
               # them empty, so its open finds them by the stored
               # documents, as a database from before it)
               " DROP INDEX IF EXISTS events_path;"
               " ALTER TABLE events DROP COLUMN IF EXISTS user_id;"
               " ALTER TABLE events DROP COLUMN IF EXISTS company_id;"
               " ALTER TABLE events DROP COLUMN IF EXISTS who_set;"
               " UPDATE otas_schema SET version = 2;")
        p = subprocess.run([str(pg.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-d", db, "-c", sql], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(p.stderr)
        return
    con = sqlite3.connect(db)
    con.execute("DROP TABLE rollups")
    con.execute("DROP TABLE rollup_people")
    con.execute("DROP INDEX events_errors")
    con.execute("DROP INDEX events_agents")
    con.execute("DROP TABLE fts_state")  # the deferred text index's step
    # schema 11's: the search text was a generated column (and its UPDATE
    # fills user_id / company_id, which the fill above left empty)
    con.execute("DROP VIEW events_text")
    con.execute("ALTER TABLE events ADD COLUMN search_text TEXT"
                " GENERATED ALWAYS AS (doc) VIRTUAL")
    con.execute("DROP INDEX IF EXISTS events_path")  # schema 13
    con.execute("PRAGMA user_version=4")  # before the rollups
    con.commit()
    con.close()


def bench_store(kind: str, n: int, rounds: int, ranges: list[str], pg=None,
                plan: str | None = None, keep_rollups: bool = False,
                calls: list[str] | None = None) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix=f"otas-bench-dash-{kind}-"))
    now_us = int(time.time() * 1_000_000)
    if kind == "pg":
        url = pg.new_database("bench")
        c = Collector(tmp, binary=find_collector_binary(), db_url=url, pg=pg)
    else:
        c = Collector(tmp, binary=find_collector_binary())
    c.init()
    t = time.perf_counter()
    if kind == "pg":
        pg_fill(pg, c.db_path, n, now_us)
    else:
        sqlite_fill(Path(c.db_path), n, now_us)
    fill_s = time.perf_counter() - t
    print(f"[{kind}] {n:,} events generated in {fill_s:.1f} s", file=sys.stderr)
    backfill_s = None
    if not keep_rollups:
        unroll(kind, str(c.db_path), pg)
        t = time.perf_counter()
        c.start(extra_args=["--quiet"], timeout=1800)
        backfill_s = time.perf_counter() - t
        print(f"[{kind}] collector opened (rollups filled) in {backfill_s:.1f} s",
              file=sys.stderr)
    else:
        c.start(extra_args=["--quiet"])
    # SQLite makes its text index at the first serve and the deferred
    # indexer fills it in the background (the fill above bypassed it):
    # let it finish, so the views are timed on an idle collector and the
    # searches on a full index
    t = time.perf_counter()
    while True:
        req = urllib.request.Request(f"{c.url}/api/v1/collector/stats",
                                     headers={"X-OTAS-SDK-KEY": c.read_key or c.key})
        with urllib.request.urlopen(req, timeout=60) as r:
            ti = json.loads(r.read()).get("text_index") or {}
        if not ti.get("behind"):
            break
        if time.perf_counter() - t > 3600:
            raise RuntimeError("the text indexer did not catch up in an hour")
        time.sleep(2)
    index_s = time.perf_counter() - t
    print(f"[{kind}] text index caught up in {index_s:.1f} s", file=sys.stderr)
    out = []
    try:
        for rng in ranges:
            for (name, path, extra), pl in [(x, p) for x in CALLS + SEARCHES
                                            for p in (plan or "").split(",")]:
                if calls and name not in calls:
                    continue
                base = name
                params = {"range": rng, **extra}
                if pl and pl != "auto":
                    params["plan"] = pl
                if plan and "," in plan:
                    name = f"{name} [{pl}]"
                times = []
                for _ in range(rounds):
                    ms, status, size = timed_get(c, path, params)
                    assert status == 200, (name, status)
                    times.append(ms)
                search = (base, path, extra) in SEARCHES
                out.append({"store": kind, "range": rng, "call": name,
                            "median_ms": statistics.median(times), "max_ms": max(times),
                            "rounds_ms": times, "bytes": size,
                            "target_ms": 1000 if search else 300})
                print(f"[{kind}] {rng:>4} {name:<32} {out[-1]['median_ms']:8.1f} ms",
                      file=sys.stderr)
    finally:
        c.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out.append({"store": kind, "fill_s": fill_s, "backfill_s": backfill_s, "events": n,
                "index_s": index_s})
    return out


def table(rows: list[dict], stores: list[str], ranges: list[str]) -> str:
    lines = ["| store | call | " + " | ".join(ranges) + " |",
             "|---|---|" + "---:|" * len(ranges)]
    for s in stores:
        names = [r["call"] for r in rows if r.get("store") == s and r.get("range") == ranges[0]]
        for name in names:
            cells = []
            for rng in ranges:
                r = next(x for x in rows if x.get("store") == s and x.get("range") == rng
                         and x.get("call") == name)
                mark = "" if r["median_ms"] <= r["target_ms"] else " ✗"
                cells.append(f"{r['median_ms']:.0f}{mark}")
            lines.append(f"| {s} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> str:
    """A PNG: per store, each call's median per range (log scale), the
    300 ms target drawn.  Returns what happened."""
    code = PLOT_CODE + f"\nplot({json.dumps(rows)!r}, {str(path)!r})\n"
    try:
        import matplotlib  # noqa: F401
        exec(compile(code, "plot", "exec"), {})
        return f"plot: {path}"
    except ImportError:
        py = REPO / "build" / "bench-venv" / "bin" / "python"
        if not py.exists():
            return "plot: not drawn (no matplotlib here nor in build/bench-venv)"
        p = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
        return f"plot: {path}" if p.returncode == 0 else f"plot failed: {p.stderr[-300:]}"


PLOT_CODE = r'''
import json
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

def plot(rows, path):
    rows = json.loads(rows)
    stores = sorted({r["store"] for r in rows if "call" in r})
    fig, axes = plt.subplots(1, len(stores), figsize=(8 * len(stores), 7), squeeze=False)
    for ax, s in zip(axes[0], stores):
        rs = [r for r in rows if r.get("store") == s and "call" in r]
        calls = list(dict.fromkeys(r["call"] for r in rs))
        ranges = list(dict.fromkeys(r["range"] for r in rs))
        w = 0.8 / len(ranges)
        for i, rng in enumerate(ranges):
            ys = [next(r["median_ms"] for r in rs if r["call"] == c and r["range"] == rng)
                  for c in calls]
            ax.barh([k + i * w for k in range(len(calls))], [max(y, 0.1) for y in ys],
                    w, label=rng)
        ax.axvline(300, color="red", linestyle="--", linewidth=1, label="300 ms")
        ax.set_xscale("log")
        ax.set_yticks([k + 0.4 - w / 2 for k in range(len(calls))])
        ax.set_yticklabels(calls, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("median ms (log)")
        ax.set_title(f"{s}: dashboard API, 1M events over 30 days")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--stores", default="sqlite,pg")
    ap.add_argument("--ranges", default="15m,1h,24h,7d,30d")
    ap.add_argument("--plan",
                    help="force every view onto one plan: raw or rollup (default:"
                         " the collector's, auto); a list (raw,auto) runs each")
    ap.add_argument("--calls", help="only these views (names as in the table,"
                                    " comma-separated)")
    ap.add_argument("--keep-rollups", action="store_true",
                    help="leave the (empty) rollups as init made them: no backfill")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--md", help="also write the table (markdown) here")
    ap.add_argument("--plot", help="draw a PNG here")
    a = ap.parse_args()
    rows = []
    stores = a.stores.split(",")
    ranges = a.ranges.split(",")
    pg = None
    try:
        if "pg" in stores:
            from otas_testing.postgres import Postgres
            pg = Postgres().start()
        for s in stores:
            rows += bench_store(s, a.events, a.rounds, ranges, pg, a.plan, a.keep_rollups,
                                a.calls.split(",") if a.calls else None)
    finally:
        if pg:
            pg.stop()
    head = (f"{a.events:,} events over 30 days; median of {a.rounds} rounds (ms); "
            f"plan {a.plan or 'auto'}; target 300 ms per view, 1 s per search (✗: missed)")
    text = head + "\n\n" + table(rows, stores, ranges) + "\n"
    for r in rows:
        if "fill_s" in r:
            text += (f"\n{r['store']}: {r['events']:,} events generated in {r['fill_s']:.1f} s")
            if r["backfill_s"] is not None:
                text += f"; collector open with rollup backfill {r['backfill_s']:.1f} s"
            text += f"; text index caught up {r.get('index_s', 0):.1f} s after"
    print("\n" + text)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    if a.md:
        Path(a.md).write_text(text + "\n")
    if a.plot:
        print(plot(rows, Path(a.plot)))


if __name__ == "__main__":
    main()
