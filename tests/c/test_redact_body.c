/*
 * test_redact_body.c -- JSON, form and query-string redaction.
 */
#include <stdlib.h>
#include <string.h>

#include "redact_body.h"
#include "testlib.h"

static const char *const default_names[] = {"password", "Token", "api_key"};
static const otas__nameset_t NAMES = {default_names, 3, 0, NULL};

/* Result buffers: each helper returns a string owned by a static buffer
 * that the next call of the same helper overwrites. */
static char *
form(const char *rules, const otas__nameset_t *names, const char *in)
{
	static otas__buf_t out;
	char err[256];
	otas__jsonpath_set_t *set = NULL;

	if (rules) {
		set = otas__jsonpath_parse(rules, err, sizeof(err));
		if (!set) {
			fprintf(stderr, "  parse: %s\n", err);
			return NULL;
		}
	}
	otas__buf_reset(&out);
	if (otas__redact_urlencoded(set, names, in, strlen(in), &out) != 0)
		return NULL;
	otas__jsonpath_free(set);
	otas__buf_putc(&out, '\0');
	out.len--;
	return out.oom ? NULL : out.data;
}

static char *
form_json(const char *rules, const otas__nameset_t *names, const char *in,
          size_t len)
{
	static otas__buf_t out;
	char err[256];
	otas__jsonpath_set_t *set = NULL;

	if (rules) {
		set = otas__jsonpath_parse(rules, err, sizeof(err));
		if (!set) {
			fprintf(stderr, "  parse: %s\n", err);
			return NULL;
		}
	}
	otas__buf_reset(&out);
	if (otas__urlencoded_to_json(set, names, in, len, &out) != 0)
		return NULL;
	otas__jsonpath_free(set);
	otas__buf_putc(&out, '\0');
	out.len--;
	return out.oom ? NULL : out.data;
}

#define FJ(rules, names, lit) form_json(rules, names, lit, strlen(lit))

/* Returns the redacted text, or "ERR" when otas__redact_json failed. */
static char *
rj(const char *rules, const char *in, size_t len)
{
	static otas__buf_t out;
	char err[256];
	otas__jsonpath_set_t *set;
	int rc;

	set = otas__jsonpath_parse(rules, err, sizeof(err));
	if (!set) {
		fprintf(stderr, "  parse: %s\n", err);
		return NULL;
	}
	otas__buf_reset(&out);
	otas__buf_puts(&out, "");
	rc = otas__redact_json(set, in, len, &out);
	otas__jsonpath_free(set);
	if (rc != 0) {
		/* Fail closed leaves out untouched. */
		if (out.len != 0)
			return "ERR-but-wrote";
		return "ERR";
	}
	return out.oom ? NULL : out.data;
}

#define RJ(rules, lit) rj(rules, lit, strlen(lit))

/* ------------------------------------------------------------- form */

TEST(form_names_case_insensitive)
{
	CHECK_STR(form(NULL, &NAMES, "user=bob&PASSWORD=hunter2&x=1"),
	          "user=bob&PASSWORD=%5BREDACTED%5D&x=1");
	CHECK_STR(form(NULL, &NAMES, "token=a&token=b"),
	          "token=%5BREDACTED%5D&token=%5BREDACTED%5D");
	CHECK_STR(form(NULL, NULL, "password=x"), "password=x");
	CHECK_STR(form(NULL, &NAMES, ""), "");
}

TEST(form_names_decoded)
{
	CHECK_STR(form(NULL, &NAMES, "pass%77ord=x&api%5Fkey=y"),
	          "pass%77ord=%5BREDACTED%5D&api%5Fkey=%5BREDACTED%5D");
	CHECK_STR(form("$['my key']", NULL, "my+key=1&my%20key=2&mykey=3"),
	          "my+key=%5BREDACTED%5D&my%20key=%5BREDACTED%5D&mykey=3");
	/* An invalid %-sequence is kept literally, both when matching... */
	CHECK_STR(form("$['a%zz']", NULL, "a%zz=1&a%=2&%=3"),
	          "a%zz=%5BREDACTED%5D&a%=2&%=3");
	CHECK_STR(form("$['a%']", NULL, "a%=2&a%2=3"),
	          "a%=%5BREDACTED%5D&a%2=3");
}

