/*
 * routes.c -- HTTP dispatch for otas-collector (routes.h).
 *
 * Request life: MHD calls `handle` once with the headers (we allocate the
 * request state and refuse an over-long Content-Length at once, before any
 * body is read), then once per body chunk (appended while under the limit,
 * discarded after), then once more to answer.  The log endpoints hand
 * their events to the store's writer and suspend the connection; the
 * writer's callback resumes it after COMMIT and MHD calls `handle` a last
 * time, which writes the answer.  So an MHD thread never sleeps on a
 * commit and keeps serving its other connections meanwhile.  Handlers are short: check
 * the key, decode with ingest.c, hand to the store, write the answer.
 * `completed` logs one line per request -- method, path without query
 * string, status, time -- and never a key, token or body.
 *
 * In-flight requests are counted so that shutdown can stop accepting and
 * wait for them: a batch being committed is either answered after its
 * COMMIT or not answered at all.
 */
#include "routes.h"
#include "ingest.h"
#include "jwt.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define P_AUTH "/api/project/v1/sdk/backend/key/authenticate/"
#define P_LOG "/api/v1/backend/log/sdk/"
#define P_BATCH "/api/v1/backend/log/sdk/batch/"
#define H_KEY "X-OTAS-SDK-KEY"
#define H_TOKEN "X-OTAS-AGENT-SESSION-TOKEN"

struct otas__server {
	struct MHD_Daemon *d;
	otas__store_t *st;
	otas__server_opts_t o;
	unsigned char db_secret[32];
	atomic_int inflight;
	atomic_int suspended;
	pthread_mutex_t susp_lock;  /* orders suspend against the writer's
	                             * resume (see wait_for_commit) */
	unsigned port;
};

struct req {
	double start;
	char method[16];
	char path[256];
	unsigned status;
	otas__buf_t body;
	int too_big;
	int is_post;
	/* A request waiting for its commit keeps its events here. */
	struct otas__server *srv;
	struct MHD_Connection *conn;
	int kind;                   /* 0, KIND_LOG or KIND_BATCH */
	int committed;              /* the job's done ran (susp_lock) */
	int is_suspended;           /* we suspended the connection (susp_lock) */
	otas__store_job_t job;
	otas__event_t single;
	otas__batch_t batch;
	json_t *rejected;
};

enum { KIND_LOG = 1, KIND_BATCH = 2 };

/* ---- answers -------------------------------------------------------- */

static enum MHD_Result
reply_raw(struct MHD_Connection *c, struct req *r, unsigned status,
          const char *ctype, void *data, size_t len, enum MHD_ResponseMemoryMode mode,
          const char *retry_after)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, data, mode);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (retry_after)
		MHD_add_response_header(resp, "Retry-After", retry_after);
	r->status = status;
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Send body (stolen) as JSON. */
static enum MHD_Result
reply_json_hdr(struct MHD_Connection *c, struct req *r, unsigned status,
               json_t *body, const char *retry_after)
{
	char *txt = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	if (!txt)
		abort();
	return reply_raw(c, r, status, "application/json", txt, strlen(txt),
	                 MHD_RESPMEM_MUST_FREE, retry_after);
}

static enum MHD_Result
reply_json(struct MHD_Connection *c, struct req *r, unsigned status,
           json_t *body)
{
	return reply_json_hdr(c, r, status, body, NULL);
}

/* {"status":0,"status_description":desc} -- the log endpoints' errors. */
static enum MHD_Result
reply_status(struct MHD_Connection *c, struct req *r, unsigned status,
             const char *desc)
{
	return reply_json(c, r, status,
	                  json_pack("{s:i, s:s}", "status", 0,
	                            "status_description", desc));
}

/* {"error": msg} -- authentication and query API errors. */
static enum MHD_Result
reply_error(struct MHD_Connection *c, struct req *r, unsigned status,
            const char *msg)
{
	return reply_json(c, r, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result
reply_shed(struct MHD_Connection *c, struct req *r, int stopping)
{
	return reply_json_hdr(
	    c, r, stopping ? 503 : 429,
	    json_pack("{s:i, s:s}", "status", 0, "status_description",
	              stopping ? "shutting_down" : "overloaded"),
	    "1");
}

/* ---- helpers -------------------------------------------------------- */

static const char *
header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static const char *
arg(struct MHD_Connection *c, const char *name)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);

	return v && *v ? v : NULL;
}

