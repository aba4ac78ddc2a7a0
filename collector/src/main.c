/*
 * main.c -- the otas-collector command line.
 *
 *   init, serve, project create|list, key create|revoke,
 *   agent-session create
 *
 * Usage errors (unknown flag, missing value, missing database) print one
 * line on stderr and exit 2; other failures exit 1.  Secrets (SDK keys,
 * agent tokens) are printed once, on stdout, and nowhere else.
 */
#include "api_dash.h"
#include "api_query.h"
#include "keys.h"
#include "http.h"
#include "store.h"

#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

typedef struct {
	const char *db, *project, *name, *description, *prefix, *agent, *listen;
	const char *dashboard_dir, *sync, *tls_cert, *tls_key, *role;
	long days, retain_days, maintain_interval, writers;
	const char *text_index;
	int days_set, quiet, json, platform_compat, max_pending_set;
	long max_body, max_decoded, max_events, max_conns, max_pending;
	long max_header, threads, timeout, commit_delay, text_budget;
	long max_conns_ip, header_timeout, max_inflight, query_threads;
	long max_queued_queries;
	int max_conns_ip_set, query_threads_set;
	int fail_commits, hold_index, discard_commits;
	long long path_fill;
} args_t;

static const char *prog = "otas-collector";

static void __attribute__((format(printf, 1, 2), noreturn))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn))
fail(const char *what)
{
	fprintf(stderr, "%s: %s\n", prog, what);
	exit(1);
}

static const char help_main[] =
    "usage: otas-collector <command> [options]\n"
    "\n"
    "The embedded OTAS back end: speaks the OTAS wire contract, stores events\n"
    "in SQLite or PostgreSQL, answers a query API and serves the dashboard.\n"
    "\n"
    "--db FILE is an SQLite file; --db postgresql://USER@HOST/DB (any libpq\n"
    "URL) selects PostgreSQL, and several collectors may serve one database.\n"
    "Without --db, OTAS_COLLECTOR_DB is used.\n"
    "\n"
    "commands:\n"
    "  init --db FILE --project NAME     create the database and a project;\n"
    "                                    prints its ingest and read keys once\n"
    "  serve --db FILE --listen H:P      run the HTTP server\n"
    "  project create --db FILE --project NAME\n"
    "  project list --db FILE [--json]\n"
    "  key create --db FILE --project ID [--role ingest|read] [--days N]\n"
    "  key rotate --db FILE --prefix PREFIX [--role ingest|read]\n"
    "  key revoke --db FILE --prefix PREFIX\n"
    "  agent-session create --db FILE --project ID --agent NAME [--days N]\n"
    "\n"
    "  --version                         print the version\n"
    "\n"
    "Run `otas-collector <command> --help` for a command's options.\n";

static const char help_init[] =
    "usage: otas-collector init --db FILE --project NAME [--description TEXT]\n"
    "                           [--days N] [--quiet|--key-only]\n"
    "\n"
    "Create the database (schema, secrets) and a first project with an\n"
    "ingest key (for the SDK) and a read key (dashboard, query API), valid N\n"
    "days (1..300, default 300).  The keys are printed once.  With --quiet\n"
    "stdout is three lines: the ingest key, the project id, the read key.\n";

static const char help_project[] =
    "usage: otas-collector project create --db FILE --project NAME\n"
    "                                     [--description TEXT] [--days N]\n"
    "                                     [--quiet|--key-only]\n"
    "       otas-collector project list --db FILE [--json]\n"
    "\n"
    "create: a new project with an ingest and a read key (printed once; with\n"
    "--quiet: ingest key, project id, read key, one a line).\n"
    "list: every project with its number of active keys.\n";

