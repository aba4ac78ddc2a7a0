/*
 * hash.c -- SHA-256, HMAC-SHA256 and AES-256-GCM through libcrypto's EVP
 * interface; the only engine file that includes OpenSSL headers.
 */
#include "common/hash.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define NONCE_LEN 12
#define TAG_LEN 16

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

int
otas__hmac_sha256(const void *key, size_t klen, const void *msg,
                  size_t mlen, unsigned char out[32])
{
	unsigned int n = 0;

	if (klen > 0x7fffffff ||
	    !HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) || n != 32)
		return -1;
	return 0;
}

static const char b64u[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
b64u_put(otas__buf_t *out, const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 |
		             s[i + 2];
		char q[4] = {b64u[v >> 18], b64u[(v >> 12) & 63],
		             b64u[(v >> 6) & 63], b64u[v & 63]};
		otas__buf_append(out, q, 4);
	}
	if (n - i == 1) {
		unsigned v = (unsigned)s[i] << 16;
		char q[2] = {b64u[v >> 18], b64u[(v >> 12) & 63]};
		otas__buf_append(out, q, 2);
	} else if (n - i == 2) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
		char q[3] = {b64u[v >> 18], b64u[(v >> 12) & 63],
		             b64u[(v >> 6) & 63]};
		otas__buf_append(out, q, 3);
	}
}

static int
b64u_val(unsigned char c)
{
	const char *p = c ? strchr(b64u, c) : NULL;

	return p ? (int)(p - b64u) : -1;
}

/* Decode into dst (room for n * 3 / 4 bytes); the length, or -1. */
static long
b64u_get(const char *s, size_t n, unsigned char *dst)
{
	size_t i, o = 0;
	unsigned acc = 0;
	int bits = 0;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64u_val((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dst[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)o;
}

int
otas__seal(const unsigned char key[32], const void *in, size_t n,
           otas__buf_t *out)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *blob = NULL;
	int l = 0, rc = -1;

	if (n > 65536)
		return -1;
	blob = malloc(NONCE_LEN + n + TAG_LEN);
	if (!blob || RAND_bytes(blob, NONCE_LEN) != 1)
		goto done;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, blob) != 1 ||
	    EVP_EncryptUpdate(ctx, blob + NONCE_LEN, &l, in, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(ctx, blob + NONCE_LEN + l, &l) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
	                        blob + NONCE_LEN + n) != 1)
		goto done;
	b64u_put(out, blob, NONCE_LEN + n + TAG_LEN);
	rc = out->oom ? -1 : 0;
done:
	EVP_CIPHER_CTX_free(ctx);
	free(blob);
	return rc;
}

int
otas__unseal(const unsigned char key[32], const char *in, size_t n,
             otas__buf_t *out)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *blob = NULL, *pt = NULL;
	long bl;
	int l = 0, l2 = 0, rc = -1;

	if (n < 4 || n > 100000)
		return -1;
	blob = malloc(n * 3 / 4 + 3);
	if (!blob)
		return -1;
	bl = b64u_get(in, n, blob);
	if (bl < NONCE_LEN + TAG_LEN)
		goto done;
	pt = malloc((size_t)bl + 1);
	ctx = EVP_CIPHER_CTX_new();
	if (!pt || !ctx ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, blob) != 1 ||
	    EVP_DecryptUpdate(ctx, pt, &l, blob + NONCE_LEN,
	                      (int)(bl - NONCE_LEN - TAG_LEN)) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	                        blob + bl - TAG_LEN) != 1 ||
	    EVP_DecryptFinal_ex(ctx, pt + l, &l2) != 1)
		goto done;
	otas__buf_append(out, pt, (size_t)(l + l2));
	rc = out->oom ? -1 : 0;
done:
	EVP_CIPHER_CTX_free(ctx);
	if (pt)
		OPENSSL_cleanse(pt, (size_t)bl + 1);
	free(pt);
	free(blob);
	return rc;
}