/* Decode the body per Content-Encoding into *out (may point at r->body).
 * Returns 0, or the HTTP status to answer with *desc. */
static unsigned
request_body(struct otas__server *s, struct MHD_Connection *c, struct req *r,
             otas__buf_t *inflated, const char **data, size_t *len,
             const char **desc)
{
	const char *enc = header(c, "Content-Encoding");

	if (!enc || !*enc || strcasecmp(enc, "identity") == 0) {
		*data = r->body.data ? r->body.data : "";
		*len = r->body.len;
		return 0;
	}
	if (strcasecmp(enc, "gzip") != 0) {
		*desc = "unsupported_content_encoding";
		return 415;
	}
	switch (otas__gunzip(r->body.data, r->body.len, s->o.max_decoded_bytes,
	                     inflated)) {
	case OTAS__INGEST_OK:
		*data = inflated->data ? inflated->data : "";
		*len = inflated->len;
		return 0;
	case OTAS__INGEST_TOO_LARGE:
		*desc = "payload_too_large";
		return 413;
	default:
		*desc = "invalid_gzip";
		return 400;
	}
}

/* Attribute an event to the agent session its token names.  A token that
 * fails verification is kept as unverified claims, never trusted.
 * Returns 0 verified, -1 invalid (bad signature/format), -2 expired. */
static int
resolve_agent(struct otas__server *s, otas__event_t *ev, const char *token)
{
	json_t *claims = NULL;
	int rc;

	if (!token || !*token)
		return -1;
	rc = otas__jwt_verify(token, s->db_secret, sizeof s->db_secret,
	                      otas__now_us() / 1000000, &claims);
	if (rc != 0 && s->o.platform_jwt_secret) {
		int rc2 = otas__jwt_verify(
		    token, (const unsigned char *)s->o.platform_jwt_secret,
		    strlen(s->o.platform_jwt_secret), otas__now_us() / 1000000,
		    &claims);
		if (rc2 == 0 || rc == -1)
			rc = rc2;
	}
	ev->agent_verified = rc == 0;
	if (rc != 0)
		claims = otas__jwt_peek(token);
	otas__jwt_claim_str(claims, "agent_id", ev->agent_id,
	                    sizeof ev->agent_id);
	otas__jwt_claim_str(claims, "agent_session_id", ev->agent_session_id,
	                    sizeof ev->agent_session_id);
	json_decref(claims);
	return rc;
}

/* Check X-OTAS-SDK-KEY for the log endpoints; 0 ok, else answered. */
static int
log_key(struct otas__server *s, struct MHD_Connection *c, struct req *r,
        otas__project_t *proj, enum MHD_Result *ret)
{
	const char *key = header(c, H_KEY);

	if (!key || !*key) {
		*ret = reply_status(c, r, 401, "missing_sdk_key");
		return -1;
	}
	switch (otas__store_key_check(s->st, key, proj)) {
	case OTAS__KEY_OK:
		return 0;
	case OTAS__KEY_ERROR:
		*ret = reply_status(c, r, 500, "event_capture_failed");
		return -1;
	default:
		*ret = reply_status(c, r, 401, "invalid_sdk_key");
		return -1;
	}
}

/* ---- waiting for the writer without blocking the MHD thread ---------- */

/* Writer thread: the job's group is committed or rolled back. */
static void
job_done(otas__store_job_t *job)
{
	struct req *r = job->arg;
	struct otas__server *s = r->srv;
	int resume;

	pthread_mutex_lock(&s->susp_lock);
	r->committed = 1;
	resume = r->is_suspended;
	pthread_mutex_unlock(&s->susp_lock);
	if (resume)
		MHD_resume_connection(r->conn);
}

/* Whether the writer has finished r's job (read under the lock that
 * orders it against job_done, so the job's results are visible). */
static int
is_committed(struct otas__server *s, struct req *r)
{
	int done;

	pthread_mutex_lock(&s->susp_lock);
	done = r->committed;
	pthread_mutex_unlock(&s->susp_lock);
	return done;
}

