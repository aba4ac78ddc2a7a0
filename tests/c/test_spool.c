/*
 * test_spool.c -- the disk spool (engine/spool/spool.c) against real SQLite files
 * in temporary directories, including several real processes sharing one.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "spool/spool.h"
#include "spool_v1.h"
#include "testlib.h"

static char tmpdir[64];

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* A fresh directory per test; the previous one is removed. */
static const char *
fresh_dir(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/otas-spool-XXXXXX");
	if (!mkdtemp(tmpdir))
		return NULL;
	return tmpdir;
}

static void
spool_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", tmpdir, name);
}

static otas__spool_t *
open_ok(const char *path, int64_t max)
{
	char err[512];
	otas__spool_t *sp = otas__spool_open(path, max, err, sizeof(err));

	if (!sp)
		fprintf(stderr, "  open failed: %s\n", err);
	else if (err[0])
		fprintf(stderr, "  open notice: %s\n", err);
	return sp;
}

static int
put_str(otas__spool_t *sp, const char *s, uint32_t n, uint64_t *ev)
{
	char err[256];
	int r = otas__spool_put(sp, s, strlen(s), n, ev, err, sizeof(err));

	if (r != 0)
		fprintf(stderr, "  put: %s\n", err);
	return r;
}

static int
put_len(otas__spool_t *sp, size_t len, char fill, uint32_t n, uint64_t *ev)
{
	char *p = malloc(len ? len : 1);
	char err[256];
	int r;

	if (!p)
		return -1;
	memset(p, fill, len);
	r = otas__spool_put(sp, p, len, n, ev, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "  put: %s\n", err);
	free(p);
	return r;
}

/* Count directory entries whose name starts with `prefix`. */
static int
count_prefix(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* ------------------------------------------------------------------ */

TEST(spool_fifo_claim_delete)
{
	char path[256], err[256];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	int64_t id1, id2, id3, id, nb, ne, nbytes;
	uint32_t n;
	uint64_t ev = 99;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	sp = otas__spool_open(path, 1 << 20, err, sizeof(err));
	CHECK(sp);
	CHECK_STR(err, "");
	CHECK_INT(otas__spool_claim(sp, 60000, &id, &b, &n), 0);
	CHECK_INT(put_str(sp, "{\"a\":1}", 1, &ev), 0);
	CHECK_INT(ev, 0);
	CHECK_INT(put_str(sp, "{\"b\":1}\n{\"b\":2}", 2, NULL), 0);
	CHECK_INT(put_str(sp, "{\"c\":1}\n{\"c\":2}\n{\"c\":3}", 3, NULL), 0);
	CHECK_INT(otas__spool_count(sp, &nb, &ne, &nbytes), 0);
	CHECK_INT(nb, 3);
	CHECK_INT(ne, 6);
	CHECK_INT(nbytes, 7 + 15 + 23);

	CHECK_INT(otas__spool_claim(sp, 60000, &id1, &b, &n), 1);
	CHECK_STR(b.data, "{\"a\":1}");
	CHECK_INT(n, 1);
	otas__buf_reset(&b);
	CHECK_INT(otas__spool_claim(sp, 60000, &id2, &b, &n), 1);
	CHECK_STR(b.data, "{\"b\":1}\n{\"b\":2}");
	CHECK_INT(n, 2);
	otas__buf_reset(&b);
	CHECK_INT(otas__spool_claim(sp, 60000, &id3, &b, &n), 1);
	CHECK_STR(b.data, "{\"c\":1}\n{\"c\":2}\n{\"c\":3}");
	CHECK_INT(n, 3);
	CHECK(id1 < id2 && id2 < id3);
	/* All leased: nothing more to claim, but all still counted. */
	otas__buf_reset(&b);
	CHECK_INT(otas__spool_claim(sp, 60000, &id, &b, &n), 0);
	CHECK_INT(b.len, 0);
	CHECK_INT(otas__spool_count(sp, &nb, NULL, NULL), 0);
	CHECK_INT(nb, 3);

	CHECK_INT(otas__spool_delete(sp, id2), 0);
	CHECK_INT(otas__spool_delete(sp, id1), 0);
	CHECK_INT(otas__spool_delete(sp, id3), 0);
	CHECK_INT(otas__spool_delete(sp, id3), 0); /* gone: not an error */
	CHECK_INT(otas__spool_count(sp, &nb, &ne, &nbytes), 0);
	CHECK_INT(nb, 0);
	CHECK_INT(ne, 0);
	CHECK_INT(nbytes, 0);
	otas__buf_free(&b);
	otas__spool_close(sp);
}

TEST(spool_release_makes_claimable)
{
	char path[256];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	int64_t id, id2;
	uint32_t n;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 4096)));
	CHECK_INT(put_str(sp, "one", 1, NULL), 0);
	CHECK_INT(put_str(sp, "two", 1, NULL), 0);
	CHECK_INT(otas__spool_claim(sp, 60000, &id, &b, &n), 1);
	CHECK_STR(b.data, "one");
	CHECK_INT(otas__spool_release(sp, id), 0);
	/* Released: the oldest batch comes back first. */
	otas__buf_reset(&b);
	CHECK_INT(otas__spool_claim(sp, 60000, &id2, &b, &n), 1);
	CHECK_INT(id2, id);
	CHECK_STR(b.data, "one");
	otas__buf_free(&b);
	otas__spool_close(sp);
}

TEST(spool_lease_expires)
{
	char path[256];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	int64_t id, id2 = -1, deadline;
	uint32_t n;
	int r;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 4096)));
	CHECK_INT(put_str(sp, "x", 1, NULL), 0);
	CHECK_INT(otas__spool_claim(sp, 100, &id, &b, &n), 1);
	CHECK_INT(otas__spool_claim(sp, 100, &id2, &b, &n), 0);
	/* Poll until the 100 ms lease runs out (deadline 5 s). */
	deadline = mono_ms() + 5000;
	do {
		struct timespec ts = {0, 5 * 1000 * 1000};

		r = otas__spool_claim(sp, 60000, &id2, &b, &n);
		if (r != 0)
			break;
		nanosleep(&ts, NULL);
	} while (mono_ms() < deadline);
	CHECK_INT(r, 1);
	CHECK_INT(id2, id);
	otas__buf_free(&b);
	otas__spool_close(sp);
}

