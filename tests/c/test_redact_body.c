/*
 * test_redact_body.c -- JSON, form and query-string redaction.
 */
#include <stdlib.h>
#include <string.h>

#include "redact_body.h"
#include "testlib.h"

static const char *const default_names[] = {"password", "Token", "api_key"};
static const otas__nameset_t NAMES = {default_names, 3};

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
static __attribute__((unused)) char *
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

int
main(void)
{
	RUN(form_names_case_insensitive);
	RUN(form_names_decoded);
	RUN(form_edge_cases);
	RUN(form_rules);
	RUN(form_to_json_basic);
	RUN(form_to_json_escaping);
	RUN(form_to_json_redacted);
	RUN(form_to_json_many_fields);
	return testlib_done();
}