/* Hand r->job to the writer.  Returns the submit result.  On
 * OTAS__SUBMIT_OK either the connection is now suspended (r->is_suspended:
 * return MHD_YES and answer when MHD calls the handler after the resume;
 * never queue a response on a suspended connection), or the writer was
 * quicker and the job is already committed (answer now). */
static int
wait_for_commit(struct otas__server *s, struct MHD_Connection *c,
                struct req *r, int64_t pk, otas__event_t *ev, size_t n)
{
	int rc;

	r->srv = s;
	r->conn = c;
	r->job.project_pk = pk;
	r->job.ev = ev;
	r->job.n = n;
	r->job.received_us = otas__now_us();
	r->job.done = job_done;
	r->job.arg = r;
	rc = otas__store_submit_async(s->st, &r->job);
	if (rc != OTAS__SUBMIT_OK)
		return rc;
	/* Suspend only if the writer has not answered yet: resuming a
	 * connection that was never suspended is undefined in MHD. */
	pthread_mutex_lock(&s->susp_lock);
	if (!r->committed) {
		MHD_suspend_connection(c);
		r->is_suspended = 1;
		atomic_fetch_add(&s->suspended, 1);
	}
	pthread_mutex_unlock(&s->susp_lock);
	return rc;
}

/* ---- endpoints ------------------------------------------------------ */

static enum MHD_Result
do_authenticate(struct otas__server *s, struct MHD_Connection *c,
                struct req *r)
{
	const char *key = header(c, H_KEY);
	otas__project_t p;

	if (!key || !*key)
		return reply_error(c, r, 401, "SDK Key missing");
	switch (otas__store_key_check(s->st, key, &p)) {
	case OTAS__KEY_OK:
		return reply_json(
		    c, r, 200,
		    json_pack("{s:i, s:s, s:{s:{s:s, s:s, s:s}}}", "status", 1,
		              "status_description", "authenticated", "response",
		              "project", "id", p.id, "name", p.name,
		              "description", p.description));
	case OTAS__KEY_BAD_FORMAT:
		return reply_error(c, r, 403, "Invalid Key Format");
	case OTAS__KEY_INVALID:
		return reply_error(c, r, 403, "Invalid SDK Key");
	default:
		return reply_error(c, r, 500, "authentication failed");
	}
}

static enum MHD_Result
answer_log(struct otas__server *s, struct MHD_Connection *c, struct req *r)
{
	if (r->job.rc != 0)
		return reply_status(c, r, 500, "event_capture_failed");
	if (s->o.platform_compat)
		return reply_json(c, r, 201,
		                  json_pack("{s:i, s:s, s:{}}", "status", 1,
		                            "status_description", "event_captured",
		                            "response"));
	return reply_json(c, r, 201,
	                  json_pack("{s:i, s:s, s:{s:s, s:b}}", "status", 1,
	                            "status_description", "event_captured",
	                            "response", "event_id", r->single.event_id,
	                            "duplicate", r->job.duplicates > 0));
}

