/*
 * capture.c -- the hot path: copy one request/response into one block and
 * push it.  Budget: about a microsecond of C.  No redaction, JSON, I/O or
 * allocation beyond the one block, whose size is what was captured; a CGI
 * environ is filtered here (HTTP_*, CONTENT_TYPE, CONTENT_LENGTH) by a
 * prefix check so the rest of the environ is never copied.
 */
#include "capture/capture.h"

#include "common/clock.h"
#include "common/random.h"
#include "common/uuid.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OTAS__ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(OTAS__ASAN)
#define OTAS__ASAN 1
#endif
#ifdef OTAS__ASAN
#include <sanitizer/asan_interface.h>
#endif

/* xoshiro256** per thread, seeded from getrandom(); a fork generation
 * counter makes a forked child reseed so parent and child never produce
 * the same event ids. */
static atomic_uint g_fork_gen;
static __thread uint64_t t_s[4];
static __thread unsigned t_gen;
static __thread int t_seeded;

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void
otas__rand_fork_child(void)
{
	atomic_fetch_add(&g_fork_gen, 1);
}

uint64_t
otas__rand64(void)
{
	unsigned gen = atomic_load_explicit(&g_fork_gen, memory_order_relaxed);
	uint64_t r, t;

	if (!t_seeded || t_gen != gen) {
		if (otas__random_bytes(t_s, sizeof(t_s)) != 0) {
			/* No entropy source: time and address still differ
			 * between threads and processes. */
			t_s[0] = (uint64_t)otas__now_unix_us();
			t_s[1] = (uint64_t)(uintptr_t)&t_s;
			t_s[2] = (uint64_t)clock();
			t_s[3] = 0x9E3779B97F4A7C15ull;
		}
		if (!(t_s[0] | t_s[1] | t_s[2] | t_s[3]))
			t_s[0] = 1;
		t_seeded = 1;
		t_gen = gen;
	}
	r = rotl(t_s[1] * 5, 7) * 9;
	t = t_s[1] << 17;
	t_s[2] ^= t_s[0];
	t_s[3] ^= t_s[1];
	t_s[1] ^= t_s[2];
	t_s[0] ^= t_s[3];
	t_s[2] ^= t;
	t_s[3] = rotl(t_s[3], 45);
	return r;
}

void
otas__uuid7(int64_t ms, char out[37])
{
	unsigned char b[16];
	uint64_t r1 = otas__rand64(), r2 = otas__rand64();

	memcpy(b + 6, &r1, 2);
	memcpy(b + 8, &r2, 8);
	otas__uuid7_stamp(b, (uint64_t)ms);
	otas__uuid_format(b, out);
}

static inline int
cgi_header(const otas_header_t *h)
{
	if (h->name_len > 5 && memcmp(h->name, "HTTP_", 5) == 0)
		return 1;
	if (h->name_len == 12 && memcmp(h->name, "CONTENT_TYPE", 12) == 0)
		return 1;
	return h->name_len == 14 && memcmp(h->name, "CONTENT_LENGTH", 14) == 0;
}

/* Big records' blocks are kept for the next big capture.  A record of a
 * 64 KB body is 66 KB; glibc serves it from the heap's top, and when the
 * sender frees a batch of them the top is trimmed, so the next capture
 * writes into fresh pages: a page fault per 4 KB, measured 39 us for a
 * 66 KB copy against 1.8 us into memory already mapped.  Blocks of
 * SPARE_MIN..SPARE_MAX bytes (rounded up to SPARE_ROUND) go back to a small
 * process-wide pool, at most SPARE_BYTES in all, and a capture takes the
 * most recently returned one that fits (within 2x).  Try-locks only: a
 * busy pool (or one a fork left locked in the child) means plain
 * malloc/free, never a wait. */
#define SPARE_MIN (32u * 1024)
#define SPARE_MAX (1024u * 1024)
#define SPARE_ROUND (16u * 1024)
#define SPARE_SLOTS 64
#define SPARE_BYTES (4u * 1024 * 1024)

static pthread_mutex_t g_spare_mu = PTHREAD_MUTEX_INITIALIZER;
static struct otas__record_s *g_spare[SPARE_SLOTS]; /* guarded by g_spare_mu */
static size_t g_spare_n, g_spare_bytes;               /* guarded by g_spare_mu */

/* Under ASan a kept block is poisoned past its alloc field (what
 * spare_take reads), as free() would have made it: a use of a record
 * after otas__record_free() is still reported in the sanitizer builds. */
#define SPARE_KEEP (offsetof(struct otas__record_s, alloc) + sizeof(size_t))
#ifdef OTAS__ASAN
#define SPARE_POISON(r) \
	ASAN_POISON_MEMORY_REGION((char *)(r) + SPARE_KEEP, (r)->alloc - SPARE_KEEP)