TEST(form_edge_cases)
{
	/* a=&b: both present, both redacted, even the empty/absent one. */
	CHECK_STR(form(NULL, &NAMES, "password=&token"),
	          "password=%5BREDACTED%5D&token=%5BREDACTED%5D");
	CHECK_STR(form(NULL, &NAMES, "&&password=1&&"),
	          "&&password=%5BREDACTED%5D&&");
	CHECK_STR(form("$['']", NULL, "=x&a=b&=&"), "=%5BREDACTED%5D&a=b&=%5BREDACTED%5D&");
	/* Only the first '=' splits. */
	CHECK_STR(form(NULL, &NAMES, "password=a=b&c=d"),
	          "password=%5BREDACTED%5D&c=d");
	CHECK_STR(form(NULL, &NAMES, "c=password"), "c=password");
}

TEST(form_rules)
{
	CHECK_STR(form("$.user", NULL, "user=1&other=2"),
	          "user=%5BREDACTED%5D&other=2");
	CHECK_STR(form("$..other", NULL, "user=1&other=2"),
	          "user=1&other=%5BREDACTED%5D");
	CHECK_STR(form("$.*", NULL, "user=1&other=2"),
	          "user=%5BREDACTED%5D&other=%5BREDACTED%5D");
	CHECK_STR(form("$", NULL, "user=1&other=2"),
	          "user=%5BREDACTED%5D&other=%5BREDACTED%5D");
	/* Rules below the top level never match a flat form. */
	CHECK_STR(form("$.user.name, $.user[0], $[0]", NULL, "user=1"),
	          "user=1");
	CHECK_STR(form("$.a", &NAMES, "a=1&password=2&b=3"),
	          "a=%5BREDACTED%5D&password=%5BREDACTED%5D&b=3");
}

TEST(form_to_json_basic)
{
	CHECK_STR(FJ(NULL, NULL, ""), "{}");
	CHECK_STR(FJ(NULL, NULL, "a=1"), "{\"a\": [\"1\"]}");
	CHECK_STR(FJ(NULL, NULL, "a=1&b=2&a=3"),
	          "{\"a\": [\"1\", \"3\"], \"b\": [\"2\"]}");
	CHECK_STR(FJ(NULL, NULL, "a=&b"), "{\"a\": [\"\"], \"b\": [\"\"]}");
	CHECK_STR(FJ(NULL, NULL, "&&a=1&&"), "{\"a\": [\"1\"]}");
	CHECK_STR(FJ(NULL, NULL, "=x&=y"), "{\"\": [\"x\", \"y\"]}");
	CHECK_STR(FJ(NULL, NULL, "q=a+b%20c%2Bd"), "{\"q\": [\"a b c+d\"]}");
	CHECK_STR(FJ(NULL, NULL, "x=%zz%4&y=%"),
	          "{\"x\": [\"%zz%4\"], \"y\": [\"%\"]}");
	/* Names group by decoded value. */
	CHECK_STR(FJ(NULL, NULL, "a+b=1&a%20b=2"), "{\"a b\": [\"1\", \"2\"]}");
}

TEST(form_to_json_escaping)
{
	CHECK_STR(FJ(NULL, NULL, "k=%22%5C%0A%01%7F"),
	          "{\"k\": [\"\\\"\\\\\\n\\u0001\x7f\"]}");
	/* Valid UTF-8 kept, invalid bytes become U+FFFD one by one. */
	CHECK_STR(FJ(NULL, NULL, "k=%C3%A9"), "{\"k\": [\"\xC3\xA9\"]}");
	CHECK_STR(FJ(NULL, NULL, "k=%FF%C3"),
	          "{\"k\": [\"\xEF\xBF\xBD\xEF\xBF\xBD\"]}");
	CHECK_STR(FJ(NULL, NULL, "%ED%A0%80=1"), /* encoded surrogate */
	          "{\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\": [\"1\"]}");
	CHECK_STR(FJ(NULL, NULL, "%C0%AF=1"), /* overlong */
	          "{\"\xEF\xBF\xBD\xEF\xBF\xBD\": [\"1\"]}");
	/* A NUL byte in the input. */
	CHECK_STR(form_json(NULL, NULL, "a=x\0y", 5), "{\"a\": [\"x\\u0000y\"]}");
}

