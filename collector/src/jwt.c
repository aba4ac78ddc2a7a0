/*
 * jwt.c -- HS256 sign and verify (jwt.h).  HMAC from libcrypto, JSON from
 * jansson; lengths are checked before anything is allocated.
 */
#include "jwt.h"
#include "util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWT_MAX_LEN 8192

static char *
b64_json(json_t *j)
{
	char *txt = json_dumps(j, JSON_COMPACT);
	char *out;

	if (!txt)
		return NULL;
	out = malloc(otas__b64_len(strlen(txt), OTAS__B64_URL) + 1);
	if (out)
		otas__b64_encode(txt, strlen(txt), out, OTAS__B64_URL);
	free(txt);
	return out;
}

static int
hs256(const unsigned char *secret, size_t slen, const char *msg, size_t n,
      unsigned char mac[32])
{
	unsigned int len = 0;

	if (!HMAC(EVP_sha256(), secret, (int)slen, (const unsigned char *)msg, n,
	          mac, &len) || len != 32)
		return -1;
	return 0;
}

char *
otas__jwt_sign(const unsigned char *secret, size_t secret_len, json_t *claims)
{
	json_t *hdr = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
	char *h = b64_json(hdr), *p = b64_json(claims), *out = NULL;
	unsigned char mac[32];
	size_t hl, pl;

	json_decref(hdr);
	if (!h || !p)
		goto fail;
	hl = strlen(h);
	pl = strlen(p);
	out = malloc(hl + 1 + pl + 1 + otas__b64_len(32, OTAS__B64_URL) + 1);
	if (!out)
		goto fail;
	memcpy(out, h, hl);
	out[hl] = '.';
	memcpy(out + hl + 1, p, pl + 1);
	if (hs256(secret, secret_len, out, hl + 1 + pl, mac) != 0) {
		free(out);
		out = NULL;
		goto fail;
	}
	out[hl + 1 + pl] = '.';
	otas__b64_encode(mac, 32, out + hl + 1 + pl + 1, OTAS__B64_URL);
fail:
	free(h);
	free(p);
	return out;
}

/* Decode one base64url JSON object segment; NULL when it is not one. */
static json_t *
segment_json(const char *s, size_t n)
{
	unsigned char *raw;
	long len;
	json_t *j;

	if (n == 0 || n > JWT_MAX_LEN)
		return NULL;
	raw = malloc(n);
	if (!raw)
		return NULL;
	len = otas__b64_decode(s, n, raw, OTAS__B64_URL);
	j = len > 0 ? json_loadb((char *)raw, (size_t)len, 0, NULL) : NULL;
	free(raw);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Split into three segments; 0 ok. */
static int
split(const char *t, const char **d1, const char **d2)
{
	size_t n = strlen(t);

	if (n == 0 || n > JWT_MAX_LEN)
		return -1;
	*d1 = strchr(t, '.');
	if (!*d1)
		return -1;
	*d2 = strchr(*d1 + 1, '.');
	if (!*d2 || strchr(*d2 + 1, '.'))
		return -1;
	return 0;
}

int
otas__jwt_verify(const char *token, const unsigned char *secret,
                 size_t secret_len, int64_t now, json_t **claims_out)
{
	const char *d1, *d2;
	json_t *hdr = NULL, *claims = NULL, *exp;
	unsigned char mac[32], sig[64];
	long siglen;
	int rc = -1;

	*claims_out = NULL;
	if (split(token, &d1, &d2) != 0)
		return -1;
	hdr = segment_json(token, (size_t)(d1 - token));
	if (!hdr || !json_is_string(json_object_get(hdr, "alg")) ||
	    strcmp(json_string_value(json_object_get(hdr, "alg")), "HS256") != 0)
		goto fail;
	if (strlen(d2 + 1) > 86)
		goto fail;
	siglen = otas__b64_decode(d2 + 1, strlen(d2 + 1), sig, OTAS__B64_URL);
	if (siglen != 32 ||
	    hs256(secret, secret_len, token, (size_t)(d2 - token), mac) != 0 ||
	    !otas__ct_equal(mac, sig, 32))
		goto fail;
	claims = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!claims)
		goto fail;
	exp = json_object_get(claims, "exp");
	if (exp && !json_is_number(exp))
		goto fail;
	if (exp && json_number_value(exp) <= (double)now) {
		rc = -2;
		goto fail;
	}
	*claims_out = claims;
	claims = NULL;
	rc = 0;
fail:
	json_decref(hdr);
	json_decref(claims);
	return rc;
}

json_t *
otas__jwt_peek(const char *token)
{
	const char *d1, *d2;

	if (split(token, &d1, &d2) != 0)
		return NULL;
	return segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
}

void
otas__jwt_claim_str(json_t *claims, const char *name, char *out, size_t n)
{
	json_t *v = claims ? json_object_get(claims, name) : NULL;

	out[0] = '\0';
	if (json_is_string(v))
		snprintf(out, n, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
}
