/*
 * store_sqlite.c -- the SQLite back end of store.h (store_impl.h).
 *
 * Connections: `adm` serves key checks and admin calls under adm_lock; a
 * pool of OTAS__SQLITE_READERS read connections serves the query API (WAL
 * lets them read while the writer commits, and a heavy query holds one
 * reader, never the key check nor the writer); `wr` belongs to the writer
 * thread alone.  Every statement is prepared once per connection
 * (SQLITE_PREPARE_PERSISTENT) and reset after use.
 *
 * Idempotency: UNIQUE(project, event_id) and INSERT OR IGNORE; a row that
 * changed nothing was a duplicate.  event_ids are UUIDv7 (time-ordered), so
 * the unique index grows at its right edge (see PROTOCOL.md for figures).
 *
 * Retention deletes rows older than the cutoff a project at a time (the
 * (project, ts) index finds them) in chunks, then gives the freed pages
 * back with PRAGMA incremental_vacuum (new databases are created with
 * auto_vacuum=INCREMENTAL; an older file keeps its free pages for reuse).
 */
#include "rollup.h"
#include "store_impl.h"
#include "util.h"

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef OTAS__SQLITE_READERS
#define OTAS__SQLITE_READERS 4
#endif

enum {
	S_SECRET_GET, S_SECRET_PUT, S_PROJECT_INSERT, S_PROJECT_LIST,
	S_PROJECT_PK, S_KEY_INSERT, S_KEY_LOOKUP, S_KEY_REVOKE, S_AGENT_INSERT,
	S_AGENT_ID, S_SESSION_INSERT, S_ENTITY_UPSERT, S_EVENT_INSERT,
	S_EVENT_GET, S_SAMPLES_EP, S_SAMPLES_DAY, S_SAMPLES_ROUTE, S_SESSIONS,
	S_ENTITIES, S_PROJECTS_ALL, S_RETAIN_DELETE, S_ROLLUP_UPSERT,
	S_RETAIN_ROLLUPS, S_PEOPLE_UPSERT, S_RETAIN_PEOPLE, S_TAGS_UPSERT,
	S_RETAIN_TAGS, S_PTAGS_UPSERT, S_RETAIN_PTAGS, S_FTS_NEXT, S_FTS_INSERT,
	S_FTS_WM, S_N
};

/* The people rollups per tag: S_PEOPLE_UPSERT's row for one tag (?11);
 * also the migration's backfill (fill_tags). */
#define SQ_PTAGS_UPSERT \
	"INSERT INTO rollup_people_tags(project, res, bucket, tag, kind, id," \
	" company, n, errors, first_ts, last_ts)" \
	" VALUES(?1, ?2, ?3, ?11, ?4, ?5, ?6, ?7, ?8, ?9, ?10)" \
	" ON CONFLICT(project, res, bucket, tag, kind, id) DO UPDATE SET" \
	" n = n + excluded.n, errors = errors + excluded.errors," \
	" first_ts = min(first_ts, excluded.first_ts)," \
	" company = CASE WHEN kind <> 'e' THEN coalesce(company," \
	" excluded.company) WHEN excluded.last_ts > last_ts OR" \
	" (excluded.last_ts = last_ts AND excluded.company > company)" \
	" THEN excluded.company ELSE company END," \
	" last_ts = max(last_ts, excluded.last_ts)"

/* The people rollups of the events with id > ID (the migration's
 * backfill; ingest aggregates in C, rollup.c). */
#define PEOPLE_SELECT(ID) \
	"WITH e AS MATERIALIZED (SELECT project, ts, status, is_error,"\
	    " user_id AS u, company_id AS c FROM events WHERE id > " ID "),"\
	    " w AS (SELECT project, r.res, otas_bucket(ts, r.res) AS bucket, k.kind,"\
	    " CASE k.kind WHEN 'u' THEN u ELSE c END AS who,"\
	    " CASE k.kind WHEN 'u' THEN c END AS company, ts,"\
	    " status >= 400 OR is_error AS err FROM e,"\
	    " (SELECT 3600 AS res UNION ALL SELECT 86400) r,"\
	    " (SELECT 'u' AS kind UNION ALL SELECT 'c') k)"\
	    " SELECT project, res, bucket, kind, who, max(company), count(*),"\
	    " sum(err), min(ts), max(ts) FROM w WHERE who IS NOT NULL AND who <> ''"\
	    " GROUP BY 1, 2, 3, 4, 5"

