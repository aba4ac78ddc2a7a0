/*
 * store.c -- the half of store.h both stores share.
 *
 * Picks the back end (store_sqlite.c or store_pg.c) by the target's shape,
 * checks keys (HMAC of the presented key against the stored hash, in
 * constant time, here and nowhere else), signs agent session JWTs, and runs
 * the writer thread.
 *
 * Group commit: submitters append a job to the queue (an HTTP thread then
 * suspends its connection and serves others).  The writer takes the whole
 * queue and hands it to the back end, which inserts every job's events in
 * one transaction and commits (one fsync for however many requests it
 * carries); then the writer calls each job's `done`, which resumes the
 * connection.  A job is never reported committed before the COMMIT
 * returned success.  If the commit fails the whole group is rolled back and
 * every job gets an error, so no request is acknowledged for rows that are
 * not there.
 *
 * Maintenance (partitions ahead of time on PostgreSQL, retention on both)
 * runs on the writer thread between groups, every maintain_interval_s:
 * SQLite has one writer, and on PostgreSQL it keeps DDL off the read pool.
 */
#include "store.h"
#include "jwt.h"
#include "keys.h"
#include "rollup.h"
#include "store_impl.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OTAS__MAX_WRITERS 16

typedef struct {
	struct otas__store *st;
	int w;
} writer_arg_t;

struct otas__store {
	const otas__store_ops_t *ops;
	void *b;
	unsigned char pepper[32];
	unsigned char jwt_secret[32];

	pthread_t thread[OTAS__MAX_WRITERS];
	writer_arg_t args[OTAS__MAX_WRITERS];
	int n_writers;
	pthread_mutex_t q_lock;     /* guards everything below */
	pthread_cond_t q_cond;      /* writer waits for work */
	otas__store_job_t *head, *tail;
	int pending;                /* jobs queued or being committed */
	int running, stopping;
	int index_more;             /* commits since the indexer caught up */
	int64_t index_last_us;      /* its last chunk began */
	/* The indexer's pace (index_due): events committed since it last
	 * caught up, when the first of them and the last commit were, whether
	 * a pass is under way, and commits counted so a pass that ends while
	 * another writer commits does not take those rows as indexed. */
	int64_t index_waiting;
	int64_t index_first_us, index_commit_us, index_gap_us;
	int index_pass;
	unsigned long index_gen;
	otas__writer_opts_t opts;
	otas__store_stats_t stats;
};

const char *
otas__role_name(int role)
{
	switch (role) {
	case OTAS__ROLE_INGEST:
		return "ingest";
	case OTAS__ROLE_READ:
		return "read";
	default:
		return "ingest+read";
	}
}

int
otas__role_parse(const char *s, int *role)
{
	if (!strcmp(s, "ingest"))
		*role = OTAS__ROLE_INGEST;
	else if (!strcmp(s, "read"))
		*role = OTAS__ROLE_READ;
	else if (!strcmp(s, "ingest+read") || !strcmp(s, "both"))
		*role = OTAS__ROLE_BOTH;
	else
		return -1;
	return 0;
}

static int
is_pg_target(const char *t)
{
	return !strncmp(t, "postgresql://", 13) || !strncmp(t, "postgres://", 11) ||
	       !strncmp(t, "host=", 5) || !strncmp(t, "dbname=", 7);
}

otas__store_t *
otas__store_open(const char *target, int create, char *err, size_t errlen)
{
	otas__store_t *st = calloc(1, sizeof *st);

	if (!st)
		abort();
	st->ops = is_pg_target(target) ? &otas__store_pg_ops
	                               : &otas__store_sqlite_ops;
	pthread_mutex_init(&st->q_lock, NULL);
	pthread_cond_init(&st->q_cond, NULL);
	st->b = st->ops->open(target, create, err, errlen);
	if (!st->b)
		goto fail;
	if (st->ops->secret(st->b, "key_pepper", st->pepper) != 0 ||
	    st->ops->secret(st->b, "jwt_secret", st->jwt_secret) != 0) {
		snprintf(err, errlen, "cannot read database secrets");
		goto fail;
	}
	return st;
fail:
	if (st->b)
		st->ops->close(st->b);
	pthread_mutex_destroy(&st->q_lock);
	pthread_cond_destroy(&st->q_cond);
	free(st);
	return NULL;
}

