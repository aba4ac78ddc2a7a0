/*
 * fuzz_base64.c -- common/base64.c's decoder, which reads untrusted input
 * (the collector's JWTs and sealed tokens, the host's Authorization header
 * through identity.c), with each alphabet: the output never passes the
 * n / 4 * 3 + 2 bytes base64.h promises (the buffer is exactly that big,
 * so ASan sees one byte more), and what decodes re-encodes to something
 * that decodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int flags[] = {OTAS__B64_STD, OTAS__B64_URL,
	                            OTAS__B64_STD | OTAS__B64_URL};
	const char *s = (const char *)data;
	size_t room = size / 4 * 3 + 2;
	unsigned char *out = malloc(room), *again = malloc(room);
	char *enc = malloc(size + 4);
	otas__buf_t b = OTAS__BUF_INIT;

	if (!out || !again || !enc)
		abort();
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		long n = otas__b64_decode(s, size, out, flags[i]);
		if (n < -1 || n > (long)room)
			abort();
		if (n >= 0) {
			int ef = flags[i] & OTAS__B64_URL;
			otas__b64_encode(out, (size_t)n, enc, ef);
			if (strlen(enc) > size ||
			    otas__b64_decode(enc, strlen(enc), again, ef) !=
			        n ||
			    memcmp(out, again, (size_t)n) != 0)
				abort();
		}
		if ((otas__b64_decode_buf(s, size, &b, flags[i]) == 0) !=
		    (n >= 0))
			abort();
		otas__buf_reset(&b);
	}
	otas__buf_free(&b);
	free(enc);
	free(again);
	free(out);
	return 0;
}
