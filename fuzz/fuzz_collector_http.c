/*
 * fuzz_collector_http.c -- http.c's own parsing of what a client sends:
 * the route matcher over the real route table (a url and a method from
 * arbitrary bytes, both --platform-compat settings) and the escaper that
 * keeps decoded paths from forging log lines.
 *
 * Checks: a match's rest is the url's tail after the row's path; no match
 * is 404 or 405; the escaped text fits its buffer, is NUL-terminated and
 * holds no byte below 0x20 nor DEL, and decodes back to the input when it
 * was not cut (and the buffer could say so).
 */
#include "http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void
check_escape(const char *s, size_t outlen)
{
	char out[1100];
	size_t n, in = strlen(s);

	otas__log_escape(s, out, outlen);
	n = strlen(out);
	if (n >= outlen)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			abort();
	/* Under 4 bytes there is no room to mark a cut ("..."). */
	if (outlen >= 4 && (n < 3 || memcmp(out + n - 3, "...", 3) != 0)) {
		/* not cut: undo the escapes and compare */
		size_t j = 0;
		for (size_t i = 0; i < n; i++, j++) {
			int ch = (unsigned char)out[i];
			if (ch == '\\') {
				if (out[i + 1] == 'x') {
					ch = (int)strtol((char[]){out[i + 2], out[i + 3], 0},
					                 NULL, 16);
					i += 3;
				} else {
					ch = (unsigned char)out[++i];
				}
			}
			if (j >= in || (unsigned char)s[j] != ch)
				abort();
		}
		if (j != in)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[2048], method[16];
	const char *url, *rest;
	const otas__route_t *rt;
	unsigned status;
	size_t m;

	if (size >= sizeof buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* "METHOD url": up to the first space is the method */
	m = strcspn(buf, " ");
	if (m >= sizeof method)
		m = sizeof method - 1;
	memcpy(method, buf, m);
	method[m] = '\0';
	url = buf[m] ? buf + m + 1 : buf + m;
	for (int compat = 0; compat < 2; compat++) {
		rt = otas__route_match(otas__routes, otas__n_routes, compat, url,
		                       method, &rest, &status);
		if (rt) {
			size_t pl = strlen(rt->path);
			if (strncmp(url, rt->path, pl) != 0 || rest != url + pl)
				abort();
			if (!(rt->flags & OTAS__ROUTE_PREFIX) && *rest)
				abort();
			if ((rt->flags & OTAS__ROUTE_NOT_COMPAT) && compat)
				abort();
		} else if (status != 404 && status != 405) {
			abort();
		}
	}
	check_escape(url, 1100);
	check_escape(url, 1 + size % 40);
	return 0;
}
