/*
 * fuzz_redact_json.c -- rule set x body through otas__redact_json.
 *
 * Input: rules up to the first newline, the body after it (a rule text
 * that does not parse falls back to a fixed set, so every input reaches
 * the redactor).  Properties, checked against the independent validator
 * in json_check.h:
 *   - the redactor accepts exactly what json_check accepts (within the
 *     depth limit): it neither fails open nor rejects valid JSON;
 *   - when it accepts, its output is valid JSON by both validators;
 *   - with no rules, the output is the input byte for byte;
 *   - redacting the output again changes nothing (idempotent).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "redact_body.h"

static const otas__nameset_t DEFAULTS = {NULL, 0, 1};

static const char FALLBACK[] = "$..a, $.b[*].c, $[0], $..token, $.*.x";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t rlen = nl ? (size_t)(nl - (const char *)data) : 0;
	const char *body = nl ? nl + 1 : (const char *)data;
	size_t blen = size - (size_t)(body - (const char *)data);
	char *rules = malloc(rlen + 1), err[200];
	otas__jsonpath_set_t *set, *none;
	otas__buf_t out = OTAS__BUF_INIT, again = OTAS__BUF_INIT;
	int rc, valid;

	if (!rules)
		return 0;
	memcpy(rules, data, rlen);
	rules[rlen] = '\0';
	set = otas__jsonpath_parse(rules, err, sizeof(err));
	if (!set)
		set = otas__jsonpath_parse(FALLBACK, err, sizeof(err));
	none = otas__jsonpath_parse("", err, sizeof(err));
	if (!set || !none)
		abort();

	valid = json_check(body, blen, OTAS__REDACT_MAX_DEPTH);
	rc = otas__redact_json(set, body, blen, &out);
	if (out.oom)
		goto done;
	if ((rc == 0) != valid)
		abort(); /* disagreement on validity */
	if (rc != 0) {
		if (out.len != 0)
			abort(); /* fail closed leaves out untouched */
		goto done;
	}
	if (!json_check(out.data, out.len, OTAS__REDACT_MAX_DEPTH))
		abort();
	if (otas__redact_json(none, out.data, out.len, &again) != 0 ||
	    again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
		abort();
	otas__buf_reset(&again);
	if (otas__redact_json(set, out.data, out.len, &again) != 0 ||
	    again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
		abort(); /* not idempotent */
	otas__buf_reset(&again);
	if (otas__redact_json(none, body, blen, &again) != 0 ||
	    again.len != blen || memcmp(again.data, body, blen) != 0)
		abort(); /* pass-through not byte for byte */
	/* The same with the default sensitive names (the engine's default):
	 * same verdict on validity, valid output, idempotent. */
	otas__buf_reset(&out);
	if (otas__redact_json_names(set, &DEFAULTS, body, blen, &out) != 0)
		abort();
	if (out.oom || !json_check(out.data, out.len, OTAS__REDACT_MAX_DEPTH))
		abort();
	otas__buf_reset(&again);
	if (otas__redact_json_names(set, &DEFAULTS, out.data, out.len,
	                            &again) != 0 ||
	    again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
		abort();
done:
	otas__buf_free(&out);
	otas__buf_free(&again);
	otas__jsonpath_free(set);
	otas__jsonpath_free(none);
	free(rules);
	return 0;
}
