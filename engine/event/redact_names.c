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
#include "event/redact_names.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NORM_CAP 256

typedef struct {
	const char *s;
	size_t n;
} nm_t;
#define NM(x) {x, sizeof(x) - 1}

static const nm_t exact_names[] = {
    NM("auth"),       NM("authorization"),  NM("credentials"),
    NM("mysqlpwd"),   NM("pwd"),            NM("session"),
    NM("csrf"),       NM("csrftoken"),      NM("xcsrftoken"),
    NM("xsrf"),       NM("xsrftoken"),      NM("csrfmiddlewaretoken"),
    NM("xapikey"),    NM("aiohttpsession"), NM("connectsid"),
    NM("phpsessid"),  NM("symfony"),        NM("usersession"),
    NM("sid"),        NM("sig"),            NM("jwt"),
    NM("bearer"),     NM("otp"),            NM("passcode"),
    NM("cvv"),        NM("cvc"),            NM("setcookie"),
    NM("proxyauthorization"),
};
/* parts: password, passwd, secret, apikey, privatekey, credential (one
 * scan in otas__name_default) */
static const nm_t suffix_names[] = {
    NM("token"), NM("sessionid"), NM("signature"), NM("cookie"),
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Per byte: what the normalisation keeps (the byte lower-cased), 0 for
 * a dropped byte; and which dropped bytes separate segments. */
static const unsigned char norm_keep[256] = {
#define K8(b) b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7
    ['0'] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
    ['A'] = K8('a'), K8('i'), K8('q'), 'y', 'z',
    ['a'] = K8('a'), K8('i'), K8('q'), 'y', 'z',
    [0x80] = K8(0x80), K8(0x88), K8(0x90), K8(0x98), K8(0xa0), K8(0xa8),
    K8(0xb0), K8(0xb8), K8(0xc0), K8(0xc8), K8(0xd0), K8(0xd8), K8(0xe0),
    K8(0xe8), K8(0xf0), K8(0xf8),
#undef K8
};
static const unsigned char norm_sepb[256] = {['['] = 1, [']'] = 1, ['.'] = 1};

/* otas__name_norm, noting in *sep whether a segment separator ('[', ']'
 * or '.') was dropped on the way. */
static inline size_t
norm_sep(const char *name, size_t len, char *out, size_t cap, int *sep)
{
	const unsigned char *u = (const unsigned char *)name;
	size_t i, n = 0;
	int sp = 0;

	if (len < cap) { /* the common case: no cut to watch for */
		for (i = 0; i < len; i++) {
			unsigned char c = norm_keep[u[i]];
			out[n] = (char)c;
			n += c != 0;
			sp |= norm_sepb[u[i]];
		}
		out[n] = '\0';
		*sep = sp;
		return n;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = norm_keep[u[i]];
		if (!c) {
			sp |= norm_sepb[u[i]];
			continue;
		}
		if (n + 1 < cap)
			out[n] = (char)c;
		n++;
	}
	if (cap)
		out[n < cap ? n : cap - 1] = '\0';
	*sep = sp;
	return n;
}

size_t
otas__name_norm(const char *name, size_t len, char *out, size_t cap)
{
	int sep;

	return norm_sep(name, len, out, cap, &sep);
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

static uint32_t
fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* The exact names in an open-addressing table (index + 1 per slot),
 * built once: one probe instead of a walk of the list per name. */
#define EXACT_SLOTS 128
static unsigned char exact_tab[EXACT_SLOTS];
static pthread_once_t exact_once = PTHREAD_ONCE_INIT;

static void
exact_build(void)
{
	size_t i;

	for (i = 0; i < N(exact_names); i++) {
		uint32_t h = fnv1a(exact_names[i].s, exact_names[i].n);
		while (exact_tab[h & (EXACT_SLOTS - 1)])
			h++;
		exact_tab[h & (EXACT_SLOTS - 1)] = (unsigned char)(i + 1);
	}
}

static int
exact_default(const char *s, size_t n)
{
	uint32_t h = fnv1a(s, n);
	unsigned k;

	pthread_once(&exact_once, exact_build);
	while ((k = exact_tab[h & (EXACT_SLOTS - 1)]) != 0) {
		const nm_t *e = &exact_names[k - 1];
		if (e->n == n && memcmp(e->s, s, n) == 0)
			return 1;
		h++;
	}
	return 0;
}

int
otas__name_default(const char *s, size_t n)
{
	size_t i, k;

	if (n < 3)
		return 0;
	if (exact_default(s, n))
		return 1;
	for (i = 0; i < N(suffix_names); i++) {
		k = suffix_names[i].n;
		if (k <= n && s[n - k] == suffix_names[i].s[0] &&
		    memcmp(s + n - k, suffix_names[i].s, k) == 0)
			return 1;
	}
	if (n < 6) /* the shortest part */
		return 0;
	/* One pass for all parts: only where a part's first letter is. */
	for (i = 0; i + 6 <= n; i++) {
		const char *p = s + i;
		size_t r = n - i;
		switch (p[0]) {
		case 'p':
			if ((r >= 6 && memcmp(p, "passwd", 6) == 0) ||
			    (r >= 8 && memcmp(p, "password", 8) == 0) ||
			    (r >= 10 && memcmp(p, "privatekey", 10) == 0))
				return 1;
			break;
		case 's':
			if (memcmp(p, "secret", 6) == 0)
				return 1;
			break;
		case 'a':
			if (memcmp(p, "apikey", 6) == 0)
				return 1;
			break;
		case 'c':
			if (r >= 10 && memcmp(p, "credential", 10) == 0)
				return 1;
			break;
		}
	}
	return 0;
}

/* A name of the user's list, normalised: '*' at the start, the end or
 * both made it a suffix, prefix or substring pattern. */
enum { PAT_NONE, PAT_EXACT, PAT_SUFFIX, PAT_PREFIX, PAT_PART };

typedef struct {
	const char *s;       /* normalised bytes */
	size_t k;            /* their length, 0 < k < NORM_CAP */
	unsigned char kind;  /* PAT_* */
	unsigned char dflt;  /* exact, and the built-in list holds it: any
	                      * name it matches the defaults match too */
} pat_t;

struct otas__namepats_s {
	uint64_t id;   /* unique per prepared set, never 0: the memo's key */
	size_t n;
	size_t n_own;  /* p[0..n_own): those the built-in list does not
	                * cover (dflt 0), first; the rest after */
	pat_t *p;
};

/* pat (NUL-terminated) into *out, its bytes into buf (NORM_CAP). */
static void
pat_compile(const char *pat, char *buf, pat_t *out)
{
	size_t pl = strlen(pat), k;
	int lead = pl && pat[0] == '*', trail = pl > 1 && pat[pl - 1] == '*';

	k = otas__name_norm(pat, pl, buf, NORM_CAP);
	out->s = buf;
	out->k = k;
	out->dflt = 0;
	if (k == 0 || k >= NORM_CAP)
		out->kind = PAT_NONE;
	else if (lead && trail)
		out->kind = PAT_PART;
	else if (lead)
		out->kind = PAT_SUFFIX;
	else if (trail)
		out->kind = PAT_PREFIX;
	else {
		out->kind = PAT_EXACT;
		out->dflt = (unsigned char)otas__name_default(buf, k);
	}
}

static int
pat_match(const pat_t *p, const char *s, size_t n)
{
	size_t k = p->k;

	switch (p->kind) {
	case PAT_EXACT:
		return k == n && memcmp(s, p->s, k) == 0;
	case PAT_SUFFIX:
		return k <= n && memcmp(s + n - k, p->s, k) == 0;
	case PAT_PREFIX:
		return k <= n && memcmp(s, p->s, k) == 0;
	case PAT_PART:
		return has_part(s, n, p->s, k);
	}
	return 0;
}

static uint64_t set_ids;

int
otas__nameset_prepare(otas__nameset_t *ns)
{
	struct otas__namepats_s *ps;
	char buf[NORM_CAP];
	size_t i, j, bytes = 0, m = 0;
	char *b;

	if (!ns || ns->pats || (ns->n && !ns->names))
		return 0;
	/* Prepared even with no names of its own (the defaults only): the
	 * prepared set is what the memo of answers keys on. */
	for (i = 0; i < ns->n; i++)
		if (ns->names[i])
			bytes += strlen(ns->names[i]) + 1;
	ps = malloc(sizeof(*ps) + ns->n * sizeof(pat_t) + bytes);
	if (!ps)
		return -1;
	ps->id = __atomic_add_fetch(&set_ids, 1, __ATOMIC_RELAXED);
	ps->p = (pat_t *)(ps + 1);
	b = (char *)(ps->p + ns->n);
	for (i = 0; i < ns->n; i++) {
		pat_t t;
		if (!ns->names[i])
			continue;
		pat_compile(ns->names[i], buf, &t);
		if (t.kind == PAT_NONE)
			continue;
		for (j = 0; j < m; j++) /* `apikey,api_key`: once */
			if (ps->p[j].kind == t.kind && ps->p[j].k == t.k &&
			    memcmp(ps->p[j].s, t.s, t.k) == 0)
				break;
		if (j < m)
			continue;
		memcpy(b, buf, t.k);
		t.s = b;
		b += t.k;
		ps->p[m++] = t;
	}
	ps->n = m;
	/* Patterns the defaults cover go last: with the defaults on they
	 * are never tried (norm_match). */
	ps->n_own = 0;
	for (i = 0; i < m; i++)
		if (!ps->p[i].dflt) {
			pat_t t = ps->p[i];
			memmove(ps->p + ps->n_own + 1, ps->p + ps->n_own,
			        (i - ps->n_own) * sizeof(pat_t));
			ps->p[ps->n_own++] = t;
		}
	ns->pats = ps;
	return 0;
}

void
otas__nameset_release(otas__nameset_t *ns)
{
	if (!ns)
		return;
	free(ns->pats);
	ns->pats = NULL;
}

/* The normalised name s (n > 0) against the set. */
static int
norm_match(const otas__nameset_t *ns, const char *s, size_t n)
{
	size_t i;

	if (ns->defaults && otas__name_default(s, n))
		return 1;
	if (ns->pats) {
		const pat_t *p = ns->pats->p;
		size_t m = ns->defaults ? ns->pats->n_own : ns->pats->n;
		for (i = 0; i < m; i++)
			if (pat_match(&p[i], s, n))
				return 1;
		return 0;
	}
	for (i = 0; i < ns->n; i++) {
		char pb[NORM_CAP];
		pat_t t;
		if (!ns->names[i])
			continue;
		pat_compile(ns->names[i], pb, &t);
		if (pat_match(&t, s, n))
			return 1;
	}
	return 0;
}

/* A raw name (or segment): normalised, then matched. */
static int
raw_match(const otas__nameset_t *ns, const char *name, size_t len)
{
	char nb[NORM_CAP];
	size_t n = otas__name_norm(name, len, nb, sizeof(nb));

	if (n == 0)
		return 0;
	if (n >= sizeof(nb))
		n = sizeof(nb) - 1; /* parts and prefixes still seen */
	return norm_match(ns, nb, n);
}

static int
is_sep(char c)
{
	return c == '[' || c == ']' || c == '.';
}

/* Whether otas__name_norm keeps the byte. */
static int
norm_keeps(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c >= 0x80;
}

/* The answer for a raw name, uncached. */
static int
name_sensitive(const otas__nameset_t *ns, const char *name, size_t len)
{
	char nb[NORM_CAP];
	size_t i, start = 0, n, off = 0, seg0 = 0;
	int sep;

	/* The name is normalised once: separators are dropped by the
	 * normalisation, so each segment's normalised form is a slice of
	 * the whole name's (unless that was cut at NORM_CAP). */
	n = norm_sep(name, len, nb, sizeof(nb), &sep);
	if (n == 0)
		return 0;
	if (norm_match(ns, nb, n < sizeof(nb) ? n : sizeof(nb) - 1))
		return 1;
	if (!sep)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i < len && !is_sep(name[i])) {
			if (norm_keeps((unsigned char)name[i]))
				off++;
			continue;
		}
		if (i > start) {
			if (n >= sizeof(nb)) {
				if (raw_match(ns, name + start, i - start))
					return 1;
			} else if (off > seg0 &&
			           norm_match(ns, nb + seg0, off - seg0))
				return 1;
		}
		start = i + 1;
		seg0 = off;
	}
	return 0;
}

