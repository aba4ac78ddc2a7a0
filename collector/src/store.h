/*
 * store.h -- everything the collector keeps, behind one small interface.
 *
 * Two stores implement it: store_sqlite.c (one file, WAL; the embedded
 * default) and store_pg.c (PostgreSQL through libpq, for several
 * collectors on one database).  otas__store_open() picks one by its
 * target: a `postgresql://` or `postgres://` URL (or a libpq "key=value"
 * string starting with "host=" or "dbname=") selects PostgreSQL, anything
 * else is an SQLite file.  No other file includes sqlite3.h or libpq-fe.h.
 *
 * The interface speaks plain C: rows come back through callbacks, one row
 * at a time, so a caller can stop early (the query API's row and byte cap)
 * and nothing is built in the HTTP response's shape here.  api_query.c
 * turns rows into JSON.
 *
 * Threads: one store is shared by all HTTP threads.  Reads and admin calls
 * run on the store's read connections (a small pool: a long query never
 * holds up a key check, and none waits on the writer).  Event inserts go
 * through otas__store_submit_async(), which hands them to the store's
 * single writer thread: it commits whatever is pending as one transaction
 * (group commit) and only then calls back, so a 2xx is sent only for
 * committed events.  The writer thread also runs maintenance (partitions
 * ahead of time, retention) between groups.
 */
#ifndef OTAS_COLLECTOR_STORE_H
#define OTAS_COLLECTOR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "entities.h"
#include "ingest.h"

typedef struct otas__store otas__store_t;

/* What a key may do (a bit set).  Keys made before roles existed are
 * BOTH until rotated. */
enum {
	OTAS__ROLE_INGEST = 1, /* authenticate, log, entities */
	OTAS__ROLE_READ = 2,   /* query API, dashboard */
	OTAS__ROLE_BOTH = 3,
};
/* "ingest" / "read" / "ingest+read"; parse: 0 ok, -1 unknown. */
const char *otas__role_name(int role);
int otas__role_parse(const char *s, int *role);

typedef struct {
	int64_t pk;             /* internal row id, what events reference */
	char id[37];            /* public uuid */
	char name[256];
	char description[512];
	/* Filled by the key checks: the presented key's role and expiry. */
	int key_role;
	int64_t key_expires_at; /* unix seconds */
} otas__project_t;

typedef struct {
	int sync_full;          /* 1: durable commits, 0: relaxed */
	int max_pending;        /* submitters waiting before we shed load */
	int commit_delay_ms;    /* testing: sleep before each commit */
	int fail_commits;       /* testing: roll back every group (500s) */
	int discard_commits;    /* benchmarks: answer every group as stored
	                         * (each event new) and store nothing, so a
	                         * bench can tell the store's cost from the
	                         * HTTP side's (bench/bench_cpu.py) */
	int retain_days;        /* 0: keep everything */
	int maintain_interval_s; /* retention/partition schedule; 0: 3600 */
	int writers;            /* writer threads; 0: the store's default
	                         * (SQLite 1, PostgreSQL 4) */
	int no_text_index;      /* 1: drop the text index (ingest costs less,
	                         * q scans); 0: make sure it is there */
	int hold_text_index;    /* testing: the deferred indexer never runs */
	int path_fill_events;   /* testing (SQLite): fill the path table when
	                         * this many events wait, with no time
	                         * condition; 0: the default (store_sqlite.c) */
} otas__writer_opts_t;

/* Counters of the maintenance schedule (otas__store_stats). */
typedef struct {
	long long maintenance_runs;
	long long retention_deleted_events;   /* rows deleted (SQLite, PG
	                                       * default partition) */
	long long retention_dropped_partitions; /* PostgreSQL */
	long long partitions_created;         /* PostgreSQL */
	long long last_maintenance_us;
	long long text_indexed_events;        /* by the deferred indexer */
	long long text_index_chunks;          /* its transactions */
	long long text_index_us;              /* wall time in them */
	long long text_index_max_us;          /* the longest of them */
	int text_index_behind;                /* 1: events wait for it */
} otas__store_stats_t;

/* Open (create=1: create if absent) and migrate to the current schema.
 * NULL on failure with a one-line reason in err (never the password). */
