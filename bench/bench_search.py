"""How fast the dashboard's text search (`q`) answers on a big database.

    .venv/bin/python bench/bench_search.py                  # 1,000,000 events, both stores
    .venv/bin/python bench/bench_search.py --events 100000 --stores sqlite --rounds 3

The database is made and filled exactly as bench_dashboard.py does (its
`sqlite_fill` / `pg_fill`: N events over the last 30 days, generated in SQL
inside the database, written without indexing as ingest writes them; then
every event but the newest --tail is indexed in bulk, as the collector's
deferred indexer does in chunks, and the collector runs with the indexer
held so the tail stays unindexed: searched by LIKE/ILIKE on its rows).  Then the real collector answers
`/api/v1/search` for: a rare hit (one event of N), a 1-in-1000 hit, a
common word (every event), a miss, a miss combined with a filter, a hit
combined with filters, and a short (2-character) query, which is checked on
the rows, capped at 200,000 of them.  Each is timed over the 24 h and 30 d
ranges (median of --rounds, wall clock over HTTP on 127.0.0.1).  It also
prints the size of the database file (SQLite) or of the search index
(PostgreSQL), and how long the fill and the bulk indexing took.

Target (issue #20): every search within 1 s.  Run it with
OTAS_COLLECTOR_BIN pointing at an older collector to compare (before the
index, `q` was LIKE / ILIKE over the whole document).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dashboard import pg_fill, sqlite_fill, timed_get  # noqa: E402
from otas_testing.collector import Collector, find_collector_binary  # noqa: E402

SEARCHES = [
    ("rare (1 event)", {"q": "order 123457 widget"}),
    ("1 in 1000", {"q": "needle"}),
    ("common (every event)", {"q": "widget"}),
    ("miss", {"q": "zebra-quartz"}),
    ("miss + status=500", {"q": "zebra-quartz", "status": "500"}),
    ("hit + method,status", {"q": "needle", "method": "POST", "status": "2xx"}),
    ("short q=dl (row scan)", {"q": "dl"}),
]


def index_size(kind: str, c: Collector, pg) -> str:
    if kind == "sqlite":
        import sqlite3
        db = sqlite3.connect(c.db_path)
        fts = db.execute("SELECT coalesce(sum(length(block)), 0) FROM events_fts_data"
                         ).fetchone()[0]
        db.close()
        return (f"database file {os.path.getsize(c.db_path) / 1e6:.0f} MB,"
                f" text index data {fts / 1e6:.1f} MB")
    def one(sql: str) -> str:
        p = subprocess.run([str(pg.bindir / "psql"), "-X", "-q", "-A", "-t", "-d",
                            c.db_path, "-c", sql], capture_output=True, text=True)
        return p.stdout.strip() or "0" if p.returncode == 0 else "?"
    idx = one("SELECT coalesce(sum(pg_relation_size(oid)), 0) / 1000000 FROM pg_class"
              " WHERE relkind = 'i' AND relname LIKE 'events%search%'")
    total = one("SELECT sum(pg_total_relation_size(inhrelid)) / 1000000"
                " FROM pg_inherits WHERE inhparent = 'events'::regclass")
    return f"search index {float(idx):.0f} MB, events with all indexes {float(total):.0f} MB"


def bench_store(kind: str, n: int, rounds: int, ranges: list[str], pg=None,
                tail: int = 0) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix=f"otas-bench-search-{kind}-"))
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
    # The fill writes events only, as ingest does; index all but the
    # newest `tail` events in bulk, as the deferred indexer would in
    # chunks, and hold the indexer so the tail stays unindexed (searched
    # by LIKE/ILIKE on its rows) while the calls are timed.
    t = time.perf_counter()
    if kind == "pg":
        for sql in ("DROP INDEX events_search",
                    f"UPDATE events SET text_indexed = true WHERE id <="
                    f" (SELECT max(id) FROM events) - {tail}",
                    "CREATE INDEX events_search ON events USING gin"
                    " (otas_search_text(doc) gin_trgm_ops) WHERE text_indexed",
                    "VACUUM ANALYZE events"):
            c.sql(sql)
    else:
        import sqlite3
        # serve makes the (empty) index; its indexer held, it stays empty
        c.start(extra_args=["--quiet", "--test-hold-text-index", "1"])
        c.stop()
        db = sqlite3.connect(c.db_path)
        m = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0] - tail
        with db:
            db.execute("INSERT INTO events_fts(rowid, search_text) SELECT id,"
                       " search_text FROM events_text WHERE id <= ?", (m,))
            db.execute("UPDATE fts_state SET wm = ?", (m,))
        db.close()
    index_s = time.perf_counter() - t
    size = index_size(kind, c, pg)
    print(f"[{kind}] {n:,} events generated in {fill_s:.1f} s, indexed but the last"
          f" {tail:,} in {index_s:.1f} s; {size}", file=sys.stderr)
    c.start(extra_args=["--quiet", "--test-hold-text-index", "1"])
    out = []
    try:
        for rng in ranges:
            for name, extra in SEARCHES:
                params = {"range": rng, **extra}
                times = []
                for _ in range(rounds):
                    ms, status, _ = timed_get(c, "/api/v1/search", params)
                    assert status == 200, (name, status)
                    times.append(ms)
                out.append({"store": kind, "range": rng, "call": name,
                            "median_ms": statistics.median(times), "max_ms": max(times)})
                print(f"[{kind}] {rng:>4} {name:<24} {out[-1]['median_ms']:8.1f} ms",
                      file=sys.stderr)
    finally:
        c.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out.append({"store": kind, "fill_s": fill_s, "events": n, "size": size})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stores", default="sqlite,pg")
    ap.add_argument("--ranges", default="24h,30d")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--tail", type=int, default=0,
                    help="newest events left unindexed (the deferred indexer's"
                         " lag) while timing")
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
            rows += bench_store(s, a.events, a.rounds, ranges, pg, a.tail)
    finally:
        if pg:
            pg.stop()
    print(f"\n{a.events:,} events over 30 days; /api/v1/search, median of {a.rounds} "
          "rounds (ms); target 1 s\n")
    print("| store | search | " + " | ".join(ranges) + " |")
    print("|---|---|" + "---:|" * len(ranges))
    for s in stores:
        for name, _ in SEARCHES:
            cells = []
            for rng in ranges:
                r = next(x for x in rows if x.get("store") == s and x.get("range") == rng
                         and x.get("call") == name)
                cells.append(f"{r['median_ms']:.0f}" + ("" if r["median_ms"] <= 1000 else " ✗"))
            print(f"| {s} | {name} | " + " | ".join(cells) + " |")
    for r in rows:
        if "fill_s" in r:
            print(f"\n{r['store']}: {r['events']:,} events generated in {r['fill_s']:.1f} s;"
                  f" {r['size']}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
