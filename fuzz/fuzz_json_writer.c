/*
 * fuzz_json_writer.c -- the JSON string writer and UTF-8 helpers on
 * arbitrary bytes: the output must always be one valid JSON string
 * (checked with jansson), the cut must never split a sequence, and base64
 * must have the right length.  The nested writer must equal the escape
 * of the escape, and the strict one must accept exactly the valid UTF-8
 * without NUL, writing what the plain one writes.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	otas__buf_t b = OTAS__BUF_INIT;
	json_t *v;
	size_t cut;

	otas__json_str(&b, (const char *)data, size);
	v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!v || !json_is_string(v) ||
	    memchr(json_string_value(v), 0, json_string_length(v)))
		abort(); /* one string, and never a NUL */
	if (otas__utf8_valid((const char *)data, size) &&
	    !memchr(data, 0, size) &&
	    (json_string_length(v) != size ||
	     memcmp(json_string_value(v), data, size) != 0))
		abort();
	json_decref(v);
	cut = otas__utf8_cut((const char *)data, size, size / 2);
	if (cut > size / 2 || (size > size / 2 && size / 2 - cut > 3))
		abort();
	if (otas__utf8_valid((const char *)data, size) &&
	    !otas__utf8_valid((const char *)data, cut))
		abort();
	otas__buf_reset(&b);
	otas__base64(&b, data, size);
	if (b.len != (size + 2) / 3 * 4)
		abort();
	{
		otas__buf_t once = OTAS__BUF_INIT, twice = OTAS__BUF_INIT,
		            nest = OTAS__BUF_INIT, text = OTAS__BUF_INIT;
		int ok = otas__utf8_valid((const char *)data, size) &&
		         !memchr(data, 0, size);
		otas__json_escape(&once, (const char *)data, size);
		otas__json_escape(&twice, once.data ? once.data : "", once.len);
		otas__json_escape_nested(&nest, (const char *)data, size);
		if (nest.len != twice.len ||
		    (nest.len && memcmp(nest.data, twice.data, nest.len) != 0))
			abort();
		otas__buf_putc(&text, 'x');
		if (otas__json_str_text(&text, (const char *)data, size) !=
		    (ok ? 0 : -1))
			abort();
		if (ok ? (text.len != once.len + 3 ||
		          memcmp(text.data + 2, once.data ? once.data : "",
		                 once.len) != 0)
		       : text.len != 1)
			abort();
		otas__buf_free(&once);
		otas__buf_free(&twice);
		otas__buf_free(&nest);
		otas__buf_free(&text);
	}
	otas__buf_free(&b);
	return 0;
}
