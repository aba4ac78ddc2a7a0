/*
 * test_jsonpath.c -- the JSONPath rule parser and its NFA stepping.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonpath.h"
#include "testlib.h"

/* Parse error text for `rules`, or "OK" when it parsed. */
static const char *
perr(const char *rules)
{
	static char err[256];
	otas__jsonpath_set_t *set = otas__jsonpath_parse(rules, err, sizeof(err));

	if (set) {
		otas__jsonpath_free(set);
		return "OK";
	}
	return err;
}

/* Whether `rules` matches the path given as a list of steps: a string is
 * a member name, "#N" is array index N.  "" alone is the root. */
static int
matches(const char *rules, const char *const *path, size_t n)
{
	char err[256];
	otas__jsonpath_set_t *set = otas__jsonpath_parse(rules, err, sizeof(err));
	uint64_t a[64], b[64], *cur = a, *next = b, *t;
	size_t i;
	int hit;

	if (!set) {
		fprintf(stderr, "  parse: %s\n", err);
		return -1;
	}
	hit = otas__jsonpath_start(set, cur);
	for (i = 0; i < n && !hit; i++) {
		if (path[i][0] == '#')
			hit = otas__jsonpath_element(set, cur,
			                             strtoul(path[i] + 1, NULL, 10),
			                             next);
		else
			hit = otas__jsonpath_member(set, cur, path[i],
			                            strlen(path[i]), 1, next);
		t = cur;
		cur = next;
		next = t;
		/* A match above the end of the path redacts the whole value,
		 * so it counts only at the last step. */
		if (hit && i + 1 < n)
			hit = 0, i = n;
	}
	otas__jsonpath_free(set);
	return hit;
}

#define P(...) ((const char *const[]){__VA_ARGS__})
#define M(rules, ...)                                                      \
	matches(rules, P(__VA_ARGS__), sizeof(P(__VA_ARGS__)) / sizeof(char *))

TEST(parse_valid_forms)
{
	const char *ok[] = {
	    "", "   ", "$", "$.a", "$.a.b", "$['a']", "$[\"a\"]", "$.a[0]",
	    "$.a[*].b", "$..b", "$.a.*", "$.*", "$..*", "$..[0]", "$..['x y']",
	    "$[ 'a' ][ 0 ][ * ]", "$.a-b_c9", "$.\xC3\xA9t\xC3\xA9",
	    "$['a,b'], $.c", "  $.a ,\t$.b  ", "$['\\'\\\"\\\\\\/\\b\\f\\n\\r\\t']",
	    "$[\"\\ud83d\\ude00\"]", "$[18446744073709551615]", "$['']",
	};
	size_t i;
	char err[256];
	otas__jsonpath_set_t *set;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (strcmp(perr(ok[i]), "OK") != 0)
			fprintf(stderr, "  %s -> %s\n", ok[i], perr(ok[i]));
		CHECK_STR(perr(ok[i]), "OK");
	}
	set = otas__jsonpath_parse("$.a, $['b,c'] ,$..d", err, sizeof(err));
	CHECK(set != NULL);
	CHECK_INT(otas__jsonpath_count(set), 3);
	otas__jsonpath_free(set);
	set = otas__jsonpath_parse("", err, sizeof(err));
	CHECK(set != NULL);
	CHECK_INT(otas__jsonpath_count(set), 0);
	otas__jsonpath_free(set);
	set = otas__jsonpath_parse(NULL, err, sizeof(err));
	CHECK(set != NULL);
	CHECK_INT(otas__jsonpath_count(set), 0);
	otas__jsonpath_free(set);
	otas__jsonpath_free(NULL);
}

