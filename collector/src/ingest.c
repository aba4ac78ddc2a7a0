/*
 * ingest.c -- gunzip with a cap, batch and event decoding (ingest.h).
 *
 * Nothing here trusts its input: every size is checked before a buffer
 * grows, and a field of the wrong type rejects the event, not the batch.
 *
 * JSON: one forward pass of a strict RFC 8259 scanner of our own over the
 * body.  It validates every byte (the grammar, string escapes and control
 * characters, numbers; UTF-8 is checked before), splits the batch into
 * events, reads only the fields the collector indexes or checks, and keeps
 * each event's JSON text as it was sent, cut out of the body by its byte
 * span, minus the `agent_session_token` member (a credential, never
 * stored).  SQLite's json_tree cost 10.5 us per 1.2 KB event, most of it
 * building a virtual-table row per JSON node; this pass costs about 1 us
 * (collector/README.md has the figures).  Nesting is capped at
 * OTAS__JSON_MAX_DEPTH like SQLite's own parser, and is walked without
 * recursion.  A known field that appears twice makes the event invalid, so
 * what we check is what gets stored.  A syntax error anywhere makes the
 * whole body invalid_json, even after a batch-level error was found (the
 * rest is then only validated), as json_tree did.
 */
#include "ingest.h"
#include "util.h"

#include "common/hex.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

int
otas__gunzip(const void *in, size_t n, size_t limit, otas__buf_t *out)
{
	z_stream zs;
	int zr, rc = OTAS__INGEST_BAD_GZIP;

	memset(&zs, 0, sizeof zs);
	/* 15+32: accept gzip and zlib headers. */
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return OTAS__INGEST_BAD_GZIP;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	if (n > UINT32_MAX)
		goto done;
	for (;;) {
		size_t room;
		if (out->len >= limit) {
			/* Full: one more byte of output means over the cap. */
			unsigned char probe;
			zs.next_out = &probe;
			zs.avail_out = 1;
			zr = inflate(&zs, Z_NO_FLUSH);
			if (zr == Z_STREAM_END && zs.avail_out == 1)
				break;
			if (zs.avail_out == 0) {
				rc = OTAS__INGEST_TOO_LARGE;
				goto done;
			}
			if (zr != Z_OK)
				goto done;
			continue;
		}
		room = limit - out->len;
		if (room > 256 * 1024)
			room = 256 * 1024;
		if (otas__buf_reserve(out, room) != 0)
			abort(); /* the collector aborts on OOM */
		zs.next_out = (Bytef *)out->data + out->len;
		zs.avail_out = (uInt)room;
		zr = inflate(&zs, Z_NO_FLUSH);
		out->len += room - zs.avail_out;
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK)
			goto done; /* Z_BUF_ERROR: truncated input */
	}
	/* Trailing bytes after the gzip member are not accepted. */
	if (zs.avail_in != 0)
		goto done;
	out->data[out->len] = '\0';
	rc = OTAS__INGEST_OK;
done:
	inflateEnd(&zs);
	return rc;
}

/* zstd with the same cap as gunzip: a streaming decoder writing into at
 * most limit bytes, so a zstd bomb (a tiny frame that claims or produces
 * gigabytes) stops at the cap; the frame's declared size is not trusted.
 * The decoder's window is capped too (ZSTD_d_windowLogMax, 8 MiB windows
 * as zstd's default), so a frame cannot make us allocate a huge window. */
unsigned long otas__ingest_zstd_bodies, otas__ingest_gzip_bodies;

/* One decoder per thread, kept: making one (ZSTD_createDStream, its
 * tables zeroed) cost more than decoding an app server's batch of a few
 * events.  Reset before every body, its parameters kept; freed when the
 * thread ends. */
#define OTAS__ZSTD_KEEP_BYTES (4 * 1024 * 1024)

static pthread_key_t zstd_key;
static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;

static void
zstd_free(void *ds)
{
	ZSTD_freeDStream(ds);
}

static void
zstd_key_init(void)
{
	if (pthread_key_create(&zstd_key, zstd_free) != 0)
		abort();
}

static ZSTD_DStream *
zstd_stream(void)
{
	ZSTD_DStream *ds;

	pthread_once(&zstd_once, zstd_key_init);
	ds = pthread_getspecific(zstd_key);
	if (!ds) {
		ds = ZSTD_createDStream();
		if (!ds)
			abort(); /* the collector aborts on OOM */
		if (ZSTD_isError(ZSTD_DCtx_setParameter(ds, ZSTD_d_windowLogMax,
		                                        23)) ||
		    pthread_setspecific(zstd_key, ds) != 0)
			abort();
	} else if (ZSTD_isError(ZSTD_DCtx_reset(ds, ZSTD_reset_session_only))) {
		abort();
	}
	return ds;
}