TEST(form_to_json_redacted)
{
	CHECK_STR(FJ(NULL, &NAMES, "user=bob&password=a&password=b&token"),
	          "{\"user\": [\"bob\"], \"password\": [\"[REDACTED]\", "
	          "\"[REDACTED]\"], \"token\": [\"[REDACTED]\"]}");
	CHECK_STR(FJ("$.user", NULL, "user=bob&x=1"),
	          "{\"user\": [\"[REDACTED]\"], \"x\": [\"1\"]}");
}

TEST(form_to_json_many_fields)
{
	/* Many distinct and repeated names: grouping must stay linear-ish
	 * and correct across hash collisions and table growth. */
#define PREFIX                                                             \
	"{\"k0\": [\"0\", \"1000\", \"2000\", \"3000\", \"4000\"], \"k1\": [\"1\""
	otas__buf_t in = OTAS__BUF_INIT;
	char *out;
	int i;

	for (i = 0; i < 5000; i++)
		otas__buf_printf(&in, "%sk%d=%d", i ? "&" : "", i % 1000, i);
	out = form_json(NULL, NULL, in.data, in.len);
	CHECK(out != NULL);
	CHECK(strncmp(out, PREFIX, strlen(PREFIX)) == 0);
	CHECK(strstr(out, "\"k999\": [\"999\", \"1999\", \"2999\", \"3999\", "
	                  "\"4999\"]}") != NULL);
	otas__buf_free(&in);
}

/* ------------------------------------------------------------- JSON */

TEST(json_basic_and_byte_for_byte)
{
	CHECK_STR(RJ("$.password", "{\"user\":\"bob\",\"password\":\"x\"}"),
	          "{\"user\":\"bob\",\"password\":\"[REDACTED]\"}");
	/* Whitespace, key order and number spelling are kept. */
	CHECK_STR(RJ("$.b", "{ \"z\" : 1.50e+3 ,\n\t\"b\" :\r\n [ 1 , 2 ] , "
	                    "\"a\":-0.0E-0 }  \n"),
	          "{ \"z\" : 1.50e+3 ,\n\t\"b\" :\r\n \"[REDACTED]\" , "
	          "\"a\":-0.0E-0 }  \n");
	/* Nothing matched: identical. */
	CHECK_STR(RJ("$.nope, $..nope", " [1, {\"a\": \"\\u00e9\"}, 1e5] "),
	          " [1, {\"a\": \"\\u00e9\"}, 1e5] ");
	CHECK_STR(RJ("", "{\"a\":1}"), "{\"a\":1}");
	/* Objects and arrays as matched values. */
	CHECK_STR(RJ("$.a", "{\"a\":{\"b\":[1,{\"c\":2}]},\"d\":3}"),
	          "{\"a\":\"[REDACTED]\",\"d\":3}");
	CHECK_STR(RJ("$.a", "{\"a\":[],\"d\":{}}"),
	          "{\"a\":\"[REDACTED]\",\"d\":{}}");
	/* The root itself. */
	CHECK_STR(RJ("$", " {\"a\":1} "), " \"[REDACTED]\" ");
	CHECK_STR(RJ("$", "3"), "\"[REDACTED]\"");
}

TEST(json_appends_to_out)
{
	otas__buf_t out = OTAS__BUF_INIT;
	char err[128];
	otas__jsonpath_set_t *set = otas__jsonpath_parse("$.a", err, 128);

	otas__buf_puts(&out, "prefix:");
	CHECK_INT(otas__redact_json(set, "{\"a\":1}", 7, &out), 0);
	CHECK_STR(out.data, "prefix:{\"a\":\"[REDACTED]\"}");
	CHECK_INT(otas__redact_json(set, "{\"a\":1,}", 8, &out), -1);
	CHECK_STR(out.data, "prefix:{\"a\":\"[REDACTED]\"}");
	CHECK_INT(out.len, strlen("prefix:{\"a\":\"[REDACTED]\"}"));
	otas__jsonpath_free(set);
	otas__buf_free(&out);
}

