/*
 * route.c -- regex routes written as templates (see route.h).
 *
 * One pass over the pattern at its top level.  A group is skipped to its
 * matching parenthesis (nested groups, escapes and character classes,
 * whose brackets and parentheses are literal, followed) and written as
 * its name; anything at the top level that only a regex can say stops the
 * pass, and the output is taken back.
 */
#include "event/route.h"

#include <string.h>

int
otas__route_is_regex(const char *route, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		switch (route[i]) {
		case '^': case '$': case '(': case '[': case '\\':
			return 1;
		default:
			break;
		}
	return 0;
}

/* The index just past the class that opens at s[i] ('['), or 0 when it
 * does not close.  A ']' first (or after '^') is a member. */
static size_t
class_end(const char *s, size_t len, size_t i)
{
	i++;
	if (i < len && s[i] == '^')
		i++;
	if (i < len && s[i] == ']')
		i++;
	while (i < len && s[i] != ']') {
		if (s[i] == '\\')
			i++;
		i++;
	}
	return i < len ? i + 1 : 0;
}

/* The index just past the group that opens at s[i] ('('), or 0. */
static size_t
group_end(const char *s, size_t len, size_t i)
{
	size_t depth = 0;

	while (i < len) {
		switch (s[i]) {
		case '\\':
			i += 2;
			continue;
		case '[':
			if (!(i = class_end(s, len, i)))
				return 0;
			continue;
		case '(':
			depth++;
			break;
		case ')':
			if (--depth == 0)
				return i + 1;
			break;
		default:
			break;
		}
		i++;
	}
	return 0;
}

static int
name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

static int
alnum(char c)
{
	return name_char(c) && c != '_';
}

int
otas__route_template(const char *s, size_t len, otas__buf_t *out)
{
	size_t out0 = out->len, i = 0, end;
	unsigned args = 0;

	if (!otas__route_is_regex(s, len))
		return 0;
	while (i < len) {
		char c = s[i];
		switch (c) {
		case '^':
		case '$':
			i++;
			continue;
		case '\\':
			/* \. \- \/: the character; \d \w \b \1: a class,
			 * an anchor or a reference, no template. */
			if (i + 1 >= len || alnum(s[i + 1]))
				goto fail;
			otas__buf_putc(out, s[i + 1]);
			i += 2;
			continue;
		case '/':
			if (i + 1 < len && s[i + 1] == '?') { /* `/?` */
				i += 2;
				continue;
			}
			break;
		case '(':
			if (!(end = group_end(s, len, i)))
				goto fail;
			/* A group made optional or repeated says no template. */
			if (end < len && strchr("?*+{", s[end]))
				goto fail;
			if (i + 1 < len && s[i + 1] != '?') {
				otas__buf_printf(out, "<arg%u>", ++args);
			} else if (i + 3 < len && s[i + 2] == 'P' &&
			           s[i + 3] == '<') {
				size_t n = i + 4, n0 = n;
				if (n >= len || !name_start(s[n]))
					goto fail;
				while (n < len && name_char(s[n]))
					n++;
				if (n >= end || s[n] != '>')
					goto fail;
				otas__buf_putc(out, '<');
				otas__buf_append(out, s + n0, n - n0);
				otas__buf_putc(out, '>');
			} else {
				/* (?:...), (?=...), (?i), (?P=name): no name
				 * to give it. */
				goto fail;
			}
			i = end;
			continue;
		case ')': case '[': case ']': case '?': case '*': case '+':
		case '{': case '|':
			goto fail;
		default:
			break;
		}
		otas__buf_putc(out, c);
		i++;
	}
	if (out->oom)
		goto fail;
	return 1;
fail:
	out->len = out0;
	if (out->data && out->len < out->cap)
		out->data[out->len] = '\0';
	return 0;
}
