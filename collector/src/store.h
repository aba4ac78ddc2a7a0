/*
 * store.h -- everything the collector keeps, behind one small interface.
 *
 * store.c implements it on SQLite (WAL).  A PostgreSQL back end would be a
 * second file implementing these same functions; nothing else includes
 * sqlite3.h.  Query results come back as jansson objects in the shapes the
 * HTTP API sends, so a back end may compute them however it likes.
 *
 * Threads: one store is shared by all HTTP threads.  Reads and admin calls
 * take the store's read lock internally.  Event inserts go through
 * otas__store_submit(), which hands them to the single writer thread: it
 * commits whatever is pending as one transaction (group commit) and only
 * then wakes the submitters, so a 2xx is sent only for committed events.
 */
#ifndef OTAS_COLLECTOR_STORE_H
#define OTAS_COLLECTOR_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"

#define OTAS__STORE_SCHEMA_VERSION 1

typedef struct otas__store otas__store_t;

typedef struct {
	int64_t pk;             /* internal row id, what events reference */
	char id[37];            /* public uuid */
	char name[256];
	char description[512];
} otas__project_t;

typedef struct {
	int sync_full;          /* 1: synchronous=FULL (durable), 0: NORMAL */
	int max_pending;        /* submitters waiting before we shed load */
	int commit_delay_ms;    /* testing: sleep before each commit */
	int fail_commits;       /* testing: roll back every group (500s) */
} otas__writer_opts_t;

/* Open (create=1: create if absent) and migrate to the current schema.
 * NULL on failure with a one-line reason in err. */
otas__store_t *otas__store_open(const char *path, int create, char *err,
                                size_t errlen);
/* Stops the writer (draining it) if running, then closes. */
void otas__store_close(otas__store_t *st);

/* Projects and keys (admin).  0 ok, -1 failure. */
int otas__store_project_create(otas__store_t *st, const char *name,
                               const char *description, char id_out[37]);
json_t *otas__store_project_list(otas__store_t *st);
/* days 0 makes an already expired key (tests).  key_out OTAS__KEY_LEN+1. */
int otas__store_key_create(otas__store_t *st, const char *project_id,
                           int days, char *key_out);
/* Number of keys revoked (0 when no key has that prefix), -1 failure. */
int otas__store_key_revoke(otas__store_t *st, const char *prefix);

enum {
	OTAS__KEY_OK = 0,
	OTAS__KEY_BAD_FORMAT = -1, /* "Invalid Key Format" */
	OTAS__KEY_INVALID = -2,    /* unknown, revoked or expired */
	OTAS__KEY_ERROR = -3,      /* store failure */
};
/* Check a presented key; on OK fills proj. */
int otas__store_key_check(otas__store_t *st, const char *key,
                          otas__project_t *proj);

/* The database's own HS256 secret for agent session tokens. */
void otas__store_jwt_secret(otas__store_t *st, unsigned char out[32]);
/* Register an agent (by name, per project) and a session; a malloc'd token
 * (JWT, exp in `days` days) or NULL. */
char *otas__store_agent_session_create(otas__store_t *st,
                                       const char *project_id,
                                       const char *agent, int days);

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

/* Queries, all scoped to one project.  NULL on failure. */
typedef struct {
	const char *path, *route, *method, *agent_session_id;
	long long status;       /* -1: any */
	int64_t since_us, until_us; /* INT64_MIN / INT64_MAX: open */
	long limit;
	int has_cursor;
	int64_t cursor_ts, cursor_id;
} otas__event_query_t;

json_t *otas__store_events(otas__store_t *st, int64_t project_pk,
                           const otas__event_query_t *q);
/* NULL when not found (or on failure). */
json_t *otas__store_event_get(otas__store_t *st, int64_t project_pk,
                              const char *event_id);
json_t *otas__store_stats_endpoints(otas__store_t *st, int64_t project_pk,
                                    int64_t since_us, int64_t until_us);
json_t *otas__store_stats_timeseries(otas__store_t *st, int64_t project_pk,
                                     int days, int64_t now_us);
json_t *otas__store_stats_latency(otas__store_t *st, int64_t project_pk,
                                  const char *method, const char *route,
                                  int64_t since_us, int64_t until_us);
json_t *otas__store_agent_sessions(otas__store_t *st, int64_t project_pk);

#endif
