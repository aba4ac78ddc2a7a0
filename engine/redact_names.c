/*
 * redact_names.c -- sensitive names and URL scrubbing in free text (see
 * redact_names.h).
 *
 * Design note.  The built-in list is kept in normalised form (lower case,
 * no separators) in three small tables, searched linearly: a name is at
 * most a few dozen bytes and the tables hold about forty entries, so a
 * hash buys nothing at the sizes met.  Which table an entry is in is a
 * decision about over-redaction, made per name:
 *   - parts (substring): password, passwd, secret, apikey, privatekey,
 *     credential -- no common English or API word holds them by accident
 *     (`client_secret`, `db_password`, `x-amz-credential` are meant);
 *   - endings (suffix): token, sessionid, signature, cookie -- catches
 *     `access_token`, `xAuthToken`, `jsessionid`, `x-amz-signature`, but
 *     not `max_tokens`, `token_type` or `tokenizer`;
 *   - exact: the rest, notably `auth` (not `author`, `oauth_version`),
 *     `session` (not `sessions_count`), `csrf`, `sid`, `sig`, `pwd`.
 */
#include "redact_names.h"

#include <string.h>

#define NORM_CAP 256

static const char *const exact_names[] = {
    "auth",        "authorization", "credentials",   "mysqlpwd",
    "pwd",         "session",       "csrf",          "csrftoken",
    "xcsrftoken",  "xsrf",          "xsrftoken",     "csrfmiddlewaretoken",
    "xapikey",     "aiohttpsession", "connectsid",   "phpsessid",
    "symfony",     "usersession",   "sid",           "sig",
    "jwt",         "bearer",        "otp",           "passcode",
    "cvv",           "cvc",           "setcookie",
    "proxyauthorization",
};
static const char *const part_names[] = {
    "password", "passwd", "secret", "apikey", "privatekey", "credential",
};
static const char *const suffix_names[] = {
    "token", "sessionid", "signature", "cookie",
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

size_t
otas__name_norm(const char *name, size_t len, char *out, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		           c >= 0x80))
			continue;
		if (n + 1 < cap)
			out[n] = (char)c;
		n++;
	}
	if (cap)
		out[n < cap ? n : cap - 1] = '\0';
	return n;
}

static int
has_part(const char *s, size_t n, const char *p, size_t k)
{
	size_t i;

	if (k > n)
		return 0;
	for (i = 0; i + k <= n; i++)
		if (s[i] == p[0] && memcmp(s + i, p, k) == 0)
			return 1;
	return 0;
}

int
otas__name_default(const char *s, size_t n)
{
	size_t i, k;

	if (n == 0)
		return 0;
	for (i = 0; i < N(exact_names); i++)
		if (strlen(exact_names[i]) == n &&
		    memcmp(exact_names[i], s, n) == 0)
			return 1;
	for (i = 0; i < N(suffix_names); i++) {
		k = strlen(suffix_names[i]);
		if (k <= n && memcmp(s + n - k, suffix_names[i], k) == 0)
			return 1;
	}
	for (i = 0; i < N(part_names); i++)
		if (has_part(s, n, part_names[i], strlen(part_names[i])))
			return 1;
	return 0;
}

/* A name of the user's list, with '*' at either end for suffix, prefix
 * or substring. */
static int
user_match(const char *pat, const char *s, size_t n)
{
	char pn[NORM_CAP];
	size_t pl = strlen(pat), k;
	int lead = pl && pat[0] == '*', trail = pl > 1 && pat[pl - 1] == '*';

	k = otas__name_norm(pat, pl, pn, sizeof(pn));
	if (k == 0 || k >= sizeof(pn))
		return 0;
	if (lead && trail)
		return has_part(s, n, pn, k);
	if (lead)
		return k <= n && memcmp(s + n - k, pn, k) == 0;
	if (trail)
		return k <= n && memcmp(s, pn, k) == 0;
	return k == n && memcmp(s, pn, k) == 0;
}

static int
norm_match(const otas__nameset_t *ns, const char *name, size_t len)
{
	char nb[NORM_CAP];
	size_t n = otas__name_norm(name, len, nb, sizeof(nb)), i;

	if (n == 0)
		return 0;
	if (n >= sizeof(nb))
		n = sizeof(nb) - 1; /* parts and prefixes still seen */
	if (ns->defaults && otas__name_default(nb, n))
		return 1;
	for (i = 0; i < ns->n; i++)
		if (ns->names[i] && user_match(ns->names[i], nb, n))
			return 1;
	return 0;
}

int
otas__name_sensitive(const otas__nameset_t *ns, const char *name, size_t len)
{
	size_t i, start = 0;
	int split = 0;

	if (!ns || (!ns->defaults && !ns->n) || !name)
		return 0;
	if (norm_match(ns, name, len))
		return 1;
	for (i = 0; i <= len; i++) {
		if (i < len && name[i] != '[' && name[i] != ']' &&
		    name[i] != '.')
			continue;
		if (i < len)
			split = 1;
		if (split && i > start && norm_match(ns, name + start, i - start))
			return 1;
		start = i + 1;
	}
	return 0;
}

const char *
otas__host_strip(const char *host, size_t len, size_t *out_len)
{
	size_t i = len;

	while (i > 0 && host[i - 1] != '@')
		i--;
	*out_len = len - i;
	return host + i;
}

/* Bytes that end a URL's authority or query inside free text. */
static int
url_end(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' ||
	       c == '>' || c == '`' || c == '#';
}

static int
scheme_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

int
otas__scrub_text(const otas__nameset_t *ns, const char *in, size_t len,
                 otas__buf_t *out)
{
	size_t i = 0, copied = 0;

	if (!in)
		return 0;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		if (c == ':' && i + 2 < len && in[i + 1] == '/' &&
		    in[i + 2] == '/' && i > 0 &&
		    scheme_char((unsigned char)in[i - 1])) {
			/* Authority: up to '/', '?' or an end byte; userinfo
			 * is what precedes its last '@'. */
			size_t a = i + 3, e = a, at = 0;
			while (e < len && !url_end((unsigned char)in[e]) &&
			       in[e] != '/' && in[e] != '?') {
				if (in[e] == '@')
					at = e + 1;
				e++;
			}
			if (at) {
				otas__buf_append(out, in + copied, a - copied);
				copied = at;
			}
			i = e;
			continue;
		}
		if (c == '?') {
			size_t q = i + 1, e = q;
			while (e < len && !url_end((unsigned char)in[e]))
				e++;
			if (e > q && memchr(in + q, '=', e - q)) {
				otas__buf_append(out, in + copied, q - copied);
				otas__redact_urlencoded(NULL, ns, in + q, e - q,
				                        out);
				copied = e;
			}
			i = e;
			continue;
		}
		i++;
	}
	otas__buf_append(out, in + copied, len - copied);
	return 0;
}