otas__store_t *otas__store_open(const char *target, int create, char *err,
                                size_t errlen);
/* Stops the writer (draining it) if running, then closes. */
void otas__store_close(otas__store_t *st);
/* "sqlite" or "postgresql". */
const char *otas__store_kind(otas__store_t *st);

/* ---- projects and keys (admin) ------------------------------------ */

typedef struct {
	const char *id, *name, *description;
	int64_t created_at;     /* unix seconds */
	int active_keys;
} otas__project_row_t;
typedef int (*otas__project_cb)(void *arg, const otas__project_row_t *row);

/* 0 ok, -1 failure. */
int otas__store_project_create(otas__store_t *st, const char *name,
                               const char *description, char id_out[37]);
int otas__store_project_each(otas__store_t *st, otas__project_cb cb,
                             void *arg);

/* A new key of `role` for a project; days 0 makes an already expired key
 * (tests).  key_out OTAS__KEY_LEN+1.  0 ok, -1 failure (unknown project). */
int otas__store_key_create_role(otas__store_t *st, const char *project_id,
                                int days, int role, char *key_out);
/* The old form: an ingest+read key (kept for callers that predate roles). */
int otas__store_key_create(otas__store_t *st, const char *project_id,
                           int days, char *key_out);
/* Number of keys revoked (0 when no key has that prefix), -1 failure. */
int otas__store_key_revoke(otas__store_t *st, const char *prefix);
/* Replace the key with that prefix: a new key for the same project, with
 * `role` (0: the old key's role, except that a pre-role key becomes an
 * ingest key), then revoke the old one.  0 ok, -1 unknown/failure. */
int otas__store_key_rotate(otas__store_t *st, const char *prefix, int days,
                           int role, char *key_out, int *role_out);

enum {
	OTAS__KEY_OK = 0,
	OTAS__KEY_BAD_FORMAT = -1, /* "Invalid Key Format" */
	OTAS__KEY_INVALID = -2,    /* unknown, revoked or expired */
	OTAS__KEY_ERROR = -3,      /* store failure */
};
/* Check a presented key; on OK fills proj (with key_role and
 * key_expires_at) and *role (may be NULL).  No role check here: the
 * caller decides what the route needs. */
int otas__store_key_verify(otas__store_t *st, const char *key,
                           otas__project_t *proj, int *role);
/* The same without the role out-parameter. */
int otas__store_key_check(otas__store_t *st, const char *key,
                          otas__project_t *proj);

/* The database's own HS256 secret for agent session tokens. */
void otas__store_jwt_secret(otas__store_t *st, unsigned char out[32]);
/* Register an agent (by name, per project) and a session; a malloc'd token
 * (JWT, exp in `days` days) or NULL. */
char *otas__store_agent_session_create(otas__store_t *st,
                                       const char *project_id,
                                       const char *agent, int days);

/* ---- writer -------------------------------------------------------- */

/* Writer thread.  0 ok. */
int otas__store_writer_start(otas__store_t *st, const otas__writer_opts_t *o);
/* Stop taking submissions, commit what is queued, join.  Idempotent. */
void otas__store_writer_stop(otas__store_t *st);

enum {
	OTAS__SUBMIT_OK = 0,          /* queued: job->done will run */
	OTAS__SUBMIT_NOTHING = 1,     /* no valid event: done, no callback */
	OTAS__SUBMIT_ERROR = -1,
	OTAS__SUBMIT_OVERLOADED = -2,
	OTAS__SUBMIT_STOPPING = -3,
};

/* A group-commit job.  The caller owns it and the events it points to;
 * both must stay alive until `done` has run. */
typedef struct otas__store_job otas__store_job_t;
struct otas__store_job {
	int64_t project_pk;
	otas__event_t *ev;      /* ev[0..n); those without ->reject are stored */
	size_t n;
	int64_t received_us;
	/* Runs on the writer thread once the group is committed (rc 0) or
	 * rolled back (rc -1), with no store lock held; it may free the job. */
	void (*done)(otas__store_job_t *job);
	void *arg;
	int rc;                 /* out: 0 committed, -1 failed */
	size_t accepted;        /* out: new rows */
	size_t duplicates;      /* out: event_ids already stored */
	otas__store_job_t *next; /* private to the store */
};

