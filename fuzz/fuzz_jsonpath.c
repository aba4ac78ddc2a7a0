/*
 * fuzz_jsonpath.c -- arbitrary rule text through the JSONPath parser.
 *
 * Properties: no crash, no leak; a parse error always leaves a message
 * that names a rule and a position; a parsed set steps through a fixed
 * document that exercises names, indexes (negative ones too) and escaped
 * keys.  Besides, the first bytes pick an index or slice `$[a:b:c]`
 * (bounds -8..8 or absent, step -4..4 or absent) whose selection over
 * arrays of 0..12 elements must equal Python's slice iteration
 * (slice_ref.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "event/jsonpath.h"
#include "event/redact_body.h"
#include "slice_ref.h"

static const char DOC[] =
    "{\"a\":{\"b\":[1,{\"c\":\"x\"}],\"pass\\u0077ord\":\"s\"},\"\":[[0]],"
    "\"t\\\"k\":{\"a\":null},\"l\":[1,[2,\"],\\\"\"],{\"c\":[4,5]},[]]}";

static void
check_slice(const uint8_t *d)
{
	ref_sel_t r;
	char rule[80], sa[8] = "", sb[8] = "", sc[8] = "", err[200];
	otas__jsonpath_set_t *set;
	uint64_t root[4], next[4];
	long n, i;

	memset(&r, 0, sizeof(r));
	r.slice = d[0] & 1;
	r.has_a = !r.slice || (d[0] & 2);
	r.has_b = (d[0] & 4) != 0;
	r.a = (long)(d[1] % 17) - 8;
	r.b = (long)(d[2] % 17) - 8;
	r.step = (long)((d[0] >> 3) % 9) - 4;
	if (r.a == 0 && !r.slice && (d[0] & 8))
		r.a = -1;
	if (r.slice) {
		if (r.has_a)
			snprintf(sa, sizeof(sa), "%ld", r.a);
		if (r.has_b)
			snprintf(sb, sizeof(sb), "%ld", r.b);
		if (r.step != 0)
			snprintf(sc, sizeof(sc), ": %ld", r.step);
		else
			r.step = 1; /* absent */
		snprintf(rule, sizeof(rule), "$[%s :%s%s]", sa, sb, sc);
	} else {
		snprintf(rule, sizeof(rule), "$[%ld]", r.a);
	}
	set = otas__jsonpath_parse(rule, err, sizeof(err));
	if (!set)
		abort();
	otas__jsonpath_start(set, root);
	for (n = 0; n <= 12; n++)
		for (i = 0; i < n; i++) {
			size_t cnt = otas__jsonpath_needs_count(set, root)
			                 ? (size_t)n
			                 : SIZE_MAX;
			if (otas__jsonpath_element(set, root, (size_t)i, cnt,
			                           next) !=
			    ref_selected(&r, n, i))
				abort();
		}
	otas__jsonpath_free(set);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[200];
	char *rules = malloc(size + 1);
	otas__jsonpath_set_t *set;
	otas__buf_t out = OTAS__BUF_INIT;

	if (!rules)
		return 0;
	if (size >= 3)
		check_slice(data);
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
