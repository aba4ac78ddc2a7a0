/*
 * jwt.h -- HS256 JSON Web Tokens for agent sessions.
 *
 * The platform's UASAM signs agent session tokens with HS256 and claims
 * agent_session_id, agent_id, iat, exp.  The collector signs its own with a
 * secret kept in its database, and verifies with that secret or with the
 * platform's (OTAS_JWT_SECRET).  Only "alg":"HS256" is accepted: a token
 * that names another algorithm (or "none") fails, whatever it carries.
 */
#ifndef OTAS_COLLECTOR_JWT_H
#define OTAS_COLLECTOR_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Sign claims (borrowed) into a malloc'd token, NULL on failure. */
char *otas__jwt_sign(const unsigned char *secret, size_t secret_len,
                     json_t *claims);

/* Verify token against secret at time now (unix seconds).
 *   0  valid; *claims_out gets a new reference to the payload object
 *  -1  malformed, wrong algorithm or bad signature
 *  -2  well signed but expired (exp <= now) */
int otas__jwt_verify(const char *token, const unsigned char *secret,
                     size_t secret_len, int64_t now, json_t **claims_out);

/* Decode the payload without trusting it (for storing unverified claims).
 * A new reference, or NULL when the token does not decode. */
json_t *otas__jwt_peek(const char *token);

/* Copy a claim that is a string or an integer into out (size n); "" when
 * absent or of another type. */
void otas__jwt_claim_str(json_t *claims, const char *name, char *out,
                         size_t n);

#endif
