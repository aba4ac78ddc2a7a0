/*
 * schedule.c -- the sender's decision: state + clock -> action + wake-up.
 *
 * Design note.  The sender delivers one batch at a time in capture order,
 * so the state has three shapes, tried in this order:
 *   1. the project is unknown (authentication has not succeeded): try to
 *      authenticate when due; between attempts, once one has failed, what
 *      waits goes to the spool a batch at a time (the back end may stay
 *      down for hours: memory and the request path must not notice);
 *   2. a batch is held: send it when its backoff ends; spool it when it
 *      cannot wait (the queue is past half its budget, a flush deadline
 *      comes before the next attempt, its retry window is over);
 *   3. nothing is held: take a batch when one is full, the oldest record
 *      has waited the flush interval, or a flush asks; with nothing to
 *      send and delivery working, drain the spool oldest batch first.
 * Entity updates ride along once authenticated.  The wake-up is the
 * earliest clock that can change the answer, and at most a flush interval
 * away while the queue is empty (its first record does not wake the
 * sender); a full batch (count or bytes) wakes it too (queue.c), except a
 * parked one.
 */
#include "send/schedule.h"

#include <stddef.h>
#include <stdint.h>

static void
earlier(int64_t *wake, int64_t t)
{
	if (t < *wake)
		*wake = t;
}

static void
decide_unauthed(const otas__sched_state_t *st, int64_t now, int over_half,
                int flush_urgent, int can_spool, int64_t spool_at,
                otas__sched_decision_t *d)
{
	int any = st->q_count || st->pending || st->batch_n ||
	          st->entities_queued || st->in_flight;
	int parked;

	/* What this sender spooled waits for the project too: keep trying
	 * with nothing else queued. */
	if (now >= st->next_auth_ms &&
	    (any || st->flush_wanted || st->spooled_here))
		d->action = OTAS__ACT_AUTH;
	else if (now < st->next_auth_ms)
		earlier(&d->wake_at_ms, st->next_auth_ms);
	/* Once an attempt has failed, what is held, what has waited the flush
	 * interval, OTAS__SCHED_PARK_EVENTS records or OTAS__SCHED_PARK_BYTES go to
	 * the spool between attempts.  A flush in progress waits for delivery
	 * while it can (flush_urgent). */
	parked = st->auth_attempts > 0 && !st->flush_wanted &&
	         (st->pending || st->batch_n ||
	          (st->oldest_ms >= 0 &&
	           (st->q_bytes >= OTAS__SCHED_PARK_BYTES ||
	            st->q_count >= otas__sched_park_events(st->batch_max_events) ||
	            now >= st->oldest_ms + st->flush_interval_ms)));
	if (d->action != OTAS__ACT_AUTH &&
	    (over_half || flush_urgent || parked) && any && can_spool) {
		d->take = 1;
		d->action = OTAS__ACT_SPOOL;
	} else if (d->action != OTAS__ACT_AUTH && st->auth_attempts > 0) {
		/* Parked, an empty queue too: captures wake the sender only at
		 * the park thresholds (a spool group, not a whole batch), and
		 * the look at an empty queue every flush interval
		 * (otas__sched_decide()) starts a first record's grace, from
		 * its enqueue time. */
		d->parked = !st->flush_wanted;
		/* (A flush does not park: it waits for the attempt.) */
		if (st->oldest_ms >= 0 && can_spool && !st->flush_wanted)
			earlier(&d->wake_at_ms,
			        st->oldest_ms + st->flush_interval_ms);
		/* Nothing can go to the spool now: what is captured waits for
		 * the next attempt or the spool's retry, so a capture past the
		 * park thresholds would wake the sender for nothing, once per
		 * request.  Its clocks wake it instead. */
		if (d->parked && !can_spool) {
			d->parked_no_spool = 1;
			if (st->spool_configured && st->oldest_ms >= 0)
				earlier(&d->wake_at_ms, spool_at);
		}
	}
	if (!any)
		d->resolve_all = 1;
}

