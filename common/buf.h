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

void otas__buf_init(otas__buf_t *b);
void otas__buf_free(otas__buf_t *b);
/* Keep the allocation, forget the contents (oom cleared). */
void otas__buf_reset(otas__buf_t *b);
/* Ensure room for `extra` more bytes plus a NUL.  0 ok, -1 oom. */
int otas__buf_reserve(otas__buf_t *b, size_t extra);
void otas__buf_append(otas__buf_t *b, const void *p, size_t n);
void otas__buf_putc(otas__buf_t *b, char c);
void otas__buf_puts(otas__buf_t *b, const char *s);
void otas__buf_printf(otas__buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Take the memory out of the buffer (caller frees); buffer is reset. */
char *otas__buf_steal(otas__buf_t *b, size_t *len_out);

#endif
