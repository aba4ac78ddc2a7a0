/*
 * identity.h -- who called and in what context, decided on the sender
 * thread from the captured record: the user id (host-given, else the JWT in
 * the Authorization header), the client IP (socket peer, or a forwarding
 * header when the peer is a trusted proxy), the W3C traceparent, tags and
 * the service version.
 */
#ifndef OTAS_IDENTITY_H
#define OTAS_IDENTITY_H

#include <stddef.h>

#include "otas/otas.h"
#include "common/buf.h"

typedef struct otas__ident_s otas__ident_t;

/* Check OTAS_TRUSTED_PROXIES, OTAS_AUTHORIZATION_* and OTAS_TAGS; 0, or -1
 * with err naming the option, the bad value and the fix. */
int otas__ident_validate(const otas_config_t *cfg, char *err, size_t errlen);

/* Derived, immutable state for an engine; NULL on oom or invalid config. */
otas__ident_t *otas__ident_new(const otas_config_t *cfg);
void otas__ident_free(otas__ident_t *id);

/* Append the metadata members client_ip, user_id (when known),
 * traceparent (when valid), tags and service_version (when set), each
 * preceded by a comma.  Reads the raw request headers, so call it before
 * they are redacted.  cgi: req_headers are CGI names. */
void otas__ident_write_metadata(const otas__ident_t *id,
                                const otas_capture_t *c, int cgi,
                                otas__buf_t *out);

/* ---- pure helpers (unit-tested, fuzzed) ---- */

/* The user id claim of the JWT in an Authorization header value ("Bearer
 * <jwt>" or a bare JWT), decoded without verification.  The payload may be
 * URL-safe or standard base64, padded or not.  String and number claims
 * are accepted.  Writes a NUL-terminated id into out and returns its
 * length, or -1 when there is none. */
int otas__jwt_user_id(const char *value, size_t len, const char *claim,
                      char *out, size_t outlen);

/* Decode base64 in either alphabet, padding optional; whitespace is not
 * allowed.  0, or -1 on a bad character or length. */
int otas__b64_decode_any(const char *s, size_t n, otas__buf_t *out);

/* 1 when s is a valid W3C traceparent header value. */
int otas__traceparent_valid(const char *s, size_t n);

/* An IP address (optionally "[v6]:port" or "v4:port"), IPv4-mapped IPv6
 * folded to IPv4.  Writes family (4 or 6) and 16 bytes (v4 in the first
 * 4); 0, or -1 when not an address. */
int otas__ip_parse(const char *s, size_t n, int *family,
                   unsigned char addr[16]);

/* The client's address for record c into out (NUL-terminated); "" when the
 * peer is unknown.  See identity.c for the trusted-proxy rules. */
void otas__client_ip(const otas__ident_t *id, const otas_capture_t *c,
                     int cgi, char *out, size_t outlen);

#endif
