/*
 * redact_json.c -- redaction of JSON bodies by rules and by key names (see
 * redact_body.h for the contract; form bodies are redact_form.c's).
 *
 * Design note.  One pass over the bytes by an iterative validator (an
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
 * The same walk has a second output (otas__redact_json_names_str, the
 * serialiser's): the redacted document written as the escaped body of a
 * JSON string, in the same pass, instead of redacting into a buffer and
 * escaping that again.  Strings are written by the scan that reads them;
 * the bytes between two strings go out with one store at the next quote;
 * a replaced value is written, then dropped for the marker.  Both outputs
 * come from one function (redact_core), so they cannot disagree on what
 * is valid or what is redacted.
 *
 * Validation is strict RFC 8259: no trailing commas, no leading zeros, no
 * control characters or invalid UTF-8 (overlong, surrogate, > U+10FFFF) in
 * strings, only the standard escapes, one value and nothing but blank space
 * after it.  Anything else returns -1 so that the caller writes
 * OTAS__UNPARSEABLE_MARKER instead of the body.
 *
 */
#include "event/redact_body.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/json.h"
#include "common/utf8.h"
#include "event/jsonpath.h"
#include "event/redact_names.h"

#define REDACTED_JSON "\"" OTAS__REDACTED "\""

/* ------------------------------------------------------------------ JSON */

static int
is_hex(unsigned char c)
{
	return otas__hex_value(c) >= 0;
}

/* The escaping writer of otas__redact_json_names_str: the document is
 * written as the body of a JSON string while it is scanned.  Bytes are
 * not copied one by one: `copied` is where the span not yet written
 * starts, and a span is written (ESC_SPAN) only where the scanner stops
 * anyway, at a byte the JSON string needs escaped (a quote, a backslash,
 * a tab, CR or LF between tokens: nothing else of a valid document
 * needs it) or at a redacted value.  `o` writes into room reserved for
 * the worst case (every byte doubled) plus SPAN_SLACK, so that a span
 * of up to 16 bytes is one unaligned 16-byte store. */
#define SPAN_SLACK 32

/* A span longer than 16 bytes (numbers, literals and brackets between
 * two strings; the tail of the document). */
static __attribute__((noinline)) char *
esc_span_long(char *o, const unsigned char *s, size_t len, size_t from,
              size_t n)
{
#if defined(__SSE2__)
	size_t i = 0;

	/* Loads stay inside the document: 16 at a time while 16 are
	 * left, the rest by memcpy. */
	while (i < n && len - from - i >= 16) {
		_mm_storeu_si128((__m128i *)(o + i),
		                 _mm_loadu_si128((const __m128i *)(s + from + i)));
		i += 16;
	}
	if (i < n)
		memcpy(o + i, s + from + i, n - i);
#else
	(void)len;
	memcpy(o, s + from, n);
#endif
	return o + n;
}

/* Write s[from..to) at o (the room is there, SPAN_SLACK included). */
static inline __attribute__((always_inline)) char *
esc_span(char *o, const unsigned char *s, size_t len, size_t from, size_t to)
{
#if defined(__SSE2__)
	/* Nearly every span (what lies between two strings: `":`, `,`,
	 * `:12,`) is one store. */
	if (__builtin_expect(to - from <= 16 && len - from >= 16, 1)) {
		_mm_storeu_si128((__m128i *)o,
		                 _mm_loadu_si128((const __m128i *)(s + from)));
		return o + (to - from);
	}
#endif
	return esc_span_long(o, s, len, from, to - from);
}

#define ESC_SPAN(to)                                                       \
	do {                                                               \
		*o = esc_span(*o, s, len, *copied, (to));                  \
	} while (0)

/* esc: json_plain_end that also writes what it passes, from o (which is
 * where s[i] goes): each 16-byte block is stored as it is looked at,
 * and o moves up to the stop byte. */
static inline __attribute__((always_inline)) size_t
plain_end_copy(const unsigned char *s, size_t i, size_t n, char **o)
{
#if defined(__SSE2__)
	while (n - i >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(s + i));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
		                 _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
		    _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)))); /* and >= 0x80 */
		_mm_storeu_si128((__m128i *)*o, x);
		if (m) {
			unsigned k = (unsigned)__builtin_ctz(m);
			*o += k;
			return i + k;
		}
		*o += 16;
		i += 16;
	}
#endif
	while (i < n && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' &&
	       s[i] < 0x80)
		*(*o)++ = (char)s[i++];
	return i;
}

/* Scan the string whose opening quote is at *p; *p ends after the closing
 * quote.  *escaped is set when it holds a backslash.  With esc, the
 * string is written escaped as it is scanned (*o, *copied: above; inside
 * the string o is always where the next byte goes, *copied its input
 * position). */
