/*
 * routes.h -- the collector's HTTP server (libmicrohttpd).
 *
 * MHD runs a pool of threads on epoll; a handler may block on the store's
 * writer (group commit) for the length of one commit, so the pool is sized
 * for the number of requests we want to commit together, not for cores.
 */
#ifndef OTAS_COLLECTOR_ROUTES_H
#define OTAS_COLLECTOR_ROUTES_H

#include <stddef.h>

#include "store.h"

typedef struct {
	const char *listen;          /* "HOST:PORT"; port 0 picks one */
	int platform_compat;         /* behave like the platform's Brain */
	size_t max_body_bytes;       /* request body as sent */
	size_t max_decoded_bytes;    /* body after gunzip */
	size_t max_batch_events;
	size_t max_header_bytes;
	unsigned max_connections;
	unsigned timeout_s;          /* idle/slow client timeout */
	unsigned threads;
	int log_requests;            /* one info line per request on stderr */
	const char *dashboard_dir;   /* serve the dashboard from disk */
	const char *platform_jwt_secret; /* OTAS_JWT_SECRET, may be NULL */
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
