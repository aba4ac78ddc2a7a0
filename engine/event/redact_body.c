/*
 * redact_body.c -- redaction of JSON bodies, form-encoded bodies and query
 * strings (see redact_body.h for the contract).
 *
 * Design note.  JSON: one pass over the bytes by an iterative validator (an
 * explicit stack bounded by OTAS__REDACT_MAX_DEPTH, so hostile nesting
 * cannot blow the C stack) that tracks, per depth, the container kind, the
 * element index and the set of active rule states (jsonpath.h).  Output is
 * built lazily: nothing is copied while nothing matches; when a value is
 * matched, the untouched span before it and "[REDACTED]" are appended and
 * the span after it starts at the value's end.  A matched value is still
 * validated (fail closed on a broken document), just not matched inside.
 * The only allocation is one block of per-depth state bitsets when the
 * rule set is too large for the stack-resident one; nothing per byte.
 * Negative indexes (`$.a[-1]`, `$.a[-2:]`) need an array's length before
 * its first element is written: when, and only when, a live state of an
 * array needs it, that one array is counted by a look-ahead scan that
 * follows strings and brackets only.  The cost is one extra pass over
 * such arrays; nested ones under `$..[-1]` are each counted again, so
 * all counting of a document is capped at SCAN_FACTOR times its length,
 * beyond which it fails closed.  Rule sets without them never scan.
 *
 * Validation is strict RFC 8259: no trailing commas, no leading zeros, no
 * control characters or invalid UTF-8 (overlong, surrogate, > U+10FFFF) in
 * strings, only the standard escapes, one value and nothing but blank space
 * after it.  Anything else returns -1 so that the caller writes
 * OTAS__UNPARSEABLE_MARKER instead of the body.
 *
 * Form encoding: fields split on '&', name and value on the first '='.
 * Names are matched after '+' and %XX decoding (an invalid %-sequence stays
 * literal, as in Python's urllib); a matched field's value is replaced,
 * even when empty or absent (so `a` alone becomes `a=%5BREDACTED%5D`):
 * whether a secret was empty is itself not sent.
 */
#include "event/redact_body.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "event/jsonpath.h"
#include "event/redact_names.h"

#define REDACTED_FORM "%5BREDACTED%5D"
#define REDACTED_JSON "\"" OTAS__REDACTED "\""

/* ------------------------------------------------------------ helpers */

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent/plus-decode in[0..len) into out (appended). */
static void
form_decode(const char *in, size_t len, otas__buf_t *out)
{
	size_t i = 0;

	if (otas__buf_reserve(out, len) != 0)
		return;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		int h, l;
		if (c == '+') {
			out->data[out->len++] = ' ';
			i++;
		} else if (c == '%' && i + 2 < len &&
		           (h = hexval((unsigned char)in[i + 1])) >= 0 &&
		           (l = hexval((unsigned char)in[i + 2])) >= 0) {
			out->data[out->len++] = (char)(h << 4 | l);
			i += 3;
		} else {
			out->data[out->len++] = (char)c;
			i++;
		}
	}
	out->data[out->len] = '\0';
}

/* Length in bytes of the valid UTF-8 sequence at s (RFC 3629: no
 * overlongs, no surrogates, <= U+10FFFF), or 0 when it is not one. */
static size_t
utf8_seq(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
		unsigned char hi = c == 0xED ? 0x9F : 0xBF;
		return avail >= 3 && s[1] >= lo && s[1] <= hi &&
		               (s[2] & 0xC0) == 0x80
		           ? 3
		           : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
		return avail >= 4 && s[1] >= lo && s[1] <= hi &&
		               (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80
		           ? 4
		           : 0;
	}
	return 0;
}

/* Append bytes as a JSON string (quotes included); invalid UTF-8 becomes
 * U+FFFD, one per maximal invalid byte. */
