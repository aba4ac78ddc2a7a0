/*
 * spool_v1.h -- a spool file as schema 1 (the engine before the tokens
 * column) wrote it, for the migration tests of test_spool.c and
 * test_sender.c: that version's SQL, and one batch whose agent tokens are
 * sealed inside the events, under the key the SDK key derives.
 */
#ifndef OTAS_TEST_SPOOL_V1_H
#define OTAS_TEST_SPOOL_V1_H

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"

static const char spool_v1_schema[] =
    "CREATE TABLE batches ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, n_events INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " lease_until INTEGER, lease_owner INTEGER, lease_host INTEGER);"
    "CREATE TABLE payloads (id INTEGER PRIMARY KEY,"
    " payload BLOB NOT NULL);"
    "CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " batches INTEGER NOT NULL, events INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL);"
    "INSERT INTO meta VALUES (1, 0, 0, 0);"
    "CREATE TRIGGER batches_ins AFTER INSERT ON batches BEGIN"
    " UPDATE meta SET batches = batches + 1,"
    "  events = events + NEW.n_events, bytes = bytes + NEW.bytes"
    "  WHERE id = 1; END;"
    "CREATE TRIGGER batches_del AFTER DELETE ON batches BEGIN"
    " DELETE FROM payloads WHERE id = OLD.id;"
    " UPDATE meta SET batches = batches - 1,"
    "  events = events - OLD.n_events, bytes = bytes - OLD.bytes"
    "  WHERE id = 1; END;"
    "PRAGMA journal_mode = WAL;"
    "PRAGMA user_version = 1;";

/* "otas-seal1." + the token sealed under secret's key, into out. */
static int
spool_v1_seal(const char *secret, const char *tok, otas__buf_t *out)
{
	static const char info[] = "otas spool agent token key v1";
	unsigned char key[32];

	if (otas__hmac_sha256(secret, strlen(secret), info, sizeof(info) - 1,
	                      key) != 0)
		return -1;
	otas__buf_puts(out, "otas-seal1.");
	return otas__seal(key, tok, strlen(tok), out);
}

/* Create path as schema 1 holding one batch of n_events events (payload:
 * lines as schema 1 stored them).  0, or -1. */
static int
spool_v1_write(const char *path, const char *payload, size_t len,
               int n_events)
{
	sqlite3 *db;
	sqlite3_stmt *ins = NULL;
	char sql[160];
	int rc;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, spool_v1_schema, NULL, NULL, NULL);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO batches (n_events, bytes, created_at) "
	         "VALUES (%d, %zu, 1)", n_events, len);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO payloads VALUES "
		                        "(last_insert_rowid(), ?1)", -1, &ins,
		                        NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_blob(ins, 1, payload, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	}
	sqlite3_finalize(ins);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

#endif
