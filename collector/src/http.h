/*
 * http.h -- the collector's HTTP server: libmicrohttpd, the route table,
 * authentication on the headers, and the limits that keep a hostile client
 * from taking the collector down.
 *
 * A route is one row of a table (routes.c): method, path (exact or
 * prefix), what key it needs, its concurrency class and a handler.
 * http.c matches the request line against the table as soon as the
 * headers are in, checks the header block's size and the key there, and
 * refuses (401/404/405/413/431/503) before a byte of the body is read.
 * Only then does it read the body, within a per-request limit and a
 * budget shared by every request in flight.
 *
 * Handlers never queue an MHD response themselves: otas__reply_*() store
 * it in the request and http.c queues it.  So a handler may run on a
 * thread that is not MHD's (the query class runs on a small pool of its
 * own, so /healthz and ingest never wait behind a long query), and a
 * handler may defer its answer (otas__http_defer_wait) until another
 * thread calls otas__http_wake (the store's writer after a COMMIT).
 *
 * Threads: MHD's pool runs the matching, authentication, body reading and
 * the ingest/health/static handlers; the query pool runs query handlers;
 * the reaper thread closes connections whose header block is overdue.
 */
#ifndef OTAS_COLLECTOR_HTTP_H
#define OTAS_COLLECTOR_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

#include "store.h"
#include "common/buf.h"

typedef struct {
	const char *listen;          /* "HOST:PORT"; port 0 picks one */
	int platform_compat;         /* behave like the platform's Brain */
	size_t max_body_bytes;       /* request body as sent */
	size_t max_decoded_bytes;    /* body after gunzip */
	size_t max_batch_events;
	size_t max_header_bytes;     /* request line + header block */
	size_t max_inflight_body_bytes; /* all request bodies being read */
	unsigned max_connections;
	unsigned max_connections_per_ip; /* 0: no limit */
	unsigned timeout_s;          /* idle/slow client timeout */
	unsigned header_timeout_s;   /* whole header block deadline */
	unsigned threads;
	unsigned query_threads;      /* pool for the query class */
	unsigned max_queued_queries; /* waiting for a query thread; then 503 */
	int log_requests;            /* one info line per request on stderr */
	const char *dashboard_dir;   /* serve the dashboard from disk */
	const char *platform_jwt_secret; /* OTAS_JWT_SECRET, may be NULL */
	const char *tls_cert_file;   /* PEM; both or neither */
	const char *tls_key_file;
} otas__server_opts_t;

typedef struct otas__server otas__server_t;

/* Start serving.  NULL with a one-line reason in err on failure. */
otas__server_t *otas__server_start(otas__store_t *st,
                                   const otas__server_opts_t *o, char *err,
                                   size_t errlen);
/* The port actually bound. */
unsigned otas__server_port(otas__server_t *srv);
/* Stop accepting, wait up to drain_ms for requests in flight, stop the
 * store's writer (draining it), then stop serving. */
void otas__server_stop(otas__server_t *srv, int drain_ms);

/* ---- for the handlers (routes.c, api_*.c) ---------------------------- */

/* What a route needs before its handler runs. */
typedef enum {
	OTAS__AUTH_NONE = 0,
	OTAS__AUTH_INGEST,  /* X-OTAS-SDK-KEY of an ingest key */
	OTAS__AUTH_READ,    /* X-OTAS-SDK-KEY of a read key */
} otas__auth_t;

/* Which threads run the handler, and what it competes with. */
typedef enum {
	OTAS__CLASS_HEALTH = 0, /* MHD thread, nothing else */
	OTAS__CLASS_INGEST,     /* MHD thread; may defer to the writer */
	OTAS__CLASS_QUERY,      /* query pool; 503 + Retry-After when full */
	OTAS__CLASS_STATIC,     /* MHD thread (dashboard files) */
} otas__route_class_t;

enum {
	OTAS__ROUTE_PREFIX = 1,     /* path is a prefix; r->rest is the tail */
	OTAS__ROUTE_BODY = 2,       /* read a request body */
	OTAS__ROUTE_NOT_COMPAT = 4, /* absent with --platform-compat */
	OTAS__ROUTE_ERR_STATUS = 8, /* auth errors as {"status":0,...} */
	OTAS__ROUTE_COMPAT_ONLY = 16, /* only with --platform-compat */
};

typedef struct otas__req otas__req_t;
typedef struct otas__route otas__route_t;
typedef enum MHD_Result (*otas__handler_t)(otas__server_t *s,
                                           struct MHD_Connection *c,
                                           otas__req_t *r);

struct otas__route {
	const char *method;   /* "GET" (HEAD too), "POST" or "*" */
	const char *path;
	otas__auth_t auth;
	otas__route_class_t cls;
	unsigned flags;
	otas__handler_t handler;
	const void *arg;      /* the handler's, e.g. an entity kind */
	/* Optional: runs on the headers, after the key check and before
	 * the body is read; an answer it stores refuses the request. */
	otas__handler_t pre;
};

