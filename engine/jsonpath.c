/*
 * jsonpath.c -- parse comma-separated JSONPath rules into one NFA and step
 * it member by member (see jsonpath.h for the state numbering).
 *
 * Design note.  The redactor must not allocate per byte and must not
 * backtrack, so every rule is compiled once into a flat array of steps
 * (a name, `*` or an index, each optionally preceded by `..`).  The set of
 * active steps at a node is a bitset; the walker in redact_body.c keeps one
 * per depth, so matching costs one pass over the active bits per member,
 * independent of the document size.  Names are stored decoded (UTF-8) and
 * compared with member keys after decoding the key's JSON escapes on the
 * fly, so no key is ever copied.
 *
 * The grammar accepted (blank space allowed around rules and inside
 * brackets):
 *   rule     = "$" *segment
 *   segment  = "." name / ".*" / ".." (name / "*" / bracket) / bracket
 *   bracket  = "[" ( quoted / index / "*" ) "]"
 *   name     = 1*( ALPHA / DIGIT / "_" / "-" / %x80-FF )
 *   quoted   = "'" ... "'" / DQUOTE ... DQUOTE   (JSON-style escapes, \')
 *   index    = "0" / %x31-39 *DIGIT               (no negative indexes: a
 *              streaming pass does not know an array's length)
 * Errors name the rule and the 1-based position of the offending
 * character within it (the last character when the rule ended early).
 */
#include "jsonpath.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULE_SHOWN 64

enum { STEP_NAME, STEP_WILD, STEP_INDEX, STEP_ACCEPT };

typedef struct {
	unsigned char kind;
	unsigned char desc; /* preceded by "..": stays active below */
	size_t len;         /* STEP_NAME: name length */
	size_t index;       /* STEP_INDEX */
	char *name;         /* STEP_NAME: decoded, NUL-terminated */
} step_t;

struct otas__jsonpath_set_s {
	size_t nrules;
	size_t nstates; /* steps[] entries, accepting states included */
	size_t nwords;
	int root_match; /* a rule "$" */
	step_t *steps;
	uint64_t *root; /* states active at the root */
};

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

/* End of the rule that starts at `from`: the next comma outside quotes. */
static size_t
rule_end(const char *s, size_t len, size_t from)
{
	size_t i = from;
	char q = 0;

	for (; i < len; i++) {
		if (q) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == q)
				q = 0;
		} else if (s[i] == '\'' || s[i] == '"') {
			q = s[i];
		} else if (s[i] == ',') {
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
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
hex4(const char *s, size_t avail, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (avail < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		int h = hexval(s[i]);
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

/* A quoted name at p->pos (on the quote).  Decodes into a new string. */
static int
parse_quoted(parser_t *p, step_t *st)
{
	char q = p->s[p->pos];
	size_t open = p->pos, i = p->pos + 1, o = 0;
	char *name;

	/* Decoded length <= raw length. */
	name = malloc(p->len - i + 1);
	if (!name)
		return fail_at(p, open, "out of memory");
	st->name = name;
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
	st->len = o;
	p->pos = i + 1;
	return 0;
}

/* "[" ... "]" at p->pos (on the '['). */
static int
parse_bracket(parser_t *p, int desc)
{
	step_t *st;
	size_t open = p->pos;
	char c;

	p->pos++;
	while (p->pos < p->len && is_blank(p->s[p->pos]))
		p->pos++;
	if (p->pos >= p->len)
		return fail_at(p, p->pos,
		               "expected an index, '*' or a quoted name");
	c = p->s[p->pos];
	if (!(st = add_step(p, STEP_NAME, desc)))
		return fail_at(p, open, "out of memory");
	if (c == '\'' || c == '"') {
		if (parse_quoted(p, st) != 0)
			return -1;
	} else if (c == '*') {
		st->kind = STEP_WILD;
		p->pos++;
	} else if (c == '-') {
		return fail_at(p, p->pos,
		               "negative indexes are not supported");
	} else if (c >= '0' && c <= '9') {
		size_t v = 0, at = p->pos;
		st->kind = STEP_INDEX;
		if (c == '0' && p->pos + 1 < p->len &&
		    p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
			return fail_at(p, at, "index with a leading zero");
		while (p->pos < p->len && p->s[p->pos] >= '0' &&
		       p->s[p->pos] <= '9') {
			size_t d = (size_t)(p->s[p->pos] - '0');
			if (v > (SIZE_MAX - d) / 10)
				return fail_at(p, at, "index out of range");
			v = v * 10 + d;
			p->pos++;
		}
		st->index = v;
	} else {
		return fail_at(p, p->pos,
		               "expected an index, '*' or a quoted name");
	}
	while (p->pos < p->len && is_blank(p->s[p->pos]))
		p->pos++;
	if (p->pos >= p->len || p->s[p->pos] != ']')
		return fail_at(p, p->pos, "expected ']'");
	p->pos++;
	return 0;
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
	if (p->pos >= p->len || p->s[p->pos] != '$')
		return fail_at(p, p->pos, "expected '$'");
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
	if (!add_step(p, STEP_ACCEPT, 0))
		return fail_at(p, p->rstart, "out of memory");
	return 0;
}

static void
free_steps(step_t *steps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(steps[i].name);
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
	if (!escaped)
		return len == st->len && memcmp(key, st->name, len) == 0;
	return otas__json_str_equal(key, len, st->name, st->len);
}

/* The common walk: `hit(st)` says whether step st accepts the child. */
#define STEP_ALL(HIT)                                                      \
	do {                                                               \
		size_t w, nw = set->nwords;                                \
		memset(next, 0, nw * sizeof(uint64_t));                    \
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

int
otas__jsonpath_member(const otas__jsonpath_set_t *set, const uint64_t *cur,
                      const char *key, size_t len, int json_escaped,
                      uint64_t *next)
{
	STEP_ALL(st->kind == STEP_WILD ||
	         (st->kind == STEP_NAME &&
	          name_equal(st, key, len, json_escaped)));
}

int
otas__jsonpath_element(const otas__jsonpath_set_t *set, const uint64_t *cur,
                       size_t index, uint64_t *next)
{
	STEP_ALL(st->kind == STEP_WILD ||
	         (st->kind == STEP_INDEX && st->index == index));
}
