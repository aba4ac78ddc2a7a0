/*
 * jsonpath.c -- parse comma-separated JSONPath rules into one NFA and step
 * it member by member (see jsonpath.h for the state numbering).
 *
 * Design note.  The redactor must not allocate per byte and must not
 * backtrack, so every rule is compiled once into a flat array of steps
 * (a name, `*`, an index or a list of selectors -- names, indexes and
 * slices -- each optionally preceded by `..`).  The set of
 * active steps at a node is a bitset; the walker in redact_json.c keeps one
 * per depth, so matching costs one pass over the active bits per member,
 * independent of the document size.  Names are stored decoded (UTF-8) and
 * compared with member keys after decoding the key's JSON escapes on the
 * fly, so no key is ever copied.
 *
 * The grammar accepted (blank space allowed around rules and inside
 * brackets):
 *   rule     = "$" *segment / name         (a bare name is "$.." name)
 *   segment  = "." name / ".*" / ".." (name / "*" / bracket) / bracket
 *   bracket  = "[" selector *( "," selector ) "]"
 *   selector = quoted / "*" / int / slice
 *   slice    = [int] ":" [int] [ ":" [int] ]  (start:end:step, step != 0)
 *   name     = 1*( ALPHA / DIGIT / "_" / "-" / %x80-FF )
 *   quoted   = "'" ... "'" / DQUOTE ... DQUOTE   (JSON-style escapes, \')
 *   int      = ["-"] ( "0" / %x31-39 *DIGIT )   (no "-0")
 * Slices follow RFC 9535 (negative bounds count from the end, bounds are
 * clamped, a negative step walks backwards); since a redactor only cares
 * which elements are selected, order and duplicates do not matter.
 * Filters `[?...]` and script expressions `[(...)]` are refused: they need
 * a value's contents (or its siblings') before the value can be written,
 * which a single pass without buffering cannot do.
 *
 * Negative indexes and the slices that depend on an array's length (a
 * negative bound, or a negative step other than -1 over non-negative
 * bounds, which is rewritten to a positive one) mark their step as
 * needing the element count; the walker then counts that one array's
 * elements with a look-ahead scan before descending into it
 * (otas__jsonpath_needs_count).  Rule sets without such steps never scan.
 * Errors name the rule and the 1-based position of the offending
 * character within it (the last character when the rule ended early).
 */
#include "event/jsonpath.h"
#include "common/hex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULE_SHOWN 64

/* STEP_SEL: a bracket that is not one plain name, `*` or non-negative
 * index (a union, a slice, a negative index). */
enum { STEP_NAME, STEP_WILD, STEP_INDEX, STEP_SEL, STEP_ACCEPT };
enum { SEL_NAME, SEL_INDEX, SEL_SLICE };

/* Integers of indexes and slices are saturated to +-BIG: no array has
 * that many elements, so a larger bound selects the same elements. */
#define BIG ((int64_t)1 << 62)

typedef struct {
	unsigned char kind;
	unsigned char has_start, has_end; /* SEL_SLICE */
	int64_t start;                    /* SEL_INDEX: the index */
	int64_t end, step;
	size_t len;                       /* SEL_NAME */
	char *name;
} sel_t;

typedef struct {
	unsigned char kind;
	unsigned char desc;  /* preceded by "..": stays active below */
	unsigned char count; /* STEP_SEL: needs the array's element count */
	size_t len;          /* STEP_NAME: name length */
	size_t index;        /* STEP_INDEX */
	char *name;          /* STEP_NAME: decoded, NUL-terminated */
	sel_t *sels;         /* STEP_SEL */
	size_t nsels;
} step_t;

struct otas__jsonpath_set_s {
	size_t nrules;
	size_t nstates; /* steps[] entries, accepting states included */
	size_t nwords;
	int root_match; /* a rule "$" */
	step_t *steps;
	uint64_t *root;  /* states active at the root */
	uint64_t *count; /* states whose step needs the element count, or
	                  * NULL when none does */
	/* No step is "..", `*` or a bracket selector: a member can only be
	 * taken by a name step of its length and first byte, and
	 * name_filter has bit name_bit() of every name step's. */
	int plain;
	uint64_t name_filter;
};