static enum MHD_Result
do_log(struct otas__server *s, struct MHD_Connection *c, struct req *r)
{
	otas__project_t proj;
	otas__buf_t inflated = OTAS__BUF_INIT;
	otas__event_t *ev = &r->single;
	const char *data, *desc = NULL, *token;
	size_t len;
	json_t *missing = NULL, *invalid = NULL;
	enum MHD_Result ret;
	unsigned st;
	int rc;

	if (log_key(s, c, r, &proj, &ret) != 0)
		return ret;
	token = header(c, H_TOKEN);
	if (s->o.platform_compat) {
		/* The platform checks the token before it reads the body. */
		if (!token || !*token)
			return reply_status(c, r, 401, "missing_agent_session_token");
		if (resolve_agent(s, ev, token) != 0)
			return reply_status(c, r, 401, "invalid_or_expired_token");
	}
	if (r->too_big)
		return reply_status(c, r, 413, "payload_too_large");
	st = request_body(s, c, r, &inflated, &data, &len, &desc);
	if (st) {
		ret = reply_status(c, r, st, desc);
		goto done;
	}
	missing = json_array();
	invalid = json_array();
	{
		/* keep the claims resolved above across the decode */
		otas__event_t keep = *ev;
		rc = otas__event_parse(data, len, ev, missing, invalid);
		memcpy(ev->agent_id, keep.agent_id, sizeof ev->agent_id);
		memcpy(ev->agent_session_id, keep.agent_session_id,
		       sizeof ev->agent_session_id);
		ev->agent_verified = keep.agent_verified;
	}
	if (rc == OTAS__INGEST_BAD_JSON) {
		ret = reply_status(c, r, 400, "invalid_json");
		goto done;
	}
	if (rc != 0) {
		json_t *b = json_pack("{s:i, s:s}", "status", 0,
		                      "status_description", ev->reject);
		if (json_array_size(missing))
			json_object_set(b, "missing_fields", missing);
		else
			json_object_set(b, "invalid_fields", invalid);
		ret = reply_json(c, r, 400, b);
		goto done;
	}
	if (!s->o.platform_compat) {
		if (!token || !*token)
			token = ev->token; /* body field, for symmetry with batch */
		if (token && *token)
			resolve_agent(s, ev, token);
	}
	if (otas__event_finish(ev) != 0) {
		ret = reply_status(c, r, 500, "event_capture_failed");
		goto done;
	}
	otas__buf_free(&inflated);
	otas__buf_free(&r->body);
	r->kind = KIND_LOG;
	rc = wait_for_commit(s, c, r, proj.pk, ev, 1);
	if (rc == OTAS__SUBMIT_OVERLOADED || rc == OTAS__SUBMIT_STOPPING)
		ret = reply_shed(c, r, rc == OTAS__SUBMIT_STOPPING);
	else if (rc != OTAS__SUBMIT_OK)
		ret = reply_status(c, r, 500, "event_capture_failed");
	else
		ret = r->is_suspended ? MHD_YES : answer_log(s, c, r);
done:
	json_decref(missing);
	json_decref(invalid);
	otas__buf_free(&inflated);
	return ret;
}

static enum MHD_Result
answer_batch(struct otas__server *s, struct MHD_Connection *c, struct req *r)
{
	json_t *rejected = r->rejected;

	r->rejected = NULL;
	if (r->job.rc != 0) {
		json_decref(rejected);
		return reply_status(c, r, 500, "event_capture_failed");
	}
	return reply_json(c, r, 200,
	                  json_pack("{s:i, s:s, s:I, s:I, s:o}", "status", 1,
	                            "status_description", "batch_captured",
	                            "accepted", (json_int_t)r->job.accepted,
	                            "duplicates", (json_int_t)r->job.duplicates,
	                            "rejected", rejected ? rejected : json_array()));
}

static enum MHD_Result
do_batch(struct otas__server *s, struct MHD_Connection *c, struct req *r)
{
	otas__project_t proj;
	otas__buf_t inflated = OTAS__BUF_INIT;
	otas__batch_t *b = &r->batch;
	const char *data, *desc = NULL;
	size_t len;
	enum MHD_Result ret;
	unsigned st;
	int rc;

	if (log_key(s, c, r, &proj, &ret) != 0)
		return ret;
	if (r->too_big)
		return reply_status(c, r, 413, "payload_too_large");
	st = request_body(s, c, r, &inflated, &data, &len, &desc);
	if (st) {
		ret = reply_status(c, r, st, desc);
		goto done;
	}
	switch (otas__batch_decode(data, len, s->o.max_batch_events, b)) {
	case OTAS__INGEST_OK:
		break;
	case OTAS__INGEST_TOO_MANY:
		ret = reply_status(c, r, 413, "too_many_events");
		goto done;
	case OTAS__INGEST_BAD_BATCH:
		ret = reply_status(c, r, 400, "invalid_batch");
		goto done;
	default:
		ret = reply_status(c, r, 400, "invalid_json");
		goto done;
	}
	/* The bodies are no longer needed while the batch waits. */
	otas__buf_free(&inflated);
	otas__buf_free(&r->body);
	r->rejected = json_array();
	for (size_t i = 0; i < b->n; i++) {
		otas__event_t *e = &b->ev[i];
		if (!e->reject && e->token)
			resolve_agent(s, e, e->token);
		if (!e->reject && otas__event_finish(e) != 0)
			e->reject = "event_capture_failed";
		if (e->reject)
			json_array_append_new(
			    r->rejected,
			    json_pack("{s:I, s:s}", "index", (json_int_t)i,
			              "status_description", e->reject));
	}
	r->kind = KIND_BATCH;
	rc = wait_for_commit(s, c, r, proj.pk, b->ev, b->n);
	if (rc == OTAS__SUBMIT_OVERLOADED || rc == OTAS__SUBMIT_STOPPING)
		ret = reply_shed(c, r, rc == OTAS__SUBMIT_STOPPING);
	else if (rc != OTAS__SUBMIT_OK && rc != OTAS__SUBMIT_NOTHING)
		ret = reply_status(c, r, 500, "event_capture_failed");
	else if (r->is_suspended)
		ret = MHD_YES; /* answered when the writer resumes us */
	else
		ret = answer_batch(s, c, r); /* nothing to wait for, or done */
done:
	otas__buf_free(&inflated);
	return ret;
}

