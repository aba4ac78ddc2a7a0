/*
 * test_jsonpath.c -- the JSONPath rule parser and its NFA stepping.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event/jsonpath.h"
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
 * a member name, "#N" is array index N (of an array whose length is not
 * known), "#N/L" index N of an array of L elements. */
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
		if (path[i][0] == '#') {
			char *end;
			size_t idx = strtoul(path[i] + 1, &end, 10);
			size_t cnt = *end == '/' ? strtoul(end + 1, NULL, 10)
			                         : SIZE_MAX;
			/* The walker counts only when a live state needs it. */
			if (!otas__jsonpath_needs_count(set, cur))
				cnt = SIZE_MAX;
			hit = otas__jsonpath_element(set, cur, idx, cnt, next);
		} else
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
	    /* Bare names, unions, slices, negative indexes. */
	    "password", " password , $.a", "x-api-key", "\xC3\xA9t\xC3\xA9",
	    "$['a','b']", "$[ 'a' , \"b\" ]", "$.items[0,2]", "$.items[-1]",
	    "$.items[0:2]", "$[1:]", "$[:2]", "$[:]", "$[::]", "$[::-1]",
	    "$[-3:-1]", "$[5:1:-2]", "$[ 0 : 2 : 1 ]", "$..[-1]",
	    "$..['a','b']", "$[*,0]", "$[0,'a',1:3,-1]", "$.a[0,0]",
	    "$[-18446744073709551615]", "$[0:18446744073709551615:-9]",
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
	/* Commas inside brackets do not split rules. */
	set = otas__jsonpath_parse("password, $.items[0,2], $['a','b'],$[0:1]",
	                           err, sizeof(err));
	CHECK(set != NULL);
	CHECK_INT(otas__jsonpath_count(set), 4);
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
	/* A bare name is a whole rule. */
	CHECK_STR(perr("a.b"),
	          "rule \"a.b\" at position 2: expected ',' after a bare name "
	          "(a path starts with '$')");
	CHECK_STR(perr("$.a, x y"),
	          "rule \"x y\" at position 3: expected ',' after a bare name "
	          "(a path starts with '$')");
	CHECK_STR(perr("$.a,,$.b"),
	          "rule \"\" at position 1: expected '$' or a name");
	CHECK_STR(perr("$.a,"), "rule \"\" at position 1: expected '$' or a name");
	CHECK_STR(perr("$.a, .x"),
	          "rule \".x\" at position 1: expected '$' or a name");
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
	CHECK_STR(perr("$[0"),
	          "rule \"$[0\" at position 3: expected ':', ',' or ']'");
	CHECK_STR(perr("$['a'x]"),
	          "rule \"$['a'x]\" at position 6: expected ',' or ']'");
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
	/* Unions, slices, negative indexes. */
	CHECK_STR(perr("$[-0]"),
	          "rule \"$[-0]\" at position 3: -0 is not an index (write 0)");
	CHECK_STR(perr("$[-]"),
	          "rule \"$[-]\" at position 4: expected a digit after '-'");
	CHECK_STR(perr("$[0,]"),
	          "rule \"$[0,]\" at position 5: expected an index, '*' or a "
	          "quoted name");
	CHECK_STR(perr("$[,0]"),
	          "rule \"$[,0]\" at position 3: expected an index, '*' or a "
	          "quoted name");
	CHECK_STR(perr("$['a',"),
	          "rule \"$['a',\" at position 6: expected an index, '*' or a "
	          "quoted name");
	CHECK_STR(perr("$[1:2:0]"),
	          "rule \"$[1:2:0]\" at position 7: a slice step of 0 selects "
	          "nothing");
	CHECK_STR(perr("$[1:2:3:4]"),
	          "rule \"$[1:2:3:4]\" at position 8: expected ',' or ']'");
	CHECK_STR(perr("$[01:2]"),
	          "rule \"$[01:2]\" at position 3: index with a leading zero");
	CHECK_STR(perr("$[0:18446744073709551616]"),
	          "rule \"$[0:18446744073709551616]\" at position 5: index out "
	          "of range");
	CHECK_STR(perr("$[0 1]"),
	          "rule \"$[0 1]\" at position 5: expected ':', ',' or ']'");
	CHECK_STR(perr("$[0,1], $.b["),
	          "rule \"$.b[\" at position 4: expected an index, '*' or a "
	          "quoted name");
	/* Filters and scripts cannot be streamed: a clear refusal. */
	CHECK_STR(perr("$.a[?(@.x==1)]"),
	          "rule \"$.a[?(@.x==1)]\" at position 5: filters [?...] are "
	          "not supported (a single-pass redactor cannot look at a value "
	          "before writing it)");
	CHECK_STR(perr("$[ ?@.x]"),
	          "rule \"$[ ?@.x]\" at position 4: filters [?...] are not "
	          "supported (a single-pass redactor cannot look at a value "
	          "before writing it)");
	CHECK_STR(perr("$[(@.length-1)]"),
	          "rule \"$[(@.length-1)]\" at position 3: script expressions "
	          "[(...)] are not supported (for the last element write [-1])");
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

