/*
 * schedule.h -- what the sender thread does next: a pure function of a
 * plain state struct and the clock.
 *
 * The sender thread (sender.c) gathers otas__sched_state_t under q.mu,
 * calls otas__sched_decide(), and then does the one action it names
 * (outside the lock for anything slow) and records the outcome in its own
 * fields.  Nothing here touches a lock, a clock, curl or SQLite, so every
 * timing rule (flush interval, full batch, backoff, Retry-After, failing
 * authentication, flush and shutdown deadlines, spool drain, idle wait) is
 * unit-tested from a table (tests/c/test_schedule.c) without threads.
 */
#ifndef OTAS_SCHEDULE_H
#define OTAS_SCHEDULE_H

#include <stdint.h>

/* Authentication failing: queued bytes past this go to the spool without
 * waiting for the flush interval, and a capture wakes a parked sender only
 * past it (queue.c, OTAS__QUEUE_PARKED). */
#define OTAS__SCHED_PARK_BYTES (256 * 1024)
/* ... and so do this many records (or OTAS_BATCH_MAX_EVENTS if smaller),
 * whatever the batch size: a spooled group, not a batch, is what waits in
 * memory while authentication fails (1,000-event batches held ~3 MB more
 * over 20,000 requests with the back end down). */
#define OTAS__SCHED_PARK_EVENTS 100
static inline uint64_t
otas__sched_park_events(uint64_t batch_max_events)
{
	return batch_max_events < OTAS__SCHED_PARK_EVENTS ? batch_max_events
	                                                   : OTAS__SCHED_PARK_EVENTS;
}
/* A flush that cannot be served by delivery before its deadline minus
 * this margin is served by the spool. */
#define OTAS__SCHED_FLUSH_MARGIN_MS 200
/* The longest idle wait: the sender looks at its state at least this
 * often. */
#define OTAS__SCHED_IDLE_MS 60000
/* Transfers in flight and room for more, with a libcurl that cannot be
 * woken (before 7.68): a capture cannot wake a sender that waits in
 * curl, so it looks at the queue this often. */
#define OTAS__SCHED_POLL_MS 2
/* ... and with every slot busy (or a libcurl that wakes it for captures,
 * flushes and stops) it still looks at its state this often. */
#define OTAS__SCHED_COLLECT_MS 50
/* A backlog (OTAS_BATCH_BACKLOG_EVENTS, default 1,000): this many
 * records queued when a batch is taken for sending to a batch endpoint of
 * our collector (which takes 10,000 events a request): the batch takes up
 * to this many events, within OTAS_BATCH_MAX_BYTES.  A request costs the
 * collector ~0.2 ms and the sender a poll loop whatever it carries, and a
 * bigger transaction writes fewer index pages per event, so a sender that
 * fell behind catches up on less CPU on both sides (docs/sender.md).  A
 * queue that stays below it (the sender keeps up) sees batches of
 * OTAS_BATCH_MAX_EVENTS as before; 0 turns growth off. */

typedef enum {
	OTAS__ACT_WAIT = 0,   /* sleep until wake_at_ms or a signal */
	OTAS__ACT_STOP,       /* leave the loop: shutdown_flush() */
	OTAS__ACT_AUTH,       /* one authentication attempt */
	OTAS__ACT_FILL,       /* serialise taken records into the batch; it
	                       * waits for the end of a backoff */
	OTAS__ACT_SEND,       /* (fill and) send the batch */
	OTAS__ACT_DRAIN,      /* claim the oldest spooled batch and send it */
	OTAS__ACT_SPOOL,      /* (fill and) put the batch in the spool */
	OTAS__ACT_START,      /* fill a batch and start sending it without
	                       * waiting (several in flight) */
	OTAS__ACT_COLLECT,    /* drive the transfers in flight until one
	                       * ends or wake_at_ms */
} otas__sched_action_t;