static const char *const sql_text[S_N] = {
    [S_SECRET_GET] = "SELECT value FROM meta WHERE key=?",
    [S_SECRET_PUT] = "INSERT OR IGNORE INTO meta(key, value) VALUES(?, ?)",
    [S_PROJECT_INSERT] = "INSERT INTO projects(id, name, description,"
                         " created_at) VALUES(?, ?, ?, ?)",
    [S_PROJECT_LIST] = "SELECT p.id, p.name, p.description, p.created_at,"
                       " (SELECT count(*) FROM sdk_keys k WHERE"
                       "  k.project = p.pk AND k.revoked_at IS NULL"
                       "  AND k.expires_at > ?) FROM projects p ORDER BY p.pk",
    [S_PROJECT_PK] = "SELECT pk FROM projects WHERE id=?",
    [S_KEY_INSERT] = "INSERT INTO sdk_keys(prefix, project, hash, created_at,"
                     " expires_at, role) VALUES(?, ?, ?, ?, ?, ?)",
    [S_KEY_LOOKUP] = "SELECT k.hash, k.expires_at, k.revoked_at, k.role, p.pk,"
                     " p.id, p.name, p.description FROM sdk_keys k"
                     " JOIN projects p ON p.pk = k.project WHERE k.prefix = ?",
    [S_KEY_REVOKE] = "UPDATE sdk_keys SET revoked_at=? WHERE prefix=?"
                     " AND revoked_at IS NULL",
    [S_AGENT_INSERT] = "INSERT INTO agents(id, project, name, created_at)"
                       " VALUES(?, ?, ?, ?) ON CONFLICT(project, name)"
                       " DO NOTHING",
    [S_AGENT_ID] = "SELECT id FROM agents WHERE project=? AND name=?",
    [S_SESSION_INSERT] = "INSERT INTO agent_sessions(id, agent_id,"
                         " created_at, expires_at) VALUES(?, ?, ?, ?)",
    [S_ENTITY_UPSERT] =
        "INSERT INTO entities(project, kind, id, company_id, doc,"
        " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)"
        " ON CONFLICT(project, kind, id) DO UPDATE SET"
        " doc = json_patch(entities.doc, excluded.doc),"
        " company_id = coalesce(excluded.company_id, entities.company_id),"
        " updated_at = excluded.updated_at",
    [S_EVENT_INSERT] =
        "INSERT OR IGNORE INTO events(project, event_id, ts, received_at,"
        " method, path, route, status, latency_ms, is_error, agent_id,"
        " agent_session_id, agent_verified, doc, user_id, company_id)"
        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,"
        /* ingest.h who: read from the document only when the decoder
         * cannot say what json_extract would */
        " CASE WHEN ?17 & 1 THEN json_extract(?14, '$.metadata.user_id')"
        " ELSE ?15 END,"
        " CASE WHEN ?17 & 2 THEN json_extract(?14, '$.metadata.company_id')"
        " ELSE ?16 END)",
    [S_EVENT_GET] = "SELECT id, ts, received_at, agent_id, agent_session_id,"
                    " agent_verified, doc, event_id FROM events"
                    " WHERE project=? AND event_id=?",
    [S_SAMPLES_EP] = "SELECT method, route, latency_ms, is_error FROM"
                     " events WHERE project=? AND ts>=? AND ts<=?"
                     " ORDER BY method, route, latency_ms",
    [S_SAMPLES_DAY] = "SELECT ts / 86400000000, latency_ms, is_error"
                      " FROM events WHERE project=? AND ts>=?"
                      " AND ts < ? ORDER BY 1, 2",
    [S_SAMPLES_ROUTE] = "SELECT latency_ms, is_error FROM events WHERE"
                        " project=? AND ts>=? AND ts<=? AND method=?"
                        " AND route=? ORDER BY latency_ms",
    /* Verified and unverified traffic never merge: an unverified token
     * can claim any session id. */
    [S_SESSIONS] = "SELECT agent_session_id, agent_id, agent_verified,"
                   " count(*), sum(is_error), min(ts), max(ts)"
                   " FROM events WHERE project=? AND"
                   " agent_session_id IS NOT NULL GROUP BY 1, 2, 3"
                   " ORDER BY max(ts) DESC LIMIT 10000",
    [S_ENTITIES] = "SELECT kind, doc, created_at, updated_at FROM entities"
                   " WHERE project = ?1 AND (?2 IS NULL OR kind = ?2)"
                   " AND (?3 IS NULL OR company_id = ?3)"
                   " ORDER BY updated_at DESC, id LIMIT ?4",
    [S_PROJECTS_ALL] = "SELECT pk FROM projects",
    [S_RETAIN_DELETE] = "DELETE FROM events WHERE id IN (SELECT id FROM"
                        " events WHERE project=? AND ts < ? LIMIT 5000)",
    /* rollup.h; one row per key and group, merged into what is there */
    [S_ROLLUP_UPSERT] =
        "INSERT INTO rollups(project, res, bucket, method, route, status,"
        " unmatched, n, errors, lat_sum, lat_min, lat_max, hist)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        " ON CONFLICT(project, res, bucket, method, route, status, unmatched)"
        " DO UPDATE SET n = n + excluded.n, errors = errors + excluded.errors,"
        " lat_sum = lat_sum + excluded.lat_sum,"
        " lat_min = min(lat_min, excluded.lat_min),"
        " lat_max = max(lat_max, excluded.lat_max),"
        " hist = otas_hist_merge(hist, excluded.hist)",
    /* Buckets that end at or before the cutoff: their events are gone
     * (a bucket the cutoff cuts keeps its row until it is wholly past). */
    [S_RETAIN_ROLLUPS] = "DELETE FROM rollups WHERE project=?1 AND"
                         " bucket + res * 1000000 <= ?2",
    /* Who called (rollup.h people rollups), from the rows this
     * transaction inserted (ids above the largest before it: the only
     * writer appends). */
    [S_PEOPLE_UPSERT] =
        "INSERT INTO rollup_people(project, res, bucket, kind, id, company,"
        " n, errors, first_ts, last_ts)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        " ON CONFLICT(project, res, bucket, kind, id) DO UPDATE SET"
        " n = n + excluded.n, errors = errors + excluded.errors,"
        " first_ts = min(first_ts, excluded.first_ts),"
        " company = CASE WHEN kind <> 'e' THEN coalesce(company,"
        " excluded.company) WHEN excluded.last_ts > last_ts OR"
        " (excluded.last_ts = last_ts AND excluded.company > company)"
        " THEN excluded.company ELSE company END,"
        " last_ts = max(last_ts, excluded.last_ts)",
    [S_RETAIN_PEOPLE] = "DELETE FROM rollup_people WHERE project=?1 AND"
                        " bucket + res * 1000000 <= ?2",
    /* rollup.h tag rollups: S_ROLLUP_UPSERT's row for one of its tags */
    [S_TAGS_UPSERT] =
        "INSERT INTO rollup_tags(project, res, bucket, tag, method, route,"
        " status, unmatched, n, errors, lat_sum, lat_min, lat_max, hist)"
        " VALUES(?1, ?2, ?3, ?14, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        " ON CONFLICT(project, res, bucket, tag, method, route, status,"
        " unmatched) DO UPDATE SET n = n + excluded.n,"
        " errors = errors + excluded.errors,"
        " lat_sum = lat_sum + excluded.lat_sum,"
        " lat_min = min(lat_min, excluded.lat_min),"
        " lat_max = max(lat_max, excluded.lat_max),"
        " hist = otas_hist_merge(hist, excluded.hist)",
    [S_RETAIN_TAGS] = "DELETE FROM rollup_tags WHERE project=?1 AND"
                      " bucket + res * 1000000 <= ?2",
    [S_PTAGS_UPSERT] = SQ_PTAGS_UPSERT,
    [S_RETAIN_PTAGS] = "DELETE FROM rollup_people_tags WHERE project=?1 AND"
                       " bucket + res * 1000000 <= ?2",
    /* The text indexer's chunk (sq_writer_index): prepared once on the
     * writer's connection, not parsed again (the view events_text with
     * it) for every chunk. */
    [S_FTS_NEXT] = "SELECT count(*), max(id) FROM (SELECT id FROM"
                   " events WHERE id > ?1 ORDER BY id LIMIT ?2)",
    /* the text from one parse of the document (otas_search_text), the
     * view's own expression where that cannot say */
    [S_FTS_INSERT] = "INSERT INTO events_fts(rowid, search_text) SELECT id,"
                     " coalesce(otas_search_text(doc), (SELECT search_text"
                     " FROM events_text t WHERE t.id = e.id)) FROM events e"
                     " WHERE id > ?1 AND id <= ?2",
    [S_FTS_WM] = "UPDATE fts_state SET wm = ?1",
};

/* The events query has 8 optional filters; each combination is its own
 * statement, prepared the first time it is used on a connection. */
#define EV_FILTERS 8
#define EV_VARIANTS (1 << EV_FILTERS)

typedef struct {
	sqlite3 *db;
	sqlite3_stmt *s[S_N];
	sqlite3_stmt **ev;          /* EV_VARIANTS, lazily; readers only */
	int busy;                   /* pool: checked out */
} conn_t;

typedef struct {
	char *path;
	conn_t adm;
	pthread_mutex_t adm_lock;
	conn_t rd[OTAS__SQLITE_READERS];
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	conn_t wr;
	int no_fts;                 /* --text-index off: q scans with LIKE */
	int64_t fts_wm;             /* writer: fts_state.wm */
	int fts_chunk;              /* writer: events per indexer transaction */
	int64_t path_wm;            /* writer: path_state.wm (committed) */
	int64_t path_last_us;       /* writer: when the path table was filled */
	int64_t path_waiting;       /* writer: events stored above path_wm */
	int path_fill_events;       /* writer: otas__writer_opts_t's */
	sqlite3_stmt *ins_n[17];    /* writer: insert_n()'s, by rows */
} sq_t;

/* The searchable text (store.h OTAS__SEARCH_FIELDS): each field's first
 * 4096 characters, so one huge body costs the index
 * (and ingest) a bounded amount. */
#define SQ_SEARCH_FIELD(f) \
	"substr(coalesce(json_extract(doc, '$." #f "'), ''), 1, 4096) ||" \
	" char(10) || "
#define SQ_SEARCH_TEXT "(" OTAS__SEARCH_FIELDS(SQ_SEARCH_FIELD) "'')"
/* The same of a trigger's old.doc / new.doc. */
#define SQ_SEARCH_FIELD_OLD(f) \
	"substr(coalesce(json_extract(old.doc, '$." #f "'), ''), 1, 4096) ||" \
	" char(10) || "
#define SQ_SEARCH_FIELD_NEW(f) \
	"substr(coalesce(json_extract(new.doc, '$." #f "'), ''), 1, 4096) ||" \
	" char(10) || "
#define SQ_SEARCH_TEXT_OLD "(" OTAS__SEARCH_FIELDS(SQ_SEARCH_FIELD_OLD) "'')"
#define SQ_SEARCH_TEXT_NEW "(" OTAS__SEARCH_FIELDS(SQ_SEARCH_FIELD_NEW) "'')"

/* Deferred index (schema 8): ingest writes events only; the writer's
 * indexer (sq_writer_index) adds the events above the watermark
 * fts_state.wm in chunks and moves it in the same transaction.  Only
 * rows at or below it are in the index, so the delete/update triggers
 * touch only those (an FTS5 'delete' of a row never added would corrupt
 * it).  Made by serve when the index is on and absent (wm 0: the
 * indexer builds it in the background). */
#define SQ_FTS_TRIGGERS \
	"CREATE TRIGGER IF NOT EXISTS events_fts_del AFTER DELETE ON events" \
	" WHEN old.id <= (SELECT wm FROM fts_state) BEGIN" \
	" INSERT INTO events_fts(events_fts, rowid, search_text)" \
	" VALUES('delete', old.id, " SQ_SEARCH_TEXT_OLD "); END;" \
	"CREATE TRIGGER IF NOT EXISTS events_fts_upd AFTER UPDATE OF doc ON" \
	" events WHEN old.id <= (SELECT wm FROM fts_state) BEGIN" \
	" INSERT INTO events_fts(events_fts, rowid, search_text)" \
	" VALUES('delete', old.id, " SQ_SEARCH_TEXT_OLD ");" \
	" INSERT INTO events_fts(rowid, search_text)" \
	" VALUES(new.id, " SQ_SEARCH_TEXT_NEW "); END;"
/* Schema 11: the index's content is the view events_text (the search
 * text is computed where it is read, never at insert). */
#define SQ_FTS_CREATE \
	"CREATE VIRTUAL TABLE events_fts USING fts5(search_text," \
	" content='events_text', content_rowid='id', tokenize='trigram');" \
	"UPDATE fts_state SET wm = 0;" SQ_FTS_TRIGGERS
#define SQ_FTS_DROP \
	"DROP TRIGGER IF EXISTS events_fts_ins;" \
	"DROP TRIGGER IF EXISTS events_fts_del;" \
	"DROP TRIGGER IF EXISTS events_fts_upd;" \
	"DROP TABLE IF EXISTS events_fts;" \
	"UPDATE fts_state SET wm = 0;"

/* The tag rollups (rollup.h otas__rollup_build_tags,
 * otas__people_build_tags): the rows of `rollups` and of `rollup_people`
 * once per distinct tag of each event.  The step makes both tables anew
 * (so a database stepped back to an older schema gets them whole), then
 * migrate() fills them from the stored events in C (fill_tags). */
#define SQ_TAGS_MIGRATION \
	"DROP TABLE IF EXISTS rollup_tags;" \
	"CREATE TABLE rollup_tags(project INTEGER NOT NULL," \
	" res INTEGER NOT NULL, bucket INTEGER NOT NULL, tag TEXT NOT NULL," \
	" method TEXT NOT NULL, route TEXT NOT NULL, status INTEGER NOT NULL," \
	" unmatched INTEGER NOT NULL, n INTEGER NOT NULL," \
	" errors INTEGER NOT NULL, lat_sum REAL NOT NULL," \
	" lat_min REAL NOT NULL, lat_max REAL NOT NULL, hist BLOB NOT NULL," \
	" PRIMARY KEY(project, res, bucket, tag, method, route, status," \
	" unmatched)) WITHOUT ROWID;" \
	"DROP TABLE IF EXISTS rollup_people_tags;" \
	"CREATE TABLE rollup_people_tags(project INTEGER NOT NULL," \
	" res INTEGER NOT NULL, bucket INTEGER NOT NULL, tag TEXT NOT NULL," \
	" kind TEXT NOT NULL, id TEXT NOT NULL, company TEXT," \
	" n INTEGER NOT NULL, errors INTEGER NOT NULL," \
	" first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL," \
	" PRIMARY KEY(project, res, bucket, tag, kind, id)) WITHOUT ROWID;"
static const char sq_tags_migration[] = SQ_TAGS_MIGRATION;

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE projects(pk INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE sdk_keys(prefix TEXT PRIMARY KEY,"
    " project INTEGER NOT NULL REFERENCES projects(pk),"
    " hash TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL, revoked_at INTEGER);"
    "CREATE TABLE agents(id TEXT PRIMARY KEY,"
    " project INTEGER NOT NULL REFERENCES projects(pk), name TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, UNIQUE(project, name));"
    "CREATE TABLE agent_sessions(id TEXT PRIMARY KEY,"
    " agent_id TEXT NOT NULL REFERENCES agents(id),"
    " created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);"
    "CREATE TABLE events(id INTEGER PRIMARY KEY,"
    " project INTEGER NOT NULL, event_id TEXT NOT NULL,"
    " ts INTEGER NOT NULL, received_at INTEGER NOT NULL,"
    " method TEXT NOT NULL, path TEXT NOT NULL, route TEXT NOT NULL,"
    " status INTEGER NOT NULL, latency_ms REAL NOT NULL,"
    " is_error INTEGER NOT NULL, agent_id TEXT, agent_session_id TEXT,"
    " agent_verified INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL);"
    "CREATE UNIQUE INDEX events_event_id ON events(project, event_id);"
    "CREATE INDEX events_ts ON events(project, ts, id);",
    /* 1 -> 2: who called (computed from the stored document, so ingest
     * needs no change and old rows get them too) and entities. */
    "ALTER TABLE events ADD COLUMN user_id TEXT GENERATED ALWAYS AS"
    " (json_extract(doc, '$.metadata.user_id')) VIRTUAL;"
    "ALTER TABLE events ADD COLUMN company_id TEXT GENERATED ALWAYS AS"
    " (json_extract(doc, '$.metadata.company_id')) VIRTUAL;"
    "CREATE INDEX events_user ON events(project, user_id, ts);"
    "CREATE INDEX events_company ON events(project, company_id, ts);"
    "CREATE TABLE entities(project INTEGER NOT NULL, kind TEXT NOT NULL,"
    " id TEXT NOT NULL, company_id TEXT, doc TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " PRIMARY KEY(project, kind, id));",
    /* 2 -> 3: key roles; keys made before are ingest+read (3). */
    "ALTER TABLE sdk_keys ADD COLUMN role INTEGER NOT NULL DEFAULT 3;",
    /* 3 -> 4: text search.  The searchable text was computed from the
     * document (a virtual column: stored once, in doc), indexed by an
     * external-content FTS5 table with the trigram tokenizer (substring
     * queries, case-insensitive).  Schema 4 made and filled the index
     * here too, kept by triggers; since schema 11 the column is gone
     * (10 -> 11) and serve makes the index when absent (SQ_FTS_CREATE),
     * filled by the deferred indexer, so this step adds the column
     * alone. */
    "ALTER TABLE events ADD COLUMN search_text TEXT GENERATED ALWAYS AS "
    SQ_SEARCH_TEXT " VIRTUAL;",
    /* 4 -> 5: rollups (rollup.h), filled from the events already there
     * once; from then on the writer keeps them. */
    "CREATE TABLE rollups(project INTEGER NOT NULL, res INTEGER NOT NULL,"
    " bucket INTEGER NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL,"
    " status INTEGER NOT NULL, unmatched INTEGER NOT NULL,"
    " n INTEGER NOT NULL, errors INTEGER NOT NULL, lat_sum REAL NOT NULL,"
    " lat_min REAL NOT NULL, lat_max REAL NOT NULL, hist BLOB NOT NULL,"
    " PRIMARY KEY(project, res, bucket, method, route, status, unmatched))"
    " WITHOUT ROWID;"
    "INSERT INTO rollups SELECT project, r.res, otas_bucket(ts, r.res),"
    " method, route, status, route = path, count(*),"
    " sum(status >= 400 OR is_error), sum(latency_ms), min(latency_ms),"
    " max(latency_ms), otas_hist(latency_ms)"
    " FROM events, (SELECT 60 AS res UNION ALL SELECT 3600"
    " UNION ALL SELECT 86400) r"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7;",
    /* 5 -> 6: who called, per hour and per day (rollup.h). */
    "CREATE TABLE rollup_people(project INTEGER NOT NULL,"
    " res INTEGER NOT NULL, bucket INTEGER NOT NULL, kind TEXT NOT NULL,"
    " id TEXT NOT NULL, company TEXT, n INTEGER NOT NULL,"
    " errors INTEGER NOT NULL, first_ts INTEGER NOT NULL,"
    " last_ts INTEGER NOT NULL,"
    " PRIMARY KEY(project, res, bucket, kind, id)) WITHOUT ROWID;"
    "INSERT INTO rollup_people(project, res, bucket, kind, id, company, n,"
    " errors, first_ts, last_ts) " PEOPLE_SELECT("-1") ";",
    /* 6 -> 7: the views that read only errors (/errors) or only agents'
     * calls (/stats/agents) walk these, not every event of the range. */
    "CREATE INDEX events_errors ON events(project, ts)"
    " WHERE status >= 400 OR is_error;"
    "CREATE INDEX events_agents ON events(project, ts)"
    " WHERE agent_id IS NOT NULL;",
    /* 7 -> 8: the text index is deferred (off the ingest path): no insert
     * trigger; fts_state.wm is the highest id indexed (every event so
     * far, since schema 4 indexed them all; 0 with no index).  serve
     * puts the delete/update triggers back (SQ_FTS_TRIGGERS). */
    "DROP TRIGGER IF EXISTS events_fts_ins;"
    "DROP TRIGGER IF EXISTS events_fts_del;"
    "DROP TRIGGER IF EXISTS events_fts_upd;"
    "CREATE TABLE fts_state(wm INTEGER NOT NULL);"
    "INSERT INTO fts_state SELECT CASE WHEN EXISTS (SELECT 1 FROM"
    " sqlite_master WHERE name = 'events_fts') THEN"
    " coalesce((SELECT max(id) FROM events), 0) ELSE 0 END;",
    /* 8 -> 9: agents' calls in the people rollups (rollup.h kind "a"). */
    "INSERT INTO rollup_people(project, res, bucket, kind, id, company, n,"
    " errors, first_ts, last_ts) SELECT project, r.res,"
    " otas_bucket(ts, r.res), 'a', agent_id || char(9) ||"
    " coalesce(agent_session_id, '') || char(9) || coalesce(method, '') ||"
    " char(9) || coalesce(route, ''), NULL, count(*),"
    " sum(status >= 400 OR is_error), min(ts), max(ts) FROM events,"
    " (SELECT 3600 AS res UNION ALL SELECT 86400) r"
    " WHERE agent_id IS NOT NULL AND agent_id <> '' GROUP BY 1, 2, 3, 5;",
    /* 9 -> 10: the error groups of /errors (rollup.h kind "e"); the type
     * as otas__doc_exception reads it, the key as otas__error_key. */
    "INSERT INTO rollup_people(project, res, bucket, kind, id, company, n,"
    " errors, first_ts, last_ts)"
    " WITH e AS MATERIALIZED (SELECT project, ts, event_id, status, method,"
    " route = path AS um, CASE WHEN route = path THEN '(unmatched)'"
    " ELSE route END AS rt,"
    " CASE json_type(doc, '$.metadata.errors[0]') WHEN 'object' THEN"
    " (CASE WHEN json_type(doc, '$.metadata.errors[0].type') = 'text' THEN"
    " json_extract(doc, '$.metadata.errors[0].type') END) WHEN 'array' THEN"
    " (CASE WHEN json_type(doc, '$.metadata.errors[0][0]') = 'text' THEN"
    " json_extract(doc, '$.metadata.errors[0][0]') END) END AS t1,"
    " CASE WHEN json_type(doc, '$.error') = 'text' THEN"
    " json_extract(doc, '$.error') END AS er"
    " FROM events WHERE status >= 400 OR is_error),"
    " f AS (SELECT *, CASE WHEN t1 <> '' THEN t1 WHEN er <> '' THEN"
    " substr(er, 1, min(200, CASE WHEN instr(er, ': ') > 0 THEN"
    " instr(er, ': ') - 1 ELSE length(er) END))"
    " WHEN status < 400 THEN 'error' END AS ty FROM e),"
    " k AS (SELECT project, ts, event_id, CASE WHEN ty IS NOT NULL THEN"
    " 'x' || char(9) || ty || char(9) || method || char(9) || rt ELSE"
    " 's' || char(9) || status || char(9) || CASE WHEN um THEN '*'"
    " ELSE method END || char(9) || rt END AS id FROM f)"
    " SELECT project, r.res, otas_bucket(ts, r.res), 'e', id,"
    " substr(max(printf('%020d', ts) || event_id), 21), count(*), 0,"
    " min(ts), max(ts) FROM k, (SELECT 3600 AS res UNION ALL SELECT 86400) r"
    " GROUP BY 1, 2, 3, 5;",
    /* 10 -> 11: nothing is computed from the document at insert.  A
     * table's generated columns are all computed on every INSERT (the
     * search text's five json_extract calls too, indexed or not) and
     * the document parsed for them: 29,000 of the 130,000 instructions
     * an event cost.  The search text is now computed only where it is
     * read (the deferred indexer through the view events_text, the
     * scan's LIKE); user_id and company_id are plain columns the
     * writer binds from what the decoder read (ingest.h who), filled
     * here from the documents once, and indexed only where present.
     * An existing text index is kept as it is, with what it holds: its
     * content table is still named `events`, which it never reads (a
     * MATCH reads the index alone, a delete passes the old text); one
     * made from now on names events_text.  serve puts back the
     * delete/update triggers, which now compute the old text. */
    "DROP TRIGGER IF EXISTS events_fts_ins;"
    "DROP TRIGGER IF EXISTS events_fts_del;"
    "DROP TRIGGER IF EXISTS events_fts_upd;"
    "DROP INDEX events_user;"
    "DROP INDEX events_company;"
    "ALTER TABLE events DROP COLUMN search_text;"
    "ALTER TABLE events DROP COLUMN user_id;"
    "ALTER TABLE events DROP COLUMN company_id;"
    "ALTER TABLE events ADD COLUMN user_id TEXT;"
    "ALTER TABLE events ADD COLUMN company_id TEXT;"
    "UPDATE events SET user_id = json_extract(doc, '$.metadata.user_id'),"
    " company_id = json_extract(doc, '$.metadata.company_id')"
    " WHERE json_type(doc, '$.metadata') = 'object';"
    "CREATE INDEX events_user ON events(project, user_id, ts)"
    " WHERE user_id IS NOT NULL;"
    "CREATE INDEX events_company ON events(project, company_id, ts)"
    " WHERE company_id IS NOT NULL;"
    "CREATE VIEW events_text(id, search_text) AS SELECT id, "
    SQ_SEARCH_TEXT " FROM events;",
    /* 11 -> 12: the tag rollups; migrate() then runs fill_tags */
    sq_tags_migration,
    /* 12 -> 13: made the index events_path on events(project, path, ts,
     * method, route, status, latency_ms, is_error), which 14 -> 15
     * replaced by a table of the same name and columns. */
    "DROP INDEX IF EXISTS events_path;",
    /* 13 -> 14: users and companies per route (rollup.h kinds "ru",
     * "rc"), filled from the events already there (anew when run again
     * on a database stepped back). */
    "DELETE FROM rollup_people WHERE kind IN ('ru', 'rc');"
    "INSERT INTO rollup_people(project, res, bucket, kind, id, company, n,"
    " errors, first_ts, last_ts)"
    " WITH e AS MATERIALIZED (SELECT project, ts, route, status, is_error,"
    " user_id AS u, company_id AS c FROM events),"
    " w AS (SELECT project, r.res, otas_bucket(ts, r.res) AS bucket, k.kind,"
    " route, CASE k.kind WHEN 'ru' THEN u ELSE c END AS who,"
    " CASE k.kind WHEN 'ru' THEN c END AS company, ts,"
    " status >= 400 OR is_error AS err FROM e,"
    " (SELECT 3600 AS res UNION ALL SELECT 86400) r,"
    " (SELECT 'ru' AS kind UNION ALL SELECT 'rc') k)"
    " SELECT project, res, bucket, kind, route || char(9) || who,"
    " max(company), count(*), sum(err), min(ts), max(ts) FROM w"
    " WHERE who IS NOT NULL AND who <> '' GROUP BY 1, 2, 3, 4, 5;",
    /* 14 -> 15: the path index as a table the writer fills in bulk.  A
     * glob's literal head (or an exact path) walks it, not every event
     * of the range (collector/README.md "Filtered views"), and it holds
     * what the series and endpoints views read (otas__scan_query_t
     * lean), so they never touch the events' 16 KiB pages.  As an index
     * of events it cost every insert a leaf of its own (the paths of a
     * batch are spread over the whole index), so each commit wrote a
     * 16 KiB page per distinct path of the group: at 200,000 events
     * stored, 39,000 of the 109,000 instructions an event cost.  The
     * writer now copies the rows above path_state.wm into it every
     * SQ_PATH_FILL_EVENTS events or SQ_PATH_FILL_US (path_fill), so a
     * leaf is written once per fill, not once per group; a scan reads
     * the rows above the watermark from events (ids, by the rowid).
     * The trigger keeps it to the events there are (retention). */
    "DROP INDEX IF EXISTS events_path;"
    "CREATE TABLE IF NOT EXISTS events_path(project INTEGER NOT NULL,"
    " path TEXT NOT NULL, ts INTEGER NOT NULL, id INTEGER NOT NULL,"
    " method TEXT NOT NULL, route TEXT NOT NULL, status INTEGER NOT NULL,"
    " latency_ms REAL NOT NULL, is_error INTEGER NOT NULL,"
    " PRIMARY KEY(project, path, ts, id)) WITHOUT ROWID;"
    "DELETE FROM events_path;"
    "INSERT INTO events_path SELECT project, path, ts, id, method, route,"
    " status, latency_ms, is_error FROM events"
    " ORDER BY project, path, ts, id;"
    "CREATE TABLE IF NOT EXISTS path_state(wm INTEGER NOT NULL);"
    "DELETE FROM path_state;"
    "INSERT INTO path_state SELECT coalesce(max(id), 0) FROM events;"
    "DROP TRIGGER IF EXISTS events_path_del;"
    "CREATE TRIGGER events_path_del AFTER DELETE ON events BEGIN"
    " DELETE FROM events_path WHERE project = old.project AND"
    " path = old.path AND ts = old.ts AND id = old.id; END;",
};


static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* ---- SQL functions of the rollups (rollup.h) ----------------------- */

/* otas_bucket(ts, res): the start of ts's bucket of res seconds. */
static void
fn_bucket(sqlite3_context *cx, int argc, sqlite3_value **v)
{
	(void)argc;
	sqlite3_result_int64(cx, otas__rollup_bucket(sqlite3_value_int64(v[0]),
	                                             sqlite3_value_int64(v[1])));
}

/* otas_hist_merge(a, b): the bin-wise sum of two histogram blobs. */
static void
fn_hist_merge(sqlite3_context *cx, int argc, sqlite3_value **v)
{
	uint32_t a[OTAS__HIST_BINS], b[OTAS__HIST_BINS];
	unsigned char out[4 * OTAS__HIST_BINS];

	(void)argc;
	otas__hist_unblob(sqlite3_value_blob(v[0]),
	                  (size_t)sqlite3_value_bytes(v[0]), a);
	otas__hist_unblob(sqlite3_value_blob(v[1]),
	                  (size_t)sqlite3_value_bytes(v[1]), b);
	for (int i = 0; i < OTAS__HIST_BINS; i++)
		a[i] += b[i];
	sqlite3_result_blob(cx, out, (int)otas__hist_blob(a, out),
	                    SQLITE_TRANSIENT);
}

/* otas_hist(latency_ms): aggregate, the histogram blob of a group. */
static void
fn_hist_step(sqlite3_context *cx, int argc, sqlite3_value **v)
{
	uint32_t *h = sqlite3_aggregate_context(cx, 4 * OTAS__HIST_BINS);

	(void)argc;
	if (h)
		h[otas__hist_bin(sqlite3_value_double(v[0]))]++;
}

static void
fn_hist_final(sqlite3_context *cx)
{
	uint32_t *h = sqlite3_aggregate_context(cx, 0);
	uint32_t zero[OTAS__HIST_BINS] = {0};
	unsigned char out[4 * OTAS__HIST_BINS];

	sqlite3_result_blob(cx, out, (int)otas__hist_blob(h ? h : zero, out),
	                    SQLITE_TRANSIENT);
}

/* otas_search_text(doc): the view events_text's search_text from one
 * parse of the document (ingest.h otas__search_text), or NULL where only
 * the view's expression can say; the indexer falls back to it there. */
#define SQ_NAME(f) #f,
static const char *const sq_search_names[] = {OTAS__SEARCH_FIELDS(SQ_NAME)};

static void
fn_search_text(sqlite3_context *cx, int argc, sqlite3_value **v)
{
	const char *doc = (const char *)sqlite3_value_text(v[0]);
	otas__buf_t b = OTAS__BUF_INIT;

	(void)argc;
	if (!doc || otas__search_text(doc, (size_t)sqlite3_value_bytes(v[0]),
	                              sq_search_names,
	                              sizeof sq_search_names / sizeof *sq_search_names,
	                              &b) != 0) {
		otas__buf_free(&b);
		sqlite3_result_null(cx);
		return;
	}
	sqlite3_result_text(cx, b.data, (int)b.len, free);
}

static int
add_functions(sqlite3 *db)
{
	int f = SQLITE_UTF8 | SQLITE_DETERMINISTIC;

	return sqlite3_create_function(db, "otas_search_text", 1, f, NULL,
	                               fn_search_text, NULL, NULL) != SQLITE_OK ||
	               sqlite3_create_function(db, "otas_bucket", 2, f, NULL,
	                                       fn_bucket, NULL, NULL) != SQLITE_OK ||
	               sqlite3_create_function(db, "otas_hist_merge", 2, f, NULL,
	                                       fn_hist_merge, NULL,
	                                       NULL) != SQLITE_OK ||
	               sqlite3_create_function(db, "otas_hist", 1, f, NULL, NULL,
	                                       fn_hist_step,
	                                       fn_hist_final) != SQLITE_OK
	           ? -1
	           : 0;
}

#ifndef OTAS__PAGE_SIZE
#define OTAS__PAGE_SIZE "16384"
#endif

static sqlite3 *
open_db(const char *path, int flags)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	if (add_functions(db) != 0) {
		sqlite3_close(db);
		return NULL;
	}
	/* Only a new, empty database takes a page size and auto_vacuum
	 * (before WAL and the first table); an existing one keeps its own.
	 * See "Throughput" in the README. */
	if (exec(db, "PRAGMA page_size=" OTAS__PAGE_SIZE) != 0 ||
	    exec(db, "PRAGMA auto_vacuum=INCREMENTAL") != 0 ||
	    exec(db, "PRAGMA journal_mode=WAL") != 0 ||
	    exec(db, "PRAGMA foreign_keys=ON") != 0) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static void
conn_close(conn_t *c)
{
	for (int i = 0; i < S_N; i++)
		sqlite3_finalize(c->s[i]);
	if (c->ev) {
		for (int i = 0; i < EV_VARIANTS; i++)
			sqlite3_finalize(c->ev[i]);
		free(c->ev);
	}
	sqlite3_close(c->db);
	memset(c, 0, sizeof *c);
}

/* The prepared statement `i` on c (prepared on first use), reset and
 * unbound: ready to bind.  NULL on failure. */
static sqlite3_stmt *
stmt(conn_t *c, int i)
{
	if (!c->s[i] &&
	    sqlite3_prepare_v3(c->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT,
	                       &c->s[i], NULL) != SQLITE_OK) {
		fprintf(stderr, "error: prepare failed: %s\n", sqlite3_errmsg(c->db));
		return NULL;
	}
	sqlite3_reset(c->s[i]);
	sqlite3_clear_bindings(c->s[i]);
	return c->s[i];
}

static void
bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v && *v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static const char *
col_text(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

static void
copy_col(sqlite3_stmt *s, int col, char *out, size_t n)
{
	const char *t = col_text(s, col);

	snprintf(out, n, "%s", t ? t : "");
}

/* The tag rollups of the events already stored (their step): each
 * event with tags as ingest read it (otas__event_from_stored: the ingest
 * parser on the stored document, then its columns), through ingest's own
 * builds, in chunks by id, so the backfill cannot read a tag, a user or
 * an error type another way than ingest.  A document can name its tags
 * only where it says "tags" or holds an escape.  0 ok. */
#define FILL_CHUNK 5000
static int put_people(sqlite3_stmt *s, const otas__people_agg_t *rows,
                      size_t n, int tags);
static int put_rollups(sqlite3_stmt *s, const otas__rollup_row_t *rows,
                       size_t n, int tags);
static const char *col_text(sqlite3_stmt *s, int col);

static int
fill_tags(sqlite3 *db)
{
	sqlite3_stmt *rd = NULL, *up = NULL, *ur = NULL;
	otas__event_t *ev = calloc(FILL_CHUNK, sizeof *ev);
	otas__store_job_t *jobs = calloc(FILL_CHUNK, sizeof *jobs);
	int64_t after = -1, after_pk = INT64_MIN, after_ts = INT64_MIN;
	long long done_n = 0, rows_n = 0;
	double t0 = otas__mono_ms(), tw = 0, t;
	otas__rollup_acc_t acc = {0};
	int rc = -1;

	if (!ev || !jobs)
		abort();
	fprintf(stderr, "otas-collector: schema step: filling the tag rollups"
	                " from the stored events\n");
	if (sqlite3_prepare_v2(db,
	                       "SELECT id, project, ts, method, path, route,"
	                       " status, is_error, agent_id, agent_session_id,"
	                       " event_id, latency_ms, doc FROM events"
	                       " WHERE (project, ts, id) > (?3, ?4, ?1) AND"
	                       " (instr(doc, 'tags') > 0 OR"
	                       " instr(doc, '\\u') > 0) ORDER BY project, ts, id"
	                       " LIMIT ?2",
	                       -1, &rd, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, SQ_PTAGS_UPSERT, -1, &up, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, sql_text[S_TAGS_UPSERT], -1, &ur, NULL) !=
	        SQLITE_OK)
		goto done;
	for (;;) {
		size_t n = 0, nj = 0, nr;
		otas__people_agg_t *rows;
		otas__rollup_row_t *rrows;
		int step;
		sqlite3_bind_int64(rd, 1, after);
		sqlite3_bind_int(rd, 2, FILL_CHUNK);
		sqlite3_bind_int64(rd, 3, after_pk);
		sqlite3_bind_int64(rd, 4, after_ts);
		while ((step = sqlite3_step(rd)) == SQLITE_ROW) {
			otas__stored_event_t x = {0};
			after = sqlite3_column_int64(rd, 0);
			after_pk = sqlite3_column_int64(rd, 1);
			after_ts = sqlite3_column_int64(rd, 2);
			x.ts_us = sqlite3_column_int64(rd, 2);
			x.method = col_text(rd, 3);
			x.path = col_text(rd, 4);
			x.route = col_text(rd, 5);
			x.status = sqlite3_column_int64(rd, 6);
			x.is_error = sqlite3_column_int(rd, 7);
			x.agent_id = col_text(rd, 8);
			x.agent_session_id = col_text(rd, 9);
			x.event_id = col_text(rd, 10);
			x.latency_ms = sqlite3_column_double(rd, 11);
			x.doc = col_text(rd, 12);
			x.doc_len = (size_t)sqlite3_column_bytes(rd, 12);
			n++;
			if (!x.doc || otas__event_from_stored(&ev[nj], &x) != 0)
				continue;
			if (!ev[nj].n_tags) {
				otas__event_clear(&ev[nj]);
				continue;
			}
			jobs[nj] = (otas__store_job_t){0};
			jobs[nj].project_pk = sqlite3_column_int64(rd, 1);
			jobs[nj].ev = &ev[nj];
			jobs[nj].n = 1;
			jobs[nj].received_us = x.ts_us;
			if (nj)
				jobs[nj - 1].next = &jobs[nj];
			nj++;
		}
		sqlite3_reset(rd);
		if (step != SQLITE_DONE && step != SQLITE_ROW)
			goto clear;
		rc = 0;
		if (nj) {
			if (otas__rollup_build_tags(jobs, &rrows, &nr) != 0)
				rc = -1;
			else {
				otas__rollup_acc_add(&acc, rrows, nr);
				free(rrows);
			}
		}
		if (nj && rc == 0) {
			if (otas__people_build_tags(jobs, &rows, &nr) != 0)
				rc = -1;
			else {
				otas__rollup_acc_add_people(&acc, rows, nr);
				free(rows);
			}
		}
		/* the rows whose buckets closed (every row after the last
		 * chunk): once per key, into the new tables */
		if (rc == 0) {
			otas__rollup_acc_take(&acc, after_pk, after_ts,
			                      n < FILL_CHUNK);
			t = otas__mono_ms();
			rc = put_rollups(ur, acc.rdone, acc.nrdone, 1);
			if (rc == 0)
				rc = put_people(up, acc.pdone, acc.npdone, 1);
			tw += otas__mono_ms() - t;
			rows_n += (long long)(acc.nrdone + acc.npdone);
		}
		done_n += (long long)n;
		if (rc == 0 && n < FILL_CHUNK)
			fprintf(stderr, "otas-collector: tag rollups: %lld events"
			                " read, %lld rows written in %.1f s (%.1f s"
			                " writing)\n", done_n, rows_n,
			        (otas__mono_ms() - t0) / 1000, tw / 1000);
		else if (rc == 0 && done_n % 100000 < FILL_CHUNK)
			fprintf(stderr, "otas-collector: tag rollups: %lld events"
			                " read\n", done_n);
	clear:
		for (size_t i = 0; i < nj; i++)
			otas__event_clear(&ev[i]);
		if (step != SQLITE_DONE && step != SQLITE_ROW)
			rc = -1;
		if (rc != 0 || n < FILL_CHUNK)
			break;
	}
done:
	otas__rollup_acc_free(&acc);
	sqlite3_finalize(rd);
	sqlite3_finalize(up);
	sqlite3_finalize(ur);
	free(ev);
	free(jobs);
	return rc;
}

static int
migrate(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int version = 0;
	int target = (int)(sizeof migrations / sizeof *migrations);

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		snprintf(err, errlen, "not an SQLite database");
		return -1;
	}
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (version > target) {
		snprintf(err, errlen,
		         "database schema %d is newer than this collector (%d)",
		         version, target);
		return -1;
	}
	if (version == target)
		return 0;
	for (; version < target; version++) {
		char sql[64];
		if (exec(db, "BEGIN IMMEDIATE") != 0)
			goto fail;
		snprintf(sql, sizeof sql, "PRAGMA user_version=%d", version + 1);
		if (exec(db, migrations[version]) != 0 ||
		    (migrations[version] == sq_tags_migration &&
		     fill_tags(db) != 0) ||
		    exec(db, sql) != 0) {
			/* the reason before ROLLBACK replaces it */
			snprintf(err, errlen, "schema migration %d failed: %s",
			         version + 1, sqlite3_errmsg(db));
			exec(db, "ROLLBACK");
			return -1;
		}
		if (exec(db, "COMMIT") != 0)
			goto fail;
	}
	/* A step that rewrote the table or built an index left every page
	 * it wrote in the WAL (1M events: a GB), and a read looks a page up
	 * in the WAL's index first, one hash table per 4096 frames: readers
	 * ran 20-100x slower (the unfiltered series 2 -> 250-500 ms) until
	 * some later checkpoint.  No reader is open yet: copy it all back
	 * and empty the WAL now. */
	(void)exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	return 0;
fail:
	snprintf(err, errlen, "schema migration failed: %s", sqlite3_errmsg(db));
	return -1;
}

static void sq_close(void *b);

static void *
sq_open(const char *path, int create, char *err, size_t errlen)
{
	sq_t *q = calloc(1, sizeof *q);
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);

	if (!q)
		abort();
	/* No global allocator statistics: they put one mutex around every
	 * SQLite allocation in every thread. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	pthread_mutex_init(&q->adm_lock, NULL);
	pthread_mutex_init(&q->pool_lock, NULL);
	pthread_cond_init(&q->pool_cond, NULL);
	q->path = strdup(path);
	if (!q->path)
		abort();
	if (!create && access(path, F_OK) != 0) {
		snprintf(err, errlen,
		         "database %s not found (run `otas-collector init`)", path);
		goto fail;
	}
	q->adm.db = open_db(path, flags);
	if (!q->adm.db) {
		snprintf(err, errlen, "cannot open database %s", path);
		goto fail;
	}
	if (migrate(q->adm.db, err, errlen) != 0)
		goto fail;
	for (int i = 0; i < OTAS__SQLITE_READERS; i++) {
		q->rd[i].db = open_db(path, SQLITE_OPEN_READWRITE);
		q->rd[i].ev = calloc(EV_VARIANTS, sizeof *q->rd[i].ev);
		if (!q->rd[i].db || !q->rd[i].ev) {
			snprintf(err, errlen, "cannot open database %s", path);
			goto fail;
		}
		/* Readers only read: a stray write would take the lock. */
		exec(q->rd[i].db, "PRAGMA query_only=1");
	}
	return q;
