/*
 * spool.c -- the disk spool: undelivered batches in one SQLite file shared
 * by every process of an app (see spool.h for the contract).
 *
 * Design note
 * -----------
 * Storage.  Table `batches` holds one small row per batch (rowid order =
 * age; n_events, bytes, created_at and the lease); its payload lives in
 * `payloads` under the same id.  Two tables rather than one because SQLite
 * rewrites a whole record on UPDATE: with the payload in the leased row,
 * every claim and every release would copy up to a megabyte into the WAL
 * (measured: claim of a 1 MiB batch 5 ms instead of well under 1 ms), and
 * a sender retrying against a dead back end claims and releases the same
 * batch over and over.  The claim and eviction scans also never walk a
 * payload's overflow chain.  A trigger deletes the payload with its batch.
 * `meta` is a single row of running totals (batches, events, bytes) kept by
 * triggers in the same transaction as every insert/delete, so the bound check
 * in put() is O(1) instead of a SUM over the table, and can never drift.
 * The schema version is PRAGMA user_version; migrations[] upgrades forward,
 * one step per version, inside one IMMEDIATE transaction.  A file with a
 * newer version (an older engine after a downgrade), a foreign SQLite file or
 * a corrupt/non-SQLite file is renamed aside (`<path>.corrupt-<unixtime>`)
 * and a fresh spool is started: the data is kept for a human (the three
 * newest such files; older ones are deleted so that a failing disk cannot
 * fill up with copies), the app keeps spooling, and the handle reports it
 * once (err / otas__spool_error() / otas__spool_recoveries()).  Because
 * the other workers still have the old file open, every handle checks at
 * most once a second that `path` still names its file, and reopens if not.
 *
 * Agent tokens.  A payload's agent_session_token values (a 30-day
 * credential) are taken out of the events, sealed before the INSERT into
 * the `tokens` column (one line per event line; NULL when the batch has
 * none) and opened after the read, so no page, WAL frame or freed page
 * ever holds one in clear, and a claim returns them beside the events for
 * the per-event endpoint's header without a JSON parse (schema 1 kept
 * them sealed in place; such rows are still read).  The key is
 * HMAC-SHA256(SDK key, label): every process of the app derives the same
 * one after a restart, and the spool never holds the SDK key.  A value
 * that does not open (another key) is read back as "": the batch is still
 * delivered, without the token.
 *
 * Journal.  WAL: readers never block the writer and a commit appends to one
 * file.  synchronous=NORMAL is safe with WAL: the database can never be
 * corrupted by a crash or power loss, the WAL is fsync'ed at checkpoints,
 * and the only loss on *power* failure (not process crash: the OS holds the
 * pages) is the last few committed transactions.  For a best-effort buffer
 * of telemetry that trade is right; FULL would fsync on every put.
 * WAL needs shared memory, so the spool must live on a local file system.
 *
 * Concurrency.  Every write is one BEGIN IMMEDIATE transaction: it takes the
 * write lock up front, so two processes never read the same totals or pick
 * the same row (a deferred transaction that upgrades from read to write gets
 * SQLITE_BUSY_SNAPSHOT, which the busy handler does not retry).  Waiting for
 * the lock is bounded by busy_timeout.
 *
 * Leases.  claim() marks the oldest free row with lease_until (wall-clock ms:
 * the only clock all processes and a restarted process share), lease_owner
 * (pid) and lease_host (a hash of boot id + pid namespace, so a pid is only
 * interpreted in the namespace it belongs to).  A lease further in the
 * future than OTAS__SPOOL_MAX_LEASE_MS counts as expired, which bounds the
 * damage of a wall clock stepped backwards.  A lease that expires too early
 * (clock stepped forwards) costs a duplicate send, which the back end drops
 * by event_id.  At open, leases held by our own pid (an earlier process that
 * had our pid) or by pids of our namespace that no longer exist are ended,
 * so a restarted app does not wait out the leases of the workers it lost;
 * a claim that finds nothing free does the same for dead pids, at most once
 * a second (a worker killed by the OOM killer while sending).
 *
 * Eviction.  put() into a full spool deletes the oldest batches that no live
 * lease holds first: a leased batch is in flight and likely to be delivered,
 * so deleting it would lose the newer data for nothing.  Only if that is not
 * enough are leased batches deleted too (oldest first) -- the bound holds
 * always; their owner's later delete()/release() finds no row, which is
 * fine.  Evicted events are counted for the caller.
 *
 * Threads and fork.  A handle is used by one thread at a time (the sender);
 * the connection is opened SQLITE_OPEN_NOMUTEX.  A handle never crosses
 * fork(): SQLite keeps per-process lock bookkeeping that a child would
 * inherit in a wrong state, so the owner closes the handle before fork() and
 * each process opens its own.  If a child calls any function on an inherited
 * handle it gets -1, and otas__spool_close() in the child frees only our
 * struct and leaks the connection rather than touching the parent's locks.
 */
#include "spool/spool.h"
#include "common/hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define OTAS__SPOOL_SCHEMA_VERSION 2
#define OTAS__SPOOL_BUSY_MS 5000
#define OTAS__SPOOL_MAX_LEASE_MS (3600 * 1000LL)
/* The WAL is truncated to this after a checkpoint, so the disk used stays
 * near max_bytes plus this. */
#define OTAS__SPOOL_WAL_LIMIT (4 * 1024 * 1024)
#define OTAS__SPOOL_MAX_REAP 64
#define OTAS__SPOOL_KEEP_ASIDE 3
/* How often a claim that finds nothing looks for leases of dead pids, and
 * how often any call checks that the path still names the open file. */
#define OTAS__SPOOL_STAT_EVERY_MS 1000
#ifdef OTAS_TESTING_SMALL_LIMITS
#define OTAS__SPOOL_REAP_EVERY_MS 200
#else
#define OTAS__SPOOL_REAP_EVERY_MS 1000
#endif

struct aside_s {
	long long t, n;
	char name[NAME_MAX + 1];
};

