/*
 * uuid.c -- UUID text form and UUIDv7 layout (see uuid.h).
 */
#include "common/uuid.h"

#include "common/hex.h"

void
otas__uuid7_stamp(unsigned char b[16], uint64_t ms)
{
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | (b[6] & 0x0F)); /* version 7 */
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3F)); /* variant 10 */
}

void
otas__uuid_format(const unsigned char b[16], char out[37])
{
	const char *hex = otas__hex_digits;
	int o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}
