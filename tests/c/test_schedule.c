/*
 * test_schedule.c -- the sender's pure scheduler: a table of states and
 * times -> the expected action and wake-up, no threads, no clock.
 */
#include "send/schedule.h"
#include "testlib.h"

#define T0 1000000 /* "now" of most rows, monotonic ms */
#define FI 1000    /* flush interval of the table's configuration */
#define IDLE (T0 + OTAS__SCHED_IDLE_MS)

/* One row: the fields a row varies (0 = the default below) and what is
 * expected.  oldest = 0 means an empty queue; times are absolute ms. */
typedef struct {
	const char *name;
	int64_t now;
	/* state */
	int unauthed, auth_attempts;
	int64_t next_auth;
	uint64_t q_count, q_bytes;
	int64_t oldest;
	int pending;
	uint64_t batch_n;
	int64_t batch_deadline;
	int attempt;
	int64_t next_attempt;
	int flush;
	int64_t flush_deadline;
	int stop, no_spool, spooled_here, http;
	int64_t drain_at, spool_fail_until;
	int ent_due;
	int64_t ent_next;
	int in_flight, max_if, answered, grow, wakeable, backlog_off;
	int64_t fi; /* flush interval, 0: FI */
	uint64_t batch; /* OTAS_BATCH_MAX_EVENTS, 0: 100 */
	/* expected */
	otas__sched_action_t act;
	int64_t wake; /* checked for ACT_WAIT */
	int take, resolve, parked, entities;
	int first; /* wake_first */
	int pns;   /* parked_no_spool */
	uint64_t hwb; /* held_wake_bytes */
	uint64_t take_max; /* checked when set */
} row_t;

static otas__sched_state_t
state_of(const row_t *r)
{
	otas__sched_state_t st = {0};

	st.q_count = r->q_count;
	st.q_bytes = r->q_bytes ? r->q_bytes : r->q_count * 500;
	st.q_max_bytes = 32u << 20;
	st.q_wake_bytes = 512u << 10;
	st.oldest_ms = r->oldest ? r->oldest : -1;
	st.entities_queued = r->ent_due || r->ent_next;
	st.entities_due = r->ent_due;
	st.entities_next_ms = r->ent_next ? r->ent_next : -1;
	st.batch_max_events = r->batch ? r->batch : 100;
	st.backlog_events = r->backlog_off ? 0 : 1000;
	st.flush_interval_ms = r->fi ? r->fi : FI;
	st.stop = r->stop;
	st.flush_wanted = r->flush;
	st.flush_deadline_ms = r->flush_deadline;
	st.authed = !r->unauthed;
	st.auth_attempts = r->auth_attempts;
	st.next_auth_ms = r->next_auth;
	st.pending = r->pending;
	st.batch_n = r->batch_n;
	st.batch_deadline_ms = r->batch_deadline;
	st.attempt = r->attempt;
	st.next_attempt_ms = r->next_attempt;
	st.http_started = r->http;
	st.in_flight = r->in_flight;
	st.max_in_flight = r->max_if ? r->max_if : 1;
	st.batch_answered = r->answered;
	st.can_grow = r->grow;
	st.wakeable = r->wakeable;
	st.spool_configured = !r->no_spool;
	st.spool_fail_until = r->spool_fail_until;
	st.spooled_here = r->spooled_here;
	st.drain_at = r->drain_at;
	return st;
}

/* A held batch's wake-up: past half the queue's budget. */
#define HALF1 ((32u << 20) / 2 + 1)

