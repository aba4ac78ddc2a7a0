/*
 * test_engine.c -- the public calls of engine.c as a host sees them: one
 * return convention (0 is success), struct_size on the public structs (an
 * older host's shorter struct is read and written only within its size),
 * the OTAS_DEBUG start-up line, and otas_stats() generated from
 * OTAS_STATS_FIELDS.
 *
 * The shorter structs are malloc'd at exactly their size, so an engine
 * that reads or writes past struct_size is caught by the ASan build
 * (make asan).
 *
 * otas_engine_stop(): delivery until the deadline, the rest spooled, the
 * engine still allocated -- also from an exit(3) handler, where libcrypto
 * (which seals the spool) must still be there.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "otas/otas.h"
#include "testlib.h"
#include "thread_status.h"

#define KEY "otas_PocKPi56xDI_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"

/* An engine sending to url with no spool. */
static otas_engine_t *
mk_at(const char *url)
{
	otas_config_t *c = otas_config_new();
	char err[256];

	if (!c)
		return NULL;
	if (otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err)) != 0 ||
	    otas_config_set(c, "OTAS_BASE_URL", url, err, sizeof(err)) != 0 ||
	    otas_config_set(c, "OTAS_SPOOL_MAX_BYTES", "0", err,
	                    sizeof(err)) != 0) {
		otas_config_free(c);
		return NULL;
	}
	return otas_engine_new(c, err, sizeof(err));
}

/* An engine whose sender cannot authenticate (nothing listens on port 9)
 * and has no spool: what is captured stays queued. */
static otas_engine_t *
mk(void)
{
	return mk_at("http://127.0.0.1:9");
}

static void
fill(otas_capture_t *c)
{
	c->method = "GET";
	c->method_len = 3;
	c->path = "/old";
	c->path_len = 4;
	c->status = 200;
	c->req_body_size = -1;
	c->resp_body_size = -1;
}

/* An engine like mk()'s, but with a spool in dir. */
static otas_engine_t *
mk_spool(const char *dir)
{
	otas_config_t *c = otas_config_new();
	char err[256];

	if (!c)
		return NULL;
	if (otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err)) != 0 ||
	    otas_config_set(c, "OTAS_BASE_URL", "http://127.0.0.1:9", err,
	                    sizeof(err)) != 0 ||
	    otas_config_set(c, "OTAS_FLUSH_INTERVAL_MS", "60000", err,
	                    sizeof(err)) != 0 ||
	    otas_config_set(c, "OTAS_SPOOL_DIR", dir, err, sizeof(err)) != 0) {
		otas_config_free(c);
		return NULL;
	}
	return otas_engine_new(c, err, sizeof(err));
}

/* rm -r of a spool directory (files only, one level). */
static void
rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	if (d) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.') {
				snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
				unlink(p);
			}
		closedir(d);
	}
	rmdir(dir);
}

static otas_engine_t *g_exit_eng;
static int g_exit_fd = -1;

/* As the binding's exit_flush(): registered after otas_engine_new(). */
static void
exit_stop(void)
{
	otas_stats_t st = OTAS_STATS_INIT;
	long long out[2];

	out[0] = otas_engine_stop(g_exit_eng, 3000);
	otas_stats(g_exit_eng, &st);
	out[1] = (long long)st.spooled;
	if (write(g_exit_fd, out, sizeof(out)) != (ssize_t)sizeof(out))
		_exit(3);
}

/* First in main(): the child must be the first in the process to touch
 * libcrypto (through otas_engine_new()), so that nothing registered its
 * clean-up before the test's handler. */
TEST(stop_from_an_exit_handler_spools)
{
	char dir[] = "/tmp/otas-test-engine-XXXXXX";
	int fds[2], status = 0;
	long long got[2] = {-1, -1};
	pid_t pid;

	CHECK(mkdtemp(dir));
	CHECK(pipe(fds) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		otas_capture_t c = OTAS_CAPTURE_INIT;
		int i;

		close(fds[0]);
		g_exit_fd = fds[1];
		g_exit_eng = mk_spool(dir);
		if (!g_exit_eng || atexit(exit_stop) != 0)
			_exit(2);
		fill(&c);
		for (i = 0; i < 3; i++)
			if (otas_capture(g_exit_eng, &c, NULL) != OTAS_OK)
				_exit(2);
		exit(0); /* the engine is never freed: exit_stop() runs */
	}
	close(fds[1]);
	CHECK(read(fds[0], got, sizeof(got)) == (ssize_t)sizeof(got));
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_INT((int)got[0], OTAS_OK);
	CHECK_INT((int)got[1], 3);
	rm_dir(dir);
}

