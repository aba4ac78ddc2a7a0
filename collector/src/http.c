/*
 * http.c -- the collector's HTTP server (http.h has the overview).
 *
 * Request life.  MHD calls `handle` once when the header block is in.
 * There, before any body byte is read, we: take the connection off the
 * reaper's list (its header deadline is met), count the header block
 * against --max-header-bytes (431), find the route (404/405), check the
 * key the route needs (401), check Content-Length (413) and reserve the
 * body against the shared budget (503).  A refusal is queued at once;
 * MHD then sends it and closes the connection without reading the body,
 * so a keyless client costs one connection's header memory, never its
 * body.  Then MHD calls `handle` once per body chunk (appended while
 * under the limits) and once more to answer: the handler runs (query
 * class: on the query pool, the connection suspended meanwhile) and the
 * response it stored is queued.  A handler that defers (ingest waiting
 * for its COMMIT) suspends the connection; the waker resumes it and MHD
 * calls `handle` a last time, which runs the handler's `then`.
 *
 * Slow clients.  MHD's timeout is per inactivity: a client dripping one
 * header line every few seconds never trips it.  So each connection gets
 * a deadline for its whole header block when it opens (and again after
 * each request, for the next one on a kept-alive connection, counted from
 * the idle timeout); the reaper thread shuts down the socket of any
 * connection past its deadline, and MHD closes it.  Together with the
 * per-address connection cap, one address cannot hold the server.
 *
 * `completed` logs one line per request -- method, escaped path without
 * query string, status, time -- and never a key, token or body.  In-flight
 * requests are counted so that shutdown can stop accepting and wait for
 * them: a batch being committed is answered after its COMMIT or not at all.
 */
#include "http.h"
#include "util.h"

#include "common/hex.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define H_KEY "X-OTAS-SDK-KEY"

/* A connection (MHD's socket_context): its header deadline. */
struct otas__conn {
	struct otas__conn *prev, *next; /* reaper list (reap_lock) */
	int listed;
	double deadline_ms;
	MHD_socket fd;
};

struct otas__http_priv {
	atomic_int stopping;          /* set by stop: refuse new connections */
	atomic_int inflight;
	atomic_int suspended;
	atomic_size_t body_bytes;     /* reserved by bodies being read */
	pthread_mutex_t susp_lock;    /* orders suspend against wake */
	/* reaper */
	pthread_mutex_t reap_lock;
	pthread_cond_t reap_cond;
	struct otas__conn *waiting;   /* connections owing a header block */
	int reap_stop;
	pthread_t reaper;
	int reaper_started;
	/* query pool */
	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	otas__req_t *q_head, *q_tail;
	unsigned q_len, q_busy;
	int q_stop;
	pthread_t *q_threads;
	unsigned q_started;
	char *tls_cert, *tls_key;
};

/* ---- answers -------------------------------------------------------- */

static void
common_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

enum MHD_Result
otas__reply_response(otas__req_t *r, unsigned status,
                     struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	common_headers(resp);
	if (r->retry_after)
		MHD_add_response_header(resp, "Retry-After", r->retry_after);
	if (r->resp) /* a second answer replaces the first */
		MHD_destroy_response(r->resp);
	r->resp = resp;
	r->status = status;
	return MHD_YES;
}

enum MHD_Result
otas__reply(otas__req_t *r, unsigned status, const char *ctype, void *data,
            size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, data, mode);

	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", ctype);
	return otas__reply_response(r, status, resp);
}

enum MHD_Result
otas__reply_json_retry(otas__req_t *r, unsigned status, json_t *body,
                       const char *retry_after)
{
	char *txt = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	if (!txt)
		abort();
	if (retry_after)
		r->retry_after = retry_after;
	return otas__reply(r, status, "application/json", txt, strlen(txt),
	                   MHD_RESPMEM_MUST_FREE);
}

enum MHD_Result
otas__reply_json(otas__req_t *r, unsigned status, json_t *body)
{
	return otas__reply_json_retry(r, status, body, NULL);
}