static void
put_json_string(otas__buf_t *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	otas__buf_putc(out, '"');
	while (i < len) {
		unsigned char c = u[i];
		size_t n;
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		otas__buf_append(out, s + run, i - run);
		if (c >= 0x80) {
			n = utf8_seq(u + i, len - i);
			if (n) {
				otas__buf_append(out, s + i, n);
				i += n;
			} else {
				otas__buf_append(out, "\xEF\xBF\xBD", 3);
				i++;
			}
		} else {
			char e[6] = {'\\', 0, 0, 0, 0, 0};
			size_t el = 2;
			switch (c) {
			case '"': e[1] = '"'; break;
			case '\\': e[1] = '\\'; break;
			case '\b': e[1] = 'b'; break;
			case '\f': e[1] = 'f'; break;
			case '\n': e[1] = 'n'; break;
			case '\r': e[1] = 'r'; break;
			case '\t': e[1] = 't'; break;
			default:
				e[1] = 'u'; e[2] = '0'; e[3] = '0';
				e[4] = hex[c >> 4]; e[5] = hex[c & 15];
				el = 6;
			}
			otas__buf_append(out, e, el);
			i++;
		}
		run = i;
	}
	otas__buf_append(out, s + run, i - run);
	otas__buf_putc(out, '"');
}

static int
nameset_has(const otas__nameset_t *names, const char *s, size_t len)
{
	return otas__name_sensitive(names, s, len);
}

/* Whether the decoded top-level name is redacted: by name set, or by a
 * rule that matches the member `name` of the root (or the root itself).
 * `st` is scratch of otas__jsonpath_nwords() * 2 words. */
static int
form_name_redacted(const otas__jsonpath_set_t *rules,
                   const otas__nameset_t *names, const char *name,
                   size_t len, uint64_t *st)
{
	size_t nw = otas__jsonpath_nwords(rules);

	if (nameset_has(names, name, len))
		return 1;
	if (!rules)
		return 0;
	if (otas__jsonpath_start(rules, st))
		return 1;
	return nw && otas__jsonpath_member(rules, st, name, len, 0, st + nw);
}

static uint64_t *
alloc_states(const otas__jsonpath_set_t *rules, size_t depth, uint64_t *small,
             size_t nsmall)
{
	size_t nw = otas__jsonpath_nwords(rules);

	if (nw * depth <= nsmall)
		return small;
	if (nw > SIZE_MAX / sizeof(uint64_t) / depth)
		return NULL;
	return malloc(nw * depth * sizeof(uint64_t));
}

/* ------------------------------------------------------------ urlencoded */

int
otas__redact_urlencoded(const otas__jsonpath_set_t *rules,
                        const otas__nameset_t *names, const char *in,
                        size_t len, otas__buf_t *out)
{
	otas__buf_t name = OTAS__BUF_INIT;
	uint64_t small[16], *st;
	size_t i = 0, copied = 0;

	if (!in)
		in = "";

	st = alloc_states(rules, 2, small, 16);
	if (!st) {
		out->oom = 1;
		return 0;
	}
	while (i <= len) {
		const char *f = in + i, *amp, *eq;
		size_t flen;
		amp = memchr(f, '&', len - i);
		flen = amp ? (size_t)(amp - f) : len - i;
		if (flen) {
			eq = memchr(f, '=', flen);
			otas__buf_reset(&name);
			form_decode(f, eq ? (size_t)(eq - f) : flen, &name);
			if (!name.oom &&
			    form_name_redacted(rules, names, name.data,
			                       name.len, st)) {
				size_t vstart = eq ? (size_t)(eq - in) + 1
				                   : i + flen;
				otas__buf_append(out, in + copied, vstart - copied);
				if (!eq)
					otas__buf_putc(out, '=');
				otas__buf_puts(out, REDACTED_FORM);
				copied = i + flen;
			}
			if (name.oom)
				out->oom = 1;
		}
		i += flen + 1;
	}
	otas__buf_append(out, in + copied, len - copied);
	otas__buf_free(&name);
	if (st != small)
		free(st);
	return 0;
}

typedef struct {
	size_t noff, nlen;    /* decoded name in the names buffer */
	size_t voff, vlen;    /* raw value in the input (voff 0/vlen 0: none) */
	size_t next;          /* next field of the same name, or SIZE_MAX */
	size_t last;          /* first field of a group: its last field */
	int first;            /* first appearance of its name */
	int redacted;
} field_t;