/* Queue a job for the writer without waiting (HTTP threads suspend the
 * connection instead of blocking, so one slow commit does not hold up the
 * other connections of the same MHD thread).  See the enum for results;
 * only OTAS__SUBMIT_OK calls done (and sets ->inserted on each event). */
int otas__store_submit_async(otas__store_t *st, otas__store_job_t *job);

/* The blocking form: queue and wait for the commit. */
int otas__store_submit(otas__store_t *st, int64_t project_pk,
                       otas__event_t *ev, size_t n, int64_t received_us,
                       size_t *accepted, size_t *duplicates);
/* Submitters waiting now (for tests and load shedding). */
int otas__store_pending(otas__store_t *st);
/* Maintenance counters (a snapshot). */
void otas__store_stats(otas__store_t *st, otas__store_stats_t *out);

/* ---- queries, all scoped to one project ------------------------------ */

typedef struct {
	const char *path, *route, *method, *agent_session_id;
	const char *user_id, *company_id; /* metadata.user_id/company_id */
	long long status;       /* -1: any */
	int64_t since_us, until_us; /* INT64_MIN / INT64_MAX: open */
	long limit;             /* rows wanted; the store may send one more */
	int has_cursor;
	int64_t cursor_ts, cursor_id; /* rows strictly older than this */
} otas__event_query_t;

/* One stored event.  Strings are valid during the callback only; NULL
 * when absent. */
typedef struct {
	int64_t id;             /* store-wide order within one ts */
	int64_t ts_us, received_us;
	const char *event_id, *agent_id, *agent_session_id;
	int agent_verified;
	const char *doc;        /* the stored JSON text */
	size_t doc_len;
} otas__event_row_t;
/* Return nonzero to stop the scan (not an error). */
typedef int (*otas__event_cb)(void *arg, const otas__event_row_t *row);

/* Newest first (ts, id descending).  0 ok, -1 failure. */
int otas__store_events_each(otas__store_t *st, int64_t project_pk,
                            const otas__event_query_t *q, otas__event_cb cb,
                            void *arg);
/* 1 found (cb ran), 0 not found, -1 failure. */
int otas__store_event_find(otas__store_t *st, int64_t project_pk,
                           const char *event_id, otas__event_cb cb,
                           void *arg);

/* Latency samples for the stats endpoints. */
enum {
	OTAS__SAMPLES_ENDPOINTS = 0, /* ordered by method, route, latency */
	OTAS__SAMPLES_DAILY = 1,     /* ordered by day, latency */
	OTAS__SAMPLES_ROUTE = 2,     /* one method+route, by latency */
};
typedef struct {
	int kind;
	const char *method, *route; /* SAMPLES_ROUTE */
	int64_t since_us, until_us; /* [since, until] (DAILY: until excl.) */
} otas__sample_query_t;
typedef struct {
	const char *method, *route; /* ENDPOINTS */
	int64_t day;                /* DAILY: days since the epoch */
	double latency_ms;
	int is_error;
} otas__sample_t;
typedef int (*otas__sample_cb)(void *arg, const otas__sample_t *s);
int otas__store_samples_each(otas__store_t *st, int64_t project_pk,
                             const otas__sample_query_t *q,
                             otas__sample_cb cb, void *arg);

typedef struct {
	const char *agent_session_id, *agent_id;
	int verified;
	int64_t events, errors, first_ts_us, last_ts_us;
} otas__session_row_t;
typedef int (*otas__session_cb)(void *arg, const otas__session_row_t *r);
/* Newest first, at most 10,000. */
int otas__store_sessions_each(otas__store_t *st, int64_t project_pk,
                              otas__session_cb cb, void *arg);

/* Entities (entities.h): upsert n valid rows in one transaction, latest
 * wins with metadata merged (RFC 7396).  0 ok, -1 failure. */
int otas__store_entities_upsert(otas__store_t *st, int64_t project_pk,
                                const otas__entity_t *e, size_t n,
                                int64_t now_us);
