/*
 * auth.c -- otas_authenticate_key(): one POST to the authentication
 * endpoint, and the state the last answer leaves (auth.h).  What the request looks like and what the answer means are
 * protocol.c's (otas__protocol_auth_request(), otas__auth_parse(): pure,
 * fuzzed); this file only checks the arguments and does the exchange.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "send/auth.h"
#include "send/http_curl.h"
#include "send/protocol.h"

otas_auth_status_t
otas__authenticate_key(const char *auth_url, const char *sdk_key,
                       int timeout_ms, otas_auth_result_t *out)
{
	otas_auth_result_t dummy;
	otas__http_t *h = NULL;
	otas__http_resp_t resp;
	char *url = NULL, *hdr = NULL;
	const char *hv[1];

	if (!out)
		out = &dummy;
	memset(out, 0, sizeof(*out));
	memset(&resp, 0, sizeof(resp));
	if (!sdk_key || !*sdk_key) {
		out->status = OTAS_AUTH_CONFIG;
		snprintf(out->message, sizeof(out->message),
		         "OTAS_SDK_KEY is not set");
		return out->status;
	}
	if (!auth_url || (strncmp(auth_url, "http://", 7) != 0 &&
	                  strncmp(auth_url, "https://", 8) != 0)) {
		out->status = OTAS_AUTH_CONFIG;
		snprintf(out->message, sizeof(out->message),
		         "the authentication URL must start with http:// or "
		         "https://");
		return out->status;
	}
	if (strpbrk(sdk_key, "\r\n")) {
		out->status = OTAS_AUTH_CONFIG;
		snprintf(out->message, sizeof(out->message),
		         "OTAS_SDK_KEY contains a line break");
		return out->status;
	}
	h = otas__http_new();
	if (otas__protocol_auth_request(auth_url, sdk_key, &url, &hdr) != 0 ||
	    !h) {
		out->status = OTAS_AUTH_UNREACHABLE;
		snprintf(out->message, sizeof(out->message), "out of memory");
		goto done;
	}
	hv[0] = hdr;
	if (otas__http_post(h, url, hv, 1, "", 0,
	                    timeout_ms > 0 ? timeout_ms : 10000, &resp) != 0) {
		out->status = OTAS_AUTH_UNREACHABLE;
		snprintf(out->message, sizeof(out->message),
		         "cannot reach the authentication endpoint: %s",
		         resp.error);
		goto done;
	}
	otas__auth_parse(resp.status, resp.body.data, resp.body.len, out);
done:
	if (hdr) {
		memset(hdr, 0, strlen(hdr));
		free(hdr);
	}
	free(url);
	otas__http_free(h);
	otas__buf_free(&resp.body);
	return out->status;
}

int
otas__auth_init(otas__auth_t *a, int state)
{
	memset(a, 0, sizeof(*a));
	a->state = state;
	return pthread_mutex_init(&a->mu, NULL) == 0 ? 0 : -1;
}

void
otas__auth_destroy(otas__auth_t *a)
{
	pthread_mutex_destroy(&a->mu);
}

void
otas__auth_set(otas__auth_t *a, const otas_auth_result_t *r)
{
	pthread_mutex_lock(&a->mu);
	if (r->status == OTAS_AUTH_OK) {
		snprintf(a->project_id, sizeof(a->project_id), "%s",
		         r->project_id);
		a->state = OTAS__AUTH_OK;
		atomic_store_explicit(&a->accepts_zstd, r->accepts_zstd,
		                      memory_order_relaxed);
	} else if (r->status == OTAS_AUTH_INVALID_KEY) {
		a->state = OTAS__AUTH_INVALID;
	}
	pthread_mutex_unlock(&a->mu);
}

void
otas__auth_project(otas__auth_t *a, char *out, size_t n)
{
	pthread_mutex_lock(&a->mu);
	snprintf(out, n, "%s", a->project_id);
	pthread_mutex_unlock(&a->mu);
}

int
otas__auth_ok(otas__auth_t *a)
{
	int ok;

	pthread_mutex_lock(&a->mu);
	ok = a->state == OTAS__AUTH_OK;
	pthread_mutex_unlock(&a->mu);
	return ok;
}

void
otas__auth_fork_lock(otas__auth_t *a)
{
	pthread_mutex_lock(&a->mu);
}

void
otas__auth_fork_unlock(otas__auth_t *a)
{
	pthread_mutex_unlock(&a->mu);
}
