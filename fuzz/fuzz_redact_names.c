/*
 * fuzz_redact_names.c -- otas__scrub_text and otas__name_sensitive on
 * arbitrary bytes.
 *
 * Properties: scrubbing never leaves a `scheme://...@` authority (no
 * userinfo survives), is idempotent, and never grows a text by more than
 * the redaction markers; a name's verdict does not change with the case
 * of its ASCII letters, and a prepared copy of the set (the engine's,
 * with its per-thread memo of answers) gives the same verdict as the
 * unprepared one, asked once and again (a memo hit).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event/redact_names.h"

static const char *const NAMES[] = {"pin", "*_ref", NULL};
static const otas__nameset_t NS = {NAMES, 2, 1, NULL};
static otas__nameset_t PREP = {NAMES, 2, 1, NULL};
static otas__nameset_t PREP_DEF = {NULL, 0, 1, NULL};
static const otas__nameset_t DEF = {NULL, 0, 1, NULL};

static int
is_scheme(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

static int
end_byte(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' ||
	       c == '>' || c == '`' || c == '#' || c == '/' || c == '?';
}

static void
no_userinfo(const char *s, size_t n)
{
	size_t i, e;

	for (i = 1; i + 2 < n; i++) {
		if (s[i] != ':' || s[i + 1] != '/' || s[i + 2] != '/' ||
		    !is_scheme((unsigned char)s[i - 1]))
			continue;
		for (e = i + 3; e < n && !end_byte((unsigned char)s[e]); e++)
			if (s[e] == '@')
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	otas__buf_t a = OTAS__BUF_INIT, b = OTAS__BUF_INIT;
	char *up;
	size_t i;

	otas__scrub_text(&NS, in, size, &a);
	if (a.oom)
		abort();
	no_userinfo(a.data ? a.data : "", a.len);
	otas__scrub_text(&NS, a.data, a.len, &b);
	if (b.len != a.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
		abort();

	if (!PREP.pats && (otas__nameset_prepare(&PREP) != 0 ||
	                   otas__nameset_prepare(&PREP_DEF) != 0))
		abort();
	if (size <= 300) {
		int v = otas__name_sensitive(&NS, in, size);
		int d = otas__name_sensitive(&DEF, in, size);
		if (otas__name_sensitive(&PREP, in, size) != v ||
		    otas__name_sensitive(&PREP, in, size) != v ||
		    otas__name_sensitive(&PREP_DEF, in, size) != d ||
		    otas__name_sensitive(&PREP_DEF, in, size) != d)
			abort();
		up = malloc(size + 1);
		if (!up)
			abort();
		for (i = 0; i < size; i++)
			up[i] = (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 32
			                                            : in[i]);
		if (otas__name_sensitive(&NS, up, size) != v)
			abort();
		free(up);
	}
	otas__buf_free(&a);
	otas__buf_free(&b);
	return 0;
}