/* Forward migrations: migrations[v] takes user_version v to v + 1. */
static const char *const migrations[OTAS__SPOOL_SCHEMA_VERSION] = {
	/* 0 -> 1 */
	"CREATE TABLE batches ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT," /* order = age */
	" n_events INTEGER NOT NULL,"
	" bytes INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL," /* unix ms */
	" lease_until INTEGER,"         /* unix ms; NULL = free */
	" lease_owner INTEGER,"         /* pid */
	" lease_host INTEGER);"         /* boot id + pid namespace hash */
	"CREATE TABLE payloads ("
	" id INTEGER PRIMARY KEY," /* = batches.id */
	" payload BLOB NOT NULL);"
	"CREATE TABLE meta ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" batches INTEGER NOT NULL, events INTEGER NOT NULL,"
	" bytes INTEGER NOT NULL);"
	"INSERT INTO meta VALUES (1, 0, 0, 0);"
	"CREATE TRIGGER batches_ins AFTER INSERT ON batches BEGIN"
	" UPDATE meta SET batches = batches + 1,"
	"  events = events + NEW.n_events, bytes = bytes + NEW.bytes"
	"  WHERE id = 1;"
	" END;"
	"CREATE TRIGGER batches_del AFTER DELETE ON batches BEGIN"
	" DELETE FROM payloads WHERE id = OLD.id;"
	" UPDATE meta SET batches = batches - 1,"
	"  events = events - OLD.n_events, bytes = bytes - OLD.bytes"
	"  WHERE id = 1;"
	" END;",
	/* 1 -> 2: the agent tokens, sealed, beside the events (one line per
	 * event line); NULL in rows of version 1, whose tokens are sealed
	 * inside the payload. */
	"ALTER TABLE payloads ADD COLUMN tokens BLOB;",
};

/* A row is free when nobody holds a live lease: ?1 = now, ?2 = now + max. */
#define FREE_ROW                                                            \
	"(lease_until IS NULL OR lease_until <= ?1 OR lease_until > ?2)"

enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_TOTALS,
	ST_INSERT,
	ST_INSERT_PAYLOAD,
	ST_READ_TOKENS,
	ST_EVICT_FREE,
	ST_EVICT_ANY,
	ST_CLAIM,
	ST_DELETE,
	ST_RELEASE,
	ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_TOTALS] = "SELECT batches, events, bytes FROM meta WHERE id = 1",
	[ST_INSERT] = "INSERT INTO batches (n_events, bytes, created_at)"
		      " VALUES (?1, ?2, ?3)",
	[ST_INSERT_PAYLOAD] = "INSERT INTO payloads (id, payload, tokens)"
			      " VALUES (?1, ?2, ?3)",
	[ST_READ_TOKENS] = "SELECT tokens FROM payloads WHERE id = ?1",
	[ST_EVICT_FREE] = "DELETE FROM batches WHERE id = (SELECT id FROM batches"
			  " WHERE " FREE_ROW " ORDER BY id LIMIT 1)"
			  " RETURNING bytes, n_events",
	[ST_EVICT_ANY] = "DELETE FROM batches WHERE id ="
			 " (SELECT min(id) FROM batches)"
			 " RETURNING bytes, n_events",
	[ST_CLAIM] = "UPDATE batches SET lease_until = ?3, lease_owner = ?4,"
		     " lease_host = ?5 WHERE id = (SELECT id FROM batches"
		     " WHERE " FREE_ROW " ORDER BY id LIMIT 1)"
		     " RETURNING id, n_events",
	[ST_DELETE] = "DELETE FROM batches WHERE id = ?1",
	[ST_RELEASE] = "UPDATE batches SET lease_until = NULL,"
		       " lease_owner = NULL, lease_host = NULL"
		       " WHERE id = ?1 AND lease_owner = ?2 AND lease_host = ?3",
};

struct otas__spool_s {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	char *path;
	int64_t max_bytes;
	pid_t pid;          /* the process that opened it (fork guard) */
	int64_t host;       /* boot id + pid namespace hash, 0 = unknown */
	dev_t dev;          /* identity of the file we opened, so that */
	ino_t ino;          /*   recovery never moves a newer file aside */
	uint64_t recoveries; /* files moved aside by this handle */
	int64_t last_reap_ms; /* last look for leases of dead pids */
	int64_t last_stat_ms; /* last check that path is still our file */
	char err[512];      /* last failure or recovery notice */
	unsigned char key[32]; /* seals agent tokens (otas__spool_set_secret) */
	int has_key;
};

/* ------------------------------------------------------------- helpers */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
set_err(otas__spool_t *sp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_err(otas__spool_t *sp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sp->err, sizeof(sp->err), fmt, ap);
	va_end(ap);
}

/* Record an SQLite failure of step `what`.  For I/O failures the OS error
 * (ENOSPC, EFBIG, EACCES, ...) says more than "disk I/O error"; it is only
 * looked at for those codes since it is not reset by successful calls. */
static void
set_sql_err(otas__spool_t *sp, const char *what, int rc)
{
	const char *msg = sp->db ? sqlite3_errmsg(sp->db) : sqlite3_errstr(rc);
	int prim = rc & 0xff, sys = 0;

	if (prim == SQLITE_FULL)
		msg = "disk full";
	if (sp->db && (prim == SQLITE_IOERR || prim == SQLITE_FULL ||
	               prim == SQLITE_CANTOPEN))
		sys = sqlite3_system_errno(sp->db);
	if (sys)
		set_err(sp, "spool %s: %s (%s)", what, msg, strerror(sys));
	else
		set_err(sp, "spool %s: %s", what, msg);
}

static void
copy_err(const otas__spool_t *sp, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", sp->err);
}

static int
is_corrupt(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

/* FNV-1a over the boot id and the pid namespace inode: two processes with
 * the same pid and the same host value are the same process. */
static int64_t
host_id(void)
{
	char boot[64];
	struct stat st;
	uint64_t h = 1469598103934665603ULL;
	ssize_t n = -1;
	int fd;

	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, boot, sizeof(boot));
		close(fd);
	}
	if (n <= 0 || stat("/proc/self/ns/pid", &st) != 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)boot[i]) * 1099511628211ULL;
	for (size_t i = 0; i < sizeof(st.st_ino); i++)
		h = (h ^ ((uint64_t)st.st_ino >> (8 * i) & 0xff)) *
		    1099511628211ULL;
	h &= INT64_MAX;
	return h ? (int64_t)h : 1;
}

/* mkdir -p of the directory part of `path`; new directories get 0700 (the
 * spool holds captured traffic).  Existing ones are left as they are. */
static int
make_parent_dirs(otas__spool_t *sp, const char *path)
{
	char *dir, *p;
	int rc = -1;

	dir = strdup(path);
	if (!dir) {
		set_err(sp, "spool open: out of memory");
		return -1;
	}
	p = strrchr(dir, '/');
	if (!p || p == dir) {
		rc = 0;
		goto out;
	}
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			set_err(sp, "spool open: cannot create directory %s: %s",
			        dir, strerror(errno));
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	rc = 0;
out:
	free(dir);
	return rc;
}