static inline __attribute__((always_inline)) int
scan_string(const unsigned char *s, size_t len, size_t *pp, int *escaped,
            const int esc, char **o, size_t *copied)
{
	size_t p = *pp + 1;

	*escaped = 0;
	if (esc) {
		ESC_SPAN(p - 1);
		(*o)[0] = '\\';
		(*o)[1] = '"';
		*o += 2;
	}
	for (;;) {
		unsigned char c;
		size_t n;
		p = esc ? plain_end_copy(s, p, len, o)
		        : otas__json_plain_end(s, p, len);
		if (p >= len)
			return -1;
		c = s[p];
		if (c == '"') {
			if (esc) {
				(*o)[0] = '\\';
				(*o)[1] = '"';
				*o += 2;
				*copied = p + 1;
			}
			*pp = p + 1;
			return 0;
		}
		if (c == '\\') {
			*escaped = 1;
			if (p + 1 >= len)
				return -1;
			if (esc) {
				(*o)[0] = '\\';
				(*o)[1] = '\\';
				*o += 2;
			}
			switch (s[p + 1]) {
			case '"': case '\\':
				if (esc) { /* \" -> \\\" and \\ -> \\\\ */
					(*o)[0] = '\\';
					(*o)[1] = (char)s[p + 1];
					*o += 2;
				}
				p += 2;
				continue;
			case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				if (esc)
					*(*o)++ = (char)s[p + 1];
				p += 2;
				continue;
			case 'u':
				if (p + 5 >= len || !is_hex(s[p + 2]) ||
				    !is_hex(s[p + 3]) || !is_hex(s[p + 4]) ||
				    !is_hex(s[p + 5]))
					return -1;
				if (esc) {
					memcpy(*o, s + p + 1, 5);
					*o += 5;
				}
				p += 6;
				continue;
			default:
				return -1;
			}
		}
		if (c < 0x20)
			return -1;
		n = otas__utf8_seq(s + p, len - p);
		if (!n)
			return -1;
		if (esc) {
			size_t k;
			for (k = 0; k < n; k++)
				(*o)[k] = (char)s[p + k];
			*o += n;
		}
		p += n;
	}
}

static inline __attribute__((always_inline)) int
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