void
otas__store_close(otas__store_t *st)
{
	if (!st)
		return;
	otas__store_writer_stop(st);
	st->ops->close(st->b);
	pthread_mutex_destroy(&st->q_lock);
	pthread_cond_destroy(&st->q_cond);
	memset(st->pepper, 0, sizeof st->pepper);
	memset(st->jwt_secret, 0, sizeof st->jwt_secret);
	free(st);
}

const char *
otas__store_kind(otas__store_t *st)
{
	return st->ops->name;
}

/* ---- admin ---------------------------------------------------------- */

int
otas__store_project_create(otas__store_t *st, const char *name,
                           const char *description, char id_out[37])
{
	otas__uuid_v4(id_out);
	return st->ops->project_create(st->b, id_out, name,
	                               description ? description : "",
	                               otas__now_us() / 1000000);
}

int
otas__store_project_each(otas__store_t *st, otas__project_cb cb, void *arg)
{
	return st->ops->project_each(st->b, otas__now_us() / 1000000, cb, arg);
}

static int
key_create_pk(otas__store_t *st, int64_t pk, int days, int role,
              char *key_out)
{
	char prefix[OTAS__KEY_PREFIX_LEN + 1], hash[OTAS__KEY_HASH_HEX + 1];
	int64_t now = otas__now_us() / 1000000;

	if (otas__key_generate(key_out, prefix) != 0 ||
	    otas__key_hash(st->pepper, sizeof st->pepper, key_out, hash) != 0 ||
	    st->ops->key_insert(st->b, pk, prefix, hash, role, now,
	                        now + (int64_t)days * 86400) != 0) {
		memset(key_out, 0, OTAS__KEY_LEN + 1);
		return -1;
	}
	return 0;
}

int
otas__store_key_create_role(otas__store_t *st, const char *project_id,
                            int days, int role, char *key_out)
{
	int64_t pk = st->ops->project_pk(st->b, project_id);

	if (pk < 0) {
		memset(key_out, 0, OTAS__KEY_LEN + 1);
		return -1;
	}
	return key_create_pk(st, pk, days, role, key_out);
}

int
otas__store_key_create(otas__store_t *st, const char *project_id, int days,
                       char *key_out)
{
	return otas__store_key_create_role(st, project_id, days,
	                                   OTAS__ROLE_BOTH, key_out);
}

int
otas__store_key_revoke(otas__store_t *st, const char *prefix)
{
	return st->ops->key_revoke(st->b, prefix, otas__now_us() / 1000000);
}

int
otas__store_key_rotate(otas__store_t *st, const char *prefix, int days,
                       int role, char *key_out, int *role_out)
{
	otas__key_row_t row;

	if (st->ops->key_lookup(st->b, prefix, &row) != 1 || row.revoked)
		return -1;
	if (!role)
		role = row.role == OTAS__ROLE_BOTH ? OTAS__ROLE_INGEST : row.role;
	if (key_create_pk(st, row.proj.pk, days, role, key_out) != 0)
		return -1;
	if (role_out)
		*role_out = role;
	return st->ops->key_revoke(st->b, prefix, otas__now_us() / 1000000) < 0
	           ? -1
	           : 0;
}

int
otas__store_key_verify(otas__store_t *st, const char *key,
                       otas__project_t *proj, int *role)
{
	char prefix[OTAS__KEY_PREFIX_LEN + 1], hash[OTAS__KEY_HASH_HEX + 1];
	otas__key_row_t row;
	int rc = otas__key_parse(key, prefix);

	if (rc == -1)
		return OTAS__KEY_BAD_FORMAT;
	if (rc != 0)
		return OTAS__KEY_INVALID;
	if (otas__key_hash(st->pepper, sizeof st->pepper, key, hash) != 0)
		return OTAS__KEY_ERROR;
	switch (st->ops->key_lookup(st->b, prefix, &row)) {
	case 1:
		break;
	case 0:
		return OTAS__KEY_INVALID;
	default:
		return OTAS__KEY_ERROR;
	}
	if (!otas__key_hash_equal(row.hash, hash) || row.revoked ||
	    row.expires_at <= otas__now_us() / 1000000)
		return OTAS__KEY_INVALID;
	*proj = row.proj;
	proj->key_role = row.role;
	proj->key_expires_at = row.expires_at;
	if (role)
		*role = row.role;
	return OTAS__KEY_OK;
}