/* A memo of recent answers, per thread (the sender asks about the same
 * few dozen header names and JSON keys event after event): direct-mapped
 * on a hash of the raw name, keyed by the prepared set, the defaults flag
 * and the name's bytes (zero-padded words, compared whole), so an entry
 * is only ever the answer name_sensitive gave for exactly that question.
 * A hit costs a hash of a few words and a compare instead of the
 * normalisation and every list.  Names longer than MEMO_MAX and sets
 * never prepared are not memoised. */
#define MEMO_SLOTS (1 << OTAS__NAME_MEMO_LOG2) /* two ways per hash */
#define MEMO_MAX OTAS__MEMO_NAME_MAX

typedef otas__name_memo_t memo_t;

static __thread memo_t memo[MEMO_SLOTS];

otas__name_memo_t *
otas__name_memo(const otas__nameset_t *ns, uint64_t *tag)
{
	if (!ns || (!ns->defaults && !ns->n) || !ns->pats)
		return NULL;
	/* len <= MEMO_MAX < 64: the length and the set in one word. */
	*tag = (ns->pats->id * 2 + (ns->defaults != 0)) * 64;
	return memo;
}

__attribute__((noinline)) int
otas__name_memo_fill(const otas__nameset_t *ns, const char *name,
                     size_t len, otas__name_memo_t *e, uint64_t key)
{
	int ans = name_sensitive(ns, name, len);

	/* The older of the pair makes way: way 0 is the newer. */
	e[1] = e[0];
	e->key = key;
	(void)otas__memo_key(name, len, e->w);
	e->ans = (uint64_t)ans;
	return ans;
}

