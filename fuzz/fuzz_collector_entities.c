/*
 * fuzz_collector_entities.c -- otas__entities_decode on arbitrary bodies:
 * the pre-parse count (entities.c count_entities) must agree with the
 * real parse: a valid {"entities": [...]} of at most OTAS__ENTITIES_MAX
 * elements is never refused as too many, and a longer one always is.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "entities.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *rejected = json_array();
	json_t *root = json_loadb((const char *)data, size,
	                          JSON_REJECT_DUPLICATES, NULL);
	json_t *list = json_is_object(root) ? json_object_get(root, "entities")
	                                    : NULL;
	otas__entity_t *rows = NULL;
	size_t n = 0;
	int rc = otas__entities_decode((const char *)data, size, &rows, &n,
	                               rejected);

	if (json_is_array(list) && size <= OTAS__ENTITIES_MAX_BYTES) {
		size_t want = json_array_size(list);
		if ((want > OTAS__ENTITIES_MAX) != (rc == OTAS__ENT_TOO_MANY))
			abort();
	}
	if (rc == OTAS__ENT_OK && n > OTAS__ENTITIES_MAX)
		abort();
	otas__entities_free(rows, n);
	json_decref(root);
	json_decref(rejected);
	return 0;
}
