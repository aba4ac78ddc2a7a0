/*
 * test_redact_names.c -- sensitive names (normalisation, segments, the
 * built-in list and its three kinds of match, the user's list with '*')
 * and the scrubbing of URLs inside free text.
 */
#include <string.h>

#include "event/redact_names.h"
#include "testlib.h"

static const otas__nameset_t DEF = {NULL, 0, 1, NULL};

static int
sens(const otas__nameset_t *ns, const char *name)
{
	return otas__name_sensitive(ns, name, strlen(name));
}

static char out_text[2048];

static const char *
scrub(const otas__nameset_t *ns, const char *in)
{
	otas__buf_t o = OTAS__BUF_INIT;

	otas__scrub_text(ns, in, strlen(in), &o);
	CHECK(!o.oom);
	snprintf(out_text, sizeof(out_text), "%.*s", (int)o.len,
	         o.data ? o.data : "");
	otas__buf_free(&o);
	return out_text;
}

TEST(normalisation)
{
	char b[32];

	CHECK_INT(otas__name_norm("API_Key", 7, b, sizeof(b)), 6);
	CHECK_STR(b, "apikey");
	CHECK_INT(otas__name_norm(" api-key\0", 9, b, sizeof(b)), 6);
	CHECK_STR(b, "apikey");
	CHECK_INT(otas__name_norm("connect.sid", 11, b, sizeof(b)), 10);
	CHECK_STR(b, "connectsid");
}

TEST(default_names_spellings_and_kinds)
{
	static const char *const yes[] = {
	    "password", "PASSWORD", "Pass-Word", "db_password", "passwd",
	    "client_secret", "clientSecret", "x-amz-credential", "API_KEY",
	    "apiKey", "api-key", "private_key", "token", "access_token",
	    "refreshToken", "x-auth-token", "csrftoken", "X-CSRFToken",
	    "csrfmiddlewaretoken", "_csrf", "_csrf_token", "XSRF-TOKEN",
	    "_xsrf", "auth", "Authorization", "credentials", "mysql_pwd",
	    "session", "sessionid", "JSESSIONID", "PHPSESSID", "connect.sid",
	    "aiohttp_session", "_session", "user_session", "symfony",
	    "set_cookie", "cookie", "x_api_key", "X-Amz-Signature", "sig",
	    "user[password]", "password[]", "data[auth]", "user.password",
	    " password", "password\0", "a[b][token]", NULL};
	static const char *const no[] = {
	    "author", "oauth_version", "sessions", "sidebar", "max_tokens",
	    "token_type", "tokenizer", "name", "email", "id", "page",
	    "x-forwarded-for", "user", "value", "content-type", "host", NULL};
	size_t i;

	for (i = 0; yes[i]; i++) {
		size_t n = strlen(yes[i]);
		if (strcmp(yes[i], "password\0") == 0)
			n = 9;
		if (!otas__name_sensitive(&DEF, yes[i], n))
			fprintf(stderr, "  not sensitive: %s\n", yes[i]);
		CHECK(otas__name_sensitive(&DEF, yes[i], n));
	}
	for (i = 0; no[i]; i++) {
		if (sens(&DEF, no[i]))
			fprintf(stderr, "  over-redacted: %s\n", no[i]);
		CHECK(!sens(&DEF, no[i]));
	}
}

TEST(user_names_and_defaults_off)
{
	static const char *const names[] = {"pin", "*_ref", "pass*",
	                                    "*internal*"};
	const otas__nameset_t only = {names, 4, 0, NULL};
	const otas__nameset_t none = {NULL, 0, 0, NULL};

	CHECK(sens(&only, "PIN") && sens(&only, "p-i-n"));
	CHECK(!sens(&only, "pins"));
	CHECK(sens(&only, "order_ref") && sens(&only, "orderRef"));
	CHECK(sens(&only, "passage") && !sens(&only, "bypass"));
	CHECK(sens(&only, "my-internal-id"));
	CHECK(sens(&only, "password")); /* pass* */
	CHECK(!sens(&only, "token"));
	CHECK(!sens(&none, "password"));
}

