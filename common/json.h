/*
 * json.h -- the engine's JSON writer: string escaping with UTF-8 validation
 * (base64 for bodies that are not text: common/base64.h).  Reading JSON (auth and batch
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
/* otas__base64 (standard alphabet, padded) lives in common/base64.h;
 * included here for the JSON writers that put bodies in base64. */
#include "common/base64.h"

#endif
