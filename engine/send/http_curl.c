/*
 * http_curl.c -- libcurl behind otas__http_post().
 *
 * One multi handle per sender thread with up to OTAS__HTTP_SLOTS easy
 * handles ("slots"), one transfer each: libcurl keeps one connection per
 * slot alive between batches (CURLMOPT_MAX_HOST_CONNECTIONS = the slots in
 * use), so a steady stream of batches costs one TCP (and TLS) handshake per
 * slot.  otas__http_post() is a blocking transfer on slot 0;
 * otas__http_start()/otas__http_wait() keep several in flight.  CURLOPT_NOSIGNAL because the engine lives in a
 * host process whose signals are not ours (and libcurl's timeouts would
 * otherwise use SIGALRM for DNS).  curl_global_init is not thread-safe on
 * every libcurl build, so it runs exactly once under pthread_once.
 *
 * CA certificates: the wheel vendors Debian's libcurl, whose built-in CA
 * path (/etc/ssl/certs/ca-certificates.crt) does not exist on RHEL-family
 * machines.  Once per process the built-in path is checked; when it is
 * missing, the usual locations are probed and the first readable one is
 * set on every request (CURLOPT_CAINFO / CURLOPT_CAPATH).  OTAS_CA_BUNDLE
 * (engine option or environment variable) overrides both.
 */
#include "send/http_curl.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

/* One transfer slot: an easy handle (its own kept-alive connection, from
 * the multi handle's pool) and what one POST on it needs until it ends. */
typedef struct {
	CURL *e;
	struct curl_slist *hl;
	otas__http_resp_t *resp;
	char errbuf[CURL_ERROR_SIZE];
	int busy;      /* added to the multi handle */
	int done;      /* finished, not yet reported */
	CURLcode rc;
} slot_t;

struct otas__http_s {
	CURLM *m; /* drives every slot; owns the connection pool */
	slot_t s[OTAS__HTTP_SLOTS];
	atomic_int woken; /* otas__http_wakeup() since the last wait */
};

/* The calling thread's abort time (see otas__http_thread_abort). */
static _Thread_local const _Atomic int64_t *t_abort_at;

void
otas__http_thread_abort(const _Atomic int64_t *abort_at_ms)
{
	t_abort_at = abort_at_ms;
}

