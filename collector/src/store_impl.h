/*
 * store_impl.h -- what a store back end provides to store.c (private to
 * store.c, store_sqlite.c and store_pg.c).
 *
 * store.c owns everything both stores share: picking the back end, key
 * hashing and comparison, JWT signing, the writer thread with its queue
 * (group commit) and the maintenance schedule.  A back end only moves rows:
 * each function below is one statement or one transaction, prepared once
 * per connection.  `b` is the back end's own state.
 *
 * Threads: every function but the writer_* ones may be called from any
 * HTTP thread at once (the back end keeps its own pool of read
 * connections); writer_* run on the writer thread only.
 */
#ifndef OTAS_COLLECTOR_STORE_IMPL_H
#define OTAS_COLLECTOR_STORE_IMPL_H

#include "keys.h"
#include "rollup.h"
#include "store.h"

typedef struct {
	char hash[OTAS__KEY_HASH_HEX + 1];
	int64_t expires_at;     /* unix seconds */
	int revoked;
	int role;
	otas__project_t proj;
} otas__key_row_t;

typedef struct otas__store_ops {
	const char *name;
	void *(*open)(const char *target, int create, char *err, size_t errlen);
	void (*close)(void *b);
	/* Read the 32-byte secret `name` from meta, creating it at random
	 * when absent (race-free between collectors).  0 ok. */
	int (*secret)(void *b, const char *name, unsigned char out[32]);

	int (*project_create)(void *b, const char *id, const char *name,
	                      const char *desc, int64_t now);
	int (*project_each)(void *b, int64_t now, otas__project_cb cb,
	                    void *arg);
	/* -1 when absent */
	int64_t (*project_pk)(void *b, const char *id);
	int (*key_insert)(void *b, int64_t project_pk, const char *prefix,
	                  const char *hash, int role, int64_t now,
	                  int64_t expires_at);
	/* 1 found, 0 absent, -1 failure */
	int (*key_lookup)(void *b, const char *prefix, otas__key_row_t *out);
	int (*key_revoke)(void *b, const char *prefix, int64_t now);
	/* Upsert the agent (new_agent_id used when it is new), add the
	 * session; the agent's id into agent_id_out.  0 ok. */
	int (*agent_session)(void *b, int64_t project_pk, const char *agent,
	                     const char *new_agent_id, const char *session_id,
	                     int64_t now, int64_t expires_at,
	                     char agent_id_out[37]);

	/* Writers w = 0..max_writers-1, each its own thread and
	 * connection; groups commit in parallel when there are several. */
	int max_writers;
	int (*writer_open)(void *b, int w, const otas__writer_opts_t *o);
	/* Insert every job's events in one transaction and commit; sets
	 * accepted/duplicates and ev->inserted.  0 committed, -1 rolled
	 * back (fail=1: roll back on purpose, for tests). */
	int (*writer_commit)(void *b, int w, otas__store_job_t *batch,
	                     int fail);
	/* Partitions ahead, retention (retain_days 0: none); writer 0 only.
	 * 0 ok. */
	int (*writer_maintain)(void *b, int64_t now_us, int retain_days,
	                       otas__store_stats_t *acc);
	/* Deferred text index: one bounded chunk of the events not indexed
	 * yet, its own transaction; writer 0 only, between groups.  Returns
	 * how many it indexed (0: caught up), -1 on failure.  NULL: the
	 * store indexes at insert. */
	int (*writer_index)(void *b, int w);
	void (*writer_close)(void *b, int w);

	int (*events_each)(void *b, int64_t pk, const otas__event_query_t *q,
	                   otas__event_cb cb, void *arg);
	int (*event_find)(void *b, int64_t pk, const char *event_id,
	                  otas__event_cb cb, void *arg);
	int (*samples_each)(void *b, int64_t pk, const otas__sample_query_t *q,
	                    otas__sample_cb cb, void *arg);
	int (*sessions_each)(void *b, int64_t pk, otas__session_cb cb,
	                     void *arg);
	int (*entities_upsert)(void *b, int64_t pk, const otas__entity_t *e,
	                       size_t n, int64_t now_us);
	int (*entities_each)(void *b, int64_t pk, const char *kind,
	                     const char *company_id, long limit,
	                     otas__entity_cb cb, void *arg);
	/* Dashboard scans (store.h otas__store_scan). */
	int (*scan)(void *b, int64_t pk, const otas__scan_query_t *q,
	            otas__scan_cb cb, void *arg);
	/* Rollup rows (rollup.h), in any order; a key may come more than
	 * once (PostgreSQL keeps one row per writer): the caller adds. */
	int (*rollup_each)(void *b, int64_t pk, const otas__rollup_query_t *q,
	                   otas__rollup_cb cb, void *arg);
	/* People rollups, likewise (a key may come once per shard). */
	int (*people_each)(void *b, int64_t pk, const otas__people_query_t *q,
	                   otas__people_cb cb, void *arg);
} otas__store_ops_t;

extern const otas__store_ops_t otas__store_sqlite_ops;
extern const otas__store_ops_t otas__store_pg_ops;

/* Days since the epoch an event belongs to: the UUIDv7 timestamp of its
 * event_id when it has one (the same on every retry, through any
 * collector), else its own timestamp, else when it was received. */
int64_t otas__event_day(const otas__event_t *e, int64_t received_us);

#endif