fail:
	sq_close(q);
	return NULL;
}

static void
sq_close(void *b)
{
	sq_t *q = b;

	for (int i = 0; i < OTAS__SQLITE_READERS; i++)
		conn_close(&q->rd[i]);
	conn_close(&q->adm);
	pthread_mutex_destroy(&q->adm_lock);
	pthread_mutex_destroy(&q->pool_lock);
	pthread_cond_destroy(&q->pool_cond);
	free(q->path);
	free(q);
}

/* A read connection from the pool (waits while all are busy). */
static conn_t *
reader_get(sq_t *q)
{
	conn_t *c = NULL;

	pthread_mutex_lock(&q->pool_lock);
	for (;;) {
		for (int i = 0; i < OTAS__SQLITE_READERS && !c; i++)
			if (!q->rd[i].busy)
				c = &q->rd[i];
		if (c)
			break;
		pthread_cond_wait(&q->pool_cond, &q->pool_lock);
	}
	c->busy = 1;
	pthread_mutex_unlock(&q->pool_lock);
	return c;
}

static void
reader_put(sq_t *q, conn_t *c)
{
	pthread_mutex_lock(&q->pool_lock);
	c->busy = 0;
	pthread_cond_signal(&q->pool_cond);
	pthread_mutex_unlock(&q->pool_lock);
}