/* The table and its length (routes.c).  First match wins. */
extern const otas__route_t otas__routes[];
extern const size_t otas__n_routes;

/* The first row whose path and method match (HEAD matches GET, "*" any;
 * compat: --platform-compat).  A row whose path matches with another
 * method makes the answer 405, not 404, and narrows the search to rows
 * with that same path.  NULL with *status 404 or 405 when none; else
 * *rest is the url after the row's path. */
const otas__route_t *otas__route_match(const otas__route_t *routes,
                                       size_t n_routes, int compat,
                                       const char *url, const char *method,
                                       const char **rest, unsigned *status);

/* The server's state that handlers read. */
struct otas__server {
	struct MHD_Daemon *d;
	otas__store_t *st;
	otas__server_opts_t o;
	unsigned char db_secret[32];
	unsigned port;
	struct otas__http_priv *priv; /* http.c's own */
};

/* One request (MHD's con_cls).  Handler state goes in ctx, freed by
 * ctx_free when the request ends. */
struct otas__req {
	const otas__route_t *route;
	const char *rest;           /* path after a prefix route's path */
	otas__project_t proj;       /* the key's project (auth != NONE) */
	otas__buf_t body;           /* the body as sent */
	void *ctx;
	void (*ctx_free)(void *ctx);
	otas__server_t *srv;
	/* private to http.c */
	double start;
	char method[16];
	char path[256];
	unsigned status;
	struct MHD_Response *resp;
	const char *retry_after;
	size_t reserved;            /* counted against the body budget */
	int refused;                /* answered before the body */
	int too_big;
	int over_budget;
	int answered;               /* a response was queued */
	int deferred;               /* waiting for otas__http_wake */
	otas__handler_t then;       /* deferred: run after the wake */
	int woken, is_suspended;    /* guarded by the server's susp_lock */
	struct MHD_Connection *conn;
	struct otas__req *qnext;    /* query pool queue */
	struct otas__conn *cs;
};

/* Answers: store a response in r for http.c to queue.  All return MHD_YES
 * (MHD_NO when out of memory, which closes the connection). */
enum MHD_Result otas__reply(otas__req_t *r, unsigned status,
                            const char *ctype, void *data, size_t len,
                            enum MHD_ResponseMemoryMode mode);
/* resp is taken; headers the server adds to every answer are added. */
enum MHD_Result otas__reply_response(otas__req_t *r, unsigned status,
                                     struct MHD_Response *resp);
/* body is stolen. */
enum MHD_Result otas__reply_json(otas__req_t *r, unsigned status,
                                 json_t *body);
enum MHD_Result otas__reply_json_retry(otas__req_t *r, unsigned status,
                                       json_t *body, const char *retry_after);
/* {"status":0,"status_description":desc} -- the log endpoints' errors. */
enum MHD_Result otas__reply_status(otas__req_t *r, unsigned status,
                                   const char *desc);
/* {"error": msg} -- authentication and query API errors. */
enum MHD_Result otas__reply_error(otas__req_t *r, unsigned status,
                                  const char *msg);
/* 503 shutting_down / 429 overloaded, with Retry-After. */
enum MHD_Result otas__reply_shed(otas__req_t *r, int stopping);

/* Request header / query argument (NULL when absent or empty for args). */
const char *otas__http_header(struct MHD_Connection *c, const char *name);
const char *otas__http_arg(struct MHD_Connection *c, const char *name);

/* Check the request's key for `need`; 0 with r->proj filled, else an
 * answer is stored in r and -1 returned.  Until keys carry roles any valid
 * key is both ingest and read. */
int otas__http_authorize(otas__server_t *s, struct MHD_Connection *c,
                         otas__req_t *r, otas__auth_t need);

/* Deferring an answer.  Call otas__http_defer_begin before handing r to
 * another thread, which calls otas__http_wake(r) when done (any thread,
 * once).  Then return otas__http_defer_wait(): it suspends the connection
 * unless the wake already happened, and `then` runs on an MHD thread to
 * answer after the wake. */
void otas__http_defer_begin(otas__req_t *r, otas__handler_t then);
enum MHD_Result otas__http_defer_wait(otas__server_t *s,
                                      struct MHD_Connection *c,
                                      otas__req_t *r);
void otas__http_wake(otas__req_t *r);
/* The hand-over failed after otas__http_defer_begin: answer now. */
void otas__http_defer_cancel(otas__req_t *r);

/* Escape s for a log line: control bytes, DEL, backslash and quote as
 * \xNN / \\ / \", at most outlen-1 bytes (truncated with "...").
 * Returns out. */
char *otas__log_escape(const char *s, char *out, size_t outlen);

/* Dashboard files compiled into the binary (dashboard_assets.c, made by
 * collector/embed.cmake). */
typedef struct {
	const char *name;
	const unsigned char *data;
	size_t len;
} otas__asset_t;
extern const otas__asset_t otas__assets[];
extern const size_t otas__n_assets;

#endif
