/*
 * routes.c -- the collector's endpoints and its route table (http.h).
 *
 * http.c has matched the route, checked the key the route needs and read
 * the body by the time a handler here runs; r->proj is the key's project.
 * Handlers are short: decode with ingest.c, hand to the store, store the
 * answer.  The log endpoints hand their events to the store's writer and
 * defer: the writer's callback wakes the request after COMMIT and its
 * `then` (answer_log / answer_batch) writes the answer, so an MHD thread
 * never sleeps on a commit.  The query handlers run on http.c's query
 * pool.
 */
#include "routes.h"
#include "api_query.h"
#include "api_dash.h"
#include "entities.h"
#include "ingest.h"
#include "jwt.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define H_KEY "X-OTAS-SDK-KEY"
#define H_TOKEN "X-OTAS-AGENT-SESSION-TOKEN"

/* The handlers' spelling of http.h's answers. */
static enum MHD_Result
reply_json(struct MHD_Connection *c, otas__req_t *r, unsigned status,
           json_t *body)
{
	(void)c;
	return otas__reply_json(r, status, body);
}

static enum MHD_Result
reply_status(struct MHD_Connection *c, otas__req_t *r, unsigned status,
             const char *desc)
{
	(void)c;
	return otas__reply_status(r, status, desc);
}

static enum MHD_Result
reply_error(struct MHD_Connection *c, otas__req_t *r, unsigned status,
            const char *msg)
{
	(void)c;
	return otas__reply_error(r, status, msg);
}

static enum MHD_Result
reply_shed(struct MHD_Connection *c, otas__req_t *r, int stopping)
{
	(void)c;
	return otas__reply_shed(r, stopping);
}

static const char *
header(struct MHD_Connection *c, const char *name)
{
	return otas__http_header(c, name);
}

/* ---- the log endpoints' state: events waiting for their commit ------- */

struct ingest {
	otas__store_job_t job;
	otas__event_t single;
	otas__batch_t batch;
	json_t *rejected;
};

static void
ingest_free(void *p)
{
	struct ingest *x = p;

	otas__event_clear(&x->single);
	otas__batch_free(&x->batch);
	json_decref(x->rejected);
	free(x);
}

static struct ingest *
ingest_of(otas__req_t *r)
{
	if (!r->ctx) {
		r->ctx = calloc(1, sizeof(struct ingest));
		if (!r->ctx)
			abort();
		r->ctx_free = ingest_free;
	}
	return r->ctx;
}

/* Writer thread: the job's group is committed or rolled back. */
static void
job_done(otas__store_job_t *job)
{
	otas__http_wake(job->arg);
}

/* Hand n events to the writer; `then` answers after the commit.  Returns
 * the submit result; on OTAS__SUBMIT_OK the caller returns
 * otas__http_defer_wait(). */
static int
submit(otas__server_t *s, otas__req_t *r, int64_t pk, otas__event_t *ev,
       size_t n, otas__handler_t then)
{
	struct ingest *x = r->ctx;
	int rc;

	x->job.project_pk = pk;
	x->job.ev = ev;
	x->job.n = n;
	x->job.received_us = otas__now_us();
	x->job.done = job_done;
	x->job.arg = r;
	/* Before the submit: the writer may wake r before it returns. */
	otas__http_defer_begin(r, then);
	rc = otas__store_submit_async(s->st, &x->job);
	if (rc != OTAS__SUBMIT_OK)
		otas__http_defer_cancel(r);
	return rc;
}

/* ---- helpers -------------------------------------------------------- */

/* Decode the body per Content-Encoding into *out (may point at r->body).
 * Returns 0, or the HTTP status to answer with *desc. */