/* Create the file 0600 before SQLite sees it: SQLite creates with 0644 and
 * gives the -wal/-shm files the main file's mode, so creating it ourselves
 * makes all three private.  An existing file that is group/other-readable
 * is tightened.  We never open() an existing file here: closing our fd
 * would drop the POSIX locks another connection of this process holds. */
static int
create_file(otas__spool_t *sp, const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != EEXIST) {
		set_err(sp, "spool open: cannot create %s: %s", path,
		        strerror(errno));
		return -1;
	}
	if (lstat(path, &st) != 0) {
		set_err(sp, "spool open: cannot stat %s: %s", path,
		        strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(sp, "spool open: %s is not a regular file", path);
		return -1;
	}
	if ((st.st_mode & 077) && st.st_uid == geteuid())
		(void)chmod(path, 0600);
	return 0;
}

static int
exec_sql(otas__spool_t *sp, const char *what, const char *sql)
{
	int rc = sqlite3_exec(sp->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		set_sql_err(sp, what, rc);
	return rc;
}

/* Run a one-integer query; returns the SQLite result code. */
static int
query_int(otas__spool_t *sp, const char *what, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(sp->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK)
		set_sql_err(sp, what, rc);
	sqlite3_finalize(st);
	return rc;
}

/* Close the connection.  The last connection to close a WAL database
 * deletes `<path>-wal` and `<path>-shm` by NAME; when `path` no longer names
 * the file we have open (another process moved it aside and started a
 * fresh spool there), those names belong to the live spool of the other
 * processes.  SQLite 3.40 (checked) already skips that when it sees the file
 * moved (databaseIsUnmoved() in pager.c); making the WAL persistent keeps us
 * safe with any SQLite we are linked with, and keeps the moved file's WAL
 * for whoever inspects it. */
static void
disconnect(otas__spool_t *sp)
{
	struct stat st;

	for (int i = 0; i < ST__COUNT; i++) {
		sqlite3_finalize(sp->st[i]);
		sp->st[i] = NULL;
	}
	if (!sp->db)
		return;
	if (stat(sp->path, &st) != 0 || st.st_dev != sp->dev ||
	    st.st_ino != sp->ino) {
		int one = 1;

		(void)sqlite3_file_control(sp->db, "main",
		                           SQLITE_FCNTL_PERSIST_WAL, &one);
	}
	sqlite3_close(sp->db);
	sp->db = NULL;
}

/* Undo an open transaction after a failure (no-op in autocommit). */
static void
rollback(otas__spool_t *sp)
{
	if (sp->db && !sqlite3_get_autocommit(sp->db)) {
		sqlite3_reset(sp->st[ST_ROLLBACK]);
		if (sqlite3_step(sp->st[ST_ROLLBACK]) != SQLITE_DONE)
			(void)sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL,
			                   NULL);
		sqlite3_reset(sp->st[ST_ROLLBACK]);
	}
}

/* Run a prepared statement that returns no rows; SQLite result code. */
static int
step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ------------------------------------------------------------ recovery */

/* The `<name>.corrupt-<time>[-n]` files next to the spool, newest first,
 * are kept up to OTAS__SPOOL_KEEP_ASIDE; older ones (and their -wal) are
 * deleted, so a file system that keeps corrupting the spool cannot fill
 * the disk with copies. */
static int
aside_newer(const void *a, const void *b)
{
	const struct aside_s *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? 1 : -1;
	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

static void
prune_aside(otas__spool_t *sp)
{
	struct aside_s found[OTAS__SPOOL_KEEP_ASIDE + 16];
	char dir[PATH_MAX], prefix[NAME_MAX + 16], victim[PATH_MAX + 8];
	const char *slash = strrchr(sp->path, '/');
	const char *base = slash ? slash + 1 : sp->path;
	size_t plen, nfound = 0;
	struct dirent *e;
	DIR *d;

	if (slash)
		snprintf(dir, sizeof(dir), "%.*s",
		         (int)(slash - sp->path) ? (int)(slash - sp->path) : 1,
		         sp->path);
	else
		snprintf(dir, sizeof(dir), ".");
	snprintf(prefix, sizeof(prefix), "%s.corrupt-", base);
	plen = strlen(prefix);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d)) && nfound < sizeof(found) / sizeof(found[0])) {
		char *end;
		long long t, n = 0;

		if (strncmp(e->d_name, prefix, plen) != 0)
			continue;
		t = strtoll(e->d_name + plen, &end, 10);
		if (*end == '-' && end[1] >= '0' && end[1] <= '9')
			n = strtoll(end + 1, &end, 10);
		if (*end != '\0')
			continue; /* a -wal: goes with its main file */
		found[nfound].t = t;
		found[nfound].n = n;
		snprintf(found[nfound].name, sizeof(found[nfound].name), "%s",
		         e->d_name);
		nfound++;
	}
	closedir(d);
	qsort(found, nfound, sizeof(found[0]), aside_newer);
	for (size_t i = OTAS__SPOOL_KEEP_ASIDE; i < nfound; i++) {
		snprintf(victim, sizeof(victim), "%s/%s", dir, found[i].name);
		(void)unlink(victim);
		snprintf(victim, sizeof(victim), "%s/%s-wal", dir,
		         found[i].name);
		(void)unlink(victim);
	}
}

/* Move `path` (and its -wal) aside as `<path>.corrupt-<unixtime>[-n]` and
 * drop its -shm (derived, rebuilt by SQLite).  Only when `path` is still the
 * file this handle opened: another process may have recovered first and
 * put a fresh spool there, which must not be moved in turn.  Returns 1 when
 * moved (notice in sp->err), 0 when there was nothing to move, -1 on error. */
