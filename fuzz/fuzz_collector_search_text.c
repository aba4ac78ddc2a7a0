/*
 * fuzz_collector_search_text.c -- the indexer's one-parse search text
 * (ingest.c otas__search_text) on arbitrary documents, checked against
 * what it stands in for: SQLite's view events_text, substr(coalesce(
 * json_extract(doc, '$.<field>'), ''), 1, 4096) || char(10) for each of
 * store.h's OTAS__SEARCH_FIELDS.  Where it answers 0 (it knows), its text
 * must be SQLite's byte for byte; where it answers 1 the indexer runs the
 * expression itself, so nothing is asked.  Documents that are not one
 * JSON text in UTF-8 (the store never holds one) are run for memory
 * safety only.
 */
#include "ingest.h"
#include "store.h"
#include "json_check.h"

#include "common/utf8.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define F_NAME(f) #f,
#define F_SQL(f) \
	"substr(coalesce(json_extract(?1, '$." #f "'), ''), 1, 4096) ||" \
	" char(10) || "

static const char *const names[] = {OTAS__SEARCH_FIELDS(F_NAME)};
static sqlite3 *db;
static sqlite3_stmt *expr;

static void
setup(void)
{
	if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT " OTAS__SEARCH_FIELDS(F_SQL) "''",
	                       -1, &expr, NULL) != SQLITE_OK)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	otas__buf_t b = OTAS__BUF_INIT;
	const char *doc = (const char *)data;
	int rc;

	if (!db)
		setup();
	rc = otas__search_text(doc, size, names, sizeof names / sizeof *names,
	                       &b);
	if (rc == 0 && size && json_check(doc, size, 2000) &&
	    otas__utf8_valid(doc, size) && !memchr(doc, 0, size)) {
		const unsigned char *want;
		int n;

		sqlite3_bind_text(expr, 1, doc, (int)size, SQLITE_STATIC);
		if (sqlite3_step(expr) == SQLITE_ROW) {
			want = sqlite3_column_text(expr, 0);
			n = sqlite3_column_bytes(expr, 0);
			if (!want || (size_t)n != b.len ||
			    (n && memcmp(want, b.data, (size_t)n) != 0))
				abort(); /* the index would differ from the view */
		}
		sqlite3_reset(expr);
		sqlite3_clear_bindings(expr);
	}
	otas__buf_free(&b);
	return 0;
}
