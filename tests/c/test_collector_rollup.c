/*
 * test_collector_rollup.c -- the tags ingest reads (ingest.h ev->tags) and
 * the tag rollups built from them (rollup.h otas__rollup_build_tags,
 * otas__people_build_tags, otas__event_from_stored).
 */
#include "testlib.h"

#include "ingest.h"
#include "rollup.h"

#include <stdlib.h>
#include <string.h>

#define EV "{\"project_id\":\"p\",\"path\":\"/a\",\"method\":\"GET\"," \
           "\"status_code\":200,\"latency_ms\":1.5"

/* ev's tags joined by commas, for CHECK_STR. */
static const char *
joined(const otas__event_t *ev, char *buf, size_t n)
{
	const char *t = ev->tags;
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ev->n_tags; i++) {
		o += (size_t)snprintf(buf + o, n - o, i ? ",%s" : "%s", t);
		t += strlen(t) + 1;
	}
	return buf;
}

static void
parse(const char *body, otas__event_t *ev)
{
	CHECK_INT(otas__event_parse(body, strlen(body), ev, NULL, NULL),
	          OTAS__INGEST_OK);
}

TEST(tags_as_the_raw_filter_reads_them)
{
	static const struct {
		const char *metadata, *want;
	} cases[] = {
	    {"{\"tags\":\"blue\"}", "blue"},
	    {"{\"tags\":[\"red\",\"blue\",\"red\"]}", "red,blue"},
	    {"{\"tags\":[1,\"red\",null,{\"x\":\"y\"},[\"z\"]]}", "red"},
	    {"{\"tags\":{\"blue\":\"blue\"}}", ""},
	    {"{\"tags\":[]}", ""},
	    {"{\"tags\":7}", ""},
	    {"{\"tags\":\"caf\\u00e9\"}", "caf\xc3\xa9"},
	    /* a later member replaces an earlier one, as jansson reads it */
	    {"{\"tags\":[\"a\"],\"user_id\":\"u\",\"tags\":[\"b\",\"c\"]}", "b,c"},
	    {"{\"t\\u0061gs\":[\"esc\"]}", "esc"},
	    {"{\"tags\":[\"\"]}", ""}, /* one empty tag: n_tags 1 */
	    {"{}", ""},
	};
	char body[512], buf[256];

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		otas__event_t ev;
		snprintf(body, sizeof body, EV ",\"metadata\":%s}", cases[i].metadata);
		parse(body, &ev);
		CHECK_STR(joined(&ev, buf, sizeof buf), cases[i].want);
		if (i == 9)
			CHECK_INT(ev.n_tags, 1);
		otas__event_clear(&ev);
	}
}

TEST(long_tags_left_out)
{
	char body[1024], tag[OTAS__TAG_MAX_LEN + 2], buf[512];
	otas__event_t ev;

	memset(tag, 'x', sizeof tag - 1);
	tag[sizeof tag - 1] = '\0'; /* one byte over */
	snprintf(body, sizeof body, EV ",\"metadata\":{\"tags\":[\"%s\",\"ok\","
	                               "\"%.*s\"]}}",
	         tag, OTAS__TAG_MAX_LEN, tag);
	parse(body, &ev);
	CHECK_INT(ev.n_tags, 2);
	CHECK_INT(strlen(joined(&ev, buf, sizeof buf)), 3 + OTAS__TAG_MAX_LEN);
	otas__event_clear(&ev);
}

