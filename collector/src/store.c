/*
 * store.c -- the SQLite back end of store.h.
 *
 * Two connections: `rd` serves key checks, queries and admin calls under
 * rd_lock; `wr` belongs to the writer thread alone.  WAL lets the readers
 * run while the writer commits.
 *
 * Group commit: submitters append a job to the queue (an HTTP thread then
 * suspends its connection and serves others).  The writer takes the whole
 * queue, runs every insert in one transaction, commits (synchronous=FULL
 * fsyncs the WAL once per commit, however many requests it carries), and
 * then calls each job's `done`, which resumes the connection.  A job is
 * never reported committed before COMMIT returned SQLITE_OK.  If the
 * commit fails the whole group is rolled back and every job gets an error,
 * so no request is acknowledged for rows that are not there.
 *
 * Idempotency: UNIQUE(project, event_id) and INSERT OR IGNORE; a row that
 * changed nothing was a duplicate.  event_ids are UUIDv7 (time-ordered), so
 * the unique index grows at its right edge (see PROTOCOL.md for figures).
 */
#include "store.h"
#include "jwt.h"
#include "keys.h"
#include "util.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct otas__store {
	sqlite3 *rd;                /* key checks and admin */
	pthread_mutex_t rd_lock;
	sqlite3 *qry;               /* the query API: a long query must not
	                             * hold up key checks on the ingest path */
	pthread_mutex_t qry_lock;
	sqlite3 *wr;
	unsigned char pepper[32];
	unsigned char jwt_secret[32];

	pthread_t thread;
	pthread_mutex_t q_lock;     /* guards everything below */
	pthread_cond_t q_cond;      /* writer waits for work */
	otas__store_job_t *head, *tail;
	int pending;                /* jobs queued or being committed */
	int running, stopping;
	otas__writer_opts_t opts;
};

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
};

static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

#ifndef OTAS__PAGE_SIZE
#define OTAS__PAGE_SIZE "16384"
#endif

static sqlite3 *
open_conn(const char *path, int flags)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	/* Only a new, empty database takes a page size (before WAL); an
	 * existing one keeps its own.  See "Throughput" in the README. */
	if (exec(db, "PRAGMA page_size=" OTAS__PAGE_SIZE) != 0 ||
	    exec(db, "PRAGMA journal_mode=WAL") != 0 ||
	    exec(db, "PRAGMA foreign_keys=ON") != 0) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* Read or create a 32-byte secret in meta. */
