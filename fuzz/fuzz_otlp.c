/*
 * fuzz_otlp.c -- otlp.c on arbitrary input.  The first byte picks the
 * target: the OTLP answer reader (ExportLogsServiceResponse from the
 * endpoint), or the encoder on any JSON document (spooled events are read
 * back from disk), whose output must then be well-formed protobuf with
 * every length inside its parent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "otlp.h"

/* Walk a message; nested length-delimited fields are walked too when they
 * parse (strings may not).  -1 when malformed. */
static int
walk(const unsigned char *p, const unsigned char *e, int depth)
{
	while (p < e) {
		uint64_t tag = 0, v = 0;
		int sh = 0;
		do {
			if (p >= e || sh > 63)
				return -1;
			tag |= (uint64_t)(*p & 0x7f) << sh;
			sh += 7;
		} while (*p++ & 0x80);
		switch (tag & 7) {
		case 0:
			do {
				if (p >= e)
					return -1;
			} while (*p++ & 0x80);
			break;
		case 1:
			if (e - p < 8)
				return -1;
			p += 8;
			break;
		case 5:
			if (e - p < 4)
				return -1;
			p += 4;
			break;
		case 2:
			sh = 0;
			do {
				if (p >= e || sh > 63)
					return -1;
				v |= (uint64_t)(*p & 0x7f) << sh;
				sh += 7;
			} while (*p++ & 0x80);
			if (v > (uint64_t)(e - p))
				return -1;
			if (depth < 8)
				(void)walk(p, p + v, depth + 1);
			p += v;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

static otas__otlp_t *g_o;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	otas__buf_t rec = OTAS__BUF_INIT, out = OTAS__BUF_INIT;

	if (size < 1)
		return 0;
	if (!g_o) {
		otas_config_t *c = otas_config_new();
		otas_config_set(c, "OTAS_EXPORTER", "otlp", NULL, 0);
		otas_config_set(c, "OTAS_SERVICE_VERSION", "1.0", NULL, 0);
		g_o = otas__otlp_new(c, "otas-python/fuzz");
		otas_config_free(c);
		if (!g_o)
			abort();
	}
	if (data[0] & 1) {
		int64_t rej;
		char msg[16];
		otas__otlp_parse_response((const char *)data + 1, size - 1,
		                          &rej, msg, sizeof(msg));
		if (strlen(msg) >= sizeof(msg))
			abort();
		return 0;
	}
	if (otas__otlp_add(g_o, (const char *)data + 1, size - 1, &rec) == 0) {
		if (otas__otlp_finish(g_o, &rec, &out) != 0)
			abort();
		if (walk((const unsigned char *)out.data,
		         (const unsigned char *)out.data + out.len, 0) != 0)
			abort();
	} else if (rec.len) {
		abort();
	}
	otas__buf_free(&rec);
	otas__buf_free(&out);
	return 0;
}
