/*
 * hex.c -- hexadecimal encoding and decoding (see hex.h).
 */
#include "common/hex.h"

const char otas__hex_digits[17] = "0123456789abcdef";

void
otas__hex_encode(const void *in, size_t n, char *out)
{
	const unsigned char *s = in;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = otas__hex_digits[s[i] >> 4];
		out[2 * i + 1] = otas__hex_digits[s[i] & 15];
	}
	out[2 * n] = '\0';
}

int
otas__hex_decode(const char *in, size_t n, unsigned char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi = otas__hex_value((unsigned char)in[2 * i]);
		int lo = otas__hex_value((unsigned char)in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