TEST(match_bare_names)
{
	CHECK_INT(M("password", "password"), 1);
	CHECK_INT(M("password", "a", "#0", "password"), 1);
	CHECK_INT(M("password", "passwordx"), 0);
	CHECK_INT(M("password", "Password"), 0); /* exact, like $..password */
	CHECK_INT(M("password", "pass\\u0077ord"), 1);
	CHECK_INT(M("a, $.b.c", "x", "a"), 1);
	CHECK_INT(M("a, $.b.c", "b", "c"), 1);
}

TEST(match_unions)
{
	CHECK_INT(M("$['a','b']", "a"), 1);
	CHECK_INT(M("$['a','b']", "b"), 1);
	CHECK_INT(M("$['a','b']", "c"), 0);
	CHECK_INT(M("$['a','b'].c", "b", "c"), 1);
	CHECK_INT(M("$['a','b'].c", "b", "d"), 0);
	CHECK_INT(M("$['a\\u0062', 'c']", "ab"), 1);
	CHECK_INT(M("$.items[0,2]", "items", "#0"), 1);
	CHECK_INT(M("$.items[0,2]", "items", "#1"), 0);
	CHECK_INT(M("$.items[0,2]", "items", "#2"), 1);
	CHECK_INT(M("$.items[0,2].x", "items", "#2", "x"), 1);
	/* Duplicates select once; names and indexes mix. */
	CHECK_INT(M("$.a[1,1]", "a", "#1"), 1);
	CHECK_INT(M("$[0,'x']", "x"), 1);
	CHECK_INT(M("$[0,'x']", "#0"), 1);
	CHECK_INT(M("$[0,'x']", "0"), 0);
	CHECK_INT(M("$[*,0]", "q"), 1); /* a union with * is * */
	CHECK_INT(M("$..['x','y']", "a", "#3", "y"), 1);
	CHECK_INT(M("$.i[0:1, -1]", "i", "#0/3"), 1);
	CHECK_INT(M("$.i[0:1, -1]", "i", "#1/3"), 0);
	CHECK_INT(M("$.i[0:1, -1]", "i", "#2/3"), 1);
}

