/*
 * keys.c -- SDK key generation, shape check and peppered hash (keys.h).
 */
#include "keys.h"
#include "util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
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

int
otas__key_hash(const unsigned char *pepper, size_t pepper_len,
               const char *key, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!HMAC(EVP_sha256(), pepper, (int)pepper_len,
	          (const unsigned char *)key, strlen(key), mac, &len) ||
	    len != 32)
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
