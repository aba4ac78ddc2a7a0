/*
 * keys.c -- SDK key generation, shape check and peppered hash (keys.h).
 */
#include "keys.h"
#include "util.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int
otas__key_generate(char *key, char *prefix)
{
	unsigned char raw[8 + 32];
	char p[16], s[48];

	if (otas__random_bytes(raw, sizeof raw) != 0)
		return -1;
	otas__b64_encode(raw, 8, p, OTAS__B64_URL);
	otas__b64_encode(raw + 8, 32, s, OTAS__B64_URL);
	memcpy(key, "otas_", 5);
	memcpy(key + 5, p, OTAS__KEY_PREFIX_LEN);
	key[5 + OTAS__KEY_PREFIX_LEN] = '_';
	memcpy(key + 6 + OTAS__KEY_PREFIX_LEN, s, OTAS__KEY_SECRET_LEN);
	key[OTAS__KEY_LEN] = '\0';
	memcpy(prefix, p, OTAS__KEY_PREFIX_LEN + 1);
	return 0;
}

static int
key_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int
otas__key_parse(const char *key, char *prefix)
{
	size_t n = strlen(key), unders = 0;

	for (size_t i = 0; i < n; i++)
		unders += key[i] == '_';
	if (unders < 2)
		return -1;
	if (n != OTAS__KEY_LEN || strncmp(key, "otas_", 5) != 0 ||
	    key[5 + OTAS__KEY_PREFIX_LEN] != '_')
		return -2;
	for (size_t i = 5; i < n; i++)
		if (!key_char(key[i]))
			return -2;
	memcpy(prefix, key + 5, OTAS__KEY_PREFIX_LEN);
	prefix[OTAS__KEY_PREFIX_LEN] = '\0';
	return 0;
}

/* Every ingest request hashes its key.  OpenSSL 3's one-shot HMAC()
 * fetches the algorithm by name and sets the key up each call, several
 * times the cost of the two SHA-256 blocks themselves; so each thread
 * keeps an HMAC context made once for the pepper and starts it again
 * from there (EVP_MAC_init with no key: the key's state is kept). */
typedef struct {
	unsigned char pepper[64];
	size_t len;
	EVP_MAC_CTX *ctx;
} mac_cache_t;

static pthread_key_t mac_key;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static int mac_key_ok;

static void
mac_cache_free(void *p)
{
	mac_cache_t *m = p;

	EVP_MAC_CTX_free(m->ctx);
	OPENSSL_cleanse(m->pepper, sizeof m->pepper);
	free(m);
}

static void
mac_key_init(void)
{
	mac_key_ok = pthread_key_create(&mac_key, mac_cache_free) == 0;
}

/* The thread's HMAC-SHA256 context keyed with pepper, ready for update;
 * NULL when it cannot be had (the caller falls back to HMAC()). */
static EVP_MAC_CTX *
mac_ctx(const unsigned char *pepper, size_t len)
{
	mac_cache_t *m;

	pthread_once(&mac_once, mac_key_init);
	if (!mac_key_ok || len > sizeof m->pepper)
		return NULL;
	m = pthread_getspecific(mac_key);
	if (!m) {
		if (!(m = calloc(1, sizeof *m)))
			return NULL;
		if (pthread_setspecific(mac_key, m) != 0) {
			free(m);
			return NULL;
		}
	}
	if (m->ctx && m->len == len && !memcmp(m->pepper, pepper, len))
		return EVP_MAC_init(m->ctx, NULL, 0, NULL) ? m->ctx : NULL;
	EVP_MAC_CTX_free(m->ctx);
	m->ctx = NULL;
	{
		EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		OSSL_PARAM params[] = {
		    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		                                     (char *)"SHA256", 0),
		    OSSL_PARAM_construct_end()};
		if (mac)
			m->ctx = EVP_MAC_CTX_new(mac);
		EVP_MAC_free(mac);
		if (!m->ctx || !EVP_MAC_init(m->ctx, pepper, len, params)) {
			EVP_MAC_CTX_free(m->ctx);
			m->ctx = NULL;
			return NULL;
		}
	}
	memcpy(m->pepper, pepper, len);
	m->len = len;
	return m->ctx;
}

int
otas__key_hash(const unsigned char *pepper, size_t pepper_len,
               const char *key, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MAC_CTX *ctx = mac_ctx(pepper, pepper_len);
	size_t outl = 0;

	if (ctx) {
		if (!EVP_MAC_update(ctx, (const unsigned char *)key, strlen(key)) ||
		    !EVP_MAC_final(ctx, mac, &outl, sizeof mac))
			return -1;
		len = (unsigned int)outl;
	} else if (!HMAC(EVP_sha256(), pepper, (int)pepper_len,
	                 (const unsigned char *)key, strlen(key), mac, &len)) {
		return -1;
	}
	if (len != 32)
		return -1;
	for (unsigned int i = 0; i < len; i++) {
		hex[2 * i] = digits[mac[i] >> 4];
		hex[2 * i + 1] = digits[mac[i] & 15];
	}
	hex[64] = '\0';
	return 0;
}

int
otas__key_hash_equal(const char *a, const char *b)
{
	if (strlen(a) != OTAS__KEY_HASH_HEX || strlen(b) != OTAS__KEY_HASH_HEX)
		return 0;
	return otas__ct_equal(a, b, OTAS__KEY_HASH_HEX);
}
