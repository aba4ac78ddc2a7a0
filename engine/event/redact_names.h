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
 * headers.c): name[0..len) (0 < len <= OTAS__MEMO_NAME_MAX) into w as
 * zero-padded words (whole words compare two names), and a hash of them.
 * Reads no byte past name + len and calls no memcpy. */
#define OTAS__MEMO_NAME_MAX 32

static inline uint64_t
otas__memo_word(const unsigned char *p, size_t k)
{
	uint32_t a, b;
	uint64_t v;

	if (k == 8) {
		memcpy(&v, p, 8);
		return v;
	}
	if (k >= 4) { /* two 4-byte loads that overlap */
		memcpy(&a, p, 4);
		memcpy(&b, p + k - 4, 4);
		return (uint64_t)a | ((uint64_t)b << (8 * (k - 4)));
	}
	return (uint64_t)p[0] | ((uint64_t)p[k >> 1] << (8 * (k >> 1))) |
	       ((uint64_t)p[k - 1] << (8 * (k - 1)));
}

static inline uint64_t
otas__memo_key(const char *name, size_t len,
               uint64_t w[OTAS__MEMO_NAME_MAX / 8])
{
	const unsigned char *u = (const unsigned char *)name;
	size_t i, nw = (len + 7) / 8;
	uint64_t h = len * 0x9E3779B97F4A7C15ull;

	for (i = 0; i < OTAS__MEMO_NAME_MAX / 8; i++)
		w[i] = 0;
	for (i = 0; i + 1 < nw; i++)
		memcpy(&w[i], u + 8 * i, 8);
	w[nw - 1] = otas__memo_word(u + 8 * (nw - 1), len - 8 * (nw - 1));
	for (i = 0; i < nw; i++)
		h = (h ^ w[i]) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 29);
}

/* Whether the (already decoded) name is sensitive for `ns` (NULL: no). */
int otas__name_sensitive(const otas__nameset_t *ns, const char *name,
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