static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

int
otas__urlencoded_to_json(const otas__jsonpath_set_t *rules,
                         const otas__nameset_t *names, const char *in,
                         size_t len, otas__buf_t *out)
{
	otas__buf_t nb = OTAS__BUF_INIT, val = OTAS__BUF_INIT;
	field_t *fields = NULL;
	size_t *table = NULL, nf = 0, cap = 0, tsize, i;
	uint64_t small[16], *st = NULL;
	int first = 1;

	if (!in)
		in = "";
	/* Count the fields to size the arrays once. */
	for (i = 0; i < len; i++)
		if (in[i] == '&')
			cap++;
	cap++;
	if (cap > SIZE_MAX / sizeof(field_t) / 2)
		goto oom;
	fields = malloc(cap * sizeof(*fields));
	tsize = 16;
	while (tsize < cap * 2)
		tsize *= 2;
	table = malloc(tsize * sizeof(*table));
	st = alloc_states(rules, 2, small, 16);
	if (!fields || !table || !st || otas__buf_reserve(&nb, len) != 0)
		goto oom;
	for (i = 0; i < tsize; i++)
		table[i] = SIZE_MAX;

	for (i = 0; i <= len;) {
		const char *f = in + i, *amp, *eq;
		size_t flen, nlen, slot;
		field_t *fd;
		amp = memchr(f, '&', len - i);
		flen = amp ? (size_t)(amp - f) : len - i;
		if (flen == 0) {
			i += 1;
			continue;
		}
		eq = memchr(f, '=', flen);
		nlen = eq ? (size_t)(eq - f) : flen;
		fd = &fields[nf];
		fd->noff = nb.len;
		form_decode(f, nlen, &nb);
		fd->nlen = nb.len - fd->noff;
		fd->voff = eq ? (size_t)(eq - in) + 1 : i + flen;
		fd->vlen = i + flen - fd->voff;
		fd->next = SIZE_MAX;
		fd->last = nf;
		fd->first = 1;
		fd->redacted = 0;
		/* Group by decoded name: open addressing on its hash. */
		slot = (size_t)hash_bytes(nb.data + fd->noff, fd->nlen) &
		       (tsize - 1);
		for (;;) {
			size_t j = table[slot];
			if (j == SIZE_MAX) {
				table[slot] = nf;
				fd->redacted = form_name_redacted(
				    rules, names, nb.data + fd->noff, fd->nlen,
				    st);
				break;
			}
			if (fields[j].nlen == fd->nlen &&
			    memcmp(nb.data + fields[j].noff,
			           nb.data + fd->noff, fd->nlen) == 0) {
				fd->first = 0;
				fd->redacted = fields[j].redacted;
				fields[fields[j].last].next = nf;
				fields[j].last = nf;
				break;
			}
			slot = (slot + 1) & (tsize - 1);
		}
		nf++;
		i += flen + 1;
	}

	otas__buf_putc(out, '{');
	for (i = 0; i < nf; i++) {
		size_t j;
		int firstv = 1;
		if (!fields[i].first)
			continue;
		if (!first)
			otas__buf_puts(out, ", ");
		first = 0;
		put_json_string(out, nb.data + fields[i].noff, fields[i].nlen);
		otas__buf_puts(out, ": [");
		for (j = i; j != SIZE_MAX; j = fields[j].next) {
			if (!firstv)
				otas__buf_puts(out, ", ");
			firstv = 0;
			if (fields[j].redacted) {
				otas__buf_puts(out, REDACTED_JSON);
				continue;
			}
			otas__buf_reset(&val);
			form_decode(in + fields[j].voff, fields[j].vlen, &val);
			if (val.oom)
				goto oom;
			put_json_string(out, val.data ? val.data : "", val.len);
		}
		otas__buf_putc(out, ']');
	}
	otas__buf_putc(out, '}');
	goto done;
oom:
	out->oom = 1;
done:
	otas__buf_free(&nb);
	otas__buf_free(&val);
	free(fields);
	free(table);
	if (st != small)
		free(st);
	return 0;
}

/* ------------------------------------------------------------------ JSON */

