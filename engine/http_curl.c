/*
 * http_curl.c -- libcurl behind otas__http_post().
 *
 * One easy handle per sender thread: libcurl keeps the connection to the
 * back end alive between batches, so a steady stream of batches costs one
 * TCP (and TLS) handshake.  CURLOPT_NOSIGNAL because the engine lives in a
 * host process whose signals are not ours (and libcurl's timeouts would
 * otherwise use SIGALRM for DNS).  curl_global_init is not thread-safe on
 * every libcurl build, so it runs exactly once under pthread_once.
 */
#include "http_curl.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct otas__http_s {
	CURL *h;
};

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static int g_curl_ok;

static void
curl_init_once(void)
{
	g_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

otas__http_t *
otas__http_new(void)
{
	otas__http_t *h;

	pthread_once(&g_curl_once, curl_init_once);
	if (!g_curl_ok)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->h = curl_easy_init();
	if (!h->h) {
		free(h);
		return NULL;
	}
	return h;
}

void
otas__http_free(otas__http_t *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->h);
	free(h);
}

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	otas__http_resp_t *r = ud;

	/* Answers are small JSON; refuse a runaway body rather than grow. */
	if (r->body.len + size * n > 1 << 20)
		return 0;
	otas__buf_append(&r->body, p, size * n);
	return r->body.oom ? 0 : size * n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
	otas__http_resp_t *r = ud;
	size_t len = size * n, k;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 &&
	    strncasecmp(p, name, sizeof(name) - 1) == 0) {
		p += sizeof(name) - 1;
		len -= sizeof(name) - 1;
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == '\r' || p[len - 1] == '\n' ||
		               p[len - 1] == ' '))
			len--;
		k = len < sizeof(r->retry_after) - 1 ? len
		                                      : sizeof(r->retry_after) - 1;
		memcpy(r->retry_after, p, k);
		r->retry_after[k] = '\0';
	}
	return size * n;
}

int
otas__http_post(otas__http_t *h, const char *url,
                const char *const *headers, size_t n_headers,
                const void *body, size_t len, long timeout_ms,
                otas__http_resp_t *resp)
{
	struct curl_slist *hl = NULL, *t;
	CURLcode rc;
	long code = 0;
	size_t i;
	char errbuf[CURL_ERROR_SIZE];

	resp->status = 0;
	resp->retry_after[0] = '\0';
	resp->error[0] = '\0';
	otas__buf_reset(&resp->body);

	for (i = 0; i < n_headers; i++) {
		t = curl_slist_append(hl, headers[i]);
		if (!t)
			goto oom;
		hl = t;
	}
	/* No "Expect: 100-continue" round trip for large batches. */
	t = curl_slist_append(hl, "Expect:");
	if (!t)
		goto oom;
	hl = t;

	curl_easy_reset(h->h);
	errbuf[0] = '\0';
	curl_easy_setopt(h->h, CURLOPT_URL, url);
	curl_easy_setopt(h->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->h, CURLOPT_POST, 1L);
	curl_easy_setopt(h->h, CURLOPT_POSTFIELDS, len ? body : "");
	curl_easy_setopt(h->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h->h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h->h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h->h, CURLOPT_CONNECTTIMEOUT_MS,
	                 timeout_ms < 5000 ? timeout_ms : 5000L);
	curl_easy_setopt(h->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->h, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(h->h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h->h, CURLOPT_USERAGENT, "otas-engine");
	/* Only http(s); never follow redirects with the key header. */
	curl_easy_setopt(h->h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h->h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	rc = curl_easy_perform(h->h);
	curl_slist_free_all(hl);
	hl = NULL;
	curl_easy_setopt(h->h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h->h, CURLOPT_ERRORBUFFER, NULL);
	if (rc != CURLE_OK) {
		/* curl's messages name the host, never our headers. */
		snprintf(resp->error, sizeof(resp->error), "%s",
		         errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(h->h, CURLINFO_RESPONSE_CODE, &code);
	resp->status = (int)code;
	return 0;
oom:
	curl_slist_free_all(hl);
	snprintf(resp->error, sizeof(resp->error), "out of memory");
	return -1;
}

char *
otas__url_join(const char *base, const char *path)
{
	size_t bl = strlen(base), pl;
	char *u;

	while (bl && base[bl - 1] == '/')
		bl--;
	while (*path == '/')
		path++;
	pl = strlen(path);
	u = malloc(bl + pl + 2);
	if (!u)
		return NULL;
	memcpy(u, base, bl);
	u[bl] = '/';
	memcpy(u + bl + 1, path, pl + 1);
	return u;
}