__attribute__((noinline)) int
otas__name_memo_ask_long(otas__name_memo_t *m, uint64_t tag,
                         const otas__nameset_t *ns, const char *name,
                         size_t len)
{
	uint64_t w[MEMO_MAX / 8], key = tag + len;
	memo_t *e = &m[otas__memo_slot(otas__memo_key(name, len, w),
	                               OTAS__NAME_MEMO_LOG2) & ~(size_t)1];

	if (e[0].key == key && otas__memo_same(e[0].w, w))
		return (int)e[0].ans;
	if (e[1].key == key && otas__memo_same(e[1].w, w))
		return (int)e[1].ans;
	return otas__name_memo_fill(ns, name, len, e, key);
}

/* A name of up to 16 bytes (nearly
 * every key) is two words: otas__memo_key's four are then w0, w1, w1, w1
 * (w1 = 0 below 8 bytes), and its hash is computed from the two. */
int
otas__name_memo_ask(otas__name_memo_t *m, uint64_t tag,
                    const otas__nameset_t *ns, const char *name, size_t len)
{
	const unsigned char *u = (const unsigned char *)name;
	uint64_t w0, w1 = 0, h, key = tag + len;
	otas__name_memo_t *e;

	if (len > 16)
		return otas__name_memo_ask_long(m, tag, ns, name, len);
	if (len >= 8) {
		w0 = otas__memo_load8(u);
		w1 = otas__memo_load8(u + len - 8);
	} else if (len >= 4) {
		uint32_t a, b;
		memcpy(&a, u, 4);
		memcpy(&b, u + len - 4, 4);
		w0 = (uint64_t)a | ((uint64_t)b << 32);
	} else {
		w0 = (uint64_t)u[0] | ((uint64_t)u[len >> 1] << 8) |
		     ((uint64_t)u[len - 1] << 16);
	}
	/* otas__memo_key's hash of (w0, w1, w1, w1). */
	h = (w0 ^ len) * 0x9E3779B97F4A7C15ull;
	h ^= (w1 + w1) * 0xff51afd7ed558ccdull;
	h ^= w1 * 0xc4ceb9fe1a85ec53ull;
	e = &m[otas__memo_slot(h, OTAS__NAME_MEMO_LOG2) & ~(size_t)1];
	/* Same length: the entry's w[2], w[3] are its w[1] too. */
	if (e[0].key == key && e[0].w[0] == w0 && e[0].w[1] == w1)
		return (int)e[0].ans;
	if (e[1].key == key && e[1].w[0] == w0 && e[1].w[1] == w1)
		return (int)e[1].ans;
	return otas__name_memo_fill(ns, name, len, e, key);
}