int
otas__store_key_check(otas__store_t *st, const char *key,
                      otas__project_t *proj)
{
	return otas__store_key_verify(st, key, proj, NULL);
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
	char new_agent[37], agent_id[37], session_id[37];
	int64_t now = otas__now_us() / 1000000;
	int64_t exp = now + (int64_t)days * 86400;
	int64_t pk = st->ops->project_pk(st->b, project_id);
	json_t *claims;
	char *token;

	if (pk < 0)
		return NULL;
	otas__uuid_v4(new_agent);
	otas__uuid_v4(session_id);
	if (st->ops->agent_session(st->b, pk, agent, new_agent, session_id, now,
	                           exp, agent_id) != 0)
		return NULL;
	claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "agent_session_id",
	                   session_id, "agent_id", agent_id, "agent_name", agent,
	                   "project_id", project_id, "iat", (json_int_t)now,
	                   "exp", (json_int_t)exp);
	token = otas__jwt_sign(st->jwt_secret, sizeof st->jwt_secret, claims);
	json_decref(claims);
	return token;
}

/* ---- writer --------------------------------------------------------- */

int64_t
otas__event_day(const otas__event_t *e, int64_t received_us)
{
	const int64_t day_ms = 86400000;
	const char *id = e->event_id;
	int64_t ms = 0;

	/* xxxxxxxx-xxxx-7xxx-...: the first 48 bits are unix milliseconds. */
	if (strlen(id) == 36 && id[8] == '-' && id[13] == '-' && id[14] == '7') {
		int ok = 1;
		for (int i = 0; i < 13 && ok; i++) {
			char c = id[i];
			int v;
			if (i == 8)
				continue;
			if (c >= '0' && c <= '9')
				v = c - '0';
			else if (c >= 'a' && c <= 'f')
				v = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v = c - 'A' + 10;
			else
				ok = 0, v = 0;
			ms = ms * 16 + v;
		}
		if (ok && ms > 0)
			return ms / day_ms;
	}
	ms = (e->ts_us ? e->ts_us : received_us) / 1000;
	return ms >= 0 ? ms / day_ms : (ms - day_ms + 1) / day_ms;
}

static void
maintain(otas__store_t *st)
{
	otas__store_stats_t acc = {0};

	if (st->ops->writer_maintain(st->b, otas__now_us(), st->opts.retain_days,
	                             &acc) != 0)
		fprintf(stderr, "warning: store maintenance failed\n");
	if (acc.retention_deleted_events || acc.retention_dropped_partitions)
		fprintf(stderr,
		        "info: retention: deleted %lld events, dropped %lld day "
		        "partitions older than %d days\n",
		        acc.retention_deleted_events,
		        acc.retention_dropped_partitions, st->opts.retain_days);
	pthread_mutex_lock(&st->q_lock);
	st->stats.maintenance_runs++;
	st->stats.retention_deleted_events += acc.retention_deleted_events;
	st->stats.retention_dropped_partitions +=
	    acc.retention_dropped_partitions;
	st->stats.partitions_created += acc.partitions_created;
	st->stats.last_maintenance_us = otas__now_us();
	pthread_mutex_unlock(&st->q_lock);
}

/* The deferred text index waits for ingest: it runs when no group is
 * queued, and under a steady stream of groups at most once every
 * OTAS__INDEX_EVERY_MS, so it falls behind a burst but not forever. */
#ifndef OTAS__INDEX_EVERY_MS
#define OTAS__INDEX_EVERY_MS 200
#endif