static const row_t rows[] = {
    /* --- idle, delivery working */
    /* An empty queue is looked at every flush interval (its first
     * record does not wake the sender): rows about the other clocks of
     * an empty queue take an interval of an hour. */
    {"empty queue: idle wait, everything resolved", T0, .http = 1,
     .drain_at = T0 + 30000, .fi = 3600000, .act = OTAS__ACT_WAIT,
     .wake = T0 + 30000, .resolve = 1},
    {"empty queue, no spool: the idle maximum", T0, .no_spool = 1,
     .fi = 3600000, .act = OTAS__ACT_WAIT, .wake = IDLE, .resolve = 1},
    {"empty queue: look again within the flush interval", T0, .http = 1,
     .drain_at = T0 + 30000, .act = OTAS__ACT_WAIT, .wake = T0 + FI,
     .resolve = 1},
    {"empty queue, no spool: the flush interval, not the idle maximum", T0,
     .no_spool = 1, .act = OTAS__ACT_WAIT, .wake = T0 + FI, .resolve = 1},
    {"a drain due before the interval keeps its clock", T0, .http = 1,
     .drain_at = T0 + 300, .act = OTAS__ACT_WAIT, .wake = T0 + 300,
     .resolve = 1},
    {"a record seen at the look after it came: its own interval", T0,
     .q_count = 1, .oldest = T0 - 999, .no_spool = 1,
     .act = OTAS__ACT_WAIT, .wake = T0 + 1},
    {"a record that came as the sender slept: sent at the look", T0,
     .q_count = 1, .oldest = T0 - FI, .no_spool = 1, .act = OTAS__ACT_SEND,
     .take = 1},
    {"a record queued: its interval, not a later look", T0, .q_count = 1,
     .oldest = T0 - 10, .fi = 500, .no_spool = 1, .act = OTAS__ACT_WAIT,
     .wake = T0 + 490},
    {"one young record waits for the flush interval", T0, .q_count = 1,
     .oldest = T0 - 300, .no_spool = 1, .act = OTAS__ACT_WAIT,
     .wake = T0 - 300 + FI},
    {"flush interval reached: send", T0, .q_count = 1, .oldest = T0 - FI,
     .act = OTAS__ACT_SEND, .take = 1},
    {"batch full by count: send at once", T0, .q_count = 100,
     .oldest = T0 - 1, .act = OTAS__ACT_SEND, .take = 1},
    {"batch full by bytes: send at once", T0, .q_count = 3,
     .q_bytes = 600u << 10, .oldest = T0 - 1, .act = OTAS__ACT_SEND,
     .take = 1},
    {"a flush sends a young record", T0, .q_count = 1, .oldest = T0 - 1,
     .flush = 1, .flush_deadline = T0 + 5000, .act = OTAS__ACT_SEND,
     .take = 1},
    {"a flush with nothing held: resolved, wait", T0, .flush = 1,
     .flush_deadline = T0 + 5000, .no_spool = 1, .fi = 3600000,
     .act = OTAS__ACT_WAIT,
     .wake = T0 + 5000 - OTAS__SCHED_FLUSH_MARGIN_MS, .resolve = 1},
    {"records left over from the last take go next", T0, .pending = 1,
     .act = OTAS__ACT_SEND, .take = 1},
    /* --- backoff */
    {"in a backoff a due batch is built and waits", T0, .q_count = 100,
     .oldest = T0 - 1, .attempt = 2, .next_attempt = T0 + 700,
     .act = OTAS__ACT_FILL, .take = 1},
    {"held batch waits for the end of its backoff", T0, .batch_n = 100,
     .attempt = 2, .next_attempt = T0 + 700, .batch_deadline = T0 + 9000,
     .act = OTAS__ACT_WAIT, .wake = T0 + 700, .hwb = HALF1},
    {"held batch: backoff over, send", T0 + 700, .batch_n = 100,
     .attempt = 2, .next_attempt = T0 + 700, .act = OTAS__ACT_SEND},
    {"retry-after past the retry window: spool at the window", T0,
     .batch_n = 100, .attempt = 1, .next_attempt = T0 + 120000,
     .batch_deadline = T0 + 30000, .act = OTAS__ACT_WAIT,
     .wake = T0 + 30000, .hwb = HALF1},
    {"retry window over: spool", T0 + 30000, .batch_n = 100, .attempt = 1,
     .next_attempt = T0 + 120000, .batch_deadline = T0 + 30000,
     .act = OTAS__ACT_SPOOL},
    {"retry window over, no spool: wait for the backoff, no spin", T0 + 30000,
     .batch_n = 100, .attempt = 1, .next_attempt = T0 + 120000,
     .batch_deadline = T0 + 30000, .no_spool = 1, .act = OTAS__ACT_WAIT,
     .wake = T0 + 30000 + OTAS__SCHED_IDLE_MS, .hwb = UINT64_MAX},
    {"queue past half its budget: spool the held batch", T0,
     .batch_n = 100, .attempt = 1, .next_attempt = T0 + 5000,
     .q_count = 40000, .q_bytes = 17u << 20, .oldest = T0 - 9000,
     .act = OTAS__ACT_SPOOL},
    {"held, a queue growing: only past half its budget does it wake",
     T0, .batch_n = 100, .attempt = 1, .next_attempt = T0 + 5000,
     .q_count = 3000, .q_bytes = 3u << 20, .oldest = T0 - 900,
     .batch_deadline = T0 + 9000, .act = OTAS__ACT_WAIT, .wake = T0 + 5000,
     .hwb = HALF1},
    {"spool write failed: not before its back-off", T0, .batch_n = 100,
     .attempt = 1, .next_attempt = T0 + 5000, .batch_deadline = T0 - 1,
     .spool_fail_until = T0 + 2000, .act = OTAS__ACT_WAIT,
     .wake = T0 + 2000, .hwb = UINT64_MAX},
    /* --- flush deadline */
    {"flush: next attempt too late for its deadline, spool", T0,
     .batch_n = 10, .attempt = 3, .next_attempt = T0 + 4000, .flush = 1,
     .flush_deadline = T0 + 2000, .act = OTAS__ACT_SPOOL},
    {"flush: next attempt in time, wait for it", T0, .batch_n = 10,
     .attempt = 3, .next_attempt = T0 + 500, .flush = 1,
     .flush_deadline = T0 + 2000, .act = OTAS__ACT_WAIT,
     .wake = T0 + 500, .hwb = HALF1},
    {"flush: wake at the deadline margin first", T0, .batch_n = 10,
     .attempt = 3, .next_attempt = T0 + 2500, .flush = 1,
     .flush_deadline = T0 + 2200, .no_spool = 1, .act = OTAS__ACT_WAIT,
     .wake = T0 + 2000, .hwb = UINT64_MAX},
    /* --- spool drain */
    {"nothing queued, delivery works: drain the spool", T0, .http = 1,
     .act = OTAS__ACT_DRAIN, .resolve = 1},
    {"spooled while unauthenticated: drain with no connection yet", T0,
     .spooled_here = 1, .act = OTAS__ACT_DRAIN, .resolve = 1},
    {"no connection, nothing spooled here: no drain", T0, .fi = 3600000,
     .act = OTAS__ACT_WAIT, .wake = IDLE, .resolve = 1},
    {"drain waits for the backoff (the claim is the probe)", T0, .http = 1,
     .attempt = 1, .next_attempt = T0 + 800, .act = OTAS__ACT_WAIT,
     .wake = T0 + 800, .resolve = 1},
    {"queue busy: fresh events before the spool", T0, .http = 1,
     .q_count = 150, .oldest = T0 - 1, .act = OTAS__ACT_SEND, .take = 1},
    {"young records do not block the drain", T0, .http = 1, .q_count = 5,
     .oldest = T0 - 1, .act = OTAS__ACT_DRAIN},
    /* --- authentication */
    {"unauthenticated, first record: authenticate", T0, .unauthed = 1,
     .q_count = 1, .oldest = T0, .act = OTAS__ACT_AUTH},
    {"unauthenticated, nothing to do: no attempt", T0, .unauthed = 1,
     .fi = 3600000, .act = OTAS__ACT_WAIT, .wake = IDLE, .resolve = 1,
     .first = 1},
    {"unauthenticated, empty queue: look within the interval", T0,
     .unauthed = 1, .act = OTAS__ACT_WAIT, .wake = T0 + FI, .resolve = 1,
     .first = 1},
    {"before the first attempt the first record wakes the sender", T0,
     .unauthed = 1, .no_spool = 1, .act = OTAS__ACT_WAIT,
     .wake = T0 + FI, .resolve = 1, .first = 1},
    {"authenticated, empty queue: the first record does not wake", T0,
     .no_spool = 1, .act = OTAS__ACT_WAIT, .wake = T0 + FI, .resolve = 1,
     .first = 0},
    {"auth failing, empty queue: the interval, not the next attempt; parked",
     T0, .unauthed = 1, .auth_attempts = 2, .next_auth = T0 + 8000,
     .act = OTAS__ACT_WAIT, .wake = T0 + FI, .resolve = 1, .parked = 1},
    {"unauthenticated, spooled here: keep trying", T0, .unauthed = 1,
     .spooled_here = 1, .act = OTAS__ACT_AUTH, .resolve = 1},
    {"auth failing: a young record parks the sender", T0, .unauthed = 1,
     .auth_attempts = 1, .next_auth = T0 + 5000, .q_count = 3,
     .oldest = T0 - 10, .act = OTAS__ACT_WAIT, .wake = T0 - 10 + FI,
     .parked = 1},
    {"auth failing: records older than the interval go to the spool", T0,
     .unauthed = 1, .auth_attempts = 1, .next_auth = T0 + 5000,
     .q_count = 30, .oldest = T0 - FI, .act = OTAS__ACT_SPOOL, .take = 1},
    {"auth failing: a batch worth of records goes to the spool", T0,
     .unauthed = 1, .auth_attempts = 1, .next_auth = T0 + 5000,
     .q_count = 100, .oldest = T0 - 1, .act = OTAS__ACT_SPOOL, .take = 1},
    {"auth failing, batches of 1,000: 100 records go to the spool", T0,
     .unauthed = 1, .auth_attempts = 1, .next_auth = T0 + 5000,
     .batch = 1000, .q_count = 100, .oldest = T0 - 1,
     .act = OTAS__ACT_SPOOL, .take = 1},
    {"auth failing, batches of 1,000: 99 young records park", T0,
     .unauthed = 1, .auth_attempts = 1, .next_auth = T0 + 5000,
     .batch = 1000, .q_count = 99, .oldest = T0 - 10,
     .act = OTAS__ACT_WAIT, .wake = T0 - 10 + FI, .parked = 1},
    {"auth failing: past the park bytes, spool", T0, .unauthed = 1,
     .auth_attempts = 2, .next_auth = T0 + 5000, .q_count = 20,
     .q_bytes = OTAS__SCHED_PARK_BYTES, .oldest = T0 - 1,
     .act = OTAS__ACT_SPOOL, .take = 1},
    {"auth failing, no spool: wait for the next attempt", T0,
     .unauthed = 1, .auth_attempts = 1, .next_auth = T0 + 5000,
     .q_count = 30, .oldest = T0 - FI, .no_spool = 1,
     .act = OTAS__ACT_WAIT, .wake = T0 + 5000, .parked = 1, .pns = 1},
    {"auth failing, no spool, past the park count: no capture wakes", T0,
     .unauthed = 1, .auth_attempts = 1, .next_auth = T0 + 5000,
     .q_count = 300, .oldest = T0 - 10, .no_spool = 1,
     .act = OTAS__ACT_WAIT, .wake = T0 + 5000, .parked = 1, .pns = 1},
    {"auth failing, spool failing: its retry, not captures, wakes", T0,
     .unauthed = 1, .auth_attempts = 1, .next_auth = T0 + 5000,
     .q_count = 300, .oldest = T0 - 10, .spool_fail_until = T0 + 2000,
     .act = OTAS__ACT_WAIT, .wake = T0 + 2000, .parked = 1, .pns = 1},
    {"auth failing, spool failing, empty queue: the interval", T0,
     .unauthed = 1, .auth_attempts = 1, .next_auth = T0 + 5000,
     .spool_fail_until = T0 + 2000, .act = OTAS__ACT_WAIT, .wake = T0 + FI,
     .resolve = 1, .parked = 1, .pns = 1},
    {"auth failing, the spool's retry is due: spool", T0 + 2000,
     .unauthed = 1, .auth_attempts = 1, .next_auth = T0 + 5000,
     .q_count = 300, .oldest = T0 - 10, .spool_fail_until = T0 + 2000,
     .act = OTAS__ACT_SPOOL, .take = 1},
    {"auth failing: the next attempt is due", T0 + 5000, .unauthed = 1,
     .auth_attempts = 1, .next_auth = T0 + 5000, .q_count = 30,
     .oldest = T0 - FI, .act = OTAS__ACT_AUTH},
    {"auth failing, flush: waits for the attempt in time", T0,
     .unauthed = 1, .auth_attempts = 1, .next_auth = T0 + 500,
     .q_count = 30, .oldest = T0 - FI, .flush = 1,
     .flush_deadline = T0 + 3000, .act = OTAS__ACT_WAIT,
     .wake = T0 + 500},
    {"auth failing, flush: attempt too late, spool", T0, .unauthed = 1,
     .auth_attempts = 1, .next_auth = T0 + 9000, .q_count = 30,
     .oldest = T0 - 10, .flush = 1, .flush_deadline = T0 + 3000,
     .act = OTAS__ACT_SPOOL, .take = 1},
    {"before the first attempt nothing is parked", T0, .unauthed = 1,
     .next_auth = T0 + 100, .q_count = 30, .oldest = T0 - 5000,
     .act = OTAS__ACT_WAIT, .wake = T0 + 100},
    /* --- entities */
    {"entities due ride along with a wait", T0, .ent_due = 1,
     .no_spool = 1, .act = OTAS__ACT_WAIT, .entities = 1, .resolve = 1},
    {"entities later: wake for them", T0, .ent_next = T0 + 250,
     .no_spool = 1, .act = OTAS__ACT_WAIT, .wake = T0 + 250,
     .resolve = 1},
    {"entities wait for authentication", T0, .unauthed = 1,
     .auth_attempts = 1, .next_auth = T0 + 5000, .ent_due = 1,
     .no_spool = 1, .fi = 3600000, .act = OTAS__ACT_WAIT,
     .wake = T0 + 5000, .parked = 1, .pns = 1},
    /* --- waiting in HTTP with room for more */
    {"in flight, room, libcurl cannot be woken: poll the queue", T0,
     .q_count = 5, .oldest = T0 - 1, .http = 1, .max_if = 4, .in_flight = 1,
     .act = OTAS__ACT_COLLECT, .wake = T0 + OTAS__SCHED_POLL_MS},
    {"in flight, room, woken by captures: no poll", T0, .q_count = 5,
     .oldest = T0 - 1, .http = 1, .max_if = 4, .in_flight = 1,
     .wakeable = 1, .act = OTAS__ACT_COLLECT,
     .wake = T0 + OTAS__SCHED_COLLECT_MS},
    {"in flight, woken by captures: the flush interval still counts", T0,
     .q_count = 5, .oldest = T0 - FI + 10, .http = 1, .max_if = 4,
     .in_flight = 1, .wakeable = 1, .act = OTAS__ACT_COLLECT,
     .wake = T0 + 10},
    {"in flight, empty queue, woken: look again in a while", T0, .http = 1,
     .max_if = 4, .in_flight = 2, .wakeable = 1, .drain_at = T0 + 30000,
     .act = OTAS__ACT_COLLECT, .wake = T0 + OTAS__SCHED_COLLECT_MS},
    /* --- a backlog: bigger batches to our collector */
    {"backlog: a batch to our collector takes up to 1000", T0,
     .q_count = 5000, .oldest = T0 - 1, .http = 1, .grow = 1, .max_if = 4,
     .act = OTAS__ACT_START, .take = 1, .take_max = 1000},
    {"backlog, one in flight: the same", T0, .q_count = 1000,
     .oldest = T0 - 1, .http = 1, .grow = 1, .act = OTAS__ACT_SEND,
     .take = 1, .take_max = 1000},
    {"no backlog: batches of OTAS_BATCH_MAX_EVENTS", T0, .q_count = 999,
     .oldest = T0 - 1, .http = 1, .grow = 1, .max_if = 4,
     .act = OTAS__ACT_START, .take = 1, .take_max = 100},
    {"backlog but another protocol or per-event mode: no growth", T0,
     .q_count = 5000, .oldest = T0 - 1, .http = 1, .max_if = 1,
     .act = OTAS__ACT_SEND, .take = 1, .take_max = 100},
    {"backlog in a backoff: the batch keeps its size", T0, .q_count = 5000,
     .oldest = T0 - 1, .http = 1, .grow = 1, .attempt = 1,
     .next_attempt = T0 + 500, .act = OTAS__ACT_FILL, .take = 1,
     .take_max = 100},
    {"backlog, OTAS_BATCH_BACKLOG_EVENTS=0: no growth", T0,
     .q_count = 5000, .oldest = T0 - 1, .http = 1, .grow = 1, .max_if = 4,
     .backlog_off = 1, .act = OTAS__ACT_START, .take = 1, .take_max = 100},
    {"backlog, nothing taken (all in flight): no growth", T0,
     .q_count = 5000, .oldest = T0 - 1, .http = 1, .grow = 1, .max_if = 4,
     .in_flight = 4, .act = OTAS__ACT_COLLECT, .wake = T0 + 50,
     .take_max = 100},
    /* --- shutdown */
    {"stop wins over everything", T0, .stop = 1, .batch_n = 100,
     .q_count = 100, .oldest = T0 - 1, .act = OTAS__ACT_STOP},
};