TEST(parse_errors_with_position)
{
	CHECK_STR(perr("$.a["),
	          "rule \"$.a[\" at position 4: expected an index, '*' or a "
	          "quoted name");
	CHECK_STR(perr("$.a[x]"),
	          "rule \"$.a[x]\" at position 5: expected an index, '*' or a "
	          "quoted name");
	CHECK_STR(perr("a.b"), "rule \"a.b\" at position 1: expected '$'");
	CHECK_STR(perr("$.a,,$.b"), "rule \"\" at position 1: expected '$'");
	CHECK_STR(perr("$.a,"), "rule \"\" at position 1: expected '$'");
	CHECK_STR(perr("$.a, x"), "rule \"x\" at position 1: expected '$'");
	CHECK_STR(perr("$."),
	          "rule \"$.\" at position 2: expected a name or '*' after '.'");
	CHECK_STR(perr("$.a."),
	          "rule \"$.a.\" at position 4: expected a name or '*' after "
	          "'.'");
	CHECK_STR(perr("$.."),
	          "rule \"$..\" at position 3: expected a name, '*' or '[' "
	          "after '..'");
	CHECK_STR(perr("$...a"),
	          "rule \"$...a\" at position 4: expected a name, '*' or '[' "
	          "after '..'");
	CHECK_STR(perr("$.a b"),
	          "rule \"$.a b\" at position 5: expected '.', '[' or ','");
	CHECK_STR(perr("$a"), "rule \"$a\" at position 2: expected '.', '[' or ','");
	CHECK_STR(perr("$[0"), "rule \"$[0\" at position 3: expected ']'");
	CHECK_STR(perr("$['a'x]"),
	          "rule \"$['a'x]\" at position 6: expected ']'");
	CHECK_STR(perr("$['a"),
	          "rule \"$['a\" at position 4: unterminated quoted name");
	CHECK_STR(perr("$['a,b"),
	          "rule \"$['a,b\" at position 6: unterminated quoted name");
	CHECK_STR(perr("$['a\\"),
	          "rule \"$['a\\\" at position 5: unterminated quoted name");
	CHECK_STR(perr("$['a\\x']"),
	          "rule \"$['a\\x']\" at position 5: invalid escape in quoted "
	          "name");
	CHECK_STR(perr("$['\\u12g4']"),
	          "rule \"$['\\u12g4']\" at position 4: expected 4 hex digits "
	          "after \\u");
	CHECK_STR(perr("$['\\ud800']"),
	          "rule \"$['\\ud800']\" at position 4: lone surrogate in \\u "
	          "escape");
	CHECK_STR(perr("$['\\udc00']"),
	          "rule \"$['\\udc00']\" at position 4: lone surrogate in \\u "
	          "escape");
	CHECK_STR(perr("$[-1]"),
	          "rule \"$[-1]\" at position 3: negative indexes are not "
	          "supported");
	CHECK_STR(perr("$[01]"),
	          "rule \"$[01]\" at position 3: index with a leading zero");
	CHECK_STR(perr("$[18446744073709551616]"),
	          "rule \"$[18446744073709551616]\" at position 3: index out of "
	          "range");
	/* The second rule is named, positions count within it. */
	CHECK_STR(perr("$.ok, $['x'].[0]"),
	          "rule \"$['x'].[0]\" at position 8: expected a name or '*' "
	          "after '.'");
	/* A long rule is cut in the message; position and reason stay. */
	CHECK_STR(perr("$.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa[x]"),
	          "rule \"$.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	          "aa...\" at position 110: expected an index, '*' or a quoted "
	          "name");
	/* A tiny error buffer is truncated, not overrun. */
	{
		char err[8];
		memset(err, 'Z', sizeof(err));
		CHECK(otas__jsonpath_parse("$[", err, sizeof(err)) == NULL);
		CHECK_STR(err, "rule \"$");
		CHECK(otas__jsonpath_parse("$[", NULL, 0) == NULL);
	}
}

TEST(match_names_and_indexes)
{
	CHECK_INT(M("$.a", "a"), 1);
	CHECK_INT(M("$.a", "b"), 0);
	CHECK_INT(M("$.a", "a", "b"), 0); /* matched above: not at b */
	CHECK_INT(M("$.a.b", "a", "b"), 1);
	CHECK_INT(M("$.a.b", "a", "c"), 0);
	CHECK_INT(M("$['a b']", "a b"), 1);
	CHECK_INT(M("$.a[0]", "a", "#0"), 1);
	CHECK_INT(M("$.a[0]", "a", "#1"), 0);
	CHECK_INT(M("$.a[1]", "a", "#1"), 1);
	/* Names do not match indexes and vice versa. */
	CHECK_INT(M("$.a['0']", "a", "#0"), 0);
	CHECK_INT(M("$.a[0]", "a", "0"), 0);
	CHECK_INT(M("$", "a"), 1); /* the root itself matched */
}

