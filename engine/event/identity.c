/*
 * identity.c -- who called (see identity.h).
 *
 * Runs on the sender thread, on the raw request headers, before the event
 * serialiser redacts them: the Authorization header is read here and then
 * written as "[REDACTED]" by event.c, so a redacted header still yields
 * the user id while its value never leaves the process.
 *
 * User id.  The host's value wins (Django's authenticated user, or the
 * IDENTIFY_USER callable).  Otherwise the first header of
 * OTAS_AUTHORIZATION_HEADER_NAME (an ordered list) that carries a JWT gives
 * the claim OTAS_AUTHORIZATION_USER_ID_FIELD of its payload.  The token is
 * NOT verified: the id labels traffic, it grants nothing, and the app
 * verified (or rejected) the token itself.
 *
 * Client IP.  The socket peer (REMOTE_ADDR), unless the peer is inside
 * OTAS_TRUSTED_PROXIES.  Then the first present header of X-Forwarded-For,
 * X-Real-IP, CF-Connecting-IP, True-Client-IP names the client.  For
 * X-Forwarded-For each proxy appends the address it received from, so only
 * the right-most entries were written by our own proxies: we walk from the
 * right and take the first address that is not a trusted proxy.  Entries
 * to its left were supplied by the client and could be anything, so the
 * left-most entry is used only when every entry is a trusted proxy.  A
 * header that does not parse as an address is ignored.  Without trusted
 * proxies no header is believed: anyone can send X-Forwarded-For.
 */
#include "event/identity.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "config.h"
#include "common/json.h"

#define JWT_MAX 16384 /* a bigger Authorization value is not looked at */

typedef struct {
	int family;
	unsigned char addr[16];
	int bits;
} cidr_t;

struct otas__ident_s {
	char **auth_headers; /* lower-case, in order */
	size_t n_auth;
	char *claim;
	cidr_t *proxies;
	size_t n_proxies;
	char *tags_json;     /* ",\"tags\":[...]" or NULL */
	char *service_version;
};

/* ------------------------------------------------------------- base64 */

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int
otas__b64_decode_any(const char *s, size_t n, otas__buf_t *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t i;

	while (n && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	if (otas__buf_reserve(out, n / 4 * 3 + 3) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (char)((acc >> bits) & 0xFF);
		}
	}
	out->data[out->len] = '\0';
	return 0;
}

/* ---------------------------------------------------------------- JWT */

int
otas__jwt_user_id(const char *v, size_t n, const char *claim, char *out,
                  size_t outlen)
{
	otas__buf_t pl = OTAS__BUF_INIT;
	const char *p, *q, *end;
	json_t *doc = NULL, *c;
	int len = -1;

	if (!v || !claim || !out || outlen < 2 || n > JWT_MAX)
		return -1;
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n > 7 && strncasecmp(v, "bearer ", 7) == 0) {
		v += 7, n -= 7;
		while (n && *v == ' ')
			v++, n--;
	}
	end = v + n;
	p = memchr(v, '.', n);
	if (!p)
		return -1;
	p++;
	q = memchr(p, '.', (size_t)(end - p));
	if (!q || q == p)
		return -1;
	/* The payload's first byte is its first character's six bits and
	 * two more: '{' or blank space ('{', ' ', '\t', '\n', '\r') can only
	 * start with 'e', 'I', 'C' or 'D'; anything else is not an object
	 * (the check after decoding would say so), so it is not decoded. */
	if (*p != 'e' && *p != 'I' && *p != 'C' && *p != 'D')
		return -1;
	if (otas__b64_decode_any(p, (size_t)(q - p), &pl) != 0 || pl.oom)
		goto done;
	{
		/* Only an object can hold the claim: a payload whose first
		 * non-blank byte is not '{' (an opaque bearer token) is no
		 * JWT, known without a parse. */
		size_t k = 0;
		while (k < pl.len && (pl.data[k] == ' ' || pl.data[k] == '\t' ||
		                      pl.data[k] == '\n' || pl.data[k] == '\r'))
			k++;
		if (k >= pl.len || pl.data[k] != '{')
			goto done;
	}
	doc = json_loadb(pl.data, pl.len, 0, NULL);
	if (!json_is_object(doc))
		goto done;
	c = json_object_get(doc, claim);
	if (json_is_string(c)) {
		size_t sl = json_string_length(c);
		if (sl == 0 || sl >= outlen)
			goto done;
		memcpy(out, json_string_value(c), sl);
		out[sl] = '\0';
		len = (int)sl;
	} else if (json_is_integer(c)) {
		len = snprintf(out, outlen, "%" JSON_INTEGER_FORMAT,
		               json_integer_value(c));
	} else if (json_is_real(c)) {
		double d = json_real_value(c);
		/* 1e3 in a token is the user 1000, not "1000.0". */
		if (d == (double)(long long)d && d < 9.2e18 && d > -9.2e18)
			len = snprintf(out, outlen, "%lld", (long long)d);
		else
			len = snprintf(out, outlen, "%.17g", d);
	}
	if (len >= (int)outlen)
		len = -1;
