/*
 * test_collector_keys.c -- SDK key format, parse and hash; UUIDv7 from
 * util.c (base64url: test_common_base64.c; time parsing:
 * test_common_clock.c).
 */
#include "testlib.h"

#include "keys.h"
#include "util.h"

#include <pthread.h>
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

/* keys.c keeps one HMAC context per thread, keyed with the last pepper it
 * saw, and starts it again for every key: the hashes must be HMAC-SHA256
 * itself (a database made before that change authenticates), whatever
 * came before on the thread: the same pepper again, another pepper,
 * another length, a pepper past the cache's 64 bytes (the one-shot
 * path).  RFC 4231 test cases 2 and 6, and a pepper as the store has
 * them (32 bytes), by Python's hmac. */
#define RFC2_KEY "Jefe"
#define RFC2_MSG "what do ya want for nothing?"
#define RFC2_MAC "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
#define RFC6_MSG "Test Using Larger Than Block-Size Key - Hash Key First"
#define RFC6_MAC "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
#define STORE_KEY "otas_AAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define STORE_MAC "bde1997bf98ea8ef41b68f153a63cdefb7d43cd6899959b721c4bc64cbc6de82"

static int
hash_vectors(void)
{
	unsigned char big[131], pep[32] = {1};
	char h[65];
	int bad = 0;

	memset(big, 0xaa, sizeof big);
	for (int round = 0; round < 50; round++) {
		bad |= otas__key_hash((const unsigned char *)RFC2_KEY, 4, RFC2_MSG,
		                      h) != 0 || strcmp(h, RFC2_MAC) != 0;
		bad |= otas__key_hash((const unsigned char *)RFC2_KEY, 4, RFC2_MSG,
		                      h) != 0 || strcmp(h, RFC2_MAC) != 0;
		bad |= otas__key_hash(pep, sizeof pep, STORE_KEY, h) != 0 ||
		       strcmp(h, STORE_MAC) != 0;
		bad |= otas__key_hash(big, sizeof big, RFC6_MSG, h) != 0 ||
		       strcmp(h, RFC6_MAC) != 0;
		bad |= otas__key_hash(pep, sizeof pep, STORE_KEY, h) != 0 ||
		       strcmp(h, STORE_MAC) != 0;
	}
	return bad;
}

static void *
hash_thread(void *arg)
{
	*(int *)arg = hash_vectors();
	return NULL;
}

TEST(key_hash_cached_context_is_hmac_sha256)
{
	pthread_t t[4];
	int bad[4] = {1, 1, 1, 1};
	char h[65];

	CHECK_INT(hash_vectors(), 0);
	/* Each thread its own context, at the same time (TSan: no race). */
	for (int i = 0; i < 4; i++)
		CHECK_INT(pthread_create(&t[i], NULL, hash_thread, &bad[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(bad[i], 0);
	}
	/* An empty key hashes too (the cached context started again). */
	CHECK(otas__key_hash((const unsigned char *)RFC2_KEY, 4, "", h) == 0);
	CHECK_STR(h, "923598ca6d64af2a5dba79dcd021a8a0fe5c5f557519adaaf0ad532d4506dd30");
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
	RUN(key_hash_cached_context_is_hmac_sha256);
	RUN(uuid_v7_shape_and_order);
	return testlib_done();
}