TEST(json_paths)
{
	const char *doc =
	    "{\"user\":{\"name\":\"b\",\"card\":{\"number\":\"4111\",\"cvc\":1}},"
	    "\"items\":[{\"ssn\":\"1\",\"k\":1},{\"ssn\":\"2\"},3,[{\"ssn\":4}]],"
	    "\"data\":{\"x\":{\"secret\":1,\"y\":2},\"z\":{\"secret\":[3]}}}";

	CHECK_STR(RJ("$.user.card.number", doc),
	          "{\"user\":{\"name\":\"b\",\"card\":{\"number\":\"[REDACTED]\","
	          "\"cvc\":1}},"
	          "\"items\":[{\"ssn\":\"1\",\"k\":1},{\"ssn\":\"2\"},3,[{\"ssn\":"
	          "4}]],"
	          "\"data\":{\"x\":{\"secret\":1,\"y\":2},\"z\":{\"secret\":[3]}}}");
	CHECK_STR(RJ("$.items[*].ssn", doc),
	          "{\"user\":{\"name\":\"b\",\"card\":{\"number\":\"4111\",\"cvc\":"
	          "1}},"
	          "\"items\":[{\"ssn\":\"[REDACTED]\",\"k\":1},{\"ssn\":\"["
	          "REDACTED]\"},3,[{\"ssn\":4}]],"
	          "\"data\":{\"x\":{\"secret\":1,\"y\":2},\"z\":{\"secret\":[3]}}}");
	CHECK_STR(RJ("$.data.*.secret, $.items[1]", doc),
	          "{\"user\":{\"name\":\"b\",\"card\":{\"number\":\"4111\",\"cvc\":"
	          "1}},"
	          "\"items\":[{\"ssn\":\"1\",\"k\":1},\"[REDACTED]\",3,[{\"ssn\":4}"
	          "]],"
	          "\"data\":{\"x\":{\"secret\":\"[REDACTED]\",\"y\":2},\"z\":{"
	          "\"secret\":\"[REDACTED]\"}}}");
	CHECK_STR(RJ("$..ssn", doc),
	          "{\"user\":{\"name\":\"b\",\"card\":{\"number\":\"4111\",\"cvc\":"
	          "1}},"
	          "\"items\":[{\"ssn\":\"[REDACTED]\",\"k\":1},{\"ssn\":\"["
	          "REDACTED]\"},3,[{\"ssn\":\"[REDACTED]\"}]],"
	          "\"data\":{\"x\":{\"secret\":1,\"y\":2},\"z\":{\"secret\":[3]}}}");
	CHECK_STR(RJ("$['user']['card'][\"cvc\"]", "{\"user\":{\"card\":{\"cvc\""
	                                           ":1}}}"),
	          "{\"user\":{\"card\":{\"cvc\":\"[REDACTED]\"}}}");
	CHECK_STR(RJ("$.*", "{\"a\":1,\"b\":[2]}"),
	          "{\"a\":\"[REDACTED]\",\"b\":\"[REDACTED]\"}");
	CHECK_STR(RJ("$.*", "[1,{}]"), "[\"[REDACTED]\",\"[REDACTED]\"]");
	CHECK_STR(RJ("$[0]", "[1,{}]"), "[\"[REDACTED]\",{}]");
	CHECK_STR(RJ("$.a[0]", "{\"a\":{\"0\":1}}"), "{\"a\":{\"0\":1}}");
	CHECK_STR(RJ("$['0']", "[1]"), "[1]");
}

TEST(json_unicode_escaped_keys)
{
	CHECK_STR(RJ("$.password", "{\"pass\\u0077ord\":\"x\",\"p\":1}"),
	          "{\"pass\\u0077ord\":\"[REDACTED]\",\"p\":1}");
	CHECK_STR(RJ("$..token", "[{\"\\u0074oken\":1},{\"tok\\u0065n\":2}]"),
	          "[{\"\\u0074oken\":\"[REDACTED]\"},{\"tok\\u0065n\":\"["
	          "REDACTED]\"}]");
	CHECK_STR(RJ("$['caf\xC3\xA9']", "{\"caf\\u00e9\":1,\"caf\xC3\xA9\":2}"),
	          "{\"caf\\u00e9\":\"[REDACTED]\",\"caf\xC3\xA9\":\"[REDACTED]\"}");
	CHECK_STR(RJ("$['a\"b']", "{\"a\\\"b\":1}"), "{\"a\\\"b\":\"[REDACTED]\"}");
	/* A lone surrogate key is valid JSON, matches nothing. */
	CHECK_STR(RJ("$.a", "{\"\\ud800\":1}"), "{\"\\ud800\":1}");
}

TEST(json_duplicate_keys)
{
	CHECK_STR(RJ("$.a", "{\"a\":1,\"a\":{\"b\":2},\"a\":[3]}"),
	          "{\"a\":\"[REDACTED]\",\"a\":\"[REDACTED]\",\"a\":\"["
	          "REDACTED]\"}");
}