TEST(stop_spools_what_it_cannot_deliver_and_frees_nothing)
{
	char dir[] = "/tmp/otas-test-engine-XXXXXX";
	otas_engine_t *e;
	otas_capture_t c = OTAS_CAPTURE_INIT;
	otas_stats_t st = OTAS_STATS_INIT;
	int i;

	CHECK(mkdtemp(dir));
	e = mk_spool(dir);
	CHECK(e);
	CHECK_INT(otas_engine_stop(NULL, 100), OTAS_OK);
	fill(&c);
	for (i = 0; i < 3; i++)
		CHECK_INT(otas_capture(e, &c, NULL), OTAS_OK);
	/* nothing listens: authentication fails once, all goes to the spool */
	CHECK_INT(otas_engine_stop(e, 2000), OTAS_OK);
	otas_stats(e, &st);
	CHECK_INT(st.spooled, 3);
	CHECK_INT(st.queue_events, 0);
	CHECK_INT(st.dropped_shutdown, 0);
	/* still usable for the calls that do not send: a second stop is a
	 * no-op; a capture after it is queued, never sent, and counted lost
	 * when the engine is freed */
	CHECK_INT(otas_engine_stop(e, 100), OTAS_OK);
	CHECK_INT(otas_capture(e, &c, NULL), OTAS_OK);
	CHECK_INT(otas_engine_stop(e, 100), OTAS_DROPPED);
	otas_stats(e, &st);
	CHECK_INT(st.captured, 4);
	otas_engine_free(e, 0);
	rm_dir(dir);
}

/* Two threads stop one engine at once while its sender hangs on a back
 * end that accepts and never answers: a thread is joined once, so the
 * second stop waits for the first and both return by the deadline. */
struct stopper {
	otas_engine_t *e;
	pthread_barrier_t *go;
	otas_result_t rc;
	double took;
};

static void *
stop_thread(void *arg)
{
	struct stopper *s = arg;
	struct timespec a, b;

	pthread_barrier_wait(s->go);
	clock_gettime(CLOCK_MONOTONIC, &a);
	s->rc = otas_engine_stop(s->e, 1500);
	clock_gettime(CLOCK_MONOTONIC, &b);
	s->took = (double)(b.tv_sec - a.tv_sec) +
	          (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	return NULL;
}

TEST(two_threads_stop_at_once)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	otas_capture_t cap = OTAS_CAPTURE_INIT;
	pthread_barrier_t go;
	pthread_t t[2];
	struct stopper st[2];
	char url[64];
	otas_engine_t *e;
	int fd, i;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(fd, 16) == 0); /* the kernel accepts; nobody answers */
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	e = mk_at(url);
	CHECK(e);
	fill(&cap);
	CHECK_INT(otas_capture(e, &cap, NULL), OTAS_OK);
	pthread_barrier_init(&go, NULL, 2);
	for (i = 0; i < 2; i++) {
		st[i].e = e;
		st[i].go = &go;
		CHECK(pthread_create(&t[i], NULL, stop_thread, &st[i]) == 0);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < 2; i++) {
		CHECK(st[i].took < 5.0);
		/* the event could be neither delivered nor spooled */
		CHECK_INT(st[i].rc, OTAS_DROPPED);
	}
	otas_engine_free(e, 0);
	close(fd);
}