static void
decide_held(const otas__sched_state_t *st, int64_t now, int over_half,
            int flush_urgent, int64_t spool_at, otas__sched_decision_t *d)
{
	int must_spool = flush_urgent || over_half ||
	                 (st->batch_deadline_ms && now >= st->batch_deadline_ms);

	if (now >= st->next_attempt_ms || st->batch_answered) {
		/* A blocking attempt waits for the transfers in flight
		 * (their answers may be what the batch needs to know). */
		d->action = st->in_flight ? OTAS__ACT_COLLECT : OTAS__ACT_SEND;
	} else if (must_spool && now >= spool_at) {
		d->action = OTAS__ACT_SPOOL;
	} else {
		/* Until the backoff ends nothing captured changes what the
		 * sender can do, except a queue past half its budget (the
		 * held batch's turn to go to the spool): not a wake-up per
		 * capture once a full batch waits.  Nothing at all when
		 * there is no spool or the batch waits for the spool's
		 * clock already. */
		d->held_wake_bytes = !st->spool_configured || must_spool
		                         ? UINT64_MAX
		                         : st->q_max_bytes / 2 + 1;
		earlier(&d->wake_at_ms, st->next_attempt_ms);
		/* The retry window and a spool that failed matter only
		 * when there is a spool: no spin on a clock that passed. */
		if (st->spool_configured) {
			if (must_spool)
				earlier(&d->wake_at_ms, spool_at);
			else if (st->batch_deadline_ms)
				earlier(&d->wake_at_ms,
				        st->batch_deadline_ms > spool_at
				            ? st->batch_deadline_ms
				            : spool_at);
		}
	}
}

static void
decide_idle(const otas__sched_state_t *st, int64_t now, int can_spool,
            otas__sched_decision_t *d)
{
	int full = st->q_count >= st->batch_max_events ||
	           st->q_bytes >= st->q_wake_bytes;
	int have = st->pending || st->q_count;
	int drain_ok = can_spool && (st->http_started || st->spooled_here);

	if (st->pending || full || st->flush_wanted ||
	    (st->oldest_ms >= 0 &&
	     now >= st->oldest_ms + st->flush_interval_ms)) {
		/* In a backoff the batch is built now and waits (or is
		 * spooled) as a held batch.  Delivery working and room in
		 * flight: start it and come back for the next one. */
		if (have && now < st->next_attempt_ms)
			d->action = OTAS__ACT_FILL;
		else if (have && st->max_in_flight > 1 && !st->attempt)
			d->action = st->in_flight < st->max_in_flight
			                ? OTAS__ACT_START
			                : OTAS__ACT_COLLECT;
		else if (have)
			d->action = st->in_flight ? OTAS__ACT_COLLECT
			                          : OTAS__ACT_SEND;
		d->take = have && d->action != OTAS__ACT_COLLECT;
	} else if (st->oldest_ms >= 0) {
		earlier(&d->wake_at_ms, st->oldest_ms + st->flush_interval_ms);
	}
	if (d->action == OTAS__ACT_WAIT) {
		/* Spooled batches go out when delivery works; while it fails,
		 * a claim after the backoff is the probe.  (A sender that
		 * spooled while authentication failed drains what it spooled
		 * with no new capture to open the connection first.) */
		if (st->in_flight)
			d->action = OTAS__ACT_COLLECT;
		else if (drain_ok && now >= st->drain_at &&
		    now >= st->next_attempt_ms &&
		    st->q_count < st->batch_max_events)
			d->action = OTAS__ACT_DRAIN;
		else if (drain_ok)
			earlier(&d->wake_at_ms, st->drain_at > st->next_attempt_ms
			                            ? st->drain_at
			                            : st->next_attempt_ms);
	}
	if (d->action != OTAS__ACT_SEND && !have && !st->in_flight)
		d->resolve_all = 1;
	if (d->action != OTAS__ACT_SEND && st->attempt &&
	    st->next_attempt_ms > now)
		earlier(&d->wake_at_ms, st->next_attempt_ms);
}