static unsigned
request_body(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r,
             otas__buf_t *inflated, const char **data, size_t *len,
             const char **desc)
{
	const char *enc = header(c, "Content-Encoding");

	if (!enc || !*enc || strcasecmp(enc, "identity") == 0) {
		*data = r->body.data ? r->body.data : "";
		*len = r->body.len;
		return 0;
	}
	if (strcasecmp(enc, "zstd") == 0) {
		switch (otas__unzstd(r->body.data, r->body.len,
		                     s->o.max_decoded_bytes, inflated)) {
		case OTAS__INGEST_OK:
			__atomic_add_fetch(&otas__ingest_zstd_bodies, 1,
			                   __ATOMIC_RELAXED);
			*data = inflated->data ? inflated->data : "";
			*len = inflated->len;
			return 0;
		case OTAS__INGEST_TOO_LARGE:
			*desc = "payload_too_large";
			return 413;
		default:
			*desc = "invalid_zstd";
			return 400;
		}
	}
	if (strcasecmp(enc, "gzip") != 0) {
		*desc = "unsupported_content_encoding";
		return 415;
	}
	switch (otas__gunzip(r->body.data, r->body.len, s->o.max_decoded_bytes,
	                     inflated)) {
	case OTAS__INGEST_OK:
		__atomic_add_fetch(&otas__ingest_gzip_bodies, 1, __ATOMIC_RELAXED);
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
 * A token proves an agent only in the project it was minted for: ours
 * always carry a project_id claim, which must be the key's project; the
 * platform's (OTAS_JWT_SECRET) carry none (PROTOCOL.md), but one that
 * names another project is refused too.
 * Returns 0 verified, -1 invalid (bad signature/format, another
 * project), -2 expired. */
static int
resolve_agent(otas__server_t *s, const otas__project_t *proj,
              otas__event_t *ev, const char *token)
{
	json_t *claims = NULL;
	char pid[sizeof proj->id + 2]; /* longer claims stay unequal */
	int rc, ours;

	if (!token || !*token)
		return -1;
	rc = otas__jwt_verify(token, s->db_secret, sizeof s->db_secret,
	                      otas__now_us() / 1000000, &claims);
	ours = rc == 0;
	if (rc != 0 && s->o.platform_jwt_secret) {
		int rc2 = otas__jwt_verify(
		    token, (const unsigned char *)s->o.platform_jwt_secret,
		    strlen(s->o.platform_jwt_secret), otas__now_us() / 1000000,
		    &claims);
		if (rc2 == 0 || rc == -1)
			rc = rc2;
	}
	if (rc == 0) {
		pid[0] = '\0';
		otas__jwt_claim_str(claims, "project_id", pid, sizeof pid);
		if ((ours || pid[0]) && strcmp(pid, proj->id) != 0) {
			json_decref(claims);
			claims = NULL;
			rc = -1;
		}
	}
	ev->agent_verified = rc == 0;
	if (rc != 0) {
		json_decref(claims);
		claims = otas__jwt_peek(token);
	}
	otas__jwt_claim_str(claims, "agent_id", ev->agent_id,
	                    sizeof ev->agent_id);
	otas__jwt_claim_str(claims, "agent_session_id", ev->agent_session_id,
	                    sizeof ev->agent_session_id);
	json_decref(claims);
	return rc;
}

/* ---- endpoints ------------------------------------------------------ */

static enum MHD_Result
do_authenticate(otas__server_t *s, struct MHD_Connection *c,
                otas__req_t *r)
{
	const char *key = header(c, H_KEY);
	otas__project_t p;
	char exp[32];
	json_t *o;

	if (!key || !*key)
		return reply_error(c, r, 401, "SDK Key missing");
	switch (otas__store_key_check(s->st, key, &p)) {
	case OTAS__KEY_OK:
		/* Only keys that may log authenticate (a read key in an app
		 * server is a mistake worth a clear refusal). */
		if (!(p.key_role & OTAS__ROLE_INGEST))
			return reply_error(c, r, 403, "Not an ingest key");
		/* The key's expiry, so the SDK can warn before it lapses. */
		otas__format_time(p.key_expires_at * 1000000, exp);
		o = json_pack(
		    "{s:i, s:s, s:{s:{s:s, s:s, s:s}, s:{s:s, s:I, s:s}}}",
		    "status", 1, "status_description", "authenticated",
		    "response", "project", "id", p.id, "name", p.name,
		    "description", p.description, "key", "expires_at", exp,
		    "expires_at_unix", (json_int_t)p.key_expires_at, "role",
		    otas__role_name(p.key_role));
		/* Body encodings this collector decodes, best first: the SDK
		 * sends zstd only when it sees it here.  The OTAS platform
		 * never says so, nor does --platform-compat, which answers
		 * as the platform does (the SDK then sends gzip). */
		if (o && !s->o.platform_compat)
			json_object_set_new(json_object_get(o, "response"),
			                    "accept_encoding",
			                    json_pack("[s,s]", "zstd", "gzip"));
		return reply_json(c, r, 200, o);
	case OTAS__KEY_BAD_FORMAT:
		return reply_error(c, r, 403, "Invalid Key Format");
	case OTAS__KEY_INVALID:
		return reply_error(c, r, 403, "Invalid SDK Key");
	default:
		return reply_error(c, r, 500, "authentication failed");
	}
}

static enum MHD_Result
answer_log(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	struct ingest *x = r->ctx;

	if (x->job.rc != 0)
		return reply_status(c, r, 500, "event_capture_failed");
	if (s->o.platform_compat)
		return reply_json(c, r, 201,
		                  json_pack("{s:i, s:s, s:{}}", "status", 1,
		                            "status_description", "event_captured",
		                            "response"));
	return reply_json(c, r, 201,
	                  json_pack("{s:i, s:s, s:{s:s, s:b}}", "status", 1,
	                            "status_description", "event_captured",
	                            "response", "event_id", x->single.event_id,
	                            "duplicate", x->job.duplicates > 0));
}

/* Header stage of the single endpoint: like the platform, with
 * --platform-compat the token is required and checked before the body is
 * read (401 without reading it). */
static enum MHD_Result
pre_log(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	const char *token = header(c, H_TOKEN);

	if (!s->o.platform_compat)
		return MHD_YES;
	if (!token || !*token)
		return reply_status(c, r, 401, "missing_agent_session_token");
	if (resolve_agent(s, &r->proj, &ingest_of(r)->single, token) != 0)
		return reply_status(c, r, 401, "invalid_or_expired_token");
	return MHD_YES;
}

static enum MHD_Result
do_log(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	const otas__project_t *proj = &r->proj;
	otas__buf_t inflated = OTAS__BUF_INIT;
	struct ingest *x = ingest_of(r);
	otas__event_t *ev = &x->single;
	const char *data, *desc = NULL, *token;
	size_t len;
	json_t *missing = NULL, *invalid = NULL;
	enum MHD_Result ret;
	unsigned st;
	int rc;

	token = header(c, H_TOKEN);
	/* --platform-compat: pre_log checked the token on the headers and
	 * left its claims in ev. */
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
			resolve_agent(s, proj, ev, token);
	}
	if (otas__event_finish(ev) != 0) {
		ret = reply_status(c, r, 500, "event_capture_failed");
		goto done;
	}
	otas__buf_free(&inflated);
	otas__buf_free(&r->body);
	rc = submit(s, r, proj->pk, ev, 1, answer_log);
	if (rc == OTAS__SUBMIT_OVERLOADED || rc == OTAS__SUBMIT_STOPPING)
		ret = reply_shed(c, r, rc == OTAS__SUBMIT_STOPPING);
	else if (rc != OTAS__SUBMIT_OK)
		ret = reply_status(c, r, 500, "event_capture_failed");
	else
		ret = otas__http_defer_wait(s, c, r); /* answer_log, later */
done:
	json_decref(missing);
	json_decref(invalid);
	otas__buf_free(&inflated);
	return ret;
}

static enum MHD_Result
answer_batch(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	struct ingest *x = r->ctx;
	json_t *rejected = x->rejected;

	x->rejected = NULL;
	if (x->job.rc != 0) {
		json_decref(rejected);
		return reply_status(c, r, 500, "event_capture_failed");
	}
	if (!rejected || json_array_size(rejected) == 0) {
		/* The usual answer, the bytes json_dumps(JSON_COMPACT) makes of
		 * the object below, without building and dumping it (a few
		 * µs of an app server's batch of a few events). */
		char *txt;
		int n;
		json_decref(rejected);
		n = asprintf(&txt,
		             "{\"status\":1,\"status_description\":\"batch_captured\","
		             "\"accepted\":%lld,\"duplicates\":%lld,\"rejected\":[]}",
		             (long long)x->job.accepted, (long long)x->job.duplicates);
		if (n < 0)
			abort(); /* the collector aborts on OOM */
		return otas__reply(r, 200, "application/json", txt, (size_t)n,
		                   MHD_RESPMEM_MUST_FREE);
	}
	return reply_json(c, r, 200,
	                  json_pack("{s:i, s:s, s:I, s:I, s:o}", "status", 1,
	                            "status_description", "batch_captured",
	                            "accepted", (json_int_t)x->job.accepted,
	                            "duplicates", (json_int_t)x->job.duplicates,
	                            "rejected", rejected ? rejected : json_array()));
}

static enum MHD_Result
do_batch(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	const otas__project_t *proj = &r->proj;
	otas__buf_t inflated = OTAS__BUF_INIT;
	struct ingest *x = ingest_of(r);
	otas__batch_t *b = &x->batch;
	const char *data, *desc = NULL;
	char *own = NULL;
	size_t len;
	enum MHD_Result ret;
	unsigned st;
	int rc;

	st = request_body(s, c, r, &inflated, &data, &len, &desc);
	if (st) {
		ret = reply_status(c, r, st, desc);
		goto done;
	}
	/* The events' documents stay where they are in the decoded body,
	 * which the batch then owns until its commit is answered. */
	if (data == inflated.data && data) {
		own = inflated.data;
		inflated = (otas__buf_t)OTAS__BUF_INIT;
	} else if (data == r->body.data && data) {
		own = r->body.data;
		r->body = (otas__buf_t)OTAS__BUF_INIT;
	}
	switch (own ? otas__batch_decode_lent(own, len, s->o.max_batch_events, b)
	            : otas__batch_decode(data, len, s->o.max_batch_events, b)) {
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
	x->rejected = json_array();
	for (size_t i = 0; i < b->n; i++) {
		otas__event_t *e = &b->ev[i];
		if (!e->reject && e->token)
			resolve_agent(s, proj, e, e->token);
		if (!e->reject && otas__event_finish(e) != 0)
			e->reject = "event_capture_failed";
		if (e->reject)
			json_array_append_new(
			    x->rejected,
			    json_pack("{s:I, s:s}", "index", (json_int_t)i,
			              "status_description", e->reject));
	}
	rc = submit(s, r, proj->pk, b->ev, b->n, answer_batch);
	if (rc == OTAS__SUBMIT_OVERLOADED || rc == OTAS__SUBMIT_STOPPING)
		ret = reply_shed(c, r, rc == OTAS__SUBMIT_STOPPING);
	else if (rc != OTAS__SUBMIT_OK && rc != OTAS__SUBMIT_NOTHING)
		ret = reply_status(c, r, 500, "event_capture_failed");
	else if (rc == OTAS__SUBMIT_NOTHING)
		ret = answer_batch(s, c, r); /* nothing to wait for */
	else
		ret = otas__http_defer_wait(s, c, r); /* answer_batch, later */
done:
	otas__buf_free(&inflated);
	return ret;
}

/* POST /api/v1/entities/batch/: users, companies, subscriptions
 * (entities.c validates, store.c merges). */
static enum MHD_Result
do_entities(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	const otas__project_t *proj = &r->proj;
	otas__buf_t inflated = OTAS__BUF_INIT;
	otas__entity_t *rows = NULL;
	const char *data, *desc = NULL;
	json_t *rejected = NULL;
	size_t len, n = 0;
	enum MHD_Result ret;
	unsigned st;

	st = request_body(s, c, r, &inflated, &data, &len, &desc);
	if (st) {
		ret = reply_status(c, r, st, desc);
		goto done;
	}
	rejected = json_array();
	switch (otas__entities_decode(data, len, &rows, &n, rejected)) {
	case OTAS__ENT_OK:
		break;
	case OTAS__ENT_TOO_MANY:
		ret = reply_status(c, r, 413, "too_many_entities");
		goto done;
	case OTAS__ENT_BAD_BODY:
		ret = reply_status(c, r, 400, "invalid_batch");
		goto done;
	default:
		ret = reply_status(c, r, 400, "invalid_json");
		goto done;
	}
	if (n && otas__store_entities_upsert(s->st, proj->pk, rows, n,
	                                     otas__now_us()) != 0) {
		ret = reply_status(c, r, 500, "entity_capture_failed");
		goto done;
	}
	ret = reply_json(c, r, 200,
	                 json_pack("{s:i, s:s, s:I, s:O}", "status", 1,
	                           "status_description", "entities_captured",
	                           "accepted", (json_int_t)n, "rejected",
	                           rejected));
done:
	json_decref(rejected);
	otas__entities_free(rows, n);
	otas__buf_free(&inflated);
	return ret;
}

/* GET /api/v1/users, /companies, /subscriptions, /entities?kind= */
/* The query API's handlers are in api_query.c. */

static enum MHD_Result
not_found(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	(void)s;
	return reply_error(c, r, 404, "not found");
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
do_dashboard(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r,
             const char *name)
{
	struct MHD_Response *resp = NULL;

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
	/* Never framed (clickjacking): CSP for today's browsers,
	 * X-Frame-Options (added to every answer) for older ones. */
	MHD_add_response_header(resp, "Content-Security-Policy",
	                        "default-src 'self'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	return otas__reply_response(r, 200, resp);
}


static enum MHD_Result
do_index(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	return do_dashboard(s, c, r, "index.html");
}

static enum MHD_Result
do_asset(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	return do_dashboard(s, c, r, r->rest);
}

static enum MHD_Result
do_healthz(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	(void)s;
	return reply_json(c, r, 200, json_pack("{s:s}", "status", "ok"));
}

/* ---- the route table -------------------------------------------------- */

static const otas__entity_route_t E_USERS = {"user", "users"};
static const otas__entity_route_t E_COMPANIES = {"company", "companies"};
static const otas__entity_route_t E_SUBSCRIPTIONS = {"subscription",
                                               "subscriptions"};

#define PFX OTAS__ROUTE_PREFIX
#define BODY OTAS__ROUTE_BODY
#define NOCOMPAT OTAS__ROUTE_NOT_COMPAT
#define ST OTAS__ROUTE_ERR_STATUS
#define NONE OTAS__AUTH_NONE
#define INGEST OTAS__AUTH_INGEST
#define READ OTAS__AUTH_READ
#define C_HEALTH OTAS__CLASS_HEALTH
#define C_INGEST OTAS__CLASS_INGEST
#define C_QUERY OTAS__CLASS_QUERY
#define C_STATIC OTAS__CLASS_STATIC

/* First match wins.  A path that matches with another method answers
 * 405 unless a later row has the same path and this method. */
const otas__route_t otas__routes[] = {
    /* method path                                   auth    class
     * flags               handler  arg  pre (on the headers) */
    {"POST", "/api/project/v1/sdk/backend/key/authenticate/", NONE, C_INGEST,
     0, do_authenticate, NULL, NULL},
    {"POST", "/api/v1/backend/log/sdk/", INGEST, C_INGEST, BODY | ST, do_log,
     NULL, pre_log},
    {"POST", "/api/v1/backend/log/sdk/batch/", INGEST, C_INGEST,
     BODY | ST | NOCOMPAT, do_batch, NULL, NULL},
    {"POST", "/api/v1/entities/batch/", INGEST, C_INGEST,
     BODY | ST | NOCOMPAT, do_entities, NULL, NULL},
    /* the platform has no such path */
    {"*", "/api/v1/entities/batch/", NONE, C_HEALTH,
     OTAS__ROUTE_COMPAT_ONLY, not_found, NULL, NULL},
    {"*", "/healthz", NONE, C_HEALTH, 0, do_healthz, NULL, NULL},
    {"*", "/api/v1/backend/", NONE, C_HEALTH, PFX, not_found, NULL, NULL},
    {"GET", "/api/v1/events", READ, C_QUERY, 0, otas__api_events, NULL, NULL},
    {"GET", "/api/v1/events/", READ, C_QUERY, PFX, otas__api_event_get, NULL, NULL},
    {"GET", "/api/v1/users", READ, C_QUERY, 0, otas__api_entity_list, &E_USERS, NULL},
    {"GET", "/api/v1/companies", READ, C_QUERY, 0, otas__api_entity_list,
     &E_COMPANIES, NULL},
    {"GET", "/api/v1/subscriptions", READ, C_QUERY, 0, otas__api_entity_list,
     &E_SUBSCRIPTIONS, NULL},
    {"GET", "/api/v1/entities", READ, C_QUERY, 0, otas__api_entities, NULL, NULL},
    {"GET", "/api/v1/project", READ, C_HEALTH, 0, otas__api_project, NULL, NULL},
    {"GET", "/api/v1/agent-sessions", READ, C_QUERY, 0, otas__api_agent_sessions,
     NULL, NULL},
    {"GET", "/api/v1/stats/endpoints", READ, C_QUERY, 0, otas__api_stats_endpoints,
     NULL, NULL},
    {"GET", "/api/v1/stats/timeseries", READ, C_QUERY, 0,
     otas__api_stats_timeseries, NULL, NULL},
    {"GET", "/api/v1/stats/latency", READ, C_QUERY, 0, otas__api_stats_latency,
     NULL, NULL},
    /* the dashboard's views (api_dash.c) */
    {"GET", "/api/v1/stats/series", READ, C_QUERY, 0, otas__api_dash_series,
     NULL, NULL},
    {"GET", "/api/v1/stats/routes", READ, C_QUERY, 0, otas__api_dash_routes,
     NULL, NULL},
    {"GET", "/api/v1/stats/users", READ, C_QUERY, 0, otas__api_dash_people,
     "user", NULL},
    {"GET", "/api/v1/stats/companies", READ, C_QUERY, 0, otas__api_dash_people,
     "company", NULL},
    {"GET", "/api/v1/stats/agents", READ, C_QUERY, 0, otas__api_dash_agents,
     NULL, NULL},
    {"GET", "/api/v1/errors", READ, C_QUERY, 0, otas__api_dash_errors, NULL, NULL},
    {"GET", "/api/v1/search", READ, C_QUERY, 0, otas__api_dash_search, NULL, NULL},
    {"GET", "/api/v1/export", READ, C_QUERY, 0, otas__api_dash_export, NULL, NULL},
    {"GET", "/api/v1/collector/stats", READ, C_HEALTH, 0,
     otas__api_collector_stats, NULL, NULL},
    {"GET", "/api/v1/", READ, C_HEALTH, PFX, not_found, NULL, NULL},
    {"GET", "/", NONE, C_STATIC, 0, do_index, NULL, NULL},
    {"GET", "/dashboard/", NONE, C_STATIC, PFX, do_asset, NULL, NULL},
};
const size_t otas__n_routes = sizeof otas__routes / sizeof otas__routes[0];