TEST(results_are_zero_on_success)
{
	otas_engine_t *e = mk();
	otas_capture_t c = OTAS_CAPTURE_INIT;

	CHECK(e);
	CHECK_INT(OTAS_OK, 0);
	CHECK_INT(OTAS_AUTH_OK, 0);
	fill(&c);
	CHECK_INT(otas_capture(e, &c, NULL), OTAS_OK);
	CHECK_INT(otas_capture(NULL, &c, NULL), OTAS_EINVAL);
	CHECK_INT(otas_entity(e, OTAS_ENTITY_USER, "{\"user_id\":\"u\"}", 15),
	          OTAS_OK);
	CHECK_INT(otas_entity(e, (otas_entity_kind_t)9, "{}", 2), OTAS_EINVAL);
	/* nothing can be delivered: the deadline passes first */
	CHECK_INT(otas_flush(e, 50), OTAS_TIMEOUT);
	CHECK_INT(otas_flush(NULL, 50), OTAS_OK);
	/* the predicates answer 1 / 0 */
	CHECK_INT(otas_should_capture(e, "GET", 3, "/x", 2), 1);
	CHECK_INT(otas_should_capture(NULL, "GET", 3, "/x", 2), 0);
	CHECK_INT(otas_want_request_body(e, "application/json", 16, 10), 1);
	CHECK_INT(otas_want_request_body(e, "multipart/form-data", 19, 10), 0);
	otas_engine_free(e, 0);
}

TEST(capture_needs_a_struct_size)
{
	otas_engine_t *e = mk();
	otas_capture_t c;

	CHECK(e);
	memset(&c, 0, sizeof(c)); /* no otas_capture_init(): size 0 */
	fill(&c);
	CHECK_INT(otas_capture(e, &c, NULL), OTAS_EINVAL);
	c.struct_size = sizeof(size_t); /* not even the flags */
	CHECK_INT(otas_capture(e, &c, NULL), OTAS_EINVAL);
	{ /* the loss is visible in the counters, not only in the code */
		otas_stats_t st = OTAS_STATS_INIT;
		otas_stats(e, &st);
		CHECK_INT((int)st.dropped_capture_error, 2);
		CHECK_INT((int)st.captured, 0);
	}
	otas_engine_free(e, 0);
}

/* A host built when otas_capture_t ended before `errors`: the engine reads
 * only its bytes and treats the rest (errors, identity, event id) as
 * unset. */
TEST(older_shorter_capture_struct_is_read_within_its_size)
{
	otas_engine_t *e = mk();
	size_t old = offsetof(otas_capture_t, errors);
	unsigned char *c = malloc(old);
	otas_capture_t full;
	otas_stats_t st = OTAS_STATS_INIT;
	char id[37];

	CHECK(e && c);
	otas_capture_init(&full);
	fill(&full);
	full.struct_size = old;
	memcpy(c, &full, old); /* the old host's bytes, nothing after */
	full.struct_size = sizeof(full);
	CHECK_INT(otas_capture(e, (const otas_capture_t *)(void *)c, id),
	          OTAS_OK);
	CHECK_INT(strlen(id), 36);
	/* a newer host's longer struct: the tail is ignored */
	CHECK_INT(otas_capture(e, &full, NULL), OTAS_OK);
	otas_stats(e, &st);
	CHECK_INT(st.captured, 2);
	CHECK_INT(st.queue_events, 2);
	free(c);
	otas_engine_free(e, 0);
}

/* otas_stats_t as a host built when it ended before dropped_queue_full
 * declared it. */
typedef struct {
	size_t struct_size;
	uint64_t captured, sent, batches, bytes_sent, retried, spooled,
	    unspooled, duplicates;
} old_stats_t;

/* otas_auth_result_t of a host that knew only the status fields. */
typedef struct {
	size_t struct_size;
	otas_auth_status_t status;
	int http_status;
} old_auth_result_t;

/* A host built with old_stats_t: only its bytes are written, struct_size
 * stays. */