TEST(table_of_states)
{
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const row_t *r = &rows[i];
		otas__sched_state_t st = state_of(r);
		otas__sched_decision_t d = otas__sched_decide(&st, r->now);
		int ok = d.action == r->act && d.take == r->take &&
		         d.resolve_all == r->resolve && d.parked == r->parked &&
		         d.entities == r->entities &&
		         d.wake_first == r->first &&
		         d.parked_no_spool == r->pns &&
		         d.held_wake_bytes == r->hwb &&
		         (!r->take_max || d.take_max == r->take_max);

		int timed = (r->act == OTAS__ACT_WAIT ||
		             r->act == OTAS__ACT_COLLECT) && !r->entities;

		if (timed)
			ok = ok && d.wake_at_ms == r->wake;
		else
			ok = ok && d.wake_at_ms == r->now;
		if (!ok) {
			fprintf(stderr,
			        "  row %zu \"%s\":\n    got  %s wake %+lld take %d "
			        "resolve %d parked %d/%d entities %d held %llu\n"
			        "    want %s wake %+lld take %d resolve %d "
			        "parked %d/%d entities %d held %llu\n",
			        i, r->name, otas__sched_action_name(d.action),
			        (long long)(d.wake_at_ms - r->now), d.take,
			        d.resolve_all, d.parked, d.parked_no_spool,
			        d.entities, (unsigned long long)d.held_wake_bytes,
			        otas__sched_action_name(r->act),
			        (long long)((timed ? r->wake : r->now) - r->now),
			        r->take, r->resolve, r->parked, r->pns,
			        r->entities, (unsigned long long)r->hwb);
			bad++;
		}
	}
	CHECK_INT(bad, 0);
}