/* Parse a time argument; 0 ok (or absent), -1 bad. */
static int
time_arg(struct MHD_Connection *c, const char *name, int64_t *out)
{
	const char *v = arg(c, name);

	return v ? otas__parse_time(v, out) : 0;
}

static enum MHD_Result
do_events(struct otas__server *s, struct MHD_Connection *c, struct req *r,
          const otas__project_t *p)
{
	otas__event_query_t q = {0};
	const char *v;
	char *end;
	json_t *out;

	q.status = -1;
	q.since_us = INT64_MIN;
	q.until_us = INT64_MAX;
	q.limit = 100;
	q.path = arg(c, "path");
	q.route = arg(c, "route");
	q.method = arg(c, "method");
	q.agent_session_id = arg(c, "agent_session_id");
	if ((v = arg(c, "status"))) {
		q.status = strtol(v, &end, 10);
		if (*end || q.status < 0)
			return reply_error(c, r, 400, "invalid status");
	}
	if ((v = arg(c, "limit"))) {
		q.limit = strtol(v, &end, 10);
		if (*end || q.limit < 1 || q.limit > 100000)
			return reply_error(c, r, 400, "invalid limit (1..100000)");
	}
	if (time_arg(c, "since", &q.since_us) || time_arg(c, "until", &q.until_us))
		return reply_error(c, r, 400, "invalid since/until");
	if ((v = arg(c, "cursor"))) {
		long long ts, id;
		int used = 0;
		if (sscanf(v, "%lld.%lld%n", &ts, &id, &used) != 2 ||
		    v[used] != '\0')
			return reply_error(c, r, 400, "invalid cursor");
		q.has_cursor = 1;
		q.cursor_ts = ts;
		q.cursor_id = id;
	}
	out = otas__store_events(s->st, p->pk, &q);
	if (!out)
		return reply_error(c, r, 500, "query failed");
	return reply_json(c, r, 200, out);
}

static enum MHD_Result
do_query(struct otas__server *s, struct MHD_Connection *c, struct req *r,
         const char *url)
{
	const char *key = header(c, H_KEY);
	otas__project_t p;
	int64_t since = INT64_MIN, until = INT64_MAX;
	json_t *out;

	if (!key || !*key)
		return reply_error(c, r, 401, "missing_sdk_key");
	switch (otas__store_key_check(s->st, key, &p)) {
	case OTAS__KEY_OK:
		break;
	case OTAS__KEY_ERROR:
		return reply_error(c, r, 500, "key check failed");
	default:
		return reply_error(c, r, 401, "invalid_sdk_key");
	}
	if (strcmp(url, "/api/v1/events") == 0 ||
	    strcmp(url, "/api/v1/events/") == 0)
		return do_events(s, c, r, &p);
	if (strncmp(url, "/api/v1/events/", 15) == 0) {
		out = otas__store_event_get(s->st, p.pk, url + 15);
		return out ? reply_json(c, r, 200, out)
		           : reply_error(c, r, 404, "event not found");
	}
	if (strcmp(url, "/api/v1/project") == 0)
		return reply_json(c, r, 200,
		                  json_pack("{s:s, s:s, s:s}", "id", p.id, "name",
		                            p.name, "description", p.description));
	if (strcmp(url, "/api/v1/agent-sessions") == 0) {
		out = otas__store_agent_sessions(s->st, p.pk);
		return out ? reply_json(c, r, 200, out)
		           : reply_error(c, r, 500, "query failed");
	}
	if (time_arg(c, "since", &since) || time_arg(c, "until", &until))
		return reply_error(c, r, 400, "invalid since/until");
	if (strcmp(url, "/api/v1/stats/endpoints") == 0) {
		out = otas__store_stats_endpoints(s->st, p.pk, since, until);
	} else if (strcmp(url, "/api/v1/stats/timeseries") == 0) {
		const char *v = arg(c, "days");
		char *end;
		long days = v ? strtol(v, &end, 10) : 7;
		if (v && (*end || days < 1 || days > 366))
			return reply_error(c, r, 400, "invalid days (1..366)");
		out = otas__store_stats_timeseries(s->st, p.pk, (int)days,
		                                   otas__now_us());
	} else if (strcmp(url, "/api/v1/stats/latency") == 0) {
		if (!arg(c, "method") || !arg(c, "route"))
			return reply_error(c, r, 400, "method and route are required");
		out = otas__store_stats_latency(s->st, p.pk, arg(c, "method"),
		                                arg(c, "route"), since, until);
	} else {
		return reply_error(c, r, 404, "not found");
	}
	return out ? reply_json(c, r, 200, out)
	           : reply_error(c, r, 500, "query failed");
}