/* ---- admin ---------------------------------------------------------- */

static int
sq_secret(void *b, const char *name, unsigned char out[32])
{
	sq_t *q = b;
	sqlite3_stmt *s = NULL;
	unsigned char fresh[32];
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	for (int attempt = 0; attempt < 2 && rc != 0; attempt++) {
		if (!(s = stmt(&q->adm, S_SECRET_GET)))
			break;
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_bytes(s, 0) == 32) {
			memcpy(out, sqlite3_column_blob(s, 0), 32);
			rc = 0;
			break;
		}
		sqlite3_reset(s);
		if (attempt || otas__random_bytes(fresh, 32) != 0 ||
		    !(s = stmt(&q->adm, S_SECRET_PUT)))
			break;
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_blob(s, 2, fresh, 32, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE)
			break;
		sqlite3_reset(s);
	}
	if (s)
		sqlite3_reset(s);
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int
sq_project_create(void *b, const char *id, const char *name,
                  const char *desc, int64_t now)
{
	sq_t *q = b;
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	if ((s = stmt(&q->adm, S_PROJECT_INSERT))) {
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, desc, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, now);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(s);
	}
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int
sq_project_each(void *b, int64_t now, otas__project_cb cb, void *arg)
{
	sq_t *q = b;
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	if ((s = stmt(&q->adm, S_PROJECT_LIST))) {
		sqlite3_bind_int64(s, 1, now);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			otas__project_row_t r = {col_text(s, 0), col_text(s, 1),
			                         col_text(s, 2),
			                         sqlite3_column_int64(s, 3),
			                         sqlite3_column_int(s, 4)};
			if (cb(arg, &r))
				break;
		}
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(s);
	}
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int64_t
sq_project_pk(void *b, const char *id)
{
	sq_t *q = b;
	sqlite3_stmt *s;
	int64_t pk = -1;

	pthread_mutex_lock(&q->adm_lock);
	if ((s = stmt(&q->adm, S_PROJECT_PK))) {
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			pk = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
	}
	pthread_mutex_unlock(&q->adm_lock);
	return pk;
}

