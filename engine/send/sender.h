/*
 * sender.h -- the one background thread per process that turns queued
 * records into delivered (or spooled) events, and the state it owns.
 *
 * The sender is built from explicit inputs (otas__sender_in_t): the queue
 * it drains, the counters it adds to, the authentication state, the
 * serialiser's context, the protocol, the logger, its timings and the
 * configuration.  engine.c creates those stages and wires them here; no
 * file of send/ includes engine.h, so nothing calls back up the flow.
 *
 * Ownership and locking:
 *   - the inputs are the engine's, outlive the sender and are read-only
 *     for it (the queue, counters and auth state have their own locks);
 *   - every field below marked "q.mu" is guarded by the queue's mutex
 *     (so that the sender waits on "records or a command" with one
 *     condition variable); the thread never holds it across I/O;
 *   - the spool handle is guarded by spool_mu (the fork prepare handler
 *     closes it).  Lock order: spool_mu, then q.mu, then the auth state's;
 *   - the thread's working state (curl handle, batch, answers) lives in
 *     sender.c and is touched only by the sender thread.
 */
#ifndef OTAS_SENDER_H
#define OTAS_SENDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "event/event.h"
#include "log/log.h"
#include "otas/otas.h"
#include "queue/queue.h"
#include "send/auth.h"
#include "send/entity.h"
#include "stats/stats.h"

struct otas__protocol_s;
struct otas__spool_s;

/* Delivery timings (the defaults below; tests may shorten them before
 * the first capture). */
typedef struct {
	int64_t retry_base_ms, retry_cap_ms, retry_window_ms, auth_wait_ms,
	    reprobe_ms;
} otas__send_timing_t;

/* What the sender is built from; every pointer stays the caller's. */
typedef struct {
	const otas_config_t *cfg;
	otas__event_ctx_t *ev;                /* event/: the serialiser */
	const struct otas__protocol_s *proto; /* protocol.c: the wire */
	otas__queue_t *q;                     /* the one bounded queue */
	otas__counters_t *c;                  /* stats/ */
	otas__auth_t *auth;                   /* auth.h */
	const otas__logger_t *log;
	const otas__send_timing_t *timing;
	const char *auth_url;
	const char *spool_path;               /* NULL: no spool */
} otas__sender_in_t;

typedef struct otas__sender_s {
	/* Inputs (otas__sender_in_t), read-only. */
	const otas_config_t *cfg;
	otas__event_ctx_t *ev;
	const struct otas__protocol_s *proto;
	otas__queue_t *q;
	otas__counters_t *c;
	otas__auth_t *auth;
	const otas__logger_t *log;
	const otas__send_timing_t *timing;
	const char *auth_url;
	const char *spool_path;

	/* The spool handle: opened lazily by the thread, closed by the fork
	 * prepare handler (otas__sender_fork_prepare()). */
	pthread_mutex_t spool_mu;
	struct otas__spool_s *spool;

	otas__entq_t entq;            /* entity.c; list fields under q.mu */
	/* Guarded by q.mu. */
	uint64_t done_seq;            /* every record <= this is resolved */
	uint64_t flush_seq;           /* a flusher waits for this seq */
	uint64_t flush_wake;          /* lowest seq a flusher waits on, to
	                               * be woken at (0: none): not once
	                               * per batch */
	int64_t flush_deadline_ms;    /* ... until then (monotonic) */
	int stop;                     /* otas__sender_stop() asked */
	int64_t stop_deadline_ms;     /* monotonic */
	_Atomic int64_t abort_at_ms;  /* = stop_deadline_ms once stopping: the
	                               * thread's transfers end there */
	int running;
	int joining;   /* a stop is joining the thread: other stops wait
	                * on q->cv_done until running is 0 */
	int exited;
	pthread_t thread;
	int batch_endpoint;           /* 1, 0, -1 unknown */
	char last_error[256];

	atomic_int started;           /* thread started (fast path) */
} otas__sender_t;

/* Wire the sender to its inputs (copied).  0, or -1 (nothing to free). */
int otas__sender_init(otas__sender_t *sn, const otas__sender_in_t *in);
/* After otas__sender_stop(): drop (counted) what is left, close the
 * spool, free what init made. */
void otas__sender_destroy(otas__sender_t *sn);

/* Start the sender thread unless it runs.  Takes q.mu.  0, or -1 when
 * the thread could not be created (records stay queued; tried again at
 * the next capture). */
int otas__sender_start(otas__sender_t *sn);

/* The capture path's check: start the thread unless it runs (one
 * acquire load when it does). */
static inline void
otas__sender_kick(otas__sender_t *sn)
{
	if (!atomic_load_explicit(&sn->started, memory_order_acquire))
		otas__sender_start(sn);
}

/* Ask the sender to deliver what it can until now + timeout_ms, spool the
 * rest and exit; join it.  No-op when it never started. */
void otas__sender_stop(otas__sender_t *sn, int timeout_ms);

/* Wait until every record queued before the call (and every entity
 * update) is resolved, or timeout_ms.  0 done, 1 timed out. */
int otas__sender_flush(otas__sender_t *sn, int timeout_ms);

/* The sender's gauges into out: queue_bytes, queue_events,
 * batch_endpoint, authenticated, last_error (takes q.mu). */
void otas__sender_gauges(otas__sender_t *sn, otas_stats_t *out);

/* Record the last delivery problem for otas_stats() (takes q.mu). */
void otas__sender_set_error(otas__sender_t *sn, const char *msg);

/* Fork handlers (fork.c): prepare closes the spool handle and keeps
 * spool_mu; parent releases it; child (q.mu held by the forking thread,
 * before the queue's reset) forgets the parent's thread and entity
 * updates, then releases spool_mu. */
void otas__sender_fork_prepare(otas__sender_t *sn);
void otas__sender_fork_parent(otas__sender_t *sn);
void otas__sender_fork_child(otas__sender_t *sn);

/* Tunables shrunk by OTAS_TESTING_SMALL_LIMITS so tests run the paths. */
#ifdef OTAS_TESTING_SMALL_LIMITS
#define OTAS__RETRY_BASE_MS 50
#define OTAS__RETRY_CAP_MS 1000
#define OTAS__RETRY_WINDOW_MS 3000
#define OTAS__AUTH_WAIT_MS 1000
#define OTAS__REPROBE_MS 2000
#else
#define OTAS__RETRY_BASE_MS 500
#define OTAS__RETRY_CAP_MS 30000
#define OTAS__RETRY_WINDOW_MS 30000
#define OTAS__AUTH_WAIT_MS 60000
#define OTAS__REPROBE_MS 600000
#endif
#define OTAS__SPOOL_LEASE_MS 120000

#endif
