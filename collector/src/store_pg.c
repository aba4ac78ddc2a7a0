/*
 * store_pg.c -- the PostgreSQL back end of store.h (store_impl.h), libpq.
 *
 * Several collectors on one database are one service.  Everything a
 * collector decides is either in the database or derived from the event
 * itself, so any collector accepts any batch and answers any query:
 *
 *  - events are partitioned by day (declarative RANGE partitioning on
 *    `day`, days since the epoch).  The day comes from the event_id's
 *    UUIDv7 timestamp (otas__event_day), so a batch retried through
 *    another collector lands in the same partition, and the unique key
 *    (project, event_id, day) -- a partitioned table's unique key must hold
 *    the partition key -- makes the retry a duplicate.  A DEFAULT
 *    partition takes days no partition was made for (old or skewed clocks).
 *  - each collector's writer thread makes the partitions for yesterday to
 *    today+2 ahead of time and drops whole partitions past --retain-days,
 *    under an advisory lock so two collectors never race on DDL.
 *  - a group commit is one multi-row INSERT ... SELECT FROM unnest($n)
 *    ... ON CONFLICT DO NOTHING RETURNING (one round trip, one prepared
 *    statement, arrays in binary form: barr_begin), then COMMIT; the
 *    rows returned are the new ones, everything else was a duplicate.  Acknowledged only
 *    after COMMIT returned.  (COPY into a staging table measured the
 *    same, collector/README.md; this is fewer round trips.)
 *  - metadata.user_id/company_id are read from the document when a query
 *    filters on them (WHO below), not stored as columns: ingest cost.
 *  - schema changes are forward migrations in one transaction under an
 *    advisory lock (otas_schema holds the version).
 *
 * Connections: `adm` (key checks and admin, adm_lock), a pool of
 * OTAS__PG_READERS for the query API, and one `wr` per writer thread
 * (--writers, default 4: while one group waits for its COMMIT's WAL flush
 * the next group is already inserting).  Each
 * prepares its statements once, when it connects; a broken connection is
 * reset and prepared again on its next use.
 */
#include "rollup.h"
#include "store_impl.h"
#include "util.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#ifndef OTAS__PG_READERS
#define OTAS__PG_READERS 4
#endif

#define OTAS__PG_WRITERS 16

#define PG_LOCK_ID "727317" /* advisory lock for migrations and DDL */

enum {
	P_SECRET_GET, P_SECRET_PUT, P_PROJECT_INSERT, P_PROJECT_LIST,
	P_PROJECT_PK, P_KEY_INSERT, P_KEY_LOOKUP, P_KEY_REVOKE, P_AGENT_INSERT,
	P_AGENT_ID, P_SESSION_INSERT, P_ENTITY_UPSERT, P_EVENT_INSERT,
	P_EVENT_GET, P_SAMPLES_EP, P_SAMPLES_DAY, P_SAMPLES_ROUTE, P_SESSIONS,
	P_ENTITIES, P_ROLLUP_UPSERT, P_PEOPLE_UPSERT, P_TAGS_UPSERT,
	P_PTAGS_UPSERT, P_N
};

/* The people rollups per tag: P_PEOPLE_UPSERT's rows, each for one tag
 * ($12); also the migration's backfill (fill_tags). */
#define PG_PTAGS_UPSERT \
	"INSERT INTO rollup_people_tags(project, res, bucket, tag, kind, id," \
	" shard, company, n, errors, first_ts, last_ts)" \
	" SELECT p, r, b, tg, k, i, $11::int, c, n, e, f, l" \
	" FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[]," \
	" $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[]," \
	" $10::bigint[], $12::text[]) AS t(p, r, b, k, i, c, n, e, f, l, tg)" \
	" ON CONFLICT(project, res, bucket, tag, kind, id, shard) DO UPDATE SET" \
	" n = rollup_people_tags.n + excluded.n," \
	" errors = rollup_people_tags.errors + excluded.errors," \
	" first_ts = least(rollup_people_tags.first_ts, excluded.first_ts)," \
	" company = CASE WHEN rollup_people_tags.kind <> 'e' THEN" \
	" coalesce(rollup_people_tags.company, excluded.company)" \
	" WHEN excluded.last_ts > rollup_people_tags.last_ts OR" \
	" (excluded.last_ts = rollup_people_tags.last_ts AND" \
	" excluded.company > rollup_people_tags.company)" \
	" THEN excluded.company ELSE rollup_people_tags.company END," \
	" last_ts = greatest(rollup_people_tags.last_ts, excluded.last_ts)"

/* People rollups of the rows of SRC in shard SHARD (the migration's
 * backfill; ingest aggregates in C, rollup.c): metadata read as pg_scan
 * reads it. */
#define PG_PEOPLE_SELECT(SRC, SHARD) \
	"SELECT project, res, bucket, kind, who, " SHARD ", max(company)," \
	" count(*), sum(err), min(ts), max(ts) FROM (SELECT project, r.res," \
	" ts - (((ts % (r.res * 1000000::bigint)) + r.res * 1000000::bigint)" \
	" % (r.res * 1000000::bigint)) AS bucket, k.kind," \
	" CASE k.kind WHEN 'u' THEN w.u ELSE w.c END AS who," \
	" CASE k.kind WHEN 'u' THEN w.c END AS company, ts," \
	" CASE WHEN status >= 400 OR is_error <> 0 THEN 1 ELSE 0 END AS err" \
	" FROM (SELECT project, ts, status, is_error, md ->> 'user_id' AS u," \
	" md ->> 'company_id' AS c FROM " SRC " CROSS JOIN LATERAL (SELECT" \
	" CASE WHEN strpos(doc, '\\u') = 0 OR doc !~* '\\\\u(0000|d[89a-f])'" \
	" THEN doc::json -> 'metadata' END AS md OFFSET 0) AS x) w," \
	" (VALUES (3600), (86400)) AS r(res), (VALUES ('u'), ('c')) AS k(kind))" \
	" g WHERE who <> '' GROUP BY 1, 2, 3, 4, 5"

/* Who called (metadata.user_id / company_id) as the queries read it from
 * the stored document.  PostgreSQL's json refuses \u0000 and lone
 * surrogates, which the contract allows in bodies: such a document has
 * none.  Since schema 10 the columns user_id / company_id hold this value
 * (the writer binds what the decoder read where that is certain to be
 * it, else computes it: pg_writer_commit); rows stored before have
 * who_set false and are found by it (partial expression indexes).
 * Computing it for every insert (a generated column, an expression
 * index) parses every document: 17 us of PostgreSQL CPU per 1 KB event
 * per expression, measured. */
#define WHO(f)                                                               \
	"(CASE WHEN strpos(doc, '\\u') = 0 OR doc !~* "                    \
	"'\\\\u(0000|d[89a-f])' THEN (doc::json -> 'metadata') ->> '" f   \
	"' END)"

static const char *const sql_text[P_N] = {
    [P_SECRET_GET] = "SELECT value FROM meta WHERE key=$1",
    [P_SECRET_PUT] = "INSERT INTO meta(key, value) VALUES($1, $2::bytea)"
                     " ON CONFLICT DO NOTHING",
    [P_PROJECT_INSERT] = "INSERT INTO projects(id, name, description,"
                         " created_at) VALUES($1, $2, $3, $4)",
    [P_PROJECT_LIST] = "SELECT p.id, p.name, p.description, p.created_at,"
                       " (SELECT count(*) FROM sdk_keys k WHERE"
                       "  k.project = p.pk AND k.revoked_at IS NULL"
                       "  AND k.expires_at > $1) FROM projects p ORDER BY p.pk",
    [P_PROJECT_PK] = "SELECT pk FROM projects WHERE id=$1",
    [P_KEY_INSERT] = "INSERT INTO sdk_keys(prefix, project, hash, created_at,"
                     " expires_at, role) VALUES($1, $2, $3, $4, $5, $6)",
    [P_KEY_LOOKUP] = "SELECT k.hash, k.expires_at, k.revoked_at IS NOT NULL,"
                     " k.role, p.pk, p.id, p.name, p.description FROM sdk_keys k"
                     " JOIN projects p ON p.pk = k.project WHERE k.prefix = $1",
    [P_KEY_REVOKE] = "UPDATE sdk_keys SET revoked_at=$1 WHERE prefix=$2"
                     " AND revoked_at IS NULL",
    [P_AGENT_INSERT] = "INSERT INTO agents(id, project, name, created_at)"
                       " VALUES($1, $2, $3, $4) ON CONFLICT(project, name)"
                       " DO NOTHING",
    [P_AGENT_ID] = "SELECT id FROM agents WHERE project=$1 AND name=$2",
    [P_SESSION_INSERT] = "INSERT INTO agent_sessions(id, agent_id,"
                         " created_at, expires_at) VALUES($1, $2, $3, $4)",
    [P_ENTITY_UPSERT] =
        "INSERT INTO entities(project, kind, id, company_id, doc,"
        " created_at, updated_at) VALUES($1, $2, $3, $4, $5::jsonb, $6, $6)"
        " ON CONFLICT(project, kind, id) DO UPDATE SET"
        " doc = otas_merge_patch(entities.doc, excluded.doc),"
        " company_id = coalesce(excluded.company_id, entities.company_id),"
        " updated_at = excluded.updated_at",
    /* user_id / company_id: what the decoder read ($16, $17), or, for
     * an event it cannot vouch for ($18 true), the expression the
     * queries read them by, computed here (pg_writer_commit). */
    [P_EVENT_INSERT] =
        "INSERT INTO events(day, project, event_id, ts, received_at, method,"
        " path, route, status, latency_ms, is_error, agent_id,"
        " agent_session_id, agent_verified, doc, user_id, company_id)"
        " SELECT day, project, event_id, ts, received_at, method, path,"
        " route, status, latency_ms, is_error, agent_id, agent_session_id,"
        " agent_verified, doc, CASE WHEN x THEN " WHO("user_id") " ELSE u"
        " END, CASE WHEN x THEN " WHO("company_id") " ELSE c END"
        " FROM unnest($1::int[], $2::bigint[], $3::text[],"
        " $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[],"
        " $9::bigint[], $10::float8[], $11::smallint[], $12::text[],"
        " $13::text[], $14::smallint[], $15::text[], $16::text[],"
        " $17::text[], $18::bool[]) AS t(day, project, event_id, ts,"
        " received_at, method, path, route, status, latency_ms, is_error,"
        " agent_id, agent_session_id, agent_verified, doc, u, c, x)"
        " ON CONFLICT DO NOTHING RETURNING project, event_id",
    [P_EVENT_GET] = "SELECT id, ts, received_at, agent_id, agent_session_id,"
                    " agent_verified, doc, event_id FROM events"
                    " WHERE project=$1 AND event_id=$2 LIMIT 1",
    [P_SAMPLES_EP] = "SELECT method, route, latency_ms, is_error FROM"
                     " events WHERE project=$1 AND ts>=$2 AND ts<=$3"
                     " ORDER BY method, route, latency_ms",
    [P_SAMPLES_DAY] = "SELECT ts / 86400000000, latency_ms, is_error"
                      " FROM events WHERE project=$1 AND ts>=$2"
                      " AND ts < $3 ORDER BY 1, 2",
    [P_SAMPLES_ROUTE] = "SELECT latency_ms, is_error FROM events WHERE"
                        " project=$1 AND ts>=$2 AND ts<=$3 AND method=$4"
                        " AND route=$5 ORDER BY latency_ms",
    /* Verified and unverified traffic never merge: an unverified token
     * can claim any session id. */
    [P_SESSIONS] = "SELECT agent_session_id, agent_id, agent_verified,"
                   " count(*), sum(is_error), min(ts), max(ts)"
                   " FROM events WHERE project=$1 AND"
                   " agent_session_id IS NOT NULL GROUP BY 1, 2, 3"
                   " ORDER BY max(ts) DESC LIMIT 10000",
    [P_ENTITIES] = "SELECT kind, doc::text, created_at, updated_at FROM"
                   " entities WHERE project = $1 AND ($2::text IS NULL OR"
                   " kind = $2) AND ($3::text IS NULL OR company_id = $3)"
                   " ORDER BY updated_at DESC, id LIMIT $4",
    /* rollup.h: a group's rows, merged into what is there; `shard` is
     * the writer thread, so parallel groups never wait on each other's
     * row locks (readers add the shards up). */
    [P_ROLLUP_UPSERT] =
        "INSERT INTO rollups(project, res, bucket, method, route, status,"
        " unmatched, shard, n, errors, lat_sum, lat_min, lat_max, hist)"
        " SELECT p, r, b, m, rt, st, um, $14::int, n, e, s, mn, mx, h::int[]"
        " FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[],"
        " $5::text[], $6::bigint[], $7::bool[], $8::bigint[], $9::bigint[],"
        " $10::float8[], $11::float8[], $12::float8[], $13::text[])"
        " AS t(p, r, b, m, rt, st, um, n, e, s, mn, mx, h)"
        " ON CONFLICT(project, res, bucket, method, route, status, unmatched,"
        " shard) DO UPDATE SET n = rollups.n + excluded.n,"
        " errors = rollups.errors + excluded.errors,"
        " lat_sum = rollups.lat_sum + excluded.lat_sum,"
        " lat_min = least(rollups.lat_min, excluded.lat_min),"
        " lat_max = greatest(rollups.lat_max, excluded.lat_max),"
        " hist = otas_hist_merge(rollups.hist, excluded.hist)",
    /* rollup.h people rollups, likewise */
    [P_PEOPLE_UPSERT] =
        "INSERT INTO rollup_people(project, res, bucket, kind, id, shard,"
        " company, n, errors, first_ts, last_ts)"
        " SELECT p, r, b, k, i, $11::int, c, n, e, f, l"
        " FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[],"
        " $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[],"
        " $10::bigint[]) AS t(p, r, b, k, i, c, n, e, f, l)"
        " ON CONFLICT(project, res, bucket, kind, id, shard) DO UPDATE SET"
        " n = rollup_people.n + excluded.n,"
        " errors = rollup_people.errors + excluded.errors,"
        " first_ts = least(rollup_people.first_ts, excluded.first_ts),"
        " company = CASE WHEN rollup_people.kind <> 'e' THEN"
        " coalesce(rollup_people.company, excluded.company)"
        " WHEN excluded.last_ts > rollup_people.last_ts OR"
        " (excluded.last_ts = rollup_people.last_ts AND"
        " excluded.company > rollup_people.company)"
        " THEN excluded.company ELSE rollup_people.company END,"
        " last_ts = greatest(rollup_people.last_ts, excluded.last_ts)",
    /* rollup.h tag rollups: P_ROLLUP_UPSERT's rows, each for one tag */
    [P_TAGS_UPSERT] =
        "INSERT INTO rollup_tags(project, res, bucket, tag, method, route,"
        " status, unmatched, shard, n, errors, lat_sum, lat_min, lat_max,"
        " hist)"
        " SELECT p, r, b, tg, m, rt, st, um, $14::int, n, e, s, mn, mx,"
        " h::int[] FROM unnest($1::bigint[], $2::int[], $3::bigint[],"
        " $4::text[], $5::text[], $6::bigint[], $7::bool[], $8::bigint[],"
        " $9::bigint[], $10::float8[], $11::float8[], $12::float8[],"
        " $13::text[], $15::text[])"
        " AS t(p, r, b, m, rt, st, um, n, e, s, mn, mx, h, tg)"
        " ON CONFLICT(project, res, bucket, tag, method, route, status,"
        " unmatched, shard) DO UPDATE SET n = rollup_tags.n + excluded.n,"
        " errors = rollup_tags.errors + excluded.errors,"
        " lat_sum = rollup_tags.lat_sum + excluded.lat_sum,"
        " lat_min = least(rollup_tags.lat_min, excluded.lat_min),"
        " lat_max = greatest(rollup_tags.lat_max, excluded.lat_max),"
        " hist = otas_hist_merge(rollup_tags.hist, excluded.hist)",
    [P_PTAGS_UPSERT] = PG_PTAGS_UPSERT,
};

