/*
 * hash.h -- SHA-256, HMAC and AES-256-GCM (OpenSSL libcrypto) for values
 * that must be recognisable but never stored (the host's session token)
 * or stored only sealed (the agent session token in the spool).
 */
#ifndef OTAS_HASH_H
#define OTAS_HASH_H

#include <stddef.h>

#include "common/buf.h"

/* Initialise libcrypto now (it registers its exit(3) clean-up at its
 * first use).  0, or -1. */
int otas__crypto_init(void);

/* Lower-case hex SHA-256 of in into out (64 chars + NUL).  0, or -1. */
int otas__sha256_hex(const void *in, size_t len, char out[65]);

/* HMAC-SHA256(key, msg) into out.  0, or -1. */
int otas__hmac_sha256(const void *key, size_t klen, const void *msg,
                      size_t mlen, unsigned char out[32]);

/* Seal in[0..n) with AES-256-GCM under key (random 96-bit nonce) and
 * append nonce || ciphertext || tag as unpadded base64url.  0, or -1. */
int otas__seal(const unsigned char key[32], const void *in, size_t n,
               otas__buf_t *out);

/* Open what otas__seal wrote; append the plaintext.  0, or -1 (not
 * base64url, too short, or the tag does not verify: wrong key or
 * tampered).  out is unchanged on failure. */
int otas__unseal(const unsigned char key[32], const char *in, size_t n,
                 otas__buf_t *out);

#endif