enum MHD_Result
otas__reply_status(otas__req_t *r, unsigned status, const char *desc)
{
	return otas__reply_json(r, status,
	                        json_pack("{s:i, s:s}", "status", 0,
	                                  "status_description", desc));
}

enum MHD_Result
otas__reply_error(otas__req_t *r, unsigned status, const char *msg)
{
	return otas__reply_json(r, status, json_pack("{s:s}", "error", msg));
}

enum MHD_Result
otas__reply_shed(otas__req_t *r, int stopping)
{
	return otas__reply_json_retry(
	    r, stopping ? 503 : 429,
	    json_pack("{s:i, s:s}", "status", 0, "status_description",
	              stopping ? "shutting_down" : "overloaded"),
	    "1");
}

/* An error in the route's style: {"status":0,...} or {"error":...}. */
static enum MHD_Result
reply_refusal(otas__req_t *r, unsigned status, const char *desc)
{
	if (r->route && (r->route->flags & OTAS__ROUTE_ERR_STATUS))
		return otas__reply_status(r, status, desc);
	return otas__reply_error(r, status, desc);
}

/* Queue the stored answer; MHD_NO (close) if there is none. */
static enum MHD_Result
flush(struct MHD_Connection *c, otas__req_t *r)
{
	enum MHD_Result ret;

	if (!r->resp)
		return MHD_NO;
	ret = MHD_queue_response(c, r->status, r->resp);
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	return ret;
}

/* ---- helpers -------------------------------------------------------- */

const char *
otas__http_header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

const char *
otas__http_arg(struct MHD_Connection *c, const char *name)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);

	return v && *v ? v : NULL;
}

char *
otas__log_escape(const char *s, char *out, size_t outlen)
{
	const char *hex = otas__hex_digits;
	size_t o = 0;

	if (!outlen)
		return out;
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char tmp[4];
		size_t n = 0;
		if (ch < 0x20 || ch == 0x7f) {
			tmp[n++] = '\\';
			tmp[n++] = 'x';
			tmp[n++] = hex[ch >> 4];
			tmp[n++] = hex[ch & 15];
		} else if (ch == '\\' || ch == '"') {
			tmp[n++] = '\\';
			tmp[n++] = (char)ch;
		} else {
			tmp[n++] = (char)ch;
		}
		if (o + n + 4 > outlen) { /* room for "..." and NUL */
			if (outlen >= 4) {
				memcpy(out + (o < outlen - 4 ? o : outlen - 4), "...", 3);
				o = (o < outlen - 4 ? o : outlen - 4) + 3;
			}
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o < outlen ? o : outlen - 1] = '\0';
	return out;
}

int
otas__http_authorize(otas__server_t *s, struct MHD_Connection *c,
                     otas__req_t *r, otas__auth_t need)
{
	const char *key;
	int role = 0;

	if (need == OTAS__AUTH_NONE)
		return 0;
	key = otas__http_header(c, H_KEY);
	if (!key || !*key) {
		reply_refusal(r, 401, "missing_sdk_key");
		return -1;
	}
	/* The key's role must allow the route: ingest keys (app servers)
	 * log, read keys (dashboard, query API) read; keys made before
	 * roles existed do both until rotated. */
	switch (otas__store_key_verify(s->st, key, &r->proj, &role)) {
	case OTAS__KEY_OK:
		if ((need == OTAS__AUTH_INGEST && !(role & OTAS__ROLE_INGEST)) ||
		    (need == OTAS__AUTH_READ && !(role & OTAS__ROLE_READ))) {
			reply_refusal(r, 403,
			              need == OTAS__AUTH_INGEST
			                  ? "key_role_not_ingest"
			                  : "key_role_not_read");
			return -1;
		}
		return 0;
	case OTAS__KEY_ERROR:
		reply_refusal(r, 500,
		              need == OTAS__AUTH_INGEST ? "event_capture_failed"
		                                        : "key check failed");
		return -1;
	default:
		reply_refusal(r, 401, "invalid_sdk_key");
		return -1;
	}
}

