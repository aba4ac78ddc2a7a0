/*
 * fuzz_collector_search_text.c -- the indexer's one-parse reader of a
 * stored document's searchable text (ingest.c otas__search_text) against
 * SQLite's own expression for it (store_sqlite.c SQ_SEARCH_TEXT: for each
 * of store.h's OTAS__SEARCH_FIELDS, substr(coalesce(json_extract(doc,
 * '$.f'), ''), 1, 4096) || char(10)), on arbitrary bytes.
 *
 * The FTS5 index is external-content: a row's terms are removed by the
 * delete trigger with the text the view computes, so text indexed from
 * otas__search_text must be the view's byte for byte, or the index keeps
 * stale terms.  Whenever otas__search_text answers (0), SQLite must
 * answer without an error and with the same bytes; when it declines (1)
 * the indexer runs SQLite's expression itself.
 *
 * Byte 0 picks the shape: odd, the rest is the document; even, the rest
 * is the raw content of a string of one of the fields (byte 0 >> 1 picks
 * which) inside a small document, so the fuzzer spends its time on
 * escapes, UTF-8 and the 4096-character cut.  Documents that are not
 * UTF-8 or hold a NUL byte are skipped: the store holds neither.
 */
#include "ingest.h"
#include "store.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME(f) #f,
static const char *const names[] = {OTAS__SEARCH_FIELDS(NAME)};
#define N_NAMES (sizeof names / sizeof *names)

#define FIELD(f) \
	"substr(coalesce(json_extract(?1, '$." #f "'), ''), 1, 4096) ||" \
	" char(10) || "
static const char sql[] = "SELECT (" OTAS__SEARCH_FIELDS(FIELD) "'')";

static sqlite3 *db;
static sqlite3_stmt *st;

static void
check(const char *doc, size_t n)
{
	otas__buf_t mine = OTAS__BUF_INIT;
	const unsigned char *theirs;
	int rc;

	if (memchr(doc, '\0', n) || !otas__utf8_valid(doc, n))
		return;
	if (otas__search_text(doc, n, names, N_NAMES, &mine) != 0) {
		otas__buf_free(&mine);
		return; /* the indexer asks SQLite itself */
	}
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, doc, (int)n, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		abort(); /* answered where SQLite finds no such document */
	theirs = sqlite3_column_text(st, 0);
	if (!theirs || (size_t)sqlite3_column_bytes(st, 0) != mine.len ||
	    memcmp(theirs, mine.data, mine.len) != 0)
		abort();
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	otas__buf_free(&mine);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!db) {
		if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
		    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			abort();
	}
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		check((const char *)data + 1, size - 1);
	} else {
		static const char pre[] = "{\"method\":\"GET\",\"", mid[] = "\":\"",
		                  post[] = "\",\"status_code\":200}";
		const char *f = names[(data[0] >> 1) % N_NAMES];
		size_t fl = strlen(f), n = 0;
		char *doc = malloc(sizeof pre + fl + sizeof mid + size + sizeof post);
		if (!doc)
			return 0;
		memcpy(doc + n, pre, sizeof pre - 1), n += sizeof pre - 1;
		memcpy(doc + n, f, fl), n += fl;
		memcpy(doc + n, mid, sizeof mid - 1), n += sizeof mid - 1;
		memcpy(doc + n, data + 1, size - 1), n += size - 1;
		memcpy(doc + n, post, sizeof post - 1), n += sizeof post - 1;
		check(doc, n);
		free(doc);
	}
	return 0;
}