TEST(json_arrays_of_arrays)
{
	CHECK_STR(RJ("$[1][0]", "[[1,2],[3,[4]],[]]"),
	          "[[1,2],[\"[REDACTED]\",[4]],[]]");
	CHECK_STR(RJ("$[*][1]", "[[1,2],[3,[4]],[]]"),
	          "[[1,\"[REDACTED]\"],[3,\"[REDACTED]\"],[]]");
	CHECK_STR(RJ("$..[0]", "[[1,2],[[5],6]]"),
	          "[\"[REDACTED]\",[\"[REDACTED]\",6]]");
	CHECK_STR(RJ("$.a[2].b", "{\"a\":[[],{},{\"b\":[[[]]]}]}"),
	          "{\"a\":[[],{},{\"b\":\"[REDACTED]\"}]}");
}

TEST(json_nested_match_inside_redacted)
{
	/* $..token inside an object that $.auth already replaces. */
	CHECK_STR(RJ("$.auth, $..token",
	              "{\"auth\":{\"token\":\"t\",\"x\":{\"token\":1}},\"token\":2}"),
	          "{\"auth\":\"[REDACTED]\",\"token\":\"[REDACTED]\"}");
	CHECK_STR(RJ("$..token", "{\"token\":{\"token\":1}}"),
	          "{\"token\":\"[REDACTED]\"}");
	/* The redacted value is still validated: fail closed. */
	CHECK_STR(RJ("$.auth", "{\"auth\":{\"a\":01}}"), "ERR");
}

TEST(json_empty_documents)
{
	CHECK_STR(RJ("$.a", ""), "ERR");
	CHECK_STR(RJ("$.a", " \n\t\r "), "ERR");
	CHECK_STR(RJ("", ""), "ERR");
	CHECK_STR(RJ("$.a", "{}"), "{}");
	CHECK_STR(RJ("$.a", "[]"), "[]");
	CHECK_STR(RJ("$.a", " { } "), " { } ");
	CHECK_STR(RJ("$.a", "\"\""), "\"\"");
	CHECK_STR(rj("$.a", NULL, 0), "ERR");
}

TEST(json_numbers)
{
	const char *ok[] = {"0", "-0", "1", "-12", "1.5", "1e5", "1E+5", "1e-5",
	                    "-0.0e0", "123456789012345678901234567890",
	                    "1.7976931348623157e308", "2.5E-0100"};
	const char *bad[] = {"01", "-", "+1", "1.", ".5", "1e", "1e+", "0x10",
	                     "1.e5", "-01", "--1", "1ee5", "NaN", "Infinity",
	                     "-Infinity", "1 2", "00"};
	size_t i;
	char doc[128];

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"n\":%s,\"a\":%s}", ok[i], ok[i]);
		CHECK(strstr(RJ("$.a", doc), "[REDACTED]") != NULL);
		CHECK(strstr(RJ("$.a", doc), ok[i]) != NULL);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), "[%s]", bad[i]);
		if (strcmp(RJ("$.a", doc), "ERR") != 0)
			fprintf(stderr, "  accepted %s\n", doc);
		CHECK_STR(RJ("$.a", doc), "ERR");
	}
}

TEST(json_strict_validation)
{
	const char *bad[] = {
	    "{\"a\":1,}", "[1,]", "[,1]", "{,}", "{\"a\"}", "{\"a\":}",
	    "{\"a\" 1}", "{a:1}", "{'a':1}", "['a']", "[1 2]", "{\"a\":1 \"b\":2}",
	    "[1]x", "[1] [2]", "{}}", "[[]", "{\"a\":[}", "tru", "truee", "nul",
	    "True", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\\"", "\"abc",
	    "\"a\tb\"", "\"a\nb\"", "\"\x01\"", "\"\x7f\"x", "\"\xff\"",
	    "\"\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
	    "\"\xe2\x82\"", "\xef\xbb\xbf{}", "[\x01]", "{\"a\":1}\x00",
	    "[1,\n]", "/*c*/{}", "{\"a\":1}//", "[\"\\u\"]", "{\"\xff\":1}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]);
		if (i == 38)
			n++; /* keep the NUL */
		if (strcmp(rj("$..a", bad[i], n), "ERR") != 0)
			fprintf(stderr, "  accepted #%zu %s\n", i, bad[i]);
		CHECK_STR(rj("$..a", bad[i], n), "ERR");
	}
	/* Valid oddities are accepted and kept. */
	CHECK_STR(RJ("$.x", "\"\x7f \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""),
	          "\"\x7f \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	CHECK_STR(RJ("$.x", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uDEAD\"]"),
	          "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uDEAD\"]");
	CHECK_STR(RJ("$.x", "[true,false,null]"), "[true,false,null]");
}