static const char help_key[] =
    "usage: otas-collector key create --db FILE --project ID [--days N]\n"
    "                                 [--role ingest|read] [--quiet|--key-only]\n"
    "       otas-collector key rotate --db FILE --prefix PREFIX [--days N]\n"
    "                                 [--role ingest|read] [--quiet]\n"
    "       otas-collector key revoke --db FILE --prefix PREFIX\n"
    "\n"
    "create: another key for project ID, valid N days (1..300, default 300),\n"
    "printed once.  --role ingest (default) authenticates and logs events,\n"
    "what app servers hold; --role read queries and signs into the dashboard.\n"
    "rotate: a new key for the same project and role, then the old one is\n"
    "revoked (a key made before roles existed works as both until rotated,\n"
    "and becomes an ingest key unless --role says otherwise).  revoke: the\n"
    "key whose prefix (the 11 characters after `otas_`) is PREFIX stops\n"
    "working at once.\n";

static const char help_agent[] =
    "usage: otas-collector agent-session create --db FILE --project ID\n"
    "                                           --agent NAME [--days N]\n"
    "\n"
    "Register agent NAME (once per project) and a new session; prints the\n"
    "session token (an HS256 JWT, valid N days, default 30) that the agent\n"
    "sends as X-OTAS-Agent-Session-Token.  Events carrying it are stored\n"
    "with agent_id, agent_session_id and agent_verified=true.\n";

static const char help_serve[] =
    "usage: otas-collector serve --db FILE [--listen HOST:PORT] [options]\n"
    "\n"
    "  --listen HOST:PORT       default 127.0.0.1:8002; port 0 picks a free\n"
    "                           one, printed as `listening on HOST:PORT`\n"
    "  --platform-compat        behave like the platform's Brain: no batch\n"
    "                           endpoint, agent token required per event\n"
    "  --max-body-bytes N       request body as sent (default 16 MiB)\n"
    "  --max-decoded-bytes N    body after gunzip (default 64 MiB)\n"
    "  --max-batch-events N     events per batch (default 10000)\n"
    "  --max-header-bytes N     request header block (default 16 KiB)\n"
    "  --max-connections N      open connections (default 1024)\n"
    "  --max-connections-per-ip N  open connections from one address\n"
    "                           (default a quarter of --max-connections,\n"
    "                           at least 64; 0: no limit)\n"
    "  --header-timeout SECONDS the whole request header block must arrive\n"
    "                           within this (default 10)\n"
    "  --max-inflight-body-bytes N  all request bodies being read at once;\n"
    "                           past it 503 + Retry-After (default 256 MiB)\n"
    "  --query-threads N        threads for the query API (default 2; 0 runs\n"
    "                           queries on the HTTP threads)\n"
    "  --max-queued-queries N   queries waiting for a thread; past it 503\n"
    "                           + Retry-After (default 32)\n"
    "  --tls-cert FILE          serve HTTPS: PEM certificate (chain)\n"
    "  --tls-key FILE           and its PEM private key (unencrypted)\n"
    "  --max-pending N          requests waiting for a commit before the\n"
    "                           collector answers 429 (default 256)\n"
    "  --threads N              HTTP threads (default 4)\n"
    "  --timeout SECONDS        idle or slow client timeout (default 30)\n"
    "  --sync full|normal       full: fsync each group commit (default)\n"
    "  --retain-days N          delete events older than N days (PostgreSQL:\n"
    "                           drops whole day partitions), hourly\n"
    "  --maintain-interval S    seconds between retention/partition runs\n"
    "                           (default 3600)\n"
    "  --writers N              PostgreSQL: group commits in flight at once\n"
    "                           (default 4; SQLite always has one writer)\n"
    "  --text-index on|off      the trigram index that text search (q) uses\n"
    "                           (default on; off: ingest costs less, q scans)\n"
    "  --dashboard-dir DIR      serve the dashboard from DIR, not the binary\n"
    "  --quiet                  no per-request log lines\n"
    "\n"
    "OTAS_JWT_SECRET: also accept agent tokens signed by the platform.\n"
    "SIGTERM/SIGINT: stop accepting, finish requests in flight, close the\n"
    "database, exit 0.\n";

static long
num(const char *flag, const char *v, long lo, long hi)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (!*v || *end || n < lo || n > hi)
		usage_error("%s wants a number in %ld..%ld", flag, lo, hi);
	return n;
}

/* Parse argv[i..] as flags; which flags are allowed is `allowed`, a
 * space-separated list.  --help prints help and exits 0. */
