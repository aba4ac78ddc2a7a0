/*
 * fuzz_retry_after.c -- the Retry-After parser (seconds and the three
 * HTTP-date forms) on arbitrary bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "send/retry.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t v;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	v = otas__retry_after_ms(s, 784111777);
	if (v < -1)
		abort();
	free(s);
	return 0;
}
