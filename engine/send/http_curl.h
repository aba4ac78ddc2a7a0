/*
 * http_curl.h -- one kept-alive HTTP client for the sender (and one-shot
 * use by authentication).  The only engine file that includes curl.h.
 */
#ifndef OTAS_HTTP_CURL_H
#define OTAS_HTTP_CURL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct otas__http_s otas__http_t;

typedef struct {
	int status;           /* HTTP status, 0 when no answer */
	char retry_after[64]; /* Retry-After header value, "" when absent */
	char location[256];   /* Location of a 3xx, scheme://host/path only */
	char error[160];      /* transport error text when status == 0 */
	otas__buf_t body;     /* answer body (caller frees) */
} otas__http_resp_t;

/* NULL when out of memory or libcurl cannot start. */
otas__http_t *otas__http_new(void);
void otas__http_free(otas__http_t *h);

/* POST body to url with the given extra header lines ("Name: value"),
 * waiting at most timeout_ms.  resp->body is reset first.  Returns 0 when
 * an HTTP answer arrived (any status), -1 on transport failure (error
 * set, status 0). */
int otas__http_post(otas__http_t *h, const char *url,
                    const char *const *headers, size_t n_headers,
                    const void *body, size_t len, long timeout_ms,
                    otas__http_resp_t *resp);

/* Transfers in flight at once (OTAS_MAX_IN_FLIGHT's maximum). */
#define OTAS__HTTP_SLOTS 8

/* Allow n (1..OTAS__HTTP_SLOTS) connections to the back end, one per
 * transfer in flight.  0, or -1 when out of range. */
int otas__http_set_slots(otas__http_t *h, int n);

/* Start a POST on transfer slot `slot` without waiting for it (body,
 * headers' strings, url and resp must stay valid until it ends; the
 * header list is copied).  0, or -1 when the slot is busy or out of
 * memory (resp->error set).  otas__http_post() uses slot 0: do not mix
 * the two on one slot. */
int otas__http_start(otas__http_t *h, int slot, const char *url,
                     const char *const *headers, size_t n_headers,
                     const void *body, size_t len, long timeout_ms,
                     otas__http_resp_t *resp);

/* Drive started transfers for at most wait_ms (0: no wait).  Returns the
 * slot of one that ended (its resp filled in: status, or status 0 and
 * error), reported once, or -1 when none did in time. */
int otas__http_wait(otas__http_t *h, long wait_ms);

/* Transfers in flight. */
int otas__http_busy(const otas__http_t *h);

/* From any thread: make an otas__http_wait() in progress (or the next
 * one) return at once, -1, so its caller can look at new work.  Safe to
 * call while h is alive; 0, or -1 when libcurl cannot (before 7.68). */
int otas__http_wakeup(otas__http_t *h);
/* 1 when otas__http_wakeup() works with this libcurl. */
int otas__http_can_wake(void);

/* CA certificates for HTTPS, process-wide (libcurl's default is the path
 * compiled into the libcurl that was linked, which a vendored libcurl may
 * not find on this machine).  path: a PEM bundle (OTAS_CA_BUNDLE, already
 * checked readable by otas_config_check), or NULL/"" for the system's,
 * found by probing the Debian, RHEL, SUSE and Alpine locations.  The last
 * engine created with a bundle wins. */
void otas__http_set_ca_bundle(const char *path);

/* The CA file and directory a handle will use ("" when libcurl's default
 * is kept), for logs and tests. */
void otas__http_ca_in_use(char *file, size_t file_len, char *dir,
                          size_t dir_len);
/* Every later transfer on the calling thread ends (error, status 0) once
 * the monotonic clock passes *abort_at_ms (when non-zero); NULL clears.
 * The sender thread points it at the engine's shutdown deadline. */
void otas__http_thread_abort(const _Atomic int64_t *abort_at_ms);

/* Join a base URL and a path with exactly one '/' between them; malloc'd,
 * NULL on oom. */
char *otas__url_join(const char *base, const char *path);

#endif
