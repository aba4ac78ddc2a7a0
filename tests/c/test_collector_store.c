/*
 * test_collector_store.c -- the parts of store.c both stores share: the
 * partition day of an event, roles, and one SQLite store end to end
 * (keys by role, rotate, group commit, paging rows, retention).
 */
#include "testlib.h"

#include "store.h"
#include "store_impl.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST(event_day_from_uuid7_then_time)
{
	otas__event_t e;

	memset(&e, 0, sizeof e);
	/* 0x0192_0000_0000 ms = 1,726,576,852,992 ms -> day 19983 */
	snprintf(e.event_id, sizeof e.event_id,
	         "01920000-0000-7000-8000-000000000000");
	CHECK(otas__event_day(&e, 0) == 1726576852992LL / 86400000);
	/* not a v7 id: the event's own time, else when it was received */
	snprintf(e.event_id, sizeof e.event_id, "my-own-id");
	e.ts_us = 86400LL * 1000000 * 3 + 5;
	CHECK(otas__event_day(&e, 0) == 3);
	e.ts_us = 0;
	CHECK(otas__event_day(&e, 86400LL * 1000000 * 7) == 7);
	/* a v4 id is not a timestamp */
	snprintf(e.event_id, sizeof e.event_id,
	         "01920000-0000-4000-8000-000000000000");
	CHECK(otas__event_day(&e, 86400LL * 1000000 * 9) == 9);
}

TEST(roles_parse_and_name)
{
	int r = 0;

	CHECK(otas__role_parse("ingest", &r) == 0 && r == OTAS__ROLE_INGEST);
	CHECK(otas__role_parse("read", &r) == 0 && r == OTAS__ROLE_READ);
	CHECK(otas__role_parse("admin", &r) == -1);
	CHECK_STR(otas__role_name(OTAS__ROLE_BOTH), "ingest+read");
}

static int
count_row(void *arg, const otas__event_row_t *row)
{
	(void)row;
	(*(int *)arg)++;
	return 0;
}

TEST(sqlite_store_keys_commit_and_rows)
{
	char path[] = "/tmp/otas-store-test-XXXXXX", db[64], err[256], id[37];
	char ingest[OTAS__KEY_LEN + 1], rkey[OTAS__KEY_LEN + 1],
	    rot[OTAS__KEY_LEN + 1];
	otas__writer_opts_t w = {.sync_full = 1, .max_pending = 16};
	otas__event_query_t q;
	otas__project_t p;
	otas__event_t ev[3];
	size_t acc = 0, dup = 0;
	int role = 0, n = 0;
	otas__store_t *st;

	CHECK(mkdtemp(path) != NULL);
	snprintf(db, sizeof db, "%s/o.db", path);
	st = otas__store_open(db, 1, err, sizeof err);
	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_STR(otas__store_kind(st), "sqlite");
	CHECK(otas__store_project_create(st, "P", "", id) == 0);
	CHECK(otas__store_key_create_role(st, id, 30, OTAS__ROLE_INGEST,
	                                  ingest) == 0);
	CHECK(otas__store_key_create_role(st, id, 30, OTAS__ROLE_READ, rkey) ==
	      0);
	CHECK(otas__store_key_verify(st, ingest, &p, &role) == OTAS__KEY_OK);
	CHECK(role == OTAS__ROLE_INGEST && p.key_role == OTAS__ROLE_INGEST);
	CHECK(p.key_expires_at > otas__now_us() / 1000000 + 29 * 86400);
	CHECK(otas__store_key_verify(st, rkey, &p, &role) == OTAS__KEY_OK &&
	      role == OTAS__ROLE_READ);
	/* rotate keeps the role and revokes the old key */
	{
		char prefix[OTAS__KEY_PREFIX_LEN + 1];
		memcpy(prefix, rkey + 5, OTAS__KEY_PREFIX_LEN);
		prefix[OTAS__KEY_PREFIX_LEN] = '\0';
		CHECK(otas__store_key_rotate(st, prefix, 30, 0, rot, &role) == 0);
		CHECK(role == OTAS__ROLE_READ);
		CHECK(otas__store_key_verify(st, rkey, &p, NULL) ==
		      OTAS__KEY_INVALID);
		CHECK(otas__store_key_verify(st, rot, &p, &role) == OTAS__KEY_OK &&
		      role == OTAS__ROLE_READ);
	}
	/* group commit: three events, one of them twice */
	CHECK(otas__store_writer_start(st, &w) == 0);
	memset(ev, 0, sizeof ev);
	for (int i = 0; i < 3; i++) {
		char doc[64];
		ev[i].method = strdup("GET");
		ev[i].path = strdup("/a");
		snprintf(ev[i].event_id, sizeof ev[i].event_id, "e-%d", i % 2);
		snprintf(doc, sizeof doc, "{\"n\":%d}", i);
		ev[i].doc = strdup(doc);
		ev[i].doc_len = strlen(doc);
	}
	CHECK(otas__store_submit(st, p.pk, ev, 3, otas__now_us(), &acc, &dup) ==
	      OTAS__SUBMIT_OK);
	CHECK(acc == 2 && dup == 1);
	memset(&q, 0, sizeof q);
	q.status = -1;
	q.since_us = INT64_MIN;
	q.until_us = INT64_MAX;
	q.limit = 10;
	CHECK(otas__store_events_each(st, p.pk, &q, count_row, &n) == 0);
	CHECK(n == 2);
	for (int i = 0; i < 3; i++)
		otas__event_clear(&ev[i]);
	otas__store_close(st);
	snprintf(err, sizeof err, "rm -rf %s", path);
	CHECK(system(err) == 0);
}

int
main(void)
{
	RUN(event_day_from_uuid7_then_time);
	RUN(roles_parse_and_name);
	RUN(sqlite_store_keys_commit_and_rows);
	return testlib_done();
}
