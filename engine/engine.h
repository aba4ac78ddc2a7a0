/*
 * engine.h -- struct otas_engine_s, shared by capture, sender and the
 * public calls.
 *
 * Ownership and locking:
 *   - cfg and every derived field (URLs, name sets, rules) are immutable
 *     after otas_engine_new() and read by any thread without a lock;
 *   - the queue and every field marked "q.mu" are guarded by the queue's
 *     mutex; the sender thread never holds it across I/O;
 *   - counters are atomics (relaxed), read by otas_stats() at any time;
 *   - the sender's own state (curl handle, spool handle, batch) lives in
 *     sender.c and is touched only by the sender thread.
 */
#ifndef OTAS_ENGINE_H
#define OTAS_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "send/entity.h"
#include "otas/otas.h"
#include "queue/queue.h"
#include "event/event.h"

/* One relaxed atomic per counter of OTAS_STATS_FIELDS (otas.h): the
 * counters are declared there once. */
typedef struct {
#define OTAS__CNT(name, ...) atomic_uint_fast64_t name;
#define OTAS__NONE(...)
	OTAS_STATS_FIELDS(OTAS__CNT, OTAS__NONE, OTAS__NONE)
#undef OTAS__CNT
#undef OTAS__NONE
} otas__counters_t;

#define OTAS__INC(eng, f, n) \
	atomic_fetch_add_explicit(&(eng)->c.f, (uint64_t)(n), \
	                          memory_order_relaxed)

struct otas_engine_s {
	otas_config_t *cfg;

	/* Derived from cfg, immutable. */
	otas__event_ctx_t *ev;        /* event/: names, rules, identity */
	char *auth_url;
	char *spool_path;             /* NULL: no spool */
	char sdk_name[96];
	struct otas__filter_s *filter; /* filter.c */
	/* protocol.c: the wire format (OTAS, or OTLP when OTAS_EXPORTER=otlp);
	 * read-only after otas_engine_new(). */
	struct otas__protocol_s *proto;
	/* Delivery timings (sender.h defaults; tests may shorten them
	 * before the first capture). */
	int64_t retry_base_ms, retry_cap_ms, retry_window_ms, auth_wait_ms,
	    reprobe_ms;

	/* Logging: set before the first capture, then read-only. */
	otas_log_fn log_fn;
	void *log_ud;
	int log_min;

	/* The spool handle: opened lazily and used by the sender thread,
	 * closed by the fork prepare handler.  Lock order: spool_mu, then
	 * q.mu. */
	pthread_mutex_t spool_mu;
	struct otas__spool_s *spool;

	otas__queue_t q;
	otas__entq_t entq;            /* entity.c; list fields under q.mu */
	/* Guarded by q.mu. */
	uint64_t done_seq;            /* every record <= this is resolved */
	uint64_t flush_seq;           /* a flusher waits for this seq */
	int64_t flush_deadline_ms;    /* ... until then (monotonic) */
	int stop;                     /* otas_engine_free() asked to stop */
	int64_t stop_deadline_ms;     /* monotonic */
	_Atomic int64_t abort_at_ms;  /* = stop_deadline_ms once stopping: the
	                               * sender's transfers end there */
	int sender_running;
	int sender_exited;
	pthread_t thread;
	char project_id[128];
	int auth_state;               /* OTAS__AUTH_* */
	int accepts_zstd;             /* the last OK authentication said so */
	int batch_endpoint;           /* 1, 0, -1 unknown */
	char last_error[256];

	atomic_int started;           /* sender thread started (fast path) */
	atomic_int qfull_logged;      /* queue-full episode already logged */
	atomic_int oom_logged;        /* capture out-of-memory logged */
	atomic_int unreachable_told;  /* otas_engine_authenticate() already
	                               * returned "unreachable" to the host */
	otas__counters_t c;
	struct otas_engine_s *reg_next; /* fork registry, under g_reg_mu */
};

enum {
	OTAS__AUTH_UNKNOWN = 0, /* not tried, or unreachable: retry */
	OTAS__AUTH_OK = 1,
	OTAS__AUTH_INVALID = 2  /* key refused: retry slowly */
};

/* Log through the host's callback when level >= min level. */
/* DEBUG line: head + the event's JSON, every copy of the agent token
 * (the sender moves it to a header) replaced by [REDACTED]. */
void otas__log_event(otas_engine_t *eng, const char *head, const char *json,
                     size_t n, const char *token, size_t token_len);
void otas__log(otas_engine_t *eng, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the last delivery problem for otas_stats() (takes q.mu). */
void otas__set_last_error(otas_engine_t *eng, const char *msg);

/* Remember the result of an authentication (takes q.mu). */
void otas__engine_set_auth(otas_engine_t *eng, const otas_auth_result_t *r);

/* fork.c: add a new engine to the registry the pthread_atfork handlers
 * walk (registering the handlers once), and take a freed one out. */
void otas__fork_register(otas_engine_t *eng);
void otas__fork_unregister(otas_engine_t *eng);

/* send/auth.c: otas_authenticate_key() into a whole otas_auth_result_t
 * (out never NULL); the public call copies what the caller's struct_size
 * holds. */
otas_auth_status_t otas__authenticate_key(const char *auth_url,
                                          const char *sdk_key, int timeout_ms,
                                          otas_auth_result_t *out);

#endif