/* ---- deferring ------------------------------------------------------- */

void
otas__http_defer_begin(otas__req_t *r, otas__handler_t then)
{
	r->then = then;
	r->woken = 0;
	r->deferred = 1;
}

void
otas__http_wake(otas__req_t *r)
{
	struct otas__http_priv *p = r->srv->priv;
	int resume;

	pthread_mutex_lock(&p->susp_lock);
	r->woken = 1;
	resume = r->is_suspended;
	pthread_mutex_unlock(&p->susp_lock);
	if (resume)
		MHD_resume_connection(r->conn);
}

void
otas__http_defer_cancel(otas__req_t *r)
{
	r->deferred = 0;
	r->then = NULL;
}

/* Whether r was woken (read under the lock that orders it against
 * otas__http_wake, so the waker's results are visible). */
static int
is_woken(struct otas__http_priv *p, otas__req_t *r)
{
	int done;

	pthread_mutex_lock(&p->susp_lock);
	done = r->woken;
	pthread_mutex_unlock(&p->susp_lock);
	return done;
}

/* Suspend only if the waker has not run yet: resuming a connection that
 * was never suspended is undefined in MHD. */
enum MHD_Result
otas__http_defer_wait(otas__server_t *s, struct MHD_Connection *c,
                      otas__req_t *r)
{
	struct otas__http_priv *p = s->priv;
	int woken;

	pthread_mutex_lock(&p->susp_lock);
	woken = r->woken;
	if (!woken) {
		MHD_suspend_connection(c);
		r->is_suspended = 1;
		atomic_fetch_add(&p->suspended, 1);
	}
	pthread_mutex_unlock(&p->susp_lock);
	if (!woken)
		return MHD_YES; /* answered when MHD calls handle after resume */
	r->deferred = 0;
	if (r->then)
		return r->then(s, c, r);
	return MHD_YES;
}

/* ---- the query pool --------------------------------------------------- */

static void *
query_worker(void *arg)
{
	otas__server_t *s = arg;
	struct otas__http_priv *p = s->priv;

	pthread_mutex_lock(&p->q_lock);
	for (;;) {
		otas__req_t *r;
		while (!p->q_head && !p->q_stop)
			pthread_cond_wait(&p->q_cond, &p->q_lock);
		if (!p->q_head)
			break;
		r = p->q_head;
		p->q_head = r->qnext;
		if (!p->q_head)
			p->q_tail = NULL;
		p->q_len--;
		p->q_busy++;
		pthread_mutex_unlock(&p->q_lock);
		/* The connection is suspended (or about to be, by the MHD
		 * thread that queued r): MHD does not touch it, and the
		 * handler only reads its headers and arguments. */
		r->route->handler(s, r->conn, r);
		if (!r->resp)
			otas__reply_error(r, 500, "query failed");
		pthread_mutex_lock(&p->q_lock);
		p->q_busy--;
		pthread_mutex_unlock(&p->q_lock);
		otas__http_wake(r);
		pthread_mutex_lock(&p->q_lock);
	}
	pthread_mutex_unlock(&p->q_lock);
	return NULL;
}

/* Run r's handler on the query pool; 503 when every thread is busy and
 * the queue is full. */
static enum MHD_Result
submit_query(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	struct otas__http_priv *p = s->priv;
	int full;

	pthread_mutex_lock(&p->q_lock);
	full = p->q_stop || p->q_len >= s->o.max_queued_queries;
	if (!full) {
		otas__http_defer_begin(r, NULL);
		r->qnext = NULL;
		if (p->q_tail)
			p->q_tail->qnext = r;
		else
			p->q_head = r;
		p->q_tail = r;
		p->q_len++;
		pthread_cond_signal(&p->q_cond);
	}
	pthread_mutex_unlock(&p->q_lock);
	if (full) {
		r->retry_after = "1";
		return otas__reply_error(r, 503, "too many queries in flight");
	}
	return otas__http_defer_wait(s, c, r);
}

