/*
 * hash.c -- SHA-256, HMAC-SHA256 and AES-256-GCM through libcrypto's EVP
 * interface; the only engine file that includes OpenSSL headers.
 */
#include "common/hash.h"

#include "common/base64.h"
#include "common/hex.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define NONCE_LEN 12
#define TAG_LEN 16

/* Options it has not done yet: with none (0) it returns before the
 * exit(3) registration. */
int
otas__crypto_init(void)
{
	return OPENSSL_init_crypto(OPENSSL_INIT_ADD_ALL_CIPHERS |
	                               OPENSSL_INIT_ADD_ALL_DIGESTS,
	                           NULL) == 1
	           ? 0
	           : -1;
}

int
otas__sha256_hex(const void *in, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(in, len, md, &n, EVP_sha256(), NULL) || n != 32)
		return -1;
	otas__hex_encode(md, 32, out);
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
	otas__b64_append(out, blob, NONCE_LEN + n + TAG_LEN, OTAS__B64_URL);
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
	/* Only what otas__seal writes: URL alphabet, no padding. */
	bl = memchr(in, '=', n) ? -1
	                        : otas__b64_decode(in, n, blob, OTAS__B64_URL);
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