#define SPARE_UNPOISON(r) \
	ASAN_UNPOISON_MEMORY_REGION((char *)(r) + SPARE_KEEP, (r)->alloc - SPARE_KEEP)
#else
#define SPARE_POISON(r) ((void)(r))
#define SPARE_UNPOISON(r) ((void)(r))
#endif

static struct otas__record_s *
spare_take(size_t need)
{
	struct otas__record_s *r = NULL;
	size_t i;

	if (pthread_mutex_trylock(&g_spare_mu) != 0)
		return NULL;
	for (i = g_spare_n; i-- > 0;) {
		if (g_spare[i]->alloc >= need && g_spare[i]->alloc / 2 <= need) {
			r = g_spare[i];
			g_spare[i] = g_spare[--g_spare_n];
			g_spare_bytes -= r->alloc;
			SPARE_UNPOISON(r);
			break;
		}
	}
	pthread_mutex_unlock(&g_spare_mu);
	return r;
}

void
otas__record_free(struct otas__record_s *r)
{
	if (!r)
		return;
	if (r->alloc && r->release) {
		/* The host's bodies: handed back once, before the block goes. */
		r->release(r->owner);
		r->release = NULL;
	}
	if (r->alloc >= SPARE_MIN && r->alloc <= SPARE_MAX &&
	    pthread_mutex_trylock(&g_spare_mu) == 0) {
		if (g_spare_n < SPARE_SLOTS &&
		    g_spare_bytes + r->alloc <= SPARE_BYTES) {
			g_spare[g_spare_n++] = r;
			g_spare_bytes += r->alloc;
			SPARE_POISON(r);
			pthread_mutex_unlock(&g_spare_mu);
			return;
		}
		pthread_mutex_unlock(&g_spare_mu);
	}
	free(r);
}

/* A (pointer, length) pair is valid when the pointer is set or empty. */
#define BAD(p, n) ((n) && !(p))

static inline const char *
put(char **w, const char *s, size_t n)
{
	char *d = *w;

	if (!n)
		return "";
	memcpy(d, s, n);
	*w = d + n;
	return d;
}

