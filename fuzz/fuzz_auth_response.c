/*
 * fuzz_auth_response.c -- the authentication answer parser on arbitrary
 * bodies and statuses: it must always classify, never overflow its
 * fixed-size fields, and keep strings NUL-terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "send/protocol.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	otas_auth_result_t r = OTAS_AUTH_RESULT_INIT;
	int st;

	if (size < 1)
		return 0;
	st = data[0] < 128 ? 200 : (data[0] < 192 ? 401 : 100 + data[0]);
	memset(&r, 0x41, sizeof(r));
	otas__auth_parse(st, (const char *)data + 1, size - 1, &r);
	if (r.status > OTAS_AUTH_CONFIG)
		abort();
	if (strlen(r.message) >= sizeof(r.message) ||
	    strlen(r.project_id) >= sizeof(r.project_id) ||
	    strlen(r.project_name) >= sizeof(r.project_name))
		abort();
	if (r.status == OTAS_AUTH_OK && !r.project_id[0])
		abort();
	return 0;
}
