/*
 * fuzz_collector_dash_filter.c -- the dashboard API's one filter parser
 * (api_dash.c) on arbitrary query strings: "name=value&name=value", as MHD
 * hands the arguments over (already URL-decoded).  A parsed filter is then
 * turned into its store query, matched against a row and written back as
 * JSON, so every field the parser sets is read.
 */
#include "api_dash.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32

typedef struct {
	char *name[MAX_ARGS], *value[MAX_ARGS];
	int n;
} args_t;

static const char *
get(void *ctx, const char *name)
{
	args_t *a = ctx;

	for (int i = 0; i < a->n; i++)
		if (strcmp(a->name[i], name) == 0)
			return *a->value[i] ? a->value[i] : NULL;
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *p, *save = NULL;
	args_t a = {{0}, {0}, 0};
	otas__dash_filter_t f;
	otas__scan_query_t q;
	char err[160];

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (p = strtok_r(s, "&", &save); p && a.n < MAX_ARGS;
	     p = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(p, '=');
		a.name[a.n] = p;
		a.value[a.n] = eq ? eq + 1 : p + strlen(p);
		if (eq)
			*eq = '\0';
		a.n++;
	}
	if (otas__dash_filter_parse(get, &a, 1767225600000000LL, &f, err,
	                            sizeof err) == 0) {
		otas__scan_row_t r = {0};
		json_t *j;
		if (f.to_us <= f.from_us || !memchr(err, 0, sizeof err))
			abort();
		otas__dash_filter_scan(&f, &q);
		if (q.status_min > q.status_max)
			abort();
		r.ts_us = f.from_us;
		r.method = "GET";
		r.path = "/api/items/1";
		r.route = "/api/items/1";
		r.status = 404;
		r.doc = "{\"metadata\":{\"tags\":[\"a\"],\"service_version\":\"1\","
		        "\"trace_id\":\"abc\"}}";
		r.doc_len = strlen(r.doc);
		r.text = "/api/items/1\n{}\n{\"a\": \"Zq \u00e9\"}\n\n\n";
		r.text_len = strlen(r.text);
		(void)otas__dash_filter_match(&f, &r);
		j = otas__dash_filter_json(&f);
		if (!j)
			abort();
		json_decref(j);
	}
	free(s);
	return 0;
}
