/*
 * test_collector_keys.c -- SDK key format, parse and hash; UUIDv7 from
 * util.c (base64url: test_common_base64.c; time parsing:
 * test_common_clock.c).
 */
#include "testlib.h"

#include "keys.h"
#include "util.h"

#include <stdlib.h>
#include <unistd.h>

TEST(key_has_protocol_shape)
{
	char key[OTAS__KEY_LEN + 1], prefix[12], parsed[12];

	for (int i = 0; i < 200; i++) {
		CHECK(otas__key_generate(key, prefix) == 0);
		CHECK_INT(strlen(key), 60);
		CHECK(strncmp(key, "otas_", 5) == 0);
		CHECK(key[16] == '_');
		CHECK_INT(strlen(prefix), 11);
		CHECK(memcmp(key + 5, prefix, 11) == 0);
		CHECK_INT(otas__key_parse(key, parsed), 0);
		CHECK_STR(parsed, prefix);
	}
}

TEST(key_parse_rejects)
{
	char p[12];

	CHECK_INT(otas__key_parse("garbage", p), -1);
	CHECK_INT(otas__key_parse("otas_only", p), -1);
	CHECK_INT(otas__key_parse("otas_abc_def", p), -2);
	CHECK_INT(otas__key_parse("xxxx_AAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", p), -2);
	/* right length, a character outside the alphabet */
	CHECK_INT(otas__key_parse("otas_AAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", p), -2);
	/* a prefix holding '_' is fine: the secret is the last 43 */
	CHECK_INT(otas__key_parse("otas_AA_AAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", p), 0);
	CHECK_STR(p, "AA_AAAAAAAA");
}

TEST(key_hash_is_peppered_hmac)
{
	unsigned char pep1[32] = {1}, pep2[32] = {2};
	char h1[65], h2[65], h3[65];
	const char *k = "otas_AAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

	CHECK(otas__key_hash(pep1, 32, k, h1) == 0);
	CHECK(otas__key_hash(pep1, 32, k, h3) == 0);
	CHECK(otas__key_hash(pep2, 32, k, h2) == 0);
	CHECK_INT(strlen(h1), 64);
	CHECK(otas__key_hash_equal(h1, h3));
	CHECK(!otas__key_hash_equal(h1, h2));
	CHECK(!otas__key_hash_equal(h1, "short"));
}

TEST(uuid_v7_shape_and_order)
{
	char a[37], b[37];

	otas__uuid_v7(a);
	usleep(2000);
	otas__uuid_v7(b);
	CHECK_INT(strlen(a), 36);
	CHECK(a[14] == '7');
	CHECK(strchr("89ab", a[19]) != NULL);
	CHECK(strcmp(a, b) < 0); /* time-ordered across milliseconds */
}

int
main(void)
{
	RUN(key_has_protocol_shape);
	RUN(key_parse_rejects);
	RUN(key_hash_is_peppered_hmac);
	RUN(uuid_v7_shape_and_order);
	return testlib_done();
}
