/*
 * api_dash.h -- the dashboard's query API: one filter language for every
 * view (time range, method, route, path glob, status classes and codes,
 * user, company, tag, version, agent, session, trace id, text), and the
 * aggregates built on one store scan (otas__store_scan): series, error
 * groups, endpoints (unmatched requests folded into one), users,
 * companies, agents, search and export.  collector/README.md "Dashboard
 * API" documents the parameters and shapes.
 */
#ifndef OTAS_COLLECTOR_API_DASH_H
#define OTAS_COLLECTOR_API_DASH_H

#include <jansson.h>

#include "http.h"
#include "store.h"

#define OTAS__DASH_MAX_STATUS 16
/* Rows a search or export examines at most when filters run on the rows
 * (tags, versions, trace ids, path globs): the answer says truncated. */
#ifndef OTAS__DASH_SCAN_CAP
#define OTAS__DASH_SCAN_CAP 200000
#endif
#define OTAS__DASH_EXPORT_MAX 100000
/* Rows a search examines at most for a text shorter than the index takes
 * (OTAS__SEARCH_MIN_CHARS), each one's document parsed: the answer says
 * truncated and its next cursor goes on. */
#ifndef OTAS__DASH_TEXT_SCAN_CAP
#define OTAS__DASH_TEXT_SCAN_CAP 50000
#endif
/* Time a scan with a text query may take before it answers 503 instead
 * (SQLite progress handler, PostgreSQL statement_timeout). */
#ifndef OTAS__DASH_TEXT_BUDGET_MS
#define OTAS__DASH_TEXT_BUDGET_MS 5000
#endif

/* The text budget in force (ms): OTAS__DASH_TEXT_BUDGET_MS unless serve's
 * --test-text-budget-ms set it (tests); set before the server starts. */
extern int otas__dash_text_budget_ms;

/* A query argument by name, NULL when absent or empty. */
typedef const char *(*otas__dash_get_fn)(void *ctx, const char *name);

typedef struct {
	int64_t from_us, to_us;   /* [from, to) */
	int bucket_s;             /* 60, 3600 or 86400 */
	const char *range;        /* "15m" ... or NULL (absolute) */
	const char *method, *route, *path, *user, *company, *tag, *version;
	const char *agent, *session, *trace, *text;
	int path_glob;            /* path has * ? or [ */
	int unmatched;            /* 1: only requests no route matched */
	int text_rows;            /* text shorter than OTAS__SEARCH_MIN_CHARS:
	                           * checked on the rows, not by the index */
	int n_status;
	struct {
		int lo, hi;
	} status[OTAS__DASH_MAX_STATUS];
	char method_up[16];
} otas__dash_filter_t;

/* Parse the filter arguments (from, to, range, bucket, method, route,
 * path, status, user, company, tag, version, agent, session, trace, q,
 * unmatched).  0 ok, -1 with a reason in err.  Strings point into what
 * get returned. */
int otas__dash_filter_parse(otas__dash_get_fn get, void *ctx, int64_t now_us,
                            otas__dash_filter_t *f, char *err, size_t errlen);
/* The store-side part of f. */
void otas__dash_filter_scan(const otas__dash_filter_t *f,
                            otas__scan_query_t *q);
/* 1 when the filters the store cannot apply hold on the row (row->doc is
 * needed when otas__dash_filter_needs_doc). */
int otas__dash_filter_match(const otas__dash_filter_t *f,
                            const otas__scan_row_t *r);
int otas__dash_filter_needs_doc(const otas__dash_filter_t *f);
/* Back to URL arguments ("from=...&to=...&status=4xx"), for links. */
json_t *otas__dash_filter_json(const otas__dash_filter_t *f);

enum MHD_Result otas__api_dash_series(otas__server_t *s,
                                      struct MHD_Connection *c,
                                      otas__req_t *r);
enum MHD_Result otas__api_dash_errors(otas__server_t *s,
                                      struct MHD_Connection *c,
                                      otas__req_t *r);
enum MHD_Result otas__api_dash_search(otas__server_t *s,
                                      struct MHD_Connection *c,
                                      otas__req_t *r);
enum MHD_Result otas__api_dash_routes(otas__server_t *s,
                                      struct MHD_Connection *c,
                                      otas__req_t *r);
/* route->arg: "user" or "company" */
enum MHD_Result otas__api_dash_people(otas__server_t *s,
                                      struct MHD_Connection *c,
                                      otas__req_t *r);
enum MHD_Result otas__api_dash_agents(otas__server_t *s,
                                      struct MHD_Connection *c,
                                      otas__req_t *r);
enum MHD_Result otas__api_dash_export(otas__server_t *s,
                                      struct MHD_Connection *c,
                                      otas__req_t *r);

#endif