/* JSON's blank space: ' ', '\t', '\n', '\r'. */
static const unsigned char ws_tab[256] = {
	[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1,
};

#define SKIP_WS()                                                          \
	while (p < len && ws_tab[s[p]]) {                                  \
		if (esc && s[p] != ' ') {                                  \
			o = esc_span(o, s, len, copied, p);                \
			o[0] = '\\';                                       \
			o[1] = s[p] == '\n' ? 'n' : s[p] == '\r' ? 'r' : 't'; \
			o += 2;                                            \
			copied = p + 1;                                    \
		}                                                          \
		p++;                                                       \
	}

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
	while (p < len && ws_tab[s[p]])
		p++;
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
			unsigned v = (unsigned)(otas__hex_value(s[i + 2]) << 12 |
			                        otas__hex_value(s[i + 3]) << 8 |
			                        otas__hex_value(s[i + 4]) << 4 |
			                        otas__hex_value(s[i + 5]));
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

static inline __attribute__((always_inline)) int
key_sensitive(const otas__nameset_t *names, otas__name_memo_t *memo,
              uint64_t tag, const unsigned char *s, size_t n, int escaped)
{
	char kb[256];

	if (escaped) {
		n = key_unescape(s, n, kb, sizeof(kb));
		s = (const unsigned char *)kb;
	}
	if (memo && n - 1 < OTAS__MEMO_NAME_MAX) /* n 0 wraps */
		return otas__name_memo_ask(memo, tag, names, (const char *)s,
		                           n);
	return otas__name_sensitive(names, (const char *)s, n);
}

/* The escaped marker: OTAS__REDACTED needs no escape of its own. */
#define REDACTED_ESC "\\\"" OTAS__REDACTED "\\\""

/* Both redactors.  esc = 0: the redacted document is appended to out;
 * returns 0 or -1.  esc = 1: it is appended as a quoted JSON string (the
 * body of an event field), written while scanning (above scan_string);
 * returns 0, -1, or 1 when the redacted document is longer than cap
 * bytes (out unchanged: the caller cuts it the long way). */
static inline __attribute__((always_inline)) int
redact_core(const otas__jsonpath_set_t *rules, const otas__nameset_t *names,
            const char *in, size_t len, otas__buf_t *out, const int esc,
            size_t cap)
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
	/* esc: where the next byte goes, where the value being replaced
	 * began in out, and the bytes the replacements took out and put
	 * in (for the length of the document as it would be unescaped). */
	char *o = NULL;
	size_t o_mark = 0, removed = 0, added = 0;
	/* Members no rule can take, told by one bit (jsonpath.h). */
	uint64_t name_filter = otas__jsonpath_name_filter(rules);
	/* Every key is asked about: the name memo is looked up inline. */
	uint64_t memo_tag = 0;
	otas__name_memo_t *memo =
	    use_names ? otas__name_memo(names, &memo_tag) : NULL;
	/* Bytes the element counts may look at in all: SCAN_FACTOR times
	 * the document (each counted array is scanned once). */
	size_t scan_budget = len > SIZE_MAX / SCAN_FACTOR - 4096
	                         ? SIZE_MAX
	                         : len * SCAN_FACTOR + 4096;

	if (!s)
		s = (const unsigned char *)"";
	states = otas__jsonpath_states_alloc(rules, OTAS__REDACT_MAX_DEPTH + 1, small,
	                      SMALL_STATE_WORDS);
	if (!states) {
		out->oom = 1;
		return -1;
	}
	if (esc) {
		/* Room for every byte doubled, the quotes and the slack;
		 * each replacement reserves again. */
		if (len > (SIZE_MAX - 2 - SPAN_SLACK) / 2 - out->len ||
		    otas__buf_reserve(out, 2 * len + 2 + SPAN_SLACK) != 0) {
			out->oom = 1;
			goto fail;
		}
		o = out->data + out->len;
		*o++ = '"';
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
		if (esc) {
			o = esc_span(o, s, len, copied, p);
			copied = p;
			o_mark = (size_t)(o - out->data);
		}
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
		if (scan_string(s, len, &p, &escaped, esc, &o, &copied) != 0)
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
		if (scan_string(s, len, &p, &escaped, esc, &o, &copied) != 0)
			goto fail;
		klen = p - 1 - k0;
		/* `":` then the value, the common case, without the
		 * blank-space loops (a byte above ' ' is not blank). */
		if (p + 1 < len && s[p] == ':' && s[p + 1] > ' ') {
			p++;
		} else if (p + 2 < len && s[p] == ':' && s[p + 1] == ' ' &&
		           s[p + 2] > ' ') {
			/* `": ` (Python's json.dumps, Django's JsonResponse):
			 * a plain space is copied with its span, as the
			 * loop below would. */
			p += 2;
		} else {
			SKIP_WS();
			if (p >= len || s[p] != ':')
				goto fail;
			p++;
			SKIP_WS();
		}
		cur_live = 0;
		if (use_names && redact_depth == SIZE_MAX &&
		    key_sensitive(names, memo, memo_tag, s + k0, klen,
		                  escaped)) {
			redact_next = 1;
		} else if (live[depth] &&
		           (escaped ||
		            name_filter >> otas__jsonpath_name_bit(
		                               (const char *)s + k0, klen) &
		                1)) {
			/* (A key the filter refuses leaves nothing live below
			 * it: cur_live stays 0, its states are never read.) */
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
		if (esc) {
			/* What the value wrote is dropped for the marker. */
			removed += p - redact_start;
			added += sizeof(REDACTED_JSON) - 1;
			out->len = o_mark;
			if (otas__buf_reserve(out, 2 * (len - p) + 1 +
			                               sizeof(REDACTED_ESC) +
			                               SPAN_SLACK) != 0)
				goto fail;
			o = out->data + out->len;
			memcpy(o, REDACTED_ESC, sizeof(REDACTED_ESC) - 1);
			o += sizeof(REDACTED_ESC) - 1;
		} else {
			otas__buf_append(out, s + copied,
			                 redact_start - copied);
			otas__buf_append(out, REDACTED_JSON,
			                 sizeof(REDACTED_JSON) - 1);
		}
		copied = p;
		redact_depth = SIZE_MAX;
	}
	/* `,` then the next member or element, the common case, without
	 * the blank-space loops. */
	if (depth && p + 1 < len && s[p] == ',' && s[p + 1] > ' ') {
		p++;
		if (kind[depth] == K_OBJ)
			goto key;
		index[depth]++;
		goto element;
	}
	if (depth && p + 2 < len && s[p] == ',' && s[p + 1] == ' ' &&
	    s[p + 2] > ' ') { /* `, ` (json.dumps' default separator) */
		p += 2;
		if (kind[depth] == K_OBJ)
			goto key;
		index[depth]++;
		goto element;
	}
	if (depth && p < len && s[p] == (kind[depth] == K_OBJ ? '}' : ']')) {
		p++;
		depth--;
		goto after;
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
	if (states != small)
		free(states);
	if (!esc) {
		otas__buf_append(out, s + copied, len - copied);
		return 0;
	}
	o = esc_span(o, s, len, copied, len);
	*o++ = '"';
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	if (len - removed + added > cap) {
		out->len = out0;
		out->data[out0] = '\0';
		return 1;
	}
	return 0;
fail:
	out->len = out0;
	if (out->data && out->len < out->cap)
		out->data[out->len] = '\0';
	if (states != small)
		free(states);
	return -1;
}

int
otas__redact_json_names(const otas__jsonpath_set_t *rules,
                        const otas__nameset_t *names, const char *in,
                        size_t len, otas__buf_t *out)
{
	return redact_core(rules, names, in, len, out, 0, SIZE_MAX);
}

int
otas__redact_json_names_str(const otas__jsonpath_set_t *rules,
                            const otas__nameset_t *names, const char *in,
                            size_t len, size_t cap, otas__buf_t *out)
{
	return redact_core(rules, names, in, len, out, 1, cap);
}