TEST(rollup_rows_per_tag)
{
	otas__event_t ev[3];
	otas__store_job_t job = {0};
	otas__rollup_row_t *rows;
	size_t n;

	parse(EV ",\"metadata\":{\"tags\":[\"b\",\"a\"],\"timestamp\":"
	         "\"2026-03-02T09:00:10Z\"}}", &ev[0]);
	parse(EV ",\"metadata\":{\"tags\":\"a\",\"timestamp\":"
	         "\"2026-03-02T09:00:20Z\"}}", &ev[1]);
	parse(EV ",\"metadata\":{\"timestamp\":\"2026-03-02T09:00:30Z\"}}",
	      &ev[2]);
	for (int i = 0; i < 3; i++)
		ev[i].inserted = 1;
	job.project_pk = 1;
	job.ev = ev;
	job.n = 3;
	CHECK(otas__rollup_build_tags(&job, &rows, &n) == 0);
	/* (a: 2 events, b: 1) x minute, hour, day */
	CHECK_INT(n, 6);
	for (size_t i = 0; i < n; i++) {
		CHECK(rows[i].tag != NULL);
		CHECK_INT(rows[i].n, strcmp(rows[i].tag, "a") == 0 ? 2 : 1);
		if (i)
			CHECK(rows[i - 1].res_s < rows[i].res_s ||
			      strcmp(rows[i - 1].tag, rows[i].tag) < 0);
	}
	free(rows);
	/* a duplicate adds nothing */
	ev[1].inserted = 0;
	CHECK(otas__rollup_build_tags(&job, &rows, &n) == 0);
	CHECK_INT(n, 6);
	for (size_t i = 0; i < n; i++)
		CHECK_INT(rows[i].n, 1);
	free(rows);
	/* the untagged rows are unchanged: one key, all three events */
	ev[1].inserted = 1;
	CHECK(otas__rollup_build(&job, &rows, &n) == 0);
	CHECK_INT(n, 3);
	CHECK_INT(rows[0].n, 3);
	CHECK(rows[0].tag == NULL);
	free(rows);
	for (int i = 0; i < 3; i++)
		otas__event_clear(&ev[i]);
}

TEST(people_rows_per_tag_and_from_stored)
{
	const char *doc = EV ",\"error\":\"ValueError: x\",\"metadata\":{"
	                     "\"tags\":[\"t1\",\"t2\"],\"user_id\":\"u1\","
	                     "\"company_id\":\"c1\"}}";
	otas__stored_event_t s = {doc, strlen(doc), 1772442000000000LL,
	                          "GET", "/a", "/a", "ev-1", "agent-1", NULL,
	                          500, 1, 3.0};
	otas__event_t ev;
	otas__store_job_t job = {0};
	otas__people_agg_t *rows;
	size_t n, kinds[4] = {0};

	CHECK(otas__event_from_stored(&ev, &s) == 0);
	CHECK_INT(ev.n_tags, 2);
	CHECK_INT(ev.status, 500);
	CHECK_STR(ev.agent_id, "agent-1");
	CHECK_STR(ev.user_id, "u1");
	CHECK(ev.inserted);
	job.project_pk = 1;
	job.ev = &ev;
	job.n = 1;
	CHECK(otas__people_build_tags(&job, &rows, &n) == 0);
	/* user, company, agent, error group x hour, day x 2 tags */
	CHECK_INT(n, 16);
	for (size_t i = 0; i < n; i++) {
		CHECK(rows[i].tag && (!strcmp(rows[i].tag, "t1") ||
		                      !strcmp(rows[i].tag, "t2")));
		CHECK_INT(rows[i].n, 1);
		kinds[rows[i].company]++;
		if (rows[i].company == OTAS__PEOPLE_AGENT)
			CHECK_STR(rows[i].id, "agent-1\t\tGET\t/a");
		if (rows[i].company == OTAS__PEOPLE_ERROR)
			CHECK_STR(rows[i].company_id, "ev-1");
	}
	for (int k = 0; k < 4; k++)
		CHECK_INT(kinds[k], 4);
	free(rows);
	otas__event_clear(&ev);
	/* a document without the fields the columns hold (one not stored
	 * by ingest) still names its tags */
	s.doc = "{\"metadata\":{\"tags\":\"t3\",\"user_id\":\"u2\"}}";
	s.doc_len = strlen(s.doc);
	CHECK(otas__event_from_stored(&ev, &s) == 0);
	CHECK_INT(ev.n_tags, 1);
	CHECK_STR(ev.tags, "t3");
	CHECK_STR(ev.user_id, "u2");
	CHECK_STR(ev.method, "GET");
	CHECK(ev.reject == NULL);
	otas__event_clear(&ev);
	/* a document that does not parse */
	s.doc = "{";
	s.doc_len = 1;
	CHECK(otas__event_from_stored(&ev, &s) == -1);
	CHECK(ev.tags == NULL);
}

int
main(void)
{
	RUN(tags_as_the_raw_filter_reads_them);
	RUN(long_tags_left_out);
	RUN(rollup_rows_per_tag);
	RUN(people_rows_per_tag_and_from_stored);
	return testlib_done();
}
