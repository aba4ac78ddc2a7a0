/*
 * test_collector_jwt.c -- HS256 sign/verify, expiry, algorithm confusion,
 * tampering.
 */
#include "testlib.h"

#include "jwt.h"
#include "util.h"

#include <stdlib.h>

static const unsigned char secret[] = "s3cret";

static char *
make(long exp)
{
	json_t *c = json_pack("{s:s, s:s, s:I}", "agent_id", "a1",
	                      "agent_session_id", "s1", "exp", (json_int_t)exp);
	char *t = otas__jwt_sign(secret, 6, c);

	json_decref(c);
	return t;
}

TEST(sign_then_verify)
{
	char *t = make(2000000000);
	json_t *claims = NULL;
	char id[64];

	CHECK(t != NULL);
	CHECK_INT(otas__jwt_verify(t, secret, 6, 1700000000, &claims), 0);
	otas__jwt_claim_str(claims, "agent_session_id", id, sizeof id);
	CHECK_STR(id, "s1");
	json_decref(claims);
	CHECK_INT(otas__jwt_verify(t, (const unsigned char *)"other", 5,
	                           1700000000, &claims), -1);
	CHECK(claims == NULL);
	free(t);
}

TEST(expired)
{
	char *t = make(1000);
	json_t *claims = NULL;

	CHECK_INT(otas__jwt_verify(t, secret, 6, 1000, &claims), -2);
	CHECK_INT(otas__jwt_verify(t, secret, 6, 999, &claims), 0);
	json_decref(claims);
	free(t);
}

TEST(known_vector)
{
	/* header {"alg":"HS256","typ":"JWT"}, payload {"agent_id":"a"},
	 * signed with "k" by Python's hmac (an independent implementation). */
	const char *t = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
	                "eyJhZ2VudF9pZCI6ImEifQ."
	                "1qGlbW7mjAu9ywmdGfgp_8Li7AP4T-jwXxB3x8JJYYo";
	json_t *claims = NULL;
	char id[8];

	CHECK_INT(otas__jwt_verify(t, (const unsigned char *)"k", 1, 0, &claims),
	          0);
	otas__jwt_claim_str(claims, "agent_id", id, sizeof id);
	CHECK_STR(id, "a");
	json_decref(claims);
}

TEST(tampered_and_malformed)
{
	char *t = make(2000000000);
	json_t *claims = NULL, *peek;
	char *dot = strchr(t, '.');
	const char *bad[] = {"", ".", "..", "a.b.c", "a.b", "a.b.c.d",
	                     "eyJhbGciOiJub25lIn0.eyJhZ2VudF9pZCI6ImEifQ."};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		CHECK_INT(otas__jwt_verify(bad[i], secret, 6, 0, &claims), -1);
		CHECK(claims == NULL);
	}
	/* flip one payload character */
	dot[2] = dot[2] == 'A' ? 'B' : 'A';
	CHECK_INT(otas__jwt_verify(t, secret, 6, 0, &claims), -1);
	peek = otas__jwt_peek("eyJhbGciOiJub25lIn0.eyJhZ2VudF9pZCI6ImEifQ.");
	CHECK(peek != NULL);
	json_decref(peek);
	free(t);
}

TEST(alg_none_refused)
{
	/* header {"alg":"none"}, payload {"agent_id":"a"}, empty signature */
	json_t *claims = NULL;

	CHECK_INT(otas__jwt_verify("eyJhbGciOiJub25lIn0.eyJhZ2VudF9pZCI6ImEifQ.",
	                           secret, 6, 0, &claims), -1);
}

int
main(void)
{
	RUN(sign_then_verify);
	RUN(expired);
	RUN(known_vector);
	RUN(tampered_and_malformed);
	RUN(alg_none_refused);
	return testlib_done();
}