int
otas__unzstd(const void *in, size_t n, size_t limit, otas__buf_t *out)
{
	ZSTD_DStream *ds = zstd_stream();
	ZSTD_inBuffer ib = {in, n, 0};
	size_t zr = 1, first = 0;
	int rc = OTAS__INGEST_BAD_GZIP;

	if (n == 0)
		goto done;
	/* The first frame's declared size (the engine sends one frame and
	 * declares it), when within the cap, is room enough for one decode
	 * call: the buffer is made once, not grown and copied 256 KiB at a
	 * time.  Only a hint: the loop below decides as it always did. */
	{
		unsigned long long want = ZSTD_getFrameContentSize(in, n);
		if (want != ZSTD_CONTENTSIZE_ERROR &&
		    want != ZSTD_CONTENTSIZE_UNKNOWN && out->len <= limit &&
		    want <= limit - out->len) {
			first = (size_t)want + 1;
			if (otas__buf_reserve(out, first) != 0)
				abort();
		}
	}
	for (;;) {
		size_t room;
		ZSTD_outBuffer ob;
		if (out->len >= limit) {
			/* Full: one more byte of output means over the cap. */
			unsigned char probe;
			ob.dst = &probe;
			ob.size = 1;
			ob.pos = 0;
			if (zr == 0 && ib.pos == ib.size)
				break; /* frame ended exactly at the cap */
			zr = ZSTD_decompressStream(ds, &ob, &ib);
			if (ZSTD_isError(zr))
				goto done;
			if (ob.pos == 1) {
				rc = OTAS__INGEST_TOO_LARGE;
				goto done;
			}
			if (zr == 0 && ib.pos == ib.size)
				break;
			if (ib.pos == ib.size)
				goto done; /* truncated */
			continue;
		}
		room = limit - out->len;
		if (room > 256 * 1024 && room > first)
			room = first > 256 * 1024 ? first : 256 * 1024;
		first = 0;
		if (otas__buf_reserve(out, room) != 0)
			abort();
		ob.dst = out->data + out->len;
		ob.size = room;
		ob.pos = 0;
		zr = ZSTD_decompressStream(ds, &ob, &ib);
		if (ZSTD_isError(zr))
			goto done;
		out->len += ob.pos;
		if (zr == 0 && ib.pos == ib.size)
			break; /* the last frame ended with the input */
		if (ib.pos == ib.size && ob.pos < ob.size)
			goto done; /* input used up mid-frame: truncated */
	}
	if (otas__buf_reserve(out, 1) != 0)
		abort();
	out->data[out->len] = '\0';
	rc = OTAS__INGEST_OK;
done:
	/* A big body leaves the decoder holding a window of its size: do not
	 * keep that for the thread's life. */
	if (ZSTD_sizeof_DStream(ds) > OTAS__ZSTD_KEEP_BYTES) {
		ZSTD_freeDStream(ds);
		if (pthread_setspecific(zstd_key, NULL) != 0)
			abort();
	}
	return rc;
}

/* ---- events ------------------------------------------------------------ */

void
otas__event_clear(otas__event_t *ev)
{
	free(ev->path);
	free(ev->method);
	free(ev->route);
	free(ev->token);
	if (!ev->doc_lent)
		free(ev->doc);
	free(ev->user_id);
	free(ev->company_id);
	free(ev->tags);
	memset(ev, 0, sizeof *ev);
}

void
otas__batch_free(otas__batch_t *b)
{
	for (size_t i = 0; i < b->n; i++)
		otas__event_clear(&b->ev[i]);
	free(b->ev);
	free(b->body); /* after the events: their documents may be in it */
	memset(b, 0, sizeof *b);
}

enum {
	F_PROJECT_ID, F_PATH, F_METHOD, F_STATUS, F_LATENCY, F_REQ_SIZE,
	F_RESP_SIZE, F_REQ_HEADERS, F_RESP_HEADERS, F_REQ_BODY, F_RESP_BODY,
	F_QUERY, F_POST, F_REQ_CT, F_RESP_CT, F_CUSTOM, F_ERROR, F_METADATA,
	F_EVENT_ID, F_TOKEN, F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "project_id", "path", "method", "status_code", "latency_ms",
    "request_size_bytes", "response_size_bytes", "request_headers",
    "response_headers", "request_body", "response_body", "query_params",
    "post_data", "request_content_type", "response_content_type",
    "custom_properties", "error", "metadata", "event_id",
    "agent_session_token"};


/* ---- the scanner ------------------------------------------------------- */

#define OTAS__JSON_MAX_DEPTH 2000

/* An SDK writes an event's keys in one order: the key that followed
 * each one last time (next[i + 1]; next[0] the first) is tried first.
 * last is the previous key's index + 1 (0 at an object's start). */
typedef struct {
	int last;
	unsigned char next[32];
} key_hint_t;

typedef struct {
	const char *p, *end;
	/* Values that are valid JSON but that the query API's reader
	 * (jansson) and PostgreSQL refuse: a lone surrogate escape, an
	 * integer outside int64, a number that overflows a double, a NUL
	 * in an object key.  Counted, not failed: the event holding one is
	 * rejected (invalid_json_value), the rest of a batch is kept. */
	unsigned bad_values;
	/* key_index's guesses for the event's and metadata's keys. */
	key_hint_t hint_field, hint_meta;
} sc_t;

enum { V_NULL, V_FALSE, V_TRUE, V_INT, V_REAL, V_STR, V_ARR, V_OBJ };

/* A scalar value, or the type of a container not yet entered.  For a
 * string, s..e is the raw text between the quotes. */
typedef struct {
	int type;
	const char *s, *e;
	int esc;
} val_t;

/* Bytes a string may hold as they are: not '"', not '\\', not a control
 * character.  The body is valid UTF-8 already. */
static unsigned char plain[256];

static void
plain_init(void)
{
	for (int i = 0x20; i < 256; i++)
		plain[i] = 1;
	plain['"'] = plain['\\'] = 0;
}

/* The byte at the cursor, or 0 at the end (0 is never valid JSON there). */
static inline int
peek(const sc_t *c)
{
	return c->p < c->end ? (unsigned char)*c->p : 0;
}