/* A prepared set (names normalised once) answers as the same set
 * normalising its names at each lookup, with and without the defaults,
 * for whole names, segments and names longer than the normalised cap. */
TEST(prepared_set_same_answers)
{
	static const char *const names[] = {
	    "pin",   "*_ref", "pass*",      "*Internal*", "password",
	    "token", "API_KEY", "api-key",  "*",          "--",
	    "*ref",  "x*",    "client_secret", NULL,      "Order.ID"};
	static const char *const cands[] = {
	    "PIN", "p-i-n", "pins", "order_ref", "orderRef", "passage",
	    "bypass", "my-internal-id", "password", "token", "max_tokens",
	    "apiKey", "user[password]", "user.pin", "a[b][order_ref]",
	    "x[]", "[pin]", "..", "", "-", "orderid", "order.id",
	    "user[PIN].x", "author", "session", "ref", "xavier",
	    "data[0][client-secret]", "pin]", "a.b.c.pin.d"};
	char long_name[700];
	size_t i, d;

	memset(long_name, 'a', sizeof(long_name) - 1);
	memcpy(long_name + 300, "[pin]", 5);
	memcpy(long_name + 600, ".order_ref", 10);
	long_name[sizeof(long_name) - 1] = '\0';
	for (d = 0; d < 2; d++) {
		otas__nameset_t raw = {names, 15, (int)d, NULL};
		otas__nameset_t prep = raw;
		CHECK_INT(otas__nameset_prepare(&prep), 0);
		CHECK(prep.pats != NULL);
		for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
			CHECK_INT(sens(&prep, cands[i]), sens(&raw, cands[i]));
		CHECK_INT(sens(&prep, long_name), 1);
		CHECK_INT(sens(&raw, long_name), 1);
		long_name[301] = 'q';
		long_name[601] = 'q';
		CHECK_INT(sens(&prep, long_name), sens(&raw, long_name));
		long_name[301] = 'p';
		long_name[601] = 'o';
		CHECK(sens(&prep, "order_ref") && sens(&prep, "user[PIN]"));
		CHECK(!sens(&prep, "pins") && !sens(&prep, "bypass"));
		CHECK_INT(sens(&prep, "author"), 0);
		otas__nameset_release(&prep);
		CHECK(prep.pats == NULL);
	}
}

/* Answers are memoised per thread for prepared sets: the memo must tell
 * sets apart (also one freed and another prepared, maybe at the same
 * address), the defaults flag, and names one byte or one length apart. */
TEST(memo_keyed_by_set_and_name)
{
	static const char *const pin[] = {"pin"}, *const pan[] = {"pan"};
	otas__nameset_t a = {pin, 1, 0, NULL}, b = {pan, 1, 0, NULL};
	otas__nameset_t d = {NULL, 0, 1, NULL}, off;
	int round;

	CHECK_INT(otas__nameset_prepare(&d), 0);
	CHECK(d.pats != NULL); /* the defaults alone are prepared too */
	for (round = 0; round < 4; round++) {
		/* a holds "pin" in even rounds, "pan" in odd ones; b the
		 * other: the same questions get other answers each round */
		int even = round % 2 == 0;
		a.names = even ? pin : pan;
		b.names = even ? pan : pin;
		CHECK_INT(otas__nameset_prepare(&a), 0);
		CHECK_INT(otas__nameset_prepare(&b), 0);
		CHECK_INT(sens(&a, "pin"), even);
		CHECK_INT(sens(&b, "pin"), !even);
		CHECK_INT(sens(&a, "pin"), even);
		CHECK_INT(sens(&b, "pan"), even);
		CHECK_INT(sens(&a, "pan"), !even);
		CHECK_INT(sens(&a, "pins"), 0);
		CHECK_INT(sens(&a, "pIn"), even);
		otas__nameset_release(&a);
		otas__nameset_release(&b);
	}
	/* the defaults flag is part of the question */
	CHECK_INT(sens(&d, "password"), 1);
	off = d;
	off.defaults = 0;
	CHECK_INT(sens(&off, "password"), 0);
	CHECK_INT(sens(&d, "password"), 1);
	/* every length up to the memo's and past it; a byte apart */
	{
		char nm[48];
		size_t n;
		memset(nm, 'x', sizeof(nm));
		for (n = 1; n <= 40; n++) {
			memcpy(nm + n - (n < 6 ? n : 6), "secret", n < 6 ? n : 6);
			CHECK_INT(otas__name_sensitive(&d, nm, n), n >= 6);
			nm[n - 1] = 'y';
			CHECK_INT(otas__name_sensitive(&d, nm, n), 0);
			CHECK_INT(otas__name_sensitive(&DEF, nm, n), 0);
			memset(nm, 'x', sizeof(nm));
		}
	}
	otas__nameset_release(&d);
}