#define PG_SEARCH_FIELD(f) \
	"left(coalesce(d ->> '" #f "', ''), 4096) || chr(10) || "

/* Characters of a path in events_path (schema 10). */
#define PG_PATH_KEY_CHARS "200"
#define PG_PATH_KEY_MAX 200

/* Schema 2's index: every row, kept in the ingest commit. */
#define PG_SEARCH_INDEX_V2 \
	"CREATE INDEX IF NOT EXISTS events_search ON events USING gin" \
	" (otas_search_text(doc) gin_trgm_ops)"
/* Schema 6 (deferred): only rows the indexer has marked text_indexed;
 * ingest inserts them false, which costs the GIN nothing. */
#define PG_SEARCH_INDEX \
	"CREATE INDEX IF NOT EXISTS events_search ON events USING gin" \
	" (otas_search_text(doc) gin_trgm_ops) WHERE text_indexed"

/* The tag rollups (rollup.h otas__rollup_build_tags,
 * otas__people_build_tags): made anew, as SQLite's, then filled from the
 * stored events in C by migrate() (fill_tags). */
#define PG_TAGS_MIGRATION \
	"DROP TABLE IF EXISTS rollup_tags;" \
	"CREATE TABLE rollup_tags(project bigint NOT NULL, res int NOT NULL," \
	" bucket bigint NOT NULL, tag text NOT NULL, method text NOT NULL," \
	" route text NOT NULL, status bigint NOT NULL," \
	" unmatched boolean NOT NULL, shard int NOT NULL, n bigint NOT NULL," \
	" errors bigint NOT NULL, lat_sum float8 NOT NULL," \
	" lat_min float8 NOT NULL, lat_max float8 NOT NULL," \
	" hist int[] NOT NULL, PRIMARY KEY(project, res, bucket, tag, method," \
	" route, status, unmatched, shard));" \
	"DROP TABLE IF EXISTS rollup_people_tags;" \
	"CREATE TABLE rollup_people_tags(project bigint NOT NULL," \
	" res int NOT NULL, bucket bigint NOT NULL, tag text NOT NULL," \
	" kind text NOT NULL, id text NOT NULL, shard int NOT NULL," \
	" company text, n bigint NOT NULL, errors bigint NOT NULL," \
	" first_ts bigint NOT NULL, last_ts bigint NOT NULL," \
	" PRIMARY KEY(project, res, bucket, tag, kind, id, shard));"
static const char pg_tags_migration[] = PG_TAGS_MIGRATION;

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE meta(key text PRIMARY KEY, value bytea NOT NULL);"
    "CREATE TABLE projects(pk bigserial PRIMARY KEY, id text NOT NULL UNIQUE,"
    " name text NOT NULL, description text NOT NULL DEFAULT '',"
    " created_at bigint NOT NULL);"
    "CREATE TABLE sdk_keys(prefix text PRIMARY KEY,"
    " project bigint NOT NULL REFERENCES projects(pk),"
    " hash text NOT NULL, created_at bigint NOT NULL,"
    " expires_at bigint NOT NULL, revoked_at bigint,"
    " role int NOT NULL DEFAULT 3);"
    "CREATE TABLE agents(id text PRIMARY KEY,"
    " project bigint NOT NULL REFERENCES projects(pk), name text NOT NULL,"
    " created_at bigint NOT NULL, UNIQUE(project, name));"
    "CREATE TABLE agent_sessions(id text PRIMARY KEY,"
    " agent_id text NOT NULL REFERENCES agents(id),"
    " created_at bigint NOT NULL, expires_at bigint NOT NULL);"
    "CREATE SEQUENCE events_id_seq CACHE 1000;"
    "CREATE TABLE events(day int NOT NULL,"
    " id bigint NOT NULL DEFAULT nextval('events_id_seq'),"
    " project bigint NOT NULL, event_id text NOT NULL,"
    " ts bigint NOT NULL, received_at bigint NOT NULL,"
    " method text NOT NULL, path text NOT NULL, route text NOT NULL,"
    " status bigint NOT NULL, latency_ms float8 NOT NULL,"
    " is_error smallint NOT NULL, agent_id text, agent_session_id text,"
    " agent_verified smallint NOT NULL DEFAULT 0, doc text NOT NULL,"
    " UNIQUE(project, event_id, day)) PARTITION BY RANGE(day);"
    "CREATE TABLE events_default PARTITION OF events DEFAULT;"
    "CREATE INDEX events_ts ON events(project, ts, id);"
    "CREATE TABLE entities(project bigint NOT NULL, kind text NOT NULL,"
    " id text NOT NULL, company_id text, doc jsonb NOT NULL,"
    " created_at bigint NOT NULL, updated_at bigint NOT NULL,"
    " PRIMARY KEY(project, kind, id));"
    /* RFC 7396 merge patch, as SQLite's json_patch. */
    "CREATE FUNCTION otas_merge_patch(target jsonb, patch jsonb)"
    " RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $f$"
    " DECLARE k text; v jsonb; r jsonb;"
    " BEGIN"
    "  IF jsonb_typeof(patch) IS DISTINCT FROM 'object' THEN RETURN patch;"
    "  END IF;"
    "  IF jsonb_typeof(target) IS DISTINCT FROM 'object' THEN r := '{}';"
    "  ELSE r := target; END IF;"
    "  FOR k, v IN SELECT * FROM jsonb_each(patch) LOOP"
    "   IF jsonb_typeof(v) = 'null' THEN r := r - k;"
    "   ELSE r := jsonb_set(r, ARRAY[k], otas_merge_patch(r -> k, v));"
    "   END IF;"
    "  END LOOP;"
    "  RETURN r;"
    " END $f$;",
    /* 1 -> 2: text search.  The searchable text (store.h
     * OTAS__SEARCH_FIELDS, each field's first 4096 characters) is an
     * immutable function of the document, indexed by pg_trgm (GIN,
     * substring ILIKE; created on every day partition, past and future;
     * existing rows are indexed here).  A document whose escapes
     * PostgreSQL's JSON types refuse (\u0000, lone surrogates) is
     * searched as its raw text.  The extension is created in migrate(). */
    "CREATE FUNCTION otas_search_text(doc text) RETURNS text"
    " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$"
    " SELECT CASE WHEN strpos(doc, '\\u') = 0"
    "  OR doc !~* '\\\\u(0000|d[89a-f])' THEN"
    "  (SELECT " OTAS__SEARCH_FIELDS(PG_SEARCH_FIELD) "''"
    "   FROM (SELECT doc::jsonb AS d) AS x)"
    " ELSE doc END $f$;"
    PG_SEARCH_INDEX_V2 ";",
    /* 2 -> 3: rollups (rollup.h), filled once from the events already
     * there; from then on the writers keep them.  A plain table: it is
     * small next to events and read by its primary key's prefix. */
    "CREATE TABLE rollups(project bigint NOT NULL, res int NOT NULL,"
    " bucket bigint NOT NULL, method text NOT NULL, route text NOT NULL,"
    " status bigint NOT NULL, unmatched boolean NOT NULL, shard int NOT NULL,"
    " n bigint NOT NULL, errors bigint NOT NULL, lat_sum float8 NOT NULL,"
    " lat_min float8 NOT NULL, lat_max float8 NOT NULL, hist int[] NOT NULL,"
    " PRIMARY KEY(project, res, bucket, method, route, status, unmatched,"
    " shard));"
    "CREATE FUNCTION otas_hist_merge(a int[], b int[]) RETURNS int[]"
    " LANGUAGE sql IMMUTABLE AS $f$ SELECT array_agg(coalesce(x, 0) +"
    " coalesce(y, 0) ORDER BY o) FROM unnest(a, b) WITH ORDINALITY"
    " AS t(x, y, o) $f$;"
    /* rollup.c otas__hist_bin */
    "CREATE FUNCTION otas_hist_bin(ms float8) RETURNS int LANGUAGE sql"
    " IMMUTABLE AS $f$ SELECT CASE WHEN ms >= 0.01 THEN least(127,"
    " 1 + floor(ln(ms / 0.01) / ln(2.0) * 4))::int ELSE 0 END $f$;"
    "CREATE FUNCTION otas_hist_put(h int[], bin int, c bigint) RETURNS int[]"
    " LANGUAGE plpgsql IMMUTABLE AS $f$ BEGIN"
    "  IF coalesce(array_length(h, 1), 0) <= bin THEN"
    "   h := h || array_fill(0, ARRAY[bin + 1 - coalesce(array_length(h, 1),"
    "   0)]);"
    "  END IF;"
    "  h[bin + 1] := h[bin + 1] + c; RETURN h; END $f$;"
    "CREATE AGGREGATE otas_hist_agg(int, bigint) (SFUNC = otas_hist_put,"
    " STYPE = int[], INITCOND = '{}');"
    "INSERT INTO rollups SELECT project, res, bucket, method, route, status,"
    " um, 0, sum(c), sum(e), sum(s), min(mn), max(mx), otas_hist_agg(bin, c)"
    " FROM (SELECT project, r.res, ts - (((ts % (r.res * 1000000::bigint))"
    " + r.res * 1000000::bigint) % (r.res * 1000000::bigint)) AS bucket,"
    " method, route, status, route = path AS um,"
    " otas_hist_bin(latency_ms) AS bin, count(*) AS c,"
    " sum(CASE WHEN status >= 400 OR is_error <> 0 THEN 1 ELSE 0 END) AS e,"
    " sum(latency_ms) AS s, min(latency_ms) AS mn, max(latency_ms) AS mx"
    " FROM events, (VALUES (60), (3600), (86400)) AS r(res)"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) g GROUP BY 1, 2, 3, 4, 5, 6, 7;",
    /* 3 -> 4: who called, per hour and per day (rollup.h). */
    "CREATE TABLE rollup_people(project bigint NOT NULL, res int NOT NULL,"
    " bucket bigint NOT NULL, kind text NOT NULL, id text NOT NULL,"
    " shard int NOT NULL, company text, n bigint NOT NULL,"
    " errors bigint NOT NULL, first_ts bigint NOT NULL,"
    " last_ts bigint NOT NULL,"
    " PRIMARY KEY(project, res, bucket, kind, id, shard));"
    "INSERT INTO rollup_people(project, res, bucket, kind, id, shard,"
    " company, n, errors, first_ts, last_ts) "
    PG_PEOPLE_SELECT("events", "0") ";",
    /* 4 -> 5: the views that read only errors (/errors) or only agents'
     * calls (/stats/agents) walk these, not every event of the range. */
    "CREATE INDEX events_errors ON events(project, ts)"
    " WHERE status >= 400 OR is_error <> 0;"
    "CREATE INDEX events_agents ON events(project, ts)"
    " WHERE agent_id IS NOT NULL;",
    /* 5 -> 6: the text index is deferred (off the ingest path).  Rows
     * are inserted text_indexed = false, which the GIN index leaves out
     * (its predicate) and a small partial index on (day, id) keeps a
     * list of; the writer's indexer sets it true in chunks, which adds
     * them to the GIN index.  Existing rows were all indexed since schema 2
     * (the default true costs no rewrite); the GIN index is made again
     * with the predicate (on a big database this open takes a while). */
    "ALTER TABLE events ADD COLUMN text_indexed boolean NOT NULL"
    " DEFAULT true;"
    "ALTER TABLE events ALTER COLUMN text_indexed SET DEFAULT false;"
    "CREATE INDEX events_unindexed ON events(day, id)"
    " WHERE NOT text_indexed;"
    "DO $d$ BEGIN IF to_regclass('events_search') IS NOT NULL THEN"
    " DROP INDEX events_search; " PG_SEARCH_INDEX "; END IF; END $d$;"
    /* A partial index gets no statistics of its expression, and the
     * planner needs them to walk the time index for a common text (not
     * read every match through GIN): statistics on the expression, per
     * partition (the maintenance adds them to new ones). */
    "DO $d$ DECLARE p text; BEGIN FOR p IN SELECT c.relname FROM"
    " pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE"
    " i.inhparent = 'events'::regclass LOOP EXECUTE format("
    "'CREATE STATISTICS IF NOT EXISTS %I ON (otas_search_text(doc)) FROM %I',"
    " p || '_text', p); END LOOP; END $d$;"
    "ANALYZE events;",
    /* 6 -> 7: agents' calls in the people rollups (rollup.h kind "a"). */
    "INSERT INTO rollup_people(project, res, bucket, kind, id, shard,"
    " company, n, errors, first_ts, last_ts) SELECT project, r.res,"
    " ts - (((ts % (r.res * 1000000::bigint)) + r.res * 1000000::bigint)"
    " % (r.res * 1000000::bigint)), 'a', agent_id || chr(9) ||"
    " coalesce(agent_session_id, '') || chr(9) || coalesce(method, '') ||"
    " chr(9) || coalesce(route, ''), 0, NULL, count(*),"
    " sum(CASE WHEN status >= 400 OR is_error <> 0 THEN 1 ELSE 0 END),"
    " min(ts), max(ts) FROM events, (VALUES (3600), (86400)) AS r(res)"
    " WHERE agent_id IS NOT NULL AND agent_id <> '' GROUP BY 1, 2, 3, 5;",
    /* 7 -> 8: the error groups of /errors (rollup.h kind "e"); the type
     * as otas__doc_exception reads it, the key as otas__error_key. */
    "INSERT INTO rollup_people(project, res, bucket, kind, id, shard,"
    " company, n, errors, first_ts, last_ts)"
    " WITH d AS MATERIALIZED (SELECT project, ts, event_id, status, method,"
    " route = path AS um, CASE WHEN route = path THEN '(unmatched)'"
    " ELSE route END AS rt, CASE WHEN strpos(doc, '\\u') = 0 OR"
    " doc !~* '\\\\u(0000|d[89a-f])' THEN doc::json END AS j"
    " FROM events WHERE status >= 400 OR is_error <> 0),"
    " e AS (SELECT *, j -> 'metadata' -> 'errors' -> 0 AS x0 FROM d),"
    " t AS (SELECT *, CASE json_typeof(x0) WHEN 'object' THEN"
    " (CASE WHEN json_typeof(x0 -> 'type') = 'string' THEN x0 ->> 'type' END)"
    " WHEN 'array' THEN (CASE WHEN json_typeof(x0 -> 0) = 'string' THEN"
    " x0 ->> 0 END) END AS t1, CASE WHEN json_typeof(j -> 'error') ="
    " 'string' THEN j ->> 'error' END AS er FROM e),"
    " f AS (SELECT *, CASE WHEN t1 <> '' THEN t1 WHEN er <> '' THEN"
    " left(er, least(200, CASE WHEN strpos(er, ': ') > 0 THEN"
    " strpos(er, ': ') - 1 ELSE length(er) END))"
    " WHEN status < 400 THEN 'error' END AS ty FROM t),"
    " k AS (SELECT project, ts, event_id, CASE WHEN ty IS NOT NULL THEN"
    " 'x' || chr(9) || ty || chr(9) || method || chr(9) || rt ELSE"
    " 's' || chr(9) || status || chr(9) || CASE WHEN um THEN '*'"
    " ELSE method END || chr(9) || rt END AS id FROM f)"
    " SELECT project, r.res, ts - (((ts % (r.res * 1000000::bigint)) +"
    " r.res * 1000000::bigint) % (r.res * 1000000::bigint)), 'e', id, 0,"
    " substr(max(lpad(ts::text, 20, '0') || event_id), 21), count(*), 0,"
    " min(ts), max(ts) FROM k, (VALUES (3600), (86400)) AS r(res)"
    " GROUP BY 1, 2, 3, 5;",
    /* 8 -> 9: the tag rollups; migrate() then runs fill_tags */
    pg_tags_migration,
    /* 9 -> 10: filters no rollup holds, through indexes instead of every
     * event of the range (collector/README.md "Filtered views").  A path
     * glob's literal head: LIKE 'head%' on text_pattern_ops (whatever
     * the database's collation), the first 200 characters (a long path
     * never exceeds a B-tree row), with what the series and endpoints
     * views read included (otas__scan_query_t lean: a vacuumed partition
     * answers from the index alone).  User and company: columns the
     * writer fills from now on (WHO above); the rows already stored keep
     * them NULL with who_set false (a default: no rewrite of the table)
     * and are found through expression indexes on those rows only, built
     * here (each of them parses the stored documents once). */
    "CREATE INDEX IF NOT EXISTS events_path ON events(project,"
    " left(path, " PG_PATH_KEY_CHARS ") text_pattern_ops, ts) INCLUDE (id,"
    " path, method, route, status, latency_ms, is_error);"
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS user_id text;"
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS company_id text;"
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS who_set boolean NOT NULL"
    " DEFAULT false;"
    "ALTER TABLE events ALTER COLUMN who_set SET DEFAULT true;"
    "CREATE INDEX IF NOT EXISTS events_user ON events(project, user_id, ts)"
    " WHERE user_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS events_company ON events(project,"
    " company_id, ts) WHERE company_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS events_user_doc ON events(project, "
    WHO("user_id") ", ts) WHERE NOT who_set;"
    "CREATE INDEX IF NOT EXISTS events_company_doc ON events(project, "
    WHO("company_id") ", ts) WHERE NOT who_set;"
    "ANALYZE events;",
    /* 10 -> 11: users and companies per route (rollup.h kinds "ru",
     * "rc"), filled from the events already there; metadata read as
     * pg_scan reads it (anew when run again on a database stepped
     * back). */
    "DELETE FROM rollup_people WHERE kind IN ('ru', 'rc');"
    "INSERT INTO rollup_people(project, res, bucket, kind, id, shard,"
    " company, n, errors, first_ts, last_ts)"
    " SELECT project, res, bucket, kind, route || chr(9) || who, 0,"
    " max(company), count(*), sum(err), min(ts), max(ts) FROM (SELECT"
    " project, r.res, ts - (((ts % (r.res * 1000000::bigint)) +"
    " r.res * 1000000::bigint) % (r.res * 1000000::bigint)) AS bucket,"
    " k.kind, route, CASE k.kind WHEN 'ru' THEN w.u ELSE w.c END AS who,"
    " CASE k.kind WHEN 'ru' THEN w.c END AS company, ts,"
    " CASE WHEN status >= 400 OR is_error <> 0 THEN 1 ELSE 0 END AS err"
    " FROM (SELECT project, ts, route, status, is_error,"
    " md ->> 'user_id' AS u, md ->> 'company_id' AS c FROM events"
    " CROSS JOIN LATERAL (SELECT CASE WHEN strpos(doc, '\\u') = 0 OR"
    " doc !~* '\\\\u(0000|d[89a-f])' THEN doc::json -> 'metadata' END"
    " AS md OFFSET 0) AS x) w, (VALUES (3600), (86400)) AS r(res),"
    " (VALUES ('ru'), ('rc')) AS k(kind)) g WHERE who <> ''"
    " GROUP BY 1, 2, 3, 4, 5;",
};