static void
parse(int argc, char **argv, int i, const char *allowed, const char *help,
      args_t *a)
{
	memset(a, 0, sizeof *a);
	a->days = -1;
	for (; i < argc; i++) {
		char flag[64];
		const char *v = NULL, *eq;
		const char *f = argv[i];
		if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
			fputs(help, stdout);
			exit(0);
		}
		if (strncmp(f, "--", 2) != 0)
			usage_error("unexpected argument '%.40s'", f);
		eq = strchr(f, '=');
		snprintf(flag, sizeof flag, "%.*s",
		         (int)(eq ? (size_t)(eq - f) : strlen(f)), f);
		{
			/* flag must appear in allowed as a whole word */
			const char *p = allowed;
			size_t fl = strlen(flag);
			int ok = 0;
			while ((p = strstr(p, flag))) {
				if ((p == allowed || p[-1] == ' ') &&
				    (p[fl] == ' ' || p[fl] == '\0')) {
					ok = 1;
					break;
				}
				p += fl;
			}
			if (!ok)
				usage_error("unknown option '%.40s'", flag);
		}
		/* boolean flags */
		if (!strcmp(flag, "--quiet") || !strcmp(flag, "--key-only")) {
			a->quiet = 1;
			continue;
		}
		if (!strcmp(flag, "--json")) {
			a->json = 1;
			continue;
		}
		if (!strcmp(flag, "--platform-compat")) {
			a->platform_compat = 1;
			continue;
		}
		if (eq)
			v = eq + 1;
		else if (i + 1 < argc)
			v = argv[++i];
		else
			usage_error("%s needs a value", flag);
		if (!strcmp(flag, "--db"))
			a->db = v;
		else if (!strcmp(flag, "--project") || !strcmp(flag, "--name"))
			a->project = a->name = v;
		else if (!strcmp(flag, "--description"))
			a->description = v;
		else if (!strcmp(flag, "--prefix"))
			a->prefix = v;
		else if (!strcmp(flag, "--agent"))
			a->agent = v;
		else if (!strcmp(flag, "--listen"))
			a->listen = v;
		else if (!strcmp(flag, "--dashboard-dir"))
			a->dashboard_dir = v;
		else if (!strcmp(flag, "--sync"))
			a->sync = v;
		else if (!strcmp(flag, "--tls-cert"))
			a->tls_cert = v;
		else if (!strcmp(flag, "--tls-key"))
			a->tls_key = v;
		else if (!strcmp(flag, "--max-connections-per-ip")) {
			a->max_conns_ip = num(flag, v, 0, 100000);
			a->max_conns_ip_set = 1;
		} else if (!strcmp(flag, "--header-timeout"))
			a->header_timeout = num(flag, v, 1, 3600);
		else if (!strcmp(flag, "--max-inflight-body-bytes"))
			a->max_inflight = num(flag, v, 1, LONG_MAX);
		else if (!strcmp(flag, "--query-threads")) {
			a->query_threads = num(flag, v, 0, 256);
			a->query_threads_set = 1;
		}
		else if (!strcmp(flag, "--max-queued-queries"))
			a->max_queued_queries = num(flag, v, 0, 100000);
		else if (!strcmp(flag, "--role"))
			a->role = v;
		else if (!strcmp(flag, "--retain-days"))
			a->retain_days = num(flag, v, 0, 100000);
		else if (!strcmp(flag, "--text-index"))
			a->text_index = v;
		else if (!strcmp(flag, "--writers"))
			a->writers = num(flag, v, 1, 16);
		else if (!strcmp(flag, "--maintain-interval"))
			a->maintain_interval = num(flag, v, 1, 86400);
		else if (!strcmp(flag, "--days")) {
			/* 0 is accepted but undocumented: an already expired
			 * key, for tests of expiry. */
			a->days = num(flag, v, 0, 300);
			a->days_set = 1;
		} else if (!strcmp(flag, "--max-body-bytes"))
			a->max_body = num(flag, v, 1, LONG_MAX);
		else if (!strcmp(flag, "--max-decoded-bytes"))
			a->max_decoded = num(flag, v, 1, LONG_MAX);
		else if (!strcmp(flag, "--max-batch-events"))
			a->max_events = num(flag, v, 1, 10000000);
		else if (!strcmp(flag, "--max-connections"))
			a->max_conns = num(flag, v, 1, 100000);
		else if (!strcmp(flag, "--max-pending")) {
			a->max_pending = num(flag, v, 0, 1000000);
			a->max_pending_set = 1;
		}
		else if (!strcmp(flag, "--max-header-bytes"))
			a->max_header = num(flag, v, 1024, 1 << 20);
		else if (!strcmp(flag, "--threads"))
			a->threads = num(flag, v, 1, 1024);
		else if (!strcmp(flag, "--timeout"))
			a->timeout = num(flag, v, 1, 86400);
		else if (!strcmp(flag, "--test-text-budget-ms"))
			a->text_budget = num(flag, v, 1, 600000);
		else if (!strcmp(flag, "--test-commit-delay-ms"))
			a->commit_delay = num(flag, v, 0, 60000);
		else if (!strcmp(flag, "--test-fail-commits"))
			a->fail_commits = (int)num(flag, v, 0, 1);
		else if (!strcmp(flag, "--test-discard-commits"))
			a->discard_commits = (int)num(flag, v, 0, 1);
		else if (!strcmp(flag, "--test-hold-text-index"))
			a->hold_index = (int)num(flag, v, 0, 1);
		else if (!strcmp(flag, "--test-path-fill"))
			a->path_fill = num(flag, v, 1, 1000000000);
	}
	if (!a->db) {
		const char *env = getenv("OTAS_COLLECTOR_DB");
		a->db = env && *env ? env : NULL;
	}
	if (!a->db)
		usage_error("--db is required (or OTAS_COLLECTOR_DB)");
}