/* And while groups come in a steady stream (the last two commits less
 * than OTAS__INDEX_IDLE_MS apart), it starts a pass (chunks until it has
 * caught up) only once OTAS__INDEX_MIN_EVENTS events wait, the oldest of
 * them has waited OTAS__INDEX_LAG_MS, or no group came for
 * OTAS__INDEX_IDLE_MS: under app servers' batches of a few events, a
 * pass after every commit paid a transaction (its fsync), a statement and
 * an FTS5 segment with its merges for each few events.  Sparse commits
 * are indexed at once, as before.  Search answers the same meanwhile:
 * the rows above the watermark are read by scan (collector/README.md,
 * "Text search"). */
#ifndef OTAS__INDEX_MIN_EVENTS
#define OTAS__INDEX_MIN_EVENTS 1024
#endif
#ifndef OTAS__INDEX_LAG_MS
#define OTAS__INDEX_LAG_MS 1000
#endif
#ifndef OTAS__INDEX_IDLE_MS
#define OTAS__INDEX_IDLE_MS 100
#endif

/* 0 when the indexer may start a pass now, else when it may (µs, wall
 * clock); q_lock held, index_more set. */
static int64_t
index_due(const otas__store_t *st, int64_t now)
{
	int64_t lag, idle;

	if (st->index_pass || st->index_waiting >= OTAS__INDEX_MIN_EVENTS ||
	    !st->index_first_us ||
	    st->index_gap_us >= (int64_t)OTAS__INDEX_IDLE_MS * 1000)
		return 0;
	lag = st->index_first_us + (int64_t)OTAS__INDEX_LAG_MS * 1000;
	idle = st->index_commit_us + (int64_t)OTAS__INDEX_IDLE_MS * 1000;
	if (now >= lag || now >= idle)
		return 0;
	return lag < idle ? lag : idle;
}

/* One chunk of the indexer, q_lock held (released while it runs). */
static void
index_step(otas__store_t *st, int w)
{
	int64_t t0 = otas__now_us();
	unsigned long gen = st->index_gen;
	int n;

	st->index_last_us = t0;
	st->index_pass = 1;
	pthread_mutex_unlock(&st->q_lock);
	n = st->ops->writer_index(st->b, w);
	pthread_mutex_lock(&st->q_lock);
	if (n == 0 && gen != st->index_gen) {
		/* Another writer committed meanwhile: look again. */
	} else if (n > 0) {
		/* A pass takes what waited when it began: under a steady
		 * stream it would otherwise go on a few events a chunk. */
		st->index_waiting -= n;
		if (st->index_waiting < OTAS__INDEX_MIN_EVENTS) {
			if (st->index_waiting < 0)
				st->index_waiting = 0;
			st->index_pass = 0;
			st->index_first_us = otas__now_us();
		}
		st->stats.text_indexed_events += n;
		st->stats.text_index_chunks++;
		int64_t us = otas__now_us() - t0;
		st->stats.text_index_us += us;
		if (us > st->stats.text_index_max_us)
			st->stats.text_index_max_us = us;
	} else {
		/* Caught up (or failed: try again after the next commit). */
		st->index_more = 0;
		st->index_pass = 0;
		st->index_waiting = 0;
		st->index_first_us = 0;
	}
}

/* --test-discard-commits: what a commit answers, with nothing written.
 * The job's events count as new rows and nothing reaches the indexer. */
static int
discard(otas__store_job_t *batch)
{
	for (otas__store_job_t *j = batch; j; j = j->next) {
		j->accepted = j->duplicates = 0;
		for (size_t i = 0; i < j->n; i++)
			if (!j->ev[i].reject) {
				j->ev[i].inserted = 1;
				j->accepted++;
			}
	}
	return 0;
}

