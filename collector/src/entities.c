/*
 * entities.c -- decode an entities batch (see entities.h).
 *
 * Each element is validated on its own, as events are: an element with an
 * unknown kind or a missing id is rejected by index and the rest are
 * stored.  Ids may be strings or integers (stored as their decimal text);
 * "metadata", when present, must be an object because the store merges it
 * into the stored one (json_patch), while other fields replace theirs: the
 * latest update wins.
 */
#include "entities.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = {"user", "company", "subscription"};

const char *
otas__entity_kind(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < 3; i++)
		if (!strcmp(name, kinds[i]))
			return kinds[i];
	return NULL;
}

/* Copy an id field into out; 0 ok, -1 missing or bad. */
static int
id_of(json_t *o, const char *name, char *out, size_t outlen)
{
	json_t *v = json_object_get(o, name);
	int n;

	if (json_is_string(v)) {
		size_t l = json_string_length(v);
		if (!l || l >= outlen || memchr(json_string_value(v), 0, l))
			return -1;
		memcpy(out, json_string_value(v), l + 1);
		return 0;
	}
	if (json_is_integer(v)) {
		n = snprintf(out, outlen, "%" JSON_INTEGER_FORMAT,
		             json_integer_value(v));
		return n > 0 && (size_t)n < outlen ? 0 : -1;
	}
	return -1;
}

static const char *
check(json_t *o, otas__entity_t *e)
{
	json_t *m;

	if (!json_is_object(o))
		return "invalid_entity";
	e->kind = otas__entity_kind(json_string_value(json_object_get(o, "kind")));
	if (!e->kind)
		return "invalid_kind";
	e->company_id[0] = '\0';
	if (json_object_get(o, "company_id") &&
	    !json_is_null(json_object_get(o, "company_id")) &&
	    id_of(o, "company_id", e->company_id, sizeof e->company_id) != 0)
		return "invalid_company_id";
	if (!strcmp(e->kind, "user")) {
		if (id_of(o, "user_id", e->id, sizeof e->id) != 0)
			return "missing_user_id";
	} else if (!strcmp(e->kind, "company")) {
		if (!e->company_id[0])
			return "missing_company_id";
		memcpy(e->id, e->company_id, sizeof e->id);
	} else {
		if (id_of(o, "subscription_id", e->id, sizeof e->id) != 0)
			return "missing_subscription_id";
		if (!e->company_id[0])
			return "missing_company_id";
	}
	m = json_object_get(o, "metadata");
	if (m && !json_is_object(m) && !json_is_null(m))
		return "invalid_metadata";
	return NULL;
}

/* Count the elements of the top-level "entities" array without building
 * anything, stopping as soon as the count passes `max`: a huge batch is
 * refused (413) before jansson turns it into a tree many times its size.
 * Exact for valid JSON; anything else is left to the real parse. */
static size_t
count_entities(const char *b, size_t len, size_t max)
{
	size_t depth = 0, count = 0, i;
	int in_str = 0, esc = 0, key_is_entities = 0, in_target = 0;
	int want_value = 0, empty = 1;
	size_t str_start = 0;

	for (i = 0; i < len; i++) {
		char ch = b[i];
		if (in_str) {
			if (esc)
				esc = 0;
			else if (ch == '\\')
				esc = 1;
			else if (ch == '"') {
				in_str = 0;
				if (depth == 1 && !want_value)
					key_is_entities =
					    i - str_start == 8 &&
					    !memcmp(b + str_start, "entities", 8);
			}
			continue;
		}
		switch (ch) {
		case '"':
			in_str = 1;
			str_start = i + 1;
			if (in_target && depth == 2 && empty) {
				empty = 0;
				count = 1;
			}
			break;
		case ':':
			if (depth == 1)
				want_value = 1;
			break;
		case '{':
		case '[':
			if (ch == '[' && depth == 1 && want_value && key_is_entities) {
				in_target = 1;
				empty = 1;
				count = 0;
			} else if (in_target && depth == 2 && empty) {
				empty = 0;
				count = 1;
			}
			depth++;
			break;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			if (in_target && depth == 1)
				return count; /* the array closed */
			if (depth == 1)
				want_value = 0;
			break;
		case ',':
			if (depth == 1)
				want_value = 0, key_is_entities = 0;
			else if (in_target && depth == 2 && ++count > max)
				return count;
			break;
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			break;
		default: /* a number, true, false, null */
			if (in_target && depth == 2 && empty) {
				empty = 0;
				count = 1;
			}
			break;
		}
	}
	return count;
}

int
otas__entities_decode(const char *body, size_t len, otas__entity_t **out,
                      size_t *n, json_t *rejected)
{
	json_t *root, *list, *o;
	otas__entity_t *rows;
	size_t i, k = 0;
	int rc = OTAS__ENT_OK;

	*out = NULL;
	*n = 0;
	/* Count first: past the caps nothing is built. */
	if (len > OTAS__ENTITIES_MAX_BYTES ||
	    count_entities(body, len, OTAS__ENTITIES_MAX) > OTAS__ENTITIES_MAX)
		return OTAS__ENT_TOO_MANY;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!root)
		return OTAS__ENT_BAD_JSON;
	list = json_object_get(root, "entities");
	if (!json_is_array(list)) {
		rc = OTAS__ENT_BAD_BODY;
		goto done;
	}
	if (json_array_size(list) > OTAS__ENTITIES_MAX) {
		rc = OTAS__ENT_TOO_MANY;
		goto done;
	}
	rows = calloc(json_array_size(list) + 1, sizeof *rows);
	if (!rows)
		abort();
	json_array_foreach(list, i, o) {
		otas__entity_t *e = &rows[k];
		const char *why = check(o, e);
		if (!why) {
			json_t *copy = json_deep_copy(o);
			if (!copy)
				abort();
			json_object_del(copy, "kind");
			e->doc = json_dumps(copy, JSON_COMPACT);
			json_decref(copy);
			if (!e->doc)
				abort();
			k++;
			continue;
		}
		json_array_append_new(
		    rejected, json_pack("{s:I, s:s}", "index", (json_int_t)i,
		                        "status_description", why));
	}
	*out = rows;
	*n = k;
done:
	json_decref(root);
	return rc;
}

void
otas__entities_free(otas__entity_t *e, size_t n)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < n; i++)
		free(e[i].doc);
	free(e);
}