struct otas__record_s *
otas__record_new(const otas_capture_t *c, int *bad)
{
	struct otas__record_s *r;
	otas_header_t *hs;
	otas_error_t *es;
	size_t i, nreq = 0, bytes = 0, total, alloc, lent = 0;
	int cgi = c->flags & OTAS_CAP_REQ_HEADERS_CGI;
	/* Bodies the host lends (kept by pointer, released by _free). */
	int lend_req = c->body_release && c->req_body_len &&
	               (c->flags & OTAS_CAP_REQ_BODY_BORROWED);
	int lend_resp = c->body_release && c->resp_body_len &&
	                (c->flags & OTAS_CAP_RESP_BODY_BORROWED);
	char *w;

	*bad = 0;
	if (BAD(c->method, c->method_len) || BAD(c->path, c->path_len) ||
	    BAD(c->route, c->route_len) || BAD(c->query, c->query_len) ||
	    BAD(c->scheme, c->scheme_len) ||
	    BAD(c->remote_addr, c->remote_addr_len) ||
	    BAD(c->req_headers, c->n_req_headers) ||
	    BAD(c->req_body, c->req_body_len) ||
	    BAD(c->resp_headers, c->n_resp_headers) ||
	    BAD(c->resp_body, c->resp_body_len) ||
	    BAD(c->errors, c->n_errors) || BAD(c->user_id, c->user_id_len) ||
	    BAD(c->company_id, c->company_id_len) ||
	    BAD(c->session_token, c->session_token_len) ||
	    BAD(c->metadata_json, c->metadata_json_len) ||
	    BAD(c->parent_event_id, c->parent_event_id_len) ||
	    BAD(c->event_id, c->event_id_len) ||
	    BAD(c->server_host, c->server_host_len)) {
		*bad = 1;
		return NULL;
	}
	/* Pass 1: sizes. */
	for (i = 0; i < c->n_req_headers; i++) {
		const otas_header_t *h = &c->req_headers[i];
		if (BAD(h->name, h->name_len) || BAD(h->value, h->value_len)) {
			*bad = 1;
			return NULL;
		}
		if (cgi && !cgi_header(h))
			continue;
		nreq++;
		bytes += h->name_len + h->value_len;
	}
	for (i = 0; i < c->n_resp_headers; i++) {
		const otas_header_t *h = &c->resp_headers[i];
		if (BAD(h->name, h->name_len) || BAD(h->value, h->value_len)) {
			*bad = 1;
			return NULL;
		}
		bytes += h->name_len + h->value_len;
	}
	for (i = 0; i < c->n_errors; i++) {
		const otas_error_t *e = &c->errors[i];
		if (BAD(e->type, e->type_len) ||
		    BAD(e->message, e->message_len) ||
		    BAD(e->stack, e->stack_len)) {
			*bad = 1;
			return NULL;
		}
		bytes += e->type_len + e->message_len + e->stack_len;
	}
	if (lend_req)
		lent += c->req_body_len;
	if (lend_resp)
		lent += c->resp_body_len;
	bytes += c->method_len + c->path_len + c->route_len + c->query_len +
	         c->scheme_len + c->remote_addr_len + c->req_body_len +
	         c->resp_body_len + c->user_id_len + c->company_id_len +
	         c->session_token_len + c->metadata_json_len +
	         c->parent_event_id_len + c->server_host_len - lent;
	total = sizeof(*r) + (nreq + c->n_resp_headers) * sizeof(otas_header_t) +
	        c->n_errors * sizeof(otas_error_t) + bytes;
	alloc = total;
	r = NULL;
	if (total >= SPARE_MIN) {
		alloc = (total + SPARE_ROUND - 1) / SPARE_ROUND * SPARE_ROUND;
		r = spare_take(total);
		if (r)
			alloc = r->alloc;
	}
	if (!r && !(r = malloc(alloc)))
		return NULL;

	/* Pass 2: copy. */
	r->next = NULL;
	/* Lent bytes count in the queue's budget all the same: the memory
	 * is held until the sender is done with them. */
	r->size = total + lent;
	r->alloc = alloc;
	r->seq = 0;
	r->cap = *c;
	r->cap.flags &= ~(OTAS_CAP_REQ_BODY_BORROWED | OTAS_CAP_RESP_BODY_BORROWED);
	r->cap.body_release = NULL;
	r->cap.body_owner = NULL;
	/* Handed back for every capture queued with body_release set, lent
	 * bytes or not (an empty flagged body, a small body copied): the
	 * host need not know which of its bodies the engine kept. */
	r->release = c->body_release;
	r->owner = c->body_release ? c->body_owner : NULL;
	hs = (otas_header_t *)(r + 1);
	es = (otas_error_t *)(hs + nreq + c->n_resp_headers);
	w = (char *)(es + c->n_errors);
#define COPY(f) r->cap.f = put(&w, c->f, c->f##_len)
	COPY(method);
	COPY(path);
	COPY(route);
	COPY(query);
	COPY(scheme);
	COPY(remote_addr);
	if (lend_req)
		r->cap.req_body = c->req_body;
	else
		COPY(req_body);
	if (lend_resp)
		r->cap.resp_body = c->resp_body;
	else
		COPY(resp_body);
	COPY(user_id);
	COPY(company_id);
	COPY(session_token);
	COPY(metadata_json);
	COPY(parent_event_id);
	COPY(server_host);
#undef COPY
	/* NULL stays NULL for the optional identity fields so that the
	 * serialiser can tell "not given" from "empty". */
	if (!c->route)
		r->cap.route = NULL;
	if (!c->user_id)
		r->cap.user_id = NULL;
	if (!c->company_id)
		r->cap.company_id = NULL;
	if (!c->parent_event_id)
		r->cap.parent_event_id = NULL;
	if (!c->server_host)
		r->cap.server_host = NULL;
	r->cap.req_headers = hs;
	r->cap.n_req_headers = nreq;
	for (i = 0; i < c->n_req_headers; i++) {
		const otas_header_t *h = &c->req_headers[i];
		if (cgi && !cgi_header(h))
			continue;
		hs->name = put(&w, h->name, h->name_len);
		hs->name_len = h->name_len;
		hs->value = put(&w, h->value, h->value_len);
		hs->value_len = h->value_len;
		hs++;
	}
	r->cap.resp_headers = hs;
	for (i = 0; i < c->n_resp_headers; i++) {
		const otas_header_t *h = &c->resp_headers[i];
		hs->name = put(&w, h->name, h->name_len);
		hs->name_len = h->name_len;
		hs->value = put(&w, h->value, h->value_len);
		hs->value_len = h->value_len;
		hs++;
	}
	r->cap.errors = es;
	for (i = 0; i < c->n_errors; i++) {
		const otas_error_t *e = &c->errors[i];
		es[i].type = put(&w, e->type, e->type_len);
		es[i].type_len = e->type_len;
		es[i].message = put(&w, e->message, e->message_len);
		es[i].message_len = e->message_len;
		es[i].stack = put(&w, e->stack, e->stack_len);
		es[i].stack_len = e->stack_len;
	}
	r->capture_unix_us = otas__now_unix_us();
	r->enq_mono_ms = otas__now_mono_ms();
	/* The host's id (otas_new_event_id()) when it made one up front. */
	r->cap.event_id = NULL;
	r->cap.event_id_len = 0;
	if (c->event_id && c->event_id_len == 36) {
		memcpy(r->event_id, c->event_id, 36);
		r->event_id[36] = '\0';
	} else {
		otas__uuid7(r->capture_unix_us / 1000, r->event_id);
	}
	return r;
}