TEST(match_slices)
{
	CHECK_INT(M("$.i[0:2]", "i", "#0"), 1);
	CHECK_INT(M("$.i[0:2]", "i", "#1"), 1);
	CHECK_INT(M("$.i[0:2]", "i", "#2"), 0);
	CHECK_INT(M("$.i[0:2]", "i", "0"), 0); /* not a member */
	CHECK_INT(M("$.i[1:]", "i", "#5"), 1);
	CHECK_INT(M("$.i[1:]", "i", "#0"), 0);
	CHECK_INT(M("$.i[:2]", "i", "#2"), 0);
	CHECK_INT(M("$.i[:]", "i", "#9"), 1);
	CHECK_INT(M("$.i[::2]", "i", "#4"), 1);
	CHECK_INT(M("$.i[::2]", "i", "#3"), 0);
	CHECK_INT(M("$.i[1:6:2]", "i", "#5"), 1);
	CHECK_INT(M("$.i[1:6:2]", "i", "#6"), 0);
	CHECK_INT(M("$.i[1:6:2]", "i", "#7"), 0);
	CHECK_INT(M("$.i[2:1]", "i", "#1"), 0); /* empty */
	/* Negative bounds count from the end. */
	CHECK_INT(M("$.i[-1]", "i", "#4/5"), 1);
	CHECK_INT(M("$.i[-1]", "i", "#3/5"), 0);
	CHECK_INT(M("$.i[-5]", "i", "#0/5"), 1);
	CHECK_INT(M("$.i[-6]", "i", "#0/5"), 0); /* before the start */
	CHECK_INT(M("$.i[-1].x", "i", "#2/3", "x"), 1);
	CHECK_INT(M("$.i[-2:]", "i", "#3/5"), 1);
	CHECK_INT(M("$.i[-2:]", "i", "#4/5"), 1);
	CHECK_INT(M("$.i[-2:]", "i", "#2/5"), 0);
	CHECK_INT(M("$.i[:-1]", "i", "#3/5"), 1);
	CHECK_INT(M("$.i[:-1]", "i", "#4/5"), 0);
	CHECK_INT(M("$.i[-3:-1]", "i", "#1/5"), 0);
	CHECK_INT(M("$.i[-3:-1]", "i", "#2/5"), 1);
	CHECK_INT(M("$.i[-3:-1]", "i", "#3/5"), 1);
	CHECK_INT(M("$.i[-3:-1]", "i", "#4/5"), 0);
	CHECK_INT(M("$.i[-99:2]", "i", "#0/5"), 1); /* clamped */
	/* Negative steps select the same elements walked backwards. */
	CHECK_INT(M("$.i[::-1]", "i", "#0"), 1);
	CHECK_INT(M("$.i[3:0:-1]", "i", "#3"), 1);
	CHECK_INT(M("$.i[3:0:-1]", "i", "#1"), 1);
	CHECK_INT(M("$.i[3:0:-1]", "i", "#0"), 0);
	CHECK_INT(M("$.i[3:0:-1]", "i", "#4"), 0);
	CHECK_INT(M("$.i[::-2]", "i", "#4/5"), 1);
	CHECK_INT(M("$.i[::-2]", "i", "#3/5"), 0);
	CHECK_INT(M("$.i[::-2]", "i", "#0/5"), 1);
	CHECK_INT(M("$.i[::-2]", "i", "#3/4"), 1);
	CHECK_INT(M("$.i[::-2]", "i", "#0/4"), 0);
	CHECK_INT(M("$.i[10:0:-3]", "i", "#9/10"), 1);
	CHECK_INT(M("$.i[10:0:-3]", "i", "#3/10"), 1);
	CHECK_INT(M("$.i[10:0:-3]", "i", "#8/10"), 0);
	CHECK_INT(M("$.i[10:0:-3]", "i", "#0/10"), 0);
	/* Under recursive descent, every array. */
	CHECK_INT(M("$..[-1]", "a", "#0/2", "b", "#0/1"), 1);
	CHECK_INT(M("$..[-1]", "a", "#1/2"), 1);
	CHECK_INT(M("$..[-1]", "a", "#0/2", "b", "#0/2"), 0);
}

/* Python's slice iteration, written apart from the engine's arithmetic:
 * whether a[start:end:step] over n elements visits i. */
static int
ref_slice(int has_a, long a, int has_b, long b, long step, long n, long i)
{
	long lo, hi, k;

	if (step > 0) {
		lo = !has_a ? 0 : a < 0 ? (a + n < 0 ? 0 : a + n) : (a > n ? n : a);
		hi = !has_b ? n : b < 0 ? (b + n < 0 ? 0 : b + n) : (b > n ? n : b);
		for (k = lo; k < hi; k += step)
			if (k == i)
				return 1;
		return 0;
	}
	hi = !has_a ? n - 1
	            : a < 0 ? (a + n < 0 ? -1 : a + n) : (a >= n ? n - 1 : a);
	lo = !has_b ? -1
	            : b < 0 ? (b + n < 0 ? -1 : b + n) : (b >= n ? n - 1 : b);
	for (k = hi; k > lo; k += step)
		if (k == i)
			return 1;
	return 0;
}