/* ---- the reaper: whole-header-block deadlines ------------------------- */

/* reap_lock held. */
static void
conn_unlist(struct otas__http_priv *p, struct otas__conn *cs)
{
	if (!cs->listed)
		return;
	if (cs->prev)
		cs->prev->next = cs->next;
	else
		p->waiting = cs->next;
	if (cs->next)
		cs->next->prev = cs->prev;
	cs->prev = cs->next = NULL;
	cs->listed = 0;
}

/* reap_lock held. */
static void
conn_list(struct otas__http_priv *p, struct otas__conn *cs, double deadline)
{
	conn_unlist(p, cs);
	cs->deadline_ms = deadline;
	cs->next = p->waiting;
	if (p->waiting)
		p->waiting->prev = cs;
	p->waiting = cs;
	cs->listed = 1;
}

static void *
reaper(void *arg)
{
	struct otas__http_priv *p = arg;

	pthread_mutex_lock(&p->reap_lock);
	while (!p->reap_stop) {
		struct timespec ts;
		double now = otas__mono_ms();
		struct otas__conn *cs = p->waiting, *next;
		for (; cs; cs = next) {
			next = cs->next;
			if (cs->deadline_ms > now)
				continue;
			/* The fd stays MHD's: shutdown makes its next read see
			 * the end and MHD closes the connection.  The CLOSED
			 * notification takes reap_lock before MHD closes the
			 * fd, so the fd cannot be another connection's here. */
			shutdown(cs->fd, SHUT_RDWR);
			conn_unlist(p, cs);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->reap_cond, &p->reap_lock, &ts);
	}
	pthread_mutex_unlock(&p->reap_lock);
	return NULL;
}

static void
notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode code)
{
	otas__server_t *s = cls;
	struct otas__http_priv *p = s->priv;
	struct otas__conn *cs = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		cs = calloc(1, sizeof *cs);
		if (!cs)
			abort();
		cs->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
		*socket_context = cs;
		if (cs->fd == MHD_INVALID_SOCKET)
			return;
		pthread_mutex_lock(&p->reap_lock);
		conn_list(p, cs,
		          otas__mono_ms() + 1000.0 * s->o.header_timeout_s);
		pthread_mutex_unlock(&p->reap_lock);
		return;
	}
	if (!cs)
		return;
	pthread_mutex_lock(&p->reap_lock);
	conn_unlist(p, cs);
	pthread_mutex_unlock(&p->reap_lock);
	free(cs);
	*socket_context = NULL;
}

static struct otas__conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* ---- matching and the header stage ------------------------------------ */

static enum MHD_Result
count_value(void *cls, enum MHD_ValueKind kind, const char *key,
            const char *value)
{
	size_t *n = cls;

	(void)kind;
	*n += (key ? strlen(key) : 0) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

/* The request line and header block as received, near enough: names,
 * values and the separators MHD stripped. */
static size_t
header_block_size(struct MHD_Connection *c, const char *url,
                  const char *method, const char *version)
{
	size_t n = strlen(method) + strlen(url) + strlen(version) + 4;

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_value, &n);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, count_value, &n);
	return n;
}

static int
method_ok(const char *want, const char *method)
{
	if (!strcmp(want, "*"))
		return 1;
	if (!strcmp(want, method))
		return 1;
	return !strcmp(want, "GET") && !strcmp(method, "HEAD");
}

const otas__route_t *
otas__route_match(const otas__route_t *routes, size_t n_routes, int compat,
                  const char *url, const char *method, const char **rest,
                  unsigned *status)
{
	const char *same = NULL;

	*status = 404;
	for (size_t i = 0; i < n_routes; i++) {
		const otas__route_t *rt = &routes[i];
		size_t n = strlen(rt->path);
		if (same && strcmp(rt->path, same) != 0)
			continue;
		if (rt->flags & OTAS__ROUTE_PREFIX) {
			if (strncmp(url, rt->path, n) != 0)
				continue;
		} else if (strcmp(url, rt->path) != 0) {
			continue;
		}
		if ((rt->flags & OTAS__ROUTE_NOT_COMPAT) && compat)
			continue;
		if ((rt->flags & OTAS__ROUTE_COMPAT_ONLY) && !compat)
			continue;
		if (!method_ok(rt->method, method)) {
			*status = 405;
			same = rt->path;
			continue;
		}
		*rest = url + n;
		return rt;
	}
	return NULL;
}