static int
sq_key_insert(void *b, int64_t pk, const char *prefix, const char *hash,
              int role, int64_t now, int64_t expires_at)
{
	sq_t *q = b;
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	if ((s = stmt(&q->adm, S_KEY_INSERT))) {
		sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, pk);
		sqlite3_bind_text(s, 3, hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, now);
		sqlite3_bind_int64(s, 5, expires_at);
		sqlite3_bind_int(s, 6, role);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(s);
	}
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int
sq_key_lookup(void *b, const char *prefix, otas__key_row_t *out)
{
	sq_t *q = b;
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	if ((s = stmt(&q->adm, S_KEY_LOOKUP))) {
		sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
		switch (sqlite3_step(s)) {
		case SQLITE_DONE:
			rc = 0;
			break;
		case SQLITE_ROW:
			memset(out, 0, sizeof *out);
			copy_col(s, 0, out->hash, sizeof out->hash);
			out->expires_at = sqlite3_column_int64(s, 1);
			out->revoked = sqlite3_column_type(s, 2) != SQLITE_NULL;
			out->role = sqlite3_column_int(s, 3);
			out->proj.pk = sqlite3_column_int64(s, 4);
			copy_col(s, 5, out->proj.id, sizeof out->proj.id);
			copy_col(s, 6, out->proj.name, sizeof out->proj.name);
			copy_col(s, 7, out->proj.description,
			         sizeof out->proj.description);
			rc = 1;
			break;
		default:
			break;
		}
		sqlite3_reset(s);
	}
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int
sq_key_revoke(void *b, const char *prefix, int64_t now)
{
	sq_t *q = b;
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	if ((s = stmt(&q->adm, S_KEY_REVOKE))) {
		sqlite3_bind_int64(s, 1, now);
		sqlite3_bind_text(s, 2, prefix, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_DONE)
			rc = sqlite3_changes(q->adm.db);
		sqlite3_reset(s);
	}
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int
sq_agent_session(void *b, int64_t pk, const char *agent,
                 const char *new_agent_id, const char *session_id,
                 int64_t now, int64_t expires_at, char agent_id_out[37])
{
	sq_t *q = b;
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	if (exec(q->adm.db, "BEGIN IMMEDIATE") != 0)
		goto done;
	if (!(s = stmt(&q->adm, S_AGENT_INSERT)))
		goto rollback;
	sqlite3_bind_text(s, 1, new_agent_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, pk);
	sqlite3_bind_text(s, 3, agent, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	if (sqlite3_step(s) != SQLITE_DONE)
		goto rollback;
	sqlite3_reset(s);
	if (!(s = stmt(&q->adm, S_AGENT_ID)))
		goto rollback;
	sqlite3_bind_int64(s, 1, pk);
	sqlite3_bind_text(s, 2, agent, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_ROW)
		goto rollback;
	copy_col(s, 0, agent_id_out, 37);
	sqlite3_reset(s);
	if (!(s = stmt(&q->adm, S_SESSION_INSERT)))
		goto rollback;
	sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, agent_id_out, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int64(s, 4, expires_at);
	if (sqlite3_step(s) != SQLITE_DONE)
		goto rollback;
	sqlite3_reset(s);
	if (exec(q->adm.db, "COMMIT") == 0) {
		rc = 0;
		goto done;
	}
rollback:
	if (s)
		sqlite3_reset(s);
	exec(q->adm.db, "ROLLBACK");
done:
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

/* ---- writer --------------------------------------------------------- */

static int
fts_wm_read(sq_t *q)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(q->wr.db, "SELECT wm FROM fts_state", -1, &s,
	                       NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		q->fts_wm = sqlite3_column_int64(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

/* path_state.wm, and how many events wait above it. */
static int
path_wm_read(sq_t *q)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(q->wr.db,
	                       "SELECT wm, (SELECT count(*) FROM events WHERE"
	                       " id > wm) FROM path_state",
	                       -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		q->path_wm = sqlite3_column_int64(s, 0);
		q->path_waiting = sqlite3_column_int64(s, 1);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

static int
sq_writer_open(void *b, int w, const otas__writer_opts_t *o)
{
	sq_t *q = b;

	(void)w; /* SQLite has one writer */
	q->wr.db = open_db(q->path, SQLITE_OPEN_READWRITE);
	if (!q->wr.db)
		return -1;
	if (exec(q->wr.db, o->sync_full ? "PRAGMA synchronous=FULL"
	                                : "PRAGMA synchronous=NORMAL") != 0 ||
	    exec(q->wr.db, "PRAGMA wal_autocheckpoint=4000") != 0 ||
	    exec(q->wr.db, "PRAGMA cache_size=-65536") != 0 ||
	    /* The statement journal of the 16-row inserts (and the
	     * writer's sorts) in memory: past 64 KiB SQLite spilled it to
	     * a temporary file, 7.5 KB written an event under the engine's
	     * batches, as many bytes as the WAL and the checkpoint
	     * together.  It is never read after a crash (only to undo a
	     * statement), so durability is the same. */
	    exec(q->wr.db, "PRAGMA temp_store=MEMORY") != 0) {
		conn_close(&q->wr);
		return -1;
	}
	/* The text index on or off, before any reader or ingest runs. */
	if (exec(q->wr.db, "BEGIN IMMEDIATE") != 0)
		goto fail;
	if (o->no_text_index) {
		if (exec(q->wr.db, SQ_FTS_DROP) != 0)
			goto rollback;
	} else {
		sqlite3_stmt *s = NULL;
		int have = 0;
		if (sqlite3_prepare_v2(q->wr.db,
		                       "SELECT 1 FROM sqlite_master WHERE"
		                       " name = 'events_fts'",
		                       -1, &s, NULL) == SQLITE_OK)
			have = sqlite3_step(s) == SQLITE_ROW;
		sqlite3_finalize(s);
		if (!have && exec(q->wr.db, SQ_FTS_DROP SQ_FTS_CREATE) != 0)
			goto rollback;
		if (have && exec(q->wr.db, SQ_FTS_TRIGGERS) != 0)
			goto rollback;
	}
	if (exec(q->wr.db, "COMMIT") != 0)
		goto rollback;
	q->no_fts = o->no_text_index;
	q->fts_chunk = 256;
	q->path_fill_events = o->path_fill_events;
	q->path_last_us = 0; /* the first group fills what is waiting */
	if (fts_wm_read(q) != 0 || path_wm_read(q) != 0)
		goto fail;
	return 0;
rollback:
	fprintf(stderr, "error: text index: %s\n", sqlite3_errmsg(q->wr.db));
	exec(q->wr.db, "ROLLBACK");
fail:
	conn_close(&q->wr);
	return -1;
}

/* metadata.user_id / company_id as json_extract gives them (ingest.h
 * who); the column's TEXT affinity then stores an integer as its text,
 * as it did the generated column's. */
static void
bind_who(sqlite3_stmt *s, int i, unsigned char who, const char *v)
{
	if (who == OTAS__WHO_TEXT && v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else if (who == OTAS__WHO_INT && v)
		sqlite3_bind_int64(s, i, strtoll(v, NULL, 10));
	else
		sqlite3_bind_null(s, i);
}

/* Whether the store reads who from the document (ingest.h who): bit 1
 * user_id, bit 2 company_id. */
static int
who_doc(const otas__event_t *e)
{
	return (e->who[0] == OTAS__WHO_DOC) | (e->who[1] == OTAS__WHO_DOC) << 1;
}

/* One event's parameters from ?(base + 1): the 17 of S_EVENT_INSERT
 * (one), or the 16 of row base / 16 of an insert_n statement. */
static void
bind_event(sqlite3_stmt *ins, int base, const otas__store_job_t *j,
           const otas__event_t *e, int one)
{
	sqlite3_bind_int64(ins, base + 1, j->project_pk);
	sqlite3_bind_text(ins, base + 2, e->event_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, base + 3, e->ts_us ? e->ts_us : j->received_us);
	sqlite3_bind_int64(ins, base + 4, j->received_us);
	sqlite3_bind_text(ins, base + 5, e->method, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, base + 6, e->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, base + 7, e->route ? e->route : e->path, -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(ins, base + 8, e->status);
	sqlite3_bind_double(ins, base + 9, e->latency_ms);
	sqlite3_bind_int(ins, base + 10, e->is_error);
	bind_opt_text(ins, base + 11, e->agent_id);
	bind_opt_text(ins, base + 12, e->agent_session_id);
	sqlite3_bind_int(ins, base + 13, e->agent_verified);
	/* For S_EVENT_INSERT's json_extract, -1: SQLite then knows the
	 * text is NUL-terminated (doc is, and holds no NUL: JSON escapes
	 * it) and a json_extract reads it in place; with a length each one
	 * copied the whole document to terminate it.  The memchr keeps a
	 * document with a NUL whole all the same.  A row that holds no
	 * function (insert_n's, or one whose who the decoder read) gets
	 * the length: -1 cost a strlen of the document, and the memchr a
	 * second pass. */
	if (one && who_doc(e))
		sqlite3_bind_text(ins, base + 14, e->doc,
		                  memchr(e->doc, 0, e->doc_len) ? (int)e->doc_len
		                                                : -1,
		                  SQLITE_STATIC);
	else
		sqlite3_bind_text(ins, base + 14, e->doc, (int)e->doc_len,
		                  SQLITE_STATIC);
	bind_who(ins, base + 15, e->who[0], e->user_id);
	bind_who(ins, base + 16, e->who[1], e->company_id);
	if (one) /* S_EVENT_INSERT's ?17; insert_n's rows have none */
		sqlite3_bind_int(ins, 17, who_doc(e));
}

/* Rows per multi-row insert: a statement's own cost (a cursor opened
 * and closed for the table and each of its seven indexes, the halt) was
 * ~5,600 instructions an event with one row a statement.  Its rows are
 * bound values only, no function: SQLite gives a multi-row statement
 * that holds a function call (json_extract here) a statement journal, a
 * copy of every page it changes (under the engine's batches 7.5 KB an
 * event, written to a temporary file until the writer kept it in
 * memory).  An event whose who the document decides (ingest.h
 * OTAS__WHO_DOC) goes alone through S_EVENT_INSERT, in its place. */
#define SQ_INSERT_ROWS 16
_Static_assert(sizeof ((sq_t *)0)->ins_n / sizeof(sqlite3_stmt *) ==
                   SQ_INSERT_ROWS + 1,
               "sq_t.ins_n holds a statement per row count");

/* S_EVENT_INSERT's columns with `rows` rows of bound VALUES, row r's
 * parameters from ?(16r + 1), into buf. */
static void
insert_n_sql(char *buf, size_t cap, int rows)
{
	const char *v = strstr(sql_text[S_EVENT_INSERT], " VALUES(");
	size_t o = (size_t)(v - sql_text[S_EVENT_INSERT]);

	memcpy(buf, sql_text[S_EVENT_INSERT], o);
	o += (size_t)snprintf(buf + o, cap - o, " VALUES");
	for (int r = 0; r < rows; r++) {
		int b = 16 * r;
		o += (size_t)snprintf(buf + o, cap - o, "%s(", r ? "," : "");
		for (int i = 1; i <= 16; i++)
			o += (size_t)snprintf(buf + o, cap - o, "?%d%s", b + i,
			                      i < 16 ? "," : ")");
	}
}

/* The writer's statement of `rows` rows (2..SQ_INSERT_ROWS), prepared on
 * first use; NULL on failure. */
static sqlite3_stmt *
insert_n(sq_t *q, int rows)
{
	if (!q->ins_n[rows]) {
		char sql[SQ_INSERT_ROWS * 16 * 6 + 512];
		insert_n_sql(sql, sizeof sql, rows);
		if (sqlite3_prepare_v3(q->wr.db, sql, -1, SQLITE_PREPARE_PERSISTENT,
		                       &q->ins_n[rows], NULL) != SQLITE_OK)
			return NULL;
	}
	return q->ins_n[rows];
}

/* After a multi-row insert that stored fewer rows than it had: which
 * were new.  Rows are given ids above the largest before the statement,
 * one more each (the only writer appends; no AUTOINCREMENT), so the
 * statement's are the `changes` ids at the top; an event is new when
 * its (project, event_id) has one of them and no event before it in the
 * chunk had the same (the first of two is the one stored). */
static int
mark_inserted(conn_t *c, otas__store_job_t *j, otas__event_t **ev, int n,
              int changes)
{
	sqlite3_stmt *mx = NULL, *get = stmt(c, S_EVENT_GET);
	int64_t top, ids[SQ_INSERT_ROWS];
	int rc = -1;

	if (!get || sqlite3_prepare_v2(c->db, "SELECT max(id) FROM events", -1,
	                               &mx, NULL) != SQLITE_OK ||
	    sqlite3_step(mx) != SQLITE_ROW)
		goto done;
	top = sqlite3_column_int64(mx, 0);
	for (int i = 0; i < n; i++) {
		sqlite3_reset(get);
		sqlite3_bind_int64(get, 1, j->project_pk);
		sqlite3_bind_text(get, 2, ev[i]->event_id, -1, SQLITE_STATIC);
		ids[i] = sqlite3_step(get) == SQLITE_ROW ? sqlite3_column_int64(get, 0)
		                                         : 0;
		ev[i]->inserted = ids[i] > top - changes;
		for (int k = 0; k < i && ev[i]->inserted; k++)
			if (ids[k] == ids[i])
				ev[i]->inserted = 0;
	}
	sqlite3_reset(get);
	rc = 0;
done:
	sqlite3_finalize(mx);
	return rc;
}

/* Insert one job's events inside the open transaction, in order: runs
 * of up to SQ_INSERT_ROWS a statement (insert_n), a run of one and an
 * event whose who the document decides through ins (S_EVENT_INSERT).
 * 0 ok. */
static int
insert_job(sq_t *q, conn_t *c, sqlite3_stmt *ins, otas__store_job_t *j)
{
	otas__event_t *chunk[SQ_INSERT_ROWS];
	size_t i = 0;

	j->accepted = j->duplicates = 0;
	while (i < j->n) {
		int n = 0;
		/* the next run of events to store, up to one that needs the
		 * document (it goes alone) */
		while (i < j->n && n < SQ_INSERT_ROWS) {
			otas__event_t *e = &j->ev[i];
			if (e->reject || !e->doc) {
				i++;
				continue;
			}
			if (who_doc(e)) {
				if (n == 0) {
					chunk[n++] = e;
					i++;
				}
				break;
			}
			chunk[n++] = e;
			i++;
		}
		if (n >= 2) {
			sqlite3_stmt *insn = insert_n(q, n);
			int changes;
			if (!insn)
				return -1;
			sqlite3_reset(insn);
			for (int r = 0; r < n; r++)
				bind_event(insn, 16 * r, j, chunk[r], 0);
			if (sqlite3_step(insn) != SQLITE_DONE)
				return -1;
			changes = sqlite3_changes(c->db);
			if (changes == n) {
				for (int r = 0; r < n; r++)
					chunk[r]->inserted = 1;
			} else if (mark_inserted(c, j, chunk, n, changes) != 0) {
				return -1;
			}
		} else if (n == 1) {
			sqlite3_reset(ins);
			bind_event(ins, 0, j, chunk[0], 1);
			if (sqlite3_step(ins) != SQLITE_DONE)
				return -1;
			chunk[0]->inserted = sqlite3_changes(c->db) > 0;
		}
		for (int r = 0; r < n; r++)
			if (chunk[r]->inserted)
				j->accepted++;
			else
				j->duplicates++;
	}
	return 0;
}

/* The group's rollup rows (rollup.h), inside its transaction; tags: the
 * tag rollups'.  0 ok. */
static int
upsert_rollups(conn_t *c, otas__store_job_t *batch, int tags)
{
	otas__rollup_row_t *rows;
	size_t n;
	sqlite3_stmt *s = stmt(c, tags ? S_TAGS_UPSERT : S_ROLLUP_UPSERT);
	int rc;

	if (!s || (tags ? otas__rollup_build_tags(batch, &rows, &n)
	                : otas__rollup_build(batch, &rows, &n)) != 0)
		return -1;
	rc = put_rollups(s, rows, n, tags);
	free(rows);
	return rc;
}

/* Rollup rows into s (S_ROLLUP_UPSERT, or S_TAGS_UPSERT: tags). */
static int
put_rollups(sqlite3_stmt *s, const otas__rollup_row_t *rows, size_t n,
            int tags)
{
	unsigned char blob[4 * OTAS__HIST_BINS];
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		const otas__rollup_row_t *r = &rows[i];
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, r->project);
		sqlite3_bind_int64(s, 2, r->res_s);
		sqlite3_bind_int64(s, 3, r->bucket_us);
		sqlite3_bind_text(s, 4, r->method, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, r->route, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, r->status);
		sqlite3_bind_int(s, 7, r->unmatched);
		sqlite3_bind_int64(s, 8, r->n);
		sqlite3_bind_int64(s, 9, r->errors);
		sqlite3_bind_double(s, 10, r->lat_sum);
		sqlite3_bind_double(s, 11, r->lat_min);
		sqlite3_bind_double(s, 12, r->lat_max);
		sqlite3_bind_blob(s, 13, blob, (int)otas__hist_blob(r->hist, blob),
		                  SQLITE_TRANSIENT);
		if (tags)
			sqlite3_bind_text(s, 14, r->tag, -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE)
			rc = -1;
	}
	sqlite3_reset(s);
	return rc;
}

/* People rows into s (S_PEOPLE_UPSERT, or S_PTAGS_UPSERT: tags). */
static int
put_people(sqlite3_stmt *s, const otas__people_agg_t *rows, size_t n,
           int tags)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		const otas__people_agg_t *r = &rows[i];
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, r->project);
		sqlite3_bind_int64(s, 2, r->res_s);
		sqlite3_bind_int64(s, 3, r->bucket_us);
		sqlite3_bind_text(s, 4, otas__people_kind(r->company), -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, r->id, -1, SQLITE_STATIC);
		bind_opt_text(s, 6, r->company_id);
		sqlite3_bind_int64(s, 7, r->n);
		sqlite3_bind_int64(s, 8, r->errors);
		sqlite3_bind_int64(s, 9, r->first_us);
		sqlite3_bind_int64(s, 10, r->last_us);
		if (tags)
			sqlite3_bind_text(s, 11, r->tag, -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE)
			rc = -1;
	}
	sqlite3_reset(s);
	return rc;
}

/* The group's people rollup rows, likewise; tags: the tag ones.  0 ok. */
static int
upsert_people(conn_t *c, otas__store_job_t *batch, int tags)
{
	otas__people_agg_t *rows;
	size_t n;
	sqlite3_stmt *s = stmt(c, tags ? S_PTAGS_UPSERT : S_PEOPLE_UPSERT);
	int rc;

	if (!s || (tags ? otas__people_build_tags(batch, &rows, &n)
	                : otas__people_build(batch, &rows, &n)) != 0)
		return -1;
	rc = put_people(s, rows, n, tags);
	free(rows);
	return rc;
}

/* The path table (schema 15) is filled when this many events wait above
 * its watermark, or at the first group this long after the last fill:
 * one fill writes each leaf it touches once for all those events.  A
 * scan reads the rows above the watermark from events by their ids
 * (at most about a second's, or this many). */
#ifndef SQ_PATH_FILL_EVENTS
#define SQ_PATH_FILL_EVENTS 4096
#endif
#ifndef SQ_PATH_FILL_US
#define SQ_PATH_FILL_US 1000000
#endif

/* Inside the group's transaction: the events above the watermark into
 * the path table when it is time (above).  *hi the new watermark, or
 * -1 when nothing was done.  0 ok. */
static int
path_fill(sq_t *q, int64_t now_us, int64_t *hi)
{
	sqlite3_stmt *s = NULL;
	char sql[384];
	int64_t top;
	int rc = -1;

	*hi = -1;
	if (q->path_waiting <= 0)
		return 0;
	if (q->path_fill_events > 0 ? q->path_waiting < q->path_fill_events
	                            : q->path_waiting < SQ_PATH_FILL_EVENTS &&
	                                  now_us - q->path_last_us < SQ_PATH_FILL_US)
		return 0;
	if (sqlite3_prepare_v2(q->wr.db, "SELECT coalesce(max(id), 0) FROM events",
	                       -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		goto done;
	top = sqlite3_column_int64(s, 0);
	if (top <= q->path_wm) {
		rc = 0;
		goto done;
	}
	snprintf(sql, sizeof sql,
	         "INSERT INTO events_path SELECT project, path, ts, id, method,"
	         " route, status, latency_ms, is_error FROM events"
	         " WHERE id > %lld AND id <= %lld;"
	         "UPDATE path_state SET wm = %lld;",
	         (long long)q->path_wm, (long long)top, (long long)top);
	if (exec(q->wr.db, sql) != 0)
		goto done;
	*hi = top;
	rc = 0;
done:
	sqlite3_finalize(s);
	return rc;
}

static int
sq_writer_commit(void *b, int w, otas__store_job_t *batch, int fail)
{
	sq_t *q = b;
	sqlite3_stmt *ins = stmt(&q->wr, S_EVENT_INSERT);
	otas__store_job_t *j;
	int64_t now_us = otas__now_us(), path_hi = -1, added = 0;
	int rc;

	(void)w;
	rc = ins && exec(q->wr.db, "BEGIN IMMEDIATE") == 0 ? 0 : -1;
	for (j = batch; rc == 0 && j; j = j->next) {
		rc = insert_job(q, &q->wr, ins, j);
		added += j->accepted;
	}
	if (rc == 0)
		rc = upsert_rollups(&q->wr, batch, 0);
	if (rc == 0)
		rc = upsert_rollups(&q->wr, batch, 1);
	if (rc == 0)
		rc = upsert_people(&q->wr, batch, 0);
	if (rc == 0)
		rc = upsert_people(&q->wr, batch, 1);
	if (rc == 0) {
		q->path_waiting += added;
		rc = path_fill(q, now_us, &path_hi);
	}
	if (rc == 0 && fail)
		rc = -1; /* testing: as if the disk were full */
	if (rc == 0 && exec(q->wr.db, "COMMIT") != 0)
		rc = -1;
	if (rc == 0 && path_hi >= 0) {
		q->path_wm = path_hi;
		q->path_waiting = 0;
		q->path_last_us = now_us;
	} else if (rc != 0) {
		q->path_waiting -= added; /* rolled back */
	}
	if (rc != 0) {
		fprintf(stderr, "error: commit failed: %s\n",
		        fail ? "test failure" : sqlite3_errmsg(q->wr.db));
		exec(q->wr.db, "ROLLBACK");
	}
	if (ins)
		sqlite3_reset(ins);
	for (int k = 2; k <= SQ_INSERT_ROWS; k++)
		if (q->ins_n[k]) {
			sqlite3_reset(q->ins_n[k]);
			/* no pointer into the jobs */
			sqlite3_clear_bindings(q->ins_n[k]);
		}
	return rc;
}

static int
sq_writer_maintain(void *b, int64_t now_us, int retain_days,
                   otas__store_stats_t *acc)
{
	sq_t *q = b;
	int64_t cutoff = now_us - (int64_t)retain_days * 86400 * 1000000;
	int64_t pks[4096];
	size_t npk = 0;
	sqlite3_stmt *s;
	int rc = 0;

	if (retain_days <= 0)
		return 0;
	if (!(s = stmt(&q->wr, S_PROJECTS_ALL)))
		return -1;
	while (sqlite3_step(s) == SQLITE_ROW && npk < 4096)
		pks[npk++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	/* Chunks of 5000 rows, each its own transaction, so ingest commits
	 * in between. */
	for (size_t i = 0; i < npk && rc == 0; i++) {
		for (;;) {
			int n;
			if (!(s = stmt(&q->wr, S_RETAIN_DELETE))) {
				rc = -1;
				break;
			}
			sqlite3_bind_int64(s, 1, pks[i]);
			sqlite3_bind_int64(s, 2, cutoff);
			if (sqlite3_step(s) != SQLITE_DONE) {
				sqlite3_reset(s);
				rc = -1;
				break;
			}
			n = sqlite3_changes(q->wr.db);
			sqlite3_reset(s);
			acc->retention_deleted_events += n;
			if (n < 5000)
				break;
		}
		/* the rollups of the deleted events */
		static const int retain[] = {S_RETAIN_ROLLUPS, S_RETAIN_PEOPLE,
		                             S_RETAIN_TAGS, S_RETAIN_PTAGS};
		for (size_t t = 0; rc == 0 && t < sizeof retain / sizeof *retain;
		     t++) {
			if (!(s = stmt(&q->wr, retain[t]))) {
				rc = -1;
				break;
			}
			sqlite3_bind_int64(s, 1, pks[i]);
			sqlite3_bind_int64(s, 2, cutoff);
			if (sqlite3_step(s) != SQLITE_DONE)
				rc = -1;
			sqlite3_reset(s);
		}
	}
	/* A deleted newest row lets SQLite give its id to the next event:
	 * keep the watermark below every id still to come. */
	if (!q->no_fts &&
	    (exec(q->wr.db, "UPDATE fts_state SET wm = min(wm, coalesce("
	                    "(SELECT max(id) FROM events), 0))") != 0 ||
	     fts_wm_read(q) != 0))
		rc = -1;
	if (exec(q->wr.db, "UPDATE path_state SET wm = min(wm, coalesce("
	                   "(SELECT max(id) FROM events), 0))") != 0 ||
	    path_wm_read(q) != 0)
		rc = -1;
	if (exec(q->wr.db, "PRAGMA incremental_vacuum") != 0)
		rc = -1;
	return rc;
}

/* Chunk size bounds: the transaction aims at OTAS__TEXT_INDEX_CHUNK_MS
 * (the longest an ingest group waits for the indexer), the size adapts
 * to what the last chunk took. */
#ifndef OTAS__TEXT_INDEX_CHUNK_MS
#define OTAS__TEXT_INDEX_CHUNK_MS 10
#endif
#define SQ_CHUNK_MIN 32
#define SQ_CHUNK_MAX 10000

/* One indexer step: the next fts_chunk events above the watermark into
 * the index and the watermark past them, one transaction.  Returns the
 * number indexed (0: caught up), -1 on failure. */
static int
sq_writer_index(void *b, int w)
{
	sq_t *q = b;
	sqlite3_stmt *s;
	int64_t hi = 0, t0 = otas__now_us(), us;
	int n = 0;

	(void)w;
	if (q->no_fts)
		return 0;
	if (exec(q->wr.db, "BEGIN IMMEDIATE") != 0)
		return -1;
	if (!(s = stmt(&q->wr, S_FTS_NEXT)))
		goto fail;
	sqlite3_bind_int64(s, 1, q->fts_wm);
	sqlite3_bind_int(s, 2, q->fts_chunk);
	if (sqlite3_step(s) != SQLITE_ROW)
		goto fail;
	n = sqlite3_column_int(s, 0);
	hi = sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	if (n == 0) {
		exec(q->wr.db, "ROLLBACK");
		return 0;
	}
	if (!(s = stmt(&q->wr, S_FTS_INSERT)))
		goto fail;
	sqlite3_bind_int64(s, 1, q->fts_wm);
	sqlite3_bind_int64(s, 2, hi);
	if (sqlite3_step(s) != SQLITE_DONE)
		goto fail;
	sqlite3_reset(s);
	if (!(s = stmt(&q->wr, S_FTS_WM)))
		goto fail;
	sqlite3_bind_int64(s, 1, hi);
	if (sqlite3_step(s) != SQLITE_DONE)
		goto fail;
	sqlite3_reset(s);
	if (exec(q->wr.db, "COMMIT") != 0)
		goto fail;
	q->fts_wm = hi;
	us = otas__now_us() - t0;
	if (us > OTAS__TEXT_INDEX_CHUNK_MS * 1000 && q->fts_chunk > SQ_CHUNK_MIN)
		q->fts_chunk /= 2;
	else if (us < OTAS__TEXT_INDEX_CHUNK_MS * 500 && n == q->fts_chunk &&
	         q->fts_chunk < SQ_CHUNK_MAX)
		q->fts_chunk *= 2;
	return n;
fail:
	fprintf(stderr, "error: text indexer: %s\n", sqlite3_errmsg(q->wr.db));
	if (s)
		sqlite3_reset(s);
	exec(q->wr.db, "ROLLBACK");
	return -1;
}

static void
sq_writer_close(void *b, int w)
{
	sq_t *q = b;

	(void)w;
	/* Fold the WAL back so the database file stands alone. */
	sqlite3_wal_checkpoint_v2(q->wr.db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	                          NULL, NULL);
	for (int k = 0; k <= SQ_INSERT_ROWS; k++) {
		sqlite3_finalize(q->ins_n[k]);
		q->ins_n[k] = NULL;
	}
	conn_close(&q->wr);
}

/* ---- queries -------------------------------------------------------- */

#define EVENT_COLS \
	"id, ts, received_at, agent_id, agent_session_id, agent_verified, doc," \
	" event_id"

static int
event_row(sqlite3_stmt *s, otas__event_cb cb, void *arg)
{
	otas__event_row_t r;

	r.id = sqlite3_column_int64(s, 0);
	r.ts_us = sqlite3_column_int64(s, 1);
	r.received_us = sqlite3_column_int64(s, 2);
	r.agent_id = col_text(s, 3);
	r.agent_session_id = col_text(s, 4);
	r.agent_verified = sqlite3_column_int(s, 5);
	r.doc = col_text(s, 6);
	r.doc_len = (size_t)sqlite3_column_bytes(s, 6);
	r.event_id = col_text(s, 7);
	return cb(arg, &r);
}

static sqlite3_stmt *
events_stmt(conn_t *c, const otas__event_query_t *q)
{
	unsigned mask = (q->path ? 1u : 0) | (q->route ? 2u : 0) |
	                (q->method ? 4u : 0) | (q->status >= 0 ? 8u : 0) |
	                (q->agent_session_id ? 16u : 0) |
	                (q->has_cursor ? 32u : 0) | (q->user_id ? 64u : 0) |
	                (q->company_id ? 128u : 0);
	char sql[1024];

	if (!c->ev[mask]) {
		snprintf(sql, sizeof sql,
		         "SELECT " EVENT_COLS " FROM events WHERE project=?1"
		         " AND ts >= ?2 AND ts <= ?3%s%s%s%s%s%s%s%s"
		         " ORDER BY ts DESC, id DESC LIMIT ?11",
		         mask & 1 ? " AND path = ?4" : "",
		         mask & 2 ? " AND route = ?5" : "",
		         mask & 4 ? " AND method = ?6" : "",
		         mask & 8 ? " AND status = ?7" : "",
		         mask & 16 ? " AND agent_session_id = ?8" : "",
		         mask & 32 ? " AND (ts < ?9 OR (ts = ?9 AND id < ?10))" : "",
		         mask & 64 ? " AND user_id = ?12" : "",
		         mask & 128 ? " AND company_id = ?13" : "");
		if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
		                       &c->ev[mask], NULL) != SQLITE_OK)
			return NULL;
	}
	sqlite3_reset(c->ev[mask]);
	sqlite3_clear_bindings(c->ev[mask]);
	return c->ev[mask];
}

static int
sq_events_each(void *b, int64_t pk, const otas__event_query_t *q,
               otas__event_cb cb, void *arg)
{
	sq_t *st = b;
	conn_t *c = reader_get(st);
	sqlite3_stmt *s = events_stmt(c, q);
	int rc = -1;

	if (!s)
		goto done;
	sqlite3_bind_int64(s, 1, pk);
	sqlite3_bind_int64(s, 2, q->since_us);
	sqlite3_bind_int64(s, 3, q->until_us);
	if (q->path)
		sqlite3_bind_text(s, 4, q->path, -1, SQLITE_STATIC);
	if (q->route)
		sqlite3_bind_text(s, 5, q->route, -1, SQLITE_STATIC);
	if (q->method)
		sqlite3_bind_text(s, 6, q->method, -1, SQLITE_STATIC);
	if (q->status >= 0)
		sqlite3_bind_int64(s, 7, q->status);
	if (q->agent_session_id)
		sqlite3_bind_text(s, 8, q->agent_session_id, -1, SQLITE_STATIC);
	if (q->has_cursor) {
		sqlite3_bind_int64(s, 9, q->cursor_ts);
		sqlite3_bind_int64(s, 10, q->cursor_id);
	}
	sqlite3_bind_int64(s, 11, q->limit + 1);
	if (q->user_id)
		sqlite3_bind_text(s, 12, q->user_id, -1, SQLITE_STATIC);
	if (q->company_id)
		sqlite3_bind_text(s, 13, q->company_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (event_row(s, cb, arg))
			break;
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(s);
done:
	reader_put(st, c);
	return rc;
}

static int
sq_event_find(void *b, int64_t pk, const char *event_id, otas__event_cb cb,
              void *arg)
{
	sq_t *st = b;
	conn_t *c = reader_get(st);
	sqlite3_stmt *s = stmt(c, S_EVENT_GET);
	int rc = -1;

	if (s) {
		sqlite3_bind_int64(s, 1, pk);
		sqlite3_bind_text(s, 2, event_id, -1, SQLITE_STATIC);
		switch (sqlite3_step(s)) {
		case SQLITE_ROW:
			event_row(s, cb, arg);
			rc = 1;
			break;
		case SQLITE_DONE:
			rc = 0;
			break;
		}
		sqlite3_reset(s);
	}
	reader_put(st, c);
	return rc;
}

static int
sq_samples_each(void *b, int64_t pk, const otas__sample_query_t *q,
                otas__sample_cb cb, void *arg)
{
	sq_t *st = b;
	conn_t *c = reader_get(st);
	int which = q->kind == OTAS__SAMPLES_ENDPOINTS ? S_SAMPLES_EP
	            : q->kind == OTAS__SAMPLES_DAILY   ? S_SAMPLES_DAY
	                                               : S_SAMPLES_ROUTE;
	sqlite3_stmt *s = stmt(c, which);
	int rc = -1;

	if (!s)
		goto done;
	sqlite3_bind_int64(s, 1, pk);
	sqlite3_bind_int64(s, 2, q->since_us);
	sqlite3_bind_int64(s, 3, q->until_us);
	if (which == S_SAMPLES_ROUTE) {
		sqlite3_bind_text(s, 4, q->method, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, q->route, -1, SQLITE_STATIC);
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		otas__sample_t x = {0};
		if (which == S_SAMPLES_EP) {
			x.method = col_text(s, 0);
			x.route = col_text(s, 1);
			x.latency_ms = sqlite3_column_double(s, 2);
			x.is_error = sqlite3_column_int(s, 3);
		} else if (which == S_SAMPLES_DAY) {
			x.day = sqlite3_column_int64(s, 0);
			x.latency_ms = sqlite3_column_double(s, 1);
			x.is_error = sqlite3_column_int(s, 2);
		} else {
			x.latency_ms = sqlite3_column_double(s, 0);
			x.is_error = sqlite3_column_int(s, 1);
		}
		if (cb(arg, &x))
			break;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(s);
done:
	reader_put(st, c);
	return rc;
}

static int
sq_sessions_each(void *b, int64_t pk, otas__session_cb cb, void *arg)
{
	sq_t *st = b;
	conn_t *c = reader_get(st);
	sqlite3_stmt *s = stmt(c, S_SESSIONS);
	int rc = -1;

	if (s) {
		sqlite3_bind_int64(s, 1, pk);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			otas__session_row_t r = {
			    col_text(s, 0),           col_text(s, 1),
			    sqlite3_column_int(s, 2), sqlite3_column_int64(s, 3),
			    sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 5),
			    sqlite3_column_int64(s, 6)};
			if (cb(arg, &r))
				break;
		}
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(s);
	}
	reader_put(st, c);
	return rc;
}

/* Latest update wins field by field; json_patch (RFC 7396) merges the
 * nested metadata object and drops members set to null. */
static int
sq_entities_upsert(void *b, int64_t pk, const otas__entity_t *e, size_t n,
                   int64_t now_us)
{
	sq_t *q = b;
	sqlite3_stmt *s = NULL;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	if (exec(q->adm.db, "BEGIN IMMEDIATE") != 0)
		goto done;
	if (!(s = stmt(&q->adm, S_ENTITY_UPSERT)))
		goto rollback;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, pk);
		sqlite3_bind_text(s, 2, e[i].kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, e[i].id, -1, SQLITE_STATIC);
		bind_opt_text(s, 4, e[i].company_id);
		sqlite3_bind_text(s, 5, e[i].doc, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, now_us);
		if (sqlite3_step(s) != SQLITE_DONE)
			goto rollback;
	}
	sqlite3_reset(s);
	if (exec(q->adm.db, "COMMIT") == 0) {
		rc = 0;
		goto done;
	}
rollback:
	if (s)
		sqlite3_reset(s);
	exec(q->adm.db, "ROLLBACK");
done:
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int
sq_entities_each(void *b, int64_t pk, const char *kind,
                 const char *company_id, long limit, otas__entity_cb cb,
                 void *arg)
{
	sq_t *st = b;
	conn_t *c = reader_get(st);
	sqlite3_stmt *s = stmt(c, S_ENTITIES);
	int rc = -1;

	if (s) {
		sqlite3_bind_int64(s, 1, pk);
		bind_opt_text(s, 2, kind);
		bind_opt_text(s, 3, company_id);
		sqlite3_bind_int64(s, 4, limit);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			otas__entity_row_t r = {col_text(s, 0), col_text(s, 1),
			                        (size_t)sqlite3_column_bytes(s, 1),
			                        sqlite3_column_int64(s, 2),
			                        sqlite3_column_int64(s, 3)};
			if (cb(arg, &r))
				break;
		}
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(s);
	}
	reader_put(st, c);
	return rc;
}

/* ---- dashboard scans ------------------------------------------------ */

/* The text as one FTS5 string ("..." with " doubled): every character
 * literal, no operator (NEAR, -, *, :, ^, AND) can be injected.  With
 * the trigram tokenizer a string matches where it is a substring.
 * malloc'd. */
static char *
fts_phrase(const char *t)
{
	size_t n = strlen(t);
	char *p = malloc(2 * n + 3), *w = p;

	if (!p)
		abort();
	*w++ = '"';
	for (; *t; t++) {
		if (*t == '"')
			*w++ = '"';
		*w++ = *t;
	}
	*w++ = '"';
	*w = '\0';
	return p;
}

/* "%text%" for LIKE ... ESCAPE '\': malloc'd. */
static char *
like_pattern(const char *t)
{
	size_t n = strlen(t);
	char *p = malloc(2 * n + 3), *w = p;

	if (!p)
		abort();
	*w++ = '%';
	for (; *t; t++) {
		if (*t == '%' || *t == '_' || *t == '\\')
			*w++ = '\\';
		*w++ = *t;
	}
	*w++ = '%';
	*w = '\0';
	return p;
}

/* A text matching at least this many events is "common": a page of the
 * newest is found sooner by walking the time index and checking each
 * row's text (LIKE, ~4 us a row) than by reading every match from the
 * index and sorting them (1M matches: ~0.5 s).  Measured on 1M events,
 * see bench/bench_search.py. */
#ifndef OTAS__SQ_COMMON_TEXT
#define OTAS__SQ_COMMON_TEXT 20000
#endif

/* 1 when phrase matches OTAS__SQ_COMMON_TEXT events or more (a few ms:
 * the index stops counting there). */
static int
text_is_common(conn_t *c, const char *phrase)
{
	sqlite3_stmt *s = NULL;
	int common = 0;

	if (sqlite3_prepare_v2(c->db,
	                       "SELECT count(*) FROM (SELECT 1 FROM events_fts"
	                       " WHERE events_fts MATCH ?1 LIMIT ?2)",
	                       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, phrase, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, OTAS__SQ_COMMON_TEXT);
		common = sqlite3_step(s) == SQLITE_ROW &&
		         sqlite3_column_int(s, 0) >= OTAS__SQ_COMMON_TEXT;
	}
	sqlite3_finalize(s);
	return common;
}

static int
is_ascii(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t >= 0x80)
			return 0;
	return 1;
}

/* Progress handler: nonzero (interrupt) past the deadline. */
static int
past_deadline(void *arg)
{
	return otas__now_us() > *(const int64_t *)arg;
}

/* Index entries the path plan's choice counts at most (each costs
 * about 0.05 us: both counts together stay under ~10 ms). */
#ifndef OTAS__SQ_PATH_PROBE
#define OTAS__SQ_PATH_PROBE 100000
#endif

/* Entries of one index range, at most OTAS__SQ_PATH_PROBE. */
static long
probe_count(conn_t *c, const char *sql, int64_t pk, const void *a,
            size_t alen, int64_t b, const void *bh, size_t blen, int text)
{
	sqlite3_stmt *s = NULL;
	long n = OTAS__SQ_PATH_PROBE;

	if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, pk);
		if (text) {
			sqlite3_bind_text(s, 2, a, (int)alen, SQLITE_STATIC);
			if (blen)
				sqlite3_bind_text(s, 3, bh, (int)blen, SQLITE_STATIC);
			else
				sqlite3_bind_null(s, 3);
		} else {
			sqlite3_bind_int64(s, 2, *(const int64_t *)a);
			sqlite3_bind_int64(s, 3, b);
		}
		sqlite3_bind_int(s, 4, OTAS__SQ_PATH_PROBE);
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int(s, 0);
	}
	sqlite3_finalize(s);
	return n;
}