typedef struct {
	const char *kind;
	const char *doc;        /* JSON object text, without kind */
	size_t doc_len;
	int64_t created_us, updated_us;
} otas__entity_row_t;
typedef int (*otas__entity_cb)(void *arg, const otas__entity_row_t *r);
/* Newest first; kind/company_id NULL: any. */
int otas__store_entities_each(otas__store_t *st, int64_t project_pk,
                              const char *kind, const char *company_id,
                              long limit, otas__entity_cb cb, void *arg);

/* ---- text search ------------------------------------------------------
 *
 * What `q` searches: these top-level fields of the event document, joined
 * by newlines (headers and metadata are not searched; they have filters).
 * Both stores index this text by trigrams (SQLite FTS5 `trigram`,
 * PostgreSQL pg_trgm), so a query of OTAS__SEARCH_MIN_CHARS characters or
 * more is a case-insensitive substring found through the index; a shorter
 * one is checked on the rows (api_dash.c, capped).  The schema steps that
 * build the indexes expand this list: changing it needs a new step. */
#define OTAS__SEARCH_FIELDS(X) \
	X(path) X(query_params) X(request_body) X(response_body) X(error)
#define OTAS__SEARCH_MIN_CHARS 3

/* ---- dashboard scans (api_dash.c) ------------------------------------
 *
 * One filtered scan of a project's events, newest first, with the columns
 * the dashboard aggregates (series, error groups, endpoints, users,
 * agents, search, export).  The store applies the filters it has columns
 * for; api_dash.c applies the rest (path globs, status sets, tags, ...)
 * on the rows, so both stores answer alike. */
#define OTAS__SCAN_MAX_RANGES 40
typedef struct {
	int64_t since_us, until_us; /* [since, until) */
	const char *method, *route, *agent_id, *agent_session_id;
	const char *user_id, *company_id; /* metadata.user_id/company_id */
	/* Paths starting with these path_prefix_len bytes (> 0) only: the
	 * literal head of a path glob, or an exact path (api_dash.c checks
	 * the rest on the rows), through the (project, path) index. */
	const char *path_prefix;
	size_t path_prefix_len;
	/* > 0: only events whose ts is in one of these [lo, hi) pairs
	 * (ts_ranges[2i], ts_ranges[2i + 1]), at most OTAS__SCAN_MAX_RANGES,
	 * inside [since, until): one scan for many short spans */
	const int64_t *ts_ranges;
	int n_ts_ranges;
	long long status_min, status_max; /* inclusive; 0: open */
	const char *text;       /* substring of the event's searchable text
	                         * (OTAS__SEARCH_FIELDS), case-insensitive,
	                         * at least OTAS__SEARCH_MIN_CHARS characters:
	                         * the store's text index; NULL: none */
	int budget_ms;          /* > 0: give up after this long (-2) */
	int errors_only;        /* status >= 400 or is_error */
	int agents_only;        /* rows with an agent_id */
	int want_doc;           /* fill row->doc */
	int want_who;           /* fill row->user_id/company_id */
	int want_text;          /* fill row->text (the searchable text) */
	int any_order;          /* rows in any order (aggregates): the
	                         * store may pick a cheaper plan */
	int lean;               /* the callback reads only id, ts, method,
	                         * path, route, status, latency_ms, is_error
	                         * (and what want_* asks): the store may
	                         * leave event_id, agent_id, agent_session_id
	                         * NULL and answer from an index alone */
	long limit;             /* rows at most; 0: no limit */
	int has_cursor;
	int64_t cursor_ts, cursor_id; /* rows strictly older than this */
} otas__scan_query_t;

typedef struct {
	int64_t id, ts_us;
	const char *event_id, *method, *path, *route;
	long long status;
	double latency_ms;
	int is_error;
	const char *agent_id, *agent_session_id; /* NULL when none */
	const char *user_id, *company_id;        /* want_who; NULL: none */
	const char *doc;        /* want_doc */
	size_t doc_len;
	const char *text;       /* want_text */
	size_t text_len;
} otas__scan_row_t;
/* Return nonzero to stop the scan (not an error).  Newest first unless
 * any_order. */
typedef int (*otas__scan_cb)(void *arg, const otas__scan_row_t *r);
/* 0 ok, -1 failure, -2 over q->budget_ms. */
int otas__store_scan(otas__store_t *st, int64_t project_pk,
                     const otas__scan_query_t *q, otas__scan_cb cb,
                     void *arg);

#endif