TEST(spool_bound_evicts_oldest_exactly)
{
	char path[256];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	int64_t id, nb, ne, nbytes;
	uint32_t n;
	uint64_t ev;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 1000)));
	CHECK_INT(put_len(sp, 300, 'a', 1, &ev), 0);
	CHECK_INT(ev, 0);
	CHECK_INT(put_len(sp, 300, 'b', 2, &ev), 0);
	CHECK_INT(put_len(sp, 300, 'c', 3, &ev), 0);
	CHECK_INT(ev, 0);
	/* 900 + 300 > 1000: the oldest (1 event) goes. */
	CHECK_INT(put_len(sp, 300, 'd', 4, &ev), 0);
	CHECK_INT(ev, 1);
	CHECK_INT(otas__spool_count(sp, &nb, &ne, &nbytes), 0);
	CHECK_INT(nb, 3);
	CHECK_INT(ne, 2 + 3 + 4);
	CHECK_INT(nbytes, 900);
	/* 900 + 500 > 1000: two oldest (b: 2, c: 3) go. */
	CHECK_INT(put_len(sp, 500, 'e', 5, &ev), 0);
	CHECK_INT(ev, 5);
	CHECK_INT(otas__spool_count(sp, &nb, &ne, &nbytes), 0);
	CHECK_INT(nb, 2);
	CHECK_INT(ne, 9);
	CHECK_INT(nbytes, 800);
	/* Exactly full is allowed. */
	CHECK_INT(put_len(sp, 200, 'f', 6, &ev), 0);
	CHECK_INT(ev, 0);
	CHECK_INT(otas__spool_count(sp, NULL, NULL, &nbytes), 0);
	CHECK_INT(nbytes, 1000);

	/* Lease the oldest (d): eviction skips it and takes e first. */
	CHECK_INT(otas__spool_claim(sp, 60000, &id, &b, &n), 1);
	CHECK_INT(n, 4);
	CHECK_INT(b.data[0], 'd');
	CHECK_INT(put_len(sp, 100, 'g', 7, &ev), 0);
	CHECK_INT(ev, 5);
	CHECK_INT(otas__spool_count(sp, &nb, &ne, &nbytes), 0);
	CHECK_INT(nb, 3); /* d (leased), f, g */
	CHECK_INT(ne, 4 + 6 + 7);
	CHECK_INT(nbytes, 300 + 200 + 100);
	/* 600 + 900: free f and g are not enough; leased d goes too. */
	CHECK_INT(put_len(sp, 900, 'h', 8, &ev), 0);
	CHECK_INT(ev, 6 + 7 + 4);
	CHECK_INT(otas__spool_count(sp, &nb, &ne, &nbytes), 0);
	CHECK_INT(nb, 1);
	CHECK_INT(ne, 8);
	CHECK_INT(nbytes, 900);
	/* The evicted lease's owner deletes it later: no error. */
	CHECK_INT(otas__spool_delete(sp, id), 0);
	CHECK_INT(otas__spool_release(sp, id), 0);
	otas__buf_free(&b);
	otas__spool_close(sp);
}

TEST(spool_oversized_batch_refused)
{
	char path[256], err[256];
	otas__spool_t *sp;
	int64_t nb, nbytes;
	uint64_t ev = 7;
	char *big;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 1000)));
	CHECK_INT(put_len(sp, 400, 'a', 1, NULL), 0);
	big = calloc(1, 1001);
	CHECK(big);
	err[0] = '\0';
	CHECK_INT(otas__spool_put(sp, big, 1001, 10, &ev, err, sizeof(err)),
	          -1);
	free(big);
	CHECK_INT(ev, 0);
	CHECK(strstr(err, "exceeds") != NULL);
	/* Nothing was evicted for it. */
	CHECK_INT(otas__spool_count(sp, &nb, NULL, &nbytes), 0);
	CHECK_INT(nb, 1);
	CHECK_INT(nbytes, 400);
	/* max_bytes on its own fits, evicting everything else. */
	CHECK_INT(put_len(sp, 1000, 'b', 3, &ev), 0);
	CHECK_INT(ev, 1);
	otas__spool_close(sp);
}

TEST(spool_reopen_keeps_data)
{
	char path[256];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	int64_t id, nb, ne;
	uint32_t n;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 1 << 20)));
	CHECK_INT(put_str(sp, "first", 2, NULL), 0);
	CHECK_INT(put_str(sp, "second", 3, NULL), 0);
	/* A lease held at close is ours: reopening in the same pid ends it. */
	CHECK_INT(otas__spool_claim(sp, 60000, &id, &b, &n), 1);
	otas__spool_close(sp);

	CHECK((sp = open_ok(path, 1 << 20)));
	CHECK_INT(otas__spool_count(sp, &nb, &ne, NULL), 0);
	CHECK_INT(nb, 2);
	CHECK_INT(ne, 5);
	otas__buf_reset(&b);
	CHECK_INT(otas__spool_claim(sp, 60000, &id, &b, &n), 1);
	CHECK_STR(b.data, "first");
	CHECK_INT(n, 2);
	otas__buf_free(&b);
	otas__spool_close(sp);
}

/* Each child puts M batches "c<k>-<i>", and claims/deletes whatever it can
 * between puts, writing what it delivered to its pipe as one line each. */
#define NCHILD 4
#define MPUT 60

static void
child_worker(const char *path, int k, int wfd)
{
	char err[256], line[64], payload[32];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	int64_t id;
	uint32_t n;
	int r, bad = 0;

	sp = otas__spool_open(path, 64 << 20, err, sizeof(err));
	if (!sp) {
		fprintf(stderr, "  child %d: open: %s\n", k, err);
		_exit(10);
	}
	for (int i = 0; i < MPUT; i++) {
		snprintf(payload, sizeof(payload), "c%d-%d", k, i);
		if (otas__spool_put(sp, payload, strlen(payload), 1, NULL, err,
		                    sizeof(err)) != 0)
			bad = 11;
		for (int j = 0; j < 2; j++) {
			otas__buf_reset(&b);
			r = otas__spool_claim(sp, 60000, &id, &b, &n);
			if (r < 0)
				bad = 12;
			if (r != 1)
				break;
			int len = snprintf(line, sizeof(line), "%s\n", b.data);
			if (write(wfd, line, (size_t)len) != len)
				bad = 13;
			if (otas__spool_delete(sp, id) != 0)
				bad = 14;
		}
	}
	otas__buf_free(&b);
	otas__spool_close(sp);
	_exit(bad);
}

static int
read_all(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t r;

	while ((r = read(fd, buf + *len, cap - 1 - *len)) > 0)
		*len += (size_t)r;
	buf[*len] = '\0';
	return r < 0 ? -1 : 0;
}

