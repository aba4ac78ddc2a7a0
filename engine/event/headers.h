/*
 * headers.h -- the headers stage of the serialiser: one direction's
 * headers to its JSON document string, and the facts the rest of the
 * event needs from them (content type and encoding, host, agent token).
 */
#ifndef OTAS_HEADERS_H
#define OTAS_HEADERS_H

#include <stddef.h>

#include "common/buf.h"
#include "event/event.h"

/* Values found on the way (pointing into the record; NULL/0 absent). */
typedef struct {
	const char *ctype;
	size_t ctype_len;
	const char *cenc;
	size_t cenc_len;
	const char *host;     /* without userinfo */
	size_t host_len;
	const char *token;    /* X-OTAS-Agent-Session-Token */
	size_t token_len;
} otas__hdr_facts_t;

/* Append the n headers hs as one JSON string (quotes included) whose
 * content is the {"name":"value",...} document.  dir: 0 request, 1
 * response (the per-direction masks); cgi: names are a CGI environ's.
 * name and tmp are scratch buffers.  out->oom on failure. */
void otas__headers_write(const otas__event_ctx_t *ctx, int dir,
                         const otas_header_t *hs, size_t n, int cgi,
                         otas__buf_t *out, otas__buf_t *name,
                         otas__buf_t *tmp, otas__hdr_facts_t *f);

/* A configured header name (n bytes) normalised into out (n + 1 bytes):
 * lower case, '_' as '-', without a leading "http-"/"http_".  *out_n
 * receives its length. */
void otas__hdr_norm(const char *in, size_t n, char *out, size_t *out_n);

#endif
