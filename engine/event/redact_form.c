/*
 * redact_form.c -- redaction of form-encoded bodies and query strings, and
 * their JSON form for query_params / post_data (see redact_body.h for the
 * contract; JSON bodies are redact_json.c's).
 *
 * Design note.  Fields split on '&', name and value on the first '='.
 * Names are matched after '+' and %XX decoding (an invalid %-sequence stays
 * literal, as in Python's urllib); a matched field's value is replaced,
 * even when empty or absent (so `a` alone becomes `a=%5BREDACTED%5D`):
 * whether a secret was empty is itself not sent.
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

#define REDACTED_FORM "%5BREDACTED%5D"
#define REDACTED_JSON "\"" OTAS__REDACTED "\""

/* ------------------------------------------------------------ helpers */

/* Percent/plus-decode in[0..len) into dst (room for len bytes: decoding
 * never grows); returns the decoded length. */
static size_t
form_decode_into(const char *in, size_t len, char *dst)
{
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		int h, l;
		if (c == '+') {
			dst[o++] = ' ';
			i++;
		} else if (c == '%' && i + 2 < len &&
		           (h = otas__hex_value((unsigned char)in[i + 1])) >= 0 &&
		           (l = otas__hex_value((unsigned char)in[i + 2])) >= 0) {
			dst[o++] = (char)(h << 4 | l);
			i += 3;
		} else {
			dst[o++] = (char)c;
			i++;
		}
	}
	return o;
}

/* Percent/plus-decode in[0..len) into out (appended). */
static void
form_decode(const char *in, size_t len, otas__buf_t *out)
{
	if (otas__buf_reserve(out, len) != 0)
		return;
	out->len += form_decode_into(in, len, out->data + out->len);
	out->data[out->len] = '\0';
}

/* Append bytes as a JSON string (quotes included); invalid UTF-8 becomes
 * U+FFFD, one per maximal invalid byte. */
static void
put_json_string(otas__buf_t *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	/* Nothing to escape (a query's names and values, nearly always):
	 * one reservation and one copy. */
	if (otas__json_plain_end(u, 0, len) == len) {
		if (otas__buf_reserve(out, len + 2) != 0)
			return;
		out->data[out->len++] = '"';
		memcpy(out->data + out->len, s, len);
		out->len += len;
		out->data[out->len++] = '"';
		out->data[out->len] = '\0';
		return;
	}
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
			n = otas__utf8_seq(u + i, len - i);
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

	st = otas__jsonpath_states_alloc(rules, 2, small, 16);
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

#define SMALL_FIELDS 8 /* fields kept on the stack (tsize 16) */
#define SMALL_TEXT 256 /* bytes of decoded names, of a value, ditto */

int
otas__urlencoded_to_json(const otas__jsonpath_set_t *rules,
                         const otas__nameset_t *nset, const char *in,
                         size_t len, otas__buf_t *out)
{
	otas__buf_t nb = OTAS__BUF_INIT, val = OTAS__BUF_INIT;
	/* Decoded names (at most len bytes in all) and one decoded value
	 * at a time: on the stack when they fit, else in nb and val. */
	char names_small[SMALL_TEXT], val_small[SMALL_TEXT], *names;
	size_t nused = 0;
	field_t *fields = NULL, fields_small[SMALL_FIELDS];
	size_t *table = NULL, table_small[2 * SMALL_FIELDS], nf = 0, cap = 0,
	       tsize, i;
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
	tsize = 16;
	while (tsize < cap * 2)
		tsize *= 2;
	/* A query string has a few fields: arrays on the stack then. */
	if (cap <= SMALL_FIELDS && tsize <= 2 * SMALL_FIELDS) {
		fields = fields_small;
		table = table_small;
	} else {
		fields = malloc(cap * sizeof(*fields));
		table = malloc(tsize * sizeof(*table));
	}
	st = otas__jsonpath_states_alloc(rules, 2, small, 16);
	if (len <= SMALL_TEXT)
		names = names_small;
	else if (otas__buf_reserve(&nb, len) == 0)
		names = nb.data;
	else
		goto oom;
	if (!fields || !table || !st)
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
		fd->noff = nused;
		nused += form_decode_into(f, nlen, names + nused);
		fd->nlen = nused - fd->noff;
		fd->voff = eq ? (size_t)(eq - in) + 1 : i + flen;
		fd->vlen = i + flen - fd->voff;
		fd->next = SIZE_MAX;
		fd->last = nf;
		fd->first = 1;
		fd->redacted = 0;
		/* Group by decoded name: open addressing on its hash. */
		slot = (size_t)hash_bytes(names + fd->noff, fd->nlen) &
		       (tsize - 1);
		for (;;) {
			size_t j = table[slot];
			if (j == SIZE_MAX) {
				table[slot] = nf;
				fd->redacted = form_name_redacted(
				    rules, nset, names + fd->noff, fd->nlen,
				    st);
				break;
			}
			if (fields[j].nlen == fd->nlen &&
			    memcmp(names + fields[j].noff,
			           names + fd->noff, fd->nlen) == 0) {
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
		put_json_string(out, names + fields[i].noff, fields[i].nlen);
		otas__buf_puts(out, ": [");
		for (j = i; j != SIZE_MAX; j = fields[j].next) {
			if (!firstv)
				otas__buf_puts(out, ", ");
			firstv = 0;
			if (fields[j].redacted) {
				otas__buf_puts(out, REDACTED_JSON);
				continue;
			}
			if (fields[j].vlen <= SMALL_TEXT) {
				put_json_string(out, val_small,
				                form_decode_into(in + fields[j].voff,
				                                 fields[j].vlen,
				                                 val_small));
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
	if (fields != fields_small)
		free(fields);
	if (table != table_small)
		free(table);
	if (st != small)
		free(st);
	return 0;
}