static int
is_hex(unsigned char c)
{
	return hexval(c) >= 0;
}

/* Scan the string whose opening quote is at *p; *p ends after the closing
 * quote.  *escaped is set when it holds a backslash. */
static int
scan_string(const unsigned char *s, size_t len, size_t *pp, int *escaped)
{
	size_t p = *pp + 1;

	*escaped = 0;
	for (;;) {
		unsigned char c;
		size_t n;
		p = otas__json_plain_end(s, p, len);
		if (p >= len)
			return -1;
		c = s[p];
		if (c == '"') {
			*pp = p + 1;
			return 0;
		}
		if (c == '\\') {
			*escaped = 1;
			if (p + 1 >= len)
				return -1;
			switch (s[p + 1]) {
			case '"': case '\\': case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				p += 2;
				continue;
			case 'u':
				if (p + 5 >= len || !is_hex(s[p + 2]) ||
				    !is_hex(s[p + 3]) || !is_hex(s[p + 4]) ||
				    !is_hex(s[p + 5]))
					return -1;
				p += 6;
				continue;
			default:
				return -1;
			}
		}
		if (c < 0x20)
			return -1;
		n = utf8_seq(s + p, len - p);
		if (!n)
			return -1;
		p += n;
	}
}

static int
scan_number(const unsigned char *s, size_t len, size_t *pp)
{
	size_t p = *pp;

	if (s[p] == '-')
		p++;
	if (p >= len)
		return -1;
	if (s[p] == '0') {
		p++;
	} else if (s[p] >= '1' && s[p] <= '9') {
		while (p < len && s[p] >= '0' && s[p] <= '9')
			p++;
	} else {
		return -1;
	}
	if (p < len && s[p] == '.') {
		p++;
		if (p >= len || s[p] < '0' || s[p] > '9')
			return -1;
		while (p < len && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	if (p < len && (s[p] == 'e' || s[p] == 'E')) {
		p++;
		if (p < len && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p >= len || s[p] < '0' || s[p] > '9')
			return -1;
		while (p < len && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	*pp = p;
	return 0;
}

#define SKIP_WS()                                                          \
	while (p < len && (s[p] == ' ' || s[p] == '\n' || s[p] == '\r' ||  \
	                   s[p] == '\t'))                                  \
	p++

enum { K_OBJ = 1, K_ARR = 2 };

/* Bytes the element count stops at outside strings. */
static const unsigned char count_stop[256] = {
	['"'] = 1, ['['] = 1, [']'] = 1, ['{'] = 1, ['}'] = 1, [','] = 1,
};

/* Elements of the array whose contents start at p (just after its '['):
 * a look-ahead that follows only strings and nesting, for rules with
 * negative indexes (the main pass validates).  A string ends at the
 * first quote preceded by an even run of backslashes (memchr, so long
 * strings cost little).  *end is set to where the scan stopped.  On a
 * document that ends early the count is what was seen: the main pass
 * fails it anyway. */
static __attribute__((noinline)) size_t
count_elements(const unsigned char *s, size_t len, size_t p, size_t *end)
{
	size_t n = 1, d = 0;

	*end = len;
	SKIP_WS();
	if (p >= len || s[p] == ']')
		return *end = p, 0;
	for (;;) {
		while (p < len && !count_stop[s[p]])
			p++;
		if (p >= len)
			return n;
		switch (s[p++]) {
		case '"': {
			size_t from = p;
			for (;;) {
				const unsigned char *q =
				    memchr(s + p, '"', len - p);
				size_t k = 0, at;
				if (!q)
					return n;
				at = (size_t)(q - s);
				while (at - k > from && s[at - k - 1] == '\\')
					k++;
				p = at + 1;
				if (k % 2 == 0)
					break;
			}
			break;
		}
		case '[':
		case '{':
			d++;
			break;
		case ']':
		case '}':
			if (d == 0)
				return *end = p, n;
			d--;
			break;
		default: /* ',' */
			if (d == 0)
				n++;
			break;
		}
	}
}

/* How many times over its length a document's arrays may be scanned to
 * count their elements (arrays nested inside counted arrays are scanned
 * again); beyond it the document fails closed, as one nested too deep
 * does.  Only `$..[-1]`-like rules over arrays nested in arrays more than
 * SCAN_FACTOR deep, each spanning most of the document, get there. */
#define SCAN_FACTOR 16

/* States for depths 0..MAX_DEPTH on the stack when the rules are few. */
#define SMALL_STATE_WORDS (2 * (OTAS__REDACT_MAX_DEPTH + 1))

int
otas__redact_json(const otas__jsonpath_set_t *rules, const char *in,
                  size_t len, otas__buf_t *out)
{
	return otas__redact_json_names(rules, NULL, in, len, out);
}

/* A JSON key's bytes with escapes decoded (for name matching): \uXXXX
 * below 0x80 becomes its byte, above it is dropped (names match on ASCII
 * letters and digits).  Cut at cap - 1. */
static size_t
key_unescape(const unsigned char *s, size_t n, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (i < n && o + 1 < cap) {
		if (s[i] != '\\' || i + 1 >= n) {
			out[o++] = (char)s[i++];
			continue;
		}
		if (s[i + 1] == 'u' && i + 5 < n) {
			unsigned v = (unsigned)(hexval(s[i + 2]) << 12 |
			                        hexval(s[i + 3]) << 8 |
			                        hexval(s[i + 4]) << 4 |
			                        hexval(s[i + 5]));
			if (v < 0x80)
				out[o++] = (char)v;
			i += 6;
			continue;
		}
		out[o++] = (char)s[i + 1];
		i += 2;
	}
	return o;
}

static int
key_sensitive(const otas__nameset_t *names, const unsigned char *s,
              size_t n, int escaped)
{
	char kb[256];
	size_t kl;

	if (!escaped)
		return otas__name_sensitive(names, (const char *)s, n);
	kl = key_unescape(s, n, kb, sizeof(kb));
	return otas__name_sensitive(names, kb, kl);
}

int
otas__redact_json_names(const otas__jsonpath_set_t *rules,
                        const otas__nameset_t *names, const char *in,
                        size_t len, otas__buf_t *out)
{
	/* Per open container (1..depth): its kind, the index of the current
	 * element, and whether its children can match at all. */
	unsigned char kind[OTAS__REDACT_MAX_DEPTH + 1];
	unsigned char live[OTAS__REDACT_MAX_DEPTH + 1];
	size_t index[OTAS__REDACT_MAX_DEPTH + 1];
	/* Elements of an open array, counted ahead only when a live rule
	 * has a negative index (else SIZE_MAX); set only when the rule set
	 * has such rules at all. */
	size_t count[OTAS__REDACT_MAX_DEPTH + 1];
	uint64_t small[SMALL_STATE_WORDS], *states;
	const unsigned char *s = (const unsigned char *)in;
	size_t nw = otas__jsonpath_nwords(rules);
	size_t out0 = out->len, p = 0, depth = 0, copied = 0;
	/* The value being replaced: its level and where it starts. */
	size_t redact_depth = SIZE_MAX, redact_start = 0;
	int redact_next, cur_live, escaped;
	int use_names = names && (names->defaults || names->n);
	int need_counts = otas__jsonpath_has_count_rules(rules);
	/* Bytes the element counts may look at in all: SCAN_FACTOR times
	 * the document (each counted array is scanned once). */
	size_t scan_budget = len > SIZE_MAX / SCAN_FACTOR - 4096
	                         ? SIZE_MAX
	                         : len * SCAN_FACTOR + 4096;

	if (!s)
		s = (const unsigned char *)"";
	states = alloc_states(rules, OTAS__REDACT_MAX_DEPTH + 1, small,
	                      SMALL_STATE_WORDS);
	if (!states) {
		out->oom = 1;
		return -1;
	}
	/* states + L*nw: the active states at the value being parsed at
	 * level L (the root is level 0; a value inside `depth` open
	 * containers is at level `depth`). */
	redact_next = otas__jsonpath_start(rules, states);
	cur_live = !redact_next && otas__jsonpath_live(rules, states);

	SKIP_WS();
value:
	if (redact_next) {
		redact_depth = depth;
		redact_start = p;
		redact_next = 0;
	}
	if (p >= len)
		goto fail;
	switch (s[p]) {
	case '{':
	case '[':
		if (depth == OTAS__REDACT_MAX_DEPTH)
			goto fail;
		depth++;
		kind[depth] = s[p] == '{' ? K_OBJ : K_ARR;
		live[depth] = (unsigned char)cur_live;
		index[depth] = 0;
		p++;
		if (cur_live && need_counts) {
			size_t end;
			count[depth] = SIZE_MAX;
			if (kind[depth] == K_ARR &&
			    otas__jsonpath_needs_count(rules,
			                               states + (depth - 1) * nw)) {
				count[depth] = count_elements(s, len, p, &end);
				/* Nested counted arrays rescan their bytes:
				 * bounded, a hostile nesting fails closed. */
				if (end - p > scan_budget)
					goto fail;
				scan_budget -= end - p;
			}
		}
		SKIP_WS();
		if (p < len && s[p] == (kind[depth] == K_OBJ ? '}' : ']')) {
			p++;
			depth--;
			goto after;
		}
		if (kind[depth] == K_OBJ)
			goto key;
		goto element;
	case '"':
		if (scan_string(s, len, &p, &escaped) != 0)
			goto fail;
		goto after;
	case 't':
		if (len - p < 4 || memcmp(s + p, "true", 4) != 0)
			goto fail;
		p += 4;
		goto after;
	case 'f':
		if (len - p < 5 || memcmp(s + p, "false", 5) != 0)
			goto fail;
		p += 5;
		goto after;
	case 'n':
		if (len - p < 4 || memcmp(s + p, "null", 4) != 0)
			goto fail;
		p += 4;
		goto after;
	default:
		if (scan_number(s, len, &p) != 0)
			goto fail;
		goto after;
	}

key:
	if (p >= len || s[p] != '"') {
		goto fail;
	} else {
		size_t k0 = p + 1, klen;
		if (scan_string(s, len, &p, &escaped) != 0)
			goto fail;
		klen = p - 1 - k0;
		SKIP_WS();
		if (p >= len || s[p] != ':')
			goto fail;
		p++;
		SKIP_WS();
		cur_live = 0;
		if (use_names && redact_depth == SIZE_MAX &&
		    key_sensitive(names, s + k0, klen, escaped)) {
			redact_next = 1;
		} else if (live[depth]) {
			uint64_t *next = states + depth * nw;
			if (otas__jsonpath_member(rules, next - nw,
			                          (const char *)s + k0, klen,
			                          escaped, next))
				redact_next = 1;
			else
				cur_live = otas__jsonpath_live(rules, next);
		}
	}
	goto value;

element:
	cur_live = 0;
	if (live[depth]) {
		uint64_t *next = states + depth * nw;
		if (otas__jsonpath_element(rules, next - nw, index[depth],
		                           need_counts ? count[depth]
		                                       : SIZE_MAX,
		                           next))
			redact_next = 1;
		else
			cur_live = otas__jsonpath_live(rules, next);
	}
	goto value;

after:
	if (redact_depth == depth) {
		otas__buf_append(out, s + copied, redact_start - copied);
		otas__buf_append(out, REDACTED_JSON, sizeof(REDACTED_JSON) - 1);
		copied = p;
		redact_depth = SIZE_MAX;
	}
	SKIP_WS();
	if (depth == 0) {
		if (p != len)
			goto fail;
		goto done;
	}
	if (p >= len)
		goto fail;
	if (s[p] == ',') {
		p++;
		SKIP_WS();
		if (kind[depth] == K_OBJ)
			goto key;
		index[depth]++;
		goto element;
	}
	if (s[p] != (kind[depth] == K_OBJ ? '}' : ']'))
		goto fail;
	p++;
	depth--;
	goto after;

done:
	otas__buf_append(out, s + copied, len - copied);
	if (states != small)
		free(states);
	return 0;
fail:
	out->len = out0;
	if (out->data && out->len < out->cap)
		out->data[out->len] = '\0';
	if (states != small)
		free(states);
	return -1;
}