static void *
writer_main(void *arg)
{
	otas__store_t *st = ((writer_arg_t *)arg)->st;
	int w = ((writer_arg_t *)arg)->w;
	int interval = st->opts.maintain_interval_s > 0
	                   ? st->opts.maintain_interval_s
	                   : 3600;
	struct timespec next;

	pthread_setname_np(pthread_self(), "otas-writer");
	if (w == 0)
		maintain(st);
	clock_gettime(CLOCK_REALTIME, &next);
	next.tv_sec += w == 0 ? interval : 86400 * 365;
	pthread_mutex_lock(&st->q_lock);
	for (;;) {
		otas__store_job_t *batch, *j;
		struct timespec now;
		int rc;

		int indexer = w == 0 && st->ops->writer_index && !st->stopping &&
		              !st->opts.hold_text_index;

		for (;;) {
			struct timespec until = next;
			int64_t due = 0;
			if (st->head || st->stopping)
				break;
			if (indexer && st->index_more) {
				due = index_due(st, otas__now_us());
				if (!due)
					break;
				if (due / 1000000 < until.tv_sec ||
				    (due / 1000000 == until.tv_sec &&
				     due % 1000000 * 1000 < until.tv_nsec)) {
					until.tv_sec = (time_t)(due / 1000000);
					until.tv_nsec = (long)(due % 1000000 * 1000);
				}
			}
			if (pthread_cond_timedwait(&st->q_cond, &st->q_lock, &until) ==
			    ETIMEDOUT)
				break; /* maintenance's or the indexer's turn */
		}
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec >= next.tv_sec && !st->stopping) {
			pthread_mutex_unlock(&st->q_lock);
			maintain(st);
			clock_gettime(CLOCK_REALTIME, &next);
			next.tv_sec += interval;
			pthread_mutex_lock(&st->q_lock);
			continue;
		}
		indexer = indexer && !st->stopping && st->index_more &&
		          !index_due(st, otas__now_us());
		if (indexer &&
		    (!st->head || otas__now_us() - st->index_last_us >
		                      (int64_t)OTAS__INDEX_EVERY_MS * 1000)) {
			index_step(st, w);
			continue;
		}
		if (!st->head) {
			if (st->stopping)
				break; /* stopping and drained */
			continue;
		}
		/* Several writers: one takes the queue; the next job to come
		 * wakes another while this one commits. */
		batch = st->head;
		st->head = st->tail = NULL;
		pthread_mutex_unlock(&st->q_lock);

		if (st->opts.commit_delay_ms > 0)
			usleep((useconds_t)st->opts.commit_delay_ms * 1000);
		rc = st->opts.discard_commits
		         ? discard(batch)
		         : st->ops->writer_commit(st->b, w, batch,
		                                  st->opts.fail_commits);
		if (rc != 0)
			for (j = batch; j; j = j->next)
				j->accepted = j->duplicates = 0;
		pthread_mutex_lock(&st->q_lock);
		if (rc == 0 && !st->opts.discard_commits) {
			int64_t t = otas__now_us();
			for (j = batch; j; j = j->next)
				st->index_waiting += (int64_t)j->accepted;
			if (!st->index_first_us)
				st->index_first_us = t;
			st->index_gap_us = st->index_commit_us
			                       ? t - st->index_commit_us
			                       : INT64_MAX;
			st->index_commit_us = t;
			st->index_gen++;
		}
		if (rc == 0 && !st->index_more && !st->opts.discard_commits) {
			st->index_more = 1; /* new rows for the indexer */
			if (w != 0)
				pthread_cond_broadcast(&st->q_cond);
		}
		for (j = batch; j; j = j->next)
			st->pending--;
		pthread_mutex_unlock(&st->q_lock);
		/* Callbacks run unlocked; one may free its job, so read next
		 * first. */
		for (j = batch; j;) {
			otas__store_job_t *next_job = j->next;
			j->rc = rc;
			j->done(j);
			j = next_job;
		}
		pthread_mutex_lock(&st->q_lock);
	}
	pthread_mutex_unlock(&st->q_lock);
	return NULL;
}

