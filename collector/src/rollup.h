/*
 * rollup.h -- per-minute and per-hour aggregates of the events table,
 * kept by the writer in the transaction that inserts the events
 * (collector/README.md "Rollups").
 *
 * A rollup row counts the events of one project in one time bucket (a
 * minute, an hour or a day, aligned on the epoch) with one (method, route,
 * status, unmatched) key: requests, errors (status >= 400 or an
 * exception), latency sum/min/max and a latency histogram.  The key holds
 * the route column as stored (for a request no route matched that is its
 * path, so the unmatched-paths list of /stats/routes comes from rollups
 * too) and `unmatched` (route == path, as the dashboard decides it).
 *
 * The histogram has OTAS__HIST_BINS log-spaced bins: bin 0 is
 * [0, 0.01 ms), bin i >= 1 is [0.01 * 2^((i-1)/4), 0.01 * 2^(i/4)) ms,
 * the last one open-ended (about 12 h and up).  A percentile read from it
 * lies in the bin the exact (nearest-rank) percentile lies in, clamped to
 * the group's exact min and max: at most one bin wide from the exact
 * value, i.e. within 19 % (2^(1/4) - 1) of it, +0.01 ms.
 *
 * Stored form (both stores): the counts of bins 0..k where k is the last
 * non-empty bin; SQLite a BLOB of little-endian uint32, PostgreSQL an
 * int[] (otas__hist_text / otas__hist_parse_text).
 */
#ifndef OTAS_COLLECTOR_ROLLUP_H
#define OTAS_COLLECTOR_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store.h"

#define OTAS__HIST_BINS 128
#define OTAS__HIST_MIN_MS 0.01
#define OTAS__HIST_STEPS 4 /* bins per doubling */

#define OTAS__ROLLUP_MINUTE 60
#define OTAS__ROLLUP_HOUR 3600
#define OTAS__ROLLUP_DAY 86400

typedef struct {
	uint32_t c[OTAS__HIST_BINS];
	long long n;
	double min, max;        /* exact, of what was added (n > 0) */
} otas__hist_t;

int otas__hist_bin(double ms);
/* [lo, hi) of a bin in ms (the last bin's hi is its lo * 2^(1/4)). */
void otas__hist_bounds(int bin, double *lo, double *hi);
void otas__hist_add(otas__hist_t *h, double ms);
void otas__hist_merge(otas__hist_t *h, const uint32_t *c, size_t nbins,
                      long long n, double min, double max);
/* Nearest-rank percentile estimate (see above); NAN when empty. */
double otas__hist_pct(const otas__hist_t *h, double p);

/* Stored forms.  Blob: returns its length (4 * bins used). */
size_t otas__hist_blob(const uint32_t *c, unsigned char out[4 * OTAS__HIST_BINS]);
/* Decode a blob into c (zeroed first); bins beyond the blob are 0. */
void otas__hist_unblob(const void *blob, size_t len,
                       uint32_t c[OTAS__HIST_BINS]);
/* PostgreSQL int[] literal "{1,0,3}" appended to b. */
void otas__hist_text(otas__buf_t *b, const uint32_t *c);
/* Parse "{1,0,NULL,3}" into c (zeroed first). */
void otas__hist_parse_text(const char *s, uint32_t c[OTAS__HIST_BINS]);

/* One aggregated row. */
typedef struct {
	int64_t project;
	int64_t res_s;          /* OTAS__ROLLUP_MINUTE, _HOUR or _DAY */
	int64_t bucket_us;      /* start of the bucket */
	const char *method, *route; /* point into the events (build) or the
	                             * result row (reads) */
	long long status;
	int unmatched;
	long long n, errors;
	double lat_sum, lat_min, lat_max;
	uint32_t hist[OTAS__HIST_BINS];
	const char *tag;        /* the tag rollups (rollup_tags); else NULL */
} otas__rollup_row_t;

/* The bucket an event time falls in (floor, also before 1970). */
int64_t otas__rollup_bucket(int64_t ts_us, int64_t res_s);

/* Aggregate the events of a committed-to-be group that were inserted
 * (ev->inserted, so duplicates never count) into rows for both
 * resolutions, sorted by key (concurrent writers lock rows in one order).
 * *rows is malloc'd (free it); 0 ok. */
int otas__rollup_build(otas__store_job_t *batch, otas__rollup_row_t **rows,
                       size_t *n);
/* The tag rollups (`rollup_tags`): the same rows once per distinct tag of
 * each event (ev->tags), ->tag set, sorted by (project, res, bucket, tag,
 * method, route, status, unmatched).  An event without tags adds none. */
int otas__rollup_build_tags(otas__store_job_t *batch,
                            otas__rollup_row_t **rows, size_t *n);

/* A rollup read (store.h otas__store_rollup_each). */
typedef struct {
	int64_t res_s;
	int64_t since_us, until_us; /* bucket_us in [since, until) */
	const char *method, *route; /* NULL: any */
	long long status_min, status_max; /* 0: open */
	int unmatched_only;
	const char *tag;        /* non-NULL: the rows of events with this tag
	                         * (rollup_tags) */
} otas__rollup_query_t;
typedef int (*otas__rollup_cb)(void *arg, const otas__rollup_row_t *r);

/* Rows of one project, in any order; the same key may come more than
 * once (PostgreSQL keeps a row per writer thread): add them up.  Strings
 * are valid during the callback only; return nonzero to stop.  0 ok. */
int otas__store_rollup_each(otas__store_t *st, int64_t project_pk,
                            const otas__rollup_query_t *q,
                            otas__rollup_cb cb, void *arg);

/* People rollups: per hour and per day, for each user id (and the
 * company its events name, any one) and each company id in
 * metadata: requests, errors, first and last event time. */
