/*
 * api_query.c -- rows from store.h into the query API's JSON shapes.
 *
 * The stored event is the SDK's document as sent: headers, query and form
 * fields are JSON *strings* there (the contract).  The API gives them back
 * as JSON objects, parsed here, so a reader never parses twice; a field
 * that is not a JSON object's text stays as it was.
 *
 * Percentiles are computed here from the ordered latency samples the store
 * streams, so both stores answer alike.
 */
#include "api_query.h"
#include "ingest.h"
#include "util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *
time_str(int64_t us)
{
	char buf[32];

	otas__format_time(us, buf);
	return json_string(buf);
}

static const char *const object_fields[] = {
    "request_headers", "response_headers", "query_params", "post_data"};

/* The API shape of one stored event. */
static json_t *
event_json(const otas__event_row_t *r)
{
	json_t *e = json_loadb(r->doc, r->doc_len, JSON_ALLOW_NUL, NULL);

	if (!json_is_object(e)) {
		json_decref(e);
		e = json_object();
	}
	for (size_t i = 0; i < sizeof object_fields / sizeof *object_fields;
	     i++) {
		json_t *v = json_object_get(e, object_fields[i]);
		const char *t = json_string_value(v);
		json_t *o;
		if (!t || *t != '{')
			continue;
		o = json_loadb(t, json_string_length(v), 0, NULL);
		if (json_is_object(o))
			json_object_set_new(e, object_fields[i], o);
		else
			json_decref(o);
	}
	/* Only empty tokens can be stored (ingest strips real ones); the key
	 * is not part of the event's API shape either way. */
	json_object_del(e, "agent_session_token");
	/* The id the event is stored under (it may have come from
	 * metadata.event_id or been generated here). */
	json_object_set_new(e, "event_id", str_or_null(r->event_id));
	json_object_set_new(e, "agent_id", str_or_null(r->agent_id));
	json_object_set_new(e, "agent_session_id",
	                    str_or_null(r->agent_session_id));
	json_object_set_new(e, "agent_verified", json_boolean(r->agent_verified));
	json_object_set_new(e, "received_at", time_str(r->received_us));
	json_object_set_new(e, "event_time", time_str(r->ts_us));
	return e;
}

typedef struct {
	json_t *list;
	long limit, rows;
	size_t bytes;
	int more;
	int64_t last_ts, last_id;
} page_t;

static int
page_row(void *arg, const otas__event_row_t *r)
{
	page_t *p = arg;

	if (p->rows >= p->limit ||
	    (p->rows > 0 && p->bytes + r->doc_len > OTAS__QUERY_MAX_BYTES)) {
		p->more = 1;
		return 1;
	}
	json_array_append_new(p->list, event_json(r));
	p->rows++;
	p->bytes += r->doc_len;
	p->last_ts = r->ts_us;
	p->last_id = r->id;
	return 0;
}

json_t *
otas__store_events(otas__store_t *st, int64_t project_pk,
                   const otas__event_query_t *q)
{
	otas__event_query_t capped = *q;
	page_t p = {0};
	json_t *out;

	if (capped.limit > OTAS__QUERY_MAX_ROWS)
		capped.limit = OTAS__QUERY_MAX_ROWS;
	p.limit = capped.limit;
	p.list = json_array();
	if (otas__store_events_each(st, project_pk, &capped, page_row, &p) !=
	    0) {
		json_decref(p.list);
		return NULL;
	}
	out = json_pack("{s:o}", "events", p.list);
	if (p.more) {
		char cur[64];
		snprintf(cur, sizeof cur, "%lld.%lld", (long long)p.last_ts,
		         (long long)p.last_id);
		json_object_set_new(out, "next", json_string(cur));
	} else {
		json_object_set_new(out, "next", json_null());
	}
	return out;
}

static int
one_row(void *arg, const otas__event_row_t *r)
{
	*(json_t **)arg = event_json(r);
	return 1;
}

