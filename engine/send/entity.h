/*
 * entity.h -- user, company and subscription updates (otas_entity()):
 * typed items of the one bounded queue (queue.h, OTAS__ITEM_ENTITY),
 * which the sender thread moves from the queue into its list here
 * (guarded by the queue's mutex, so fork handling covers it) and posts to
 * the entities endpoint in batches.
 */
#ifndef OTAS_ENTITY_H
#define OTAS_ENTITY_H

#include <stddef.h>
#include <stdint.h>

struct otas__record_s;
struct otas__http_s;

typedef struct {
	/* Guarded by q.mu.  Their JSON bytes are the queue's ent_bytes
	 * (the entities' share of the budget) until resolved. */
	struct otas__record_s *head, *tail;
	size_t count;
	int inflight;          /* the sender is posting a taken batch */
	int64_t next_ms;       /* backoff: not before (monotonic) */
	int attempt;
	/* Sender thread only. */
	int missing_logged;    /* 404/405 logged */
} otas__entq_t;

struct otas__sender_s;

/* Validate (kind, required ids) and normalise one update into the JSON
 * element the batch carries, {"kind":...,...}.  Pure; malloc'd text or
 * NULL when invalid (*bad set) or out of memory. */
char *otas__entity_element(int kind, const char *json, size_t len,
                           size_t *out_len, int *bad);

/* Sender thread, q.mu held: 1 when updates should be posted now; else
 * lowers *wake to when they will be. */
int otas__entities_due_locked(struct otas__sender_s *sn, int64_t now,
                              int64_t *wake);
/* 1 when updates are queued or being posted (q.mu held). */
int otas__entities_busy_locked(const struct otas__sender_s *sn);

/* Sender thread, no lock held: post up to one batch on h (the sender's
 * handle, slot 0: nothing may be in flight on it; NULL: kept, retried). */
void otas__entities_send(struct otas__sender_s *sn, struct otas__http_s *h);

/* Sender thread, q.mu held: move the entity items of the queue into the
 * list (queue order). */
void otas__entities_collect_locked(struct otas__sender_s *sn);

/* Sender thread at shutdown: post what is queued until the deadline
 * (monotonic ms), drop (counted) the rest. */
void otas__entities_shutdown(struct otas__sender_s *sn,
                             struct otas__http_s *h, int64_t deadline);

/* Forked child (q.mu held by the forking thread): forget the parent's
 * updates (the parent sends them) and its HTTP handle. */
void otas__entities_reset_child(struct otas__sender_s *sn);

/* Engine free (no sender): drop what is left, free the handle. */
void otas__entities_free(struct otas__sender_s *sn);

#endif
