/*
 * buf.h -- a growable byte buffer, the engine's one string builder.
 *
 * Every writer in the engine (JSON serialiser, redactors, gzip) appends to
 * an otas__buf_t.  Allocation failure is sticky: after the first failed
 * growth every append is a no-op and `oom` stays set, so a writer can append
 * a whole document and check once at the end (the engine never aborts).
 */
#ifndef OTAS_UTIL_BUF_H
#define OTAS_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	char *data;   /* NUL-terminated when len < cap (always after append) */
	size_t len;
	size_t cap;
	int oom;      /* 1 after an allocation failed */
} otas__buf_t;

#define OTAS__BUF_INIT {NULL, 0, 0, 0}

#include <string.h>

void otas__buf_init(otas__buf_t *b);
void otas__buf_free(otas__buf_t *b);
/* Keep the allocation, forget the contents (oom cleared). */
void otas__buf_reset(otas__buf_t *b);
/* Grow for `extra` more bytes plus a NUL (the slow path of reserve). */
int otas__buf_grow(otas__buf_t *b, size_t extra);

/* The writers below are inline: the serialiser calls them a few hundred
 * times per event, almost always with room to spare. */

/* Ensure room for `extra` more bytes plus a NUL.  0 ok, -1 oom. */
static inline int
otas__buf_reserve(otas__buf_t *b, size_t extra)
{
	if (!b->oom && extra < b->cap - b->len)
		return 0;
	return otas__buf_grow(b, extra);
}

static inline void
otas__buf_append(otas__buf_t *b, const void *p, size_t n)
{
	if (otas__buf_reserve(b, n) != 0)
		return;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static inline void
otas__buf_putc(otas__buf_t *b, char c)
{
	if (otas__buf_reserve(b, 1) != 0)
		return;
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

static inline void
otas__buf_puts(otas__buf_t *b, const char *s)
{
	otas__buf_append(b, s, strlen(s));
}

void otas__buf_printf(otas__buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append v in decimal (no printf). */
void otas__buf_put_int(otas__buf_t *b, int64_t v);
/* Take the memory out of the buffer (caller frees); buffer is reset. */
char *otas__buf_steal(otas__buf_t *b, size_t *len_out);

#endif
