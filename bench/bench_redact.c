/*
 * bench_redact.c -- throughput of otas__redact_json on realistic bodies.
 *
 * Build and run: bench/bench_redact.sh (plain cc -O2, no CMake), or
 *   cc -O2 -D_GNU_SOURCE -Iengine -Iinclude -I. bench/bench_redact.c \
 *      engine/event/redact_body.c engine/event/redact_names.c \
 *      engine/event/jsonpath.c common/buf.c \
 *      -o build/bench_redact && build/bench_redact
 *
 * Two documents (~1 KB and ~64 KB: a user with a card, a list of items,
 * a map of records, tokens at several depths) go through five rule sets:
 * five rules that match (the examples), five of the same shapes
 * that match nothing (pass-through: the cost of validating and matching
 * keys), no rules (validation and copy only), the built-in sensitive
 * names alone (redact_names.c: every key is normalised and looked up) and
 * the five rules plus those names (the engine's default), and two sets
 * using a bare name, unions and slices, or negative indexes (whose arrays
 * are counted ahead).  Each figure is the
 * median over ROUNDS rounds; a round redacts the document enough times to
 * last about 2 ms of the thread's CPU time so the clock's resolution
 * does not matter.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event/redact_body.h"
#include "event/redact_names.h"

#define ROUNDS 101

static void
make_doc(otas__buf_t *b, size_t target)
{
	int i = 0;

	otas__buf_puts(b,
	    "{\n  \"user\": {\"id\": 1234567, \"name\": \"Ada Lovelace\", "
	    "\"email\": \"ada@example.com\",\n    \"card\": {\"number\": "
	    "\"4111111111111111\", \"exp\": \"12/29\", \"cvc\": 123}},\n"
	    "  \"password\": \"correct horse battery staple\",\n"
	    "  \"session\": {\"token\": \"eyJhbGciOiJIUzI1NiJ9.e30.abc\", "
	    "\"expires\": 1.7e9},\n  \"items\": [");
	/* Items until the document is about `target` bytes, then a map. */
	while (b->len + 420 < target * 3 / 4 || i < 2) {
		otas__buf_printf(b,
		    "%s\n    {\"sku\": \"SKU-%05d\", \"qty\": %d, \"price\": "
		    "%d.%02d, \"ssn\": \"123-45-%04d\", \"tags\": [\"a\", "
		    "\"b\\u00e9\"], \"meta\": {\"token\": \"t%d\", "
		    "\"ok\": true, "
		    "\"note\": null}}",
		    i ? "," : "", i, i % 7 + 1, i % 100, i % 100, i % 10000, i);
		i++;
	}
	otas__buf_puts(b, "\n  ],\n  \"data\": {");
	i = 0;
	while (b->len + 120 < target || i < 2) {
		otas__buf_printf(b,
		    "%s\n    \"rec%d\": {\"secret\": \"s%d\", "
		    "\"value\": %de-3, "
		    "\"list\": [1, 2, 3]}",
		    i ? "," : "", i, i, i * 37);
		i++;
	}
	otas__buf_puts(b, "\n  }\n}\n");
}

static double
now(void)
{
	struct timespec ts;

	/* This thread's CPU time: another tenant of a shared machine
	 * slows a round down but adds no CPU to it. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median seconds per redaction; -1 when the redactor failed. */
static double
bench(const otas__jsonpath_set_t *set, const otas__nameset_t *names,
      const otas__buf_t *doc, int *nred)
{
	otas__buf_t out = OTAS__BUF_INIT;
	double t[ROUNDS], t0;
	size_t reps = 1, r, k;
	const char *p;

	if (otas__redact_json_names(set, names, doc->data, doc->len, &out) != 0)
		return -1;
	*nred = 0;
	for (p = out.data; (p = strstr(p, "[REDACTED]")); p++)
		(*nred)++;
	/* Calibrate: about 2 ms per round. */
	for (;;) {
		t0 = now();
		for (k = 0; k < reps; k++) {
			otas__buf_reset(&out);
			otas__redact_json_names(set, names, doc->data, doc->len, &out);
		}
		if (now() - t0 > 0.002)
			break;
		reps *= 2;
	}
	for (r = 0; r < ROUNDS; r++) {
		t0 = now();
		for (k = 0; k < reps; k++) {
			otas__buf_reset(&out);
			otas__redact_json_names(set, names, doc->data, doc->len, &out);
		}
		t[r] = (now() - t0) / reps;
	}
	otas__buf_free(&out);
	qsort(t, ROUNDS, sizeof(t[0]), cmp_double);
	return t[ROUNDS / 2];
}

int
main(void)
{
	/* The third column: 1 = with the default names (what the engine
	 * runs unless OTAS_REDACT_DEFAULT_NAMES=0), 0 = rules only. */
	static const char *const sets[][3] = {
	    {"5 rules, matching",
	     "$.password, $..token, $.user.card.number, $.items[*].ssn, "
	     "$.data.*.secret", ""},
	    {"5 rules, pass-through",
	     "$.passwd, $..tokn, $.user.card.numbr, $.items[*].ssn2, "
	     "$.data.*.secrt", ""},
	    {"no rules (validate+copy)", "", ""},
	    {"default names only", "", "1"},
	    {"5 rules + default names",
	     "$.password, $..token, $.user.card.number, $.items[*].ssn, "
	     "$.data.*.secret", "1"},
	    {"5 rules, unions/slices",
	     "password, $..token, $.user.card['number','cvc'], "
	     "$.items[0:4].ssn, $.data.*['secret','list']", ""},
	    {"5 rules, negative index",
	     "$.password, $..token, $.user.card.number, $.items[-1].ssn, "
	     "$.data.*.list[-1]", ""},
	};
	/* Prepared, as the engine's context prepares its set (a tree
	 * whose otas__nameset_prepare leaves a set without names
	 * unprepared measures that instead). */
	static otas__nameset_t defaults = {NULL, 0, 1, NULL};
	size_t sizes[] = {1024, 64 * 1024};
	size_t si, ri;
	char err[200];

	if (otas__nameset_prepare(&defaults) != 0)
		return 1;

	printf("%-26s %9s %10s %10s %9s\n", "rule set", "doc", "us/doc",
	       "MB/s", "redacted");
	for (si = 0; si < 2; si++) {
		otas__buf_t doc = OTAS__BUF_INIT;
		make_doc(&doc, sizes[si]);
		for (ri = 0; ri < sizeof(sets) / sizeof(sets[0]); ri++) {
			otas__jsonpath_set_t *set =
			    otas__jsonpath_parse(sets[ri][1], err, sizeof(err));
			int nred = 0;
			double s;
			if (!set) {
				fprintf(stderr, "%s\n", err);
				return 1;
			}
			s = bench(set, sets[ri][2][0] ? &defaults : NULL, &doc,
			          &nred);
			if (s < 0) {
				fprintf(stderr, "document did not parse\n");
				return 1;
			}
			printf("%-26s %7zu B %10.2f %10.1f %9d\n", sets[ri][0],
			       doc.len, s * 1e6, doc.len / s / 1e6, nred);
			otas__jsonpath_free(set);
		}
		otas__buf_free(&doc);
	}
	return 0;
}
