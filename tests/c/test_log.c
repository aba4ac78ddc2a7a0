/*
 * test_log.c -- log/: the host's callback, its minimum level, and the
 * DEBUG event line that never shows an agent token.
 */
#include <string.h>

#include "log/log.h"
#include "testlib.h"

static char g_last[1024];
static int g_level, g_calls;

static void
sink(otas_log_level_t level, const char *msg, void *ud)
{
	(void)ud;
	g_level = level;
	g_calls++;
	snprintf(g_last, sizeof(g_last), "%s", msg);
}

TEST(level_and_format)
{
	otas__logger_t lg = {sink, NULL, OTAS_LOG_WARNING};

	g_calls = 0;
	otas__logf(&lg, OTAS_LOG_INFO, "not %d", 1);
	CHECK_INT(g_calls, 0);
	otas__logf(&lg, OTAS_LOG_ERROR, "otas: %s %d", "x", 2);
	CHECK_INT(g_calls, 1);
	CHECK_INT(g_level, OTAS_LOG_ERROR);
	CHECK_STR(g_last, "otas: x 2");
	CHECK(otas__log_on(&lg, OTAS_LOG_WARNING));
	CHECK(!otas__log_on(&lg, OTAS_LOG_DEBUG));
	lg.fn = NULL; /* no callback: nothing, no crash */
	otas__logf(&lg, OTAS_LOG_ERROR, "gone");
	CHECK_INT(g_calls, 1);
	otas__logf(NULL, OTAS_LOG_ERROR, "gone");
	CHECK_INT(g_calls, 1);
}

TEST(event_line_redacts_every_token_copy)
{
	otas__logger_t lg = {sink, NULL, OTAS_LOG_DEBUG};
	const char *js = "{\"t\":\"tok-123\",\"u\":\"/x?tok-123\"}";

	g_calls = 0;
	otas__log_event(&lg, "otas: event ", js, strlen(js), "tok-123", 7);
	CHECK_INT(g_calls, 1);
	CHECK_INT(g_level, OTAS_LOG_DEBUG);
	CHECK_STR(g_last,
	          "otas: event {\"t\":\"[REDACTED]\",\"u\":\"/x?[REDACTED]\"}");
	lg.min = OTAS_LOG_INFO; /* DEBUG off: not even formatted */
	otas__log_event(&lg, "otas: event ", js, strlen(js), "tok-123", 7);
	CHECK_INT(g_calls, 1);
}

int
main(void)
{
	RUN(level_and_format);
	RUN(event_line_redacts_every_token_copy);
	return testlib_done();
}