static char *
nested(size_t depth, const char *inner)
{
	static otas__buf_t b;
	size_t i;

	otas__buf_reset(&b);
	for (i = 0; i < depth; i++)
		otas__buf_puts(&b, "{\"k\":");
	otas__buf_puts(&b, inner);
	for (i = 0; i < depth; i++)
		otas__buf_putc(&b, '}');
	return b.data;
}

TEST(json_deep_nesting)
{
	otas__buf_t want = OTAS__BUF_INIT;
	size_t i;
	char *doc;

	/* Exactly OTAS__REDACT_MAX_DEPTH containers: fine. */
	doc = nested(OTAS__REDACT_MAX_DEPTH - 1, "[1]");
	CHECK_STR(RJ("$.x", doc), doc);
	CHECK(strstr(RJ("$..k", doc), "{\"k\":\"[REDACTED]\"}") != NULL);
	/* The deepest value can be matched ($..[0] at depth 128). */
	for (i = 0; i < OTAS__REDACT_MAX_DEPTH - 1; i++)
		otas__buf_puts(&want, "{\"k\":");
	otas__buf_puts(&want, "[\"[REDACTED]\"]");
	for (i = 0; i < OTAS__REDACT_MAX_DEPTH - 1; i++)
		otas__buf_putc(&want, '}');
	CHECK_STR(RJ("$..[0]", doc), want.data);
	otas__buf_free(&want);
	/* One more: unparseable, even with no rules. */
	doc = nested(OTAS__REDACT_MAX_DEPTH, "[1]");
	CHECK_STR(RJ("$.x", doc), "ERR");
	CHECK_STR(RJ("", doc), "ERR");
	/* Far too deep: still no crash (no recursion). */
	{
		otas__buf_t b = OTAS__BUF_INIT;
		for (i = 0; i < 100000; i++)
			otas__buf_putc(&b, '[');
		CHECK_STR(rj("$..a", b.data, b.len), "ERR");
		otas__buf_free(&b);
	}
	/* Deep but redacted high up: the limit still applies (fail closed,
	 * the body could not be fully validated). */
	CHECK_STR(RJ("$.k", nested(OTAS__REDACT_MAX_DEPTH + 1, "1")), "ERR");
	CHECK_STR(RJ("$.k", nested(OTAS__REDACT_MAX_DEPTH, "1")),
	          "{\"k\":\"[REDACTED]\"}");
}

TEST(json_many_rules_heap_states)
{
	/* Enough rules that the per-depth state block is allocated once. */
	otas__buf_t r = OTAS__BUF_INIT;
	int i;

	for (i = 0; i < 100; i++)
		otas__buf_printf(&r, "%s$..k%d.x", i ? "," : "", i);
	CHECK_STR(RJ(r.data, "{\"a\":{\"k99\":{\"x\":1,\"y\":2}},\"k0\":{\"x\":3}}"),
	          "{\"a\":{\"k99\":{\"x\":\"[REDACTED]\",\"y\":2}},\"k0\":{\"x\":"
	          "\"[REDACTED]\"}}");
	otas__buf_free(&r);
}

TEST(json_bare_names)
{
	CHECK_STR(RJ("password",
	             "{\"password\":1,\"u\":{\"password\":[1,2]},"
	             "\"l\":[{\"password\":\"x\",\"passwords\":2}]}"),
	          "{\"password\":\"[REDACTED]\",\"u\":{\"password\":"
	          "\"[REDACTED]\"},\"l\":[{\"password\":\"[REDACTED]\","
	          "\"passwords\":2}]}");
	CHECK_STR(RJ(" token , $.a ", "{\"a\":1,\"b\":{\"token\":2}}"),
	          "{\"a\":\"[REDACTED]\",\"b\":{\"token\":\"[REDACTED]\"}}");
}