#define name_bit otas__jsonpath_name_bit

/* ------------------------------------------------------------- parsing */

typedef struct {
	const char *s;   /* whole rules string */
	size_t len;
	size_t pos;      /* cursor */
	size_t rstart;   /* start of the current rule */
	step_t *steps;   /* growing array */
	size_t nsteps, cap;
	char *err;
	size_t errlen;
} parser_t;

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c >= 0x80;
}

/* End of the rule that starts at `from`: the next comma outside quotes
 * and brackets (so that `$.a[0,2]` and `$['a','b']` are one rule). */
static size_t
rule_end(const char *s, size_t len, size_t from)
{
	size_t i = from, depth = 0;
	char q = 0;

	for (; i < len; i++) {
		if (q) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == q)
				q = 0;
		} else if (s[i] == '\'' || s[i] == '"') {
			q = s[i];
		} else if (s[i] == '[') {
			depth++;
		} else if (s[i] == ']' && depth) {
			depth--;
		} else if (s[i] == ',' && !depth) {
			break;
		}
	}
	return i;
}

static int
fail_at(parser_t *p, size_t at, const char *msg)
{
	size_t end = rule_end(p->s, p->len, p->rstart);
	size_t pos;

	while (end > p->rstart && is_blank(p->s[end - 1]))
		end--;
	/* Past the end of the rule: blame its last character. */
	pos = at < end ? at - p->rstart + 1 : end - p->rstart;
	if (pos == 0)
		pos = 1;
	/* A long rule is cut so that the position and reason stay visible. */
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen,
		         "rule \"%.*s%s\" at position %zu: %s",
		         (int)(end - p->rstart > RULE_SHOWN ? RULE_SHOWN
		                                            : end - p->rstart),
		         p->s + p->rstart,
		         end - p->rstart > RULE_SHOWN ? "..." : "", pos, msg);
	return -1;
}

static step_t *
add_step(parser_t *p, int kind, int desc)
{
	step_t *st;

	if (p->nsteps == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 16;
		step_t *n = realloc(p->steps, ncap * sizeof(*n));
		if (!n)
			return NULL;
		p->steps = n;
		p->cap = ncap;
	}
	st = &p->steps[p->nsteps++];
	memset(st, 0, sizeof(*st));
	st->kind = (unsigned char)kind;
	st->desc = (unsigned char)desc;
	return st;
}