static int
budget_take(struct otas__http_priv *p, size_t limit, size_t n)
{
	size_t cur = atomic_load(&p->body_bytes);

	do {
		if (cur + n > limit || cur + n < cur)
			return -1;
	} while (!atomic_compare_exchange_weak(&p->body_bytes, &cur, cur + n));
	return 0;
}

static void
budget_release(struct otas__http_priv *p, otas__req_t *r)
{
	if (r->reserved)
		atomic_fetch_sub(&p->body_bytes, r->reserved);
	r->reserved = 0;
}

/* Everything decided on the headers alone.  0 to go on reading, else an
 * answer is stored (r->refused). */
static int
header_stage(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r,
             const char *url, const char *method, const char *version)
{
	struct otas__http_priv *p = s->priv;
	const char *cl;
	unsigned status;
	unsigned long long want = 0;

	if (header_block_size(c, url, method, version) > s->o.max_header_bytes) {
		otas__reply_error(r, 431, "request header block too large");
		return -1;
	}
	r->route = otas__route_match(otas__routes, otas__n_routes,
	                             s->o.platform_compat, url, method,
	                             &r->rest, &status);
	if (!r->route) {
		otas__reply_error(r, status,
		                  status == 405 ? "method not allowed"
		                                : "not found");
		return -1;
	}
	if (otas__http_authorize(s, c, r, r->route->auth) != 0)
		return -1;
	if (r->route->pre && (r->route->pre(s, c, r) != MHD_YES || r->resp)) {
		if (!r->resp)
			otas__reply_error(r, 500, "internal error");
		return -1;
	}
	if (!(r->route->flags & OTAS__ROUTE_BODY))
		return 0;
	cl = otas__http_header(c, "Content-Length");
	if (cl)
		want = strtoull(cl, NULL, 10);
	if (want > s->o.max_body_bytes) {
		reply_refusal(r, 413, "payload_too_large");
		return -1;
	}
	if (budget_take(p, s->o.max_inflight_body_bytes, (size_t)want) != 0) {
		r->retry_after = "1";
		reply_refusal(r, 503, "overloaded");
		return -1;
	}
	r->reserved = (size_t)want;
	/* Size the buffer once instead of doubling, but promise no more
	 * than 1 MiB to a client that has sent nothing yet. */
	if (want && otas__buf_reserve(&r->body, want < (1u << 20)
	                                            ? (size_t)want
	                                            : (1u << 20)) != 0)
		abort();
	return 0;
}

/* A body chunk: keep it while under the limits, else drop the body and
 * remember why. */
