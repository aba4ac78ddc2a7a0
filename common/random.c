/*
 * random.c -- getrandom(2) in a loop (see random.h).
 */
#include "common/random.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int
otas__random_bytes(void *p, size_t n)
{
	unsigned char *q = p;
	size_t left = n;

	while (left > 0) {
		ssize_t got = getrandom(q, left, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			memset(p, 0, n);
			return -1;
		}
		q += got;
		left -= (size_t)got;
	}
	return 0;
}