json_t *
otas__store_event_get(otas__store_t *st, int64_t project_pk,
                      const char *event_id)
{
	json_t *out = NULL;

	if (otas__store_event_find(st, project_pk, event_id, one_row, &out) !=
	    1) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* ---- stats ------------------------------------------------------------ */

/* Nearest-rank percentile of sorted v[0..n). */
static double
pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(p / 100.0 * (double)n);
	if (k < 1)
		k = 1;
	return v[k - 1];
}

typedef struct {
	double *v;
	size_t n, cap;
	long long errors;
} lat_acc_t;

static void
acc_push(lat_acc_t *a, double v, int err)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->v = realloc(a->v, a->cap * sizeof *a->v);
		if (!a->v)
			abort();
	}
	a->v[a->n++] = v;
	a->errors += err;
}

static json_t *
acc_summary(lat_acc_t *a)
{
	double n = (double)a->n;

	return json_pack("{s:I, s:I, s:f, s:f, s:f, s:f}", "count",
	                 (json_int_t)a->n, "errors", (json_int_t)a->errors,
	                 "error_rate", n > 0 ? (double)a->errors / n : 0.0,
	                 "p50_latency_ms", pct(a->v, a->n, 50), "p95_latency_ms",
	                 pct(a->v, a->n, 95), "p99_latency_ms",
	                 pct(a->v, a->n, 99));
}

typedef struct {
	json_t *list;
	lat_acc_t a;
	char *m, *r;
} ep_acc_t;

static void
ep_flush(ep_acc_t *x)
{
	json_t *e;

	if (!x->m)
		return;
	e = acc_summary(&x->a);
	json_object_set_new(e, "method", json_string(x->m));
	json_object_set_new(e, "route", json_string(x->r));
	json_array_append_new(x->list, e);
	free(x->m);
	free(x->r);
	x->m = x->r = NULL;
	x->a.n = 0;
	x->a.errors = 0;
}

static int
ep_sample(void *arg, const otas__sample_t *s)
{
	ep_acc_t *x = arg;
	const char *m = s->method ? s->method : "", *r = s->route ? s->route : "";

	if (x->m && (strcmp(m, x->m) || strcmp(r, x->r)))
		ep_flush(x);
	if (!x->m) {
		x->m = strdup(m);
		x->r = strdup(r);
		if (!x->m || !x->r)
			abort();
	}
	acc_push(&x->a, s->latency_ms, s->is_error);
	return 0;
}

json_t *
otas__store_stats_endpoints(otas__store_t *st, int64_t project_pk,
                            int64_t since_us, int64_t until_us)
{
	otas__sample_query_t q = {OTAS__SAMPLES_ENDPOINTS, NULL, NULL, since_us,
	                          until_us};
	ep_acc_t x = {0};
	int rc;

	x.list = json_array();
	rc = otas__store_samples_each(st, project_pk, &q, ep_sample, &x);
	ep_flush(&x);
	free(x.m);
	free(x.r);
	free(x.a.v);
	if (rc != 0) {
		json_decref(x.list);
		return NULL;
	}
	return json_pack("{s:o}", "endpoints", x.list);
}

typedef struct {
	int64_t first, n_days;
	lat_acc_t *days;
} day_acc_t;

static int
day_sample(void *arg, const otas__sample_t *s)
{
	day_acc_t *x = arg;
	int64_t i = s->day - x->first;

	if (i >= 0 && i < x->n_days)
		acc_push(&x->days[i], s->latency_ms, s->is_error);
	return 0;
}

json_t *
otas__store_stats_timeseries(otas__store_t *st, int64_t project_pk, int days,
                             int64_t now_us)
{
	const int64_t day_us = 86400LL * 1000000;
	int64_t today = now_us / day_us;
	day_acc_t x = {today - days + 1, days, NULL};
	otas__sample_query_t q = {OTAS__SAMPLES_DAILY, NULL, NULL,
	                          x.first * day_us, (today + 1) * day_us};
	json_t *list;
	int rc;

	x.days = calloc((size_t)days, sizeof *x.days);
	if (!x.days)
		abort();
	rc = otas__store_samples_each(st, project_pk, &q, day_sample, &x);
	list = json_array();
	for (int64_t d = 0; d < days; d++) {
		lat_acc_t *a = &x.days[d];
		char date[32];
		otas__format_time((x.first + d) * day_us, date);
		date[10] = '\0';
		json_array_append_new(
		    list, json_pack("{s:s, s:I, s:I, s:f, s:f}", "day", date,
		                    "events", (json_int_t)a->n, "errors",
		                    (json_int_t)a->errors, "error_rate",
		                    a->n ? (double)a->errors / (double)a->n : 0.0,
		                    "p50_latency_ms", pct(a->v, a->n, 50)));
		free(a->v);
	}
	free(x.days);
	if (rc != 0) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:i, s:o}", "days", days, "series", list);
}

