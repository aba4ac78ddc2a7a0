/*
 * hash.h -- SHA-256 (OpenSSL libcrypto) for values that must be
 * recognisable but never stored: the host's session token.
 */
#ifndef OTAS_HASH_H
#define OTAS_HASH_H

#include <stddef.h>

/* Lower-case hex SHA-256 of in into out (64 chars + NUL).  0, or -1. */
int otas__sha256_hex(const void *in, size_t len, char out[65]);

#endif
