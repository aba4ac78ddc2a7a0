/*
 * auth.c -- otas_authenticate_key(): one POST to the authentication
 * endpoint, answer parsed by otas__auth_parse() (pure, fuzzed).
 *
 * The platform's answers come in two spellings (status/response and
 * Status/Response) and two error shapes ({"error": ...} and
 * {"status": 0, "status_description": ...}); all are accepted.  Messages
 * are built from the platform's own words and never include the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "engine.h"
#include "send/http_curl.h"

static json_t *
get2(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	return v ? v : json_object_get(o, b);
}

static void
copy_str(char *dst, size_t n, json_t *v)
{
	if (json_is_string(v))
		snprintf(dst, n, "%s", json_string_value(v));
}

otas_auth_status_t
otas__auth_parse(int st, const char *body, size_t len,
                 otas_auth_result_t *out)
{
	json_t *o = NULL, *v, *resp, *proj;
	char reason[200] = "";

	out->http_status = st;
	out->project_id[0] = out->project_name[0] = '\0';
	out->project_description[0] = '\0';
	out->key_expires_at = 0;
	if (body && len)
		o = json_loadb(body, len, 0, NULL);
	if (json_is_object(o)) {
		v = json_object_get(o, "error");
		if (!json_is_string(v))
			v = get2(o, "status_description", "Status_description");
		copy_str(reason, sizeof(reason), v);
	}
	if (st >= 200 && st < 300) {
		json_t *stv = json_is_object(o) ? get2(o, "status", "Status")
		                                : NULL;
		if (!json_is_object(o)) {
			out->status = OTAS_AUTH_UNREACHABLE;
			snprintf(out->message, sizeof(out->message),
			         "authentication answer (HTTP %d) is not JSON",
			         st);
			goto done;
		}
		if (!(json_is_integer(stv) && json_integer_value(stv) == 1) &&
		    !(json_is_string(stv) &&
		      strcmp(json_string_value(stv), "1") == 0)) {
			out->status = OTAS_AUTH_INVALID_KEY;
			snprintf(out->message, sizeof(out->message),
			         "authentication failed: %s",
			         reason[0] ? reason : "status is not 1");
			goto done;
		}
		resp = get2(o, "response", "Response");
		proj = json_is_object(resp) ? get2(resp, "project", "Project")
		                            : NULL;
		v = json_is_object(proj) ? json_object_get(proj, "id") : NULL;
		if (json_is_string(v) && json_string_length(v) > 0 &&
		    json_string_length(v) < sizeof(out->project_id)) {
			copy_str(out->project_id, sizeof(out->project_id), v);
		} else if (json_is_integer(v)) {
			snprintf(out->project_id, sizeof(out->project_id),
			         "%lld", (long long)json_integer_value(v));
		} else {
			out->status = OTAS_AUTH_UNREACHABLE;
			snprintf(out->message, sizeof(out->message),
			         "authentication answer has no project id");
			goto done;
		}
		copy_str(out->project_name, sizeof(out->project_name),
		         json_object_get(proj, "name"));
		copy_str(out->project_description,
		         sizeof(out->project_description),
		         json_object_get(proj, "description"));
		/* otas-collector announces the key's expiry (the platform
		 * does not); absent means unknown. */
		v = json_is_object(resp) ? json_object_get(resp, "key") : NULL;
		v = json_is_object(v) ? json_object_get(v, "expires_at_unix")
		                      : NULL;
		out->key_expires_at =
		    json_is_integer(v) ? (long long)json_integer_value(v) : 0;
		/* otas-collector lists the body encodings it decodes
		 * (response.accept_encoding); the platform lists none, so
		 * zstd is used only toward a back end that said so. */
		v = json_is_object(resp) ? json_object_get(resp,
		                                           "accept_encoding")
		                         : NULL;
		if (json_is_array(v)) {
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e) {
				if (json_is_string(e) &&
				    strcasecmp(json_string_value(e), "zstd") == 0)
					out->accepts_zstd = 1;
			}
		}
		out->status = OTAS_AUTH_OK;
		snprintf(out->message, sizeof(out->message), "authenticated");
	} else if (st == 401 || st == 403) {
		out->status = OTAS_AUTH_INVALID_KEY;
		snprintf(out->message, sizeof(out->message), "%s",
		         reason[0] ? reason : "the SDK key was refused");
	} else {
		out->status = OTAS_AUTH_UNREACHABLE;
		snprintf(out->message, sizeof(out->message),
		         "authentication endpoint answered HTTP %d%s%s", st,
		         reason[0] ? ": " : "", reason);
	}
done:
	json_decref(o);
	return out->status;
}

otas_auth_status_t
otas__authenticate_key(const char *auth_url, const char *sdk_key,
                       int timeout_ms, otas_auth_result_t *out)
{
	otas_auth_result_t dummy;
	otas__http_t *h = NULL;
	otas__http_resp_t resp;
	char *url = NULL, *hdr = NULL;
	const char *hv[1];
	size_t kl;

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
	kl = strlen(sdk_key);
	if (strpbrk(sdk_key, "\r\n")) {
		out->status = OTAS_AUTH_CONFIG;
		snprintf(out->message, sizeof(out->message),
		         "OTAS_SDK_KEY contains a line break");
		return out->status;
	}
	url = otas__url_join(auth_url,
	                     "api/project/v1/sdk/backend/key/authenticate/");
	hdr = malloc(kl + 32);
	h = otas__http_new();
	if (!url || !hdr || !h) {
		out->status = OTAS_AUTH_UNREACHABLE;
		snprintf(out->message, sizeof(out->message), "out of memory");
		goto done;
	}
	snprintf(hdr, kl + 32, "X-OTAS-SDK-KEY: %s", sdk_key);
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
		memset(hdr, 0, kl + 32);
		free(hdr);
	}
	free(url);
	otas__http_free(h);
	otas__buf_free(&resp.body);
	return out->status;
}