/* 1: walk events_path (project, path, ts, method, route, status,
 * latency_ms, is_error) for q's path prefix [lo, hi), not the time index.
 * The path index holds every time: it is worth it when the paths with
 * that head (all time, P) are fewer than the events of the range (T).
 * Both counts stop at OTAS__SQ_PATH_PROBE, so a head that common walks
 * the time index as before.  A page (ordered, limited) takes it only
 * under OTAS__SQ_COMMON_TEXT matches (it sorts them all).  With a user or
 * company filter their index decides, with text the text index. */
static int
path_plan(conn_t *c, int64_t pk, const otas__scan_query_t *q,
          const char *hi, size_t hi_len)
{
	long p, t;

	if (q->text || q->user_id || q->company_id)
		return 0;
	p = probe_count(c,
	                "SELECT count(*) FROM (SELECT 1 FROM events_path WHERE"
	                " project = ?1 AND path >= ?2 AND"
	                " (?3 IS NULL OR path < ?3) LIMIT ?4)",
	                pk, q->path_prefix, q->path_prefix_len, 0, hi, hi_len, 1);
	if (p >= OTAS__SQ_PATH_PROBE)
		return 0;
	if (!q->any_order && p >= OTAS__SQ_COMMON_TEXT)
		return 0;
	t = probe_count(c,
	                "SELECT count(*) FROM (SELECT 1 FROM events INDEXED BY"
	                " events_ts WHERE project = ?1 AND ts >= ?2 AND ts < ?3"
	                " LIMIT ?4)",
	                pk, &q->since_us, 0, q->until_us, NULL, 0, 0);
	return p < t;
}