static inline void
ws(sc_t *c)
{
	while (c->p < c->end &&
	       (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
		c->p++;
}

/* The four hex digits at p as a number (0-0xffff), or -1. */
static inline long
hex4v(const unsigned char *p)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int d = otas__hex_value(p[i]);
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* A string at the cursor ('"').  0, or -1 when malformed. */
static int
scan_string(sc_t *c, val_t *v)
{
	const unsigned char *p = (const unsigned char *)c->p + 1;
	const unsigned char *end = (const unsigned char *)c->end;

	v->type = V_STR;
	v->s = (const char *)p;
	v->esc = 0;
	for (;;) {
#ifdef __SSE2__
		/* Sixteen bytes at a time up to the first that needs a look
		 * ('"', '\\' or a control character); strings are most of an
		 * event's bytes. */
		while (end - p >= 16) {
			const __m128i x = _mm_loadu_si128((const __m128i *)p);
			const __m128i c1f = _mm_set1_epi8(0x1f);
			__m128i m = _mm_or_si128(
			    _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
			                 _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
			    _mm_cmpeq_epi8(_mm_max_epu8(x, c1f), c1f));
			unsigned mask = (unsigned)_mm_movemask_epi8(m);
			/* A two-byte escape other than \u within the block is
			 * taken here, from the same mask (JSON text inside a
			 * string, as an SDK's headers and bodies are, has one
			 * every few bytes); anything else stops at its byte for
			 * the loop below. */
			while (mask) {
				int i = __builtin_ctz(mask);
				if (p[i] != '\\' || i == 15)
					break;
				switch (p[i + 1]) {
				case '"': case '\\': case '/': case 'b': case 'f':
				case 'n': case 'r': case 't':
					v->esc = 1;
					mask &= ~((2u << (i + 1)) - 1);
					continue;
				default:
					break;
				}
				break;
			}
			if (mask) {
				p += __builtin_ctz(mask);
				break;
			}
			p += 16;
		}
#endif
		while (p < end && plain[*p])
			p++;
		if (p >= end)
			return -1;
		if (*p == '"')
			break;
		if (*p != '\\')
			return -1; /* a control character */
		v->esc = 1;
		if (++p >= end)
			return -1;
		switch (*p) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			p++;
			break;
		case 'u': {
			long cp, lo;
			if (end - p < 5 || (cp = hex4v(p + 1)) < 0)
				return -1;
			p += 5;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				/* A high surrogate must come with its low
				 * half; a bad second escape is left for the
				 * loop to refuse. */
				if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
				    (lo = hex4v(p + 2)) >= 0xdc00 && lo <= 0xdfff)
					p += 6;
				else
					c->bad_values++;
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				c->bad_values++; /* a low half alone */
			}
			break;
		}
		default:
			return -1;
		}
	}
	v->e = (const char *)p;
	c->p = (const char *)p + 1;
	return 0;
}

