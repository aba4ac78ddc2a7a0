/*
 * buf.c -- growable byte buffer with sticky out-of-memory (see buf.h).
 */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
otas__buf_init(otas__buf_t *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}

void
otas__buf_free(otas__buf_t *b)
{
	free(b->data);
	otas__buf_init(b);
}

void
otas__buf_reset(otas__buf_t *b)
{
	b->len = 0;
	b->oom = 0;
	if (b->data)
		b->data[0] = '\0';
}

int
otas__buf_grow(otas__buf_t *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (b->oom)
		return -1;
	if (extra > SIZE_MAX - b->len - 1)
		goto fail;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	p = realloc(b->data, ncap);
	if (!p)
		goto fail;
	b->data = p;
	b->cap = ncap;
	return 0;
fail:
	b->oom = 1;
	return -1;
}

void
otas__buf_printf(otas__buf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || otas__buf_reserve(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
otas__buf_put_int(otas__buf_t *b, int64_t v)
{
	char t[24], *e = t + sizeof(t), *q = e;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--q = '-';
	otas__buf_append(b, q, (size_t)(e - q));
}

char *
otas__buf_steal(otas__buf_t *b, size_t *len_out)
{
	char *p = b->data;

	if (len_out)
		*len_out = b->len;
	otas__buf_init(b);
	return p;
}