static int
meta_secret(sqlite3 *db, const char *name, unsigned char out[32])
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key=?", -1, &s,
	                       NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_bytes(s, 0) == 32) {
		memcpy(out, sqlite3_column_blob(s, 0), 32);
		rc = 0;
		goto done;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (otas__random_bytes(out, 32) != 0 ||
	    sqlite3_prepare_v2(db, "INSERT INTO meta(key, value) VALUES(?, ?)", -1,
	                       &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, out, 32, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
done:
	sqlite3_finalize(s);
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
	for (; version < target; version++) {
		char sql[64];
		if (exec(db, "BEGIN IMMEDIATE") != 0)
			goto fail;
		snprintf(sql, sizeof sql, "PRAGMA user_version=%d", version + 1);
		if (exec(db, migrations[version]) != 0 || exec(db, sql) != 0) {
			exec(db, "ROLLBACK");
			goto fail;
		}
		if (exec(db, "COMMIT") != 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "schema migration failed: %s", sqlite3_errmsg(db));
	return -1;
}

otas__store_t *
otas__store_open(const char *path, int create, char *err, size_t errlen)
{
	otas__store_t *st = calloc(1, sizeof *st);
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);

	if (!st)
		abort();
	/* No global allocator statistics: they put one mutex around every
	 * SQLite allocation in every thread. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	pthread_mutex_init(&st->rd_lock, NULL);
	pthread_mutex_init(&st->qry_lock, NULL);
	pthread_mutex_init(&st->q_lock, NULL);
	pthread_cond_init(&st->q_cond, NULL);
	if (!create && access(path, F_OK) != 0) {
		snprintf(err, errlen, "database %s not found (run `otas-collector init`)",
		         path);
		goto fail;
	}
	st->rd = open_conn(path, flags);
	if (!st->rd) {
		snprintf(err, errlen, "cannot open database %s", path);
		goto fail;
	}
	if (migrate(st->rd, err, errlen) != 0)
		goto fail;
	st->qry = open_conn(path, SQLITE_OPEN_READWRITE);
	if (!st->qry) {
		snprintf(err, errlen, "cannot open database %s", path);
		goto fail;
	}
	if (meta_secret(st->rd, "key_pepper", st->pepper) != 0 ||
	    meta_secret(st->rd, "jwt_secret", st->jwt_secret) != 0) {
		snprintf(err, errlen, "cannot read database secrets");
		goto fail;
	}
	return st;
fail:
	sqlite3_close(st->qry);
	sqlite3_close(st->rd);
	free(st);
	return NULL;
}

void
otas__store_close(otas__store_t *st)
{
	if (!st)
		return;
	otas__store_writer_stop(st);
	sqlite3_close(st->qry);
	sqlite3_close(st->rd);
	pthread_mutex_destroy(&st->qry_lock);
	pthread_mutex_destroy(&st->rd_lock);
	pthread_mutex_destroy(&st->q_lock);
	pthread_cond_destroy(&st->q_cond);
	free(st);
}

/* ---- admin ---------------------------------------------------------- */

int
otas__store_project_create(otas__store_t *st, const char *name,
                           const char *description, char id_out[37])
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	otas__uuid_v4(id_out);
	pthread_mutex_lock(&st->rd_lock);
	if (sqlite3_prepare_v2(st->rd,
	                       "INSERT INTO projects(id, name, description,"
	                       " created_at) VALUES(?, ?, ?, ?)",
	                       -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_text(s, 1, id_out, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, description ? description : "", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, otas__now_us() / 1000000);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
done:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->rd_lock);
	return rc;
}

json_t *
otas__store_project_list(otas__store_t *st)
{
	sqlite3_stmt *s = NULL;
	json_t *out = json_array();

	pthread_mutex_lock(&st->rd_lock);
	if (sqlite3_prepare_v2(st->rd,
	                       "SELECT p.id, p.name, p.description, p.created_at,"
	                       " (SELECT count(*) FROM sdk_keys k WHERE"
	                       "  k.project = p.pk AND k.revoked_at IS NULL"
	                       "  AND k.expires_at > ?)"
	                       " FROM projects p ORDER BY p.pk",
	                       -1, &s, NULL) != SQLITE_OK) {
		json_decref(out);
		out = NULL;
		goto done;
	}
	sqlite3_bind_int64(s, 1, otas__now_us() / 1000000);
	while (sqlite3_step(s) == SQLITE_ROW)
		json_array_append_new(
		    out, json_pack("{s:s, s:s, s:s, s:I, s:i}", "id",
		                   sqlite3_column_text(s, 0), "name",
		                   sqlite3_column_text(s, 1), "description",
		                   sqlite3_column_text(s, 2), "created_at",
		                   (json_int_t)sqlite3_column_int64(s, 3),
		                   "active_keys", sqlite3_column_int(s, 4)));
done:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->rd_lock);
	return out;
}

/* Project pk for a public id, -1 when absent.  rd_lock held. */
static int64_t
project_pk(otas__store_t *st, const char *id)
{
	sqlite3_stmt *s = NULL;
	int64_t pk = -1;

	if (sqlite3_prepare_v2(st->rd, "SELECT pk FROM projects WHERE id=?", -1,
	                       &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		pk = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return pk;
}

int
otas__store_key_create(otas__store_t *st, const char *project_id, int days,
                       char *key_out)
{
	sqlite3_stmt *s = NULL;
	char prefix[OTAS__KEY_PREFIX_LEN + 1], hash[OTAS__KEY_HASH_HEX + 1];
	int64_t now = otas__now_us() / 1000000, pk;
	int rc = -1;

	pthread_mutex_lock(&st->rd_lock);
	pk = project_pk(st, project_id);
	if (pk < 0)
		goto done;
	if (otas__key_generate(key_out, prefix) != 0 ||
	    otas__key_hash(st->pepper, sizeof st->pepper, key_out, hash) != 0)
		goto done;
	if (sqlite3_prepare_v2(st->rd,
	                       "INSERT INTO sdk_keys(prefix, project, hash,"
	                       " created_at, expires_at) VALUES(?, ?, ?, ?, ?)",
	                       -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, pk);
	sqlite3_bind_text(s, 3, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_int64(s, 5, now + (int64_t)days * 86400);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
done:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->rd_lock);
	if (rc != 0)
		memset(key_out, 0, OTAS__KEY_LEN + 1);
	return rc;
}

int
otas__store_key_revoke(otas__store_t *st, const char *prefix)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	pthread_mutex_lock(&st->rd_lock);
	if (sqlite3_prepare_v2(st->rd,
	                       "UPDATE sdk_keys SET revoked_at=? WHERE prefix=?"
	                       " AND revoked_at IS NULL",
	                       -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(s, 1, otas__now_us() / 1000000);
	sqlite3_bind_text(s, 2, prefix, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_DONE)
		rc = sqlite3_changes(st->rd);
done:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->rd_lock);
	return rc;
}

static void
copy_col(sqlite3_stmt *s, int col, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(out, n, "%s", t ? (const char *)t : "");
}

int
otas__store_key_check(otas__store_t *st, const char *key,
                      otas__project_t *proj)
{
	sqlite3_stmt *s = NULL;
	char prefix[OTAS__KEY_PREFIX_LEN + 1], hash[OTAS__KEY_HASH_HEX + 1];
	int rc = otas__key_parse(key, prefix);

	if (rc == -1)
		return OTAS__KEY_BAD_FORMAT;
	if (rc != 0)
		return OTAS__KEY_INVALID;
	if (otas__key_hash(st->pepper, sizeof st->pepper, key, hash) != 0)
		return OTAS__KEY_ERROR;
	rc = OTAS__KEY_ERROR;
	pthread_mutex_lock(&st->rd_lock);
	if (sqlite3_prepare_v2(st->rd,
	                       "SELECT k.hash, k.expires_at, k.revoked_at, p.pk,"
	                       " p.id, p.name, p.description FROM sdk_keys k"
	                       " JOIN projects p ON p.pk = k.project"
	                       " WHERE k.prefix = ?",
	                       -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
	switch (sqlite3_step(s)) {
	case SQLITE_DONE:
		rc = OTAS__KEY_INVALID;
		break;
	case SQLITE_ROW:
		rc = OTAS__KEY_INVALID;
		if (!otas__key_hash_equal(
		        (const char *)sqlite3_column_text(s, 0), hash))
			break;
		if (sqlite3_column_type(s, 2) != SQLITE_NULL ||
		    sqlite3_column_int64(s, 1) <= otas__now_us() / 1000000)
			break;
		proj->pk = sqlite3_column_int64(s, 3);
		copy_col(s, 4, proj->id, sizeof proj->id);
		copy_col(s, 5, proj->name, sizeof proj->name);
		copy_col(s, 6, proj->description, sizeof proj->description);
		rc = OTAS__KEY_OK;
		break;
	default:
		break;
	}
done:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->rd_lock);
	return rc;
}

void
otas__store_jwt_secret(otas__store_t *st, unsigned char out[32])
{
	memcpy(out, st->jwt_secret, 32);
}

char *
otas__store_agent_session_create(otas__store_t *st, const char *project_id,
                                 const char *agent, int days)
{
	sqlite3_stmt *s = NULL;
	char agent_id[37], session_id[37];
	int64_t now = otas__now_us() / 1000000, pk;
	char *token = NULL;
	json_t *claims = NULL;

	pthread_mutex_lock(&st->rd_lock);
	pk = project_pk(st, project_id);
	if (pk < 0 || exec(st->rd, "BEGIN IMMEDIATE") != 0)
		goto done;
	otas__uuid_v4(agent_id);
	if (sqlite3_prepare_v2(st->rd,
	                       "INSERT INTO agents(id, project, name, created_at)"
	                       " VALUES(?, ?, ?, ?) ON CONFLICT(project, name)"
	                       " DO NOTHING",
	                       -1, &s, NULL) != SQLITE_OK)
		goto rollback;
	sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, pk);
	sqlite3_bind_text(s, 3, agent, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	if (sqlite3_step(s) != SQLITE_DONE)
		goto rollback;
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(st->rd,
	                       "SELECT id FROM agents WHERE project=? AND name=?",
	                       -1, &s, NULL) != SQLITE_OK)
		goto rollback;
	sqlite3_bind_int64(s, 1, pk);
	sqlite3_bind_text(s, 2, agent, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_ROW)
		goto rollback;
	copy_col(s, 0, agent_id, sizeof agent_id);
	sqlite3_finalize(s);
	otas__uuid_v4(session_id);
	if (sqlite3_prepare_v2(st->rd,
	                       "INSERT INTO agent_sessions(id, agent_id,"
	                       " created_at, expires_at) VALUES(?, ?, ?, ?)",
	                       -1, &s, NULL) != SQLITE_OK)
		goto rollback;
	sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, agent_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int64(s, 4, now + (int64_t)days * 86400);
	if (sqlite3_step(s) != SQLITE_DONE || exec(st->rd, "COMMIT") != 0)
		goto rollback;
	claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "agent_session_id",
	                   session_id, "agent_id", agent_id, "agent_name", agent,
	                   "project_id", project_id, "iat", (json_int_t)now,
	                   "exp", (json_int_t)(now + (int64_t)days * 86400));
	token = otas__jwt_sign(st->jwt_secret, sizeof st->jwt_secret, claims);
	json_decref(claims);
	goto done;
rollback:
	exec(st->rd, "ROLLBACK");
done:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->rd_lock);
	return token;
}

/* ---- writer --------------------------------------------------------- */

static void
bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v && *v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

/* Insert one job's events inside the open transaction.  0 ok. */
static int
insert_job(sqlite3 *db, sqlite3_stmt *ins, otas__store_job_t *j)
{
	j->accepted = j->duplicates = 0;
	for (size_t i = 0; i < j->n; i++) {
		otas__event_t *e = &j->ev[i];
		if (e->reject || !e->doc)
			continue;
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, j->project_pk);
		sqlite3_bind_text(ins, 2, e->event_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 3, e->ts_us ? e->ts_us : j->received_us);
		sqlite3_bind_int64(ins, 4, j->received_us);
		sqlite3_bind_text(ins, 5, e->method, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 6, e->path, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 7, e->route ? e->route : e->path, -1,
		                  SQLITE_STATIC);
		sqlite3_bind_int64(ins, 8, e->status);
		sqlite3_bind_double(ins, 9, e->latency_ms);
		sqlite3_bind_int(ins, 10, e->is_error);
		bind_opt_text(ins, 11, e->agent_id);
		bind_opt_text(ins, 12, e->agent_session_id);
		sqlite3_bind_int(ins, 13, e->agent_verified);
		sqlite3_bind_text(ins, 14, e->doc, (int)e->doc_len, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			return -1;
		e->inserted = sqlite3_changes(db) > 0;
		if (e->inserted)
			j->accepted++;
		else
			j->duplicates++;
	}
	return 0;
}

static void *
writer_main(void *arg)
{
	otas__store_t *st = arg;
	sqlite3_stmt *ins = NULL;
	int prepared;

	pthread_setname_np(pthread_self(), "otas-writer");
	prepared = sqlite3_prepare_v3(
	    st->wr,
	    "INSERT OR IGNORE INTO events(project, event_id, ts, received_at,"
	    " method, path, route, status, latency_ms, is_error, agent_id,"
	    " agent_session_id, agent_verified, doc)"
	    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	    -1, SQLITE_PREPARE_PERSISTENT, &ins, NULL) == SQLITE_OK;
	pthread_mutex_lock(&st->q_lock);
	for (;;) {
		otas__store_job_t *batch, *j;
		int rc;

		while (!st->head && !st->stopping)
			pthread_cond_wait(&st->q_cond, &st->q_lock);
		if (!st->head)
			break; /* stopping and drained */
		batch = st->head;
		st->head = st->tail = NULL;
		pthread_mutex_unlock(&st->q_lock);

		if (st->opts.commit_delay_ms > 0)
			usleep((useconds_t)st->opts.commit_delay_ms * 1000);
		rc = prepared && exec(st->wr, "BEGIN IMMEDIATE") == 0 ? 0 : -1;
		for (j = batch; rc == 0 && j; j = j->next)
			rc = insert_job(st->wr, ins, j);
		if (rc == 0 && st->opts.fail_commits)
			rc = -1; /* testing: as if the disk were full */
		if (rc == 0 && exec(st->wr, "COMMIT") != 0)
			rc = -1;
		if (rc != 0) {
			fprintf(stderr, "error: commit failed: %s\n",
			        sqlite3_errmsg(st->wr));
			exec(st->wr, "ROLLBACK");
		}
		sqlite3_reset(ins);

		if (rc != 0)
			for (j = batch; j; j = j->next)
				j->accepted = j->duplicates = 0;
		pthread_mutex_lock(&st->q_lock);
		for (j = batch; j; j = j->next)
			st->pending--;
		pthread_mutex_unlock(&st->q_lock);
		/* Callbacks run unlocked; one may free its job, so read next
		 * first. */
		for (j = batch; j;) {
			otas__store_job_t *next = j->next;
			j->rc = rc;
			j->done(j);
			j = next;
		}
		pthread_mutex_lock(&st->q_lock);
	}
	pthread_mutex_unlock(&st->q_lock);
	sqlite3_finalize(ins);
	return NULL;
}

int
otas__store_writer_start(otas__store_t *st, const otas__writer_opts_t *o)
{
	const char *path = sqlite3_db_filename(st->rd, "main");

	st->opts = *o;
	st->wr = open_conn(path, SQLITE_OPEN_READWRITE);
	if (!st->wr)
		return -1;
	if (exec(st->wr, o->sync_full ? "PRAGMA synchronous=FULL"
	                              : "PRAGMA synchronous=NORMAL") != 0 ||
	    exec(st->wr, "PRAGMA wal_autocheckpoint=4000") != 0 ||
	    exec(st->wr, "PRAGMA cache_size=-65536") != 0)
		goto fail;
	st->stopping = 0;
	if (pthread_create(&st->thread, NULL, writer_main, st) != 0)
		goto fail;
	st->running = 1;
	return 0;
fail:
	sqlite3_close(st->wr);
	st->wr = NULL;
	return -1;
}

void
otas__store_writer_stop(otas__store_t *st)
{
	if (!st->running)
		return;
	pthread_mutex_lock(&st->q_lock);
	st->stopping = 1;
	pthread_cond_signal(&st->q_cond);
	pthread_mutex_unlock(&st->q_lock);
	pthread_join(st->thread, NULL);
	st->running = 0;
	/* Fold the WAL back so the database file stands alone. */
	sqlite3_wal_checkpoint_v2(st->wr, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
	                          NULL);
	sqlite3_close(st->wr);
	st->wr = NULL;
}

int
otas__store_submit_async(otas__store_t *st, otas__store_job_t *job)
{
	size_t valid = 0;

	for (size_t i = 0; i < job->n; i++)
		valid += !job->ev[i].reject && job->ev[i].doc;
	job->rc = 0;
	job->accepted = job->duplicates = 0;
	job->next = NULL;
	if (valid == 0)
		return OTAS__SUBMIT_NOTHING;
	pthread_mutex_lock(&st->q_lock);
	if (!st->running || st->stopping) {
		pthread_mutex_unlock(&st->q_lock);
		return OTAS__SUBMIT_STOPPING;
	}
	if (st->pending >= st->opts.max_pending) {
		pthread_mutex_unlock(&st->q_lock);
		return OTAS__SUBMIT_OVERLOADED;
	}
	st->pending++;
	if (st->tail)
		st->tail->next = job;
	else
		st->head = job;
	st->tail = job;
	pthread_cond_signal(&st->q_cond);
	pthread_mutex_unlock(&st->q_lock);
	return OTAS__SUBMIT_OK;
}

/* The blocking form waits on a condition variable of its own. */
typedef struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
} waiter_t;

static void
wake_waiter(otas__store_job_t *job)
{
	waiter_t *w = job->arg;

	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int
otas__store_submit(otas__store_t *st, int64_t project_pk, otas__event_t *ev,
                   size_t n, int64_t received_us, size_t *accepted,
                   size_t *duplicates)
{
	waiter_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	otas__store_job_t job = {0};
	int rc;

	job.project_pk = project_pk;
	job.ev = ev;
	job.n = n;
	job.received_us = received_us;
	job.done = wake_waiter;
	job.arg = &w;
	rc = otas__store_submit_async(st, &job);
	if (rc == OTAS__SUBMIT_OK) {
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.cond, &w.lock);
		pthread_mutex_unlock(&w.lock);
		rc = job.rc == 0 ? OTAS__SUBMIT_OK : OTAS__SUBMIT_ERROR;
	} else if (rc == OTAS__SUBMIT_NOTHING) {
		rc = OTAS__SUBMIT_OK;
	}
	*accepted = job.accepted;
	*duplicates = job.duplicates;
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	return rc;
}

int
otas__store_pending(otas__store_t *st)
{
	int n;

	pthread_mutex_lock(&st->q_lock);
	n = st->pending;
	pthread_mutex_unlock(&st->q_lock);
	return n;
}

/* ---- queries -------------------------------------------------------- */

static json_t *
str_or_null(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? json_string((const char *)t) : json_null();
}

static json_t *
time_str(int64_t us)
{
	char buf[32];

	otas__format_time(us, buf);
	return json_string(buf);
}

#define EVENT_COLS \
	"id, ts, received_at, agent_id, agent_session_id, agent_verified, doc," \
	" event_id"

/* Build the API shape of one event row (columns EVENT_COLS). */
static json_t *
event_row(sqlite3_stmt *s)
{
	json_t *e = json_loadb((const char *)sqlite3_column_text(s, 6),
	                       (size_t)sqlite3_column_bytes(s, 6), JSON_ALLOW_NUL,
	                       NULL);

	if (!json_is_object(e)) {
		json_decref(e);
		e = json_object();
	}
	/* Only empty tokens can be stored (ingest strips real ones); the key
	 * is not part of the event's API shape either way. */
	json_object_del(e, "agent_session_token");
	/* The id the event is stored under (it may have come from
	 * metadata.event_id or been generated here). */
	json_object_set_new(e, "event_id", str_or_null(s, 7));
	json_object_set_new(e, "agent_id", str_or_null(s, 3));
	json_object_set_new(e, "agent_session_id", str_or_null(s, 4));
	json_object_set_new(e, "agent_verified",
	                    json_boolean(sqlite3_column_int(s, 5)));
	json_object_set_new(e, "received_at",
	                    time_str(sqlite3_column_int64(s, 2)));
	json_object_set_new(e, "event_time", time_str(sqlite3_column_int64(s, 1)));
	return e;
}

json_t *
otas__store_events(otas__store_t *st, int64_t project_pk,
                   const otas__event_query_t *q)
{
	char sql[1024];
	sqlite3_stmt *s = NULL;
	json_t *out = NULL, *list;
	int64_t last_ts = 0, last_id = 0;
	long rows = 0;
	int i = 1;

	snprintf(sql, sizeof sql,
	         "SELECT " EVENT_COLS " FROM events WHERE project=?1"
	         " AND ts >= ?2 AND ts <= ?3%s%s%s%s%s%s%s%s"
	         " ORDER BY ts DESC, id DESC LIMIT ?11",
	         q->path ? " AND path = ?4" : "",
	         q->route ? " AND route = ?5" : "",
	         q->method ? " AND method = ?6" : "",
	         q->status >= 0 ? " AND status = ?7" : "",
	         q->agent_session_id ? " AND agent_session_id = ?8" : "",
	         q->has_cursor ? " AND (ts < ?9 OR (ts = ?9 AND id < ?10))" : "",
	         q->user_id ? " AND user_id = ?12" : "",
	         q->company_id ? " AND company_id = ?13" : "");
	(void)i;
	pthread_mutex_lock(&st->qry_lock);
	if (sqlite3_prepare_v2(st->qry, sql, -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(s, 1, project_pk);
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
	out = json_object();
	list = json_array();
	json_object_set_new(out, "events", list);
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (rows == q->limit) {
			rows++;
			break;
		}
		json_array_append_new(list, event_row(s));
		last_id = sqlite3_column_int64(s, 0);
		last_ts = sqlite3_column_int64(s, 1);
		rows++;
	}
	if (rows > q->limit) {
		char cur[64];
		snprintf(cur, sizeof cur, "%lld.%lld", (long long)last_ts,
		         (long long)last_id);
		json_object_set_new(out, "next", json_string(cur));
	} else {
		json_object_set_new(out, "next", json_null());
	}
done:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->qry_lock);
	return out;
}

json_t *
otas__store_event_get(otas__store_t *st, int64_t project_pk,
                      const char *event_id)
{
	sqlite3_stmt *s = NULL;
	json_t *out = NULL;

	pthread_mutex_lock(&st->qry_lock);
	if (sqlite3_prepare_v2(st->qry,
	                       "SELECT " EVENT_COLS " FROM events WHERE project=?"
	                       " AND event_id=?",
	                       -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(s, 1, project_pk);
	sqlite3_bind_text(s, 2, event_id, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		out = event_row(s);
done:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->qry_lock);
	return out;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double
pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(p / 100.0 * (double)n);
	if (k < 1)
		k = 1;
	return v[k - 1];
}

typedef struct {
	double *v;
	size_t n, cap;
	long long errors;
} lat_acc_t;

static void
acc_push(lat_acc_t *a, double v, int err)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->v = realloc(a->v, a->cap * sizeof *a->v);
		if (!a->v)
			abort();
	}
	a->v[a->n++] = v;
	a->errors += err;
}

static json_t *
acc_summary(lat_acc_t *a)
{
	double n = (double)a->n;

	return json_pack("{s:I, s:I, s:f, s:f, s:f, s:f}", "count",
	                 (json_int_t)a->n, "errors", (json_int_t)a->errors,
	                 "error_rate", n > 0 ? (double)a->errors / n : 0.0,
	                 "p50_latency_ms", pct(a->v, a->n, 50), "p95_latency_ms",
	                 pct(a->v, a->n, 95), "p99_latency_ms",
	                 pct(a->v, a->n, 99));
}

json_t *
otas__store_stats_endpoints(otas__store_t *st, int64_t project_pk,
                            int64_t since_us, int64_t until_us)
{
	sqlite3_stmt *s = NULL;
	json_t *out = NULL, *list;
	lat_acc_t a = {0};
	char *cur_m = NULL, *cur_r = NULL;

	pthread_mutex_lock(&st->qry_lock);
	if (sqlite3_prepare_v2(st->qry,
	                       "SELECT method, route, latency_ms, is_error FROM"
	                       " events WHERE project=? AND ts>=? AND ts<=?"
	                       " ORDER BY method, route, latency_ms",
	                       -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(s, 1, project_pk);
	sqlite3_bind_int64(s, 2, since_us);
	sqlite3_bind_int64(s, 3, until_us);
	list = json_array();
	out = json_pack("{s:o}", "endpoints", list);
	for (;;) {
		int row = sqlite3_step(s) == SQLITE_ROW;
		const char *m = row ? (const char *)sqlite3_column_text(s, 0) : NULL;
		const char *r = row ? (const char *)sqlite3_column_text(s, 1) : NULL;
		if (cur_m && (!row || strcmp(m, cur_m) || strcmp(r, cur_r))) {
			json_t *e = acc_summary(&a);
			json_object_set_new(e, "method", json_string(cur_m));
			json_object_set_new(e, "route", json_string(cur_r));
			json_array_append_new(list, e);
			free(cur_m);
			free(cur_r);
			cur_m = cur_r = NULL;
			a.n = 0;
			a.errors = 0;
		}
		if (!row)
			break;
		if (!cur_m) {
			cur_m = strdup(m);
			cur_r = strdup(r);
		}
		acc_push(&a, sqlite3_column_double(s, 2), sqlite3_column_int(s, 3));
	}
done:
	free(a.v);
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->qry_lock);
	return out;
}

json_t *
otas__store_stats_timeseries(otas__store_t *st, int64_t project_pk, int days,
                             int64_t now_us)
{
	const int64_t day_us = 86400LL * 1000000;
	int64_t today = now_us / day_us, first = today - days + 1;
	sqlite3_stmt *s = NULL;
	json_t *out = NULL, *list;
	lat_acc_t a = {0};
	int64_t d = first;
	int row;

	pthread_mutex_lock(&st->qry_lock);
	if (sqlite3_prepare_v2(st->qry,
	                       "SELECT ts / 86400000000, latency_ms, is_error"
	                       " FROM events WHERE project=? AND ts>=?"
	                       " AND ts < ? ORDER BY 1, 2",
	                       -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(s, 1, project_pk);
	sqlite3_bind_int64(s, 2, first * day_us);
	sqlite3_bind_int64(s, 3, (today + 1) * day_us);
	list = json_array();
	out = json_pack("{s:i, s:o}", "days", days, "series", list);
	row = sqlite3_step(s) == SQLITE_ROW;
	for (d = first; d <= today; d++) {
		char date[32];
		json_t *e;
		a.n = 0;
		a.errors = 0;
		while (row && sqlite3_column_int64(s, 0) == d) {
			acc_push(&a, sqlite3_column_double(s, 1),
			         sqlite3_column_int(s, 2));
			row = sqlite3_step(s) == SQLITE_ROW;
		}
		otas__format_time(d * day_us, date);
		date[10] = '\0';
		e = json_pack("{s:s, s:I, s:I, s:f, s:f}", "day", date, "events",
		              (json_int_t)a.n, "errors", (json_int_t)a.errors,
		              "error_rate", a.n ? (double)a.errors / (double)a.n : 0.0,
		              "p50_latency_ms", pct(a.v, a.n, 50));
		json_array_append_new(list, e);
	}
done:
	free(a.v);
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->qry_lock);
	return out;
}

json_t *
otas__store_stats_latency(otas__store_t *st, int64_t project_pk,
                          const char *method, const char *route,
                          int64_t since_us, int64_t until_us)
{
	static const double bounds[] = {1, 2, 5, 10, 25, 50, 100, 250,
	                                500, 1000, 2500, 5000, 10000};
	const size_t nb = sizeof bounds / sizeof *bounds;
	long long counts[sizeof bounds / sizeof *bounds + 1] = {0};
	sqlite3_stmt *s = NULL;
	json_t *out = NULL, *list;
	lat_acc_t a = {0};

	pthread_mutex_lock(&st->qry_lock);
	if (sqlite3_prepare_v2(st->qry,
	                       "SELECT latency_ms, is_error FROM events WHERE"
	                       " project=? AND method=? AND route=? AND ts>=?"
	                       " AND ts<=? ORDER BY latency_ms",
	                       -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(s, 1, project_pk);
	sqlite3_bind_text(s, 2, method, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, route, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, since_us);
	sqlite3_bind_int64(s, 5, until_us);
	while (sqlite3_step(s) == SQLITE_ROW) {
		double v = sqlite3_column_double(s, 0);
		size_t b = 0;
		while (b < nb && v > bounds[b])
			b++;
		counts[b]++;
		acc_push(&a, v, sqlite3_column_int(s, 1));
	}
	list = json_array();
	for (size_t b = 0; b <= nb; b++)
		json_array_append_new(
		    list, json_pack("{s:o, s:I}", "le",
		                    b < nb ? json_real(bounds[b]) : json_null(),
		                    "count", (json_int_t)counts[b]));
	out = acc_summary(&a);
	json_object_set_new(out, "method", json_string(method));
	json_object_set_new(out, "route", json_string(route));
	json_object_set_new(out, "buckets", list);
done:
	free(a.v);
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->qry_lock);
	return out;
}

json_t *
otas__store_agent_sessions(otas__store_t *st, int64_t project_pk)
{
	sqlite3_stmt *s = NULL;
	json_t *out = NULL, *list;

	pthread_mutex_lock(&st->qry_lock);
	/* Verified and unverified traffic never merge: an unverified token
	 * can claim any session id. */
	if (sqlite3_prepare_v2(st->qry,
	                       "SELECT agent_session_id, agent_id, agent_verified,"
	                       " count(*), sum(is_error), min(ts), max(ts)"
	                       " FROM events WHERE project=? AND"
	                       " agent_session_id IS NOT NULL GROUP BY 1, 2, 3"
	                       " ORDER BY max(ts) DESC LIMIT 10000",
	                       -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(s, 1, project_pk);
	list = json_array();
	out = json_pack("{s:o}", "sessions", list);
	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *e = json_object();
		json_object_set_new(e, "agent_session_id", str_or_null(s, 0));
		json_object_set_new(e, "agent_id", str_or_null(s, 1));
		json_object_set_new(e, "verified",
		                    json_boolean(sqlite3_column_int(s, 2)));
		json_object_set_new(e, "events",
		                    json_integer(sqlite3_column_int64(s, 3)));
		json_object_set_new(e, "errors",
		                    json_integer(sqlite3_column_int64(s, 4)));
		json_object_set_new(e, "first_seen",
		                    time_str(sqlite3_column_int64(s, 5)));
		json_object_set_new(e, "last_seen",
		                    time_str(sqlite3_column_int64(s, 6)));
		json_array_append_new(list, e);
	}
done:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->qry_lock);
	return out;
}

/* ---- entities ------------------------------------------------------- */

/* Latest update wins field by field; json_patch (RFC 7396) merges the
 * nested metadata object and drops members set to null. */
int
otas__store_entities_upsert(otas__store_t *st, int64_t project_pk,
                            const otas__entity_t *e, size_t n, int64_t now_us)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;
	size_t i;

	pthread_mutex_lock(&st->rd_lock);
	if (exec(st->rd, "BEGIN IMMEDIATE") != 0)
		goto done;
	if (sqlite3_prepare_v2(
	        st->rd,
	        "INSERT INTO entities(project, kind, id, company_id, doc,"
	        " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)"
	        " ON CONFLICT(project, kind, id) DO UPDATE SET"
	        " doc = json_patch(entities.doc, excluded.doc),"
	        " company_id = coalesce(excluded.company_id, entities.company_id),"
	        " updated_at = excluded.updated_at",
	        -1, &s, NULL) != SQLITE_OK)
		goto rollback;
	for (i = 0; i < n; i++) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, project_pk);
		sqlite3_bind_text(s, 2, e[i].kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, e[i].id, -1, SQLITE_STATIC);
		bind_opt_text(s, 4, e[i].company_id);
		sqlite3_bind_text(s, 5, e[i].doc, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, now_us);
		if (sqlite3_step(s) != SQLITE_DONE)
			goto rollback;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (exec(st->rd, "COMMIT") == 0) {
		rc = 0;
		goto done;
	}
rollback:
	sqlite3_finalize(s);
	exec(st->rd, "ROLLBACK");
done:
	pthread_mutex_unlock(&st->rd_lock);
	return rc;
}

json_t *
otas__store_entities_list(otas__store_t *st, int64_t project_pk,
                          const char *kind, const char *company_id,
                          long limit)
{
	sqlite3_stmt *s = NULL;
	json_t *out = NULL, *list;

	pthread_mutex_lock(&st->qry_lock);
	if (sqlite3_prepare_v2(
	        st->qry,
	        "SELECT kind, doc, created_at, updated_at FROM entities"
	        " WHERE project = ?1 AND (?2 IS NULL OR kind = ?2)"
	        " AND (?3 IS NULL OR company_id = ?3)"
	        " ORDER BY updated_at DESC, id LIMIT ?4",
	        -1, &s, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(s, 1, project_pk);
	bind_opt_text(s, 2, kind);
	bind_opt_text(s, 3, company_id);
	sqlite3_bind_int64(s, 4, limit);
	out = json_object();
	list = json_array();
	json_object_set_new(out, "entities", list);
	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *e = json_loadb((const char *)sqlite3_column_text(s, 1),
		                       (size_t)sqlite3_column_bytes(s, 1), 0, NULL);
		if (!json_is_object(e)) {
			json_decref(e);
			e = json_object();
		}
		json_object_set_new(e, "kind", str_or_null(s, 0));
		json_object_set_new(e, "created_at",
		                    time_str(sqlite3_column_int64(s, 2)));
		json_object_set_new(e, "updated_at",
		                    time_str(sqlite3_column_int64(s, 3)));
		json_array_append_new(list, e);
	}
done:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->qry_lock);
	return out;
}