static otas__store_t *
open_store(const char *db, int create)
{
	char err[256];
	otas__store_t *st = otas__store_open(db, create, err, sizeof err);

	if (!st) {
		fprintf(stderr, "%s: %s\n", prog, err);
		exit(EXIT_USAGE);
	}
	return st;
}

/* The ingest key first (what app servers hold), then the read key (for
 * the dashboard and the query API). */
static void
print_new_project(const args_t *a, const char *id, const char *key,
                  const char *read_key)
{
	if (a->quiet)
		printf("%s\n%s\n%s\n", key, id, read_key);
	else
		printf("project \"%s\" created, id %s\n"
		       "ingest key for the SDK (OTAS_SDK_KEY; shown once, store it "
		       "now; valid %ld days):\n%s\n"
		       "read key for the dashboard and the query API (shown once):"
		       "\n%s\n",
		       a->project, id, a->days, key, read_key);
}

static int
new_project(args_t *a, otas__store_t *st)
{
	char id[37], key[OTAS__KEY_LEN + 1], rkey[OTAS__KEY_LEN + 1];

	if (!a->days_set)
		a->days = 300;
	if (otas__store_project_create(st, a->project, a->description, id) != 0 ||
	    otas__store_key_create_role(st, id, (int)a->days, OTAS__ROLE_INGEST,
	                                key) != 0 ||
	    otas__store_key_create_role(st, id, (int)a->days, OTAS__ROLE_READ,
	                                rkey) != 0)
		fail("cannot create the project");
	print_new_project(a, id, key, rkey);
	memset(key, 0, sizeof key);
	memset(rkey, 0, sizeof rkey);
	return 0;
}

static int
role_arg(const args_t *a, int dflt)
{
	int role = dflt;

	if (a->role && otas__role_parse(a->role, &role) != 0)
		usage_error("--role wants ingest or read");
	return role;
}

static int
cmd_init(int argc, char **argv)
{
	args_t a;
	otas__store_t *st;
	json_t *list;

	parse(argc, argv, 2,
	      "--db --project --name --description --days --quiet --key-only",
	      help_init, &a);
	if (!a.project)
		usage_error("--project NAME is required");
	st = open_store(a.db, 1);
	list = otas__store_project_list(st);
	if (!list)
		fail("cannot read the database");
	if (json_array_size(list) > 0) {
		json_decref(list);
		otas__store_close(st);
		fprintf(stderr,
		        "%s: %s is already initialised (use `project create`)\n",
		        prog, a.db);
		return EXIT_USAGE;
	}
	json_decref(list);
	new_project(&a, st);
	otas__store_close(st);
	return 0;
}