TEST(match_slices_against_python_semantics)
{
	static const long steps[] = {-3, -2, -1, 1, 2, 3, 0 /* absent */};
	long a, b, si, n, i;
	int checked = 0;

	for (a = -8; a <= 8; a++)
		for (b = -8; b <= 8; b++)
			for (si = 0; si < 7; si++) {
				char rule[64], sa[8] = "", sb[8] = "", sc[8] = "";
				int has_a = a != 8, has_b = b != 8;
				long step = steps[si] ? steps[si] : 1;
				char err[200];
				otas__jsonpath_set_t *set;
				uint64_t cur[4], next[4];
				if (has_a)
					snprintf(sa, sizeof(sa), "%ld", a);
				if (has_b)
					snprintf(sb, sizeof(sb), "%ld", b);
				if (steps[si])
					snprintf(sc, sizeof(sc), ":%ld", step);
				snprintf(rule, sizeof(rule), "$[%s:%s%s]", sa, sb, sc);
				set = otas__jsonpath_parse(rule, err, sizeof(err));
				CHECK(set != NULL);
				for (n = 0; n <= 7; n++)
					for (i = 0; i < n; i++) {
						int want = ref_slice(has_a, a, has_b, b,
						                     step, n, i);
						size_t cnt = (size_t)n;
						int got;
						otas__jsonpath_start(set, cur);
						if (!otas__jsonpath_needs_count(set, cur))
							cnt = SIZE_MAX;
						got = otas__jsonpath_element(
						    set, cur, (size_t)i, cnt, next);
						if (got != want)
							fprintf(stderr, "  %s n=%ld i=%ld\\n",
							        rule, n, i);
						CHECK_INT(got, want);
						checked++;
					}
				otas__jsonpath_free(set);
			}
	CHECK(checked > 40000);
}

TEST(count_needed_only_for_negative_forms)
{
	static const struct {
		const char *rules;
		int has;
	} cases[] = {
	    {"$.a, $..b, $.c[0], $.d[*]", 0}, {"$.a[0:2], $.b[1:], $['x','y']", 0},
	    {"$.a[::-1], $.a[5:2:-1], $.a[0,3]", 0}, {"password", 0},
	    {"$.a[-1]", 1}, {"$.a[-2:]", 1}, {"$.a[:-1]", 1}, {"$.a[::-2]", 1},
	    {"$.a[-1:0:-1]", 1}, {"$.a[0, -1]", 1},
	};
	size_t i;
	char err[200];
	uint64_t root[4], a[4];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		otas__jsonpath_set_t *set =
		    otas__jsonpath_parse(cases[i].rules, err, sizeof(err));
		CHECK(set != NULL);
		if (otas__jsonpath_has_count_rules(set) != cases[i].has)
			fprintf(stderr, "  %s\\n", cases[i].rules);
		CHECK_INT(otas__jsonpath_has_count_rules(set), cases[i].has);
		otas__jsonpath_start(set, root);
		/* At the root only `$.a`'s name step is live: no count. */
		CHECK_INT(otas__jsonpath_needs_count(set, root), 0);
		if (cases[i].has) {
			CHECK_INT(otas__jsonpath_member(set, root, "a", 1, 0, a), 0);
			CHECK_INT(otas__jsonpath_needs_count(set, a), 1);
			CHECK_INT(otas__jsonpath_member(set, root, "b", 1, 0, a), 0);
			CHECK_INT(otas__jsonpath_needs_count(set, a), 0);
		}
		otas__jsonpath_free(set);
	}
	CHECK_INT(otas__jsonpath_has_count_rules(NULL), 0);
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
	RUN(match_bare_names);
	RUN(match_unions);
	RUN(match_slices);
	RUN(match_slices_against_python_semantics);
	RUN(count_needed_only_for_negative_forms);
	return testlib_done();
}