TEST(spool_multiprocess_exactly_once)
{
	char path[256], *out;
	static int seen[NCHILD][MPUT];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	size_t len = 0, cap = 1 << 20;
	int fds[NCHILD][2], total = 0;
	pid_t pids[NCHILD];
	int64_t id, nb;
	uint32_t n;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "shared/s.db");
	memset(seen, 0, sizeof(seen));
	/* No handle is open in this process across fork() (see spool.h). */
	for (int k = 0; k < NCHILD; k++) {
		CHECK(pipe(fds[k]) == 0);
		pids[k] = fork();
		CHECK(pids[k] >= 0);
		if (pids[k] == 0) {
			for (int j = 0; j <= k; j++)
				close(fds[j][0]);
			child_worker(path, k, fds[k][1]);
		}
		close(fds[k][1]);
	}
	out = malloc(cap);
	CHECK(out);
	for (int k = 0; k < NCHILD; k++) {
		int status;

		CHECK(read_all(fds[k][0], out, cap, &len) == 0);
		close(fds[k][0]);
		CHECK(waitpid(pids[k], &status, 0) == pids[k]);
		CHECK(WIFEXITED(status));
		CHECK_INT(WEXITSTATUS(status), 0);
	}
	/* What the children left, this process delivers. */
	CHECK((sp = open_ok(path, 64 << 20)));
	for (;;) {
		otas__buf_reset(&b);
		int r = otas__spool_claim(sp, 60000, &id, &b, &n);

		CHECK(r >= 0);
		if (r == 0)
			break;
		CHECK(len + b.len + 2 < cap);
		memcpy(out + len, b.data, b.len);
		len += b.len;
		out[len++] = '\n';
		out[len] = '\0';
		CHECK_INT(otas__spool_delete(sp, id), 0);
	}
	CHECK_INT(otas__spool_count(sp, &nb, NULL, NULL), 0);
	CHECK_INT(nb, 0);
	otas__spool_close(sp);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		int k, i;

		CHECK(sscanf(line, "c%d-%d", &k, &i) == 2);
		CHECK(k >= 0 && k < NCHILD && i >= 0 && i < MPUT);
		seen[k][i]++;
		total++;
	}
	free(out);
	otas__buf_free(&b);
	for (int k = 0; k < NCHILD; k++)
		for (int i = 0; i < MPUT; i++)
			CHECK_INT(seen[k][i], 1);
	CHECK_INT(total, NCHILD * MPUT);
}

/* A process that dies holding a lease: a new process (restart) gets the
 * batch at open, without waiting out the 60 s lease. */
TEST(spool_dead_owner_lease_ended_at_open)
{
	char path[256];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	int64_t id;
	uint32_t n;
	pid_t pid;
	int status;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 4096)));
	CHECK_INT(put_str(sp, "orphan", 1, NULL), 0);
	otas__spool_close(sp);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		otas__spool_t *c = otas__spool_open(path, 4096, NULL, 0);
		otas__buf_t cb = OTAS__BUF_INIT;
		int64_t cid;

		if (!c || otas__spool_claim(c, 60000, &cid, &cb, NULL) != 1)
			_exit(1);
		_exit(0); /* dies holding the lease */
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK((sp = open_ok(path, 4096)));
	CHECK_INT(otas__spool_claim(sp, 60000, &id, &b, &n), 1);
	CHECK_STR(b.data, "orphan");
	otas__buf_free(&b);
	otas__spool_close(sp);
}

TEST(spool_handle_refuses_forked_child)
{
	char path[256];
	otas__spool_t *sp;
	pid_t pid;
	int status;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 4096)));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		otas__buf_t cb = OTAS__BUF_INIT;
		int64_t cid;
		int bad = 0;

		if (otas__spool_put(sp, "x", 1, 1, NULL, NULL, 0) != -1)
			bad = 1;
		if (otas__spool_claim(sp, 100, &cid, &cb, NULL) != -1)
			bad = 2;
		if (!strstr(otas__spool_error(sp), "fork"))
			bad = 3;
		otas__spool_close(sp); /* frees the struct only */
		_exit(bad);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	/* The parent's handle is intact. */
	CHECK_INT(put_str(sp, "y", 1, NULL), 0);
	otas__spool_close(sp);
}

static int
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int r;

	if (!f)
		return -1;
	r = fwrite(p, 1, n, f) == n ? 0 : -1;
	return fclose(f) == 0 ? r : -1;
}

TEST(spool_garbage_file_moved_aside)
{
	char path[256], err[512];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	static const char junk[] = "this is not an SQLite database, at all. "
	                           "0123456789abcdef0123456789abcdef";
	int64_t id;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK(write_file(path, junk, sizeof(junk)) == 0);
	sp = otas__spool_open(path, 4096, err, sizeof(err));
	CHECK(sp);
	CHECK(strstr(err, "moved it to") != NULL);
	CHECK(strstr(err, ".corrupt-") != NULL);
	CHECK_INT(otas__spool_recoveries(sp), 1);
	CHECK_INT(count_prefix(tmpdir, "s.db.corrupt-"), 1);
	CHECK_INT(put_str(sp, "fresh", 1, NULL), 0);
	CHECK_INT(otas__spool_claim(sp, 1000, &id, &b, NULL), 1);
	CHECK_STR(b.data, "fresh");
	otas__spool_close(sp);
	otas__buf_free(&b);
}

