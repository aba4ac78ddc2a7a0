/*
 * fuzz_jwt_payload.c -- the unverified JWT payload decoder behind the user
 * id (otas__jwt_user_id: Bearer prefix, two base64 alphabets, optional
 * padding, jansson) on arbitrary Authorization values, plus the other
 * header parsers of identity.c (addresses, traceparent).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event/identity.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char out[64];
	unsigned char addr[16];
	otas__buf_t b = OTAS__BUF_INIT;
	int n, fam;

	n = otas__jwt_user_id(s, size, "sub", out, sizeof(out));
	if (n >= (int)sizeof(out) || (n >= 0 && (size_t)n != strlen(out)))
		abort();
	n = otas__jwt_user_id(s, size, "uid", out, 2);
	if (n > 1)
		abort();
	if (otas__b64_decode_any(s, size, &b) == 0 && b.len > size)
		abort();
	otas__buf_free(&b);
	if (otas__ip_parse(s, size, &fam, addr) == 0 && fam != 4 && fam != 6)
		abort();
	(void)otas__traceparent_valid(s, size);
	return 0;
}