static int
cmd_project(int argc, char **argv)
{
	const char *sub = argc > 2 ? argv[2] : "";
	args_t a;
	otas__store_t *st;

	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(help_project, stdout);
		return 0;
	}
	if (!strcmp(sub, "create")) {
		parse(argc, argv, 3,
		      "--db --project --name --description --days --quiet "
		      "--key-only",
		      help_project, &a);
		if (!a.project)
			usage_error("--project NAME is required");
		st = open_store(a.db, 0);
		new_project(&a, st);
		otas__store_close(st);
		return 0;
	}
	if (!strcmp(sub, "list")) {
		json_t *list, *p;
		size_t i;
		parse(argc, argv, 3, "--db --json", help_project, &a);
		st = open_store(a.db, 0);
		list = otas__store_project_list(st);
		otas__store_close(st);
		if (!list)
			fail("cannot read the database");
		if (a.json) {
			char *txt = json_dumps(list, JSON_INDENT(2));
			puts(txt);
			free(txt);
		} else {
			printf("%-36s  %-11s  %s\n", "ID", "ACTIVE_KEYS", "NAME");
			json_array_foreach(list, i, p)
			printf("%-36s  %-11lld  %s\n",
			       json_string_value(json_object_get(p, "id")),
			       (long long)json_integer_value(
			           json_object_get(p, "active_keys")),
			       json_string_value(json_object_get(p, "name")));
		}
		json_decref(list);
		return 0;
	}
	usage_error("project wants `create` or `list`");
}

static int
cmd_key(int argc, char **argv)
{
	const char *sub = argc > 2 ? argv[2] : "";
	args_t a;
	otas__store_t *st;

	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(help_key, stdout);
		return 0;
	}
	if (!strcmp(sub, "create")) {
		char key[OTAS__KEY_LEN + 1];
		int role;
		parse(argc, argv, 3,
		      "--db --project --days --role --quiet --key-only", help_key,
		      &a);
		if (!a.project)
			usage_error("--project ID is required");
		if (!a.days_set)
			a.days = 300;
		role = role_arg(&a, OTAS__ROLE_INGEST);
		st = open_store(a.db, 0);
		if (otas__store_key_create_role(st, a.project, (int)a.days, role,
		                                key) != 0) {
			otas__store_close(st);
			fprintf(stderr, "%s: no project with id %.40s\n", prog,
			        a.project);
			return 1;
		}
		otas__store_close(st);
		if (a.quiet)
			printf("%s\n", key);
		else
			printf("%s key (shown once, store it now; valid %ld days):\n"
			       "%s\n", otas__role_name(role), a.days, key);
		memset(key, 0, sizeof key);
		return 0;
	}
	if (!strcmp(sub, "rotate")) {
		char key[OTAS__KEY_LEN + 1];
		int role = 0;
		parse(argc, argv, 3, "--db --prefix --days --role --quiet --key-only",
		      help_key, &a);
		if (!a.prefix)
			usage_error("--prefix PREFIX is required");
		if (!a.days_set)
			a.days = 300;
		role = role_arg(&a, 0);
		st = open_store(a.db, 0);
		if (otas__store_key_rotate(st, a.prefix, (int)a.days, role, key,
		                           &role) != 0) {
			otas__store_close(st);
			fprintf(stderr, "%s: no active key with that prefix\n", prog);
			return 1;
		}
		otas__store_close(st);
		if (a.quiet)
			printf("%s\n", key);
		else
			printf("old key revoked; new %s key (shown once, valid %ld "
			       "days):\n%s\n",
			       otas__role_name(role), a.days, key);
		memset(key, 0, sizeof key);
		return 0;
	}
	if (!strcmp(sub, "revoke")) {
		int n;
		parse(argc, argv, 3, "--db --prefix", help_key, &a);
		if (!a.prefix)
			usage_error("--prefix PREFIX is required");
		st = open_store(a.db, 0);
		n = otas__store_key_revoke(st, a.prefix);
		otas__store_close(st);
		if (n < 0)
			fail("cannot revoke the key");
		if (n == 0) {
			fprintf(stderr, "%s: no active key with that prefix\n", prog);
			return 1;
		}
		printf("revoked %d key\n", n);
		return 0;
	}
	usage_error("key wants `create`, `rotate` or `revoke`");
}