static int
hex4(const char *s, size_t avail, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (avail < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		int h = otas__hex_value((unsigned char)s[i]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

static size_t
utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* The \uXXXX escape (or surrogate pair) at *i in a quoted name. */
static int
quoted_u_escape(parser_t *p, size_t *i, unsigned *cp)
{
	const char *s = p->s;
	size_t at = *i, len = p->len;
	unsigned lo;

	if (hex4(s + at + 2, len - at - 2, cp) != 0)
		return fail_at(p, at, "expected 4 hex digits after \\u");
	*i += 6;
	if (*cp >= 0xDC00 && *cp <= 0xDFFF)
		return fail_at(p, at, "lone surrogate in \\u escape");
	if (*cp < 0xD800 || *cp > 0xDBFF)
		return 0;
	if (*i + 1 >= len || s[*i] != '\\' || s[*i + 1] != 'u' ||
	    hex4(s + *i + 2, len - *i - 2, &lo) != 0 || lo < 0xDC00 ||
	    lo > 0xDFFF)
		return fail_at(p, at, "lone surrogate in \\u escape");
	*i += 6;
	*cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
	return 0;
}

/* A quoted name at p->pos (on the quote).  Decodes into a new string
 * stored at *out (also on failure, for the caller to free). */
static int
parse_quoted(parser_t *p, char **out, size_t *outlen)
{
	char q = p->s[p->pos];
	size_t open = p->pos, i = p->pos + 1, o = 0;
	char *name;

	/* Decoded length <= raw length. */
	name = malloc(p->len - i + 1);
	if (!name)
		return fail_at(p, open, "out of memory");
	*out = name;
	for (;;) {
		char c;
		if (i >= p->len)
			return fail_at(p, i, "unterminated quoted name");
		c = p->s[i];
		if (c == q)
			break;
		if (c != '\\') {
			name[o++] = c;
			i++;
			continue;
		}
		if (i + 1 >= p->len)
			return fail_at(p, i + 1, "unterminated quoted name");
		c = p->s[i + 1];
		switch (c) {
		case '"': case '\'': case '\\': case '/':
			name[o++] = c; i += 2; continue;
		case 'b': name[o++] = '\b'; i += 2; continue;
		case 'f': name[o++] = '\f'; i += 2; continue;
		case 'n': name[o++] = '\n'; i += 2; continue;
		case 'r': name[o++] = '\r'; i += 2; continue;
		case 't': name[o++] = '\t'; i += 2; continue;
		case 'u': {
			unsigned cp;
			if (quoted_u_escape(p, &i, &cp) != 0)
				return -1;
			/* A \u escape (6 raw bytes, 12 for a pair)
			 * decodes to at most 3 (4) bytes. */
			o += utf8_put(name + o, cp);
			continue;
		}
		default:
			return fail_at(p, i, "invalid escape in quoted name");
		}
	}
	name[o] = '\0';
	*outlen = o;
	p->pos = i + 1;
	return 0;
}

static void
skip_blank(parser_t *p)
{
	while (p->pos < p->len && is_blank(p->s[p->pos]))
		p->pos++;
}

/* An integer at p->pos ("-"? digits): its magnitude in *mag (exact, up to
 * SIZE_MAX) and sign in *neg.  p->pos is on a '-' or a digit. */
static int
parse_int(parser_t *p, int *neg, size_t *mag)
{
	size_t v = 0, at = p->pos;

	*neg = p->s[p->pos] == '-';
	if (*neg)
		p->pos++;
	if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
		return fail_at(p, p->pos, "expected a digit after '-'");
	if (p->s[p->pos] == '0' && p->pos + 1 < p->len &&
	    p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
		return fail_at(p, at, "index with a leading zero");
	if (*neg && p->s[p->pos] == '0')
		return fail_at(p, at, "-0 is not an index (write 0)");
	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
		size_t d = (size_t)(p->s[p->pos] - '0');
		if (v > (SIZE_MAX - d) / 10)
			return fail_at(p, at, "index out of range");
		v = v * 10 + d;
		p->pos++;
	}
	*mag = v;
	return 0;
}

static int64_t
saturate(int neg, size_t mag)
{
	int64_t v = mag > (size_t)BIG ? BIG : (int64_t)mag;

	return neg ? -v : v;
}

static int
is_int_start(const parser_t *p)
{
	char c = p->pos < p->len ? p->s[p->pos] : 0;

	return c == '-' || (c >= '0' && c <= '9');
}

/* An index or a slice at p->pos into sel (kind set).  An optional integer
 * position (`[:`, `[1:`, `[::2]`) starts a slice. */
static int
parse_index_or_slice(parser_t *p, sel_t *sel, size_t *plain)
{
	int neg;
	size_t mag, at = p->pos;

	memset(sel, 0, sizeof(*sel));
	sel->kind = SEL_INDEX;
	sel->step = 1;
	if (is_int_start(p)) {
		if (parse_int(p, &neg, &mag) != 0)
			return -1;
		sel->start = saturate(neg, mag);
		sel->has_start = 1;
		*plain = neg ? SIZE_MAX : mag;
		skip_blank(p);
	}
	if (p->pos >= p->len || p->s[p->pos] != ':') {
		if (!sel->has_start)
			return fail_at(p, at,
			               "expected an index, '*' or a quoted "
			               "name");
		return 0;
	}
	/* A slice: start ":" [end] [":" [step]]. */
	sel->kind = SEL_SLICE;
	*plain = SIZE_MAX;
	p->pos++;
	skip_blank(p);
	if (is_int_start(p)) {
		if (parse_int(p, &neg, &mag) != 0)
			return -1;
		sel->end = saturate(neg, mag);
		sel->has_end = 1;
		skip_blank(p);
	}
	if (p->pos < p->len && p->s[p->pos] == ':') {
		p->pos++;
		skip_blank(p);
		if (is_int_start(p)) {
			size_t sat = p->pos;
			if (parse_int(p, &neg, &mag) != 0)
				return -1;
			if (mag == 0)
				return fail_at(p, sat,
				               "a slice step of 0 selects "
				               "nothing");
			sel->step = saturate(neg, mag);
			skip_blank(p);
		}
	}
	/* [a:b:-1] over non-negative bounds is {b < i <= a}: rewrite it
	 * as [b+1:a+1] so that it does not need the element count. */
	if (sel->step == -1 && (!sel->has_start || sel->start >= 0) &&
	    (!sel->has_end || sel->end >= 0)) {
		int64_t a = sel->start, b = sel->end;
		int ha = sel->has_start, hb = sel->has_end;
		sel->step = 1;
		sel->has_start = hb;
		sel->start = hb ? b + 1 : 0;
		sel->has_end = ha;
		sel->end = ha ? a + 1 : 0;
	}
	return 0;
}

static int
sel_needs_count(const sel_t *sel)
{
	if (sel->kind == SEL_INDEX)
		return sel->start < 0;
	if (sel->kind == SEL_SLICE)
		return (sel->has_start && sel->start < 0) ||
		       (sel->has_end && sel->end < 0) || sel->step < 0;
	return 0;
}

static void
free_sels(sel_t *sels, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(sels[i].name);
	free(sels);
}

/* "[" selector *("," selector) "]" at p->pos (on the '[').  One plain
 * name, `*` or non-negative index becomes a STEP_NAME, STEP_WILD or
 * STEP_INDEX (the fast paths); a list containing `*` is `*`; anything
 * else a STEP_SEL. */
static int
parse_bracket(parser_t *p, int desc)
{
	step_t *st;
	sel_t *sels = NULL, *sel;
	size_t nsels = 0, cap = 0, open = p->pos, plain = SIZE_MAX, i;
	int wild = 0, last_index;

	p->pos++;
	for (;;) {
		char c;
		last_index = 0;
		skip_blank(p);
		if (p->pos >= p->len)
			goto expected;
		c = p->s[p->pos];
		if (c == '?')
			goto filter;
		if (c == '(')
			goto script;
		if (nsels == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			sel_t *n = realloc(sels, ncap * sizeof(*n));
			if (!n) {
				fail_at(p, open, "out of memory");
				goto fail;
			}
			sels = n;
			cap = ncap;
		}
		sel = &sels[nsels];
		memset(sel, 0, sizeof(*sel));
		if (c == '\'' || c == '"') {
			nsels++;
			sel->kind = SEL_NAME;
			if (parse_quoted(p, &sel->name, &sel->len) != 0)
				goto fail;
		} else if (c == '*') {
			wild = 1;
			p->pos++;
		} else if (c == '-' || c == ':' || (c >= '0' && c <= '9')) {
			if (parse_index_or_slice(p, sel, &plain) != 0)
				goto fail;
			last_index = sel->kind == SEL_INDEX;
			nsels++;
		} else {
			goto expected;
		}
		skip_blank(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == ']')
			break;
		fail_at(p, p->pos,
		        last_index ? "expected ':', ',' or ']'"
		                   : "expected ',' or ']'");
		goto fail;
	}
	p->pos++;
	if (!(st = add_step(p, STEP_WILD, desc))) {
		fail_at(p, open, "out of memory");
		goto fail;
	}
	if (wild) {
		free_sels(sels, nsels);
		return 0;
	}
	if (nsels == 1 && sels[0].kind == SEL_NAME) {
		st->kind = STEP_NAME;
		st->name = sels[0].name;
		st->len = sels[0].len;
		free(sels);
		return 0;
	}
	if (nsels == 1 && sels[0].kind == SEL_INDEX && plain != SIZE_MAX) {
		st->kind = STEP_INDEX;
		st->index = plain;
		free(sels);
		return 0;
	}
	st->kind = STEP_SEL;
	st->sels = sels;
	st->nsels = nsels;
	for (i = 0; i < nsels; i++)
		if (sel_needs_count(&sels[i]))
			st->count = 1;
	return 0;
expected:
	fail_at(p, p->pos, "expected an index, '*' or a quoted name");
	goto fail;
filter:
	fail_at(p, p->pos,
	        "filters [?...] are not supported (a single-pass redactor "
	        "cannot look at a value before writing it)");
	goto fail;
script:
	fail_at(p, p->pos,
	        "script expressions [(...)] are not supported (for the last "
	        "element write [-1])");
fail:
	free_sels(sels, nsels);
	return -1;
}

/* A dot-name or '*' at p->pos. */
static int
parse_dotted(parser_t *p, int desc)
{
	step_t *st;
	size_t start = p->pos;

	if (p->pos < p->len && p->s[p->pos] == '*') {
		if (!add_step(p, STEP_WILD, desc))
			return fail_at(p, start, "out of memory");
		p->pos++;
		return 0;
	}
	while (p->pos < p->len && is_name_char((unsigned char)p->s[p->pos]))
		p->pos++;
	if (p->pos == start)
		return fail_at(p, start,
		               desc ? "expected a name, '*' or '[' after '..'"
		                    : "expected a name or '*' after '.'");
	if (!(st = add_step(p, STEP_NAME, desc)) ||
	    !(st->name = malloc(p->pos - start + 1)))
		return fail_at(p, start, "out of memory");
	memcpy(st->name, p->s + start, p->pos - start);
	st->name[p->pos - start] = '\0';
	st->len = p->pos - start;
	return 0;
}

/* One rule from p->pos; leaves p->pos after its trailing blanks. */
static int
parse_rule(parser_t *p)
{
	while (p->pos < p->len && is_blank(p->s[p->pos]))
		p->pos++;
	p->rstart = p->pos;
	if (p->pos < p->len && is_name_char((unsigned char)p->s[p->pos])) {
		/* A bare name: that member at any depth ("$..name"). */
		if (parse_dotted(p, 1) != 0)
			return -1;
		skip_blank(p);
		if (p->pos < p->len && p->s[p->pos] != ',')
			return fail_at(p, p->pos,
			               "expected ',' after a bare name (a path "
			               "starts with '$')");
		goto accept;
	}
	if (p->pos >= p->len || p->s[p->pos] != '$')
		return fail_at(p, p->pos, "expected '$' or a name");
	p->pos++;
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c == '.') {
			if (p->pos + 1 < p->len && p->s[p->pos + 1] == '.') {
				p->pos += 2;
				if (p->pos < p->len && p->s[p->pos] == '[') {
					if (parse_bracket(p, 1) != 0)
						return -1;
				} else if (parse_dotted(p, 1) != 0) {
					return -1;
				}
			} else {
				p->pos++;
				if (parse_dotted(p, 0) != 0)
					return -1;
			}
		} else if (c == '[') {
			if (parse_bracket(p, 0) != 0)
				return -1;
		} else {
			break;
		}
	}
	while (p->pos < p->len && is_blank(p->s[p->pos]))
		p->pos++;
	if (p->pos < p->len && p->s[p->pos] != ',')
		return fail_at(p, p->pos, "expected '.', '[' or ','");
accept:
	if (!add_step(p, STEP_ACCEPT, 0))
		return fail_at(p, p->rstart, "out of memory");
	return 0;
}

static void
free_steps(step_t *steps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(steps[i].name);
		free_sels(steps[i].sels, steps[i].nsels);
	}
	free(steps);
}