static const double bounds[] = {1,   2,    5,    10,   25,   50,  100,
                                250, 500, 1000, 2500, 5000, 10000};
#define NB (sizeof bounds / sizeof *bounds)

typedef struct {
	lat_acc_t a;
	long long counts[NB + 1];
} route_acc_t;

static int
route_sample(void *arg, const otas__sample_t *s)
{
	route_acc_t *x = arg;
	size_t b = 0;

	while (b < NB && s->latency_ms > bounds[b])
		b++;
	x->counts[b]++;
	acc_push(&x->a, s->latency_ms, s->is_error);
	return 0;
}

json_t *
otas__store_stats_latency(otas__store_t *st, int64_t project_pk,
                          const char *method, const char *route,
                          int64_t since_us, int64_t until_us)
{
	otas__sample_query_t q = {OTAS__SAMPLES_ROUTE, method, route, since_us,
	                          until_us};
	route_acc_t x = {0};
	json_t *out, *list;

	if (otas__store_samples_each(st, project_pk, &q, route_sample, &x) !=
	    0) {
		free(x.a.v);
		return NULL;
	}
	list = json_array();
	for (size_t b = 0; b <= NB; b++)
		json_array_append_new(
		    list, json_pack("{s:o, s:I}", "le",
		                    b < NB ? json_real(bounds[b]) : json_null(),
		                    "count", (json_int_t)x.counts[b]));
	out = acc_summary(&x.a);
	json_object_set_new(out, "method", json_string(method));
	json_object_set_new(out, "route", json_string(route));
	json_object_set_new(out, "buckets", list);
	free(x.a.v);
	return out;
}

static int
session_row(void *arg, const otas__session_row_t *r)
{
	json_t *e = json_object();

	json_object_set_new(e, "agent_session_id",
	                    str_or_null(r->agent_session_id));
	json_object_set_new(e, "agent_id", str_or_null(r->agent_id));
	json_object_set_new(e, "verified", json_boolean(r->verified));
	json_object_set_new(e, "events", json_integer(r->events));
	json_object_set_new(e, "errors", json_integer(r->errors));
	json_object_set_new(e, "first_seen", time_str(r->first_ts_us));
	json_object_set_new(e, "last_seen", time_str(r->last_ts_us));
	json_array_append_new(arg, e);
	return 0;
}

json_t *
otas__store_agent_sessions(otas__store_t *st, int64_t project_pk)
{
	json_t *list = json_array();

	if (otas__store_sessions_each(st, project_pk, session_row, list) != 0) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:o}", "sessions", list);
}

static int
entity_row(void *arg, const otas__entity_row_t *r)
{
	json_t *e = json_loadb(r->doc, r->doc_len, 0, NULL);

	if (!json_is_object(e)) {
		json_decref(e);
		e = json_object();
	}
	json_object_set_new(e, "kind", str_or_null(r->kind));
	json_object_set_new(e, "created_at", time_str(r->created_us));
	json_object_set_new(e, "updated_at", time_str(r->updated_us));
	json_array_append_new(arg, e);
	return 0;
}

json_t *
otas__store_entities_list(otas__store_t *st, int64_t project_pk,
                          const char *kind, const char *company_id,
                          long limit)
{
	json_t *list = json_array();

	if (otas__store_entities_each(st, project_pk, kind, company_id, limit,
	                              entity_row, list) != 0) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:o}", "entities", list);
}

