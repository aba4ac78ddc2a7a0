/*
 * json.h -- the engine's JSON writer: string escaping with UTF-8 validation,
 * base64 for bodies that are not text.  Reading JSON (auth and batch
 * answers) is left to jansson on the sender thread.
 */
#ifndef OTAS_JSON_H
#define OTAS_JSON_H

#include <stddef.h>

#include "common/buf.h"
#include "common/utf8.h" /* otas__utf8_valid, otas__utf8_cut */

/* Append s as a quoted JSON string.  Invalid UTF-8 is written as U+FFFD so
 * the output is always valid JSON. */
void otas__json_str(otas__buf_t *b, const char *s, size_t n);
/* Same, without the surrounding quotes. */
void otas__json_escape(otas__buf_t *b, const char *s, size_t n);
/* The escaped form of the escaped s (no quotes): for a JSON document
 * written straight into a JSON string (`"` becomes `\\\"`). */
void otas__json_escape_nested(otas__buf_t *b, const char *s, size_t n);
/* Append s as a quoted JSON string when s is valid UTF-8 without NUL
 * (validated in the same pass) and return 0; else append nothing and
 * return -1.  0 also on out of memory (b->oom set). */
int otas__json_str_text(otas__buf_t *b, const char *s, size_t n);
/* Append the standard base64 encoding of s (with padding). */
void otas__base64(otas__buf_t *b, const unsigned char *s, size_t n);

#endif