static int
make_sqlite(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

TEST(spool_foreign_or_newer_file_moved_aside)
{
	char path[256], err[512];
	otas__spool_t *sp;
	int64_t nb;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK(make_sqlite(path, "CREATE TABLE other (x); "
	                        "INSERT INTO other VALUES (1);") == 0);
	CHECK((sp = otas__spool_open(path, 4096, err, sizeof(err))));
	CHECK(strstr(err, "not an OTAS spool") != NULL);
	CHECK_INT(otas__spool_count(sp, &nb, NULL, NULL), 0);
	CHECK_INT(nb, 0);
	otas__spool_close(sp);
	/* Reopening our own file is silent. */
	CHECK((sp = otas__spool_open(path, 4096, err, sizeof(err))));
	CHECK_STR(err, "");
	otas__spool_close(sp);

	CHECK(make_sqlite(path, "PRAGMA user_version = 99;") == 0);
	CHECK((sp = otas__spool_open(path, 4096, err, sizeof(err))));
	CHECK(strstr(err, "newer") != NULL);
	CHECK_INT(put_str(sp, "ok", 1, NULL), 0);
	otas__spool_close(sp);
	CHECK_INT(count_prefix(tmpdir, "s.db.corrupt-"), 2);
}

/* A real spool whose b-tree pages are overwritten: detected on use (or at
 * open), moved aside, and the handle works again. */
TEST(spool_corrupt_pages_recovered)
{
	char path[256], err[512];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	int64_t id, nb = -1;
	char junk[4096];
	int fd, r = 0;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 1 << 20)));
	for (int i = 0; i < 20; i++)
		CHECK_INT(put_len(sp, 3000, 'a' + i, 1, NULL), 0);
	otas__spool_close(sp); /* checkpoints the WAL into the file */
	memset(junk, 0xA5, sizeof(junk));
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0);
	for (int pg = 1; pg < 8; pg++)
		CHECK(pwrite(fd, junk, sizeof(junk), (off_t)pg * 4096) ==
		      (ssize_t)sizeof(junk));
	close(fd);

	sp = otas__spool_open(path, 1 << 20, err, sizeof(err));
	CHECK(sp);
	/* Whichever call meets the damage first moves the file aside. */
	for (int i = 0; i < 3 && otas__spool_recoveries(sp) == 0; i++) {
		otas__buf_reset(&b);
		r = otas__spool_claim(sp, 1000, &id, &b, NULL);
		(void)otas__spool_count(sp, &nb, NULL, NULL);
		(void)put_str(sp, "p", 1, NULL);
	}
	CHECK_INT(otas__spool_recoveries(sp), 1);
	CHECK(strstr(otas__spool_error(sp), ".corrupt-") != NULL);
	CHECK_INT(count_prefix(tmpdir, "s.db.corrupt-"), 1);
	/* Usable again. */
	CHECK_INT(put_str(sp, "after", 1, NULL), 0);
	CHECK_INT(otas__spool_count(sp, &nb, NULL, NULL), 0);
	CHECK(nb >= 1);
	(void)r;
	otas__buf_free(&b);
	otas__spool_close(sp);
}

/* Children put into a small shared spool at once: after every put the
 * bound holds, and put events == evicted events + what is left, exactly. */
#define BOUND_MAX 20000
#define BOUND_PUTS 80

static void
bound_worker(const char *path, int k, int wfd)
{
	otas__spool_t *sp = otas__spool_open(path, BOUND_MAX, NULL, 0);
	uint64_t ev, put_events = 0, evicted = 0;
	int64_t nbytes;
	char line[64];
	int bad = 0, len;

	if (!sp)
		_exit(10);
	for (int i = 0; i < BOUND_PUTS; i++) {
		uint32_t n = (uint32_t)(1 + (i * 7 + k) % 13);
		size_t size = 500 + (size_t)((i * 977 + k * 131) % 3000);

		if (put_len(sp, size, (char)('a' + k), n, &ev) != 0)
			bad = 11;
		put_events += n;
		evicted += ev;
		if (otas__spool_count(sp, NULL, NULL, &nbytes) != 0 ||
		    nbytes > BOUND_MAX)
			bad = 12;
	}
	len = snprintf(line, sizeof(line), "%llu %llu\n",
	               (unsigned long long)put_events,
	               (unsigned long long)evicted);
	if (write(wfd, line, (size_t)len) != len)
		bad = 13;
	otas__spool_close(sp);
	_exit(bad);
}

TEST(spool_bound_holds_across_processes)
{
	char path[256], line[64];
	otas__spool_t *sp;
	unsigned long long put_total = 0, ev_total = 0;
	int fds[NCHILD][2];
	pid_t pids[NCHILD];
	int64_t ne, nbytes;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	for (int k = 0; k < NCHILD; k++) {
		CHECK(pipe(fds[k]) == 0);
		pids[k] = fork();
		CHECK(pids[k] >= 0);
		if (pids[k] == 0) {
			for (int j = 0; j <= k; j++)
				close(fds[j][0]);
			bound_worker(path, k, fds[k][1]);
		}
		close(fds[k][1]);
	}
	for (int k = 0; k < NCHILD; k++) {
		unsigned long long p, e;
		size_t len = 0;
		int status;

		CHECK(read_all(fds[k][0], line, sizeof(line), &len) == 0);
		close(fds[k][0]);
		CHECK(waitpid(pids[k], &status, 0) == pids[k]);
		CHECK(WIFEXITED(status));
		CHECK_INT(WEXITSTATUS(status), 0);
		CHECK(sscanf(line, "%llu %llu", &p, &e) == 2);
		put_total += p;
		ev_total += e;
	}
	CHECK((sp = open_ok(path, BOUND_MAX)));
	CHECK_INT(otas__spool_count(sp, NULL, &ne, &nbytes), 0);
	CHECK(nbytes <= BOUND_MAX);
	CHECK(ev_total > 0);
	CHECK_INT(put_total, ev_total + (unsigned long long)ne);
	otas__spool_close(sp);
}

/* Sets lease columns of every batch directly, standing in for another
 * process (pid) or a clock stepped back (a lease hours ahead). */
static int
set_lease(const char *path, long long until, long long owner)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "PRAGMA busy_timeout = 5000; UPDATE batches SET"
	         " lease_until = %lld, lease_owner = %lld;",
	         until, owner);
	return make_sqlite(path, sql);
}

static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

TEST(spool_lease_rules)
{
	char path[256];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	int64_t id, id2;
	uint32_t n;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 4096)));
	CHECK_INT(put_str(sp, "b1", 1, NULL), 0);
	CHECK_INT(otas__spool_claim(sp, 60000, &id, &b, &n), 1);
	/* Another live process holds it now (pid 1 never dies). */
	CHECK(set_lease(path, wall_ms() + 60000, 1) == 0);
	CHECK_INT(otas__spool_release(sp, id), 0);
	CHECK_INT(otas__spool_claim(sp, 60000, &id2, &b, &n), 0);
	/* A lease two hours ahead means the clock went back: free. */
	CHECK(set_lease(path, wall_ms() + 2 * 3600 * 1000LL, 1) == 0);
	otas__buf_reset(&b);
	CHECK_INT(otas__spool_claim(sp, 60000, &id2, &b, &n), 1);
	CHECK_INT(id2, id);
	CHECK_INT(otas__spool_release(sp, id), 0);
	/* Out of memory in `out`: -1 and the batch stays claimable. */
	otas__buf_reset(&b);
	b.oom = 1;
	CHECK_INT(otas__spool_claim(sp, 60000, &id2, &b, &n), -1);
	CHECK(strstr(otas__spool_error(sp), "memory") != NULL);
	otas__buf_reset(&b);
	CHECK_INT(otas__spool_claim(sp, 60000, &id2, &b, &n), 1);
	CHECK_STR(b.data, "b1");
	/* No handle, no crash. */
	CHECK_INT(otas__spool_put(NULL, "x", 1, 1, NULL, NULL, 0), -1);
	CHECK_INT(otas__spool_claim(NULL, 1, &id2, &b, &n), -1);
	CHECK_INT(otas__spool_delete(NULL, 1), -1);
	CHECK_INT(otas__spool_release(NULL, 1), -1);
	CHECK_INT(otas__spool_count(NULL, NULL, NULL, NULL), -1);
	otas__spool_close(NULL);
	otas__buf_free(&b);
	otas__spool_close(sp);
}