static int
cmd_agent_session(int argc, char **argv)
{
	const char *sub = argc > 2 ? argv[2] : "";
	args_t a;
	otas__store_t *st;
	char *token;

	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(help_agent, stdout);
		return 0;
	}
	if (strcmp(sub, "create") != 0)
		usage_error("agent-session wants `create`");
	parse(argc, argv, 3, "--db --project --agent --days --quiet", help_agent,
	      &a);
	if (!a.project || !a.agent)
		usage_error("--project ID and --agent NAME are required");
	if (!a.days_set)
		a.days = 30;
	st = open_store(a.db, 0);
	token = otas__store_agent_session_create(st, a.project, a.agent,
	                                         (int)a.days);
	otas__store_close(st);
	if (!token) {
		fprintf(stderr, "%s: no project with id %.40s\n", prog, a.project);
		return 1;
	}
	printf("%s\n", token);
	free(token);
	return 0;
}

static int
cmd_serve(int argc, char **argv)
{
	args_t a;
	otas__store_t *st;
	otas__server_t *srv;
	otas__server_opts_t o = {0};
	otas__writer_opts_t w = {0};
	char err[256];
	sigset_t set;
	int sig;

	parse(argc, argv, 2,
	      "--db --listen --platform-compat --max-body-bytes "
	      "--max-decoded-bytes --max-batch-events --max-header-bytes "
	      "--max-connections --max-pending --threads --timeout --sync "
	      "--dashboard-dir --quiet --test-commit-delay-ms --test-fail-commits "
	      "--test-discard-commits "
	      "--test-text-budget-ms --test-hold-text-index --test-path-fill "
	      "--max-connections-per-ip --header-timeout "
	      "--max-inflight-body-bytes --query-threads --max-queued-queries "
	      "--tls-cert --tls-key "
	      "--retain-days --maintain-interval --writers --text-index",
	      help_serve, &a);
	if (a.text_index && strcmp(a.text_index, "on") &&
	    strcmp(a.text_index, "off"))
		usage_error("--text-index wants on or off");
	if (a.sync && strcmp(a.sync, "full") && strcmp(a.sync, "normal"))
		usage_error("--sync wants full or normal");
	o.listen = a.listen ? a.listen : "127.0.0.1:8002";
	o.platform_compat = a.platform_compat;
	o.max_body_bytes = a.max_body ? (size_t)a.max_body : 16u << 20;
	o.max_decoded_bytes = a.max_decoded ? (size_t)a.max_decoded : 64u << 20;
	o.max_batch_events = a.max_events ? (size_t)a.max_events : 10000;
	o.max_header_bytes = a.max_header ? (size_t)a.max_header : 16384;
	o.max_connections = a.max_conns ? (unsigned)a.max_conns : 1024;
	o.timeout_s = a.timeout ? (unsigned)a.timeout : 30;
	o.max_connections_per_ip = a.max_conns_ip_set
	                               ? (unsigned)a.max_conns_ip
	                               : (o.max_connections / 4 > 64
	                                      ? o.max_connections / 4
	                                      : 64);
	o.header_timeout_s = a.header_timeout ? (unsigned)a.header_timeout : 10;
	o.max_inflight_body_bytes =
	    a.max_inflight ? (size_t)a.max_inflight
	                   : (o.max_body_bytes > (256u << 20) ? o.max_body_bytes
	                                                      : 256u << 20);
	if (o.max_inflight_body_bytes < o.max_body_bytes)
		usage_error("--max-inflight-body-bytes must be at least "
		            "--max-body-bytes");
	o.query_threads = a.query_threads_set ? (unsigned)a.query_threads : 2;
	o.max_queued_queries = a.max_queued_queries ? (unsigned)a.max_queued_queries : 32;
	o.tls_cert_file = a.tls_cert;
	o.tls_key_file = a.tls_key;
	if (!o.tls_cert_file != !o.tls_key_file)
		usage_error("--tls-cert and --tls-key go together");
	o.threads = a.threads ? (unsigned)a.threads : 4;
	o.log_requests = !a.quiet;
	o.dashboard_dir = a.dashboard_dir;
	o.platform_jwt_secret = getenv("OTAS_JWT_SECRET");
	if (o.platform_jwt_secret && !*o.platform_jwt_secret)
		o.platform_jwt_secret = NULL;
	w.sync_full = !a.sync || !strcmp(a.sync, "full");
	w.max_pending = a.max_pending_set ? (int)a.max_pending : 256;
	w.commit_delay_ms = (int)a.commit_delay;
	if (a.text_budget)
		otas__dash_text_budget_ms = (int)a.text_budget;
	w.fail_commits = a.fail_commits;
	w.discard_commits = a.discard_commits;
	w.retain_days = (int)a.retain_days;
	w.maintain_interval_s = (int)a.maintain_interval;
	w.writers = (int)a.writers;
	w.no_text_index = a.text_index && !strcmp(a.text_index, "off");
	w.hold_text_index = a.hold_index;
	w.path_fill_events = (int)a.path_fill;

	st = open_store(a.db, 0);
	/* Signals are taken by sigwait below; every thread started from here
	 * on inherits the blocked mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (otas__store_writer_start(st, &w) != 0)
		fail("cannot start the database writer");
	srv = otas__server_start(st, &o, err, sizeof err);
	if (!srv) {
		otas__store_close(st);
		fail(err);
	}
	/* Even with --quiet: a collector that keeps nothing must say so. */
	if (w.discard_commits)
		fprintf(stderr, "warning: --test-discard-commits: every batch is "
		                "answered as stored and nothing is written "
		                "(benchmarks only)\n");
	printf("listening on %.*s:%u\n",
	       (int)(strrchr(o.listen, ':') - o.listen), o.listen,
	       otas__server_port(srv));
	fflush(stdout);
	if (!a.quiet)
		/* A PostgreSQL URL may hold a password: name the store only. */
		fprintf(stderr, "info: otas-collector serving %s%s%s\n",
		        strcmp(otas__store_kind(st), "sqlite")
		            ? "a PostgreSQL database"
		            : a.db,
		        o.platform_compat ? " (platform-compat)" : "",
		        w.retain_days ? ", with retention" : "");
	sigwait(&set, &sig);
	if (!a.quiet)
		fprintf(stderr, "info: signal %d, finishing requests in flight\n",
		        sig);
	otas__server_stop(srv, 10000);
	otas__store_close(st);
	if (!a.quiet)
		fprintf(stderr, "info: stopped cleanly\n");
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stderr, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(help_main, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("otas-collector %s\n", OTAS_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "init"))
		return cmd_init(argc, argv);
	if (!strcmp(cmd, "serve")) {
#ifdef __GLIBC__
		/* A batch's decoded body (~1 MB under the engine's batches,
		 * several in flight per connection) lives until its commit
		 * is answered, its events' documents in it: with glibc's
		 * sliding thresholds (trim at twice the last freed mmap'd
		 * chunk) each arena gave that memory back between batches
		 * and faulted it in again, 0.45-0.70 minor faults an event.
		 * Fixed thresholds within what glibc slides up to itself
		 * (32 MiB mmap, 64 MiB trim) keep it for the next batch. */
		mallopt(M_MMAP_THRESHOLD, 8 << 20);
		mallopt(M_TRIM_THRESHOLD, 32 << 20);
#endif
		return cmd_serve(argc, argv);
	}
	if (!strcmp(cmd, "project"))
		return cmd_project(argc, argv);
	if (!strcmp(cmd, "key"))
		return cmd_key(argc, argv);
	if (!strcmp(cmd, "agent-session"))
		return cmd_agent_session(argc, argv);
	if (!*cmd) {
		fputs(help_main, stderr);
		return EXIT_USAGE;
	}
	usage_error("unknown command '%.40s'", cmd);
}