static int
move_aside(otas__spool_t *sp, const char *why)
{
	char aside[PATH_MAX], from[PATH_MAX + 8], to[PATH_MAX + 8];
	struct stat st;
	long long t = (long long)time(NULL);
	int n;

	if (lstat(sp->path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		set_err(sp, "spool: %s is %s and cannot be checked: %s",
		        sp->path, why, strerror(errno));
		return -1;
	}
	if (st.st_dev != sp->dev || st.st_ino != sp->ino)
		return 0; /* already replaced by another process */
	for (n = 0; n < 100; n++) {
		if (n == 0)
			snprintf(aside, sizeof(aside), "%s.corrupt-%lld",
			         sp->path, t);
		else
			snprintf(aside, sizeof(aside), "%s.corrupt-%lld-%d",
			         sp->path, t, n);
		if (renameat2(AT_FDCWD, sp->path, AT_FDCWD, aside,
		              RENAME_NOREPLACE) == 0)
			break;
		if (errno == EEXIST)
			continue;
		if (errno == EINVAL || errno == ENOSYS) {
			/* No RENAME_NOREPLACE on this file system. */
			if (access(aside, F_OK) == 0)
				continue;
			if (rename(sp->path, aside) == 0)
				break;
		}
		set_err(sp, "spool: %s is %s and cannot be moved aside: %s",
		        sp->path, why, strerror(errno));
		return -1;
	}
	if (n == 100) {
		set_err(sp, "spool: %s is %s; too many files moved aside",
		        sp->path, why);
		return -1;
	}
	snprintf(from, sizeof(from), "%s-wal", sp->path);
	snprintf(to, sizeof(to), "%s-wal", aside);
	(void)rename(from, to);
	snprintf(from, sizeof(from), "%s-shm", sp->path);
	(void)unlink(from);
	sp->recoveries++;
	prune_aside(sp);
	set_err(sp, "spool: %s was %s; moved it to %s and started empty",
	        sp->path, why, aside);
	return 1;
}

/* ----------------------------------------------------------- open/close */

/* Apply forward migrations.  Returns 0, -1 on error, or 1 when the file is
 * not ours to migrate (foreign or newer) and must be moved aside, with the
 * reason in *why. */
static int
migrate(otas__spool_t *sp, const char **why)
{
	int64_t version, objects;
	int rc;

	rc = exec_sql(sp, "open: begin", "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return is_corrupt(rc) ? (*why = "corrupt", 1) : -1;
	rc = query_int(sp, "open: read schema version", "PRAGMA user_version",
	               &version);
	if (rc == SQLITE_OK)
		rc = query_int(sp, "open: read schema",
		               "SELECT count(*) FROM sqlite_schema", &objects);
	if (rc != SQLITE_OK)
		goto fail;
	if (version > OTAS__SPOOL_SCHEMA_VERSION) {
		*why = "written by a newer OTAS (schema version too new)";
		goto aside;
	}
	if (version == 0 && objects > 0) {
		*why = "not an OTAS spool";
		goto aside;
	}
	for (; version < OTAS__SPOOL_SCHEMA_VERSION; version++) {
		char sql[64];

		rc = exec_sql(sp, "open: migrate", migrations[version]);
		if (rc != SQLITE_OK)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		         (int)version + 1);
		rc = exec_sql(sp, "open: migrate", sql);
		if (rc != SQLITE_OK)
			goto fail;
	}
	rc = exec_sql(sp, "open: commit", "COMMIT");
	if (rc != SQLITE_OK)
		goto fail;
	return 0;
aside:
	(void)sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
	return 1;
fail:
	(void)sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
	if (is_corrupt(rc)) {
		*why = "corrupt";
		return 1;
	}
	return -1;
}

/* Collect into pids[] the owners of live leases in our namespace that are
 * gone, and with `own` our own pid.  Number found, or -1. */
static int
find_dead_owners(otas__spool_t *sp, sqlite3_stmt *sel, int own, int64_t *pids)
{
	int npids = 0, rc = SQLITE_DONE;

	sqlite3_bind_int64(sel, 1, sp->host);
	sqlite3_bind_int64(sel, 2, now_ms());
	while (npids < OTAS__SPOOL_MAX_REAP &&
	       (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		int64_t pid = sqlite3_column_int64(sel, 0);

		if (pid == sp->pid ? own
		                   : (pid > 0 && pid <= INT_MAX &&
		                      kill((pid_t)pid, 0) != 0 && errno == ESRCH))
			pids[npids++] = pid;
	}
	if (npids < OTAS__SPOOL_MAX_REAP && rc != SQLITE_DONE)
		npids = -1;
	sqlite3_reset(sel);
	return npids;
}

/* End leases held by pids of our namespace that are gone and, at open
 * (`own`), by our own pid: an earlier process that had it, since a handle
 * just opened holds no lease yet.  A read-only look first, so that the
 * common case (nobody died) never takes the write lock; then the pids are
 * checked again inside the write transaction, so a new process cannot take
 * a recycled pid's lease between the check and the update.  Best effort: a
 * failure only means the lease runs out by itself.  Returns the number of
 * batches freed. */
static int
reap_leases(otas__spool_t *sp, int own)
{
	int64_t pids[OTAS__SPOOL_MAX_REAP];
	int npids, freed = 0;
	sqlite3_stmt *sel = NULL, *upd = NULL;

	if (!sp->host)
		return 0;
	if (sqlite3_prepare_v2(sp->db,
	        "SELECT DISTINCT lease_owner FROM batches"
	        " WHERE lease_host = ?1 AND lease_until > ?2",
	        -1, &sel, NULL) != SQLITE_OK)
		goto out;
	if (find_dead_owners(sp, sel, own, pids) <= 0)
		goto out;
	if (sqlite3_prepare_v2(sp->db,
	        "UPDATE batches SET lease_until = NULL, lease_owner = NULL,"
	        " lease_host = NULL WHERE lease_owner = ?1 AND lease_host = ?2",
	        -1, &upd, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_exec(sp->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto undo;
	npids = find_dead_owners(sp, sel, own, pids);
	for (int i = 0; i < npids; i++) {
		sqlite3_bind_int64(upd, 1, pids[i]);
		sqlite3_bind_int64(upd, 2, sp->host);
		if (step_done(upd) != SQLITE_OK)
			goto undo;
		freed += sqlite3_changes(sp->db);
	}
	if (sqlite3_exec(sp->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		goto out;
undo:
	if (!sqlite3_get_autocommit(sp->db))
		(void)sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
	freed = 0;
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return freed;
}

/* Open the connection, set it up and migrate.  Returns 0, -1 on error, or 1
 * when the file must be moved aside (reason in *why). */
static int
connect_once(otas__spool_t *sp, const char **why)
{
	struct stat st;
	char *mode = NULL;
	int rc, r;

	if (create_file(sp, sp->path) != 0)
		return -1;
	rc = sqlite3_open_v2(sp->path, &sp->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
	                         SQLITE_OPEN_NOFOLLOW,
	                     NULL);
	if (rc != SQLITE_OK) {
		set_sql_err(sp, "open", rc);
		return -1;
	}
	/* The identity of what we opened, for move_aside(). */
	if (stat(sp->path, &st) != 0) {
		set_err(sp, "spool open: cannot stat %s: %s", sp->path,
		        strerror(errno));
		return -1;
	}
	sp->dev = st.st_dev;
	sp->ino = st.st_ino;
	if (sqlite3_db_readonly(sp->db, "main") == 1) {
		set_err(sp, "spool open: %s is read-only (not writable by this "
		        "user?)", sp->path);
		return -1;
	}
	sqlite3_extended_result_codes(sp->db, 1);
	sqlite3_busy_timeout(sp->db, OTAS__SPOOL_BUSY_MS);

	/* The first statement reads the header: a non-SQLite file fails here.
	 * Switching to WAL needs an exclusive lock and SQLite answers BUSY
	 * without calling the busy handler when several processes open a new
	 * spool at once, so retry here, within the same time budget. */
	{
		int64_t deadline = now_ms() + OTAS__SPOOL_BUSY_MS;
		struct timespec pause = {0, 2 * 1000 * 1000};

		for (;;) {
			sqlite3_stmt *q = NULL;

			rc = sqlite3_prepare_v2(sp->db, "PRAGMA journal_mode = WAL",
			                        -1, &q, NULL);
			if (rc == SQLITE_OK) {
				rc = sqlite3_step(q);
				if (rc == SQLITE_ROW) {
					const char *m = (const char *)
					    sqlite3_column_text(q, 0);

					mode = m ? strdup(m) : NULL;
					rc = SQLITE_OK;
				}
			}
			sqlite3_finalize(q);
			if ((rc & 0xff) != SQLITE_BUSY || now_ms() >= deadline)
				break;
			nanosleep(&pause, NULL);
		}
		if (rc != SQLITE_OK)
			set_sql_err(sp, "open: set WAL mode", rc);
	}
	if (rc != SQLITE_OK) {
		free(mode);
		if (is_corrupt(rc)) {
			*why = "corrupt or not an SQLite file";
			return 1;
		}
		return -1;
	}
	if (!mode || strcmp(mode, "wal") != 0) {
		set_err(sp, "spool open: %s: cannot use WAL mode (got %s)",
		        sp->path, mode ? mode : "nothing");
		free(mode);
		return -1;
	}
	free(mode);
	{
		char sql[160];

		/* A small page cache: the spool is written once and read
		 * back once, and SQLite's default (2 MB per connection) was
		 * most of the engine's growth with the back end down. */
		snprintf(sql, sizeof(sql),
		         "PRAGMA synchronous = NORMAL;"
		         "PRAGMA cache_size = -256;"
		         "PRAGMA journal_size_limit = %d;",
		         OTAS__SPOOL_WAL_LIMIT);
		rc = exec_sql(sp, "open: pragmas", sql);
	}
	if (rc != SQLITE_OK)
		return is_corrupt(rc) ? (*why = "corrupt", 1) : -1;
	r = migrate(sp, why);
	if (r != 0)
		return r;
	for (int i = 0; i < ST__COUNT; i++) {
		rc = sqlite3_prepare_v3(sp->db, stmt_sql[i], -1,
		                        SQLITE_PREPARE_PERSISTENT, &sp->st[i],
		                        NULL);
		if (rc != SQLITE_OK) {
			set_sql_err(sp, "open: prepare", rc);
			return is_corrupt(rc) ? (*why = "corrupt", 1) : -1;
		}
	}
	(void)reap_leases(sp, 1);
	sp->last_reap_ms = sp->last_stat_ms = now_ms();
	return 0;
}

/* Connect; a file that is not ours to use is moved aside once and a fresh
 * one created.  `moved`: the caller already moved a file aside, whose
 * notice in sp->err is kept.  On success sp->err holds that notice or "". */
static int
connect_spool(otas__spool_t *sp, int moved)
{
	const char *why = NULL;
	int r;

	for (int attempt = 0; attempt < 2; attempt++) {
		r = connect_once(sp, &why);
		if (r == 0) {
			if (!moved)
				sp->err[0] = '\0';
			return 0;
		}
		disconnect(sp);
		if (r < 0)
			return -1;
		if (attempt == 1)
			break;
		r = move_aside(sp, why);
		if (r < 0)
			return -1;
		moved |= r;
	}
	set_err(sp, "spool: %s is %s and could not be replaced", sp->path,
	        why ? why : "unusable");
	return -1;
}

/* After SQLITE_CORRUPT/NOTADB during an operation: move the file aside and
 * start fresh.  0 when the handle is usable again. */
static int
recover(otas__spool_t *sp)
{
	int moved;

	disconnect(sp);
	moved = move_aside(sp, "corrupt");
	if (moved < 0)
		return -1;
	return connect_spool(sp, moved);
}

otas__spool_t *
otas__spool_open(const char *path, int64_t max_bytes, char *err,
                 size_t errlen)
{
	otas__spool_t *sp;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path || max_bytes <= 0) {
		if (err && errlen)
			snprintf(err, errlen,
			         "spool open: need a path and max_bytes > 0");
		return NULL;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp || !(sp->path = strdup(path))) {
		if (err && errlen)
			snprintf(err, errlen, "spool open: out of memory");
		free(sp);
		return NULL;
	}
	sp->max_bytes = max_bytes;
	sp->pid = getpid();
	sp->host = host_id();
	if (make_parent_dirs(sp, path) != 0 || connect_spool(sp, 0) != 0)
		goto fail;
	/* A non-empty err on success is a notice to log once (file moved
	 * aside). */
	copy_err(sp, err, errlen);
	return sp;
fail:
	copy_err(sp, err, errlen);
	disconnect(sp);
	free(sp->path);
	free(sp);
	return NULL;
}

void
otas__spool_close(otas__spool_t *sp)
{
	if (!sp)
		return;
	/* In a forked child the connection belongs to the parent: leak it
	 * rather than let SQLite touch locks or checkpoint on its behalf. */
	if (sp->pid == getpid())
		disconnect(sp);
	free(sp->path);
	memset(sp->key, 0, sizeof(sp->key));
	free(sp);
}

/* ------------------------------------------------------- sealed tokens */

#define TOKEN_MEMBER ",\"agent_session_token\":\""
#define SEAL_PREFIX "otas-seal1."

int
otas__spool_set_secret(otas__spool_t *sp, const char *secret, size_t len)
{
	static const char info[] = "otas spool agent token key v1";

	if (!sp)
		return -1;
	sp->has_key = 0;
	if (!secret || !len)
		return 0;
	if (otas__hmac_sha256(secret, len, info, sizeof(info) - 1, sp->key) !=
	    0)
		return -1;
	sp->has_key = 1;
	return 0;
}

/* The agent token's value in one event line: the first structural
 * `,"agent_session_token":"` (a quote inside a JSON string is always
 * escaped, so the pattern cannot start inside one) up to its closing
 * quote.  1 with [*vs, *ve), else 0. */
static int
token_span(const char *line, size_t n, size_t *vs, size_t *ve)
{
	static const char pat[] = TOKEN_MEMBER;
	const char *m = memmem(line, n, pat, sizeof(pat) - 1);
	size_t i;

	if (!m)
		return 0;
	i = (size_t)(m - line) + sizeof(pat) - 1;
	*vs = i;
	while (i < n && line[i] != '"')
		i += line[i] == '\\' ? 2 : 1;
	if (i >= n)
		return 0;
	*ve = i;
	return 1;
}

/* put: split each event line's agent token out of it.  json gets the
 * lines with the token's value emptied ("agent_session_token":""), toks
 * one line per event line: the value sealed, or empty (no token, or no
 * key: never stored in clear).  *any says whether a token was sealed.
 * -1 on out of memory. */
static int
tokens_split(const otas__spool_t *sp, const char *in, size_t len,
             otas__buf_t *json, otas__buf_t *toks, int *any)
{
	size_t pos = 0;

	*any = 0;
	while (pos < len) {
		const char *line = in + pos, *nl;
		size_t n, vs, ve;
		nl = memchr(line, '\n', len - pos);
		n = nl ? (size_t)(nl - line) : len - pos;
		if (pos)
			otas__buf_putc(toks, '\n');
		if (token_span(line, n, &vs, &ve) && ve > vs) {
			otas__buf_append(json, line, vs);
			otas__buf_append(json, line + ve, n - ve);
			if (sp->has_key) {
				size_t m0 = toks->len;
				otas__buf_puts(toks, SEAL_PREFIX);
				if (otas__seal(sp->key, line + vs, ve - vs,
				               toks) != 0)
					toks->len = m0;
				else
					*any = 1;
			}
		} else {
			otas__buf_append(json, line, n);
		}
		if (nl)
			otas__buf_putc(json, '\n');
		pos += n + 1;
	}
	return json->oom || toks->oom ? -1 : 0;
}

/* Open one stored token value v (sealed, or in clear from an engine that
 * did not seal) onto out; a value that does not open (another key)
 * appends nothing. */
static void
token_open(const otas__spool_t *sp, const char *v, size_t vl,
           otas__buf_t *out)
{
	static const size_t pl = sizeof(SEAL_PREFIX) - 1;
	size_t mark = out->len;

	if (vl > pl && memcmp(v, SEAL_PREFIX, pl) == 0) {
		if (!sp->has_key ||
		    otas__unseal(sp->key, v + pl, vl - pl, out) != 0)
			out->len = mark;
	} else {
		/* written in clear by an older engine: it is on the disk
		 * already; deliver it */
		otas__buf_append(out, v, vl);
	}
}

/* claim: the event lines with each agent token back in clear, into out,
 * and the tokens alone, one line per event line, into tokens (NULL: not
 * wanted).  toks is the tokens column (one sealed value per line), or
 * NULL for a row of schema version 1, whose values are sealed in place.
 * -1 on out of memory. */
static int
tokens_join(const otas__spool_t *sp, const char *in, size_t len,
            const char *toks, size_t tlen, otas__buf_t *out,
            otas__buf_t *tokens)
{
	size_t pos = 0, tpos = 0;

	while (pos < len) {
		const char *line = in + pos, *nl;
		const char *tv = NULL;
		size_t n, vs, ve, tn = 0;
		nl = memchr(line, '\n', len - pos);
		n = nl ? (size_t)(nl - line) : len - pos;
		if (toks && tpos < tlen) {
			const char *te = memchr(toks + tpos, '\n', tlen - tpos);
			tv = toks + tpos;
			tn = te ? (size_t)(te - tv) : tlen - tpos;
			tpos += tn + 1;
		}
		if (tokens && pos)
			otas__buf_putc(tokens, '\n');
		if (token_span(line, n, &vs, &ve)) {
			size_t t0;
			otas__buf_append(out, line, vs);
			t0 = out->len;
			if (toks) {
				/* version 2: the value was emptied at put */
				if (tn)
					token_open(sp, tv, tn, out);
			} else if (ve > vs) {
				token_open(sp, line + vs, ve - vs, out);
			}
			if (tokens)
				otas__buf_append(tokens, out->data + t0,
				                 out->len - t0);
			otas__buf_append(out, line + ve, n - ve);
		} else {
			otas__buf_append(out, line, n);
		}
		if (nl)
			otas__buf_putc(out, '\n');
		pos += n + 1;
	}
	if (out->data && out->len < out->cap)
		out->data[out->len] = '\0';
	return out->oom || (tokens && tokens->oom) ? -1 : 0;
}

const char *
otas__spool_error(const otas__spool_t *sp)
{
	return sp ? sp->err : "spool: no handle";
}

uint64_t
otas__spool_recoveries(const otas__spool_t *sp)
{
	return sp ? sp->recoveries : 0;
}

/* Common entry check: a usable handle in the process that opened it. */
static int
usable(otas__spool_t *sp)
{
	if (!sp)
		return 0;
	if (sp->pid != getpid()) {
		set_err(sp, "spool: handle used in a forked child");
		return 0;
	}
	/* Now and then, check that the path still names the file we have
	 * open: another process that found it corrupt moved it aside, or a
	 * cleaner removed it.  Writing on into the old inode would only feed
	 * a file nobody reads. */
	if (sp->db) {
		int64_t now = now_ms();
		struct stat st;

		if (now - sp->last_stat_ms < OTAS__SPOOL_STAT_EVERY_MS &&
		    now >= sp->last_stat_ms)
			return 1;
		sp->last_stat_ms = now;
		if (stat(sp->path, &st) == 0 && st.st_dev == sp->dev &&
		    st.st_ino == sp->ino)
			return 1;
		disconnect(sp);
		set_err(sp, "spool: %s was moved or removed by someone else; "
		        "opened it afresh", sp->path);
		if (make_parent_dirs(sp, sp->path) != 0 ||
		    connect_spool(sp, 1) != 0)
			return 0;
		return 1;
	}
	/* An earlier recovery failed to reopen: try again now. */
	if (make_parent_dirs(sp, sp->path) != 0 || connect_spool(sp, 0) != 0)
		return 0;
	return 1;
}

/* ------------------------------------------------------------- batches */

/* The body of put(), inside no transaction.  SQLite result code. */
static int
put_txn(otas__spool_t *sp, const char *payload, size_t plen,
        const char *toks, size_t tlen, uint32_t n_events, uint64_t *evicted)
{
	size_t len = plen + tlen; /* what the bound counts */
	sqlite3_stmt *st;
	int64_t total, now = now_ms();
	int rc;

	*evicted = 0;
	rc = step_done(sp->st[ST_BEGIN]);
	if (rc != SQLITE_OK) {
		set_sql_err(sp, "put: begin", rc);
		return rc;
	}
	st = sp->st[ST_TOTALS];
	rc = sqlite3_step(st);
	total = rc == SQLITE_ROW ? sqlite3_column_int64(st, 2) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
		set_sql_err(sp, "put: read totals", rc);
		goto fail;
	}
	/* Make room: free rows first, then leased ones (design note). */
	for (int pass = 0; total > sp->max_bytes - (int64_t)len; ) {
		st = sp->st[pass == 0 ? ST_EVICT_FREE : ST_EVICT_ANY];
		if (pass == 0) {
			sqlite3_bind_int64(st, 1, now);
			sqlite3_bind_int64(st, 2, now + OTAS__SPOOL_MAX_LEASE_MS);
		}
		int got = 0;

		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			got = 1;
			total -= sqlite3_column_int64(st, 0);
			*evicted += (uint64_t)sqlite3_column_int64(st, 1);
			rc = sqlite3_step(st);
		}
		sqlite3_reset(st);
		if (rc == SQLITE_DONE && !got) {
			if (pass == 1) {
				/* Totals say full but no row is left. */
				rc = SQLITE_CORRUPT;
				set_sql_err(sp, "put: totals", rc);
				goto fail;
			}
			pass = 1;
			continue;
		}
		if (rc != SQLITE_DONE) {
			set_sql_err(sp, "put: evict", rc);
			goto fail;
		}
	}
	st = sp->st[ST_INSERT];
	sqlite3_bind_int64(st, 1, n_events);
	sqlite3_bind_int64(st, 2, (int64_t)len);
	sqlite3_bind_int64(st, 3, now);
	rc = step_done(st);
	if (rc != SQLITE_OK) {
		set_sql_err(sp, "put: insert", rc);
		goto fail;
	}
	st = sp->st[ST_INSERT_PAYLOAD];
	sqlite3_bind_int64(st, 1, sqlite3_last_insert_rowid(sp->db));
	/* SQLITE_STATIC: no copy of the payload; it outlives the step. */
	sqlite3_bind_blob64(st, 2, payload ? payload : "", plen, SQLITE_STATIC);
	if (toks)
		sqlite3_bind_blob64(st, 3, toks, tlen, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	rc = step_done(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_OK) {
		set_sql_err(sp, "put: insert", rc);
		goto fail;
	}
	rc = step_done(sp->st[ST_COMMIT]);
	if (rc != SQLITE_OK) {
		set_sql_err(sp, "put: commit", rc);
		goto fail;
	}
	return SQLITE_OK;
fail:
	rollback(sp);
	*evicted = 0;
	return rc;
}

int
otas__spool_put(otas__spool_t *sp, const char *payload, size_t len,
                uint32_t n_events, uint64_t *evicted_events, char *err,
                size_t errlen)
{
	otas__buf_t sealed = OTAS__BUF_INIT, toks = OTAS__BUF_INIT;
	uint64_t evicted = 0;
	const char *tv;
	size_t tl;
	int rc, any;

	if (evicted_events)
		*evicted_events = 0;
	if (err && errlen)
		err[0] = '\0';
	if (!sp)
		return -1;
	if (!usable(sp))
		goto fail;
	if (!payload && len) {
		set_err(sp, "spool put: no payload");
		goto fail;
	}
	/* The agent token is a 30-day credential: sealed, never in clear,
	 * and kept beside the events so that a claim hands it over without
	 * parsing them. */
	if (tokens_split(sp, payload ? payload : "", len, &sealed, &toks,
	                 &any) != 0) {
		set_err(sp, "spool put: out of memory");
		goto fail;
	}
	payload = sealed.data ? sealed.data : "";
	tv = any ? (toks.data ? toks.data : "") : NULL;
	tl = any ? toks.len : 0;
	len = sealed.len + tl;
	if (len > (uint64_t)sp->max_bytes) {
		set_err(sp, "spool put: batch of %zu bytes exceeds the spool "
		        "size of %lld bytes", len, (long long)sp->max_bytes);
		goto fail;
	}
	rc = put_txn(sp, payload, sealed.len, tv, tl, n_events, &evicted);
	if (is_corrupt(rc) && recover(sp) == 0) {
		char notice[sizeof(sp->err)];

		/* The batch goes into the fresh file; the notice is kept. */
		memcpy(notice, sp->err, sizeof(notice));
		rc = put_txn(sp, payload, sealed.len, tv, tl, n_events,
		             &evicted);
		if (rc == SQLITE_OK)
			memcpy(sp->err, notice, sizeof(notice));
	}
	if (rc != SQLITE_OK)
		goto fail;
	if (evicted_events)
		*evicted_events = evicted;
	otas__buf_free(&sealed);
	otas__buf_free(&toks);
	return 0;
fail:
	otas__buf_free(&sealed);
	otas__buf_free(&toks);
	copy_err(sp, err, errlen);
	return -1;
}

/* Append the payload of batch `id` to out, read straight from the pages
 * into the buffer (no intermediate copy).  SQLite result code. */
static int
read_payload(otas__spool_t *sp, int64_t id, otas__buf_t *out)
{
	sqlite3_blob *blob = NULL;
	int rc, n;

	rc = sqlite3_blob_open(sp->db, "main", "payloads", "payload", id, 0,
	                       &blob);
	if (rc != SQLITE_OK) {
		/* A batch without its payload breaks the schema's invariant. */
		if (!is_corrupt(rc) && (rc & 0xff) != SQLITE_NOMEM &&
		    (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_IOERR)
			rc = SQLITE_CORRUPT;
		set_sql_err(sp, "claim: open payload", rc);
		sqlite3_blob_close(blob);
		return rc;
	}
	n = sqlite3_blob_bytes(blob);
	if (otas__buf_reserve(out, (size_t)n) != 0) {
		sqlite3_blob_close(blob);
		set_err(sp, "spool claim: out of memory for the payload");
		return SQLITE_NOMEM;
	}
	rc = n > 0 ? sqlite3_blob_read(blob, out->data + out->len, n, 0)
	           : SQLITE_OK;
	sqlite3_blob_close(blob);
	if (rc != SQLITE_OK) {
		set_sql_err(sp, "claim: read payload", rc);
		return rc;
	}
	out->len += (size_t)n;
	out->data[out->len] = '\0';
	return SQLITE_OK;
}

/* The tokens column of batch `id` (NULL: a row of schema version 1) into
 * toks; *null set when NULL.  SQLite result code. */
static int
read_tokens(otas__spool_t *sp, int64_t id, otas__buf_t *toks, int *null)
{
	sqlite3_stmt *st = sp->st[ST_READ_TOKENS];
	int rc;

	*null = 1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
			const void *b = sqlite3_column_blob(st, 0);
			int n = sqlite3_column_bytes(st, 0);
			*null = 0;
			if (n > 0)
				otas__buf_append(toks, b, (size_t)n);
			if (toks->oom)
				rc = SQLITE_NOMEM;
		}
		if (rc == SQLITE_ROW)
			rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_CORRUPT; /* the payload was there a moment ago */
	}
	sqlite3_reset(st);
	if (rc != SQLITE_OK)
		set_sql_err(sp, "claim: read tokens", rc);
	return rc;
}

int
otas__spool_claim(otas__spool_t *sp, int64_t lease_ms, int64_t *id,
                  otas__buf_t *out, uint32_t *n_events)
{
	return otas__spool_claim_tokens(sp, lease_ms, id, out, n_events, NULL);
}

int
otas__spool_claim_tokens(otas__spool_t *sp, int64_t lease_ms, int64_t *id,
                         otas__buf_t *out, uint32_t *n_events,
                         otas__buf_t *tokens)
{
	otas__buf_t plain = OTAS__BUF_INIT, toks = OTAS__BUF_INIT;
	size_t tok0 = tokens ? tokens->len : 0;
	int null_toks = 1;
	size_t out0 = 0;
	sqlite3_stmt *st;
	int64_t now = now_ms(), got_id;
	uint32_t got_n;
	int rc;

	if (!usable(sp))
		return -1;
	if (lease_ms < 1)
		lease_ms = 1;
	if (lease_ms > OTAS__SPOOL_MAX_LEASE_MS)
		lease_ms = OTAS__SPOOL_MAX_LEASE_MS;
	rc = step_done(sp->st[ST_BEGIN]);
	if (rc != SQLITE_OK) {
		set_sql_err(sp, "claim: begin", rc);
		goto fail;
	}
	st = sp->st[ST_CLAIM];
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, now + OTAS__SPOOL_MAX_LEASE_MS);
	sqlite3_bind_int64(st, 3, now + lease_ms);
	sqlite3_bind_int64(st, 4, sp->pid);
	sqlite3_bind_int64(st, 5, sp->host);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		rollback(sp); /* nothing changed */
		/* Nothing free: maybe a worker died holding leases.  Look now
		 * and then, not on every poll of an idle sender. */
		if (now - sp->last_reap_ms >= OTAS__SPOOL_REAP_EVERY_MS) {
			sp->last_reap_ms = now;
			if (reap_leases(sp, 0) > 0) /* once: last_reap_ms set */
				return otas__spool_claim_tokens(
				    sp, lease_ms, id, out, n_events, tokens);
		}
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		set_sql_err(sp, "claim", rc);
		goto fail;
	}
	got_id = sqlite3_column_int64(st, 0);
	got_n = (uint32_t)sqlite3_column_int64(st, 1);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		set_sql_err(sp, "claim", rc);
		goto fail;
	}
	out0 = out->len;
	rc = read_payload(sp, got_id, out);
	if (rc != SQLITE_OK)
		goto fail; /* out of memory included: the claim is rolled back */
	rc = read_tokens(sp, got_id, &toks, &null_toks);
	if (rc != SQLITE_OK) {
		out->len = out0;
		goto fail;
	}
	if (tokens_join(sp, out->data + out0, out->len - out0,
	                null_toks ? NULL : (toks.data ? toks.data : ""),
	                toks.len, &plain, tokens) != 0 ||
	    (tokens && tokens->oom)) {
		out->len = out0;
		rc = SQLITE_NOMEM;
		set_err(sp, "claim: out of memory");
		goto fail;
	}
	out->len = out0;
	otas__buf_append(out, plain.data ? plain.data : "", plain.len);
	if (plain.data)
		memset(plain.data, 0, plain.len);
	otas__buf_free(&plain);
	otas__buf_free(&toks);
	rc = step_done(sp->st[ST_COMMIT]);
	if (rc != SQLITE_OK) {
		set_sql_err(sp, "claim: commit", rc);
		goto fail;
	}
	*id = got_id;
	if (n_events)
		*n_events = got_n;
	return 1;
fail:
	if (plain.data)
		memset(plain.data, 0, plain.len);
	otas__buf_free(&plain);
	otas__buf_free(&toks);
	if (tokens && tokens->len > tok0) {
		memset(tokens->data + tok0, 0, tokens->len - tok0);
		tokens->len = tok0;
	}
	rollback(sp);
	if (is_corrupt(rc))
		(void)recover(sp);
	return -1;
}

/* Run the one-row statement `which` on `id` in autocommit. */
static int
by_id(otas__spool_t *sp, int which, int64_t id, const char *what)
{
	sqlite3_stmt *st;
	int rc;

	if (!usable(sp))
		return -1;
	st = sp->st[which];
	sqlite3_bind_int64(st, 1, id);
	if (which == ST_RELEASE) {
		sqlite3_bind_int64(st, 2, sp->pid);
		sqlite3_bind_int64(st, 3, sp->host);
	}
	rc = step_done(st);
	if (rc == SQLITE_OK)
		return 0;
	set_sql_err(sp, what, rc);
	if (is_corrupt(rc))
		(void)recover(sp);
	return -1;
}

int
otas__spool_delete(otas__spool_t *sp, int64_t id)
{
	/* Not found is success: the batch is gone (evicted) either way. */
	return by_id(sp, ST_DELETE, id, "delete");
}

int
otas__spool_release(otas__spool_t *sp, int64_t id)
{
	/* Only our own lease: if it expired and another process claimed the
	 * batch since, that claim stands. */
	return by_id(sp, ST_RELEASE, id, "release");
}

int
otas__spool_count(otas__spool_t *sp, int64_t *batches, int64_t *events,
                  int64_t *bytes)
{
	sqlite3_stmt *st;
	int rc;

	if (!usable(sp))
		return -1;
	st = sp->st[ST_TOTALS];
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (batches)
			*batches = sqlite3_column_int64(st, 0);
		if (events)
			*events = sqlite3_column_int64(st, 1);
		if (bytes)
			*bytes = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	set_sql_err(sp, "count", rc == SQLITE_DONE ? SQLITE_CORRUPT : rc);
	if (is_corrupt(rc) || rc == SQLITE_DONE)
		(void)recover(sp);
	return -1;
}