/* A worker dies holding a lease while another keeps its handle open: the
 * survivor's claim finds the dead pid and takes the batch without waiting
 * out the 60 s lease. */
TEST(spool_dead_owner_lease_ended_by_claim)
{
	char path[256], c;
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	int64_t id, deadline;
	int go[2], ready[2], status, r = 0;
	pid_t pid;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 4096)));
	CHECK_INT(put_str(sp, "orphan", 1, NULL), 0);
	otas__spool_close(sp);
	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		otas__spool_t *cs = otas__spool_open(path, 4096, NULL, 0);
		otas__buf_t cb = OTAS__BUF_INIT;
		int64_t cid;

		if (!cs || otas__spool_claim(cs, 60000, &cid, &cb, NULL) != 1)
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(0); /* dies holding the lease */
	}
	close(ready[1]);
	close(go[0]);
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK((sp = open_ok(path, 4096))); /* owner alive: lease stands */
	CHECK_INT(otas__spool_claim(sp, 60000, &id, &b, NULL), 0);
	CHECK(write(go[1], "g", 1) == 1);
	close(go[1]);
	close(ready[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	deadline = mono_ms() + 15000;
	do {
		struct timespec ts = {0, 20 * 1000 * 1000};

		r = otas__spool_claim(sp, 60000, &id, &b, NULL);
		if (r != 0)
			break;
		nanosleep(&ts, NULL);
	} while (mono_ms() < deadline);
	CHECK_INT(r, 1);
	CHECK_STR(b.data, "orphan");
	otas__buf_free(&b);
	otas__spool_close(sp);
}

TEST(spool_keeps_few_files_aside)
{
	char path[256], err[512];
	otas__spool_t *sp;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	for (int i = 0; i < 6; i++) {
		CHECK(write_file(path, "garbage garbage garbage garbage "
		                       "garbage garbage garbage garbage", 64) ==
		      0);
		CHECK((sp = otas__spool_open(path, 4096, err, sizeof(err))));
		CHECK(strstr(err, "moved it to") != NULL);
		otas__spool_close(sp);
	}
	CHECK_INT(count_prefix(tmpdir, "s.db.corrupt-"), 3);
}

/* Another process moved the file aside (or a cleaner removed it): within
 * a second the handle notices and continues in a fresh file, and says so. */
TEST(spool_follows_replaced_file)
{
	char path[256], moved[300];
	otas__spool_t *sp;
	int64_t nb = -1, deadline;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "d/s.db");
	CHECK((sp = open_ok(path, 4096)));
	CHECK_INT(put_str(sp, "old", 1, NULL), 0);
	snprintf(moved, sizeof(moved), "%s/elsewhere", tmpdir);
	spool_path(path, sizeof(path), "d");
	CHECK(rename(path, moved) == 0); /* the whole directory goes */
	deadline = mono_ms() + 10000;
	do {
		struct timespec ts = {0, 20 * 1000 * 1000};

		CHECK_INT(otas__spool_count(sp, &nb, NULL, NULL), 0);
		if (nb == 0)
			break;
		nanosleep(&ts, NULL);
	} while (mono_ms() < deadline);
	CHECK_INT(nb, 0);
	CHECK(strstr(otas__spool_error(sp), "afresh") != NULL);
	CHECK_INT(put_str(sp, "new", 1, NULL), 0);
	spool_path(path, sizeof(path), "d/s.db");
	otas__spool_close(sp);
	CHECK((sp = open_ok(path, 4096)));
	CHECK_INT(otas__spool_count(sp, &nb, NULL, NULL), 0);
	CHECK_INT(nb, 1);
	otas__spool_close(sp);
}

/* Like another process's recovery: the file is moved aside and a fresh
 * spool is created at the path by another process, which keeps it open.
 * The handle on the old file must switch to the new one without deleting
 * the new file's WAL (SQLite deletes <path>-wal and -shm by name when the
 * last connection to a database closes). */
