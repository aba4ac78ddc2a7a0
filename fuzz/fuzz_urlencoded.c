/*
 * fuzz_urlencoded.c -- arbitrary form/query text through the urlencoded
 * redactor and the urlencoded-to-JSON conversion.
 *
 * Properties: otas__urlencoded_to_json always produces valid JSON (by the
 * independent json_check.h and by otas__redact_json); with no rules and
 * no names, otas__redact_urlencoded returns the input byte for byte; its
 * redacted output converts to JSON in which every value of a redacted name
 * is "[REDACTED]" (checked for the name `password` by re-redacting).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "redact_body.h"

static const char *const NAMES[] = {"password", "Token"};
static const otas__nameset_t NAMESET = {NAMES, 2, 1, NULL};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char err[200];
	otas__jsonpath_set_t *set = otas__jsonpath_parse("$.a, $..b, $['c d']",
	                                                 err, sizeof(err));
	otas__jsonpath_set_t *none = otas__jsonpath_parse("", err, sizeof(err));
	otas__buf_t j = OTAS__BUF_INIT, r = OTAS__BUF_INIT, j2 = OTAS__BUF_INIT,
	            chk = OTAS__BUF_INIT;

	if (!set || !none)
		abort();
	otas__urlencoded_to_json(set, &NAMESET, in, size, &j);
	if (!j.oom) {
		if (!json_check(j.data, j.len, 2))
			abort();
		if (otas__redact_json(none, j.data, j.len, &chk) != 0)
			abort();
	}
	otas__redact_urlencoded(none, NULL, in, size, &r);
	if (!r.oom && (r.len != size || memcmp(r.data, in, size) != 0))
		abort();
	otas__buf_reset(&r);
	otas__redact_urlencoded(set, &NAMESET, in, size, &r);
	/* Redacting the redacted form changes nothing more, and its JSON
	 * equals the JSON of the original with redaction applied. */
	if (!r.oom) {
		otas__urlencoded_to_json(set, &NAMESET, r.data, r.len, &j2);
		if (!j.oom && !j2.oom &&
		    (j.len != j2.len || memcmp(j.data, j2.data, j.len) != 0))
			abort();
	}
	otas__buf_free(&j);
	otas__buf_free(&j2);
	otas__buf_free(&r);
	otas__buf_free(&chk);
	otas__jsonpath_free(set);
	otas__jsonpath_free(none);
	return 0;
}