done:
	json_decref(doc);
	otas__buf_free(&pl);
	return len;
}

/* --------------------------------------------------------- traceparent */

static int
hexrun(const char *s, size_t n, int *allzero)
{
	size_t i;

	*allzero = 1;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
		if (c != '0')
			*allzero = 0;
	}
	return 1;
}

int
otas__traceparent_valid(const char *s, size_t n)
{
	int z;

	/* version "-" trace-id(32) "-" parent-id(16) "-" flags(2) */
	if (n < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
		return 0;
	if (!hexrun(s, 2, &z) || (s[0] == 'f' && s[1] == 'f'))
		return 0;
	/* Version 00 has exactly this length; later versions may append
	 * fields after a dash (W3C trace-context, "future versions"). */
	if (n != 55 && (memcmp(s, "00", 2) == 0 || s[55] != '-'))
		return 0;
	if (!hexrun(s + 3, 32, &z) || z)
		return 0;
	if (!hexrun(s + 36, 16, &z) || z)
		return 0;
	return hexrun(s + 53, 2, &z);
}

/* ------------------------------------------------------------ addresses */

/* Dotted-quad IPv4 as inet_pton(AF_INET) reads it (four decimal parts of
 * 0-255, no leading zeros, nothing else), without the copy to a C string
 * and the call: 0 and the address, or -1 (then inet_pton decides). */
static int
ip4_quick(const char *s, size_t n, unsigned char a[4])
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;
		if (part) {
			if (i >= n || s[i] != '.')
				return -1;
			i++;
		}
		while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 4) {
			if (digits && v == 0)
				return -1; /* a leading zero */
			v = v * 10 + (unsigned)(s[i] - '0');
			digits++;
			i++;
		}
		if (!digits || v > 255)
			return -1;
		a[part] = (unsigned char)v;
	}
	return i == n ? 0 : -1;
}

int
otas__ip_parse(const char *s, size_t n, int *family, unsigned char addr[16])
{
	char buf[64];
	const char *c;

	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n && s[0] == '[') {
		/* [v6] or [v6]:port */
		c = memchr(s, ']', n);
		if (!c)
			return -1;
		n = (size_t)(c - s) - 1;
		s++;
	} else if ((c = memchr(s, ':', n)) && !memchr(c + 1, ':',
	                                              n - (size_t)(c - s) - 1)) {
		n = (size_t)(c - s); /* v4:port (a v6 has several colons) */
	}
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memset(addr, 0, 16);
	if (ip4_quick(s, n, addr) == 0) {
		*family = 4;
		return 0;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
		                                         0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(addr, mapped, 12) == 0) {
			memmove(addr, addr + 12, 4);
			memset(addr + 4, 0, 12);
			*family = 4;
		} else {
			*family = 6;
		}
		return 0;
	}
	return -1;
}

static int
cidr_parse(const char *s, cidr_t *out)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	char *end;
	long bits;

	if (otas__ip_parse(s, n, &out->family, out->addr) != 0)
		return -1;
	if (!slash) {
		out->bits = out->family == 4 ? 32 : 128;
		return 0;
	}
	if (!isdigit((unsigned char)slash[1]))
		return -1;
	bits = strtol(slash + 1, &end, 10);
	if (*end || bits < 0 || bits > (out->family == 4 ? 32 : 128))
		return -1;
	out->bits = (int)bits;
	return 0;
}

static int
cidr_has(const cidr_t *c, int family, const unsigned char *a)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (c->family != family)
		return 0;
	if (memcmp(c->addr, a, (size_t)full) != 0)
		return 0;
	if (rest) {
		unsigned char m = (unsigned char)(0xFF << (8 - rest));
		if ((c->addr[full] & m) != (a[full] & m))
			return 0;
	}
	return 1;
}

static int
trusted(const otas__ident_t *id, int family, const unsigned char *a)
{
	size_t i;

	for (i = 0; i < id->n_proxies; i++)
		if (cidr_has(&id->proxies[i], family, a))
			return 1;
	return 0;
}

/* Does header h (maybe a CGI name) have the lower-case name `want`? */
static int
hdr_is(const otas_header_t *h, int cgi, const char *want, size_t wn)
{
	const char *s = h->name;
	size_t n = h->name_len, i;

	/* The length first: most headers are not the one looked for. */
	if (n != wn + (cgi ? 5 : 0))
		return 0;
	if (cgi) {
		if (memcmp(s, "HTTP_", 5) != 0)
			return 0;
		s += 5;
		n -= 5;
	}
	for (i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)s[i]);
		if (cgi && c == '_')
			c = '-';
		if (c != want[i])
			return 0;
	}
	return 1;
}

