/*
 * json_check.h -- an independent JSON validator for the fuzz targets.
 *
 * Deliberately written apart from engine/event/redact_body.c (recursive instead
 * of an explicit stack, code-point decoding instead of byte-range tables)
 * so that a property "output is valid JSON" does not only ask the code
 * under test about itself.  Depth is capped like the redactor's so the
 * two agree on what is acceptable.
 */
#ifndef OTAS_FUZZ_JSON_CHECK_H
#define OTAS_FUZZ_JSON_CHECK_H

#include <stddef.h>
#include <string.h>

typedef struct {
	const unsigned char *s;
	size_t n, i;
	int max_depth;
} jc_t;

static void
jc_ws(jc_t *j)
{
	while (j->i < j->n && strchr(" \t\r\n", j->s[j->i]) && j->s[j->i])
		j->i++;
}

static int
jc_lit(jc_t *j, const char *w)
{
	size_t k = strlen(w);

	if (j->n - j->i < k || memcmp(j->s + j->i, w, k) != 0)
		return 0;
	j->i += k;
	return 1;
}

static int
jc_digits(jc_t *j)
{
	size_t st = j->i;

	while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
		j->i++;
	return j->i > st;
}

static int
jc_number(jc_t *j)
{
	if (j->i < j->n && j->s[j->i] == '-')
		j->i++;
	if (j->i < j->n && j->s[j->i] == '0')
		j->i++;
	else if (!(j->i < j->n && j->s[j->i] >= '1' && j->s[j->i] <= '9') ||
	         !jc_digits(j))
		return 0;
	if (j->i < j->n && j->s[j->i] == '.') {
		j->i++;
		if (!jc_digits(j))
			return 0;
	}
	if (j->i < j->n && (j->s[j->i] | 0x20) == 'e') {
		j->i++;
		if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-'))
			j->i++;
		if (!jc_digits(j))
			return 0;
	}
	return 1;
}

/* Decode one UTF-8 code point; 0 when invalid. */
static int
jc_utf8(jc_t *j)
{
	unsigned c = j->s[j->i], cp, need, k;

	if (c < 0x80) {
		j->i++;
		return 1;
	}
	if ((c & 0xE0) == 0xC0) {
		need = 1;
		cp = c & 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		need = 2;
		cp = c & 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		need = 3;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (j->n - j->i <= need)
		return 0;
	for (k = 1; k <= need; k++) {
		unsigned b = j->s[j->i + k];
		if ((b & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (b & 0x3F);
	}
	if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
	    (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	j->i += need + 1;
	return 1;
}

static int
jc_string(jc_t *j)
{
	j->i++; /* opening quote */
	for (;;) {
		unsigned char c;
		if (j->i >= j->n)
			return 0;
		c = j->s[j->i];
		if (c == '"') {
			j->i++;
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c == '\\') {
			int k;
			if (j->i + 1 >= j->n)
				return 0;
			c = j->s[j->i + 1];
			j->i += 2;
			if (c == 'u') {
				for (k = 0; k < 4; k++, j->i++)
					if (j->i >= j->n ||
					    !strchr("0123456789abcdefABCDEF",
					            j->s[j->i]) ||
					    !j->s[j->i])
						return 0;
			} else if (!c || !strchr("\"\\/bfnrt", c)) {
				return 0;
			}
			continue;
		}
		if (!jc_utf8(j))
			return 0;
	}
}

static int
jc_value(jc_t *j, int depth)
{
	unsigned char c;

	jc_ws(j);
	if (j->i >= j->n)
		return 0;
	c = j->s[j->i];
	if (c == '{' || c == '[') {
		unsigned char close = c == '{' ? '}' : ']';
		if (depth >= j->max_depth)
			return 0;
		j->i++;
		jc_ws(j);
		if (j->i < j->n && j->s[j->i] == close) {
			j->i++;
			return 1;
		}
		for (;;) {
			if (c == '{') {
				jc_ws(j);
				if (j->i >= j->n || j->s[j->i] != '"' ||
				    !jc_string(j))
					return 0;
				jc_ws(j);
				if (j->i >= j->n || j->s[j->i] != ':')
					return 0;
				j->i++;
			}
			if (!jc_value(j, depth + 1))
				return 0;
			jc_ws(j);
			if (j->i >= j->n)
				return 0;
			if (j->s[j->i] == close) {
				j->i++;
				return 1;
			}
			if (j->s[j->i] != ',')
				return 0;
			j->i++;
		}
	}
	if (c == '"')
		return jc_string(j);
	if (c == 't')
		return jc_lit(j, "true");
	if (c == 'f')
		return jc_lit(j, "false");
	if (c == 'n')
		return jc_lit(j, "null");
	return jc_number(j);
}

/* 1 when s[0..n) is one JSON text nested at most max_depth deep. */
static int
json_check(const char *s, size_t n, int max_depth)
{
	jc_t j = {(const unsigned char *)s, n, 0, max_depth};

	if (!jc_value(&j, 0))
		return 0;
	jc_ws(&j);
	return j.i == n;
}

#endif