TEST(json_unions_and_slices)
{
	CHECK_STR(RJ("$['a','b']", "{\"a\":1,\"b\":2,\"c\":3}"),
	          "{\"a\":\"[REDACTED]\",\"b\":\"[REDACTED]\",\"c\":3}");
	CHECK_STR(RJ("$.items[0,2]", "{\"items\":[1,2,3,4]}"),
	          "{\"items\":[\"[REDACTED]\",2,\"[REDACTED]\",4]}");
	CHECK_STR(RJ("$.items[0,2].ssn",
	             "{\"items\":[{\"ssn\":1,\"n\":1},{\"ssn\":2},{\"ssn\":3}]}"),
	          "{\"items\":[{\"ssn\":\"[REDACTED]\",\"n\":1},{\"ssn\":2},"
	          "{\"ssn\":\"[REDACTED]\"}]}");
	CHECK_STR(RJ("$.items[0:2]", "{\"items\":[1,2,3]}"),
	          "{\"items\":[\"[REDACTED]\",\"[REDACTED]\",3]}");
	CHECK_STR(RJ("$[1::2]", "[0, 1, 2, 3, 4]"),
	          "[0, \"[REDACTED]\", 2, \"[REDACTED]\", 4]");
	CHECK_STR(RJ("$[3:0:-1]", "[0,1,2,3,4]"),
	          "[0,\"[REDACTED]\",\"[REDACTED]\",\"[REDACTED]\",4]");
	/* A slice or union on an object selects names only. */
	CHECK_STR(RJ("$[0:2], $[0]", "{\"0\":1}"), "{\"0\":1}");
}

TEST(json_negative_indexes)
{
	CHECK_STR(RJ("$.items[-1]", "{\"items\":[1,2,3]}"),
	          "{\"items\":[1,2,\"[REDACTED]\"]}");
	CHECK_STR(RJ("$.items[-3]", "{\"items\":[1,2,3]}"),
	          "{\"items\":[\"[REDACTED]\",2,3]}");
	CHECK_STR(RJ("$.items[-4]", "{\"items\":[1,2,3]}"),
	          "{\"items\":[1,2,3]}");
	CHECK_STR(RJ("$.a[-1]", "{\"a\":[]}"), "{\"a\":[]}");
	CHECK_STR(RJ("$.a[-1]", "{\"a\":[ ]}"), "{\"a\":[ ]}");
	CHECK_STR(RJ("$.a[-1]", "{\"a\":[7]}"), "{\"a\":[\"[REDACTED]\"]}");
	CHECK_STR(RJ("$.a[-1]", "{\"a\":{\"x\":1}}"), "{\"a\":{\"x\":1}}");
	/* The count follows strings (commas, brackets, escaped quotes
	 * inside them) and nesting. */
	CHECK_STR(RJ("$.i[-1].x",
	             "{\"i\":[{\"x\":1},{\"x\":[1,{\"y\":\"],\"}]},"
	             " {\"x\":\"last,\\\"]\",\"z\":[[],{}]} ]}"),
	          "{\"i\":[{\"x\":1},{\"x\":[1,{\"y\":\"],\"}]},"
	          " {\"x\":\"[REDACTED]\",\"z\":[[],{}]} ]}");
	CHECK_STR(RJ("$.a[-1]", "{\"a\":[\"x\\\\\",\",\\\\\\\"]\",3]}"),
	          "{\"a\":[\"x\\\\\",\",\\\\\\\"]\",\"[REDACTED]\"]}");
	CHECK_STR(RJ("$[-1]", "[\"a\\\\\",1]"), "[\"a\\\\\",\"[REDACTED]\"]");
	CHECK_STR(RJ("$[-1]", "[\"a\\\\\\\"\",1]"),
	          "[\"a\\\\\\\"\",\"[REDACTED]\"]");
	CHECK_STR(RJ("$.a[-2:]", "{\"a\":[1,[2,3],\"4\",{\"5\":5}]}"),
	          "{\"a\":[1,[2,3],\"[REDACTED]\",\"[REDACTED]\"]}");
	CHECK_STR(RJ("$[::-2]", "[0,1,2,3]"),
	          "[0,\"[REDACTED]\",2,\"[REDACTED]\"]");
	CHECK_STR(RJ("$[::-2]", "[0,1,2,3,4]"),
	          "[\"[REDACTED]\",1,\"[REDACTED]\",3,\"[REDACTED]\"]");
	/* Every array under recursive descent is counted on its own. */
	CHECK_STR(RJ("$..[-1]", "[[1,2],[3,[4,5]],{\"k\":[6,7]},8]"),
	          "[[1,\"[REDACTED]\"],[3,\"[REDACTED]\"],{\"k\":[6,"
	          "\"[REDACTED]\"]},\"[REDACTED]\"]");
	CHECK_STR(RJ("$..[-1].t", "{\"a\":[{\"t\":1},{\"t\":2,\"u\":[{\"t\":3}]}]}"),
	          "{\"a\":[{\"t\":1},{\"t\":\"[REDACTED]\",\"u\":[{\"t\":"
	          "\"[REDACTED]\"}]}]}");
	/* Broken documents still fail closed. */
	CHECK_STR(RJ("$.a[-1]", "{\"a\":[1,2"), "ERR");
	CHECK_STR(RJ("$.a[-1]", "{\"a\":[1,\"\\\"]}"), "ERR");
	CHECK_STR(RJ("$.a[-1]", "{\"a\":[1,2}]}"), "ERR");
	CHECK_STR(RJ("$.a[-1]", "{\"a\":[1,,2]}"), "ERR");
}