static const otas_header_t *
find_hdr(const otas_capture_t *c, int cgi, const char *want)
{
	size_t i, wn = strlen(want);

	for (i = 0; i < c->n_req_headers; i++)
		if (hdr_is(&c->req_headers[i], cgi, want, wn))
			return &c->req_headers[i];
	return NULL;
}

/* An IPv4 address as inet_ntop writes it (dotted decimal, no leading
 * zeros), without its sprintf: one per event. */
static size_t
put_ip4(const unsigned char *a, char *buf)
{
	char *o = buf;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (i)
			*o++ = '.';
		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
	}
	*o = '\0';
	return (size_t)(o - buf);
}

static void
put_ip(int family, const unsigned char *a, char *out, size_t outlen)
{
	char buf[INET6_ADDRSTRLEN];
	size_t n;

	if (family == 4)
		n = put_ip4(a, buf);
	else if (inet_ntop(AF_INET6, a, buf, sizeof(buf)))
		n = strlen(buf);
	else
		buf[0] = '\0', n = 0;
	if (!outlen)
		return;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, buf, n);
	out[n] = '\0';
}

/* X-Forwarded-For: right-most entry that is not a trusted proxy. */
static int
from_xff(const otas__ident_t *id, const char *v, size_t n, char *out,
         size_t outlen)
{
	unsigned char a[16], last[16];
	int fam, last_fam = 0;
	size_t e = n, b;

	while (e > 0) {
		b = e;
		while (b > 0 && v[b - 1] != ',')
			b--;
		if (otas__ip_parse(v + b, e - b, &fam, a) != 0)
			return last_fam ? (put_ip(last_fam, last, out, outlen), 0)
			                : -1;
		if (!trusted(id, fam, a)) {
			put_ip(fam, a, out, outlen);
			return 0;
		}
		memcpy(last, a, 16);
		last_fam = fam;
		e = b ? b - 1 : 0;
	}
	if (!last_fam)
		return -1;
	put_ip(last_fam, last, out, outlen); /* all trusted: the left-most */
	return 0;
}

void
otas__client_ip(const otas__ident_t *id, const otas_capture_t *c, int cgi,
                char *out, size_t outlen)
{
	static const char *const hdrs[] = {"x-forwarded-for", "x-real-ip",
	                                   "cf-connecting-ip",
	                                   "true-client-ip"};
	unsigned char a[16];
	int fam;
	size_t i;

	/* With no trusted proxies the answer is a function of the peer
	 * address alone, and a server's peer is mostly the same one (its
	 * reverse proxy, a load balancer): the last answer of this thread,
	 * kept. */
	static _Thread_local struct {
		size_t in_len, outlen;
		char in[64];
		char out[INET6_ADDRSTRLEN + 64];
	} memo;
	int memoable = (!id || !id->n_proxies) &&
	               c->remote_addr_len < sizeof(memo.in) &&
	               outlen <= sizeof(memo.out);

	out[0] = '\0';
	if (!c->remote_addr_len) {
		return;
	}
	if (memoable && memo.outlen == outlen &&
	    memo.in_len == c->remote_addr_len &&
	    memcmp(memo.in, c->remote_addr, c->remote_addr_len) == 0) {
		memcpy(out, memo.out, outlen);
		return;
	}
	if (otas__ip_parse(c->remote_addr, c->remote_addr_len, &fam, a) != 0) {
		/* Not an address (a unix socket path...): keep it as given. */
		snprintf(out, outlen, "%.*s", (int)c->remote_addr_len,
		         c->remote_addr);
	} else {
		put_ip(fam, a, out, outlen);
		if (id && id->n_proxies && trusted(id, fam, a))
			goto proxied;
	}
	if (memoable) {
		memcpy(memo.in, c->remote_addr, c->remote_addr_len);
		memo.in_len = c->remote_addr_len;
		memcpy(memo.out, out, outlen);
		memo.outlen = outlen;
	}
	return;
proxied:
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		const otas_header_t *h = find_hdr(c, cgi, hdrs[i]);
		unsigned char b[16];
		int bf;

		if (!h || !h->value_len)
			continue;
		if (i == 0) {
			if (from_xff(id, h->value, h->value_len, out, outlen) == 0)
				return;
			continue;
		}
		if (otas__ip_parse(h->value, h->value_len, &bf, b) == 0) {
			put_ip(bf, b, out, outlen);
			return;
		}
	}
}