otas__jsonpath_set_t *
otas__jsonpath_parse(const char *rules, char *err, size_t errlen)
{
	parser_t p;
	otas__jsonpath_set_t *set = NULL;
	size_t i, first;

	memset(&p, 0, sizeof(p));
	p.s = rules ? rules : "";
	p.len = strlen(p.s);
	p.err = err;
	p.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';

	set = calloc(1, sizeof(*set));
	if (!set)
		goto oom;
	/* All blank: the empty set. */
	for (i = 0; i < p.len && is_blank(p.s[i]); i++)
		;
	if (i < p.len) {
		for (;;) {
			first = p.nsteps;
			if (parse_rule(&p) != 0)
				goto fail;
			set->nrules++;
			/* "$": no steps, it matches the root itself. */
			if (p.nsteps - first == 1) {
				set->root_match = 1;
				p.nsteps--;
			}
			if (p.pos >= p.len)
				break;
			p.pos++; /* the comma */
		}
	}
	set->steps = p.steps;
	set->nstates = p.nsteps;
	p.steps = NULL;
	set->nwords = (set->nstates + 63) / 64;
	if (set->nwords) {
		set->root = calloc(set->nwords, sizeof(uint64_t));
		if (!set->root)
			goto oom;
		/* Each rule's first state is the one after an accepting state
		 * (or the very first). */
		for (i = 0; i < set->nstates; i++)
			if (i == 0 || set->steps[i - 1].kind == STEP_ACCEPT)
				set->root[i / 64] |= (uint64_t)1 << (i % 64);
		set->plain = 1;
		for (i = 0; i < set->nstates; i++) {
			const step_t *st = &set->steps[i];
			if (st->desc || st->kind == STEP_WILD ||
			    st->kind == STEP_SEL)
				set->plain = 0;
			if (st->kind == STEP_NAME)
				set->name_filter |= (uint64_t)1
				                    << name_bit(st->name, st->len);
		}
		for (i = 0; i < set->nstates; i++) {
			if (!set->steps[i].count)
				continue;
			if (!set->count &&
			    !(set->count = calloc(set->nwords,
			                          sizeof(uint64_t))))
				goto oom;
			set->count[i / 64] |= (uint64_t)1 << (i % 64);
		}
	}
	return set;
oom:
	if (err && errlen)
		snprintf(err, errlen, "out of memory parsing redaction rules");
fail:
	free_steps(p.steps, p.nsteps);
	otas__jsonpath_free(set);
	return NULL;
}

