/*
 * hash.c -- SHA-256 through libcrypto's one-shot EVP_Digest; the only
 * engine file that includes OpenSSL headers.
 */
#include "hash.h"

#include <openssl/evp.h>

int
otas__sha256_hex(const void *in, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (!EVP_Digest(in, len, md, &n, EVP_sha256(), NULL) || n != 32)
		return -1;
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}
