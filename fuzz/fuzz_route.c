/*
 * fuzz_route.c -- arbitrary route text through otas__route_template.
 *
 * Properties: out keeps what it held, and is unchanged when the route is
 * left alone (0); a template (1) is at most 5 bytes an input byte; for a
 * route without escapes, a template has no regex syntax left and is left
 * alone when written again; for a route without groups, classes or
 * escapes, the template is what a plain reference makes of it (anchors
 * and `/?` dropped), and the reference and the converter agree on which
 * such routes are left alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event/route.h"

/* The template of a route without '(', '[', ']' and '\': 1 and out, or
 * 0 when a quantifier, alternation or stray ')' leaves it alone. */
static int
reference(const char *s, size_t n, otas__buf_t *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '^' || s[i] == '$')
			continue;
		if (s[i] == '/' && i + 1 < n && s[i + 1] == '?') {
			i++;
			continue;
		}
		if (strchr(")?*+{|", s[i]) && s[i])
			return 0;
		otas__buf_putc(out, s[i]);
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	otas__buf_t out = OTAS__BUF_INIT, again = OTAS__BUF_INIT,
	            ref = OTAS__BUF_INIT;
	int rc, escapes = memchr(s, '\\', size) != NULL;
	size_t i;

	otas__buf_puts(&out, "held");
	rc = otas__route_template(s, size, &out);
	if (out.oom)
		goto done;
	if (out.len < 4 || memcmp(out.data, "held", 4) != 0)
		abort();
	if (rc == 0 && out.len != 4)
		abort();
	if (rc == 1 && out.len - 4 > 5 * size + 16)
		abort();
	if (rc == 1 && !otas__route_is_regex(s, size))
		abort(); /* only regex routes are rewritten */
	if (rc == 1 && !escapes) {
		for (i = 4; i < out.len; i++)
			if (strchr("^$()[]\\?*+{|", out.data[i]) && out.data[i])
				abort();
		if (otas__route_template(out.data + 4, out.len - 4, &again) != 0)
			abort();
	}
	if (otas__route_is_regex(s, size) && !escapes &&
	    !memchr(s, '(', size) && !memchr(s, '[', size) &&
	    !memchr(s, ']', size) && !memchr(s, '\0', size)) {
		int r = reference(s, size, &ref);
		if (!ref.oom && r != rc)
			abort();
		if (!ref.oom && rc == 1 &&
		    (ref.len != out.len - 4 ||
		     (ref.len && memcmp(ref.data, out.data + 4, ref.len) != 0)))
			abort();
	}
done:
	otas__buf_free(&out);
	otas__buf_free(&again);
	otas__buf_free(&ref);
	return 0;
}