void
otas__jsonpath_free(otas__jsonpath_set_t *set)
{
	if (!set)
		return;
	free_steps(set->steps, set->nstates);
	free(set->root);
	free(set->count);
	free(set);
}

size_t
otas__jsonpath_count(const otas__jsonpath_set_t *set)
{
	return set ? set->nrules : 0;
}

/* ------------------------------------------------------------ matching */

size_t
otas__jsonpath_nwords(const otas__jsonpath_set_t *set)
{
	return set ? set->nwords : 0;
}

int
otas__jsonpath_start(const otas__jsonpath_set_t *set, uint64_t *states)
{
	if (!set)
		return 0;
	if (set->nwords)
		memcpy(states, set->root, set->nwords * sizeof(uint64_t));
	return set->root_match;
}

int
otas__jsonpath_has_count_rules(const otas__jsonpath_set_t *set)
{
	return set && set->count;
}

int
otas__jsonpath_needs_count(const otas__jsonpath_set_t *set,
                           const uint64_t *states)
{
	size_t w;

	if (!set || !set->count)
		return 0;
	for (w = 0; w < set->nwords; w++)
		if (states[w] & set->count[w])
			return 1;
	return 0;
}

int
otas__jsonpath_live(const otas__jsonpath_set_t *set, const uint64_t *states)
{
	size_t w;

	for (w = 0; set && w < set->nwords; w++)
		if (states[w])
			return 1;
	return 0;
}