static int
project_row(void *arg, const otas__project_row_t *r)
{
	json_array_append_new(
	    arg, json_pack("{s:s, s:s, s:s, s:I, s:i}", "id", r->id, "name",
	                   r->name, "description", r->description ? r->description : "",
	                   "created_at", (json_int_t)r->created_at,
	                   "active_keys", r->active_keys));
	return 0;
}

json_t *
otas__store_project_list(otas__store_t *st)
{
	json_t *list = json_array();

	if (otas__store_project_each(st, project_row, list) != 0) {
		json_decref(list);
		return NULL;
	}
	return list;
}

/* ---- the query API's handlers (GET /api/v1/...) -------------------------
 *
 * http.c has checked the read key (r->proj) and runs these on its query
 * pool; each parses its arguments, asks the store, stores the answer. */

static enum MHD_Result
reply_json(struct MHD_Connection *c, otas__req_t *r, unsigned status,
           json_t *body)
{
	(void)c;
	return otas__reply_json(r, status, body);
}

static enum MHD_Result
reply_error(struct MHD_Connection *c, otas__req_t *r, unsigned status,
            const char *msg)
{
	(void)c;
	return otas__reply_error(r, status, msg);
}

static const char *
arg(struct MHD_Connection *c, const char *name)
{
	return otas__http_arg(c, name);
}

static enum MHD_Result
do_entity_list(otas__server_t *s, struct MHD_Connection *c,
               otas__req_t *r, const otas__project_t *p, const char *kind,
               const char *key)
{
	const char *v = arg(c, "limit");
	char *end;
	long limit = v ? strtol(v, &end, 10) : 1000;
	json_t *out, *list;

	if (v && (*end || limit < 1 || limit > 100000))
		return reply_error(c, r, 400, "invalid limit (1..100000)");
	out = otas__store_entities_list(s->st, p->pk, kind,
	                                arg(c, "company_id"), limit);
	if (!out)
		return reply_error(c, r, 500, "query failed");
	if (strcmp(key, "entities") != 0) {
		list = json_incref(json_object_get(out, "entities"));
		json_object_del(out, "entities");
		json_object_set_new(out, key, list);
	}
	return reply_json(c, r, 200, out);
}

/* Parse a time argument; 0 ok (or absent), -1 bad. */
static int
time_arg(struct MHD_Connection *c, const char *name, int64_t *out)
{
	const char *v = arg(c, name);

	return v ? otas__parse_time(v, out) : 0;
}