/* The wake-up never lies in the past for a wait, and never later than
 * the idle maximum, over a sweep of clocks around one backed-off state. */
TEST(wake_is_bounded)
{
	otas__sched_state_t st = {0};
	int64_t now;

	st.q_max_bytes = 32u << 20;
	st.q_wake_bytes = 512u << 10;
	st.batch_max_events = 100;
	st.flush_interval_ms = FI;
	st.authed = 1;
	st.spool_configured = 1;
	st.http_started = 1;
	st.batch_n = 7;
	st.attempt = 4;
	st.next_attempt_ms = T0 + 3000;
	st.batch_deadline_ms = T0 + 8000;
	st.oldest_ms = -1;
	st.entities_next_ms = -1;
	for (now = T0 - 100000; now < T0 + 100000; now += 97) {
		otas__sched_decision_t d = otas__sched_decide(&st, now);
		CHECK(d.wake_at_ms >= now);
		CHECK(d.wake_at_ms <= now + OTAS__SCHED_IDLE_MS);
		if (now < T0 + 3000)
			CHECK_INT(d.action, OTAS__ACT_WAIT);
		else
			CHECK_INT(d.action, OTAS__ACT_SEND);
	}
}

/* With the queue empty (its first record does not wake the sender) every
 * wait and collect ends within the flush interval, in every shape of the
 * state that does not hold a batch: idle, unauthenticated, failing
 * authentication, a backoff, transfers in flight. */