/* Decode one character of a valid JSON string's raw contents into UTF-8.
 * Returns the bytes written to o (<= 4) and advances *i; 0 for a lone
 * surrogate (which no rule name can contain). */
static size_t
json_decode_one(const char *raw, size_t rawlen, size_t *i, char *o)
{
	unsigned cp, lo;
	char c = raw[*i];

	if (c != '\\') {
		o[0] = c;
		(*i)++;
		return 1;
	}
	c = raw[*i + 1];
	*i += 2;
	switch (c) {
	case 'b': o[0] = '\b'; return 1;
	case 'f': o[0] = '\f'; return 1;
	case 'n': o[0] = '\n'; return 1;
	case 'r': o[0] = '\r'; return 1;
	case 't': o[0] = '\t'; return 1;
	case 'u': break;
	default: o[0] = c; return 1; /* " \ / */
	}
	if (hex4(raw + *i, rawlen - *i, &cp) != 0)
		return 0;
	*i += 4;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return 0;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (*i + 6 > rawlen || raw[*i] != '\\' || raw[*i + 1] != 'u' ||
		    hex4(raw + *i + 2, rawlen - *i - 2, &lo) != 0 ||
		    lo < 0xDC00 || lo > 0xDFFF)
			return 0;
		*i += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	return utf8_put(o, cp);
}