TEST(form_bare_names_and_unions)
{
	CHECK_STR(form("password", NULL, "password=x&a=1"),
	          "password=%5BREDACTED%5D&a=1");
	CHECK_STR(form("$['a','b']", NULL, "a=1&b=2&c=3"),
	          "a=%5BREDACTED%5D&b=%5BREDACTED%5D&c=3");
	CHECK_STR(form("$.a[-1], $[0:2]", NULL, "a=1"), "a=1");
}

TEST(json_negative_index_scan_budget)
{
	/* $..[-1] over arrays nested in arrays: each level counts its
	 * elements ahead, rescanning the levels inside it.  8 levels are
	 * fine; 120 levels, each spanning most of the document, exceed 16
	 * times the document's length and fail closed. */
	otas__buf_t doc = OTAS__BUF_INIT, want = OTAS__BUF_INIT;
	size_t i;

	for (i = 0; i < 8; i++)
		otas__buf_putc(&doc, '[');
	otas__buf_puts(&doc, "0");
	otas__buf_puts(&want, doc.data);
	want.len -= 1;
	otas__buf_puts(&want, "\"[REDACTED]\"");
	for (i = 0; i < 7; i++) {
		otas__buf_puts(&doc, "],0");
		otas__buf_puts(&want, "],\"[REDACTED]\"");
	}
	otas__buf_puts(&doc, "]");
	otas__buf_puts(&want, "]");
	CHECK_STR(rj("$..[-1]", doc.data, doc.len), want.data);
	otas__buf_reset(&doc);
	for (i = 0; i < 120; i++)
		otas__buf_putc(&doc, '[');
	otas__buf_puts(&doc, "\"0123456789012345678901234567890123456789\"");
	for (i = 0; i < 119; i++)
		otas__buf_puts(&doc, "],0");
	otas__buf_puts(&doc, "]");
	CHECK_STR(rj("$..[-1]", doc.data, doc.len), "ERR");
	/* Rules that need no count are not limited. */
	CHECK(strcmp(rj("$..[1]", doc.data, doc.len), "ERR") != 0);
	otas__buf_free(&doc);
	otas__buf_free(&want);
}

int
main(void)
{
	RUN(json_basic_and_byte_for_byte);
	RUN(json_appends_to_out);
	RUN(json_paths);
	RUN(json_unicode_escaped_keys);
	RUN(json_duplicate_keys);
	RUN(json_arrays_of_arrays);
	RUN(json_nested_match_inside_redacted);
	RUN(json_empty_documents);
	RUN(json_numbers);
	RUN(json_strict_validation);
	RUN(json_deep_nesting);
	RUN(json_many_rules_heap_states);
	RUN(form_names_case_insensitive);
	RUN(form_names_decoded);
	RUN(form_edge_cases);
	RUN(form_rules);
	RUN(form_to_json_basic);
	RUN(form_to_json_escaping);
	RUN(form_to_json_redacted);
	RUN(form_to_json_many_fields);
	RUN(json_bare_names);
	RUN(json_unions_and_slices);
	RUN(json_negative_indexes);
	RUN(json_negative_index_scan_budget);
	RUN(form_bare_names_and_unions);
	return testlib_done();
}