TEST(spool_switch_keeps_other_wal)
{
	char path[256], aside[300], from[300], to[320], c;
	otas__spool_t *a;
	int64_t nb = -1, deadline;
	int ready[2], done[2], status;
	pid_t pid;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK(pipe(ready) == 0 && pipe(done) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		otas__spool_t *b;

		close(ready[0]);
		close(done[1]);
		/* Wait until the parent's file has been moved aside. */
		if (read(done[0], &c, 1) != 1)
			_exit(1);
		b = otas__spool_open(path, 1 << 20, NULL, 0);
		if (!b || put_str(b, "new 1", 1, NULL) != 0 ||
		    put_str(b, "new 2", 1, NULL) != 0)
			_exit(2);
		if (write(ready[1], "r", 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(3);
		otas__spool_close(b);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	CHECK((a = open_ok(path, 1 << 20)));
	CHECK_INT(put_str(a, "in old file", 1, NULL), 0);
	snprintf(aside, sizeof(aside), "%s.corrupt-1", path);
	CHECK(rename(path, aside) == 0);
	snprintf(from, sizeof(from), "%s-wal", path);
	snprintf(to, sizeof(to), "%s-wal", aside);
	CHECK(rename(from, to) == 0);
	snprintf(from, sizeof(from), "%s-shm", path);
	CHECK(unlink(from) == 0);
	CHECK(write(done[1], "m", 1) == 1);
	CHECK(read(ready[0], &c, 1) == 1);
	/* The child's two rows sit in its WAL, its connection open. */
	deadline = mono_ms() + 10000;
	do {
		struct timespec ts = {0, 20 * 1000 * 1000};

		CHECK_INT(otas__spool_count(a, &nb, NULL, NULL), 0);
		if (nb != 1)
			break;
		nanosleep(&ts, NULL);
	} while (mono_ms() < deadline);
	CHECK_INT(nb, 2);
	CHECK(write(done[1], "d", 1) == 1);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	CHECK_INT(put_str(a, "third", 1, NULL), 0);
	otas__spool_close(a);
	CHECK((a = open_ok(path, 1 << 20)));
	CHECK_INT(otas__spool_count(a, &nb, NULL, NULL), 0);
	CHECK_INT(nb, 3);
	otas__spool_close(a);
	close(ready[0]);
	close(done[1]);
}

TEST(spool_creates_private_dirs_and_file)
{
	char path[256], dir[300];
	otas__spool_t *sp;
	struct stat st;
	mode_t old = umask(022);

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "a/b/c/s.db");
	sp = open_ok(path, 1 << 20);
	umask(old);
	CHECK(sp);
	CHECK_INT(put_str(sp, "x", 1, NULL), 0);
	const char *subs[] = {"a", "a/b", "a/b/c"};
	for (int i = 0; i < 3; i++) {
		spool_path(dir, sizeof(dir), subs[i]);
		CHECK(stat(dir, &st) == 0);
		CHECK(S_ISDIR(st.st_mode));
		CHECK_INT(st.st_mode & 0777, 0700);
	}
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s-wal", path);
	CHECK(stat(dir, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s-shm", path);
	CHECK(stat(dir, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	otas__spool_close(sp);

	/* WAL, schema version 2, the tables the design note names. */
	{
		sqlite3 *db;
		sqlite3_stmt *q;

		CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
		      SQLITE_OK);
		CHECK(sqlite3_prepare_v2(db,
		          "SELECT (SELECT journal_mode FROM pragma_journal_mode),"
		          " (SELECT user_version FROM pragma_user_version),"
		          " (SELECT group_concat(name) FROM (SELECT name FROM"
		          "  sqlite_schema WHERE type = 'table' ORDER BY name))",
		          -1, &q, NULL) == SQLITE_OK);
		CHECK(sqlite3_step(q) == SQLITE_ROW);
		CHECK_STR((const char *)sqlite3_column_text(q, 0), "wal");
		CHECK_INT(sqlite3_column_int(q, 1), 2);
		CHECK_STR((const char *)sqlite3_column_text(q, 2),
		          "batches,meta,payloads,sqlite_sequence");
		sqlite3_finalize(q);
		sqlite3_close(db);
	}
	/* An existing file readable by others is tightened. */
	CHECK(chmod(path, 0644) == 0);
	CHECK((sp = open_ok(path, 1 << 20)));
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	otas__spool_close(sp);
}

/* Open as an unprivileged user: root ignores permission bits, so when
 * running as root the check runs in a child that drops to nobody. */
static int
open_fails_unprivileged(const char *path)
{
	char err[512];
	otas__spool_t *sp;
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(20);
		err[0] = '\0';
		sp = otas__spool_open(path, 4096, err, sizeof(err));
		if (sp)
			_exit(21);
		if (!err[0])
			_exit(22);
		fprintf(stderr, "  (open error: %s)\n", err);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "  child status %d\n", status);
		return 0;
	}
	return 1;
}

TEST(spool_unwritable_location_is_an_error)
{
	char path[256], dir[256], err[512];
	otas__spool_t *sp;

	CHECK(fresh_dir());
	/* A parent that is a file. */
	spool_path(dir, sizeof(dir), "file");
	CHECK(write_file(dir, "x", 1) == 0);
	spool_path(path, sizeof(path), "file/s.db");
	err[0] = '\0';
	CHECK(otas__spool_open(path, 4096, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "file") != NULL);
	/* A directory we may not write. */
	spool_path(dir, sizeof(dir), "ro");
	CHECK(mkdir(dir, 0555) == 0);
	CHECK(chmod(tmpdir, 0755) == 0);
	spool_path(path, sizeof(path), "ro/s.db");
	CHECK(open_fails_unprivileged(path));
	spool_path(path, sizeof(path), "ro/sub/s.db");
	CHECK(open_fails_unprivileged(path));
	/* A spool file we may not write (0644, someone else's). */
	spool_path(dir, sizeof(dir), "rw");
	CHECK(mkdir(dir, 0777) == 0);
	CHECK(chmod(dir, 0777) == 0);
	spool_path(path, sizeof(path), "rw/s.db");
	if (geteuid() == 0) {
		CHECK((sp = open_ok(path, 4096)));
		otas__spool_close(sp);
		CHECK(chmod(path, 0644) == 0);
	} else {
		CHECK((sp = open_ok(path, 4096)));
		otas__spool_close(sp);
		CHECK(chmod(path, 0400) == 0);
	}
	CHECK(open_fails_unprivileged(path));
}

/* A write that the file system refuses (file size limit standing in for a
 * full disk): -1 with a message, no crash, data intact. */
TEST(spool_write_failure_is_an_error)
{
	char path[256];
	otas__spool_t *sp;
	int64_t nb;
	pid_t pid;
	int status;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 8 << 20)));
	CHECK_INT(put_str(sp, "kept", 1, NULL), 0);
	otas__spool_close(sp);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {256 * 1024, 256 * 1024};
		char err[512];
		otas__spool_t *c;
		char *big = calloc(1, 1 << 20);

		signal(SIGXFSZ, SIG_IGN);
		c = otas__spool_open(path, 8 << 20, NULL, 0);
		if (!c || !big || setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(30);
		err[0] = '\0';
		if (otas__spool_put(c, big, 1 << 20, 1, NULL, err,
		                    sizeof(err)) != -1)
			_exit(31);
		if (!err[0])
			_exit(32);
		fprintf(stderr, "  (put error: %s)\n", err);
		otas__spool_close(c);
		free(big);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	CHECK((sp = open_ok(path, 8 << 20)));
	CHECK_INT(otas__spool_count(sp, &nb, NULL, NULL), 0);
	CHECK_INT(nb, 1);
	otas__spool_close(sp);
}

TEST(spool_megabyte_batches_are_fast)
{
	char path[256];
	otas__buf_t b = OTAS__BUF_INIT;
	otas__spool_t *sp;
	const size_t mib = 1 << 20;
	const int rounds = 20;
	int64_t t0, put_ms = 0, claim_ms = 0, id;
	char *p = malloc(mib);

	CHECK(p);
	memset(p, 'z', mib);
	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "s.db");
	CHECK((sp = open_ok(path, 16 * (int64_t)mib)));
	for (int i = 0; i < rounds; i++) {
		p[0] = (char)('A' + i);
		t0 = mono_ms();
		CHECK_INT(otas__spool_put(sp, p, mib, 100, NULL, NULL, 0), 0);
		put_ms += mono_ms() - t0;
		otas__buf_reset(&b);
		t0 = mono_ms();
		CHECK_INT(otas__spool_claim(sp, 60000, &id, &b, NULL), 1);
		claim_ms += mono_ms() - t0;
		CHECK_INT(b.len, mib);
		CHECK_INT(b.data[0], 'A' + i);
		CHECK_INT(otas__spool_delete(sp, id), 0);
	}
	fprintf(stderr, "  1 MiB: put %.1f ms, claim %.1f ms (mean of %d)\n",
	        (double)put_ms / rounds, (double)claim_ms / rounds, rounds);
	/* Milliseconds, with room for a shared 2-core machine; sanitizer
	 * builds (which define OTAS_TESTING_SMALL_LIMITS) run 5-10x slower. */
#ifdef OTAS_TESTING_SMALL_LIMITS
	const int64_t limit_ms = 200;
#else
	const int64_t limit_ms = 50;
#endif
	CHECK(put_ms / rounds < limit_ms);
	CHECK(claim_ms / rounds < limit_ms);
	free(p);
	otas__buf_free(&b);
	otas__spool_close(sp);
}