static const char *
content_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	if (!strcmp(dot, ".svg"))
		return "image/svg+xml";
	if (!strcmp(dot, ".png"))
		return "image/png";
	if (!strcmp(dot, ".json"))
		return "application/json";
	return "application/octet-stream";
}

static enum MHD_Result
do_dashboard(struct otas__server *s, struct MHD_Connection *c, struct req *r,
             const char *name)
{
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;

	/* Names are plain file names: no directories, no dot files. */
	if (!*name || name[0] == '.' || strchr(name, '/') || strlen(name) > 64)
		return reply_error(c, r, 404, "not found");
	if (s->o.dashboard_dir) {
		char path[4096];
		struct stat sb;
		int fd;
		snprintf(path, sizeof path, "%s/%s", s->o.dashboard_dir, name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
			if (fd >= 0)
				close(fd);
			return reply_error(c, r, 404, "not found");
		}
		resp = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
	} else {
		for (size_t i = 0; i < otas__n_assets; i++)
			if (!strcmp(otas__assets[i].name, name))
				resp = MHD_create_response_from_buffer(
				    otas__assets[i].len, (void *)otas__assets[i].data,
				    MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return reply_error(c, r, 404, "not found");
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", content_type(name));
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy",
	                        "default-src 'self'");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	r->status = 200;
	ret = MHD_queue_response(c, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- MHD glue ------------------------------------------------------- */

static enum MHD_Result
dispatch(struct otas__server *s, struct MHD_Connection *c, struct req *r,
         const char *url, const char *method)
{
	int post = !strcmp(method, "POST");
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	if (!strcmp(url, P_AUTH))
		return post ? do_authenticate(s, c, r)
		            : reply_error(c, r, 405, "method not allowed");
	if (!strcmp(url, P_LOG))
		return post ? do_log(s, c, r)
		            : reply_error(c, r, 405, "method not allowed");
	if (!strcmp(url, P_BATCH) && !s->o.platform_compat)
		return post ? do_batch(s, c, r)
		            : reply_error(c, r, 405, "method not allowed");
	if (!strcmp(url, "/healthz"))
		return reply_json(c, r, 200, json_pack("{s:s}", "status", "ok"));
	if (!strncmp(url, "/api/v1/", 8) && strncmp(url, "/api/v1/backend/", 16))
		return get ? do_query(s, c, r, url)
		           : reply_error(c, r, 405, "method not allowed");
	if (!strcmp(url, "/") && get)
		return do_dashboard(s, c, r, "index.html");
	if (!strncmp(url, "/dashboard/", 11) && get)
		return do_dashboard(s, c, r, url + 11);
	return reply_error(c, r, 404, "not found");
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
       const char *method, const char *version, const char *upload_data,
       size_t *upload_data_size, void **con_cls)
{
	struct otas__server *s = cls;
	struct req *r = *con_cls;

	if (!r) {
		const char *cl;
		r = calloc(1, sizeof *r);
		if (!r)
			abort();
		r->start = otas__mono_ms();
		snprintf(r->method, sizeof r->method, "%s", method);
		snprintf(r->path, sizeof r->path, "%s", url);
		r->is_post = !strcmp(method, "POST");
		*con_cls = r;
		atomic_fetch_add(&s->inflight, 1);
		cl = header(c, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > s->o.max_body_bytes) {
			/* Refuse before reading a byte of the body. */
			r->too_big = 1;
			return reply_status(c, r, 413, "payload_too_large");
		}
		/* Within the limit: size the buffer once instead of doubling,
		 * but promise no more than 1 MiB to a client that has sent
		 * nothing yet. */
		if (cl && r->is_post) {
			size_t want = (size_t)strtoull(cl, NULL, 10);
			if (otas__buf_reserve(&r->body, want < (1u << 20)
			                                    ? want : (1u << 20)) != 0)
				abort();
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!r->too_big &&
		    r->body.len + *upload_data_size > s->o.max_body_bytes) {
			r->too_big = 1;
			otas__buf_free(&r->body);
		}
		if (!r->too_big) {
			otas__buf_append(&r->body, upload_data, *upload_data_size);
			if (r->body.oom)
				abort();
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->status)
		return MHD_YES; /* answered at the first call */
	if (r->kind && is_committed(s, r)) {
		/* Resumed after the writer's commit: answer now. */
		if (r->is_suspended) {
			r->is_suspended = 0;
			atomic_fetch_sub(&s->suspended, 1);
		}
		return r->kind == KIND_LOG ? answer_log(s, c, r)
		                           : answer_batch(s, c, r);
	}
	if (r->kind)
		return MHD_YES; /* still with the writer (suspended) */
	if (r->too_big)
		return reply_status(c, r, 413, "payload_too_large");
	return dispatch(s, c, r, url, method);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
          enum MHD_RequestTerminationCode toe)
{
	struct otas__server *s = cls;
	struct req *r = *con_cls;

	if (!r)
		return;
	if (s->o.log_requests)
		fprintf(stderr, "info: %s %s %u %.1fms%s\n", r->method, r->path,
		        r->status, otas__mono_ms() - r->start,
		        toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
		                                                   : " (aborted)");
	if (r->is_suspended) /* closed while suspended: cannot happen, MHD
	                      * does not process suspended connections */
		atomic_fetch_sub(&s->suspended, 1);
	otas__buf_free(&r->body);
	otas__event_clear(&r->single);
	otas__batch_free(&r->batch);
	json_decref(r->rejected);
	free(r);
	*con_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
}

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

otas__server_t *
otas__server_start(otas__store_t *st, const otas__server_opts_t *o,
                   char *err, size_t errlen)
{
	struct otas__server *s = calloc(1, sizeof *s);
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	if (!s)
		abort();
	s->st = st;
	s->o = *o;
	pthread_mutex_init(&s->susp_lock, NULL);
	otas__store_jwt_secret(st, s->db_secret);
	if (parse_listen(o->listen, &sa) != 0) {
		snprintf(err, errlen, "bad --listen address (want IPv4:PORT)");
		goto fail;
	}
	s->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
	        MHD_ALLOW_SUSPEND_RESUME,
	    0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)(o->max_header_bytes + 64 * 1024),
	    MHD_OPTION_NOTIFY_COMPLETED, completed, s,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, errlen, "cannot listen on %s: %s", o->listen,
		         strerror(errno));
		goto fail;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : ntohs(sa.sin_port);
	return s;
fail:
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
	MHD_socket ls;
	double deadline = otas__mono_ms() + drain_ms;

	if (!s)
		return;
	/* Stop accepting.  The listen socket is ours to close, but only after
	 * MHD_stop_daemon: worker threads may still touch it until then. */
	ls = MHD_quiesce_daemon(s->d);
	while (atomic_load(&s->inflight) > 0 && otas__mono_ms() < deadline)
		usleep(10 * 1000);
	/* MHD panics if stopped with a suspended connection, and its workers
	 * may still read a request that arrived before the quiesce.  So stop
	 * the writer first: it commits what is queued and resumes every
	 * waiting connection, and from then on a submit answers 503 instead
	 * of suspending.  Then wait for the resumed ones to be answered. */
	otas__store_writer_stop(s->st);
	while (atomic_load(&s->suspended) > 0)
		usleep(10 * 1000);
	MHD_stop_daemon(s->d);
	if (ls != MHD_INVALID_SOCKET)
		close(ls);
	pthread_mutex_destroy(&s->susp_lock);
	free(s);
}