/* Built per call (the filter combinations are many and a scan is long
 * next to a prepare). */
static int
sq_scan(void *b, int64_t pk, const otas__scan_query_t *q, otas__scan_cb cb,
        void *arg)
{
	sq_t *st = b;
	conn_t *c;
	sqlite3_stmt *s = NULL;
	char part[12288], tailpart[12400], sql[32768], ranges[2048] = "";
	char cols[1024], conds[3072];
	char *like = NULL, *tail = NULL, *hi = NULL;
	size_t hi_len = 0;
	int64_t deadline = 0;
	int rc = -1, common = 0, by_path = 0;

	if (q->path_prefix_len) {
		/* [prefix, the next string of its length): text compares as
		 * bytes (BINARY), so the range is the paths starting with it
		 * (path_plan decides whether events_path walks it) */
		hi = malloc(q->path_prefix_len);
		if (!hi)
			abort();
		memcpy(hi, q->path_prefix, q->path_prefix_len);
		hi_len = q->path_prefix_len;
		while (hi_len && (unsigned char)hi[hi_len - 1] == 0xff)
			hi_len--;
		if (hi_len)
			hi[hi_len - 1]++;
	}
	c = reader_get(st);
	if (q->text) {
		like = fts_phrase(q->text);
		/* Only a page of the newest wanted, and LIKE folds the same
		 * case as the index (ASCII): a common text walks the time
		 * index instead. */
		if (st->no_fts ||
		    (q->limit > 0 && !q->any_order && is_ascii(q->text) &&
		     text_is_common(c, like))) {
			free(like);
			like = like_pattern(q->text);
			common = 1;
		}
	}
	if (q->path_prefix_len)
		by_path = path_plan(c, pk, q, hi, hi_len);
	if (q->n_ts_ranges > 0 && q->n_ts_ranges <= OTAS__SCAN_MAX_RANGES) {
		/* numbers only: written into the statement */
		size_t o = 0;
		for (int i = 0; i < q->n_ts_ranges; i++)
			o += (size_t)snprintf(ranges + o, sizeof ranges - o,
			                      "%s(ts >= %lld AND ts < %lld)",
			                      i ? " OR " : " AND (",
			                      (long long)q->ts_ranges[2 * i],
			                      (long long)q->ts_ranges[2 * i + 1]);
		snprintf(ranges + o, sizeof ranges - o, ")");
	}
	snprintf(cols, sizeof cols,
	         "id, ts, %s, method, path, route, status,"
	         " latency_ms, is_error, %s, %s, %s, %s",
	         /* lean only on the path plan: elsewhere a lean select
	          * would be covered by events_path, and a full walk of a
	          * covering index can look cheaper to the planner than a
	          * minute of the time index and its rows */
	         q->lean && by_path ? "NULL" : "event_id",
	         q->lean && by_path ? "NULL, NULL" : "agent_id, agent_session_id",
	         q->want_who ? "user_id, company_id" : "NULL, NULL",
	         q->want_doc ? "doc" : "NULL",
	         q->want_text ? SQ_SEARCH_TEXT : "NULL");
	snprintf(conds, sizeof conds, "%s%s%s%s%s%s%s%s%s%s%s",
	         ranges,
	         q->method ? " AND method = ?4" : "",
	         q->route ? " AND route = ?5" : "",
	         q->agent_id ? " AND agent_id = ?6" : "",
	         q->agent_session_id ? " AND agent_session_id = ?7" : "",
	         q->user_id ? " AND user_id = ?8" : "",
	         q->company_id ? " AND company_id = ?9" : "",
	         !q->path_prefix_len ? ""
	         : !by_path ? (hi_len ? " AND +path >= ?17 AND +path < ?18"
	                              : " AND +path >= ?17")
	         : hi_len   ? " AND path >= ?17 AND path < ?18"
	                    : " AND path >= ?17",
	         q->status_min > 0 ? " AND status >= ?10" : "",
	         q->status_max > 0 ? " AND status <= ?11" : "",
	         q->errors_only ? " AND (status >= 400 OR is_error)" : "");
	snprintf(conds + strlen(conds), sizeof conds - strlen(conds), "%s%s",
	         q->agents_only ? " AND agent_id IS NOT NULL" : "",
	         q->has_cursor ? " AND (ts < ?13 OR (ts = ?13 AND id < ?14))" : "");
	if (!by_path) {
		/* with spans, they alone walk the index (one seek each, the
		 * OR optimisation), not the range around them */
		snprintf(part, sizeof part,
		         "SELECT %s FROM events WHERE project=?1 AND %sts >= ?2"
		         " AND %sts < ?3%s",
		         cols, *ranges ? "+" : "", *ranges ? "+" : "", conds);
	} else {
		/* The path table (schema 15) holds the events up to
		 * path_state.wm (read in this statement's snapshot, so it
		 * agrees with the table); the few above it are read from
		 * events by their ids.  A lean select with no agent filter
		 * reads the path table alone (it holds those columns);
		 * anything else takes its ids to the events. */
		int alone = q->lean && !q->want_who && !q->want_doc &&
		            !q->want_text && !q->agent_id &&
		            !q->agent_session_id && !q->agents_only;
		char head[5120];
		if (alone)
			snprintf(head, sizeof head,
			         "SELECT %s FROM events_path WHERE project=?1 AND"
			         " %sts >= ?2 AND %sts < ?3%s",
			         cols, *ranges ? "+" : "", *ranges ? "+" : "",
			         conds);
		else
			snprintf(head, sizeof head,
			         "SELECT %s FROM events WHERE id IN (SELECT id FROM"
			         " events_path WHERE project=?1 AND path >= ?17%s"
			         " AND ts >= ?2 AND ts < ?3) AND +project=?1 AND"
			         " +ts >= ?2 AND +ts < ?3%s",
			         cols, hi_len ? " AND path < ?18" : "", conds);
		snprintf(part, sizeof part,
		         "%s UNION ALL SELECT %s FROM events NOT INDEXED WHERE"
		         " id > (SELECT wm FROM path_state) AND project=?1 AND"
		         " ts >= ?2 AND ts < ?3%s",
		         head, cols, conds);
	}
	/* With the index: the indexed rows (id <= fts_state.wm, read in this
	 * statement's snapshot, so it agrees with the index) through it, and
	 * the tail the indexer has not reached yet by LIKE on its rows (a
	 * range of ids: only the events of the last moments). */
	/* The tail by its rowid range (NOT INDEXED: the planner would
	 * otherwise walk the time index over the whole range). */
	if (q->text) {
		const char *f = strstr(part, " FROM events WHERE");
		snprintf(tailpart, sizeof tailpart,
		         "%.*s FROM events NOT INDEXED WHERE%s", (int)(f - part),
		         part, f + strlen(" FROM events WHERE"));
	}
	snprintf(sql, sizeof sql, "%s%s%s%s%s%s", part,
	         !q->text ? ""
	         : common ? " AND " SQ_SEARCH_TEXT " LIKE ?12 ESCAPE '\\'"
	                  : " AND id IN (SELECT rowid FROM events_fts WHERE"
	                    " events_fts MATCH ?12) UNION ALL ",
	         q->text && !common ? tailpart : "",
	         q->text && !common
	             ? " AND id > (SELECT wm FROM fts_state)"
	               " AND " SQ_SEARCH_TEXT " LIKE ?16 ESCAPE '\\'"
	             : "",
	         q->any_order ? "" : " ORDER BY ts DESC, id DESC",
	         q->limit > 0 ? " LIMIT ?15" : "");
	if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "error: prepare failed: %s\n", sqlite3_errmsg(c->db));
		goto done;
	}
	sqlite3_bind_int64(s, 1, pk);
	sqlite3_bind_int64(s, 2, q->since_us);
	sqlite3_bind_int64(s, 3, q->until_us);
	if (q->method)
		sqlite3_bind_text(s, 4, q->method, -1, SQLITE_STATIC);
	if (q->route)
		sqlite3_bind_text(s, 5, q->route, -1, SQLITE_STATIC);
	if (q->agent_id)
		sqlite3_bind_text(s, 6, q->agent_id, -1, SQLITE_STATIC);
	if (q->agent_session_id)
		sqlite3_bind_text(s, 7, q->agent_session_id, -1, SQLITE_STATIC);
	if (q->user_id)
		sqlite3_bind_text(s, 8, q->user_id, -1, SQLITE_STATIC);
	if (q->company_id)
		sqlite3_bind_text(s, 9, q->company_id, -1, SQLITE_STATIC);
	if (q->path_prefix_len) {
		sqlite3_bind_text(s, 17, q->path_prefix, (int)q->path_prefix_len,
		                  SQLITE_STATIC);
		if (hi_len)
			sqlite3_bind_text(s, 18, hi, (int)hi_len, SQLITE_STATIC);
	}
	if (q->status_min > 0)
		sqlite3_bind_int64(s, 10, q->status_min);
	if (q->status_max > 0)
		sqlite3_bind_int64(s, 11, q->status_max);
	if (q->text)
		sqlite3_bind_text(s, 12, like, -1, SQLITE_STATIC);
	if (q->text && !common) {
		tail = like_pattern(q->text);
		sqlite3_bind_text(s, 16, tail, -1, SQLITE_STATIC);
	}
	if (q->budget_ms > 0) {
		deadline = otas__now_us() + (int64_t)q->budget_ms * 1000;
		sqlite3_progress_handler(c->db, 1000, past_deadline, &deadline);
	}
	if (q->has_cursor) {
		sqlite3_bind_int64(s, 13, q->cursor_ts);
		sqlite3_bind_int64(s, 14, q->cursor_id);
	}
	if (q->limit > 0)
		sqlite3_bind_int64(s, 15, q->limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		otas__scan_row_t r;
		r.id = sqlite3_column_int64(s, 0);
		r.ts_us = sqlite3_column_int64(s, 1);
		r.event_id = col_text(s, 2);
		r.method = col_text(s, 3);
		r.path = col_text(s, 4);
		r.route = col_text(s, 5);
		r.status = sqlite3_column_int64(s, 6);
		r.latency_ms = sqlite3_column_double(s, 7);
		r.is_error = sqlite3_column_int(s, 8);
		r.agent_id = col_text(s, 9);
		r.agent_session_id = col_text(s, 10);
		r.user_id = col_text(s, 11);
		r.company_id = col_text(s, 12);
		r.doc = col_text(s, 13);
		r.doc_len = (size_t)sqlite3_column_bytes(s, 13);
		r.text = col_text(s, 14);
		r.text_len = (size_t)sqlite3_column_bytes(s, 14);
		if (cb(arg, &r))
			break;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
	     : rc == SQLITE_INTERRUPT && q->budget_ms > 0 ? -2
	                                                  : -1;
	if (rc == -1)
		fprintf(stderr, "error: scan failed: %s\n", sqlite3_errmsg(c->db));
done:
	if (q->budget_ms > 0)
		sqlite3_progress_handler(c->db, 0, NULL, NULL);
	sqlite3_finalize(s);
	free(like);
	free(tail);
	free(hi);
	reader_put(st, c);
	return rc;
}