static void
body_chunk(otas__server_t *s, otas__req_t *r, const char *data, size_t n)
{
	struct otas__http_priv *p = s->priv;

	if (r->too_big || r->over_budget ||
	    !(r->route->flags & OTAS__ROUTE_BODY))
		return;
	if (r->body.len + n > s->o.max_body_bytes) {
		r->too_big = 1;
	} else if (r->body.len + n > r->reserved) {
		/* Chunked, or more than Content-Length said: grow the
		 * reservation in 64 KiB steps. */
		size_t more = r->body.len + n - r->reserved;
		more = (more + 65535) & ~(size_t)65535;
		if (budget_take(p, s->o.max_inflight_body_bytes, more) != 0)
			r->over_budget = 1;
		else
			r->reserved += more;
	}
	if (r->too_big || r->over_budget) {
		otas__buf_free(&r->body);
		budget_release(p, r);
		return;
	}
	otas__buf_append(&r->body, data, n);
	if (r->body.oom)
		abort();
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
       const char *method, const char *version, const char *upload_data,
       size_t *upload_data_size, void **con_cls)
{
	otas__server_t *s = cls;
	struct otas__http_priv *p = s->priv;
	otas__req_t *r = *con_cls;
	enum MHD_Result ret;

	if (!r) {
		r = calloc(1, sizeof *r);
		if (!r)
			abort();
		r->srv = s;
		r->conn = c;
		r->start = otas__mono_ms();
		snprintf(r->method, sizeof r->method, "%s", method);
		snprintf(r->path, sizeof r->path, "%s", url);
		*con_cls = r;
		atomic_fetch_add(&p->inflight, 1);
		r->cs = conn_of(c);
		if (r->cs) { /* the header block is in: no deadline now */
			pthread_mutex_lock(&p->reap_lock);
			conn_unlist(p, r->cs);
			pthread_mutex_unlock(&p->reap_lock);
		}
		if (header_stage(s, c, r, url, method, version) != 0) {
			/* Refuse before reading a byte of the body. */
			r->refused = 1;
			r->answered = 1;
			return flush(c, r);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!r->refused)
			body_chunk(s, r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->answered)
		return MHD_YES;
	if (r->deferred) {
		if (!is_woken(p, r))
			return MHD_YES; /* still with the waker (suspended) */
		/* Resumed after the wake: answer now. */
		if (r->is_suspended) {
			r->is_suspended = 0;
			atomic_fetch_sub(&p->suspended, 1);
		}
		r->deferred = 0;
		ret = r->then ? r->then(s, c, r) : MHD_YES;
	} else if (r->too_big) {
		budget_release(p, r);
		ret = reply_refusal(r, 413, "payload_too_large");
	} else if (r->over_budget) {
		r->retry_after = "1";
		ret = reply_refusal(r, 503, "overloaded");
	} else if (r->route->cls == OTAS__CLASS_QUERY && s->o.query_threads) {
		ret = submit_query(s, c, r);
	} else {
		ret = r->route->handler(s, c, r);
	}
	if (r->deferred || ret != MHD_YES)
		return ret;
	/* The body is no longer needed once answered. */
	budget_release(p, r);
	r->answered = 1;
	return flush(c, r);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
          enum MHD_RequestTerminationCode toe)
{
	otas__server_t *s = cls;
	struct otas__http_priv *p = s->priv;
	otas__req_t *r = *con_cls;

	(void)c;
	if (!r)
		return;
	if (s->o.log_requests) {
		char m[64], path[1100];
		fprintf(stderr, "info: %s %s %u %.1fms%s\n",
		        otas__log_escape(r->method, m, sizeof m),
		        otas__log_escape(r->path, path, sizeof path), r->status,
		        otas__mono_ms() - r->start,
		        toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
		                                                   : " (aborted)");
	}
	if (r->is_suspended) /* closed while suspended: cannot happen, MHD
	                      * does not process suspended connections */
		atomic_fetch_sub(&p->suspended, 1);
	if (r->cs && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		/* The next request on this kept-alive connection owes its
		 * header block within the idle timeout plus the deadline. */
		pthread_mutex_lock(&p->reap_lock);
		conn_list(p, r->cs,
		          otas__mono_ms() +
		              1000.0 * (s->o.timeout_s + s->o.header_timeout_s));
		pthread_mutex_unlock(&p->reap_lock);
	}
	budget_release(p, r);
	if (r->resp)
		MHD_destroy_response(r->resp);
	if (r->ctx_free)
		r->ctx_free(r->ctx);
	otas__buf_free(&r->body);
	free(r);
	*con_cls = NULL;
	atomic_fetch_sub(&p->inflight, 1);
}

/* ---- start and stop ---------------------------------------------------- */

static int
parse_listen(const char *listen, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - listen) >= sizeof host)
		return -1;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || colon[1] == '\0')
		return -1;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (!*host || !strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Read a whole PEM file (at most 1 MiB) into a NUL-terminated string. */
static char *
read_pem(const char *path, const char *opt, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s %s: cannot open: %s", opt, path,
		         strerror(errno));
		return NULL;
	}
	buf = malloc((1u << 20) + 1);
	if (!buf)
		abort();
	n = fread(buf, 1, 1u << 20, f);
	if (ferror(f) || !feof(f)) {
		snprintf(err, errlen, "%s %s: cannot read it (or over 1 MiB)",
		         opt, path);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Load and check the certificate and key, so that a bad pair is an error
 * at start-up naming the option, not a failed handshake later. */
static int
tls_load(otas__server_t *s, char *err, size_t errlen)
{
	struct otas__http_priv *p = s->priv;
	const char *cf = s->o.tls_cert_file, *kf = s->o.tls_key_file;
	BIO *bio = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int rc = -1;

	if (!cf && !kf)
		return 0;
	if (!cf || !kf) {
		snprintf(err, errlen, "%s", cf ? "--tls-cert needs --tls-key"
		                               : "--tls-key needs --tls-cert");
		return -1;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen, "--tls-cert: this libmicrohttpd was built "
		                      "without TLS (GnuTLS) support");
		return -1;
	}
	if (!(p->tls_cert = read_pem(cf, "--tls-cert", err, errlen)) ||
	    !(p->tls_key = read_pem(kf, "--tls-key", err, errlen)))
		return -1;
	bio = BIO_new_mem_buf(p->tls_cert, -1);
	if (!bio || !(x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		snprintf(err, errlen, "--tls-cert %s: not a PEM certificate", cf);
		goto done;
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(p->tls_key, -1);
	if (!bio || !(k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL))) {
		snprintf(err, errlen,
		         "--tls-key %s: not a PEM private key (or encrypted)", kf);
		goto done;
	}
	if (X509_check_private_key(x, k) != 1) {
		snprintf(err, errlen,
		         "--tls-key %s does not match the --tls-cert certificate",
		         kf);
		goto done;
	}
	rc = 0;
done:
	ERR_clear_error();
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static void
priv_free(struct otas__http_priv *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->susp_lock);
	pthread_mutex_destroy(&p->reap_lock);
	pthread_cond_destroy(&p->reap_cond);
	pthread_mutex_destroy(&p->q_lock);
	pthread_cond_destroy(&p->q_cond);
	free(p->q_threads);
	if (p->tls_key) /* a secret: do not leave it in freed memory */
		memset(p->tls_key, 0, strlen(p->tls_key));
	free(p->tls_key);
	free(p->tls_cert);
	free(p);
}

static void
stop_threads(otas__server_t *s)
{
	struct otas__http_priv *p = s->priv;

	pthread_mutex_lock(&p->q_lock);
	p->q_stop = 1;
	pthread_cond_broadcast(&p->q_cond);
	pthread_mutex_unlock(&p->q_lock);
	for (unsigned i = 0; i < p->q_started; i++)
		pthread_join(p->q_threads[i], NULL);
	p->q_started = 0;
	if (p->reaper_started) {
		pthread_mutex_lock(&p->reap_lock);
		p->reap_stop = 1;
		pthread_cond_signal(&p->reap_cond);
		pthread_mutex_unlock(&p->reap_lock);
		pthread_join(p->reaper, NULL);
		p->reaper_started = 0;
	}
}

/* New connections while the server stops are accepted and closed at once
 * (MHD_NO).  This stands in for MHD_quiesce_daemon(), which with epoll and
 * a thread pool races the workers' own removal of the listen socket from
 * their epoll sets and aborts the process (libmicrohttpd 0.9.75: "Failed
 * to remove listen FD from epoll set"; seen once in five runs of
 * tests/collector at stop).  A client then gets a closed connection at
 * once instead of one nobody accepts. */
static enum MHD_Result
accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct otas__http_priv *p = cls;

	(void)addr;
	(void)addrlen;
	return atomic_load(&p->stopping) ? MHD_NO : MHD_YES;
}