TEST(empty_queue_is_looked_at_every_interval)
{
	int shape;
	int64_t now;

	for (shape = 0; shape < 5; shape++) {
		otas__sched_state_t st = {0};

		st.q_max_bytes = 32u << 20;
		st.q_wake_bytes = 512u << 10;
		st.batch_max_events = 100;
		st.flush_interval_ms = FI;
		st.authed = shape != 1 && shape != 2;
		st.auth_attempts = shape == 2 ? 3 : 0;
		st.next_auth_ms = shape == 2 ? T0 + 50000 : 0;
		st.attempt = shape == 3 ? 2 : 0;
		st.next_attempt_ms = shape == 3 ? T0 + 40000 : 0;
		st.in_flight = shape == 4 ? 2 : 0;
		st.max_in_flight = shape == 4 ? 4 : 1;
		st.wakeable = 1;
		st.spool_configured = 1;
		st.http_started = 1;
		st.drain_at = T0 + 90000;
		st.oldest_ms = -1;
		st.entities_next_ms = -1;
		for (now = T0 - 5000; now < T0 + 5000; now += 37) {
			otas__sched_decision_t d = otas__sched_decide(&st, now);

			if (d.action != OTAS__ACT_WAIT &&
			    d.action != OTAS__ACT_COLLECT)
				continue; /* acts now: looks again after */
			CHECK(d.wake_at_ms >= now);
			CHECK(d.wake_at_ms <= now + FI);
		}
	}
}

TEST(action_names)
{
	CHECK_STR(otas__sched_action_name(OTAS__ACT_SPOOL), "spool");
	CHECK_STR(otas__sched_action_name((otas__sched_action_t)99), "?");
}

int
main(void)
{
	RUN(table_of_states);
	RUN(wake_is_bounded);
	RUN(empty_queue_is_looked_at_every_interval);
	RUN(action_names);
	return testlib_done();
}
