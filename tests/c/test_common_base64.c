/*
 * test_common_base64.c -- common/base64.c, hex.c and random.c: RFC 4648
 * test vectors (section 10) for both alphabets with and without padding,
 * invalid input rejected, hex both ways, random bytes.
 */
#include "common/base64.h"
#include "common/hex.h"
#include "common/random.h"
#include "testlib.h"

#include <string.h>

static otas__buf_t b;

/* RFC 4648 section 10: BASE64("") = "" ... BASE64("foobar") = "Zm9vYmFy" */
static const char *const rfc_in[] = {"", "f", "fo", "foo", "foob", "fooba",
                                     "foobar"};
static const char *const rfc_pad[] = {"",         "Zg==",     "Zm8=",
                                      "Zm9v",     "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
static const char *const rfc_nopad[] = {"",     "Zg",     "Zm8",     "Zm9v",
                                        "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};

static const char *
enc(const void *in, size_t n, int flags)
{
	static char out[256];

	otas__b64_encode(in, n, out, flags);
	return out;
}

static long
dec(const char *in, int flags, unsigned char *out)
{
	return otas__b64_decode(in, strlen(in), out, flags);
}

TEST(rfc4648_vectors_encode)
{
	for (size_t i = 0; i < sizeof rfc_in / sizeof rfc_in[0]; i++) {
		size_t n = strlen(rfc_in[i]);
		CHECK_STR(enc(rfc_in[i], n, OTAS__B64_STD | OTAS__B64_PAD),
		          rfc_pad[i]);
		CHECK_STR(enc(rfc_in[i], n, OTAS__B64_URL | OTAS__B64_PAD),
		          rfc_pad[i]);
		CHECK_STR(enc(rfc_in[i], n, OTAS__B64_STD), rfc_nopad[i]);
		CHECK_STR(enc(rfc_in[i], n, OTAS__B64_URL), rfc_nopad[i]);
		CHECK_INT(otas__b64_len(n, OTAS__B64_PAD), strlen(rfc_pad[i]));
		CHECK_INT(otas__b64_len(n, OTAS__B64_URL),
		          strlen(rfc_nopad[i]));
	}
}

TEST(rfc4648_vectors_decode)
{
	unsigned char out[16];

	for (size_t i = 0; i < sizeof rfc_in / sizeof rfc_in[0]; i++) {
		size_t n = strlen(rfc_in[i]);
		for (int f = 1; f <= 3; f++) {
			memset(out, 0, sizeof out);
			CHECK_INT(dec(rfc_pad[i], f, out), n);
			CHECK(memcmp(out, rfc_in[i], n) == 0);
			memset(out, 0, sizeof out);
			CHECK_INT(dec(rfc_nopad[i], f, out), n);
			CHECK(memcmp(out, rfc_in[i], n) == 0);
		}
	}
}

TEST(alphabets_differ_at_62_and_63)
{
	const unsigned char x[3] = {0xfb, 0xff, 0xbf}; /* 62 63 62 63 */
	unsigned char out[8];

	CHECK_STR(enc(x, 3, OTAS__B64_STD), "+/+/");
	CHECK_STR(enc(x, 3, OTAS__B64_URL), "-_-_");
	CHECK_STR(enc("\xff", 1, OTAS__B64_STD | OTAS__B64_PAD), "/w==");
	CHECK_STR(enc("\xff", 1, OTAS__B64_URL), "_w");
	CHECK_INT(dec("+/+/", OTAS__B64_STD, out), 3);
	CHECK(memcmp(out, x, 3) == 0);
	CHECK_INT(dec("-_-_", OTAS__B64_URL, out), 3);
	CHECK(memcmp(out, x, 3) == 0);
	/* One alphabet only: the other's two characters are invalid. */
	CHECK_INT(dec("+/+/", OTAS__B64_URL, out), -1);
	CHECK_INT(dec("-_-_", OTAS__B64_STD, out), -1);
	/* Both: either, even mixed (JWTs from sloppy encoders). */
	CHECK_INT(dec("-/+_", OTAS__B64_STD | OTAS__B64_URL, out), 3);
	CHECK(memcmp(out, x, 3) == 0);
	/* No alphabet named: the standard one. */
	CHECK_INT(dec("+/+/", 0, out), 3);
}

TEST(invalid_input_rejected)
{
	unsigned char out[64];
	const int both = OTAS__B64_STD | OTAS__B64_URL;

	CHECK_INT(dec("Z", both, out), -1);          /* n % 4 == 1 */
	CHECK_INT(dec("Zm9vY", both, out), -1);      /* n % 4 == 1 */
	CHECK_INT(dec("Zg=", both, out), -1);        /* '=' short of four */
	CHECK_INT(dec("Zg===", both, out), -1);      /* three '=' */
	CHECK_INT(dec("Z===", both, out), -1);
	CHECK_INT(dec("====", both, out), -1);
	CHECK_INT(dec("Zm8==", both, out), -1);      /* '=' past four */
	CHECK_INT(dec("Zg==Zg==", both, out), -1);   /* '=' inside */
	CHECK_INT(dec("Zm 9v", both, out), -1);      /* space */
	CHECK_INT(dec("Zm9v\n", both, out), -1);     /* newline */
	CHECK_INT(dec("Zm9v.", both, out), -1);
	CHECK_INT(dec("Zm\xc3\xa9v", both, out), -1); /* non-ASCII */
	CHECK_INT(otas__b64_decode("Zm\0v", 4, out, both), -1); /* NUL */
	CHECK_INT(dec("", both, out), 0);
}

TEST(round_trip_every_length)
{
	unsigned char in[64], out[64 / 3 * 3 + 3];
	char e[100];

	for (size_t n = 0; n < sizeof in; n++) {
		for (size_t i = 0; i < n; i++)
			in[i] = (unsigned char)(i * 37 + n * 11);
		for (int f = 0; f < 8; f++) {
			int fl = f & (OTAS__B64_URL | OTAS__B64_PAD);
			otas__b64_encode(in, n, e, fl);
			CHECK_INT(strlen(e), otas__b64_len(n, fl));
			CHECK_INT(otas__b64_decode(e, strlen(e), out,
			                           fl & OTAS__B64_URL
			                               ? OTAS__B64_URL
			                               : OTAS__B64_STD),
			          n);
			CHECK(memcmp(in, out, n) == 0);
		}
	}
}

TEST(buffer_forms)
{
	otas__buf_reset(&b);
	otas__base64(&b, (const unsigned char *)"foobar", 6);
	otas__base64(&b, (const unsigned char *)"f", 1);
	CHECK_STR(b.data, "Zm9vYmFyZg==");
	otas__buf_reset(&b);
	otas__base64(&b, (const unsigned char *)"\xff\xfe\xfd", 3);
	CHECK_STR(b.data, "//79");
	otas__buf_reset(&b);
	CHECK_INT(otas__b64_append(&b, "\xff", 1, OTAS__B64_URL), 0);
	CHECK_STR(b.data, "_w");

	otas__buf_reset(&b);
	otas__buf_append(&b, "x:", 2);
	CHECK_INT(otas__b64_decode_buf("Zm9vYg==", 8, &b, OTAS__B64_STD), 0);
	CHECK_INT(b.len, 6);
	CHECK_STR(b.data, "x:foob");
	/* Invalid: b as it was, NUL-terminated. */
	CHECK_INT(otas__b64_decode_buf("Zm9v*", 5, &b, OTAS__B64_STD), -1);
	CHECK_INT(b.len, 6);
	CHECK_STR(b.data, "x:foob");
}

TEST(hex_both_ways)
{
	char out[2 * 8 + 1];
	unsigned char raw[8];

	otas__hex_encode("\x00\x01\xab\xff", 4, out);
	CHECK_STR(out, "0001abff");
	otas__hex_encode("", 0, out);
	CHECK_STR(out, "");
	CHECK_INT(otas__hex_decode("0001abFF", 4, raw), 0);
	CHECK(memcmp(raw, "\x00\x01\xab\xff", 4) == 0);
	CHECK_INT(otas__hex_decode("0g", 1, raw), -1);
	CHECK_INT(otas__hex_decode("-1", 1, raw), -1);
	CHECK_INT(otas__hex_value('F'), 15);
	CHECK_INT(otas__hex_value('a'), 10);
	CHECK_INT(otas__hex_value('G'), -1);
	CHECK_INT(strlen(otas__hex_digits), 16);
}

TEST(random_bytes)
{
	unsigned char a[32], z[32] = {0};
	unsigned char c[32];

	CHECK_INT(otas__random_bytes(a, sizeof a), 0);
	CHECK_INT(otas__random_bytes(c, sizeof c), 0);
	/* 2^-256 chance of a false failure for each. */
	CHECK(memcmp(a, z, sizeof a) != 0);
	CHECK(memcmp(a, c, sizeof a) != 0);
	CHECK_INT(otas__random_bytes(a, 0), 0);
}

int
main(void)
{
	RUN(rfc4648_vectors_encode);
	RUN(rfc4648_vectors_decode);
	RUN(alphabets_differ_at_62_and_63);
	RUN(invalid_input_rejected);
	RUN(round_trip_every_length);
	RUN(buffer_forms);
	RUN(hex_both_ways);
	RUN(random_bytes);
	otas__buf_free(&b);
	return testlib_done();
}
