/*
 * fuzz_collector_ingest.c -- the collector's request decoding on arbitrary
 * bytes: the first byte picks the path (gzip or plain body, batch or single
 * event), the rest is the body.  Runs what do_batch/do_log run before the
 * store: gunzip with a cap, batch/event decode and checks, agent token
 * peek, and the stored document's serialisation.
 */
#include "ingest.h"
#include "jwt.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void
finish_all(otas__event_t *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *claims;
		if (ev[i].reject)
			continue;
		if (ev[i].token) {
			claims = otas__jwt_peek(ev[i].token);
			otas__jwt_claim_str(claims, "agent_id", ev[i].agent_id,
			                    sizeof ev[i].agent_id);
			json_decref(claims);
			otas__jwt_verify(ev[i].token, (const unsigned char *)"k", 1,
			                 0, &claims);
			json_decref(claims);
		}
		otas__event_finish(&ev[i]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	otas__buf_t inflated = OTAS__BUF_INIT;
	const char *body;
	size_t len;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0];
	body = (const char *)data + 1;
	len = size - 1;
	if (mode & 1) {
		/* A small cap so the too-large path is reached. */
		if (otas__gunzip(body, len, 1 << 16, &inflated) != OTAS__INGEST_OK)
			goto done;
		body = inflated.data ? inflated.data : "";
		len = inflated.len;
	}
	if (mode & 2) {
		json_t *missing = json_array(), *invalid = json_array();
		otas__event_t ev;
		if (otas__event_parse(body, len, &ev, missing, invalid) >= 0) {
			finish_all(&ev, 1);
			otas__event_clear(&ev);
		}
		json_decref(missing);
		json_decref(invalid);
	} else {
		otas__batch_t b;
		if (otas__batch_decode(body, len, 64, &b) == OTAS__INGEST_OK) {
			finish_all(b.ev, b.n);
			otas__batch_free(&b);
		}
	}
done:
	otas__buf_free(&inflated);
	return 0;
}
