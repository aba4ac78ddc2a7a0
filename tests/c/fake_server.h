/*
 * fake_server.h -- a tiny loopback HTTP/1.1 server for the sender tests.
 *
 * It produces the faults the real collector cannot (scripted statuses,
 * Retry-After, connection resets, slow replies) and records every request
 * it gets (method, path, headers, gunzipped body).  By default it answers
 * like the OTAS back end: authentication OK, batches 200 with `accepted`
 * = the number of events, single events 201.  One thread per connection;
 * listens on 127.0.0.1 on a port the kernel picks.
 */
#ifndef OTAS_FAKE_SERVER_H
#define OTAS_FAKE_SERVER_H

#include <stddef.h>

typedef struct {
	int status;            /* 0 = default answer */
	char headers[256];     /* extra header lines, each ending \r\n */
	char body[512];        /* "" = default body for the status */
	int delay_ms;          /* wait before answering */
	int reset;             /* close the connection without answering */
} fs_reply_t;

typedef struct {
	char method[16];
	char path[256];
	char *headers;         /* "name: value\n" lines, names lower-case */
	char *body;            /* gunzipped when Content-Encoding: gzip */
	size_t body_len;
	int n_events;          /* batch: events in the body; single: 1 */
} fs_req_t;

typedef struct fs_s fs_t;

fs_t *fs_start(void);
void fs_stop(fs_t *fs);
int fs_port(fs_t *fs);
/* "http://127.0.0.1:<port>" */
const char *fs_url(fs_t *fs);

/* Replies for the next log requests (batch or single), in order. */
void fs_script(fs_t *fs, const fs_reply_t *r, size_t n);
/* Answer every batch request 404 (platform without batch endpoint). */
void fs_no_batch(fs_t *fs, int on);
/* Status for authentication requests (0 = 200 OK); n times, then OK. */
void fs_auth_status(fs_t *fs, int status, int times);
/* Status for every log request from now on (0 = default). */
void fs_log_status(fs_t *fs, int status);

size_t fs_count(fs_t *fs);       /* log requests recorded */
size_t fs_events(fs_t *fs);      /* events in them */
size_t fs_auth_count(fs_t *fs);
/* Copy of request i (log requests only); caller frees with fs_req_free. */
int fs_get(fs_t *fs, size_t i, fs_req_t *out);
void fs_req_free(fs_req_t *r);
/* Value of header `name` (lower-case) in r, malloc'd, or NULL. */
char *fs_header(const fs_req_t *r, const char *name);
/* Wait until at least n events arrived; 1 ok, 0 on timeout. */
int fs_wait_events(fs_t *fs, size_t n, int timeout_ms);

#endif