static int64_t
abort_at(void)
{
	return t_abort_at ? atomic_load(t_abort_at) : 0;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static int g_curl_ok;

static void
curl_init_once(void)
{
	g_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* ------------------------------------------------------------ CA bundle */

static pthread_mutex_t g_ca_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_ca_user[4096];      /* OTAS_CA_BUNDLE given to an engine */
static pthread_once_t g_ca_once = PTHREAD_ONCE_INIT;
static char g_ca_file[4096];      /* probed; "" = keep libcurl's default */
static char g_ca_dir[4096];

static const char *const ca_files[] = {
    "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Alpine, Arch */
    "/etc/pki/tls/certs/ca-bundle.crt",                  /* RHEL, Fedora, Amazon Linux */
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL 7+ */
    "/etc/ssl/ca-bundle.pem",                            /* openSUSE, SLES */
    "/etc/ssl/cert.pem",                                 /* Alpine, Arch, BSDs */
    "/etc/pki/tls/cacert.pem",
    NULL};
static const char *const ca_dirs[] = {"/etc/ssl/certs", "/etc/pki/tls/certs",
                                      NULL};

static int
readable_file(const char *p)
{
	struct stat st;

	return p && *p && stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(p, R_OK) == 0;
}

static int
readable_dir(const char *p)
{
	struct stat st;

	return p && *p && stat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
	       access(p, R_OK | X_OK) == 0;
}

static void
ca_probe_once(void)
{
	const char *def_file = NULL, *def_dir = NULL, *env;
	CURL *c;
	size_t i;

	g_ca_file[0] = g_ca_dir[0] = '\0';
	/* SSL_CERT_FILE / SSL_CERT_DIR: what OpenSSL users set by habit. */
	env = getenv("SSL_CERT_FILE");
	if (readable_file(env)) {
		snprintf(g_ca_file, sizeof g_ca_file, "%s", env);
		return;
	}
	c = curl_easy_init();
#if LIBCURL_VERSION_NUM >= 0x075400 /* 7.84: CURLINFO_CAINFO/CAPATH */
	if (c) {
		curl_easy_getinfo(c, CURLINFO_CAINFO, &def_file);
		curl_easy_getinfo(c, CURLINFO_CAPATH, &def_dir);
	}
#endif
	if (readable_file(def_file) || readable_dir(def_dir)) {
		if (c)
			curl_easy_cleanup(c);
		return; /* libcurl's own default works here */
	}
	if (c)
		curl_easy_cleanup(c);
	for (i = 0; ca_files[i]; i++)
		if (readable_file(ca_files[i])) {
			snprintf(g_ca_file, sizeof g_ca_file, "%s", ca_files[i]);
			break;
		}
	env = getenv("SSL_CERT_DIR");
	if (readable_dir(env))
		snprintf(g_ca_dir, sizeof g_ca_dir, "%s", env);
	else
		for (i = 0; ca_dirs[i]; i++)
			if (readable_dir(ca_dirs[i])) {
				snprintf(g_ca_dir, sizeof g_ca_dir, "%s",
				         ca_dirs[i]);
				break;
			}
}

void
otas__http_set_ca_bundle(const char *path)
{
	if (!path || !*path)
		return;
	pthread_mutex_lock(&g_ca_mu);
	snprintf(g_ca_user, sizeof g_ca_user, "%s", path);
	pthread_mutex_unlock(&g_ca_mu);
}

/* The user's bundle: an engine's OTAS_CA_BUNDLE, else the environment's
 * (authentication before any engine exists). */
static int
ca_user(char *out, size_t len)
{
	const char *env;

	pthread_mutex_lock(&g_ca_mu);
	snprintf(out, len, "%s", g_ca_user);
	pthread_mutex_unlock(&g_ca_mu);
	if (!out[0] && (env = getenv("OTAS_CA_BUNDLE")) && *env)
		snprintf(out, len, "%s", env);
	return out[0] != '\0';
}

void
otas__http_ca_in_use(char *file, size_t file_len, char *dir, size_t dir_len)
{
	char user[4096];

	if (ca_user(user, sizeof user)) {
		snprintf(file, file_len, "%s", user);
		snprintf(dir, dir_len, "%s", "");
		return;
	}
	pthread_once(&g_ca_once, ca_probe_once);
	snprintf(file, file_len, "%s", g_ca_file);
	snprintf(dir, dir_len, "%s", g_ca_dir);
}

static void
apply_ca(CURL *h)
{
	char file[4096], dir[4096];

	otas__http_ca_in_use(file, sizeof file, dir, sizeof dir);
	if (file[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, file); /* libcurl copies */
	if (dir[0])
		curl_easy_setopt(h, CURLOPT_CAPATH, dir);
	else if (file[0])
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL); /* only this bundle */
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
	h->m = curl_multi_init();
	h->s[0].e = curl_easy_init();
	if (!h->m || !h->s[0].e) {
		otas__http_free(h);
		return NULL;
	}
	/* One connection per transfer in flight, kept alive between them. */
	curl_multi_setopt(h->m, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
	return h;
}

int
otas__http_set_slots(otas__http_t *h, int n)
{
	if (n < 1 || n > OTAS__HTTP_SLOTS)
		return -1;
	curl_multi_setopt(h->m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n);
	return 0;
}

static void
slot_release(otas__http_t *h, slot_t *sl)
{
	if (sl->busy)
		curl_multi_remove_handle(h->m, sl->e);
	sl->busy = 0;
	curl_slist_free_all(sl->hl);
	sl->hl = NULL;
	if (sl->e) {
		curl_easy_setopt(sl->e, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(sl->e, CURLOPT_ERRORBUFFER, NULL);
	}
}

void
otas__http_free(otas__http_t *h)
{
	int i;

	if (!h)
		return;
	for (i = 0; i < OTAS__HTTP_SLOTS; i++) {
		slot_release(h, &h->s[i]);
		if (h->s[i].e)
			curl_easy_cleanup(h->s[i].e);
	}
	if (h->m)
		curl_multi_cleanup(h->m);
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
	static const char loc[] = "location:";

	if (len > sizeof(loc) - 1 && strncasecmp(p, loc, sizeof(loc) - 1) == 0) {
		char v[sizeof(r->location)], *hs, *at, *pe;

		p += sizeof(loc) - 1;
		len -= sizeof(loc) - 1;
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		/* Keep scheme://host/path only: userinfo, query and fragment
		 * may carry credentials. */
		for (k = 0; k < len && k < sizeof(v) - 1 && p[k] != '?' &&
		            p[k] != '#' && p[k] != '\r' && p[k] != '\n';
		     k++)
			v[k] = p[k];
		v[k] = '\0';
		hs = strstr(v, "://");
		hs = hs ? hs + 3 : v;
		pe = strchr(hs, '/');
		at = strchr(hs, '@');
		if (at && (!pe || at < pe))
			memmove(hs, at + 1, strlen(at + 1) + 1);
		snprintf(r->location, sizeof(r->location), "%s", v);
		return size * n;
	}
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

static void drive(otas__http_t *h);

/* A transfer ended (rc): fill in its answer and mark it done. */
static void
slot_finish(otas__http_t *h, slot_t *sl, CURLcode rc)
{
	long code = 0;

	if (rc == CURLE_OK) {
		curl_easy_getinfo(sl->e, CURLINFO_RESPONSE_CODE, &code);
		sl->resp->status = (int)code;
	} else {
		/* curl's messages name the host, never our headers. */
		snprintf(sl->resp->error, sizeof(sl->resp->error), "%.*s",
		         (int)sizeof(sl->resp->error) - 1,
		         rc == CURLE_ABORTED_BY_CALLBACK
		             ? "cut at the shutdown deadline"
		         : sl->errbuf[0] ? sl->errbuf
		                         : curl_easy_strerror(rc));
		sl->resp->status = 0;
	}
	sl->rc = rc;
	slot_release(h, sl);
	sl->done = 1;
}

int
otas__http_start(otas__http_t *h, int slot, const char *url,
                 const char *const *headers, size_t n_headers,
                 const void *body, size_t len, long timeout_ms,
                 otas__http_resp_t *resp)
{
	struct curl_slist *hl = NULL, *t;
	slot_t *sl;
	size_t i;
	int64_t stop = abort_at();

	if (slot < 0 || slot >= OTAS__HTTP_SLOTS || h->s[slot].busy ||
	    h->s[slot].done)
		return -1;
	sl = &h->s[slot];
	resp->status = 0;
	resp->retry_after[0] = '\0';
	resp->location[0] = '\0';
	resp->error[0] = '\0';
	otas__buf_reset(&resp->body);
	if (!sl->e && !(sl->e = curl_easy_init()))
		goto oom;
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

	curl_easy_reset(sl->e);
	sl->errbuf[0] = '\0';
	curl_easy_setopt(sl->e, CURLOPT_URL, url);
	curl_easy_setopt(sl->e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(sl->e, CURLOPT_POST, 1L);
	curl_easy_setopt(sl->e, CURLOPT_POSTFIELDS, len ? body : "");
	curl_easy_setopt(sl->e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(sl->e, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(sl->e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(sl->e, CURLOPT_CONNECTTIMEOUT_MS,
	                 timeout_ms < 5000 ? timeout_ms : 5000L);
	curl_easy_setopt(sl->e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(sl->e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(sl->e, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(sl->e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(sl->e, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(sl->e, CURLOPT_ERRORBUFFER, sl->errbuf);
	curl_easy_setopt(sl->e, CURLOPT_USERAGENT, "otas-engine");
	curl_easy_setopt(sl->e, CURLOPT_PRIVATE, (char *)sl);
	if (strncasecmp(url, "https:", 6) == 0)
		apply_ca(sl->e);
	/* Only http(s); never follow redirects with the key header. */
	curl_easy_setopt(sl->e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(sl->e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	/* A shutdown deadline shortens the transfer's own limits. */
	if (stop) {
		int64_t rest = stop - mono_ms();
		if (rest < 1)
			rest = 1;
		if (rest < timeout_ms) {
			curl_easy_setopt(sl->e, CURLOPT_TIMEOUT_MS, (long)rest);
			if (rest < 5000)
				curl_easy_setopt(sl->e, CURLOPT_CONNECTTIMEOUT_MS,
				                 (long)rest);
		}
	}
	sl->hl = hl;
	sl->resp = resp;
	if (curl_multi_add_handle(h->m, sl->e) != CURLM_OK) {
		sl->busy = 0;
		slot_finish(h, sl, CURLE_FAILED_INIT);
		return 0;
	}
	sl->busy = 1;
	if (stop && mono_ms() >= stop) {
		slot_finish(h, sl, CURLE_ABORTED_BY_CALLBACK);
		return 0;
	}
	/* Put the request on the wire now: the caller goes on to serialise
	 * the next batch (milliseconds at a deep queue) before it waits in
	 * otas__http_wait(), and the back end should be working meanwhile.
	 * A transfer this ends is reported there as usual. */
	drive(h);
	return 0;
oom:
	curl_slist_free_all(hl);
	snprintf(resp->error, sizeof(resp->error), "out of memory");
	return -1;
}

/* The first done slot (only `want` unless it is -1), reported once. */
static int
take_done(otas__http_t *h, int want)
{
	int i;

	for (i = 0; i < OTAS__HTTP_SLOTS; i++)
		if (h->s[i].done && (want < 0 || want == i)) {
			h->s[i].done = 0;
			return i;
		}
	return -1;
}

static void
drive(otas__http_t *h)
{
	CURLMsg *msg;
	int running, left;

	if (curl_multi_perform(h->m, &running) != CURLM_OK)
		return;
	while ((msg = curl_multi_info_read(h->m, &left)))
		if (msg->msg == CURLMSG_DONE) {
			char *p = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &p);
			if (p)
				slot_finish(h, (slot_t *)p, msg->data.result);
		}
}

/* Drive the transfers for up to wait_ms (0: once, no wait) until `want`
 * (or any slot, -1) ends; checks the thread's abort time every 50 ms: a
 * shutdown deadline cuts a transfer that a hanging back end keeps open,
 * whatever CURLOPT_TIMEOUT_MS says. */
static int
wait_slot(otas__http_t *h, int want, long wait_ms)
{
	int64_t until = mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	int i, r;

	for (;;) {
		int64_t stop, now;

		if ((r = take_done(h, want)) >= 0)
			return r;
		drive(h);
		if ((r = take_done(h, want)) >= 0)
			return r;
		now = mono_ms();
		stop = abort_at();
		if (stop && now >= stop) {
			for (i = 0; i < OTAS__HTTP_SLOTS; i++)
				if (h->s[i].busy)
					slot_finish(h, &h->s[i],
					            CURLE_ABORTED_BY_CALLBACK);
			return take_done(h, want);
		}
		if (!otas__http_busy(h) || now >= until)
			return -1;
		/* Woken (new work for the caller): the transfers go on. */
		if (atomic_exchange(&h->woken, 0))
			return -1;
		{
			int64_t w = until - now;
			if (w > 50)
				w = 50;
			if (curl_multi_poll(h->m, NULL, 0, (int)w, NULL) !=
			    CURLM_OK)
				return -1;
		}
	}
}

int
otas__http_wait(otas__http_t *h, long wait_ms)
{
	return wait_slot(h, -1, wait_ms);
}

int
otas__http_wakeup(otas__http_t *h)
{
#if LIBCURL_VERSION_NUM >= 0x074400 /* 7.68: curl_multi_wakeup */
	atomic_store(&h->woken, 1);
	return curl_multi_wakeup(h->m) == CURLM_OK ? 0 : -1;
#else
	(void)h;
	return -1;
#endif
}

int
otas__http_can_wake(void)
{
	return LIBCURL_VERSION_NUM >= 0x074400;
}

int
otas__http_busy(const otas__http_t *h)
{
	int i, n = 0;

	for (i = 0; i < OTAS__HTTP_SLOTS; i++)
		n += h->s[i].busy;
	return n;
}

int
otas__http_post(otas__http_t *h, const char *url,
                const char *const *headers, size_t n_headers,
                const void *body, size_t len, long timeout_ms,
                otas__http_resp_t *resp)
{
	if (otas__http_start(h, 0, url, headers, n_headers, body, len,
	                     timeout_ms, resp) != 0)
		return -1;
	while (wait_slot(h, 0, 1000) != 0)
		if (!h->s[0].busy && !h->s[0].done)
			return -1; /* cannot happen: slot 0 vanished */
	return h->s[0].rc == CURLE_OK ? 0 : -1;
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