typedef struct {
	PGconn *c;
	int busy;                   /* pool: checked out */
	unsigned char ev_prepared[256 / 8];
} conn_t;

typedef struct {
	char *conninfo;
	conn_t adm;
	pthread_mutex_t adm_lock;
	conn_t rd[OTAS__PG_READERS];
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	conn_t wr[OTAS__PG_WRITERS];  /* one per writer thread */
	otas__buf_t cols[OTAS__PG_WRITERS][18]; /* binary arrays */
	int sync_full;
	int no_text_index;
	int index_chunk;            /* writer 0: rows per indexer step */
} pg_t;

static int
prepare_all(PGconn *c)
{
	char name[16];

	for (int i = 0; i < P_N; i++) {
		PGresult *r;
		snprintf(name, sizeof name, "s%d", i);
		r = PQprepare(c, name, sql_text[i], 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "error: prepare failed: %s",
			        PQresultErrorMessage(r));
			PQclear(r);
			return -1;
		}
		PQclear(r);
	}
	return 0;
}

/* NOTICEs ("already exists, skipping") are not for the operator. */
static void
quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *
connect_db(const char *conninfo, char *err, size_t errlen)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK) {
		/* libpq's message names host and database, never the
		 * password. */
		const char *m = PQerrorMessage(c);
		snprintf(err, errlen, "cannot connect to PostgreSQL: %.*s",
		         (int)strcspn(m, "\n"), m);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	return c;
}

static int
conn_open(conn_t *k, const char *conninfo, int prepare, char *err,
          size_t errlen)
{
	/* k->busy stays: a pool entry is checked out while it connects. */
	k->c = NULL;
	memset(k->ev_prepared, 0, sizeof k->ev_prepared);
	k->c = connect_db(conninfo, err, errlen);
	if (!k->c)
		return -1;
	if (prepare && prepare_all(k->c) != 0) {
		snprintf(err, errlen, "cannot prepare statements");
		PQfinish(k->c);
		k->c = NULL;
		return -1;
	}
	return 0;
}

/* A usable connection: reset (and prepare again) after a failure. */
static int
conn_ready(conn_t *k)
{
	if (k->c && PQstatus(k->c) == CONNECTION_OK &&
	    PQtransactionStatus(k->c) != PQTRANS_INERROR)
		return 0;
	if (!k->c)
		return -1;
	PQreset(k->c);
	memset(k->ev_prepared, 0, sizeof k->ev_prepared);
	if (PQstatus(k->c) != CONNECTION_OK || prepare_all(k->c) != 0)
		return -1;
	return 0;
}

static PGresult *
run(conn_t *k, int stmt, int n, const char *const *v)
{
	char name[16];

	if (conn_ready(k) != 0)
		return NULL;
	snprintf(name, sizeof name, "s%d", stmt);
	return PQexecPrepared(k->c, name, n, v, NULL, NULL, 0);
}

/* The same with parameters in the formats given (1: binary). */
static PGresult *
run_bin(conn_t *k, int stmt, int n, const char *const *v, const int *lens,
        const int *fmts)
{
	char name[16];

	if (conn_ready(k) != 0)
		return NULL;
	snprintf(name, sizeof name, "s%d", stmt);
	return PQexecPrepared(k->c, name, n, v, lens, fmts, 0);
}