/* A number at the cursor, RFC 8259's grammar exactly. */
static int
scan_number(sc_t *c, val_t *v)
{
	const char *p = c->p, *end = c->end;

	v->type = V_INT;
	v->s = p;
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return -1;
	if (p < end && *p == '.') {
		v->type = V_REAL;
		if (++p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		v->type = V_REAL;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	v->e = p;
	c->p = p;
	if (v->type == V_INT) {
		/* Outside int64: readers that take integers as int64 refuse. */
		const char *d = v->s + (*v->s == '-');
		size_t nd = (size_t)(p - d);
		if (nd > 19 ||
		    (nd == 19 && memcmp(d, *v->s == '-' ? "9223372036854775808"
		                                        : "9223372036854775807",
		                        19) > 0))
			c->bad_values++;
	} else if (p - v->s > 300 || memchr(v->s, 'e', (size_t)(p - v->s)) ||
	           memchr(v->s, 'E', (size_t)(p - v->s))) {
		/* Only an exponent or over 300 digits can overflow a double. */
		char stack[64], *buf = stack;
		size_t n = (size_t)(p - v->s);
		if (n >= sizeof stack && !(buf = malloc(n + 1)))
			abort();
		memcpy(buf, v->s, n);
		buf[n] = '\0';
		if (isinf(strtod(buf, NULL)))
			c->bad_values++;
		if (buf != stack)
			free(buf);
	}
	return 0;
}

static int
scan_word(sc_t *c, const char *w, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

/* The value at the cursor: a scalar is consumed; for '{' or '[' only the
 * type is set and the cursor stays on the bracket. */
static int
scan_value(sc_t *c, val_t *v)
{
	switch (peek(c)) {
	case '"':
		return scan_string(c, v);
	case '{':
		v->type = V_OBJ;
		return 0;
	case '[':
		v->type = V_ARR;
		return 0;
	case 't':
		v->type = V_TRUE;
		return scan_word(c, "true", 4);
	case 'f':
		v->type = V_FALSE;
		return scan_word(c, "false", 5);
	case 'n':
		v->type = V_NULL;
		return scan_word(c, "null", 4);
	default:
		return scan_number(c, v);
	}
}

static int str_clean(const val_t *v);

/* `"key" :` and the whitespace after it; the cursor is on the '"'. */
static int
scan_key(sc_t *c, val_t *k)
{
	if (peek(c) != '"' || scan_string(c, k) != 0)
		return -1;
	if (!str_clean(k))
		c->bad_values++; /* "\u0000" in a key: jansson refuses it */
	ws(c);
	if (peek(c) != ':')
		return -1;
	c->p++;
	ws(c);
	return 0;
}

/* Skip the value at the cursor, any depth, without recursion.  depth is
 * how deep the value sits already (the body's root is at 0). */
static int
skip_value(sc_t *c, int depth)
{
	char stack[OTAS__JSON_MAX_DEPTH];
	int top = 0;
	val_t v;

	for (;;) {
		int ch = peek(c);
		if (ch == '{' || ch == '[') {
			if (depth + top >= OTAS__JSON_MAX_DEPTH)
				return -1;
			stack[top++] = (char)ch;
			c->p++;
			ws(c);
			if (peek(c) == (ch == '{' ? '}' : ']')) {
				c->p++;
				top--;
			} else {
				if (ch == '{' && scan_key(c, &v) != 0)
					return -1;
				continue; /* to the first value inside */
			}
		} else if (scan_value(c, &v) != 0) {
			return -1;
		}
		/* A value ended: close containers that end with it. */
		for (;;) {
			if (top == 0)
				return 0;
			ws(c);
			ch = peek(c);
			if (ch == ',') {
				c->p++;
				ws(c);
				if (stack[top - 1] == '{' && scan_key(c, &v) != 0)
					return -1;
				break;
			}
			if (ch != (stack[top - 1] == '{' ? '}' : ']'))
				return -1;
			c->p++;
			top--;
		}
	}
}

/* 1 when the whole of body is one JSON text. */
static int
json_valid(const char *body, size_t n)
{
	sc_t c = {body, body + n, 0, {0, {0}}, {0, {0}}};

	ws(&c);
	if (skip_value(&c, 0) != 0)
		return 0;
	ws(&c);
	return c.p == c.end;
}

/* Append code point cp as UTF-8. */
static char *
put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

static uint32_t
hex4(const char *p)
{
	return (uint32_t)hex4v((const unsigned char *)p); /* validated */
}

/* The byte a one-letter escape of a scanned string stands for (b f n r
 * t, or the character itself: " \ /). */
static inline char
esc_byte(char c)
{
	switch (c) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	default: return c;
	}
}

/* Decode a scanned (so well-formed) string into out, which has room for
 * e - s bytes (an escape never decodes longer than it is written).
 * Returns the length.  A lone surrogate becomes U+FFFD. */
static size_t
unescape(const char *s, const char *e, char *out)
{
	char *o = out;
	uint32_t cp;

	while (s < e) {
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		s++;
		if (*s++ != 'u') {
			*o++ = esc_byte(s[-1]);
			continue;
		}
		cp = hex4(s);
		s += 4;
		if (cp >= 0xd800 && cp <= 0xdbff && e - s >= 6 && s[0] == '\\' &&
		    s[1] == 'u') {
			uint32_t lo = hex4(s + 2);
			if (lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
				s += 6;
			}
		}
		if (cp >= 0xd800 && cp <= 0xdfff)
			cp = 0xfffd;
		o = put_utf8(o, cp);
	}
	return (size_t)(o - out);
}

/* A string value as an owned, NUL-terminated copy; *len its length. */
static char *
str_dup(const val_t *v, size_t *len)
{
	size_t n = (size_t)(v->e - v->s);
	char *out = malloc(n + 1);

	if (!out)
		abort();
	if (v->esc)
		n = unescape(v->s, v->e, out);
	else
		memcpy(out, v->s, n);
	out[n] = '\0';
	if (len)
		*len = n;
	return out;
}

/* The decoded length of a string is 0 exactly when its raw text is. */
static int
str_empty(const val_t *v)
{
	return v->s == v->e;
}

/* A string with no NUL once decoded (only "\u0000" can make one). */
static int
str_clean(const val_t *v)
{
	if (!v->esc)
		return 1;
	for (const char *p = v->s; p + 6 <= v->e; p++)
		if (p[0] == '\\') {
			if (p[1] == 'u' && !memcmp(p + 2, "0000", 4))
				return 0;
			p++; /* skip the escaped character */
		}
	return 1;
}

/* The key's index in names[0..n), or -1.  An escaped key is decoded
 * first; a key longer than any name cannot match. */
static int
key_index(const val_t *k, const char *const *names, const unsigned char *lens,
          int n, key_hint_t *h)
{
	char buf[32];
	const char *s = k->s;
	size_t len = (size_t)(k->e - k->s);

	if (k->esc) {
		if (len >= sizeof buf * 6)
			return -1;
		if (len > sizeof buf) {
			/* Decode only when the result could fit. */
			char *tmp = malloc(len);
			size_t m;
			if (!tmp)
				abort();
			m = unescape(k->s, k->e, tmp);
			if (m <= sizeof buf)
				memcpy(buf, tmp, m);
			free(tmp);
			if (m > sizeof buf)
				return -1;
			len = m;
		} else {
			len = unescape(k->s, k->e, buf);
		}
		s = buf;
	}
	if (h) {
		int g = h->next[h->last];
		if (g < n && len == lens[g] && !memcmp(s, names[g], len)) {
			h->last = g + 1;
			return g;
		}
	}
	for (int i = 0; i < n; i++)
		if (len == lens[i] && s[0] == names[i][0] &&
		    !memcmp(s, names[i], len)) {
			if (h) {
				h->next[h->last] = (unsigned char)i;
				h->last = i + 1;
			}
			return i;
		}
	return -1;
}

static unsigned char field_lens[F_COUNT];

static const char *const meta_names[] = {"route",   "timestamp",  "event_id",
                                         "user_id", "company_id", "tags"};
static const unsigned char meta_lens[] = {5, 9, 8, 7, 10, 4};

static const char *const batch_names[] = {"events"};
static const unsigned char batch_lens[] = {6};

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void
tables_init(void)
{
	plain_init();
	for (int i = 0; i < F_COUNT; i++)
		field_lens[i] = (unsigned char)strlen(field_names[i]);
}

/* A number's text as a C string for strtoll/strtod. */
static int64_t
num_int(const val_t *v)
{
	char buf[64];
	size_t n = (size_t)(v->e - v->s);

	if (n >= sizeof buf)
		return v->s[0] == '-' ? INT64_MIN : INT64_MAX; /* overflows */
	memcpy(buf, v->s, n);
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

static double
num_real(const val_t *v)
{
	static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
	                             1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
	                             1e18, 1e19, 1e20, 1e21, 1e22};
	char stack[64], *buf = stack;
	size_t n = (size_t)(v->e - v->s);
	const char *p = v->s + (*v->s == '-');
	uint64_t m = 0;
	int sig = 0, frac = 0, dot = 0;
	double d;

	/* Clinger's fast path (every event's latency_ms, 680 instructions
	 * in strtod): at most 15 significant digits and no exponent make
	 * the value m / 10^frac with both exact doubles (m < 2^53, frac <=
	 * 22), which one IEEE division rounds correctly, as strtod does.
	 * The text is a JSON number already (scan_number). */
	for (; p < v->e; p++) {
		if (*p == '.') {
			dot = 1;
			continue;
		}
		if (*p < '0' || *p > '9' || (sig += m != 0 || *p != '0') > 15)
			goto slow;
		m = m * 10 + (uint64_t)(*p - '0');
		frac += dot;
	}
	if (frac <= 22) {
		d = (double)m / p10[frac];
		return *v->s == '-' ? -d : d;
	}
slow:
	if (n >= sizeof stack && !(buf = malloc(n + 1)))
		abort();
	memcpy(buf, v->s, n);
	buf[n] = '\0';
	d = strtod(buf, NULL);
	if (buf != stack)
		free(buf);
	return d;
}

/* ---- events ------------------------------------------------------------ */

/* Decoding state of one event while its members stream by. */
typedef struct {
	otas__event_t *ev;
	uint32_t seen;          /* F_* bits, non-null values */
	uint32_t dup;           /* F_* bits seen twice */
	uint32_t bad;           /* F_* bits of the wrong type */
	int unreadable;         /* a member holds a bad value (sc_t) */
	uint32_t unread;        /* F_* bits of the known ones that do */
	char meta_event_id[OTAS__EVENT_ID_MAX + 1];
	char *meta_route;
	int meta_route_seen, meta_ts_seen, meta_id_seen;
	int who_seen[2];        /* metadata.user_id / company_id members */
	int who_doc;            /* the metadata key was written with escapes */
	int lend;               /* the document may point into the body */
} ev_state_t;

/* One member of the event object.  Returns 1 when v is the metadata
 * object whose members should be read, else 0. */
static int
event_field(ev_state_t *st, int f, const val_t *v)
{
	otas__event_t *ev = st->ev;
	int ok = 1, t = v->type, descend = 0;
	size_t n;

	if (st->seen & (1u << f) || (st->dup & (1u << f))) {
		st->dup |= 1u << f;
		return 0;
	}
	if (t == V_NULL) {
		/* null counts as absent; a value after it is no duplicate */
		return 0;
	}
	st->seen |= 1u << f;
	switch (f) {
	case F_PROJECT_ID:
		ok = t == V_STR || t == V_INT;
		break;
	case F_PATH:
	case F_METHOD:
		ok = t == V_STR && str_clean(v);
		if (ok && f == F_PATH)
			ev->path = str_dup(v, NULL);
		else if (ok)
			ev->method = str_dup(v, NULL);
		break;
	case F_STATUS:
		ok = t == V_INT;
		if (ok)
			ev->status = num_int(v);
		break;
	case F_LATENCY:
		ok = t == V_INT || t == V_REAL;
		if (ok) {
			ev->latency_ms = num_real(v);
			ok = isfinite(ev->latency_ms);
		}
		break;
	case F_REQ_SIZE:
	case F_RESP_SIZE:
		ok = t == V_INT && num_int(v) >= 0;
		break;
	case F_CUSTOM:
		ok = t == V_OBJ;
		break;
	case F_METADATA:
		ok = t == V_OBJ;
		descend = ok;
		break;
	case F_EVENT_ID:
		ok = t == V_STR && str_clean(v) && !str_empty(v);
		if (ok) {
			char *id = str_dup(v, &n);
			ok = n <= OTAS__EVENT_ID_MAX;
			if (ok)
				memcpy(ev->event_id, id, n + 1);
			free(id);
		}
		break;
	case F_TOKEN:
		ok = t == V_STR;
		/* An empty token is no credential. */
		if (ok && !str_empty(v) && str_clean(v))
			ev->token = str_dup(v, NULL);
		break;
	case F_ERROR:
		ok = t == V_STR;
		if (ok && !str_empty(v))
			ev->is_error = 1;
		break;
	default: /* the optional string fields */
		ok = t == V_STR;
		break;
	}
	if (!ok)
		st->bad |= 1u << f;
	return descend;
}

/* One member of the event's metadata object (m: index in meta_names). */
static void
meta_field(ev_state_t *st, int m, const val_t *v, int k_esc)
{
	int text = v->type == V_STR && str_clean(v);
	size_t n;
	char *s;

	if (m == 0 && !st->meta_route_seen++) {
		if (text && !str_empty(v))
			st->meta_route = str_dup(v, NULL);
	} else if (m == 1 && !st->meta_ts_seen++) {
		st->ev->ts_us = 0;
		if (text) {
			s = str_dup(v, NULL);
			if (otas__parse_time(s, &st->ev->ts_us) != 0)
				st->ev->ts_us = 0;
			free(s);
		}
	} else if (m == 2 && !st->meta_id_seen++) {
		if (text && !str_empty(v)) {
			s = str_dup(v, &n);
			if (n <= OTAS__EVENT_ID_MAX)
				memcpy(st->meta_event_id, s, n + 1);
			else
				st->bad |= 1u << F_EVENT_ID;
			free(s);
		} else if (v->type != V_NULL) {
			st->bad |= 1u << F_EVENT_ID;
		}
	} else if (m == 3 || m == 4) {
		char **dst = m == 3 ? &st->ev->user_id : &st->ev->company_id;
		unsigned char *who = &st->ev->who[m - 3];
		/* The column's value (ingest.h who): only the plain cases
		 * are ours to say; json_extract decides the rest. */
		if (st->who_seen[m - 3]++ || k_esc)
			*who = OTAS__WHO_DOC;
		else if (v->type == V_NULL)
			*who = OTAS__WHO_NULL;
		else if (text && !str_empty(v) && !v->esc)
			*who = OTAS__WHO_TEXT;
		else if (v->type == V_INT)
			*who = OTAS__WHO_INT;
		else
			*who = OTAS__WHO_DOC;
		if (*dst)
			return; /* the first one, as the stores read it */
		if (text && !str_empty(v)) {
			*dst = str_dup(v, NULL);
		} else if (v->type == V_INT) {
			n = (size_t)(v->e - v->s);
			*dst = malloc(n + 1);
			if (!*dst)
				abort();
			memcpy(*dst, v->s, n);
			(*dst)[n] = '\0';
		}
	}
}

/* metadata.tags, the JSON text [s, e) of its value (ingest.h): read with
 * jansson, as the raw tag filter (api_dash.c doc_match) reads the stored
 * document; a later "tags" member replaces an earlier one, as there. */
static void
meta_tags(otas__event_t *ev, const char *s, const char *e)
{
	json_t *t = json_loadb(s, (size_t)(e - s),
	                       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL), *x;
	otas__buf_t b;
	size_t i, n = 0;

	free(ev->tags);
	ev->tags = NULL;
	ev->n_tags = 0;
	if (!t)
		return;
	otas__buf_init(&b);
	for (i = 0; json_is_string(t) ? i < 1 : i < json_array_size(t); i++) {
		const char *v, *p;
		size_t len, j;
		int dup = 0;
		x = json_is_string(t) ? t : json_array_get(t, i);
		if (!json_is_string(x))
			continue;
		v = json_string_value(x);
		len = strlen(v); /* strcmp's view: up to a NUL */
		if (len > OTAS__TAG_MAX_LEN)
			continue;
		for (j = 0, p = b.data; j < n && !dup; j++, p += strlen(p) + 1)
			dup = strcmp(p, v) == 0;
		if (dup)
			continue;
		otas__buf_append(&b, v, len + 1);
		n++;
	}
	json_decref(t);
	if (b.oom)
		abort();
	if (n) {
		ev->tags = b.data; /* the buffer's memory, now the event's */
		ev->n_tags = n;
	} else {
		otas__buf_free(&b);
	}
}

/* The metadata object at the cursor ('{'), at depth `depth`. */
static int
scan_meta(sc_t *c, ev_state_t *st, int depth)
{
	val_t k, v;

	if (depth >= OTAS__JSON_MAX_DEPTH)
		return -1;
	c->p++;
	c->hint_meta.last = 0;
	ws(c);
	if (peek(c) == '}') {
		c->p++;
		return 0;
	}
	for (;;) {
		const char *vs;
		int m;
		if (scan_key(c, &k) != 0)
			return -1;
		vs = c->p;
		if (scan_value(c, &v) != 0)
			return -1;
		if (v.type == V_OBJ || v.type == V_ARR) {
			if (skip_value(c, depth + 1) != 0)
				return -1;
		}
		m = key_index(&k, meta_names, meta_lens, 6, &c->hint_meta);
		if (m == 5)
			meta_tags(st->ev, vs, c->p);
		else if (m >= 0)
			meta_field(st, m, &v, k.esc);
		ws(c);
		if (peek(c) == '}') {
			c->p++;
			return 0;
		}
		if (peek(c) != ',')
			return -1;
		c->p++;
		ws(c);
	}
}

static void
note(json_t *list, const char *name)
{
	if (list)
		json_array_append_new(list, json_string(name));
}

/* All members of the event are in: decide.  0 valid, -1 rejected. */
static int
event_close(ev_state_t *st, json_t *missing, json_t *invalid)
{
	otas__event_t *ev = st->ev;
	static const int required[] = {F_PROJECT_ID, F_PATH, F_METHOD, F_STATUS,
	                               F_LATENCY};
	int n_missing = 0;

	if (!ev->event_id[0] && st->meta_event_id[0])
		memcpy(ev->event_id, st->meta_event_id, sizeof ev->event_id);
	if (st->meta_route) {
		ev->route = st->meta_route;
		st->meta_route = NULL;
	} else if (ev->path) {
		ev->route = strdup(ev->path);
		if (!ev->route)
			abort();
	}
	if (ev->status >= 500)
		ev->is_error = 1;
	if (st->who_doc)
		ev->who[0] = ev->who[1] = OTAS__WHO_DOC;
	for (size_t i = 0; i < sizeof required / sizeof *required; i++)
		if (!(st->seen & (1u << required[i]))) {
			note(missing, field_names[required[i]]);
			n_missing++;
		}
	st->bad |= st->dup;
	for (int f = 0; f < F_COUNT; f++)
		if (st->bad & (1u << f))
			note(invalid, field_names[f]);
	if (n_missing) {
		ev->reject = "missing_required_fields";
		return -1;
	}
	if (st->bad) {
		ev->reject = "invalid_field_types";
		return -1;
	}
	if (st->unreadable) {
		for (int f = 0; f < F_COUNT; f++)
			if (st->unread & (1u << f))
				note(invalid, field_names[f]);
		ev->reject = "invalid_json_value";
		return -1;
	}
	return 0;
}

/* The event object at the cursor ('{'), at depth `depth`: read its
 * fields, then store its text minus every agent_session_token member.
 * 0, or -1 on a syntax error.  The caller runs event_close(). */
static int
scan_event(sc_t *c, ev_state_t *st, int depth)
{
	/* The byte span to leave out of the stored text: the token member
	 * whose value is a string.  A second one makes the event invalid
	 * (a duplicate field), and an invalid event is not stored, so one
	 * span is all a stored event needs. */
	const char *cut_s[1] = {NULL}, *cut_e[1] = {NULL};
	int ncut = 0;
	const char *start = c->p, *prev_comma = NULL, *m_start, *v_end;
	otas__event_t *ev = st->ev;
	val_t k, v;
	char *o;

	if (depth >= OTAS__JSON_MAX_DEPTH)
		return -1;
	c->p++;
	c->hint_field.last = 0;
	ws(c);
	if (peek(c) == '}') {
		c->p++;
		goto store;
	}
	for (;;) {
		int f, is_token;
		unsigned bad_before = c->bad_values;
		m_start = c->p;
		if (scan_key(c, &k) != 0 || scan_value(c, &v) != 0)
			return -1;
		f = key_index(&k, field_names, field_lens, F_COUNT, &c->hint_field);
		if (f == F_METADATA && k.esc)
			st->who_doc = 1;
		if (f >= 0 && event_field(st, f, &v)) {
			if (scan_meta(c, st, depth + 1) != 0)
				return -1;
		} else if (v.type == V_OBJ || v.type == V_ARR) {
			if (skip_value(c, depth + 1) != 0)
				return -1;
		}
		if (c->bad_values != bad_before) {
			st->unreadable = 1;
			if (f >= 0)
				st->unread |= 1u << f;
		}
		is_token = f == F_TOKEN && v.type == V_STR && ncut == 0;
		v_end = c->p;
		ws(c);
		if (peek(c) == ',') {
			const char *comma = c->p;
			c->p++;
			ws(c);
			if (is_token) {
				/* `"agent_session_token":"..", ` up to the
				 * next key. */
				cut_s[ncut] = m_start;
				cut_e[ncut++] = c->p;
				continue; /* prev_comma stays: it precedes
				           * what now follows it */
			}
			prev_comma = comma;
			continue;
		}
		if (peek(c) != '}')
			return -1;
		if (is_token) {
			/* The last member: take the comma before it too. */
			cut_s[ncut] = prev_comma ? prev_comma : m_start;
			cut_e[ncut++] = v_end;
		}
		c->p++;
		break;
	}
store:
	if (st->lend && ncut == 0) {
		/* The text as sent, where it lies in the body: terminated
		 * once the whole body is scanned (batch_decode), for the
		 * byte after it is still to be read. */
		ev->doc = (char *)start;
		ev->doc_len = (size_t)(c->p - start);
		ev->doc_lent = 1;
		return 0;
	}
	ev->doc = malloc((size_t)(c->p - start) + 1);
	if (!ev->doc)
		abort();
	o = ev->doc;
	for (int i = 0; i <= ncut; i++) {
		const char *a = i ? cut_e[i - 1] : start;
		const char *b = i < ncut ? cut_s[i] : c->p;
		memcpy(o, a, (size_t)(b - a));
		o += b - a;
	}
	*o = '\0';
	ev->doc_len = (size_t)(o - ev->doc);
	return 0;
}

static void
state_begin(ev_state_t *st, otas__event_t *ev)
{
	free(st->meta_route);
	memset(st, 0, sizeof *st);
	st->ev = ev;
}

static int batch_decode(const char *body, size_t n, size_t max_events,
                        otas__batch_t *b, int lend);

int
otas__batch_decode(const char *body, size_t n, size_t max_events,
                   otas__batch_t *b)
{
	return batch_decode(body, n, max_events, b, 0);
}

int
otas__batch_decode_lent(char *body, size_t n, size_t max_events,
                        otas__batch_t *b)
{
	int rc = batch_decode(body, n, max_events, b, 1);

	if (rc != OTAS__INGEST_OK) {
		free(body);
		return rc;
	}
	/* Scanned whole: each lent document ends where its '}' did (the
	 * byte after it, a ',', ']' or space, is read no more). */
	for (size_t i = 0; i < b->n; i++)
		if (b->ev[i].doc_lent)
			b->ev[i].doc[b->ev[i].doc_len] = '\0';
	b->body = body;
	return rc;
}

static int
batch_decode(const char *body, size_t n, size_t max_events,
             otas__batch_t *b, int lend)
{
	sc_t c = {body, body + n, 0, {0, {0}}, {0, {0}}};
	ev_state_t st;
	size_t cap = 0;
	int rc = OTAS__INGEST_OK, events_seen = 0;
	val_t k, v;

	pthread_once(&tables_once, tables_init);
	memset(b, 0, sizeof *b);
	memset(&st, 0, sizeof st);
	if (n == 0 || n > INT32_MAX || !otas__utf8_valid(body, n))
		return OTAS__INGEST_BAD_JSON;
	ws(&c);
	if (peek(&c) != '{') {
		rc = OTAS__INGEST_BAD_BATCH;
		goto check;
	}
	c.p++;
	ws(&c);
	if (peek(&c) == '}') {
		c.p++;
		goto end;
	}
	for (;;) {
		if (scan_key(&c, &k) != 0 || scan_value(&c, &v) != 0)
			goto bad_json;
		if (key_index(&k, batch_names, batch_lens, 1, NULL) != 0) {
			if ((v.type == V_OBJ || v.type == V_ARR) &&
			    skip_value(&c, 1) != 0)
				goto bad_json;
		} else if (events_seen++) {
			/* A second "events": JSON allows it, the batch
			 * contract does not (which list would count?). */
			rc = OTAS__INGEST_BAD_BATCH;
			goto check;
		} else if (v.type != V_ARR) {
			rc = OTAS__INGEST_BAD_BATCH;
			goto check;
		} else {
			c.p++;
			ws(&c);
			if (peek(&c) == ']')
				c.p++;
			else
				for (;;) {
					otas__event_t *ev;
					if (b->n == max_events) {
						rc = OTAS__INGEST_TOO_MANY;
						goto check;
					}
					if (b->n == cap) {
						cap = cap ? cap * 2 : 128;
						b->ev = realloc(b->ev,
						                cap * sizeof *b->ev);
						if (!b->ev)
							abort();
					}
					ev = &b->ev[b->n++];
					memset(ev, 0, sizeof *ev);
					if (peek(&c) == '{') {
						state_begin(&st, ev);
						st.lend = lend;
						if (scan_event(&c, &st, 2) != 0)
							goto bad_json;
						event_close(&st, NULL, NULL);
					} else {
						ev->reject = "invalid_event";
						if (scan_value(&c, &v) != 0 ||
						    (v.type == V_ARR &&
						     skip_value(&c, 2) != 0))
							goto bad_json;
					}
					ws(&c);
					if (peek(&c) == ']') {
						c.p++;
						break;
					}
					if (peek(&c) != ',')
						goto bad_json;
					c.p++;
					ws(&c);
				}
		}
		ws(&c);
		if (peek(&c) == '}') {
			c.p++;
			break;
		}
		if (peek(&c) != ',')
			goto bad_json;
		c.p++;
		ws(&c);
	}
end:
	ws(&c);
	if (c.p != c.end)
		goto bad_json;
	if (!events_seen)
		rc = OTAS__INGEST_BAD_BATCH;
	goto done;
check:
	/* A batch-level error, but a body that is not JSON at all is
	 * invalid_json wherever the syntax error lies. */
	if (!json_valid(body, n))
		rc = OTAS__INGEST_BAD_JSON;
	goto done;
bad_json:
	rc = OTAS__INGEST_BAD_JSON;
done:
	free(st.meta_route);
	if (rc != OTAS__INGEST_OK)
		otas__batch_free(b);
	return rc;
}

int
otas__event_parse(const char *body, size_t n, otas__event_t *ev,
                  json_t *missing, json_t *invalid)
{
	sc_t c = {body, body + n, 0, {0, {0}}, {0, {0}}};
	ev_state_t st;
	int rc = OTAS__INGEST_OK;

	pthread_once(&tables_once, tables_init);
	memset(ev, 0, sizeof *ev);
	memset(&st, 0, sizeof st);
	if (n == 0 || n > INT32_MAX || !otas__utf8_valid(body, n))
		return OTAS__INGEST_BAD_JSON;
	ws(&c);
	if (peek(&c) != '{') {
		rc = OTAS__INGEST_BAD_JSON;
		goto done;
	}
	state_begin(&st, ev);
	if (scan_event(&c, &st, 0) != 0) {
		rc = OTAS__INGEST_BAD_JSON;
		goto done;
	}
	ws(&c);
	if (c.p != c.end) {
		rc = OTAS__INGEST_BAD_JSON;
		goto done;
	}
	if (event_close(&st, missing, invalid) != 0)
		rc = 1;
done:
	free(st.meta_route);
	if (rc == OTAS__INGEST_BAD_JSON)
		otas__event_clear(ev);
	return rc;
}

#define OTAS__SEARCH_NAMES_MAX 16
#define OTAS__SEARCH_FIELD_CHARS 4096

/* The first OTAS__SEARCH_FIELD_CHARS characters of the scanned string
 * s..e (escaped when esc), decoded into t (room for the lesser of e - s
 * and 4 * OTAS__SEARCH_FIELD_CHARS bytes), as
 * substr(json_extract(...), 1, 4096) gives them; *len the bytes written.
 * Only that prefix is read: a 64 KB body costs what its first 4,096
 * characters do (the whole string was decoded and checked before: 1.2 M
 * instructions of the 3.8 M an event of a 64 KB POST cost the collector).
 * Returns 1, nothing decided, at a \u escape json_extract decodes
 * differently (a surrogate) or cuts the string at (NUL) within the
 * prefix; past the cut neither changes the characters kept.  Characters
 * are counted by their first bytes (the text is valid UTF-8). */
static int
search_field(const char *s, const char *e, int esc, char *t, size_t *len)
{
	const char *p = s;
	char *o = t;
	size_t chars = 0;

	if (!esc) {
		for (; p < e; p++)
			if (((unsigned char)*p & 0xc0) != 0x80 &&
			    chars++ == OTAS__SEARCH_FIELD_CHARS)
				break;
		memcpy(t, s, (size_t)(p - s));
		*len = (size_t)(p - s);
		return 0;
	}
	while (p < e) {
		if (*p != '\\') {
			if (((unsigned char)*p & 0xc0) != 0x80 &&
			    chars++ == OTAS__SEARCH_FIELD_CHARS)
				break;
			*o++ = *p++;
			continue;
		}
		if (chars++ == OTAS__SEARCH_FIELD_CHARS)
			break;
		if (p[1] == 'u') {
			uint32_t cp = hex4(p + 2);
			if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
				return 1;
			o = put_utf8(o, cp);
			p += 4;
		} else {
			*o++ = esc_byte(p[1]);
		}
		p += 2;
	}
	*len = (size_t)(o - t);
	return 0;
}

int
otas__search_text(const char *doc, size_t n, const char *const *names,
                  size_t n_names, otas__buf_t *out)
{
	sc_t c = {doc, doc + n, 0, {0, {0}}, {0, {0}}};
	val_t vals[OTAS__SEARCH_NAMES_MAX];
	unsigned char seen[OTAS__SEARCH_NAMES_MAX] = {0};
	size_t out0 = out->len;
	val_t k, v;

	if (n_names > OTAS__SEARCH_NAMES_MAX)
		return 1;
	pthread_once(&tables_once, tables_init);
	ws(&c);
	if (peek(&c) != '{')
		return 1;
	c.p++;
	ws(&c);
	if (peek(&c) == '}') {
		c.p++;
	} else {
		for (;;) {
			size_t i, klen;
			if (scan_key(&c, &k) != 0 || k.esc || scan_value(&c, &v) != 0)
				return 1;
			if ((v.type == V_OBJ || v.type == V_ARR) && skip_value(&c, 1) != 0)
				return 1;
			klen = (size_t)(k.e - k.s);
			for (i = 0; i < n_names; i++)
				if (strlen(names[i]) == klen && !memcmp(k.s, names[i], klen))
					break;
			if (i < n_names) {
				if (seen[i] || (v.type != V_STR && v.type != V_NULL))
					return 1;
				seen[i] = 1;
				vals[i] = v;
			}
			ws(&c);
			if (peek(&c) == ',') {
				c.p++;
				ws(&c);
				continue;
			}
			if (peek(&c) != '}')
				return 1;
			c.p++;
			break;
		}
	}
	ws(&c);
	if (c.p != c.end)
		return 1;
	for (size_t i = 0; i < n_names; i++) {
		if (seen[i] && vals[i].type == V_STR) {
			size_t len = (size_t)(vals[i].e - vals[i].s);
			/* at most 4 bytes a character (an escape decodes
			 * no longer than it is written) */
			if (len > 4 * OTAS__SEARCH_FIELD_CHARS)
				len = 4 * OTAS__SEARCH_FIELD_CHARS;
			if (otas__buf_reserve(out, len + 2) != 0)
				abort(); /* the collector aborts on OOM */
			if (search_field(vals[i].s, vals[i].e, vals[i].esc,
			                 out->data + out->len, &len) != 0) {
				out->len = out0;
				return 1;
			}
			out->len += len;
		}
		otas__buf_append(out, "\n", 1);
	}
	if (out->oom)
		abort();
	return 0;
}

int
otas__event_finish(otas__event_t *ev)
{
	if (ev->reject || !ev->doc)
		return -1;
	if (ev->event_id[0] == '\0')
		otas__uuid_v7(ev->event_id);
	/* The token is a credential: forget it now.  The decoder already
	 * left it out of the stored text. */
	if (ev->token) {
		memset(ev->token, 0, strlen(ev->token));
		free(ev->token);
		ev->token = NULL;
	}
	return 0;
}