otas__server_t *
otas__server_start(otas__store_t *st, const otas__server_opts_t *o,
                   char *err, size_t errlen)
{
	otas__server_t *s = calloc(1, sizeof *s);
	struct otas__http_priv *p = calloc(1, sizeof *p);
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                 MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};

	if (!s || !p)
		abort();
	s->st = st;
	s->o = *o;
	s->priv = p;
	if (!s->o.header_timeout_s)
		s->o.header_timeout_s = 10;
	pthread_mutex_init(&p->susp_lock, NULL);
	pthread_mutex_init(&p->reap_lock, NULL);
	pthread_cond_init(&p->reap_cond, NULL);
	pthread_mutex_init(&p->q_lock, NULL);
	pthread_cond_init(&p->q_cond, NULL);
	otas__store_jwt_secret(st, s->db_secret);
	if (parse_listen(o->listen, &sa) != 0) {
		snprintf(err, errlen, "bad --listen address (want IPv4:PORT)");
		goto fail;
	}
	if (tls_load(s, err, errlen) != 0)
		goto fail;
	if (p->tls_cert) {
		flags |= MHD_USE_TLS;
		tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
		                                 p->tls_cert};
		tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
		                                 p->tls_key};
		tls[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	}
	p->q_threads = calloc(s->o.query_threads ? s->o.query_threads : 1,
	                      sizeof *p->q_threads);
	if (!p->q_threads)
		abort();
	for (; p->q_started < s->o.query_threads; p->q_started++)
		if (pthread_create(&p->q_threads[p->q_started], NULL,
		                   query_worker, s) != 0) {
			snprintf(err, errlen, "cannot start the query threads");
			goto fail;
		}
	if (pthread_create(&p->reaper, NULL, reaper, p) != 0) {
		snprintf(err, errlen, "cannot start the reaper thread");
		goto fail;
	}
	p->reaper_started = 1;
	/* The connection's memory pool holds the header block and the read
	 * buffer: twice the header limit, so our own count (431) decides. */
	s->d = MHD_start_daemon(
	    flags, 0, accept_policy, p, handle, s, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)o->max_connections_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)(2 * o->max_header_bytes + 16 * 1024),
	    MHD_OPTION_NOTIFY_COMPLETED, completed, s,
	    MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (!s->d) {
		if (p->tls_cert)
			snprintf(err, errlen,
			         "cannot listen on %s with TLS (--tls-cert, "
			         "--tls-key): %s",
			         o->listen, strerror(errno));
		else
			snprintf(err, errlen, "cannot listen on %s: %s", o->listen,
			         strerror(errno));
		goto fail;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : ntohs(sa.sin_port);
	return s;
fail:
	stop_threads(s);
	priv_free(p);
	free(s);
	return NULL;
}

unsigned
otas__server_port(otas__server_t *s)
{
	return s->port;
}

void
otas__server_stop(otas__server_t *s, int drain_ms)
{
	struct otas__http_priv *p;
	double deadline = otas__mono_ms() + drain_ms;

	if (!s)
		return;
	p = s->priv;
	/* Stop accepting (accept_policy closes what still comes in). */
	atomic_store(&p->stopping, 1);
	while (atomic_load(&p->inflight) > 0 && otas__mono_ms() < deadline)
		usleep(10 * 1000);
	/* MHD panics if stopped with a suspended connection, and its workers
	 * may still read a request that arrived before the quiesce.  So stop
	 * the writer first: it commits what is queued and resumes every
	 * waiting connection, and from then on a submit answers 503 instead
	 * of suspending.  The query pool still runs, so queued queries are
	 * answered too.  Then wait for the resumed ones to be answered. */
	otas__store_writer_stop(s->st);
	while (atomic_load(&p->suspended) > 0)
		usleep(10 * 1000);
	stop_threads(s);
	MHD_stop_daemon(s->d);
	priv_free(p);
	free(s);
}