TEST(match_wildcards_and_descent)
{
	CHECK_INT(M("$.a[*].b", "a", "#3", "b"), 1);
	CHECK_INT(M("$.a[*].b", "a", "x", "b"), 1); /* * also takes members */
	CHECK_INT(M("$.a[*].b", "a", "#3", "c"), 0);
	CHECK_INT(M("$.*", "z"), 1);
	CHECK_INT(M("$.*", "#0"), 1);
	CHECK_INT(M("$.a.*", "a", "q"), 1);
	CHECK_INT(M("$..b", "b"), 1);
	CHECK_INT(M("$..b", "x", "#4", "y", "b"), 1);
	CHECK_INT(M("$..b", "x", "#4", "y", "c"), 0);
	CHECK_INT(M("$..b.c", "x", "b", "c"), 1);
	CHECK_INT(M("$..b.c", "x", "b", "d", "c"), 0);
	CHECK_INT(M("$.a..c", "a", "b", "b", "c"), 1);
	CHECK_INT(M("$.a..c", "z", "c"), 0);
	CHECK_INT(M("$..[1]", "x", "#1"), 1);
	CHECK_INT(M("$..*", "x"), 1);
	/* Several rules share the walk; each is followed. */
	CHECK_INT(M("$.a.b, $..c, $.x[2]", "x", "#2"), 1);
	CHECK_INT(M("$.a.b, $..c, $.x[2]", "a", "c"), 1);
	CHECK_INT(M("$.a.b, $..c, $.x[2]", "a", "b"), 1);
	CHECK_INT(M("$.a.b, $..c, $.x[2]", "a", "d"), 0);
}

TEST(match_decodes_key_escapes)
{
	CHECK_INT(M("$.password", "pass\\u0077ord"), 1);
	CHECK_INT(M("$.password", "pass\\u0077or"), 0);
	CHECK_INT(M("$['a\"b']", "a\\\"b"), 1);
	CHECK_INT(M("$['a/b']", "a\\/b"), 1);
	CHECK_INT(M("$['\\n']", "\\n"), 1);
	CHECK_INT(M("$['\xC3\xA9']", "\\u00e9"), 1);
	CHECK_INT(M("$['\xC3\xA9']", "\\u00E9"), 1);
	CHECK_INT(M("$[\"\\u00e9\"]", "\xC3\xA9"), 1);
	CHECK_INT(M("$['\xF0\x9F\x98\x80']", "\\ud83d\\ude00"), 1);
	CHECK_INT(M("$['\xEF\xBF\xBD']", "\\ud83d"), 0); /* lone surrogate */
	CHECK_INT(M("$['\xEF\xBF\xBD']", "\\ude00x"), 0);
	CHECK_INT(otas__json_str_equal("a\\u0062", 7, "ab", 2), 1);
	CHECK_INT(otas__json_str_equal("a\\u0062", 7, "abc", 3), 0);
	CHECK_INT(otas__json_str_equal("", 0, "", 0), 1);
}

TEST(match_many_rules)
{
	/* More than 64 states: the bitset spans several words. */
	otas__buf_t r = OTAS__BUF_INIT;
	int i;

	for (i = 0; i < 60; i++)
		otas__buf_printf(&r, "%s$.k%d.x", i ? "," : "", i);
	CHECK_INT(M(r.data, "k59", "x"), 1);
	CHECK_INT(M(r.data, "k0", "x"), 1);
	CHECK_INT(M(r.data, "k30", "y"), 0);
	otas__buf_free(&r);
}

int
main(void)
{
	RUN(parse_valid_forms);
	RUN(parse_errors_with_position);
	RUN(match_names_and_indexes);
	RUN(match_wildcards_and_descent);
	RUN(match_decodes_key_escapes);
	RUN(match_many_rules);
	return testlib_done();
}