static int
sq_rollup_each(void *b, int64_t pk, const otas__rollup_query_t *q,
               otas__rollup_cb cb, void *arg)
{
	sq_t *st = b;
	conn_t *c;
	sqlite3_stmt *s = NULL;
	char sql[1024];
	int rc = -1;

	snprintf(sql, sizeof sql,
	         "SELECT bucket, method, route, status, unmatched, n, errors,"
	         " lat_sum, lat_min, lat_max, hist FROM %s"
	         " WHERE project=?1 AND res=?2 AND bucket >= ?3 AND bucket < ?4"
	         "%s%s%s%s%s%s",
	         q->tag ? "rollup_tags" : "rollups",
	         q->tag ? " AND tag = ?9" : "",
	         q->method ? " AND method = ?5" : "",
	         q->route ? " AND route = ?6" : "",
	         q->status_min > 0 ? " AND status >= ?7" : "",
	         q->status_max > 0 ? " AND status <= ?8" : "",
	         q->unmatched_only ? " AND unmatched" : "");
	c = reader_get(st);
	if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "error: prepare failed: %s\n", sqlite3_errmsg(c->db));
		goto done;
	}
	sqlite3_bind_int64(s, 1, pk);
	sqlite3_bind_int64(s, 2, q->res_s);
	sqlite3_bind_int64(s, 3, q->since_us);
	sqlite3_bind_int64(s, 4, q->until_us);
	if (q->method)
		sqlite3_bind_text(s, 5, q->method, -1, SQLITE_STATIC);
	if (q->route)
		sqlite3_bind_text(s, 6, q->route, -1, SQLITE_STATIC);
	if (q->status_min > 0)
		sqlite3_bind_int64(s, 7, q->status_min);
	if (q->status_max > 0)
		sqlite3_bind_int64(s, 8, q->status_max);
	if (q->tag)
		sqlite3_bind_text(s, 9, q->tag, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		otas__rollup_row_t r;
		r.project = pk;
		r.tag = q->tag;
		r.res_s = q->res_s;
		r.bucket_us = sqlite3_column_int64(s, 0);
		r.method = col_text(s, 1);
		r.route = col_text(s, 2);
		r.status = sqlite3_column_int64(s, 3);
		r.unmatched = sqlite3_column_int(s, 4);
		r.n = sqlite3_column_int64(s, 5);
		r.errors = sqlite3_column_int64(s, 6);
		r.lat_sum = sqlite3_column_double(s, 7);
		r.lat_min = sqlite3_column_double(s, 8);
		r.lat_max = sqlite3_column_double(s, 9);
		otas__hist_unblob(sqlite3_column_blob(s, 10),
		                  (size_t)sqlite3_column_bytes(s, 10), r.hist);
		if (cb(arg, &r))
			break;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
done:
	sqlite3_finalize(s);
	reader_put(st, c);
	return rc;
}

static int
sq_people_each(void *b, int64_t pk, const otas__people_query_t *q,
               otas__people_cb cb, void *arg)
{
	sq_t *st = b;
	conn_t *c = reader_get(st);
	sqlite3_stmt *s = NULL;
	int rc = -1;

	/* One seek per bucket (project, res, bucket, kind: the key's
	 * prefix), so a kind's rows are read without the other kinds' rows
	 * of the same buckets (a range on bucket reads every kind: the
	 * users' rows outnumber the error groups' a hundredfold). */
	int64_t w = q->res_s * 1000000;
	int64_t b0 = otas__rollup_bucket(q->since_us, q->res_s);

	if (b0 < q->since_us)
		b0 += w;
	if (b0 >= q->until_us) {
		reader_put(st, c);
		return 0;
	}
	if (sqlite3_prepare_v2(c->db,
	                       q->tag ? "SELECT id, company, n, errors, first_ts,"
	                                " last_ts FROM rollup_people_tags WHERE"
	                                " project=?1 AND res=?2 AND bucket >= ?3"
	                                " AND bucket < ?4 AND tag=?8 AND kind=?5"
	                                " AND ?7 > 0 AND ?6 IS NULL"
	                              : "WITH RECURSIVE b(x) AS (SELECT ?3 UNION"
	                                " ALL SELECT x + ?7 FROM b WHERE x + ?7"
	                                " < ?4) SELECT r.id, r.company, r.n,"
	                                " r.errors, r.first_ts, r.last_ts FROM b"
	                                " JOIN rollup_people r ON r.project=?1"
	                                " AND r.res=?2 AND r.bucket = b.x AND"
	                                " r.kind=?5 AND (?6 IS NULL OR"
	                                " substr(r.id, 1, length(?6)) = ?6)",
	                       -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "error: prepare failed: %s\n", sqlite3_errmsg(c->db));
		goto done;
	}
	sqlite3_bind_int64(s, 1, pk);
	sqlite3_bind_int64(s, 2, q->res_s);
	sqlite3_bind_int64(s, 3, b0);
	sqlite3_bind_int64(s, 4, q->until_us);
	sqlite3_bind_int64(s, 7, w);
	sqlite3_bind_text(s, 5, otas__people_kind(q->company), -1, SQLITE_STATIC);
	if (q->id_prefix)
		sqlite3_bind_text(s, 6, q->id_prefix, -1, SQLITE_STATIC);
	if (q->tag)
		sqlite3_bind_text(s, 8, q->tag, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		otas__people_row_t r;
		r.id = col_text(s, 0);
		r.company = col_text(s, 1);
		r.n = sqlite3_column_int64(s, 2);
		r.errors = sqlite3_column_int64(s, 3);
		r.first_us = sqlite3_column_int64(s, 4);
		r.last_us = sqlite3_column_int64(s, 5);
		if (cb(arg, &r))
			break;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
done:
	sqlite3_finalize(s);
	reader_put(st, c);
	return rc;
}

const otas__store_ops_t otas__store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .secret = sq_secret,
    .project_create = sq_project_create,
    .project_each = sq_project_each,
    .project_pk = sq_project_pk,
    .key_insert = sq_key_insert,
    .key_lookup = sq_key_lookup,
    .key_revoke = sq_key_revoke,
    .agent_session = sq_agent_session,
    .max_writers = 1,
    .writer_open = sq_writer_open,
    .writer_commit = sq_writer_commit,
    .writer_maintain = sq_writer_maintain,
    .writer_index = sq_writer_index,
    .writer_close = sq_writer_close,
    .events_each = sq_events_each,
    .event_find = sq_event_find,
    .samples_each = sq_samples_each,
    .sessions_each = sq_sessions_each,
    .entities_upsert = sq_entities_upsert,
    .entities_each = sq_entities_each,
    .scan = sq_scan,
    .rollup_each = sq_rollup_each,
    .people_each = sq_people_each,
};