int
otas__name_sensitive(const otas__nameset_t *ns, const char *name, size_t len)
{
	uint64_t tag;
	memo_t *m;

	if (!ns || (!ns->defaults && !ns->n) || !name)
		return 0;
	m = otas__name_memo(ns, &tag);
	if (!m || len - 1 >= MEMO_MAX) /* len 0 wraps */
		return name_sensitive(ns, name, len);
	return otas__name_memo_ask(m, tag, ns, name, len);
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

/* Pass 1: drop the userinfo of every `scheme://userinfo@host`.  After
 * an authority the scan goes on from its host, so that a URL nested at
 * its end (`a://b@c://d@e`) is seen too. */
static void
strip_userinfo(const char *in, size_t len, otas__buf_t *out)
{
	size_t i = 0, copied = 0;

	while (i + 2 < len) {
		const char *c = memchr(in + i, ':', len - i - 2);
		size_t a, e, at = 0;
		if (!c)
			break;
		i = (size_t)(c - in);
		if (in[i + 1] != '/' || in[i + 2] != '/' || i == 0 ||
		    !scheme_char((unsigned char)in[i - 1])) {
			i++;
			continue;
		}
		a = e = i + 3;
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
		i = at ? at : a;
	}
	otas__buf_append(out, in + copied, len - copied);
}

/* Pass 2: redact each query: from a '?' to the next '?' or end byte (a
 * URL nested in a parameter's value has its own query redacted). */
static void
redact_queries(const otas__nameset_t *ns, const char *in, size_t len,
               otas__buf_t *out)
{
	size_t i = 0, copied = 0;

	while (i < len) {
		const char *qm = memchr(in + i, '?', len - i);
		size_t q, e;
		if (!qm)
			break;
		q = e = (size_t)(qm - in) + 1;
		while (e < len && !url_end((unsigned char)in[e]) && in[e] != '?')
			e++;
		if (e > q && memchr(in + q, '=', e - q)) {
			otas__buf_append(out, in + copied, q - copied);
			otas__redact_urlencoded(NULL, ns, in + q, e - q, out);
			copied = e;
		}
		i = e;
	}
	otas__buf_append(out, in + copied, len - copied);
}

/* The two passes until nothing changes: removing userinfo can join a
 * parameter name, redacting a value can remove the '/' that ended an
 * authority.  A text that has not settled after a few rounds (only built
 * to do so) is replaced whole. */
#define SCRUB_ROUNDS 8

int
otas__scrub_text(const otas__nameset_t *ns, const char *in, size_t len,
                 otas__buf_t *out)
{
	otas__buf_t a = OTAS__BUF_INIT, b = OTAS__BUF_INIT, c = OTAS__BUF_INIT;
	const char *cur = in;
	size_t n = len;
	int round;

	if (!in || !len)
		return 0;
	for (round = 0; round < SCRUB_ROUNDS; round++) {
		const char *p = cur;
		size_t pl = n;
		otas__buf_reset(&a);
		otas__buf_reset(&b);
		if (memmem(p, pl, "://", 3) && memchr(p, '@', pl)) {
			strip_userinfo(p, pl, &a);
			p = a.data ? a.data : "";
			pl = a.len;
		}
		if (ns && (ns->defaults || ns->n) && memchr(p, '?', pl)) {
			redact_queries(ns, p, pl, &b);
			p = b.data ? b.data : "";
			pl = b.len;
		}
		if (a.oom || b.oom)
			goto oom;
		if (pl == n && memcmp(p, cur, n) == 0)
			break;
		otas__buf_reset(&c);
		otas__buf_append(&c, p, pl);
		if (c.oom)
			goto oom;
		cur = c.data;
		n = c.len;
	}
	if (round == SCRUB_ROUNDS)
		otas__buf_puts(out, OTAS__REDACTED);
	else
		otas__buf_append(out, cur, n);
	goto done;
oom:
	out->oom = 1;
done:
	otas__buf_free(&a);
	otas__buf_free(&b);
	otas__buf_free(&c);
	return 0;
}