int
otas__json_str_equal(const char *raw, size_t rawlen, const char *name,
                     size_t nlen)
{
	size_t i = 0, j = 0;
	char tmp[4];

	while (i < rawlen) {
		size_t k;
		if (raw[i] != '\\') {
			if (j >= nlen || raw[i] != name[j])
				return 0;
			i++;
			j++;
			continue;
		}
		k = json_decode_one(raw, rawlen, &i, tmp);
		if (k == 0 || k > nlen - j || memcmp(tmp, name + j, k) != 0)
			return 0;
		j += k;
	}
	return j == nlen;
}

static int
name_equal(const step_t *st, const char *key, size_t len, int escaped)
{
	/* The first byte before a memcmp call: most keys differ there. */
	if (!escaped)
		return len == st->len &&
		       (len == 0 || (key[0] == st->name[0] &&
		                     memcmp(key, st->name, len) == 0));
	return otas__json_str_equal(key, len, st->name, st->len);
}

static __attribute__((noinline)) int
sels_match_name(const step_t *st, const char *key, size_t len, int escaped)
{
	size_t i;

	for (i = 0; i < st->nsels; i++) {
		const sel_t *sel = &st->sels[i];
		if (sel->kind != SEL_NAME)
			continue;
		if (!escaped ? len == sel->len &&
		                   memcmp(key, sel->name, len) == 0
		             : otas__json_str_equal(key, len, sel->name,
		                                    sel->len))
			return 1;
	}
	return 0;
}

static int64_t
clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Whether element `index` of an array of `count` elements (SIZE_MAX:
 * unknown, only for selectors that do not need it) is selected: RFC 9535
 * index and slice semantics. */
static int
sel_match_index(const sel_t *sel, size_t index, size_t count)
{
	int64_t n, i, lo, hi;

	if (sel->kind == SEL_NAME)
		return 0;
	if (count == SIZE_MAX) {
		if (sel_needs_count(sel))
			return 0;
		n = BIG;
	} else {
		n = count > (size_t)BIG ? BIG : (int64_t)count;
	}
	i = index > (size_t)BIG ? BIG : (int64_t)index;
	if (sel->kind == SEL_INDEX)
		return (sel->start < 0 ? n + sel->start : sel->start) == i;
	if (sel->step > 0) {
		lo = sel->has_start
		         ? clamp(sel->start < 0 ? n + sel->start : sel->start,
		                 0, n)
		         : 0;
		hi = sel->has_end
		         ? clamp(sel->end < 0 ? n + sel->end : sel->end, 0, n)
		         : n;
		return lo <= i && i < hi && (i - lo) % sel->step == 0;
	}
	hi = sel->has_start
	         ? clamp(sel->start < 0 ? n + sel->start : sel->start, -1,
	                 n - 1)
	         : n - 1;
	lo = sel->has_end
	         ? clamp(sel->end < 0 ? n + sel->end : sel->end, -1, n - 1)
	         : -1;
	return lo < i && i <= hi && (hi - i) % -sel->step == 0;
}