typedef struct {
	/* The queue (q.mu). */
	uint64_t q_count;          /* records queued */
	uint64_t q_bytes;          /* their bytes */
	uint64_t q_max_bytes;      /* the queue's budget */
	uint64_t q_wake_bytes;     /* a batch worth of bytes */
	int64_t oldest_ms;         /* enqueue time of the oldest record, -1 */
	int entities_queued;       /* entity updates wait (entity.c) */
	int entities_due;          /* ... and are due now */
	int64_t entities_next_ms;  /* ... else when, -1 none */
	/* Configuration. */
	uint64_t batch_max_events;
	uint64_t backlog_events;   /* OTAS_BATCH_BACKLOG_EVENTS (0: off) */
	int64_t flush_interval_ms;
	/* Commands. */
	int stop;                  /* otas__sender_stop() asked */
	int flush_wanted;          /* a flusher waits for done_seq */
	int64_t flush_deadline_ms; /* ... until then */
	/* Authentication. */
	int authed;                /* the project is known */
	int auth_attempts;         /* failed attempts in a row */
	int64_t next_auth_ms;      /* not before */
	/* Delivery. */
	int pending;               /* records taken, not yet in the batch */
	uint64_t batch_n;          /* events in the batch being delivered */
	int64_t batch_deadline_ms; /* end of its retry window, 0 none */
	int batch_answered;        /* its answer came in flight: book it now */
	int attempt;               /* failed delivery attempts in a row */
	int64_t next_attempt_ms;   /* backoff / Retry-After: not before */
	int http_started;          /* a delivery was tried (connection) */
	int in_flight;             /* batches being sent (ACT_START) */
	int max_in_flight;         /* 1: one blocking send at a time */
	int wakeable;              /* captures and commands wake the thread
	                            * in HTTP (otas__http_wakeup()): no poll */
	int can_grow;              /* batches may grow under a backlog: the
	                            * batch endpoint of the OTAS protocol */
	/* Spool. */
	int spool_configured;      /* OTAS_SPOOL_DIR is set */
	int64_t spool_fail_until;  /* a spool write failed: not before */
	int64_t spool_retry_ms;    /* opening it failed: not before */
	int spooled_here;          /* this sender put batches in it */
	int64_t drain_at;          /* look for spooled batches from then */
} otas__sched_state_t;

typedef struct {
	otas__sched_action_t action;
	int64_t wake_at_ms;  /* ACT_WAIT: sleep until then (or a signal) */
	int take;            /* take a batch of records from the queue
	                      * first (under q.mu) */
	uint64_t take_max;   /* ... of up to this many events (a backlog:
	                      * backlog_events) */
	int entities;        /* send due entity updates first */
	int resolve_all;     /* nothing is held: everything captured so far
	                      * is resolved (flush done) */
	int parked;          /* ACT_WAIT with authentication failing: only
	                      * OTAS__SCHED_PARK_BYTES of captures wake it */
	int wake_first;      /* ACT_WAIT before the first authentication
	                      * attempt: the first record of the empty queue
	                      * wakes the sender (to authenticate at once,
	                      * once per process); otherwise only a full
	                      * batch does (OTAS__QUEUE_FIRST, queue.c) */
	int parked_no_spool; /* parked with nothing able to go to the spool
	                      * now (none, or it waits for its retry): no
	                      * capture wakes it, only its clocks (the next
	                      * attempt, the spool's retry) and commands */
	uint64_t held_wake_bytes; /* ACT_WAIT with a batch held for its
	                      * backoff: only a queue of this many bytes
	                      * (past half its budget: the spool's turn)
	                      * wakes it, UINT64_MAX none (no spool, or
	                      * past half already and waiting for the
	                      * spool's clock); 0: not held */
} otas__sched_decision_t;

/* The next step for state st at now_ms (monotonic).  Pure. */
otas__sched_decision_t otas__sched_decide(const otas__sched_state_t *st,
                                          int64_t now_ms);

/* The action's name, for logs and tests. */
const char *otas__sched_action_name(otas__sched_action_t a);

#endif