/* Whether any file of the spool (the database, -wal, -journal, -shm)
 * holds `needle` anywhere in its bytes. */
static int
spool_files_hold(const char *path, const char *needle)
{
	static const char *const sfx[] = {"", "-wal", "-journal", "-shm"};
	size_t i, nl = strlen(needle);
	int found = 0;

	for (i = 0; i < 4 && !found; i++) {
		char p[600];
		FILE *f;
		char *buf;
		long n;
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		f = fopen(p, "rb");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		fseek(f, 0, SEEK_SET);
		buf = malloc((size_t)n + 1);
		CHECK(buf);
		CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
		fclose(f);
		found = n > 0 && memmem(buf, (size_t)n, needle, nl) != NULL;
		free(buf);
	}
	return found;
}

TEST(spool_agent_token_sealed_on_disk)
{
	static const char tok[] = "eyJhbGciOiJIUzI1NiJ9.AGENTspoolTOKEN7f3a.sig";
	char path[512], batch[1024];
	otas__spool_t *sp, *other;
	otas__buf_t out = OTAS__BUF_INIT;
	int64_t id;
	uint32_t n;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "sealed.db");
	snprintf(batch, sizeof(batch),
	         "{\"project_id\":\"p\",\"event_id\":\"e1\","
	         "\"agent_session_token\":\"%s\",\"path\":\"/a\"}\n"
	         "{\"project_id\":\"p\",\"event_id\":\"e2\","
	         "\"agent_session_token\":\"\",\"path\":\"/b\"}", tok);
	CHECK((sp = open_ok(path, 1 << 20)));
	CHECK_INT(otas__spool_set_secret(sp, "otas_key_one", 12), 0);
	CHECK_INT(otas__spool_put(sp, batch, strlen(batch), 2, NULL, NULL, 0),
	          0);
	/* Not in any byte of the files, nor a long piece of it. */
	CHECK(!spool_files_hold(path, tok));
	CHECK(!spool_files_hold(path, "AGENTspoolTOKEN7f3a"));
	CHECK(spool_files_hold(path, "otas-seal1."));
	/* The same secret (another process of the app) reads it back. */
	otas__spool_close(sp);
	CHECK((sp = open_ok(path, 1 << 20)));
	CHECK_INT(otas__spool_set_secret(sp, "otas_key_one", 12), 0);
	CHECK_INT(otas__spool_claim(sp, 60000, &id, &out, &n), 1);
	CHECK_INT(n, 2);
	CHECK_STR(out.data, batch);
	CHECK_INT(otas__spool_release(sp, id), 0);
	otas__spool_close(sp);
	/* Another key: the token is dropped, the event kept. */
	CHECK((other = open_ok(path, 1 << 20)));
	CHECK_INT(otas__spool_set_secret(other, "otas_key_two", 12), 0);
	otas__buf_reset(&out);
	CHECK_INT(otas__spool_claim(other, 60000, &id, &out, &n), 1);
	CHECK(strstr(out.data, "\"agent_session_token\":\"\",\"path\":\"/a\"}"));
	CHECK(!strstr(out.data, "otas-seal1."));
	otas__spool_close(other);
	/* A batch an older engine wrote with the token in clear (inserted
	 * here by SQL) is delivered with it. */
	{
		sqlite3 *db;
		char sql[1200];
		spool_path(path, sizeof(path), "legacy.db");
		CHECK((sp = open_ok(path, 1 << 20)));
		CHECK_INT(otas__spool_put(sp, "{}", 2, 1, NULL, NULL, 0), 0);
		otas__spool_close(sp);
		CHECK(sqlite3_open(path, &db) == SQLITE_OK);
		snprintf(sql, sizeof(sql),
		         "UPDATE payloads SET payload = CAST('{\"project_id\":\"p\","
		         "\"agent_session_token\":\"clear-legacy\"}' AS BLOB)");
		CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
		sqlite3_close(db);
		CHECK((sp = open_ok(path, 1 << 20)));
		CHECK_INT(otas__spool_set_secret(sp, "otas_key_one", 12), 0);
		otas__buf_reset(&out);
		CHECK_INT(otas__spool_claim(sp, 60000, &id, &out, &n), 1);
		CHECK(strstr(out.data, "\"agent_session_token\":\"clear-legacy\""));
		otas__spool_close(sp);
	}
	/* No secret at all: never written in clear either. */
	spool_path(path, sizeof(path), "nokey.db");
	CHECK((sp = open_ok(path, 1 << 20)));
	CHECK_INT(otas__spool_put(sp, batch, strlen(batch), 2, NULL, NULL, 0),
	          0);
	CHECK(!spool_files_hold(path, "AGENTspoolTOKEN7f3a"));
	otas__spool_close(sp);
	otas__buf_free(&out);
}

/* Schema 2: the tokens are in their own column, sealed, and a claim hands
 * them over beside the events. */
