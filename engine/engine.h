/*
 * engine.h -- struct otas_engine_s: the stages the public calls create
 * and wire together, top to bottom (capture -> queue -> send -> spool).
 *
 * The engine owns each stage's state and hands the stages below it
 * explicit pointers (sender.h's otas__sender_in_t); no stage includes this
 * header.  Ownership and locking:
 *   - cfg and every derived field (URLs, name sets, rules) are immutable
 *     after otas_engine_new() and read by any thread without a lock;
 *   - the queue has its own mutex (queue.h), which also guards the
 *     sender's control fields (sender.h);
 *   - counters are atomics (stats.h), read by otas_stats() at any time;
 *   - the authentication state has its own lock (auth.h).
 */
#ifndef OTAS_ENGINE_H
#define OTAS_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "event/event.h"
#include "log/log.h"
#include "otas/otas.h"
#include "queue/queue.h"
#include "send/auth.h"
#include "send/sender.h"
#include "stats/stats.h"

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
	otas__send_timing_t timing;

	/* Logging: set before the first capture, then read-only. */
	otas__logger_t log;

	otas__queue_t q;              /* the one bounded queue */
	otas__counters_t c;           /* stats/ */
	otas__auth_t auth;            /* send/auth.h */
	otas__sender_t snd;           /* send/sender.h: reads the above */

	atomic_int oom_logged;        /* capture out-of-memory logged */
	struct otas_engine_s *reg_next; /* fork registry, under g_reg_mu */
};

/* Log through the host's callback (the engine's logger, log.h). */
#define otas__log(eng, ...) otas__logf(&(eng)->log, __VA_ARGS__)

/* fork.c: add a new engine to the registry the pthread_atfork handlers
 * walk (registering the handlers once), and take a freed one out. */
void otas__fork_register(otas_engine_t *eng);
void otas__fork_unregister(otas_engine_t *eng);

#endif
