/*
 * redact_names.h -- which field, key, parameter and header names are
 * sensitive, and the scrubbing of URLs inside free text.
 *
 * A name is compared after normalisation: ASCII letters lower-cased and
 * every byte that is not a letter, a digit or non-ASCII dropped (so
 * `API_KEY`, `api-key`, `apiKey`, ` api key ` and `api_key%00` after
 * decoding are all `apikey`).  The whole name and each of its segments
 * (split at `[`, `]` and `.`: `user[password]`, `password[]`,
 * `user.password`) are tried.
 *
 * The built-in list (sentry-python's scrubber DEFAULT_DENYLIST as the
 * anchor, on unless the set's `defaults` is 0) matches some names exactly
 * and some as parts (see redact_names.c); names of the set's own list are
 * exact after normalisation, or, with a leading and/or trailing `*`, a
 * suffix, prefix or substring (`*token`, `pass*`, `*secret*`).
 *
 * Threads: pure functions over immutable data.
 */
#ifndef OTAS_REDACT_NAMES_H
#define OTAS_REDACT_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "event/redact_body.h"
#include "common/buf.h"

/* Normalise the set's own names once, into ns->pats, for every lookup
 * after (a set never prepared normalises them at each lookup: same
 * answers, slower).  Call after names, n and defaults are set, before the
 * set is shared; release with otas__nameset_release.  Returns 0, -1 when
 * out of memory. */
int otas__nameset_prepare(otas__nameset_t *ns);
void otas__nameset_release(otas__nameset_t *ns);

/* For per-thread memos keyed on a short raw name (redact_names.c,
 * headers.c): name[0..len) (0 < len <= OTAS__MEMO_NAME_MAX) as four
 * words that, with len, tell the name exactly (zero-padded below 8
 * bytes, else four 8-byte windows at 0, 8, 16 and len - 8, each moved
 * back to end by len: they cover every byte), and a hash of them.
 * Straight-line: no byte past name + len is read, no memcpy called. */
#define OTAS__MEMO_NAME_MAX 32

static inline uint64_t
otas__memo_load8(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t
otas__memo_key(const char *name, size_t len,
               uint64_t w[OTAS__MEMO_NAME_MAX / 8])
{
	const unsigned char *u = (const unsigned char *)name;
	uint64_t h;

	if (len >= 8) {
		size_t last = len - 8;
		w[0] = otas__memo_load8(u);
		w[1] = otas__memo_load8(u + (last < 8 ? last : 8));
		w[2] = otas__memo_load8(u + (last < 16 ? last : 16));
		w[3] = otas__memo_load8(u + last);
	} else {
		uint32_t a, b;
		if (len >= 4) { /* two 4-byte loads that overlap */
			memcpy(&a, u, 4);
			memcpy(&b, u + len - 4, 4);
			w[0] = (uint64_t)a | ((uint64_t)b << 32);
		} else {
			w[0] = (uint64_t)u[0] | ((uint64_t)u[len >> 1] << 8) |
			       ((uint64_t)u[len - 1] << 16);
		}
		w[1] = w[2] = w[3] = 0;
	}
	/* The products' low bits see only the words' low bytes (a CGI
	 * name's "HTTP_"), their high bits see every byte: slots are taken
	 * from the top (otas__memo_slot), so no folding is needed. */
	h = (w[0] ^ len) * 0x9E3779B97F4A7C15ull;
	h ^= (w[1] + w[2]) * 0xff51afd7ed558ccdull;
	h ^= w[3] * 0xc4ceb9fe1a85ec53ull;
	return h;
}

/* The slot of hash h in a table of 1 << bits slots. */
#define otas__memo_slot(h, bits) ((size_t)((h) >> (64 - (bits))))

/* Whether two keys of the same length are the same name. */
static inline int
otas__memo_same(const uint64_t a[OTAS__MEMO_NAME_MAX / 8],
                const uint64_t b[OTAS__MEMO_NAME_MAX / 8])
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) |
	        (a[3] ^ b[3])) == 0;
}

/* Whether the (already decoded) name is sensitive for `ns` (NULL: no). */
int otas__name_sensitive(const otas__nameset_t *ns, const char *name,
                         size_t len);

/* The per-thread memo behind otas__name_sensitive, for a caller that asks
 * about many names of one set (the JSON redactor: every key) and so looks
 * it up inline.  An entry is only ever the answer the full test gave for
 * exactly that question: keyed by the prepared set, the defaults flag,
 * the length and the name's bytes. */
#define OTAS__NAME_MEMO_LOG2 9

typedef struct {
	uint64_t key; /* (set id * 2 + defaults) * 64 + len; 0: empty */
	uint64_t w[OTAS__MEMO_NAME_MAX / 8];
	uint64_t ans;
} otas__name_memo_t;

/* The calling thread's memo and ns's tag in it; NULL when ns is empty or
 * not prepared (then ask otas__name_sensitive). */
otas__name_memo_t *otas__name_memo(const otas__nameset_t *ns,
                                   uint64_t *tag);
/* A miss: the full test, remembered in the pair at e. */
int otas__name_memo_fill(const otas__nameset_t *ns, const char *name,
                         size_t len, otas__name_memo_t *e, uint64_t key);
/* otas__name_memo_ask for names longer than 16 bytes. */
int otas__name_memo_ask_long(otas__name_memo_t *m, uint64_t tag,
                             const otas__nameset_t *ns, const char *name,
                             size_t len);

/* otas__name_sensitive(ns, name, len) through memo m (not NULL) of tag,
 * for 0 < len <= OTAS__MEMO_NAME_MAX.  (A function of its own: inlined
 * into the JSON scanner it costs the scanner more than the call.) */
int otas__name_memo_ask(otas__name_memo_t *m, uint64_t tag,
                        const otas__nameset_t *ns, const char *name,
                        size_t len);

/* Normalise a name into out (at most cap-1 bytes kept, NUL-terminated).
 * Returns the normalised length (which may exceed cap-1: then cut). */
size_t otas__name_norm(const char *name, size_t len, char *out, size_t cap);

/* Whether the built-in list holds the normalised name (tests, docs). */
int otas__name_default(const char *norm, size_t len);

/* Append text to out with every URL and query string in it scrubbed:
 * userinfo after `scheme://` (up to the last `@` of the authority) is
 * removed, and the value of each query parameter whose name `ns` marks as
 * sensitive becomes %5BREDACTED%5D (also in a query that follows a bare
 * path: `url: /x?token=S`).  Everything else is kept byte for byte.  An
 * authority ends at `/`, `?` or an end byte; a query at the next `?` (a
 * URL nested in a parameter value has its own query) or an end byte:
 * blank space, a quote, `<`, `>`, `` ` ``, `#` or a control character.
 * The result is a fixed point (scrubbing it again changes nothing).
 * Returns 0 (out->oom on failure). */
int otas__scrub_text(const otas__nameset_t *ns, const char *in, size_t len,
                     otas__buf_t *out);

/* Host header value without userinfo: the part after the last '@'. */
const char *otas__host_strip(const char *host, size_t len, size_t *out_len);

#endif
