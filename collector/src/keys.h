/*
 * keys.h -- SDK keys: make them, check their shape, hash them.
 *
 * A key is `otas_<prefix>_<secret>` (PROTOCOL.md): 8 and 32 random bytes in
 * URL-safe base64 without padding, 11 and 43 characters.  The prefix may
 * itself hold '_', so the secret is the last 43 characters, never a split.
 *
 * Only the prefix (for lookup) and HMAC-SHA256(pepper, full key) are stored.
 * The pepper is 32 random bytes per database.  A 256-bit random secret
 * needs no slow hash: brute force is already out of reach, and a per-event
 * check must cost microseconds, not the platform's 720k PBKDF2 rounds.
 */
#ifndef OTAS_COLLECTOR_KEYS_H
#define OTAS_COLLECTOR_KEYS_H

#include <stddef.h>

#define OTAS__KEY_PREFIX_LEN 11
#define OTAS__KEY_SECRET_LEN 43
#define OTAS__KEY_LEN (5 + OTAS__KEY_PREFIX_LEN + 1 + OTAS__KEY_SECRET_LEN)
#define OTAS__KEY_HASH_HEX 64

/* A fresh key into key (OTAS__KEY_LEN+1) and its prefix (12).  0 ok. */
int otas__key_generate(char *key, char *prefix);

/* Shape of a presented key.
 *   0   well-formed; prefix (12 bytes) filled in
 *  -1   not even three '_'-separated parts (the platform's
 *       "Invalid Key Format")
 *  -2   three parts but not our shape: can match no stored key */
int otas__key_parse(const char *key, char *prefix);

/* Hex HMAC-SHA256(pepper, key) into hex (65 bytes).  0 ok. */
int otas__key_hash(const unsigned char *pepper, size_t pepper_len,
                   const char *key, char *hex);

/* Constant-time comparison of two 64-character hex hashes: 1 when equal. */
int otas__key_hash_equal(const char *a, const char *b);

#endif