int
otas__store_writer_start(otas__store_t *st, const otas__writer_opts_t *o)
{
	int n = o->writers > 0 ? o->writers : st->ops->max_writers > 1 ? 4 : 1;

	if (n > st->ops->max_writers)
		n = st->ops->max_writers;
	if (n > OTAS__MAX_WRITERS)
		n = OTAS__MAX_WRITERS;
	st->opts = *o;
	st->stopping = 0;
	st->index_more = 1; /* catch up with what is there */
	st->index_pass = 1;
	/* How much waits is not known (a held index, one just turned on, a
	 * crash before the indexer got there): the start-up pass runs until
	 * it has caught up, not until it has taken one chunk. */
	st->index_waiting = INT64_MAX / 2;
	st->n_writers = 0;
	for (int w = 0; w < n; w++) {
		if (st->ops->writer_open(st->b, w, o) != 0)
			goto fail;
		st->args[w] = (writer_arg_t){st, w};
		if (pthread_create(&st->thread[w], NULL, writer_main,
		                   &st->args[w]) != 0) {
			st->ops->writer_close(st->b, w);
			goto fail;
		}
		st->n_writers++;
	}
	st->running = 1;
	return 0;
fail:
	st->running = 1;
	otas__store_writer_stop(st);
	return -1;
}

void
otas__store_writer_stop(otas__store_t *st)
{
	if (!st->running)
		return;
	pthread_mutex_lock(&st->q_lock);
	st->stopping = 1;
	pthread_cond_broadcast(&st->q_cond);
	pthread_mutex_unlock(&st->q_lock);
	for (int w = 0; w < st->n_writers; w++)
		pthread_join(st->thread[w], NULL);
	st->running = 0;
	for (int w = 0; w < st->n_writers; w++)
		st->ops->writer_close(st->b, w);
	st->n_writers = 0;
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

void
otas__store_stats(otas__store_t *st, otas__store_stats_t *out)
{
	pthread_mutex_lock(&st->q_lock);
	*out = st->stats;
	out->text_index_behind = st->index_more;
	pthread_mutex_unlock(&st->q_lock);
}

/* ---- reads ---------------------------------------------------------- */

int
otas__store_events_each(otas__store_t *st, int64_t project_pk,
                        const otas__event_query_t *q, otas__event_cb cb,
                        void *arg)
{
	return st->ops->events_each(st->b, project_pk, q, cb, arg);
}

int
otas__store_event_find(otas__store_t *st, int64_t project_pk,
                       const char *event_id, otas__event_cb cb, void *arg)
{
	return st->ops->event_find(st->b, project_pk, event_id, cb, arg);
}

int
otas__store_samples_each(otas__store_t *st, int64_t project_pk,
                         const otas__sample_query_t *q, otas__sample_cb cb,
                         void *arg)
{
	return st->ops->samples_each(st->b, project_pk, q, cb, arg);
}

int
otas__store_sessions_each(otas__store_t *st, int64_t project_pk,
                          otas__session_cb cb, void *arg)
{
	return st->ops->sessions_each(st->b, project_pk, cb, arg);
}

int
otas__store_entities_upsert(otas__store_t *st, int64_t project_pk,
                            const otas__entity_t *e, size_t n, int64_t now_us)
{
	return st->ops->entities_upsert(st->b, project_pk, e, n, now_us);
}

int
otas__store_entities_each(otas__store_t *st, int64_t project_pk,
                          const char *kind, const char *company_id,
                          long limit, otas__entity_cb cb, void *arg)
{
	return st->ops->entities_each(st->b, project_pk, kind, company_id, limit,
	                              cb, arg);
}

int
otas__store_rollup_each(otas__store_t *st, int64_t project_pk,
                        const otas__rollup_query_t *q, otas__rollup_cb cb,
                        void *arg)
{
	return st->ops->rollup_each(st->b, project_pk, q, cb, arg);
}

int
otas__store_people_each(otas__store_t *st, int64_t project_pk,
                        const otas__people_query_t *q, otas__people_cb cb,
                        void *arg)
{
	return st->ops->people_each(st->b, project_pk, q, cb, arg);
}

int
otas__store_scan(otas__store_t *st, int64_t project_pk,
                 const otas__scan_query_t *q, otas__scan_cb cb, void *arg)
{
	return st->ops->scan(st->b, project_pk, q, cb, arg);
}