TEST(older_shorter_stats_struct_is_written_within_its_size)
{
	otas_engine_t *e = mk();
	size_t old = sizeof(old_stats_t);
	old_stats_t *st = malloc(old);
	unsigned char *big = malloc(sizeof(otas_stats_t) + 64);
	otas_capture_t c = OTAS_CAPTURE_INIT;
	size_t i;

	CHECK(e && st && big);
	CHECK_INT(old, offsetof(otas_stats_t, dropped_queue_full));
	fill(&c);
	CHECK_INT(otas_capture(e, &c, NULL), OTAS_OK);
	memset(st, 0xAA, old);
	st->struct_size = old;
	otas_stats(e, (otas_stats_t *)(void *)st);
	CHECK_INT(st->struct_size, old);
	CHECK_INT(st->captured, 1);
	CHECK_INT(st->sent, 0);
	CHECK_INT(st->duplicates, 0);
	/* a newer host's longer struct: ours filled, the rest untouched */
	memset(big, 0xAA, sizeof(otas_stats_t) + 64);
	((otas_stats_t *)big)->struct_size = sizeof(otas_stats_t) + 64;
	otas_stats(e, (otas_stats_t *)big);
	CHECK_INT(((otas_stats_t *)big)->captured, 1);
	CHECK_INT(((otas_stats_t *)big)->queue_events, 1);
	for (i = sizeof(otas_stats_t); i < sizeof(otas_stats_t) + 64; i++)
		CHECK_INT(big[i], 0xAA);
	/* size 0: nothing is written */
	memset(st, 0xAA, old);
	st->struct_size = 0;
	otas_stats(e, (otas_stats_t *)(void *)st);
	CHECK_INT(st->captured, 0xAAAAAAAAAAAAAAAAull);
	free(st);
	free(big);
	otas_engine_free(e, 0);
}

TEST(older_shorter_auth_result_is_written_within_its_size)
{
	size_t old = sizeof(old_auth_result_t);
	old_auth_result_t *r = malloc(old);
	otas_auth_result_t full = OTAS_AUTH_RESULT_INIT;

	CHECK(r);
	CHECK(old <= offsetof(otas_auth_result_t, message));
	memset(r, 0xAA, old);
	r->struct_size = old;
	CHECK_INT(otas_authenticate_key("http://127.0.0.1:9", KEY, 500,
	                                (otas_auth_result_t *)(void *)r),
	          OTAS_AUTH_UNREACHABLE);
	CHECK_INT(r->struct_size, old);
	CHECK_INT(r->status, OTAS_AUTH_UNREACHABLE);
	CHECK_INT(r->http_status, 0);
	CHECK_INT(otas_authenticate_key("http://127.0.0.1:9", "", 500, &full),
	          OTAS_AUTH_CONFIG);
	CHECK(strstr(full.message, "OTAS_SDK_KEY") != NULL);
	CHECK_INT(otas_authenticate_key("http://127.0.0.1:9", "", 500, NULL),
	          OTAS_AUTH_CONFIG);
	free(r);
}

static char g_lines[8192];
static int g_n;

static void
keep(otas_log_level_t level, const char *msg, void *ud)
{
	(void)ud;
	if (level == OTAS_LOG_DEBUG && strncmp(msg, "otas: start", 11) == 0) {
		snprintf(g_lines, sizeof(g_lines), "%s", msg);
		g_n++;
	}
}

TEST(debug_logger_gets_one_start_up_line_without_secrets)
{
	otas_engine_t *e = mk();

	CHECK(e);
	g_n = 0;
	otas_set_logger(e, keep, NULL, OTAS_LOG_WARNING);
	CHECK_INT(g_n, 0);
	otas_set_logger(e, keep, NULL, OTAS_LOG_DEBUG);
	CHECK_INT(g_n, 1);
	CHECK(strncmp(g_lines, "otas: start (pid ", 17) == 0);
	CHECK(strstr(g_lines, "OTAS_SDK_KEY='***'") != NULL);
	CHECK(strstr(g_lines, "OTAS_BASE_URL='http://127.0.0.1:9'") != NULL);
	CHECK(strstr(g_lines, "OTAS_SPOOL_MAX_BYTES='0'") != NULL);
	CHECK(strstr(g_lines, "abcdefghijklmnop") == NULL);
	otas_set_logger(e, NULL, NULL, OTAS_LOG_DEBUG);
	otas_engine_free(e, 0);
}

/* The blocked-signal mask of the thread named `name` (signals 1..63); -1
 * if no such thread. */
static long long
thread_sigblk(const char *name)
{
	return thread_status(name, "SigBlk:", 16);
}

#define SIGBIT(n) (1LL << ((n) - 1))