TEST(spool_tokens_column)
{
	static const char tok[] = "eyJhbGciOiJIUzI1NiJ9.COLUMNtoken42.sig";
	char path[512], batch[1024];
	otas__spool_t *sp;
	otas__buf_t out = OTAS__BUF_INIT, toks = OTAS__BUF_INIT;
	int64_t id;
	uint32_t n;
	sqlite3 *db;
	sqlite3_stmt *q;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "col.db");
	snprintf(batch, sizeof(batch),
	         "{\"project_id\":\"p\",\"agent_session_token\":\"%s\","
	         "\"path\":\"/a\"}\n"
	         "{\"project_id\":\"p\",\"agent_session_token\":\"\","
	         "\"path\":\"/b\"}\n"
	         "{\"project_id\":\"p\",\"path\":\"/c\"}\n"
	         "{\"project_id\":\"p\",\"agent_session_token\":\"t2\","
	         "\"path\":\"/d\"}", tok);
	CHECK((sp = open_ok(path, 1 << 20)));
	CHECK_INT(otas__spool_set_secret(sp, "otas_key_one", 12), 0);
	CHECK_INT(put_str(sp, batch, 4, NULL), 0);
	/* a batch without tokens has none stored */
	CHECK_INT(put_str(sp, "{\"path\":\"/e\"}", 1, NULL), 0);
	otas__spool_close(sp);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "SELECT payload, tokens FROM payloads "
	                         "ORDER BY id", -1, &q, NULL) == SQLITE_OK);
	CHECK(sqlite3_step(q) == SQLITE_ROW);
	CHECK(strstr((const char *)sqlite3_column_text(q, 0),
	             "{\"project_id\":\"p\",\"agent_session_token\":\"\","
	             "\"path\":\"/a\"}") != NULL);
	CHECK(strncmp((const char *)sqlite3_column_text(q, 1), "otas-seal1.",
	              11) == 0);
	CHECK(strstr((const char *)sqlite3_column_text(q, 1), "\n\n\notas-seal1."));
	CHECK(sqlite3_step(q) == SQLITE_ROW);
	CHECK_INT(sqlite3_column_type(q, 1), SQLITE_NULL);
	sqlite3_finalize(q);
	sqlite3_close(db);
	CHECK(!spool_files_hold(path, "COLUMNtoken42"));

	CHECK((sp = open_ok(path, 1 << 20)));
	CHECK_INT(otas__spool_set_secret(sp, "otas_key_one", 12), 0);
	CHECK_INT(otas__spool_claim_tokens(sp, 60000, &id, &out, &n, &toks), 1);
	CHECK_INT(n, 4);
	CHECK_STR(out.data, batch); /* the events as they were put */
	otas__buf_putc(&toks, '\0');
	{
		char want[256];
		snprintf(want, sizeof(want), "%s\n\n\nt2", tok);
		CHECK_STR(toks.data, want);
	}
	CHECK_INT(otas__spool_delete(sp, id), 0);
	otas__buf_reset(&out);
	otas__buf_reset(&toks);
	CHECK_INT(otas__spool_claim_tokens(sp, 60000, &id, &out, &n, &toks), 1);
	CHECK_STR(out.data, "{\"path\":\"/e\"}");
	CHECK_INT(toks.len, 0);
	otas__spool_close(sp);
	otas__buf_free(&out);
	otas__buf_free(&toks);
}

/* A spool file of schema 1 (written here with that version's SQL, tokens
 * sealed inside the events) is migrated in place and its batch delivered
 * with the token by this engine. */
TEST(spool_schema1_file_migrated)
{
	static const char tok[] = "eyJhbGciOiJIUzI1NiJ9.OLDformatTOKEN.sig";
	otas__buf_t sealed = OTAS__BUF_INIT, payload = OTAS__BUF_INIT,
	            out = OTAS__BUF_INIT, toks = OTAS__BUF_INIT;
	char path[512], want[512];
	otas__spool_t *sp;
	sqlite3 *db;
	sqlite3_stmt *q;
	int64_t id, nb, ne;
	uint32_t n;

	CHECK(fresh_dir());
	spool_path(path, sizeof(path), "v1.db");
	/* The payload as schema 1 stored it: the token sealed in place. */
	CHECK(spool_v1_seal("otas_key_one", tok, &sealed) == 0);
	otas__buf_printf(&payload,
	                 "{\"project_id\":\"p\",\"event_id\":\"e1\","
	                 "\"agent_session_token\":\"%.*s\","
	                 "\"path\":\"/old\"}\n"
	                 "{\"project_id\":\"p\",\"event_id\":\"e2\","
	                 "\"agent_session_token\":\"\",\"path\":\"/old2\"}",
	                 (int)sealed.len, sealed.data);
	CHECK(spool_v1_write(path, payload.data, payload.len, 2) == 0);

	CHECK((sp = open_ok(path, 1 << 20)));
	CHECK_INT(otas__spool_set_secret(sp, "otas_key_one", 12), 0);
	CHECK_INT(otas__spool_count(sp, &nb, &ne, NULL), 0);
	CHECK_INT(nb, 1);
	CHECK_INT(ne, 2);
	CHECK_INT(otas__spool_claim_tokens(sp, 60000, &id, &out, &n, &toks), 1);
	CHECK_INT(n, 2);
	snprintf(want, sizeof(want),
	         "{\"project_id\":\"p\",\"event_id\":\"e1\","
	         "\"agent_session_token\":\"%s\",\"path\":\"/old\"}\n"
	         "{\"project_id\":\"p\",\"event_id\":\"e2\","
	         "\"agent_session_token\":\"\",\"path\":\"/old2\"}", tok);
	CHECK_STR(out.data, want);
	otas__buf_putc(&toks, '\0');
	snprintf(want, sizeof(want), "%s\n", tok);
	CHECK_STR(toks.data, want);
	CHECK_INT(otas__spool_delete(sp, id), 0);
	/* the file is schema 2 now, and takes new batches */
	CHECK_INT(put_str(sp, "{\"agent_session_token\":\"x\"}", 1, NULL), 0);
	otas__spool_close(sp);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) ==
	      SQLITE_OK);
	CHECK(sqlite3_step(q) == SQLITE_ROW);
	CHECK_INT(sqlite3_column_int(q, 0), 2);
	sqlite3_finalize(q);
	sqlite3_close(db);
	otas__buf_free(&sealed);
	otas__buf_free(&payload);
	otas__buf_free(&out);
	otas__buf_free(&toks);
}

int
main(void)
{
	RUN(spool_fifo_claim_delete);
	RUN(spool_release_makes_claimable);
	RUN(spool_lease_expires);
	RUN(spool_bound_evicts_oldest_exactly);
	RUN(spool_oversized_batch_refused);
	RUN(spool_reopen_keeps_data);
	RUN(spool_multiprocess_exactly_once);
	RUN(spool_dead_owner_lease_ended_at_open);
	RUN(spool_handle_refuses_forked_child);
	RUN(spool_garbage_file_moved_aside);
	RUN(spool_foreign_or_newer_file_moved_aside);
	RUN(spool_corrupt_pages_recovered);
	RUN(spool_bound_holds_across_processes);
	RUN(spool_lease_rules);
	RUN(spool_dead_owner_lease_ended_by_claim);
	RUN(spool_keeps_few_files_aside);
	RUN(spool_follows_replaced_file);
	RUN(spool_switch_keeps_other_wal);
	RUN(spool_creates_private_dirs_and_file);
	RUN(spool_unwritable_location_is_an_error);
	RUN(spool_write_failure_is_an_error);
	RUN(spool_megabyte_batches_are_fast);
	RUN(spool_agent_token_sealed_on_disk);
	RUN(spool_tokens_column);
	RUN(spool_schema1_file_migrated);
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return testlib_done();
}
