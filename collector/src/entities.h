/*
 * entities.h -- users, companies and subscriptions sent by the SDK to
 * POST /api/v1/entities/batch/ as {"entities":[{"kind":...,...}]}.
 * Parsing and validation live here (pure, tested); storage in store.c.
 */
#ifndef OTAS_COLLECTOR_ENTITIES_H
#define OTAS_COLLECTOR_ENTITIES_H

#include <jansson.h>
#include <stddef.h>

#define OTAS__ENTITIES_MAX 1000 /* per request */
/* Decoded bytes per request: 1,000 entities of up to 8 KiB each.  Past
 * either cap the batch is refused (413) before it is parsed. */
#define OTAS__ENTITIES_MAX_BYTES (8u << 20)
#define OTAS__ENTITY_ID_MAX 256

typedef struct {
	const char *kind;                 /* "user", "company", "subscription" */
	char id[OTAS__ENTITY_ID_MAX + 1]; /* user_id / company_id / sub. id */
	char company_id[OTAS__ENTITY_ID_MAX + 1]; /* "" when none */
	char *doc;                        /* the fields, JSON, without kind */
} otas__entity_t;

enum {
	OTAS__ENT_OK = 0,
	OTAS__ENT_BAD_JSON = -1,  /* not JSON */
	OTAS__ENT_BAD_BODY = -2,  /* not an object with an entities list */
	OTAS__ENT_TOO_MANY = -3,
};

/* Decode a body into *out (n valid rows; malloc'd array) and append
 * {"index":i,"status_description":...} to rejected for the invalid ones.
 * Returns OTAS__ENT_*. */
int otas__entities_decode(const char *body, size_t len, otas__entity_t **out,
                          size_t *n, json_t *rejected);
void otas__entities_free(otas__entity_t *e, size_t n);

/* "user" -> "users" etc. for the list endpoints; NULL when unknown. */
const char *otas__entity_kind(const char *name);

#endif