TEST(sender_thread_leaves_the_hosts_signals_to_the_host)
{
	otas_engine_t *e = mk();
	long long blk;

	otas_capture_t c = OTAS_CAPTURE_INIT;
	int i;

	CHECK(e);
	/* a flush with something queued starts the sender thread (nothing
	 * can be delivered: it times out) */
	fill(&c);
	CHECK_INT(otas_capture(e, &c, NULL), OTAS_OK);
	CHECK_INT(otas_flush(e, 20), OTAS_TIMEOUT);
	/* the thread names itself first thing: poll, with a deadline */
	for (i = 0; i < 200 && (blk = thread_sigblk("otas-sender")) < 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	CHECK(blk >= 0); /* the thread is there, and named */
	CHECK((blk & SIGBIT(SIGINT)) != 0);
	CHECK((blk & SIGBIT(SIGTERM)) != 0);
	CHECK((blk & SIGBIT(SIGHUP)) != 0);
	CHECK((blk & SIGBIT(SIGQUIT)) != 0);
	CHECK((blk & SIGBIT(SIGUSR1)) != 0);
	CHECK((blk & SIGBIT(SIGCHLD)) != 0);
	/* faults still reach the faulting thread */
	CHECK((blk & SIGBIT(SIGSEGV)) == 0);
	CHECK((blk & SIGBIT(SIGBUS)) == 0);
	CHECK((blk & SIGBIT(SIGABRT)) == 0);
	otas_engine_free(e, 0);
}

static void
sleep_us(long us)
{
	struct timespec ts = {us / 1000000, us % 1000000 * 1000};
	nanosleep(&ts, NULL);
}

/* While authentication fails and nothing can go to the spool (none here:
 * OTAS_SPOOL_MAX_BYTES=0), the parked sender can do nothing with what is
 * captured until its next attempt, so captures do not wake it: not one
 * wake-up per request once the park threshold (100 records) is passed
 * (docs/sender.md, "Back end down": "never once per request").  Counted
 * as the sender thread's voluntary context switches (one per sleep). */
static otas_engine_t *g_wake_e;
static otas_capture_t *g_wake_c;

static void
capture_one(void *arg)
{
	(void)arg;
	CHECK_INT(otas_capture(g_wake_e, g_wake_c, NULL), OTAS_OK);
}

TEST(parked_sender_without_spool_is_not_woken_per_capture)
{
	otas_engine_t *e = mk();
	otas_capture_t c = OTAS_CAPTURE_INIT;
	otas_stats_t st = OTAS_STATS_INIT;
	long long woke;
	int i;

	CHECK(e);
	if (!e)
		return;
	fill(&c);
	/* the first record starts the sender, which tries to authenticate
	 * at once (nothing listens on port 9) and parks */
	CHECK_INT(otas_capture(e, &c, NULL), OTAS_OK);
	for (i = 0; i < 500; i++) {
		otas_stats(e, &st);
		if (st.last_error[0])
			break;
		sleep_us(10000);
	}
	CHECK(st.last_error[0] != '\0');
	sleep_us(50000); /* back in its wait */
	g_wake_e = e;
	g_wake_c = &c;
	woke = sender_wakeups(capture_one, NULL, 400);
	otas_stats(e, &st);
	CHECK_INT(st.queue_events, 401);
	/* a timed look (flush interval, next attempt) or two, not ~300 */
	if (woke >= 40)
		fprintf(stderr, "  sender woke %lld times for 400 captures\n",
		        woke);
	CHECK(woke >= 0 && woke < 40);
	otas_engine_free(e, 0);
}

int
main(void)
{
	RUN(stop_from_an_exit_handler_spools); /* first: see there */
	RUN(stop_spools_what_it_cannot_deliver_and_frees_nothing);
	RUN(two_threads_stop_at_once);
	RUN(results_are_zero_on_success);
	RUN(capture_needs_a_struct_size);
	RUN(older_shorter_capture_struct_is_read_within_its_size);
	RUN(older_shorter_stats_struct_is_written_within_its_size);
	RUN(older_shorter_auth_result_is_written_within_its_size);
	RUN(debug_logger_gets_one_start_up_line_without_secrets);
	RUN(sender_thread_leaves_the_hosts_signals_to_the_host);
	RUN(parked_sender_without_spool_is_not_woken_per_capture);
	return testlib_done();
}
