/*
 * fuzz_protocol_answer.c -- protocol.c's reader of OTAS answers on
 * arbitrary bytes (status_description / error, batch counts; its flat
 * reader checked against jansson's on every input), then the
 * status table with the description it read.  Byte 0 picks the endpoint,
 * the status and the number of events sent; the rest is the body.  The
 * counts must never exceed what was sent.  (The OTLP answer reader is
 * fuzz_otlp.c's.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "send/protocol.h"

static const int statuses[] = {0,   200, 201, 302, 400, 401, 403, 404,
                               405, 408, 413, 415, 429, 500, 503, 599};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	otas__answer_t a;
	otas__endpoint_t ep;
	int st;
	size_t n;

	if (size < 1)
		return 0;
	ep = (otas__endpoint_t)(data[0] % OTAS__EP_COUNT);
	st = statuses[(data[0] >> 2) % (sizeof(statuses) / sizeof(*statuses))];
	n = (size_t)(data[0] >> 4);
	otas__protocol_parse_otas_answer((const char *)data + 1, size - 1, n,
	                                 &a);
	/* The flat reader (no jansson) must say what jansson says. */
	{
		otas__answer_t b;
		int rb, ra = otas__protocol_parse_otas_answer(
		    (const char *)data + 1, size - 1, n, &a);
		rb = otas__protocol_answer_jansson(
		    (const char *)data + 1, size - 1, n, &b);
		if (ra != rb || a.accepted != b.accepted ||
		    a.duplicates != b.duplicates || a.rejected != b.rejected ||
		    strcmp(a.description, b.description) != 0)
			abort();
	}
	if (a.accepted > n || a.duplicates > n || a.rejected > n ||
	    memchr(a.description, '\0', sizeof(a.description)) == NULL)
		abort();
	if ((unsigned)otas__classify(ep, st, a.description) >
	    OTAS__OUT_ENCODING_REFUSED)
		abort();
	return 0;
}