otas__sched_decision_t
otas__sched_decide(const otas__sched_state_t *st, int64_t now)
{
	otas__sched_decision_t d = {OTAS__ACT_WAIT, now + OTAS__SCHED_IDLE_MS,
	                            0, 0, 0, 0, 0, 0, 0, 0};
	int over_half, flush_urgent, can_spool;
	/* When the spool can take a batch (never without one). */
	int64_t spool_at = !st->spool_configured ? INT64_MAX
	                   : st->spool_fail_until > st->spool_retry_ms
	                       ? st->spool_fail_until
	                       : st->spool_retry_ms;
	int64_t flush_by = st->flush_deadline_ms - OTAS__SCHED_FLUSH_MARGIN_MS;

	if (st->stop) {
		d.action = OTAS__ACT_STOP;
		d.wake_at_ms = now;
		return d;
	}
	over_half = st->q_bytes > st->q_max_bytes / 2;
	/* A flush waits for delivery while it can; a batch that cannot be
	 * tried again before the flusher's deadline goes to the spool. */
	flush_urgent = st->flush_wanted &&
	               (st->authed ? st->next_attempt_ms : st->next_auth_ms) >=
	                   flush_by;
	can_spool = st->spool_configured && now >= spool_at;

	if (!st->authed)
		decide_unauthed(st, now, over_half, flush_urgent, can_spool,
		                spool_at, &d);
	else if (st->batch_n)
		decide_held(st, now, over_half, flush_urgent, spool_at, &d);
	else
		decide_idle(st, now, can_spool, &d);

	/* Entity updates (entity.c) go out as soon as they come. */
	if (st->authed && st->entities_queued) {
		if (st->entities_due)
			d.entities = 1;
		else if (st->entities_next_ms >= 0)
			earlier(&d.wake_at_ms, st->entities_next_ms);
	}
	if (st->flush_wanted && flush_by > now)
		earlier(&d.wake_at_ms, flush_by);
	/* The first record of an empty queue does not wake the sender (a
	 * futex or curl_multi_wakeup() on the request thread, 15-25 us of
	 * its CPU on a VM): the sender looks at an empty queue at least every
	 * flush interval instead, so a record captured just after it went to
	 * sleep is seen within one interval and sent at its enqueue time plus
	 * the interval, as before (decide_idle).  A held batch does not wait
	 * for records (its backoff decides), so it keeps its clocks. */
	if (!st->q_count && !st->batch_n)
		earlier(&d.wake_at_ms, now + st->flush_interval_ms);
	/* Except before the first authentication attempt (once per
	 * process): the first record wakes the sender to authenticate at
	 * once, so that the first batch too leaves at its interval. */
	d.wake_first = !st->authed && !st->auth_attempts && !st->q_count &&
	               d.action == OTAS__ACT_WAIT;
	/* A backlog going out to our collector: one request carries more
	 * (never a spooled or retried batch: those keep their size). */
	d.take_max = st->batch_max_events;
	if (d.take && st->can_grow && !st->attempt &&
	    (d.action == OTAS__ACT_START || d.action == OTAS__ACT_SEND) &&
	    st->backlog_events > st->batch_max_events &&
	    st->q_count >= st->backlog_events)
		d.take_max = st->backlog_events;
	if (d.action == OTAS__ACT_COLLECT)
		earlier(&d.wake_at_ms,
		        now + (st->in_flight < st->max_in_flight &&
		                       !st->wakeable
		                   ? OTAS__SCHED_POLL_MS
		                   : OTAS__SCHED_COLLECT_MS));
	if ((d.action != OTAS__ACT_WAIT && d.action != OTAS__ACT_COLLECT) ||
	    d.entities)
		d.wake_at_ms = now;
	return d;
}

const char *
otas__sched_action_name(otas__sched_action_t a)
{
	static const char *const names[] = {"wait",  "stop",  "auth", "fill",
	                                    "send",  "drain", "spool", "start", "collect"};

	if ((unsigned)a < sizeof(names) / sizeof(names[0]))
		return names[a];
	return "?";
}