static enum MHD_Result
do_events(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r,
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
	q.user_id = arg(c, "user_id");
	q.company_id = arg(c, "company_id");
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

/* ---- the handlers (route table in routes.c) ----------------------- */

enum MHD_Result
otas__api_events(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	return do_events(s, c, r, &r->proj);
}

/* GET /api/v1/events/<id> (and /api/v1/events/ as the list) */
enum MHD_Result
otas__api_event_get(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	json_t *out;

	if (!*r->rest)
		return do_events(s, c, r, &r->proj);
	out = otas__store_event_get(s->st, r->proj.pk, r->rest);
	return out ? reply_json(c, r, 200, out)
	           : reply_error(c, r, 404, "event not found");
}

enum MHD_Result
otas__api_entity_list(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	const otas__entity_route_t *e = r->route->arg;

	return do_entity_list(s, c, r, &r->proj, e->kind, e->key);
}

enum MHD_Result
otas__api_entities(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	const char *k = arg(c, "kind");

	if (k && !otas__entity_kind(k))
		return reply_error(c, r, 400, "invalid kind (user, "
		                   "company, subscription)");
	return do_entity_list(s, c, r, &r->proj, otas__entity_kind(k),
	                      "entities");
}

enum MHD_Result
otas__api_project(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	const otas__project_t *p = &r->proj;

	char exp[32];

	(void)s;
	/* The key's expiry and role: the dashboard shows them. */
	otas__format_time(p->key_expires_at * 1000000, exp);
	return reply_json(c, r, 200,
	                  json_pack("{s:s, s:s, s:s, s:{s:s, s:I, s:s}}", "id",
	                            p->id, "name", p->name, "description",
	                            p->description, "key", "expires_at", exp,
	                            "expires_at_unix",
	                            (json_int_t)p->key_expires_at, "role",
	                            otas__role_name(p->key_role)));
}

enum MHD_Result
otas__api_agent_sessions(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	json_t *out = otas__store_agent_sessions(s->st, r->proj.pk);

	return out ? reply_json(c, r, 200, out)
	           : reply_error(c, r, 500, "query failed");
}

enum MHD_Result
otas__api_stats_endpoints(otas__server_t *s, struct MHD_Connection *c,
                  otas__req_t *r)
{
	int64_t since = INT64_MIN, until = INT64_MAX;
	json_t *out;

	if (time_arg(c, "since", &since) || time_arg(c, "until", &until))
		return reply_error(c, r, 400, "invalid since/until");
	out = otas__store_stats_endpoints(s->st, r->proj.pk, since, until);
	return out ? reply_json(c, r, 200, out)
	           : reply_error(c, r, 500, "query failed");
}

enum MHD_Result
otas__api_stats_timeseries(otas__server_t *s, struct MHD_Connection *c,
                   otas__req_t *r)
{
	int64_t since = INT64_MIN, until = INT64_MAX;
	const char *v = arg(c, "days");
	char *end;
	long days = v ? strtol(v, &end, 10) : 7;
	json_t *out;

	if (time_arg(c, "since", &since) || time_arg(c, "until", &until))
		return reply_error(c, r, 400, "invalid since/until");
	if (v && (*end || days < 1 || days > 366))
		return reply_error(c, r, 400, "invalid days (1..366)");
	out = otas__store_stats_timeseries(s->st, r->proj.pk, (int)days,
	                                   otas__now_us());
	return out ? reply_json(c, r, 200, out)
	           : reply_error(c, r, 500, "query failed");
}

enum MHD_Result
otas__api_stats_latency(otas__server_t *s, struct MHD_Connection *c, otas__req_t *r)
{
	int64_t since = INT64_MIN, until = INT64_MAX;
	json_t *out;

	if (time_arg(c, "since", &since) || time_arg(c, "until", &until))
		return reply_error(c, r, 400, "invalid since/until");
	if (!arg(c, "method") || !arg(c, "route"))
		return reply_error(c, r, 400, "method and route are required");
	out = otas__store_stats_latency(s->st, r->proj.pk, arg(c, "method"),
	                                arg(c, "route"), since, until);
	return out ? reply_json(c, r, 200, out)
	           : reply_error(c, r, 500, "query failed");
}


/* GET /api/v1/collector/stats: this collector's store counters. */
enum MHD_Result
otas__api_collector_stats(otas__server_t *s, struct MHD_Connection *c,
                          otas__req_t *r)
{
	otas__store_stats_t x;

	otas__store_stats(s->st, &x);
	return reply_json(
	    c, r, 200,
	    json_pack("{s:s, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:b},"
	              " s:{s:I, s:I}}",
	              "store",
	              otas__store_kind(s->st), "maintenance", "runs",
	              (json_int_t)x.maintenance_runs, "retention_deleted_events",
	              (json_int_t)x.retention_deleted_events,
	              "retention_dropped_partitions",
	              (json_int_t)x.retention_dropped_partitions,
	              "partitions_created", (json_int_t)x.partitions_created,
	              "text_index", "indexed_events",
	              (json_int_t)x.text_indexed_events, "chunks",
	              (json_int_t)x.text_index_chunks, "busy_us",
	              (json_int_t)x.text_index_us, "max_chunk_us",
	              (json_int_t)x.text_index_max_us, "behind",
	              x.text_index_behind,
	              "ingest", "zstd_bodies",
	              (json_int_t)__atomic_load_n(&otas__ingest_zstd_bodies,
	                                          __ATOMIC_RELAXED),
	              "gzip_bodies",
	              (json_int_t)__atomic_load_n(&otas__ingest_gzip_bodies,
	                                          __ATOMIC_RELAXED)));
}