TEST(scrub_urls_in_text)
{
	CHECK_STR(scrub(&DEF, "GET http://bob:PW@h.example:80/a?x=1 failed"),
	          "GET http://h.example:80/a?x=1 failed");
	CHECK_STR(scrub(&DEF, "with url: /x?api_key=S&page=2&token=T (Caused by"),
	          "with url: /x?api_key=%5BREDACTED%5D&page=2&token=%5BREDACTED%5D "
	          "(Caused by");
	CHECK_STR(scrub(&DEF, "'https://a/b?next=http://u:p@c/d?password=1'"),
	          "'https://a/b?next=http://c/d?password=%5BREDACTED%5D'");
	CHECK_STR(scrub(&DEF, "<https://h/n?session=S>; rel=next"),
	          "<https://h/n?session=%5BREDACTED%5D>; rel=next");
	CHECK_STR(scrub(&DEF, "mail bob@example.com? yes=1"), "mail bob@example.com? yes=1");
	CHECK_STR(scrub(NULL, "http://u:p@h/?token=1"), "http://h/?token=1");
	CHECK_STR(scrub(&DEF, "no urls here"), "no urls here");
}

TEST(host_strip)
{
	size_t n;
	const char *h = otas__host_strip("u:p@w@h:1", 9, &n);

	CHECK_INT(n, 3);
	CHECK(memcmp(h, "h:1", 3) == 0);
	h = otas__host_strip("h", 1, &n);
	CHECK_INT(n, 1);
}

/* The table-driven normalisation against its definition: ASCII letters
 * lower-cased, digits and non-ASCII kept, everything else dropped; cut
 * at cap - 1 with the full length returned. */
TEST(norm_table_matches_definition)
{
	char in[300], out[256], ref[300];
	unsigned x = 7;
	int iter;

	for (iter = 0; iter < 3000; iter++) {
		size_t len = (size_t)(iter < 256 ? 1 : iter % 300), i, n = 0, got;
		for (i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			in[i] = (char)(iter < 256 ? iter : (int)(x >> 16));
		}
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)in[i];
			if (c >= 'A' && c <= 'Z')
				ref[n++] = (char)(c + 32);
			else if ((c >= 'a' && c <= 'z') ||
			         (c >= '0' && c <= '9') || c >= 0x80)
				ref[n++] = (char)c;
		}
		got = otas__name_norm(in, len, out, sizeof(out));
		CHECK(got == n);
		CHECK(memcmp(out, ref, n < 255 ? n : 255) == 0);
		CHECK(out[n < 255 ? n : 255] == '\0');
	}
}

int
main(void)
{
	RUN(normalisation);
	RUN(default_names_spellings_and_kinds);
	RUN(user_names_and_defaults_off);
	RUN(prepared_set_same_answers);
	RUN(memo_keyed_by_set_and_name);
	RUN(scrub_urls_in_text);
	RUN(host_strip);
	RUN(norm_table_matches_definition);
	return testlib_done();
}