/* ------------------------------------------------------------ lifetime */


int
otas__ident_validate(const otas_config_t *cfg, char *err, size_t errlen)
{
	char **items;
	size_t n, i;
	cidr_t c;
	int rc = 0;

	items = otas__list_split(cfg->trusted_proxies, &n, OTAS__FOLD_KEEP);
	if (!items)
		return -1;
	for (i = 0; i < n && rc == 0; i++)
		if (cidr_parse(items[i], &c) != 0) {
			snprintf(err, errlen,
			         "OTAS_TRUSTED_PROXIES: \"%s\" is not an IP "
			         "address or CIDR block: give a comma-separated "
			         "list such as 10.0.0.0/8,::1",
			         items[i]);
			rc = -1;
		}
	otas__names_free(items);
	if (rc == 0 && !cfg->auth_user_field[0]) {
		snprintf(err, errlen,
		         "OTAS_AUTHORIZATION_USER_ID_FIELD is empty: name the "
		         "JWT claim that holds the user id, such as sub");
		rc = -1;
	}
	return rc;
}

otas__ident_t *
otas__ident_new(const otas_config_t *cfg)
{
	otas__ident_t *id = calloc(1, sizeof(*id));
	char **items = NULL;
	size_t n, i;
	otas__buf_t b = OTAS__BUF_INIT;

	if (!id)
		return NULL;
	id->auth_headers = otas__names_split(cfg->auth_header_names,
	                                     &id->n_auth);
	id->claim = strdup(cfg->auth_user_field);
	items = otas__list_split(cfg->trusted_proxies, &n, OTAS__FOLD_KEEP);
	if (!id->auth_headers || !id->claim || !items)
		goto fail;
	id->proxies = calloc(n ? n : 1, sizeof(cidr_t));
	if (!id->proxies)
		goto fail;
	for (i = 0; i < n; i++)
		if (cidr_parse(items[i], &id->proxies[id->n_proxies]) == 0)
			id->n_proxies++;
	otas__names_free(items);
	items = otas__list_split(cfg->tags, &n, OTAS__FOLD_KEEP);
	if (!items)
		goto fail;
	if (n) {
		otas__buf_puts(&b, ",\"tags\":[");
		for (i = 0; i < n; i++) {
			if (i)
				otas__buf_putc(&b, ',');
			otas__json_str(&b, items[i], strlen(items[i]));
		}
		otas__buf_putc(&b, ']');
		if (b.oom)
			goto fail;
		id->tags_json = otas__buf_steal(&b, NULL);
	}
	otas__names_free(items);
	items = NULL;
	if (cfg->service_version[0] &&
	    !(id->service_version = strdup(cfg->service_version)))
		goto fail;
	return id;
fail:
	otas__buf_free(&b);
	otas__names_free(items);
	otas__ident_free(id);
	return NULL;
}

void
otas__ident_free(otas__ident_t *id)
{
	if (!id)
		return;
	otas__names_free(id->auth_headers);
	free(id->claim);
	free(id->proxies);
	free(id->tags_json);
	free(id->service_version);
	free(id);
}

/* ------------------------------------------------------------ metadata */

void
otas__ident_write_metadata(const otas__ident_t *id, const otas_capture_t *c,
                           int cgi, otas__buf_t *out)
{
	char ip[INET6_ADDRSTRLEN + 64], uid[256];
	const otas_header_t *h;
	size_t i;

	otas__client_ip(id, c, cgi, ip, sizeof(ip));
	otas__buf_puts(out, ",\"client_ip\":");
	otas__json_str(out, ip, strlen(ip));
	if (c->user_id) {
		otas__buf_puts(out, ",\"user_id\":");
		otas__json_str(out, c->user_id, c->user_id_len);
	} else if (id) {
		for (i = 0; i < id->n_auth; i++) {
			int n;
			h = find_hdr(c, cgi, id->auth_headers[i]);
			if (!h)
				continue;
			n = otas__jwt_user_id(h->value, h->value_len, id->claim,
			                      uid, sizeof(uid));
			if (n > 0) {
				otas__buf_puts(out, ",\"user_id\":");
				otas__json_str(out, uid, (size_t)n);
				break;
			}
		}
	}
	h = find_hdr(c, cgi, "traceparent");
	if (h && otas__traceparent_valid(h->value, h->value_len)) {
		otas__buf_puts(out, ",\"traceparent\":");
		otas__json_str(out, h->value, 55);
	}
	if (id && id->tags_json)
		otas__buf_puts(out, id->tags_json);
	if (id && id->service_version) {
		otas__buf_puts(out, ",\"service_version\":");
		otas__json_str(out, id->service_version,
		                strlen(id->service_version));
	}
}
