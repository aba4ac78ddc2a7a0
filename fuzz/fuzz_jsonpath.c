/*
 * fuzz_jsonpath.c -- arbitrary rule text through the JSONPath parser.
 *
 * Properties: no crash, no leak; a parse error always leaves a message
 * that names a rule and a position; a parsed set steps through a fixed
 * document that exercises names, indexes and escaped keys.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact_body.h"

static const char DOC[] =
    "{\"a\":{\"b\":[1,{\"c\":\"x\"}],\"pass\\u0077ord\":\"s\"},\"\":[[0]],"
    "\"t\\\"k\":{\"a\":null}}";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[200];
	char *rules = malloc(size + 1);
	otas__jsonpath_set_t *set;
	otas__buf_t out = OTAS__BUF_INIT;

	if (!rules)
		return 0;
	memcpy(rules, data, size);
	rules[size] = '\0';
	set = otas__jsonpath_parse(rules, err, sizeof(err));
	if (!set) {
		if (strncmp(err, "rule \"", 6) != 0 ||
		    !strstr(err, "at position "))
			abort();
	} else {
		if (otas__redact_json(set, DOC, sizeof(DOC) - 1, &out) != 0)
			abort();
		otas__buf_reset(&out);
		otas__redact_urlencoded(set, NULL, "a=1&b=2&c", 9, &out);
		otas__jsonpath_free(set);
	}
	/* A tiny error buffer must be truncated safely. */
	set = otas__jsonpath_parse(rules, err, 3);
	otas__jsonpath_free(set);
	otas__buf_free(&out);
	free(rules);
	return 0;
}