static __attribute__((noinline)) int
sels_match_index(const step_t *st, size_t index, size_t count)
{
	size_t i;

	for (i = 0; i < st->nsels; i++)
		if (sel_match_index(&st->sels[i], index, count))
			return 1;
	return 0;
}

/* The common walk: `hit(st)` says whether step st accepts the child. */
#define STEP_ALL(HIT)                                                      \
	do {                                                               \
		size_t w, nw = set->nwords;                                \
		/* One word for up to 64 steps: no memset call. */         \
		if (nw == 1)                                               \
			next[0] = 0;                                       \
		else                                                       \
			memset(next, 0, nw * sizeof(uint64_t));            \
		for (w = 0; w < nw; w++) {                                 \
			uint64_t bits = cur[w];                            \
			while (bits) {                                     \
				size_t s = w * 64 +                        \
				           (size_t)__builtin_ctzll(bits);  \
				const step_t *st = &set->steps[s];         \
				bits &= bits - 1;                          \
				if (st->desc)                              \
					next[w] |= (uint64_t)1 << (s % 64); \
				if (HIT) {                                 \
					if (st[1].kind == STEP_ACCEPT)     \
						return 1;                  \
					next[(s + 1) / 64] |=              \
					    (uint64_t)1 << ((s + 1) % 64); \
				}                                          \
			}                                                  \
		}                                                          \
		return 0;                                                  \
	} while (0)

uint64_t
otas__jsonpath_name_filter(const otas__jsonpath_set_t *set)
{
	return set && set->plain ? set->name_filter : ~(uint64_t)0;
}

int
otas__jsonpath_member(const otas__jsonpath_set_t *set, const uint64_t *cur,
                      const char *key, size_t len, int json_escaped,
                      uint64_t *next)
{
	/* No name step of this key's length and first byte, and nothing
	 * else that takes a member: nothing is active below it (most keys
	 * under rules like $.password). */
	if (set->plain && !json_escaped &&
	    !(set->name_filter >> name_bit(key, len) & 1)) {
		if (set->nwords == 1)
			next[0] = 0;
		else
			memset(next, 0, set->nwords * sizeof(uint64_t));
		return 0;
	}
	/* Names first: the common step; STEP_SEL last (and out of line). */
	STEP_ALL(st->kind == STEP_NAME
	             ? name_equal(st, key, len, json_escaped)
	             : st->kind == STEP_WILD ||
	                   (st->kind == STEP_SEL &&
	                    sels_match_name(st, key, len, json_escaped)));
}

int
otas__jsonpath_element(const otas__jsonpath_set_t *set, const uint64_t *cur,
                       size_t index, size_t count, uint64_t *next)
{
	STEP_ALL(st->kind == STEP_INDEX
	             ? st->index == index
	             : st->kind == STEP_WILD ||
	                   (st->kind == STEP_SEL &&
	                    sels_match_index(st, index, count)));
}

uint64_t *
otas__jsonpath_states_alloc(const otas__jsonpath_set_t *rules, size_t depth, uint64_t *small,
             size_t nsmall)
{
	size_t nw = otas__jsonpath_nwords(rules);

	if (nw * depth <= nsmall)
		return small;
	if (nw > SIZE_MAX / sizeof(uint64_t) / depth)
		return NULL;
	return malloc(nw * depth * sizeof(uint64_t));
}