typedef struct {
	int64_t res_s;          /* 3600 or 86400 */
	int64_t since_us, until_us; /* bucket_us in [since, until) */
	int company;            /* 0 users, 1 companies, 2 agents, ... */
	const char *id_prefix;  /* only ids starting with it; NULL: any */
	const char *tag;        /* non-NULL: the rows of events with this tag
	                         * (rollup_people_tags) */
} otas__people_query_t;

/* Agents' calls share the people table (kind "a"): one row per hour and
 * per day for each (agent id, agent session id or "", method, route),
 * its id those four joined by tabs (otas__people_agent_split). */
#define OTAS__PEOPLE_AGENT 2
/* Error groups of /errors (kind "e"): one row per hour and per day for
 * each group key (otas__error_key), `company` holding the event id of
 * its newest event, `n` its events. */
#define OTAS__PEOPLE_ERROR 3
/* Users and companies per route (kinds "ru", "rc"): one row per hour
 * and per day for each (route as stored, user id) / (route, company id),
 * its id the two joined by a tab; "ru" rows hold a company as "u" rows
 * do.  /stats/users and /stats/companies with a route filter read them
 * (the rows of one route: ids starting "route\t"). */
#define OTAS__PEOPLE_ROUTE_USER 4
#define OTAS__PEOPLE_ROUTE_COMPANY 5
/* The stored kind of a people row: "u", "c", "a", "e", "ru" or "rc". */
static inline const char *
otas__people_kind(int company)
{
	return company == OTAS__PEOPLE_ROUTE_COMPANY ? "rc"
	       : company == OTAS__PEOPLE_ROUTE_USER  ? "ru"
	       : company == OTAS__PEOPLE_ERROR       ? "e"
	       : company == OTAS__PEOPLE_AGENT       ? "a"
	       : company                             ? "c"
	                                             : "u";
}

/* (type, message, stack) of an event's first reported error: the
 * metadata.errors record, else the "Type: message" of `error`; all NULL
 * when none (malloc'd). */
void otas__doc_exception(const char *doc, size_t len, char **type,
                         char **msg, char **stack);
/* The /errors group key of an error event: "x\ttype\tmethod\troute"
 * (an exception; type "error" for is_error without one below 400), else
 * "s\tstatus\tmethod\troute"; an unmatched request's route is
 * "(unmatched)" and, in a status group, its method "*".  Appended to b. */
void otas__error_key(otas__buf_t *b, const char *type, long long status,
                     const char *method, const char *route, int unmatched);
typedef struct {
	const char *id, *company;
	long long n, errors;
	int64_t first_us, last_us;
} otas__people_row_t;
typedef int (*otas__people_cb)(void *arg, const otas__people_row_t *r);
int otas__store_people_each(otas__store_t *st, int64_t project_pk,
                            const otas__people_query_t *q,
                            otas__people_cb cb, void *arg);

/* One aggregated people row of a group (written by the stores). */
typedef struct {
	int64_t project, res_s, bucket_us;
	int company;            /* kind: 0 user ("u"), 1 company ("c"),
	                         * OTAS__PEOPLE_AGENT ("a"), ... */
	const char *id;
	const char *company_id; /* users (also per route): the largest
	                         * company id seen */
	long long n, errors;
	int64_t first_us, last_us;
	const char *tag;        /* rollup_people_tags; else NULL */
} otas__people_agg_t;
/* As otas__rollup_build, from ev->user_id / company_id. */
int otas__people_build(otas__store_job_t *batch, otas__people_agg_t **rows,
                       size_t *n);
/* The people rows once per distinct tag of each event (ev->tags), ->tag
 * set (`rollup_people_tags`), sorted by (project, res, bucket, tag, kind,
 * id). */
int otas__people_build_tags(otas__store_job_t *batch,
                            otas__people_agg_t **rows, size_t *n);

/* A stored event as ingest saw it, for a backfill of rollups that need
 * what only the ingest parser reads (the tag rollups): doc read by
 * otas__event_parse (a document missing a field the columns hold is
 * taken too), then the stored columns over it, ->inserted set.  0 ok
 * (otas__event_clear it after), -1 the doc does not parse (ev is
 * cleared). */
typedef struct {
	const char *doc;
	size_t doc_len;
	int64_t ts_us;
	const char *method, *path, *route, *event_id;
	const char *agent_id, *agent_session_id; /* NULL: none */
	long long status;
	int is_error;
	double latency_ms;
} otas__stored_event_t;
int otas__event_from_stored(otas__event_t *ev, const otas__stored_event_t *s);

/* A backfill's aggregation across chunks of events read in (project, ts)
 * order (the tag rollups' schema step): rows of each chunk (from
 * otas__rollup_build_tags / otas__people_build_tags) merged per key as
 * the stores' upserts merge them, kept (strings copied) until their
 * bucket has closed, then handed out once per key, so the step writes
 * every row once, with no conflict.  Zero-initialise. */
typedef struct {
	otas__rollup_row_t *r, *rdone;
	size_t nr, nrdone;
	otas__people_agg_t *p, *pdone;
	size_t np, npdone;
} otas__rollup_acc_t;
/* Merge sorted rows in (their strings are copied). */
void otas__rollup_acc_add(otas__rollup_acc_t *a, const otas__rollup_row_t *r,
                          size_t n);
void otas__rollup_acc_add_people(otas__rollup_acc_t *a,
                                 const otas__people_agg_t *p, size_t n);
/* Move the rows whose bucket closed before (project, ts_us) (every row:
 * all) to ->rdone / ->pdone; valid until the next call or _free. */
void otas__rollup_acc_take(otas__rollup_acc_t *a, int64_t project,
                           int64_t ts_us, int all);
void otas__rollup_acc_free(otas__rollup_acc_t *a);

#endif