static int
ok(PGresult *r)
{
	ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

	return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

static int
exec_sql(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int rc = ok(r) ? 0 : -1;

	if (rc != 0)
		fprintf(stderr, "error: PostgreSQL: %s", PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

static const char *
val(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int64_t
ival(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0
	                                : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

#define I64(buf, v) (snprintf(buf, sizeof buf, "%lld", (long long)(v)), buf)

static int put_people(conn_t *k, PGconn *c, const otas__people_agg_t *rows,
                      size_t n, int w, int tags);
static int put_rollups(conn_t *k, PGconn *c, const otas__rollup_row_t *rows,
                       size_t n, int w, int tags);

static void put_be(otas__buf_t *b, uint64_t x, int n);
static void barr_int(otas__buf_t *b, int64_t v, int size);
static void barr_float8(otas__buf_t *b, double d);
static int barr_text(otas__buf_t *b, const char *s, size_t n);

/* COPY's text form of a field: backslash, tab, newline, CR escaped;
 * NULL as \N. */
static void
copy_text(otas__buf_t *b, const char *s)
{
	if (!s) {
		otas__buf_puts(b, "\\N");
		return;
	}
	for (const char *p = s; *p; p++) {
		char e = *p == '\\' ? '\\' : *p == '\t' ? 't' : *p == '\n' ? 'n'
		         : *p == '\r' ? 'r' : 0;
		if (e) {
			otas__buf_putc(b, '\\');
			otas__buf_putc(b, e);
		} else {
			otas__buf_putc(b, *p);
		}
	}
}

/* Send b to the COPY under way on c when it is big (or flush: always). */
static int
copy_send(PGconn *c, otas__buf_t *b, int flush)
{
	if (b->oom)
		return -1;
	if (b->len && (flush || b->len >= (1u << 20))) {
		if (PQputCopyData(c, b->data, (int)b->len) != 1)
			return -1;
		otas__buf_reset(b);
	}
	return 0;
}

/* End the COPY on c: 0 ok. */
static int
copy_end(PGconn *c, otas__buf_t *b, int rc)
{
	PGresult *r;

	if (rc == 0)
		rc = copy_send(c, b, 1);
	if (PQputCopyEnd(c, rc == 0 ? NULL : "otas: row encoding failed") != 1)
		rc = -1;
	while ((r = PQgetResult(c)) != NULL) {
		if (!ok(r)) {
			fprintf(stderr, "error: PostgreSQL: %s", PQresultErrorMessage(r));
			rc = -1;
		}
		PQclear(r);
	}
	return rc;
}

/* Start a COPY ... FROM STDIN; 0 ok, -1 with the error on stderr. */
static int
copy_begin(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COPY_IN;

	if (!ok)
		fprintf(stderr, "error: PostgreSQL: %s", PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* The backfill's rows (each key once, into the step's new tables, shard
 * 0) by COPY: the upserts' values without their per-row merge.  0 ok. */
static int
copy_tags(PGconn *c, const otas__rollup_row_t *rows, size_t n)
{
	otas__buf_t b;
	int rc = 0;

	if (!n)
		return 0;
	if (copy_begin(c, "COPY rollup_tags(project, res, bucket, tag, method,"
	               " route, status, unmatched, shard, n, errors, lat_sum,"
	               " lat_min, lat_max, hist) FROM STDIN (FORMAT binary)") != 0)
		return -1;
	otas__buf_init(&b);
	/* binary COPY: signature, flags, header extension length */
	otas__buf_append(&b, "PGCOPY\n\377\r\n\0", 11);
	put_be(&b, 0, 4);
	put_be(&b, 0, 4);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const otas__rollup_row_t *x = &rows[i];
		int last = 0; /* the bins otas__hist_text writes: to the last
		               * non-zero one, at least one */
		for (int k = 0; k < OTAS__HIST_BINS; k++)
			if (x->hist[k])
				last = k;
		put_be(&b, 15, 2);
		barr_int(&b, x->project, 8);
		barr_int(&b, x->res_s, 4);
		barr_int(&b, x->bucket_us, 8);
		barr_text(&b, x->tag, strlen(x->tag));
		barr_text(&b, x->method, strlen(x->method));
		barr_text(&b, x->route, strlen(x->route));
		barr_int(&b, x->status, 8);
		barr_int(&b, x->unmatched ? 1 : 0, 1);
		barr_int(&b, 0, 4); /* shard */
		barr_int(&b, x->n, 8);
		barr_int(&b, x->errors, 8);
		barr_float8(&b, x->lat_sum);
		barr_float8(&b, x->lat_min);
		barr_float8(&b, x->lat_max);
		/* int4[]: ndim, no nulls, int4, length, lower bound 1, items */
		put_be(&b, (uint64_t)(20 + 8 * (last + 1)), 4);
		put_be(&b, 1, 4);
		put_be(&b, 0, 4);
		put_be(&b, 23, 4); /* int4 */
		put_be(&b, (uint64_t)(last + 1), 4);
		put_be(&b, 1, 4);
		for (int k = 0; k <= last; k++)
			barr_int(&b, x->hist[k], 4);
		rc = copy_send(c, &b, 0);
	}
	if (rc == 0)
		put_be(&b, 0xffff, 2); /* trailer: -1 */
	rc = copy_end(c, &b, rc);
	otas__buf_free(&b);
	return rc;
}

static int
copy_people(PGconn *c, const otas__people_agg_t *rows, size_t n)
{
	otas__buf_t b;
	int rc = 0;

	if (!n)
		return 0;
	if (copy_begin(c, "COPY rollup_people_tags(project, res, bucket, tag,"
	               " kind, id, shard, company, n, errors, first_ts, last_ts)"
	               " FROM STDIN") != 0)
		return -1;
	otas__buf_init(&b);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const otas__people_agg_t *x = &rows[i];
		otas__buf_printf(&b, "%lld\t%lld\t%lld\t", (long long)x->project,
		                 (long long)x->res_s, (long long)x->bucket_us);
		copy_text(&b, x->tag);
		otas__buf_printf(&b, "\t%s\t", otas__people_kind(x->company));
		copy_text(&b, x->id);
		otas__buf_puts(&b, "\t0\t");
		copy_text(&b, x->company_id);
		otas__buf_printf(&b, "\t%lld\t%lld\t%lld\t%lld\n", x->n, x->errors,
		                 (long long)x->first_us, (long long)x->last_us);
		rc = copy_send(c, &b, 0);
	}
	rc = copy_end(c, &b, rc);
	otas__buf_free(&b);
	return rc;
}

/* The tag rollups of the events already stored (their step), as
 * SQLite's fill_tags: each event with tags as ingest read it, through
 * ingest's builds, a cursor's chunk at a time, as shard 0.  0 ok. */
#define FILL_CHUNK "5000"
static int
fill_tags(PGconn *c)
{
	otas__event_t *ev = NULL;
	otas__store_job_t *jobs = NULL;
	PGresult *r = NULL;
	otas__rollup_acc_t acc = {0};
	int64_t last_pk, last_ts;
	long long done_n = 0, rows_n = 0;
	double t0 = otas__mono_ms(), tw = 0, tp = 0, t;
	int rc = -1;

	if (exec_sql(c, "DECLARE otas_fill NO SCROLL CURSOR FOR SELECT project,"
	                " ts, method, path, route, status, is_error, agent_id,"
	                " agent_session_id, event_id, latency_ms, doc FROM events"
	                " WHERE strpos(doc, 'tags') > 0 OR strpos(doc, '\\u') > 0"
	                " ORDER BY project, ts")
	    != 0)
		return -1;
	fprintf(stderr, "otas-collector: schema step: filling the tag rollups"
	                " from the stored events\n");
	for (;;) {
		int n, nj = 0;
		size_t nr;
		otas__people_agg_t *rows;
		PQclear(r);
		r = PQexec(c, "FETCH " FILL_CHUNK " FROM otas_fill");
		if (!ok(r))
			goto done;
		if ((n = PQntuples(r)) == 0) {
			/* every row left */
			otas__rollup_acc_take(&acc, 0, 0, 1);
			rc = -1;
			t = otas__mono_ms();
			if (copy_tags(c, acc.rdone, acc.nrdone) != 0)
				goto done;
			tw += otas__mono_ms() - t;
			t = otas__mono_ms();
			if (copy_people(c, acc.pdone, acc.npdone) != 0)
				goto done;
			tp += otas__mono_ms() - t;
			rows_n += (long long)(acc.nrdone + acc.npdone);
			fprintf(stderr, "otas-collector: tag rollups: %lld events"
			                " read, %lld rows written in %.1f s (COPY:"
			                " %.1f s rollup_tags, %.1f s"
			                " rollup_people_tags)\n", done_n, rows_n,
			        (otas__mono_ms() - t0) / 1000, tw / 1000,
			        tp / 1000);
			break;
		}
		last_pk = ival(r, n - 1, 0);
		last_ts = ival(r, n - 1, 1);
		free(ev);
		free(jobs);
		ev = calloc((size_t)n, sizeof *ev);
		jobs = calloc((size_t)n, sizeof *jobs);
		if (!ev || !jobs)
			abort();
		for (int i = 0; i < n; i++) {
			otas__stored_event_t x = {0};
			x.ts_us = ival(r, i, 1);
			x.method = val(r, i, 2);
			x.path = val(r, i, 3);
			x.route = val(r, i, 4);
			x.status = ival(r, i, 5);
			x.is_error = (int)ival(r, i, 6);
			x.agent_id = val(r, i, 7);
			x.agent_session_id = val(r, i, 8);
			x.event_id = val(r, i, 9);
			x.latency_ms = strtod(PQgetvalue(r, i, 10), NULL);
			x.doc = PQgetvalue(r, i, 11);
			x.doc_len = (size_t)PQgetlength(r, i, 11);
			if (otas__event_from_stored(&ev[nj], &x) != 0)
				continue;
			if (!ev[nj].n_tags) {
				otas__event_clear(&ev[nj]);
				continue;
			}
			jobs[nj].project_pk = ival(r, i, 0);
			jobs[nj].ev = &ev[nj];
			jobs[nj].n = 1;
			jobs[nj].received_us = x.ts_us;
			if (nj)
				jobs[nj - 1].next = &jobs[nj];
			nj++;
		}
		rc = 0;
		if (nj) {
			otas__rollup_row_t *rrows;
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
		/* the rows whose buckets closed: once per key, into the new
		 * tables, so no upsert conflicts */
		if (rc == 0) {
			otas__rollup_acc_take(&acc, last_pk, last_ts, 0);
			t = otas__mono_ms();
			rc = copy_tags(c, acc.rdone, acc.nrdone);
			tw += otas__mono_ms() - t;
			t = otas__mono_ms();
			if (rc == 0)
				rc = copy_people(c, acc.pdone, acc.npdone);
			tp += otas__mono_ms() - t;
			rows_n += (long long)(acc.nrdone + acc.npdone);
		}
		done_n += n;
		if (done_n % 100000 < n)
			fprintf(stderr, "otas-collector: tag rollups: %lld events"
			                " read\n", done_n);
		for (int i = 0; i < nj; i++)
			otas__event_clear(&ev[i]);
		if (rc != 0)
			goto done;
	}
	rc = exec_sql(c, "CLOSE otas_fill");
done:
	otas__rollup_acc_free(&acc);
	PQclear(r);
	free(ev);
	free(jobs);
	return rc;
}

static int
migrate(PGconn *c, char *err, size_t errlen)
{
	int target = (int)(sizeof migrations / sizeof *migrations), version;
	PGresult *r;

	if (exec_sql(c, "BEGIN") != 0 ||
	    exec_sql(c, "SELECT pg_advisory_xact_lock(" PG_LOCK_ID ")") != 0 ||
	    exec_sql(c, "CREATE TABLE IF NOT EXISTS otas_schema(version int"
	                " NOT NULL)") != 0)
		goto fail;
	r = PQexec(c, "SELECT version FROM otas_schema");
	if (!ok(r)) {
		PQclear(r);
		goto fail;
	}
	version = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	if (version < 0) {
		if (exec_sql(c, "INSERT INTO otas_schema VALUES(0)") != 0)
			goto fail;
		version = 0;
	}
	if (version > target) {
		exec_sql(c, "ROLLBACK");
		snprintf(err, errlen,
		         "database schema %d is newer than this collector (%d)",
		         version, target);
		return -1;
	}
	if (version < 2 && target >= 2) {
		/* Text search needs pg_trgm (PostgreSQL's contrib, in Debian's
		 * postgresql-15 package); say so plainly when it is missing or
		 * the role may not create it. */
		r = PQexec(c, "SELECT 1 FROM pg_available_extensions"
		              " WHERE name = 'pg_trgm'");
		if (!ok(r) || PQntuples(r) == 0) {
			PQclear(r);
			exec_sql(c, "ROLLBACK");
			snprintf(err, errlen,
			         "PostgreSQL has no pg_trgm extension (text search "
			         "needs it: install PostgreSQL's contrib modules)");
			return -1;
		}
		PQclear(r);
		r = PQexec(c, "CREATE EXTENSION IF NOT EXISTS pg_trgm");
		if (!ok(r)) {
			const char *m = PQresultErrorMessage(r);
			snprintf(err, errlen,
			         "cannot create the pg_trgm extension: %.*s (a "
			         "superuser can run CREATE EXTENSION pg_trgm once)",
			         (int)strcspn(m, "\n"), m);
			PQclear(r);
			exec_sql(c, "ROLLBACK");
			return -1;
		}
		PQclear(r);
	}
	for (; version < target; version++) {
		char sql[64];
		snprintf(sql, sizeof sql, "UPDATE otas_schema SET version=%d",
		         version + 1);
		if (exec_sql(c, migrations[version]) != 0 ||
		    (migrations[version] == pg_tags_migration &&
		     fill_tags(c) != 0) ||
		    exec_sql(c, sql) != 0)
			goto fail;
	}
	if (exec_sql(c, "COMMIT") != 0)
		goto fail;
	return 0;
fail:
	exec_sql(c, "ROLLBACK");
	snprintf(err, errlen, "schema migration failed");
	return -1;
}

static void pg_close(void *b);

static void *
pg_open(const char *target, int create, char *err, size_t errlen)
{
	pg_t *q = calloc(1, sizeof *q);

	(void)create; /* the database itself is made by the operator */
	if (!q)
		abort();
	pthread_mutex_init(&q->adm_lock, NULL);
	pthread_mutex_init(&q->pool_lock, NULL);
	pthread_cond_init(&q->pool_cond, NULL);
	q->conninfo = strdup(target);
	if (!q->conninfo)
		abort();
	for (int w = 0; w < OTAS__PG_WRITERS; w++)
		for (int i = 0; i < 18; i++)
			otas__buf_init(&q->cols[w][i]);
	if (conn_open(&q->adm, target, 0, err, errlen) != 0)
		goto fail;
	if (migrate(q->adm.c, err, errlen) != 0)
		goto fail;
	if (prepare_all(q->adm.c) != 0) {
		snprintf(err, errlen, "cannot prepare statements");
		goto fail;
	}
	return q;
fail:
	pg_close(q);
	return NULL;
}

/* The read pool connects on first use: CLI commands never need it. */
static conn_t *
reader_get(pg_t *q)
{
	conn_t *k = NULL;

	pthread_mutex_lock(&q->pool_lock);
	for (;;) {
		for (int i = 0; i < OTAS__PG_READERS && !k; i++)
			if (!q->rd[i].busy)
				k = &q->rd[i];
		if (k)
			break;
		pthread_cond_wait(&q->pool_cond, &q->pool_lock);
	}
	k->busy = 1;
	pthread_mutex_unlock(&q->pool_lock);
	if (!k->c) {
		char err[256];
		if (conn_open(k, q->conninfo, 1, err, sizeof err) != 0)
			fprintf(stderr, "error: %s\n", err); /* next use retries */
	}
	return k;
}

static void
reader_put(pg_t *q, conn_t *k)
{
	pthread_mutex_lock(&q->pool_lock);
	k->busy = 0;
	pthread_cond_signal(&q->pool_cond);
	pthread_mutex_unlock(&q->pool_lock);
}

static void
pg_close(void *b)
{
	pg_t *q = b;

	for (int i = 0; i < OTAS__PG_READERS; i++)
		PQfinish(q->rd[i].c);
	PQfinish(q->adm.c);
	for (int w = 0; w < OTAS__PG_WRITERS; w++) {
		PQfinish(q->wr[w].c);
		for (int i = 0; i < 18; i++)
			otas__buf_free(&q->cols[w][i]);
	}
	pthread_mutex_destroy(&q->adm_lock);
	pthread_mutex_destroy(&q->pool_lock);
	pthread_cond_destroy(&q->pool_cond);
	free(q->conninfo);
	free(q);
}

/* ---- admin ---------------------------------------------------------- */

static int
pg_secret(void *b, const char *name, unsigned char out[32])
{
	pg_t *q = b;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	for (int attempt = 0; attempt < 2 && rc != 0; attempt++) {
		const char *v[2] = {name, NULL};
		PGresult *r = run(&q->adm, P_SECRET_GET, 1, v);
		unsigned char fresh[32];
		char hex[2 + 64 + 1];
		if (!ok(r)) {
			PQclear(r);
			break;
		}
		if (PQntuples(r) == 1) {
			size_t n = 0;
			unsigned char *bin = PQunescapeBytea(
			    (const unsigned char *)PQgetvalue(r, 0, 0), &n);
			if (bin && n == 32) {
				memcpy(out, bin, 32);
				rc = 0;
			}
			PQfreemem(bin);
			PQclear(r);
			break;
		}
		PQclear(r);
		if (attempt || otas__random_bytes(fresh, 32) != 0)
			break;
		strcpy(hex, "\\x");
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 + 2 * i, 3, "%02x", fresh[i]);
		v[1] = hex;
		r = run(&q->adm, P_SECRET_PUT, 2, v);
		int good = ok(r);
		PQclear(r);
		if (!good)
			break;
	}
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

/* One admin statement with no rows wanted: 0 ok (or affected rows). */
static int
adm_cmd(pg_t *q, int stmt, int n, const char *const *v, int want_count)
{
	PGresult *r;
	int rc;

	pthread_mutex_lock(&q->adm_lock);
	r = run(&q->adm, stmt, n, v);
	rc = ok(r) ? (want_count ? atoi(PQcmdTuples(r)) : 0) : -1;
	if (rc < 0 && r)
		fprintf(stderr, "error: PostgreSQL: %s", PQresultErrorMessage(r));
	PQclear(r);
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int
pg_project_create(void *b, const char *id, const char *name,
                  const char *desc, int64_t now)
{
	char n[24];
	const char *v[4] = {id, name, desc, I64(n, now)};

	return adm_cmd(b, P_PROJECT_INSERT, 4, v, 0);
}

static int
pg_project_each(void *b, int64_t now, otas__project_cb cb, void *arg)
{
	pg_t *q = b;
	char n[24];
	const char *v[1] = {I64(n, now)};
	PGresult *r;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	r = run(&q->adm, P_PROJECT_LIST, 1, v);
	if (ok(r)) {
		rc = 0;
		for (int i = 0; i < PQntuples(r); i++) {
			otas__project_row_t row = {val(r, i, 0), val(r, i, 1),
			                           val(r, i, 2), ival(r, i, 3),
			                           (int)ival(r, i, 4)};
			if (cb(arg, &row))
				break;
		}
	}
	PQclear(r);
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int64_t
pg_project_pk(void *b, const char *id)
{
	pg_t *q = b;
	const char *v[1] = {id};
	PGresult *r;
	int64_t pk = -1;

	pthread_mutex_lock(&q->adm_lock);
	r = run(&q->adm, P_PROJECT_PK, 1, v);
	if (ok(r) && PQntuples(r) == 1)
		pk = ival(r, 0, 0);
	PQclear(r);
	pthread_mutex_unlock(&q->adm_lock);
	return pk;
}

static int
pg_key_insert(void *b, int64_t pk, const char *prefix, const char *hash,
              int role, int64_t now, int64_t expires_at)
{
	char a[24], c[24], d[24], e[24];
	const char *v[6] = {prefix, I64(a, pk), hash, I64(c, now),
	                    I64(d, expires_at), I64(e, role)};

	return adm_cmd(b, P_KEY_INSERT, 6, v, 0);
}

static void
copy_str(char *out, size_t n, const char *s)
{
	snprintf(out, n, "%s", s ? s : "");
}

static int
pg_key_lookup(void *b, const char *prefix, otas__key_row_t *out)
{
	pg_t *q = b;
	const char *v[1] = {prefix};
	PGresult *r;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	r = run(&q->adm, P_KEY_LOOKUP, 1, v);
	if (ok(r)) {
		rc = PQntuples(r) == 1;
		if (rc) {
			memset(out, 0, sizeof *out);
			copy_str(out->hash, sizeof out->hash, val(r, 0, 0));
			out->expires_at = ival(r, 0, 1);
			out->revoked = val(r, 0, 2) && *val(r, 0, 2) == 't';
			out->role = (int)ival(r, 0, 3);
			out->proj.pk = ival(r, 0, 4);
			copy_str(out->proj.id, sizeof out->proj.id, val(r, 0, 5));
			copy_str(out->proj.name, sizeof out->proj.name, val(r, 0, 6));
			copy_str(out->proj.description, sizeof out->proj.description,
			         val(r, 0, 7));
		}
	}
	PQclear(r);
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int
pg_key_revoke(void *b, const char *prefix, int64_t now)
{
	char n[24];
	const char *v[2] = {I64(n, now), prefix};

	return adm_cmd(b, P_KEY_REVOKE, 2, v, 1);
}

static int
pg_agent_session(void *b, int64_t pk, const char *agent,
                 const char *new_agent_id, const char *session_id,
                 int64_t now, int64_t expires_at, char agent_id_out[37])
{
	pg_t *q = b;
	char p[24], t[24], e[24];
	const char *v1[4] = {new_agent_id, I64(p, pk), agent, I64(t, now)};
	const char *v2[2] = {p, agent};
	const char *v3[4] = {session_id, agent_id_out, t, I64(e, expires_at)};
	PGresult *r = NULL;
	int rc = -1;

	pthread_mutex_lock(&q->adm_lock);
	if (conn_ready(&q->adm) != 0 || exec_sql(q->adm.c, "BEGIN") != 0)
		goto done;
	r = run(&q->adm, P_AGENT_INSERT, 4, v1);
	if (!ok(r))
		goto rollback;
	PQclear(r);
	r = run(&q->adm, P_AGENT_ID, 2, v2);
	if (!ok(r) || PQntuples(r) != 1)
		goto rollback;
	copy_str(agent_id_out, 37, val(r, 0, 0));
	PQclear(r);
	r = run(&q->adm, P_SESSION_INSERT, 4, v3);
	if (!ok(r))
		goto rollback;
	if (exec_sql(q->adm.c, "COMMIT") == 0) {
		rc = 0;
		goto done;
	}
rollback:
	exec_sql(q->adm.c, "ROLLBACK");
done:
	PQclear(r);
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

/* ---- writer --------------------------------------------------------- */

static int
pg_writer_open(void *b, int w, const otas__writer_opts_t *o)
{
	pg_t *q = b;
	char err[256];

	q->sync_full = o->sync_full;
	if (w == 0) { /* writer 0's indexer reads them while 1.. open */
		q->no_text_index = o->no_text_index;
		q->index_chunk = 500;
	}
	if (conn_open(&q->wr[w], q->conninfo, 1, err, sizeof err) != 0) {
		fprintf(stderr, "error: %s\n", err);
		return -1;
	}
	/* --sync normal: commit without waiting for the WAL flush (a
	 * PostgreSQL crash may lose the last acknowledged groups). */
	if (!o->sync_full &&
	    exec_sql(q->wr[w].c, "SET synchronous_commit = off") != 0)
		return -1;
	/* The text index on or off (the database's, for every collector on
	 * it: give them all the same --text-index), under the DDL lock. */
	if (w == 0) {
		PGconn *c = q->wr[0].c;
		PGresult *r = PQexec(c, "SELECT to_regclass('events_search')"
		                        " IS NOT NULL");
		int have = ok(r) && PQntuples(r) == 1 &&
		           PQgetvalue(r, 0, 0)[0] == 't';
		PQclear(r);
		/* Nothing to do is the usual case: no DDL, no table lock
		 * taken while other collectors ingest. */
		if (have == !o->no_text_index)
			return 0;
		if (exec_sql(c, "BEGIN") != 0 ||
		    exec_sql(c, "SELECT pg_advisory_xact_lock(" PG_LOCK_ID ")") != 0 ||
		    exec_sql(c, o->no_text_index ? "DROP INDEX IF EXISTS events_search"
		                                 : PG_SEARCH_INDEX) != 0 ||
		    exec_sql(c, "COMMIT") != 0) {
			exec_sql(c, "ROLLBACK");
			return -1;
		}
	}
	return 0;
}

/* Append s as one element of a text[] literal: "..." with " and \
 * escaped, or NULL. */
static void
arr_text(otas__buf_t *b, const char *s, size_t n)
{
	if (b->len > 1)
		otas__buf_putc(b, ',');
	if (!s) {
		otas__buf_puts(b, "NULL");
		return;
	}
	otas__buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		size_t j = i;
		while (j < n && s[j] != '"' && s[j] != '\\')
			j++;
		otas__buf_append(b, s + i, j - i);
		if (j == n)
			break;
		otas__buf_putc(b, '\\');
		otas__buf_putc(b, s[j]);
		i = j;
	}
	otas__buf_putc(b, '"');
}

static void
arr_num(otas__buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
arr_num(otas__buf_t *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (b->len > 1)
		otas__buf_putc(b, ',');
	otas__buf_puts(b, tmp);
}

/* The event insert's arrays go in PostgreSQL's binary array format
 * (array_recv): a header, then each element as a 4-byte length (-1:
 * NULL) and its bytes, big-endian.  The text form cost both sides a
 * pass over every byte of every document, to escape it here and to
 * parse the literal there (array_in); this costs a copy.  The element
 * type ids are PostgreSQL's fixed ones (pg_type.dat). */
enum { OID_BOOL = 16, OID_INT2 = 21, OID_INT4 = 23, OID_INT8 = 20,
       OID_TEXT = 25, OID_FLOAT8 = 701 };

static void
put_be(otas__buf_t *b, uint64_t x, int n)
{
	unsigned char t[8];

	for (int i = 0; i < n; i++)
		t[i] = (unsigned char)(x >> (8 * (n - 1 - i)));
	otas__buf_append(b, t, (size_t)n);
}

/* Start an array of one dimension; barr_end fills in the count. */
static void
barr_begin(otas__buf_t *b, uint32_t oid)
{
	otas__buf_reset(b);
	put_be(b, 1, 4);   /* ndim */
	put_be(b, 0, 4);   /* flags: has nulls (barr_end) */
	put_be(b, oid, 4); /* element type */
	put_be(b, 0, 4);   /* dimension (barr_end) */
	put_be(b, 1, 4);   /* lower bound */
}

static void
barr_end(otas__buf_t *b, uint32_t n, int nulls)
{
	if (b->oom || b->len < 20)
		return;
	for (int i = 0; i < 4; i++) {
		b->data[4 + i] = (char)(i == 3 && nulls);
		b->data[12 + i] = (char)(unsigned char)(n >> (8 * (3 - i)));
	}
}

static void
barr_int(otas__buf_t *b, int64_t v, int size)
{
	put_be(b, (uint64_t)size, 4);
	put_be(b, (uint64_t)v, size);
}

static void
barr_float8(otas__buf_t *b, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	put_be(b, 8, 4);
	put_be(b, u, 8);
}

/* s of n bytes, or NULL (returns 1 then). */
static int
barr_text(otas__buf_t *b, const char *s, size_t n)
{
	if (!s) {
		put_be(b, 0xffffffffu, 4);
		return 1;
	}
	put_be(b, (uint64_t)n, 4);
	otas__buf_append(b, s, n);
	return 0;
}

typedef struct {
	int64_t project;
	const char *event_id;
	otas__event_t *ev;
	otas__store_job_t *job;
} ref_t;

static int
ref_cmp(const void *a, const void *b)
{
	const ref_t *x = a, *y = b;

	if (x->project != y->project)
		return x->project < y->project ? -1 : 1;
	return strcmp(x->event_id, y->event_id);
}

/* The group's rollup rows (rollup.h) in one statement, inside its
 * transaction.  0 ok. */
static int put_rollups(conn_t *k, PGconn *c, const otas__rollup_row_t *rows,
                       size_t n, int w, int tags);

static int
upsert_rollups(pg_t *q, int w, otas__store_job_t *batch, int tags)
{
	otas__rollup_row_t *rows;
	size_t n;
	int rc;

	if ((tags ? otas__rollup_build_tags(batch, &rows, &n)
	          : otas__rollup_build(batch, &rows, &n)) != 0)
		return -1;
	rc = put_rollups(&q->wr[w], NULL, rows, n, w, tags);
	free(rows);
	return rc;
}

/* Rollup rows in one statement (P_ROLLUP_UPSERT, or P_TAGS_UPSERT: tags)
 * as shard w: prepared on writer k, else as text on c (the migration's
 * connection).  0 ok. */
static int
put_rollups(conn_t *k, PGconn *c, const otas__rollup_row_t *rows, size_t n,
            int w, int tags)
{
	otas__buf_t a[14], h;
	const char *v[15];
	char shard[16];
	PGresult *r;
	int rc = -1, na = tags ? 14 : 13;

	if (!n)
		return 0;
	otas__buf_init(&h);
	for (int i = 0; i < na; i++) {
		otas__buf_init(&a[i]);
		otas__buf_putc(&a[i], '{');
	}
	for (size_t i = 0; i < n; i++) {
		const otas__rollup_row_t *x = &rows[i];
		arr_num(&a[0], "%lld", (long long)x->project);
		arr_num(&a[1], "%lld", (long long)x->res_s);
		arr_num(&a[2], "%lld", (long long)x->bucket_us);
		arr_text(&a[3], x->method, strlen(x->method));
		arr_text(&a[4], x->route, strlen(x->route));
		arr_num(&a[5], "%lld", x->status);
		arr_num(&a[6], "%s", x->unmatched ? "t" : "f");
		arr_num(&a[7], "%lld", x->n);
		arr_num(&a[8], "%lld", x->errors);
		arr_num(&a[9], "%.17g", x->lat_sum);
		arr_num(&a[10], "%.17g", x->lat_min);
		arr_num(&a[11], "%.17g", x->lat_max);
		otas__buf_reset(&h);
		otas__hist_text(&h, x->hist);
		arr_text(&a[12], h.data, h.len);
		if (tags)
			arr_text(&a[13], x->tag, strlen(x->tag));
	}
	for (int i = 0; i < na; i++) {
		otas__buf_putc(&a[i], '}');
		v[i < 13 ? i : 14] = a[i].data;
	}
	snprintf(shard, sizeof shard, "%d", w);
	v[13] = shard;
	if (!h.oom) {
		int st = tags ? P_TAGS_UPSERT : P_ROLLUP_UPSERT;
		r = k ? run(k, st, tags ? 15 : 14, v)
		      : PQexecParams(c, sql_text[st], tags ? 15 : 14, NULL, v, NULL,
		                     NULL, 0);
		if (ok(r))
			rc = 0;
		else
			fprintf(stderr, "error: rollup upsert failed: %s",
			        r ? PQresultErrorMessage(r) : "no connection\n");
		PQclear(r);
	}
	for (int i = 0; i < na; i++)
		otas__buf_free(&a[i]);
	otas__buf_free(&h);
	return rc;
}

/* People rows in one statement (P_PEOPLE_UPSERT, or P_PTAGS_UPSERT:
 * tags) as shard w: prepared on writer k, else as text on c (the
 * migration's connection).  0 ok. */
static int
put_people(conn_t *k, PGconn *c, const otas__people_agg_t *rows, size_t n,
           int w, int tags)
{
	otas__buf_t a[11];
	const char *v[12];
	char shard[16];
	PGresult *r;
	int rc = -1, oom = 0, na = tags ? 11 : 10;

	if (!n)
		return 0;
	for (int i = 0; i < na; i++) {
		otas__buf_init(&a[i]);
		otas__buf_putc(&a[i], '{');
	}
	for (size_t i = 0; i < n; i++) {
		const otas__people_agg_t *x = &rows[i];
		arr_num(&a[0], "%lld", (long long)x->project);
		arr_num(&a[1], "%lld", (long long)x->res_s);
		arr_num(&a[2], "%lld", (long long)x->bucket_us);
		arr_num(&a[3], "%s", otas__people_kind(x->company));
		arr_text(&a[4], x->id, strlen(x->id));
		arr_text(&a[5], x->company_id,
		         x->company_id ? strlen(x->company_id) : 0);
		arr_num(&a[6], "%lld", x->n);
		arr_num(&a[7], "%lld", x->errors);
		arr_num(&a[8], "%lld", (long long)x->first_us);
		arr_num(&a[9], "%lld", (long long)x->last_us);
		if (tags)
			arr_text(&a[10], x->tag, strlen(x->tag));
	}
	for (int i = 0; i < na; i++) {
		otas__buf_putc(&a[i], '}');
		oom |= a[i].oom;
		v[i < 10 ? i : 11] = a[i].data;
	}
	snprintf(shard, sizeof shard, "%d", w);
	v[10] = shard;
	if (!oom) {
		int st = tags ? P_PTAGS_UPSERT : P_PEOPLE_UPSERT;
		r = k ? run(k, st, tags ? 12 : 11, v)
		      : PQexecParams(c, sql_text[st], tags ? 12 : 11, NULL, v,
		                     NULL, NULL, 0);
		if (ok(r))
			rc = 0;
		else
			fprintf(stderr, "error: rollup upsert failed: %s",
			        r ? PQresultErrorMessage(r) : "no connection\n");
		PQclear(r);
	}
	for (int i = 0; i < na; i++)
		otas__buf_free(&a[i]);
	return rc;
}

/* The group's people rollup rows (rollup.h), likewise; tags: the tag
 * ones.  0 ok. */
static int
upsert_people(pg_t *q, int w, otas__store_job_t *batch, int tags)
{
	otas__people_agg_t *rows;
	size_t n;
	int rc;

	if ((tags ? otas__people_build_tags(batch, &rows, &n)
	          : otas__people_build(batch, &rows, &n)) != 0)
		return -1;
	rc = put_people(&q->wr[w], NULL, rows, n, w, tags);
	free(rows);
	return rc;
}

static int
pg_writer_commit(void *b, int w, otas__store_job_t *batch, int fail)
{
	pg_t *q = b;
	otas__buf_t *cols = q->cols[w];
	conn_t *wr = &q->wr[w];
	/* P_EVENT_INSERT's $1..$18 */
	static const uint32_t col_oid[18] = {
	    OID_INT4, OID_INT8, OID_TEXT, OID_INT8, OID_INT8, OID_TEXT,
	    OID_TEXT, OID_TEXT, OID_INT8, OID_FLOAT8, OID_INT2, OID_TEXT,
	    OID_TEXT, OID_INT2, OID_TEXT, OID_TEXT, OID_TEXT, OID_BOOL};
	const char *v[18];
	int lens[18], fmts[18];
	otas__store_job_t *j;
	ref_t *refs = NULL;
	size_t nrefs = 0, cap = 0;
	PGresult *r = NULL;
	int rc = -1, oom = 0, nulls11 = 0, nulls12 = 0, nulls15 = 0, nulls16 = 0;

	for (j = batch; j; j = j->next) {
		j->accepted = j->duplicates = 0;
		for (size_t i = 0; i < j->n; i++) {
			otas__event_t *e = &j->ev[i];
			if (e->reject || !e->doc)
				continue;
			e->inserted = 0;
			if (nrefs == cap) {
				cap = cap ? cap * 2 : 256;
				refs = realloc(refs, cap * sizeof *refs);
				if (!refs)
					abort();
			}
			refs[nrefs++] = (ref_t){j->project_pk, e->event_id, e, j};
		}
	}
	/* Rows in key order: concurrent groups (several writers, several
	 * collectors) then take the unique index's locks in one order and
	 * cannot deadlock on a retried batch. */
	qsort(refs, nrefs, sizeof *refs, ref_cmp);
	for (int i = 0; i < 18; i++)
		barr_begin(&cols[i], col_oid[i]);
	for (size_t k = 0; k < nrefs; k++) {
		otas__event_t *e = refs[k].ev;
		otas__store_job_t *jj = refs[k].job;
		const char *route = e->route ? e->route : e->path;
		barr_int(&cols[0], otas__event_day(e, jj->received_us), 4);
		barr_int(&cols[1], jj->project_pk, 8);
		barr_text(&cols[2], e->event_id, strlen(e->event_id));
		barr_int(&cols[3], e->ts_us ? e->ts_us : jj->received_us, 8);
		barr_int(&cols[4], jj->received_us, 8);
		barr_text(&cols[5], e->method, strlen(e->method));
		barr_text(&cols[6], e->path, strlen(e->path));
		barr_text(&cols[7], route, strlen(route));
		barr_int(&cols[8], e->status, 8);
		barr_float8(&cols[9], e->latency_ms);
		barr_int(&cols[10], e->is_error, 2);
		nulls11 |= barr_text(&cols[11], *e->agent_id ? e->agent_id : NULL,
		                     strlen(e->agent_id));
		nulls12 |= barr_text(&cols[12],
		                     *e->agent_session_id ? e->agent_session_id
		                                          : NULL,
		                     strlen(e->agent_session_id));
		barr_int(&cols[13], e->agent_verified, 2);
		barr_text(&cols[14], e->doc, e->doc_len);
		{
			/* the decoder's user_id / company_id are WHO's value
			 * when it read them plainly (ingest.h who) and the
			 * document has no \u escape (WHO's guard); else the
			 * insert computes WHO (x true) */
			int x = e->who[0] == OTAS__WHO_DOC ||
			        e->who[1] == OTAS__WHO_DOC ||
			        memmem(e->doc, e->doc_len, "\\u", 2) != NULL;
			nulls15 |= barr_text(&cols[15], x ? NULL : e->user_id,
			                     e->user_id ? strlen(e->user_id) : 0);
			nulls16 |= barr_text(&cols[16], x ? NULL : e->company_id,
			                     e->company_id ? strlen(e->company_id)
			                                   : 0);
			put_be(&cols[17], 1, 4);
			put_be(&cols[17], (uint64_t)x, 1);
		}
	}
	for (int i = 0; i < 18; i++) {
		barr_end(&cols[i], (uint32_t)nrefs,
		         (i == 11 && nulls11) || (i == 12 && nulls12) ||
		             (i == 15 && nulls15) || (i == 16 && nulls16));
		oom |= cols[i].oom;
		v[i] = cols[i].data;
		lens[i] = (int)cols[i].len;
		fmts[i] = 1;
	}
	if (oom)
		abort(); /* the collector aborts on OOM */
	if (conn_ready(wr) != 0 || exec_sql(wr->c, "BEGIN") != 0)
		goto done;
	r = run_bin(wr, P_EVENT_INSERT, 18, v, lens, fmts);
	if (!ok(r)) {
		fprintf(stderr, "error: insert failed: %s",
		        r ? PQresultErrorMessage(r) : "no connection\n");
		goto rollback;
	}
	/* Mark the rows that were new; the rest were duplicates. */
	for (int i = 0; i < PQntuples(r); i++) {
		ref_t key = {ival(r, i, 0), val(r, i, 1), NULL, NULL};
		ref_t *hit = bsearch(&key, refs, nrefs, sizeof *refs, ref_cmp);
		if (!hit)
			continue;
		while (hit > refs && ref_cmp(hit - 1, &key) == 0)
			hit--;
		while (hit < refs + nrefs && ref_cmp(hit, &key) == 0 &&
		       hit->ev->inserted)
			hit++;
		if (hit < refs + nrefs && ref_cmp(hit, &key) == 0)
			hit->ev->inserted = 1;
	}
	if (upsert_rollups(q, w, batch, 0) != 0 ||
	    upsert_rollups(q, w, batch, 1) != 0 ||
	    upsert_people(q, w, batch, 0) != 0 ||
	    upsert_people(q, w, batch, 1) != 0)
		goto rollback;
	if (fail) {
		fprintf(stderr, "error: commit failed: test failure\n");
		goto rollback;
	}
	if (exec_sql(wr->c, "COMMIT") != 0)
		goto unmark;
	for (size_t i = 0; i < nrefs; i++) {
		if (refs[i].ev->inserted)
			refs[i].job->accepted++;
		else
			refs[i].job->duplicates++;
	}
	rc = 0;
	goto done;
rollback:
	exec_sql(wr->c, "ROLLBACK");
unmark:
	for (size_t i = 0; i < nrefs; i++)
		refs[i].ev->inserted = 0;
done:
	PQclear(r);
	free(refs);
	return rc;
}

/* Partitions for yesterday..today+2; drop those past retention and
 * delete old rows from the default partition.  Under the DDL advisory
 * lock (one collector at a time). */
static int
pg_writer_maintain(void *b, int64_t now_us, int retain_days,
                   otas__store_stats_t *acc)
{
	pg_t *q = b;
	int64_t today = now_us / (86400LL * 1000000);
	int64_t cutoff = today - retain_days;
	char sql[512];
	PGresult *r;
	int rc = 0;

	if (conn_ready(&q->wr[0]) != 0)
		return -1;
	if (exec_sql(q->wr[0].c, "SELECT pg_advisory_lock(" PG_LOCK_ID ")") != 0)
		return -1;
	for (int64_t d = today - 1; d <= today + 2; d++) {
		snprintf(sql, sizeof sql, "SELECT to_regclass('events_p%lld')",
		         (long long)d);
		r = PQexec(q->wr[0].c, sql);
		int exists = ok(r) && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0);
		PQclear(r);
		if (exists || (retain_days > 0 && d < cutoff))
			continue;
		snprintf(sql, sizeof sql,
		         "CREATE TABLE events_p%lld PARTITION OF events FOR VALUES"
		         " FROM (%lld) TO (%lld)",
		         (long long)d, (long long)d, (long long)d + 1);
		/* Fails when the default partition already holds rows of
		 * that day: they stay there, which is still correct. */
		if (exec_sql(q->wr[0].c, sql) == 0) {
			acc->partitions_created++;
			/* see migration 2 -> 3 */
			snprintf(sql, sizeof sql,
			         "CREATE STATISTICS IF NOT EXISTS events_p%lld_text ON"
			         " (otas_search_text(doc)) FROM events_p%lld",
			         (long long)d, (long long)d);
			exec_sql(q->wr[0].c, sql);
		}
	}
	if (retain_days > 0) {
		r = PQexec(q->wr[0].c,
		           "SELECT c.relname FROM pg_inherits i JOIN pg_class c"
		           " ON c.oid = i.inhrelid WHERE i.inhparent ="
		           " 'events'::regclass AND c.relname ~ '^events_p[0-9]+$'");
		if (!ok(r)) {
			PQclear(r);
			rc = -1;
			goto unlock;
		}
		for (int i = 0; i < PQntuples(r); i++) {
			const char *name = PQgetvalue(r, i, 0);
			long long d = strtoll(name + 8, NULL, 10);
			if (d >= cutoff)
				continue;
			snprintf(sql, sizeof sql, "DROP TABLE %s", name);
			if (exec_sql(q->wr[0].c, sql) == 0)
				acc->retention_dropped_partitions++;
			else
				rc = -1;
		}
		PQclear(r);
		snprintf(sql, sizeof sql,
		         "DELETE FROM events_default WHERE day < %lld",
		         (long long)cutoff);
		r = PQexec(q->wr[0].c, sql);
		if (ok(r))
			acc->retention_deleted_events += atoll(PQcmdTuples(r));
		else
			rc = -1;
		PQclear(r);
		/* the rollups of buckets wholly before the cutoff day */
		snprintf(sql, sizeof sql,
		         "DELETE FROM rollups WHERE bucket + res * 1000000::bigint"
		         " <= %lld",
		         (long long)cutoff * 86400LL * 1000000);
		if (exec_sql(q->wr[0].c, sql) != 0)
			rc = -1;
		snprintf(sql, sizeof sql,
		         "DELETE FROM rollup_people WHERE bucket + res *"
		         " 1000000::bigint <= %lld",
		         (long long)cutoff * 86400LL * 1000000);
		if (exec_sql(q->wr[0].c, sql) != 0)
			rc = -1;
		snprintf(sql, sizeof sql,
		         "DELETE FROM rollup_tags WHERE bucket + res *"
		         " 1000000::bigint <= %lld",
		         (long long)cutoff * 86400LL * 1000000);
		if (exec_sql(q->wr[0].c, sql) != 0)
			rc = -1;
		snprintf(sql, sizeof sql,
		         "DELETE FROM rollup_people_tags WHERE bucket + res *"
		         " 1000000::bigint <= %lld",
		         (long long)cutoff * 86400LL * 1000000);
		if (exec_sql(q->wr[0].c, sql) != 0)
			rc = -1;
	}
unlock:
	exec_sql(q->wr[0].c, "SELECT pg_advisory_unlock(" PG_LOCK_ID ")");
	return rc;
}

/* Deferred text index: one transaction marks the next index_chunk
 * unindexed rows text_indexed (adding them to the GIN index); rows
 * another collector's indexer holds are skipped.  The chunk adapts to
 * take about OTAS__PG_INDEX_CHUNK_MS.  Returns the rows indexed (0:
 * none left), -1 on failure. */
#ifndef OTAS__PG_INDEX_CHUNK_MS
#define OTAS__PG_INDEX_CHUNK_MS 50
#endif
static int
pg_writer_index(void *b, int w)
{
	pg_t *q = b;
	int64_t t0 = otas__now_us(), us;
	char sql[512];
	PGresult *r;
	int n;

	if (q->no_text_index || w != 0)
		return 0;
	if (conn_ready(&q->wr[0]) != 0)
		return -1;
	snprintf(sql, sizeof sql,
	         "UPDATE events e SET text_indexed = true FROM (SELECT day, id"
	         " FROM events WHERE NOT text_indexed LIMIT %d FOR UPDATE SKIP"
	         " LOCKED) u WHERE e.day = u.day AND e.id = u.id AND NOT"
	         " e.text_indexed",
	         q->index_chunk);
	r = PQexec(q->wr[0].c, sql);
	if (!ok(r)) {
		fprintf(stderr, "error: text indexer: %s",
		        PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	us = otas__now_us() - t0;
	if (us > OTAS__PG_INDEX_CHUNK_MS * 1000 && q->index_chunk > 32)
		q->index_chunk /= 2;
	else if (us < OTAS__PG_INDEX_CHUNK_MS * 500 && n == q->index_chunk &&
	         q->index_chunk < 10000)
		q->index_chunk *= 2;
	return n;
}

static void
pg_writer_close(void *b, int w)
{
	pg_t *q = b;

	PQfinish(q->wr[w].c);
	q->wr[w].c = NULL;
}

/* ---- queries -------------------------------------------------------- */

static int
event_row(PGresult *r, int i, otas__event_cb cb, void *arg)
{
	otas__event_row_t e;

	e.id = ival(r, i, 0);
	e.ts_us = ival(r, i, 1);
	e.received_us = ival(r, i, 2);
	e.agent_id = val(r, i, 3);
	e.agent_session_id = val(r, i, 4);
	e.agent_verified = (int)ival(r, i, 5);
	e.doc = val(r, i, 6);
	e.doc_len = (size_t)PQgetlength(r, i, 6);
	e.event_id = val(r, i, 7);
	return cb(arg, &e);
}

static int
pg_events_each(void *b, int64_t pk, const otas__event_query_t *q,
               otas__event_cb cb, void *arg)
{
	pg_t *st = b;
	unsigned mask = (q->path ? 1u : 0) | (q->route ? 2u : 0) |
	                (q->method ? 4u : 0) | (q->status >= 0 ? 8u : 0) |
	                (q->agent_session_id ? 16u : 0) |
	                (q->has_cursor ? 32u : 0) | (q->user_id ? 64u : 0) |
	                (q->company_id ? 128u : 0);
	char name[16], sql[2048], a[24], s2[24], s3[24], s7[24], s9[24],
	    s10[24], s11[24];
	const char *v[13] = {I64(a, pk),
	                     I64(s2, q->since_us),
	                     I64(s3, q->until_us),
	                     q->path,
	                     q->route,
	                     q->method,
	                     I64(s7, q->status),
	                     q->agent_session_id,
	                     I64(s9, q->cursor_ts),
	                     I64(s10, q->cursor_id),
	                     I64(s11, q->limit + 1),
	                     q->user_id,
	                     q->company_id};
	conn_t *k = reader_get(st);
	PGresult *r = NULL;
	int rc = -1, n = 0;
	/* Each filter combination is one statement, prepared on first use;
	 * unused parameters are still declared (types13) so the numbering
	 * stays fixed. */
	if (conn_ready(k) != 0)
		goto done;
	snprintf(name, sizeof name, "ev%u", mask);
	if (!(k->ev_prepared[mask / 8] & (1u << (mask % 8)))) {
		n = snprintf(sql, sizeof sql,
		             "SELECT id, ts, received_at, agent_id,"
		             " agent_session_id, agent_verified, doc, event_id"
		             " FROM events WHERE project=$1::bigint"
		             " AND ts >= $2::bigint AND ts <= $3::bigint"
		             "%s%s%s%s%s%s%s%s ORDER BY ts DESC, id DESC"
		             " LIMIT $11::bigint",
		             mask & 1 ? " AND path = $4::text" : "",
		             mask & 2 ? " AND route = $5::text" : "",
		             mask & 4 ? " AND method = $6::text" : "",
		             mask & 8 ? " AND status = $7::bigint" : "",
		             mask & 16 ? " AND agent_session_id = $8::text" : "",
		             mask & 32 ? " AND (ts < $9::bigint OR (ts = $9::bigint"
		                         " AND id < $10::bigint))"
		                       : "",
		             mask & 64 ? " AND (user_id = $12::text OR (NOT who_set"
		                         " AND " WHO("user_id") " = $12::text))"
		                       : "",
		             mask & 128 ? " AND (company_id = $13::text OR (NOT"
		                          " who_set AND " WHO("company_id")
		                          " = $13::text))"
		                        : "");
		(void)n;
		/* Parameters a variant does not use still need a type. */
		Oid types13[13] = {20, 20, 20, 25, 25, 25, 20,
		                   25, 20, 20, 20, 25, 25};
		r = PQprepare(k->c, name, sql, 13, types13);
		if (!ok(r)) {
			fprintf(stderr, "error: prepare failed: %s",
			        PQresultErrorMessage(r));
			goto done;
		}
		PQclear(r);
		r = NULL;
		k->ev_prepared[mask / 8] |= (unsigned char)(1u << (mask % 8));
	}
	r = PQexecPrepared(k->c, name, 13, v, NULL, NULL, 0);
	if (!ok(r))
		goto done;
	rc = 0;
	for (int i = 0; i < PQntuples(r); i++)
		if (event_row(r, i, cb, arg))
			break;
done:
	PQclear(r);
	reader_put(st, k);
	return rc;
}

static int
pg_event_find(void *b, int64_t pk, const char *event_id, otas__event_cb cb,
              void *arg)
{
	pg_t *st = b;
	char a[24];
	const char *v[2] = {I64(a, pk), event_id};
	conn_t *k = reader_get(st);
	PGresult *r = run(k, P_EVENT_GET, 2, v);
	int rc = -1;

	if (ok(r)) {
		rc = PQntuples(r) > 0;
		if (rc)
			event_row(r, 0, cb, arg);
	}
	PQclear(r);
	reader_put(st, k);
	return rc;
}

static int
pg_samples_each(void *b, int64_t pk, const otas__sample_query_t *q,
                otas__sample_cb cb, void *arg)
{
	pg_t *st = b;
	int which = q->kind == OTAS__SAMPLES_ENDPOINTS ? P_SAMPLES_EP
	            : q->kind == OTAS__SAMPLES_DAILY   ? P_SAMPLES_DAY
	                                               : P_SAMPLES_ROUTE;
	char a[24], s2[24], s3[24];
	const char *v[5] = {I64(a, pk), I64(s2, q->since_us), I64(s3, q->until_us),
	                    q->method, q->route};
	conn_t *k = reader_get(st);
	PGresult *r = run(k, which, which == P_SAMPLES_ROUTE ? 5 : 3, v);
	int rc = -1;

	if (ok(r)) {
		rc = 0;
		for (int i = 0; i < PQntuples(r); i++) {
			otas__sample_t x = {0};
			if (which == P_SAMPLES_EP) {
				x.method = val(r, i, 0);
				x.route = val(r, i, 1);
				x.latency_ms = strtod(PQgetvalue(r, i, 2), NULL);
				x.is_error = (int)ival(r, i, 3);
			} else if (which == P_SAMPLES_DAY) {
				x.day = ival(r, i, 0);
				x.latency_ms = strtod(PQgetvalue(r, i, 1), NULL);
				x.is_error = (int)ival(r, i, 2);
			} else {
				x.latency_ms = strtod(PQgetvalue(r, i, 0), NULL);
				x.is_error = (int)ival(r, i, 1);
			}
			if (cb(arg, &x))
				break;
		}
	}
	PQclear(r);
	reader_put(st, k);
	return rc;
}

static int
pg_sessions_each(void *b, int64_t pk, otas__session_cb cb, void *arg)
{
	pg_t *st = b;
	char a[24];
	const char *v[1] = {I64(a, pk)};
	conn_t *k = reader_get(st);
	PGresult *r = run(k, P_SESSIONS, 1, v);
	int rc = -1;

	if (ok(r)) {
		rc = 0;
		for (int i = 0; i < PQntuples(r); i++) {
			otas__session_row_t s = {
			    val(r, i, 0),  val(r, i, 1),  (int)ival(r, i, 2),
			    ival(r, i, 3), ival(r, i, 4), ival(r, i, 5),
			    ival(r, i, 6)};
			if (cb(arg, &s))
				break;
		}
	}
	PQclear(r);
	reader_put(st, k);
	return rc;
}

static int
pg_entities_upsert(void *b, int64_t pk, const otas__entity_t *e, size_t n,
                   int64_t now_us)
{
	pg_t *q = b;
	char a[24], t[24];
	PGresult *r = NULL;
	int rc = -1;

	I64(a, pk);
	I64(t, now_us);
	pthread_mutex_lock(&q->adm_lock);
	if (conn_ready(&q->adm) != 0 || exec_sql(q->adm.c, "BEGIN") != 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		const char *v[6] = {a,          e[i].kind,
		                    e[i].id,    *e[i].company_id ? e[i].company_id
		                                                 : NULL,
		                    e[i].doc, t};
		r = run(&q->adm, P_ENTITY_UPSERT, 6, v);
		if (!ok(r)) {
			fprintf(stderr, "error: PostgreSQL: %s",
			        PQresultErrorMessage(r));
			goto rollback;
		}
		PQclear(r);
		r = NULL;
	}
	if (exec_sql(q->adm.c, "COMMIT") == 0) {
		rc = 0;
		goto done;
	}
rollback:
	exec_sql(q->adm.c, "ROLLBACK");
done:
	PQclear(r);
	pthread_mutex_unlock(&q->adm_lock);
	return rc;
}

static int
pg_entities_each(void *b, int64_t pk, const char *kind,
                 const char *company_id, long limit, otas__entity_cb cb,
                 void *arg)
{
	pg_t *st = b;
	char a[24], l[24];
	const char *v[4] = {I64(a, pk), kind && *kind ? kind : NULL,
	                    company_id && *company_id ? company_id : NULL,
	                    I64(l, limit)};
	conn_t *k = reader_get(st);
	PGresult *r = run(k, P_ENTITIES, 4, v);
	int rc = -1;

	if (ok(r)) {
		rc = 0;
		for (int i = 0; i < PQntuples(r); i++) {
			otas__entity_row_t e = {val(r, i, 0), val(r, i, 1),
			                        (size_t)PQgetlength(r, i, 1),
			                        ival(r, i, 2), ival(r, i, 3)};
			if (cb(arg, &e))
				break;
		}
	}
	PQclear(r);
	reader_put(st, k);
	return rc;
}

/* ---- dashboard scans ------------------------------------------------ */

typedef struct {
	char sql[6144];
	size_t len;
	const char *v[16];
	char num[16][24];
	int n;
} pgq_t;

static void pgq_add(pgq_t *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
pgq_add(pgq_t *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int w = vsnprintf(x->sql + x->len, sizeof x->sql - x->len, fmt, ap);
	va_end(ap);
	if (w > 0 && (size_t)w < sizeof x->sql - x->len)
		x->len += (size_t)w;
}

/* A parameter: its $number. */
static int
pgq_text(pgq_t *x, const char *v)
{
	x->v[x->n] = v;
	return ++x->n;
}

static int
pgq_int(pgq_t *x, long long v)
{
	snprintf(x->num[x->n], sizeof x->num[x->n], "%lld", v);
	return pgq_text(x, x->num[x->n]);
}

/* The searchable text of doc into b, as otas_search_text() makes it in
 * SQL (each field's first 4096 characters, newline after each), computed
 * here for the short-text row check: parsing in C costs a few us a row,
 * the SQL function (jsonb) about 17. */
static void
search_text(const char *doc, size_t len, otas__buf_t *b)
{
	static const char *const fields[] = {
#define FIELD(f) #f,
	    OTAS__SEARCH_FIELDS(FIELD)
#undef FIELD
	};
	json_t *d = json_loadb(doc, len, JSON_ALLOW_NUL, NULL);

	otas__buf_reset(b);
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		json_t *v = json_object_get(d, fields[i]);
		char *dumped = NULL;
		const char *t = "";
		size_t n = 0, chars = 0, k;
		if (json_is_string(v)) {
			t = json_string_value(v);
			n = json_string_length(v);
		} else if (v && !json_is_null(v)) {
			dumped = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			t = dumped ? dumped : "";
			n = strlen(t);
		}
		for (k = 0; k < n; k++)
			if (((unsigned char)t[k] & 0xc0) != 0x80 && ++chars > 4096)
				break;
		otas__buf_append(b, t, k);
		otas__buf_putc(b, '\n');
		free(dumped);
	}
	json_decref(d);
}

/* What is left of a scan's time budget as this transaction's
 * statement_timeout (each FETCH is its own statement).  0 ok, -2 spent,
 * -1 failure. */
static int
budget_left(conn_t *k, int64_t deadline)
{
	char sql[64];
	int64_t left_ms = (deadline - otas__now_us()) / 1000;

	if (left_ms <= 0)
		return -2;
	snprintf(sql, sizeof sql, "SET LOCAL statement_timeout = %lld",
	         (long long)left_ms);
	return exec_sql(k->c, sql);
}

/* -2 when r failed by statement_timeout, else -1. */
static int
scan_error(PGresult *r)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	if (state && strcmp(state, "57014") == 0)
		return -2;
	fprintf(stderr, "error: PostgreSQL: %s", PQresultErrorMessage(r));
	return -1;
}

/* Rows stream in single-row mode: a scan over a month never holds the
 * whole answer in memory; a callback that stops cancels the query. */
static int
pg_scan(void *b, int64_t pk, const otas__scan_query_t *q, otas__scan_cb cb,
        void *arg)
{
	pg_t *st = b;
	pgq_t x;
	conn_t *k;
	PGresult *r;
	char *like = NULL, *path_like = NULL;
	int64_t deadline = 0;
	int rc = -1, stopped = 0, who, fail = -1;
	otas__buf_t text;

	otas__buf_init(&text);
	x.len = 0;
	x.n = 0;
	/* the columns (schema 9), and for rows stored before them the
	 * metadata parsed once per row for both ids (WHO would parse the
	 * document once per id; OFFSET 0 keeps the planner from inlining
	 * the expression back into each use), only for those rows */
	who = q->want_who;
	pgq_add(&x,
	        "SELECT id, ts, %s, method, path, route, status,"
	        " latency_ms, is_error, %s, %s, %s, %s,"
	        " %s FROM events%s WHERE project = $%d::bigint",
	        q->lean ? "NULL" : "event_id",
	        q->lean ? "NULL, NULL" : "agent_id, agent_session_id",
	        q->want_who ? "CASE WHEN who_set THEN user_id ELSE"
	                      " w.md ->> 'user_id' END"
	                    : "NULL",
	        q->want_who ? "CASE WHEN who_set THEN company_id ELSE"
	                      " w.md ->> 'company_id' END"
	                    : "NULL",
	        q->want_doc || q->want_text ? "doc" : "NULL",
	        "NULL",
	        who ? " CROSS JOIN LATERAL (SELECT CASE WHEN NOT who_set AND"
	              " (strpos(doc, '\\u') = 0 OR doc !~*"
	              " '\\\\u(0000|d[89a-f])') THEN doc::json"
	              " -> 'metadata' END AS md OFFSET 0) AS w"
	            : "",
	        pgq_int(&x, pk));
	pgq_add(&x, " AND ts >= $%d::bigint", pgq_int(&x, q->since_us));
	pgq_add(&x, " AND ts < $%d::bigint", pgq_int(&x, q->until_us));
	/* numbers only: written into the statement (store.h ts_ranges) */
	for (int i = 0; i < q->n_ts_ranges && q->n_ts_ranges <=
	                                          OTAS__SCAN_MAX_RANGES; i++)
		pgq_add(&x, "%s(ts >= %lld AND ts < %lld)%s",
		        i ? " OR " : " AND (", (long long)q->ts_ranges[2 * i],
		        (long long)q->ts_ranges[2 * i + 1],
		        i == q->n_ts_ranges - 1 ? ")" : "");
	if (q->method)
		pgq_add(&x, " AND method = $%d::text", pgq_text(&x, q->method));
	if (q->route)
		pgq_add(&x, " AND route = $%d::text", pgq_text(&x, q->route));
	if (q->agent_id)
		pgq_add(&x, " AND agent_id = $%d::text", pgq_text(&x, q->agent_id));
	if (q->agent_session_id)
		pgq_add(&x, " AND agent_session_id = $%d::text",
		        pgq_text(&x, q->agent_session_id));
	/* the columns (events_user / events_company), and for rows stored
	 * before schema 10 the expression (events_*_doc): WHO above */
	if (q->user_id) {
		int a = pgq_text(&x, q->user_id);
		pgq_add(&x, " AND (user_id = $%d::text OR (NOT who_set AND "
		        WHO("user_id") " = $%d::text))", a, a);
	}
	if (q->company_id) {
		int a = pgq_text(&x, q->company_id);
		pgq_add(&x, " AND (company_id = $%d::text OR (NOT who_set AND "
		        WHO("company_id") " = $%d::text))", a, a);
	}
	if (q->path_prefix_len) {
		/* LIKE 'head%' on the indexed expression (events_path): its
		 * first PG_PATH_KEY_MAX characters, escaped */
		size_t n = 0, chars = 0;
		char *w;
		for (; n < q->path_prefix_len; n++)
			if (((unsigned char)q->path_prefix[n] & 0xc0) != 0x80 &&
			    chars++ == PG_PATH_KEY_MAX)
				break;
		w = path_like = malloc(2 * n + 2);
		if (!path_like)
			abort();
		for (size_t i = 0; i < n; i++) {
			char ch = q->path_prefix[i];
			if (ch == '%' || ch == '_' || ch == '\\')
				*w++ = '\\';
			*w++ = ch;
		}
		*w++ = '%';
		*w = '\0';
		pgq_add(&x, " AND left(path, " PG_PATH_KEY_CHARS ") LIKE $%d::text",
		        pgq_text(&x, path_like));
	}
	if (q->status_min > 0)
		pgq_add(&x, " AND status >= $%d::bigint",
		        pgq_int(&x, q->status_min));
	if (q->status_max > 0)
		pgq_add(&x, " AND status <= $%d::bigint",
		        pgq_int(&x, q->status_max));
	if (q->text) {
		size_t n = strlen(q->text);
		char *w = like = malloc(2 * n + 3);
		if (!like)
			abort();
		*w++ = '%';
		for (const char *t = q->text; *t; t++) {
			if (*t == '%' || *t == '_' || *t == '\\')
				*w++ = '\\';
			*w++ = *t;
		}
		*w++ = '%';
		*w = '\0';
		/* Indexed rows through the (partial) index, the few the
		 * indexer has not reached yet through events_unindexed: one
		 * snapshot, so each row is one or the other. */
		pgq_add(&x, " AND text_indexed AND otas_search_text(doc) ILIKE"
		        " $%d::text", pgq_text(&x, like));
	}
	if (q->errors_only)
		pgq_add(&x, " AND (status >= 400 OR is_error <> 0)");
	if (q->agents_only)
		pgq_add(&x, " AND agent_id IS NOT NULL");
	if (q->has_cursor) {
		int a = pgq_int(&x, q->cursor_ts);
		pgq_add(&x, " AND (ts < $%d::bigint OR (ts = $%d::bigint AND id < "
		        "$%d::bigint))", a, a, pgq_int(&x, q->cursor_id));
	}
	{
		/* With q: the indexed rows through the partial GIN index (the
		 * plan the query had before indexing was deferred), UNION ALL
		 * the rows the indexer has not reached yet through
		 * events_unindexed; one snapshot, so each row is in one half. */
		char tail[sizeof x.sql], order[64] = "";
		const char *t = q->text ? strstr(x.sql, " AND text_indexed AND") : NULL;
		if (!q->any_order)
			snprintf(order, sizeof order, " ORDER BY ts DESC, id DESC");
		if (q->limit > 0) {
			size_t o = strlen(order);
			snprintf(order + o, sizeof order - o, " LIMIT $%d::bigint",
			         pgq_int(&x, q->limit));
		}
		if (t) {
			snprintf(tail, sizeof tail, "%.*s AND NOT%s", (int)(t - x.sql),
			         x.sql, t + 4);
			memmove(x.sql + 1, x.sql, x.len + 1);
			x.sql[0] = '(';
			x.len++;
			pgq_add(&x, "%s) UNION ALL (%s%s)%s", order, tail, order, order);
		} else
			pgq_add(&x, "%s", order);
	}

	k = reader_get(st);
	if (conn_ready(k) != 0)
		goto done;
	/* A cursor fetched in chunks: a month of rows never sits in memory at
	 * once, and a chunk costs one result, not one per row (single-row
	 * mode measured 3x slower).  A callback that stops ends the fetch. */
	if (x.len + 45 > sizeof x.sql)
		goto done;
	memmove(x.sql + 44, x.sql, x.len + 1);
	memcpy(x.sql, "DECLARE otas_scan NO SCROLL CURSOR FOR      ", 44);
	if (!(r = PQexec(k->c, "BEGIN READ ONLY")) || !ok(r)) {
		PQclear(r);
		goto done;
	}
	PQclear(r);
	if (q->budget_ms > 0)
		deadline = otas__now_us() + (int64_t)q->budget_ms * 1000;
	if (deadline && (fail = budget_left(k, deadline)) != 0)
		goto rollback;
	/* A cursor is planned for its first 10 % by default: with a text
	 * query that picks walking the time index and computing the text of
	 * every row, not the trigram index.  The rows are all read. */
	if (q->text && exec_sql(k->c, "SET LOCAL cursor_tuple_fraction = 1") != 0)
		goto rollback;
	r = PQexecParams(k->c, x.sql, x.n, NULL, x.v, NULL, NULL, 0);
	if (!ok(r)) {
		fail = scan_error(r);
		PQclear(r);
		goto rollback;
	}
	PQclear(r);
	while (!stopped) {
		int nt;
		if (deadline && (fail = budget_left(k, deadline)) != 0)
			goto rollback;
		r = PQexec(k->c, "FETCH FORWARD 5000 FROM otas_scan");
		if (!ok(r)) {
			fail = scan_error(r);
			PQclear(r);
			goto rollback;
		}
		nt = PQntuples(r);
		for (int i = 0; i < nt && !stopped; i++) {
			otas__scan_row_t e;
			e.id = ival(r, i, 0);
			e.ts_us = ival(r, i, 1);
			e.event_id = val(r, i, 2);
			e.method = val(r, i, 3);
			e.path = val(r, i, 4);
			e.route = val(r, i, 5);
			e.status = ival(r, i, 6);
			e.latency_ms = strtod(PQgetvalue(r, i, 7), NULL);
			e.is_error = (int)ival(r, i, 8);
			e.agent_id = val(r, i, 9);
			e.agent_session_id = val(r, i, 10);
			e.user_id = val(r, i, 11);
			e.company_id = val(r, i, 12);
			e.doc = val(r, i, 13);
			e.doc_len = (size_t)PQgetlength(r, i, 13);
			e.text = NULL;
			e.text_len = 0;
			if (q->want_text && e.doc) {
				search_text(e.doc, e.doc_len, &text);
				e.text = text.data;
				e.text_len = text.len;
			}
			if (!q->want_doc)
				e.doc = NULL;
			if (cb(arg, &e))
				stopped = 1;
		}
		PQclear(r);
		if (nt < 5000)
			break;
	}
	rc = 0;
rollback:
	if (rc != 0 && fail == -2)
		rc = -2;
	/* read only: ROLLBACK ends it as well as COMMIT, and closes the cursor */
	PQclear(PQexec(k->c, "ROLLBACK"));
done:
	free(like);
	free(path_like);
	otas__buf_free(&text);
	reader_put(st, k);
	return rc;
}

static int
pg_rollup_each(void *b, int64_t pk, const otas__rollup_query_t *q,
               otas__rollup_cb cb, void *arg)
{
	pg_t *st = b;
	pgq_t x;
	conn_t *k;
	PGresult *r = NULL;
	int rc = -1;

	x.len = 0;
	x.n = 0;
	pgq_add(&x,
	        "SELECT bucket, method, route, status, unmatched, n, errors,"
	        " lat_sum, lat_min, lat_max, hist FROM %s"
	        " WHERE project = $%d::bigint",
	        q->tag ? "rollup_tags" : "rollups", pgq_int(&x, pk));
	if (q->tag)
		pgq_add(&x, " AND tag = $%d::text", pgq_text(&x, q->tag));
	pgq_add(&x, " AND res = $%d::int", pgq_int(&x, q->res_s));
	pgq_add(&x, " AND bucket >= $%d::bigint", pgq_int(&x, q->since_us));
	pgq_add(&x, " AND bucket < $%d::bigint", pgq_int(&x, q->until_us));
	if (q->method)
		pgq_add(&x, " AND method = $%d::text", pgq_text(&x, q->method));
	if (q->route)
		pgq_add(&x, " AND route = $%d::text", pgq_text(&x, q->route));
	if (q->status_min > 0)
		pgq_add(&x, " AND status >= $%d::bigint",
		        pgq_int(&x, q->status_min));
	if (q->status_max > 0)
		pgq_add(&x, " AND status <= $%d::bigint",
		        pgq_int(&x, q->status_max));
	if (q->unmatched_only)
		pgq_add(&x, " AND unmatched");
	k = reader_get(st);
	if (conn_ready(k) != 0)
		goto done;
	r = PQexecParams(k->c, x.sql, x.n, NULL, x.v, NULL, NULL, 0);
	if (!ok(r)) {
		fprintf(stderr, "error: rollup query failed: %s",
		        PQresultErrorMessage(r));
		goto done;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		otas__rollup_row_t e;
		e.project = pk;
		e.tag = q->tag;
		e.res_s = q->res_s;
		e.bucket_us = ival(r, i, 0);
		e.method = val(r, i, 1);
		e.route = val(r, i, 2);
		e.status = ival(r, i, 3);
		e.unmatched = *PQgetvalue(r, i, 4) == 't';
		e.n = ival(r, i, 5);
		e.errors = ival(r, i, 6);
		e.lat_sum = strtod(PQgetvalue(r, i, 7), NULL);
		e.lat_min = strtod(PQgetvalue(r, i, 8), NULL);
		e.lat_max = strtod(PQgetvalue(r, i, 9), NULL);
		otas__hist_parse_text(PQgetvalue(r, i, 10), e.hist);
		if (cb(arg, &e))
			break;
	}
	rc = 0;
done:
	PQclear(r);
	reader_put(st, k);
	return rc;
}

static int
pg_people_each(void *b, int64_t pk, const otas__people_query_t *q,
               otas__people_cb cb, void *arg)
{
	pg_t *st = b;
	conn_t *k;
	PGresult *r = NULL;
	char a[5][24];
	/* the first whole bucket; error groups: one seek per bucket */
	int64_t w = q->res_s * 1000000;
	int64_t b0 = otas__rollup_bucket(q->since_us, q->res_s);
	const char *v[8];
	int rc = -1;

	if (b0 < q->since_us)
		b0 += w;
	if (b0 >= q->until_us)
		return 0;
	v[0] = I64(a[0], pk);
	v[1] = I64(a[1], q->res_s);
	v[2] = I64(a[2], b0);
	v[3] = I64(a[3], q->until_us - 1);
	v[4] = otas__people_kind(q->company);
	v[5] = q->id_prefix;
	v[6] = I64(a[4], w);
	v[7] = q->tag;
	k = reader_get(st);
	if (conn_ready(k) != 0)
		goto done;
	/* Per bucket only for the error groups (a few rows a bucket among
	 * the users' thousands): /errors 30 d 588 -> 133 ms.  A lateral
	 * subquery, so it is one index seek per bucket whatever the planner
	 * estimates (as a join it once took 5-6 s; so did the users' 24 h
	 * read, which keeps the range). */
	r = PQexecParams(k->c,
	                 q->tag ? "SELECT id, company, n, errors, first_ts,"
	                          " last_ts FROM rollup_people_tags WHERE"
	                          " project = $1::bigint AND res = $2::int AND"
	                          " bucket >= $3::bigint AND bucket <= $4::bigint"
	                          " AND tag = $8::text AND kind = $5::text AND"
	                          " $6::text IS NULL AND $7::bigint > 0"
	                 : q->company == OTAS__PEOPLE_ERROR
	                     ? "SELECT r.id, r.company, r.n, r.errors,"
	                       " r.first_ts, r.last_ts FROM generate_series("
	                       "$3::bigint, $4::bigint, $7::bigint) AS b(x)"
	                       " CROSS JOIN LATERAL (SELECT * FROM rollup_people"
	                       " WHERE project = $1::bigint AND res = $2::int"
	                       " AND bucket = b.x AND kind = $5::text) AS r"
	                       " WHERE ($6::text IS NULL OR left(r.id,"
	                       " length($6::text)) = $6::text)"
	                       " AND $8::text IS NULL"
	                     : "SELECT id, company, n, errors, first_ts, last_ts"
	                       " FROM rollup_people WHERE project = $1::bigint"
	                       " AND res = $2::int AND bucket >= $3::bigint AND"
	                       " bucket <= $4::bigint AND kind = $5::text AND"
	                       " ($6::text IS NULL OR"
	                       " left(id, length($6::text)) = $6::text)"
	                       " AND $7::bigint > 0 AND $8::text IS NULL",
	                 8, NULL, v, NULL, NULL, 0);
	if (!ok(r)) {
		fprintf(stderr, "error: rollup query failed: %s",
		        PQresultErrorMessage(r));
		goto done;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		otas__people_row_t e;
		e.id = val(r, i, 0);
		e.company = val(r, i, 1);
		e.n = ival(r, i, 2);
		e.errors = ival(r, i, 3);
		e.first_us = ival(r, i, 4);
		e.last_us = ival(r, i, 5);
		if (cb(arg, &e))
			break;
	}
	rc = 0;
done:
	PQclear(r);
	reader_put(st, k);
	return rc;
}

const otas__store_ops_t otas__store_pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .secret = pg_secret,
    .project_create = pg_project_create,
    .project_each = pg_project_each,
    .project_pk = pg_project_pk,
    .key_insert = pg_key_insert,
    .key_lookup = pg_key_lookup,
    .key_revoke = pg_key_revoke,
    .agent_session = pg_agent_session,
    .max_writers = OTAS__PG_WRITERS,
    .writer_open = pg_writer_open,
    .writer_commit = pg_writer_commit,
    .writer_maintain = pg_writer_maintain,
    .writer_index = pg_writer_index,
    .writer_close = pg_writer_close,
    .events_each = pg_events_each,
    .event_find = pg_event_find,
    .samples_each = pg_samples_each,
    .sessions_each = pg_sessions_each,
    .entities_upsert = pg_entities_upsert,
    .entities_each = pg_entities_each,
    .scan = pg_scan,
    .rollup_each = pg_rollup_each,
    .people_each = pg_people_each,
};
