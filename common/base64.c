/*
 * base64.c -- RFC 4648 base64 encoding and decoding (see base64.h).
 *
 * The decoder reads untrusted input (JWTs in the host's Authorization
 * header, JWTs and sealed tokens sent to the collector): it validates
 * every character through a table and bounds its output by the input
 * length, so a caller that sized out as base64.h says is never overrun.
 */
#include "common/base64.h"

#include <stdint.h>

static const char std_tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
otas__b64_len(size_t n, int flags)
{
	if (flags & OTAS__B64_PAD)
		return (n + 2) / 3 * 4;
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

void
otas__b64_encode(const void *in, size_t n, char *out, int flags)
{
	const unsigned char *s = in;
	const char *tab = (flags & OTAS__B64_URL) ? url_tab : std_tab;
	size_t i;
	char *o = out;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 |
		             s[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		if (i + 1 < n)
			*o++ = tab[(v >> 6) & 63];
		else if (flags & OTAS__B64_PAD)
			*o++ = '=';
		if (flags & OTAS__B64_PAD)
			*o++ = '=';
	}
	*o = '\0';
}

int
otas__b64_append(otas__buf_t *b, const void *in, size_t n, int flags)
{
	size_t len = otas__b64_len(n, flags);

	if (otas__buf_reserve(b, len) != 0)
		return -1;
	otas__b64_encode(in, n, b->data + b->len, flags);
	b->len += len;
	return 0;
}

void
otas__base64(otas__buf_t *b, const unsigned char *s, size_t n)
{
	(void)otas__b64_append(b, s, n, OTAS__B64_STD | OTAS__B64_PAD);
}

/* 0-63, or -1 for a character neither accepted alphabet has. */
static int
b64_value(unsigned char c, int flags)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (flags & OTAS__B64_URL) {
		if (c == '-')
			return 62;
		if (c == '_')
			return 63;
	}
	if (flags & OTAS__B64_STD) {
		if (c == '+')
			return 62;
		if (c == '/')
			return 63;
	}
	return -1;
}

long
otas__b64_decode(const char *in, size_t n, unsigned char *out, int flags)
{
	size_t i, o = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (!(flags & (OTAS__B64_STD | OTAS__B64_URL)))
		flags |= OTAS__B64_STD;
	while (n > 0 && in[n - 1] == '=' && pad < 3)
		n--, pad++;
	if (pad > 2 || n % 4 == 1 || (pad && (n + pad) % 4 != 0))
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64_value((unsigned char)in[i], flags);
		if (v < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)o;
}

int
otas__b64_decode_buf(const char *in, size_t n, otas__buf_t *b, int flags)
{
	long got;

	if (otas__buf_reserve(b, n / 4 * 3 + 3) != 0)
		return -1;
	got = otas__b64_decode(in, n, (unsigned char *)b->data + b->len, flags);
	if (got < 0) {
		b->data[b->len] = '\0';
		return -1;
	}
	b->len += (size_t)got;
	b->data[b->len] = '\0';
	return 0;
}
