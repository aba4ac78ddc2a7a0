/*
 * auth.c -- otas_authenticate_key(): one POST to the authentication
 * endpoint.  What the request looks like and what the answer means are
 * protocol.c's (otas__protocol_auth_request(), otas__auth_parse(): pure,
 * fuzzed); this file only checks the arguments and does the exchange.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine.h"
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
