/*
 * otas.h -- the public C interface of the OTAS capture engine (libotas).
 *
 * The engine owns every decision about an API event: which fields it has,
 * redaction, body caps, the bounded queue, batching, JSON, compression,
 * delivery over HTTP (libcurl), retries and the disk spool.  A host hands
 * it the raw pieces of one request/response pair in ONE call,
 * otas_capture(), which copies the bytes and enqueues them; everything
 * else happens on one background sender thread per process.
 *
 * Conventions (as sentry-native's sentry.h):
 *   - Return values: 0 is success everywhere.  Functions that can fail
 *     return an otas_result_t (or int 0/-1, or a status enum whose 0 is
 *     OTAS_AUTH_OK); constructors return NULL on failure.  The only
 *     functions answering yes/no are the predicates otas_should_capture()
 *     and otas_want_request_body(), which return 1 for yes and 0 for no.
 *   - Public structs the caller fills or the engine fills start with
 *     `size_t struct_size`, set by OTAS_*_INIT or otas_*_init().  The engine
 *     reads and writes only the first struct_size bytes, so a host built
 *     against an older, shorter struct keeps working; fields are only ever
 *     added at the end.  otas_header_t and otas_error_t, which travel in
 *     arrays, never change.
 *   - Threads: every function may be called from any thread, concurrently,
 *     unless its comment says otherwise.  Functions marked "Blocks" wait
 *     (for the network or the sender thread) up to the timeout they take;
 *     a host with a global interpreter lock should release it around them.
 *     No function prints, aborts or exits.
 *   - Ownership: pointers passed in are borrowed for the call only, unless
 *     the comment says the function takes ownership.
 *   - Secrets: the SDK key given in the configuration never appears in an
 *     error message, a log line, a stats field or a spool file.
 *
 * Linking: define OTAS_STATIC when linking the static library, nothing for
 * the shared one.  The library is built with OTAS_BUILDING and hidden
 * visibility: only the functions below, marked OTAS_API, are exported.
 */
#ifndef OTAS_H
#define OTAS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && !defined(OTAS_STATIC)
#if defined(OTAS_BUILDING)
#define OTAS_API __declspec(dllexport)
#else
#define OTAS_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4 && \
    (!defined(OTAS_STATIC) || defined(OTAS_BUILDING))
#define OTAS_API __attribute__((visibility("default")))
#else
#define OTAS_API
#endif

/* The C API's version: 2 = 0 is success everywhere (otas_flush() too) and
 * public structs carry struct_size.  Raised when the conventions change;
 * adding fields or functions does not change it. */
#define OTAS_API_VERSION 2

#ifndef OTAS_VERSION /* the build passes the package version */
#define OTAS_VERSION "0.3.0.dev0"
#endif

/* --------------------------------------------------------------- results */

/* What otas_capture(), otas_entity() and otas_flush() return.  Only
 * OTAS_OK is success; the positive values say why nothing was queued (not
 * an error of the caller: the engine counted it), the negative ones are
 * the caller's mistakes. */
typedef enum {
	OTAS_OK = 0,       /* queued / done */
	OTAS_DROPPED = 1,  /* not queued: queue budget, out of memory or OTAS
	                    * disabled (counted where the comment says) */
	OTAS_SKIPPED = 2,  /* not captured by the rules: excluded or sampled
	                    * out (counted "excluded" / "sampled_out") */
	OTAS_TIMEOUT = 3,  /* the deadline passed first */
	OTAS_EINVAL = -1   /* bad arguments (NULL, unknown kind, bad size) */
} otas_result_t;

/* ---------------------------------------------------------------- config */

typedef struct otas_config_s otas_config_t;

/* A configuration holding every option at its documented default.
 * Returns NULL only when out of memory.  Owned by the caller until passed to
 * otas_engine_new().  otas_config_free() accepts NULL.  A configuration is
 * used by one thread at a time; different ones by any threads. */
OTAS_API otas_config_t *otas_config_new(void);
OTAS_API void otas_config_free(otas_config_t *cfg);

/* Set one option by its environment-variable name, e.g.
 * ("OTAS_BATCH_MAX_EVENTS", "100").  Values are strings exactly as a user
 * writes them in the environment; lists are comma-separated.
 * Returns 0 on success; -1 when the name is unknown or the value invalid,
 * with `err` (NUL-terminated, at most errlen bytes) naming the option, the
 * bad value (never for secret options) and the fix.  The option
 * "OTAS_SDK_KEY" is stored but never echoed back.  JSONPath rules
 * (OTAS_REDACT_*_BODY) are compiled, and refused, by otas_config_check().
 * Not thread-safe on one cfg: configure it from one thread. */
OTAS_API int otas_config_set(otas_config_t *cfg, const char *name,
                             const char *value, char *err, size_t errlen);

/* Validation after all otas_config_set() calls: what needs several options
 * (a batch byte limit above the queue budget) or a stage's parser (the
 * JSONPath rules, the filters, the OTLP exporter).  Returns 0, or -1 with
 * err naming the option and the fix.  otas_engine_new() runs it too. */
OTAS_API int otas_config_check(const otas_config_t *cfg, char *err,
                               size_t errlen);

/* Read back an option's effective value as a string into buf (for a
 * host's checks and displays); the SDK key reads back as "otas_***" when set
 * and "" when not.  Returns 0, or -1 for an unknown name. */
OTAS_API int otas_config_get(const otas_config_t *cfg, const char *name,
                             char *buf, size_t buflen);

/* NULL-terminated list of every option name the engine understands, in
 * the order of its option table.  Static storage; any thread. */
OTAS_API const char *const *otas_config_names(void);

/* What an option's value is (the TYPE column of the engine's option
 * table), so that a host can show, parse or hide it without a list of its
 * own. */
typedef enum {
	OTAS_OPTION_UNKNOWN = -1, /* not an option name */
	OTAS_OPTION_STRING = 0,   /* free text or a comma-separated list */
	OTAS_OPTION_SDK_KEY = 1,  /* the SDK key: secret, reads back otas_*** */
	OTAS_OPTION_SECRET = 2,   /* another secret: reads back *** */
	OTAS_OPTION_URL = 3,      /* an http:// or https:// URL, or empty */
	OTAS_OPTION_RULES = 4,    /* comma-separated JSONPath rules */
	OTAS_OPTION_BOOL = 5,     /* 1/0, true/false, yes/no, on/off */
	OTAS_OPTION_INT = 6,      /* a whole number within a range */
	OTAS_OPTION_SIZE = 7      /* bytes, K/M/G suffixes allowed */
} otas_option_type_t;

/* The type of the option called name.  Any thread. */
OTAS_API otas_option_type_t otas_config_type(const char *name);

/* ---------------------------------------------------------- authenticate */

typedef enum {
	OTAS_AUTH_OK = 0,          /* 2xx with status 1: project fields set */
	OTAS_AUTH_INVALID_KEY = 1, /* 401/403, or 2xx with status != 1 */
	OTAS_AUTH_UNREACHABLE = 2, /* connect error, timeout, 5xx, bad reply */
	OTAS_AUTH_CONFIG = 3       /* no key, bad URL */
} otas_auth_status_t;

typedef struct {
	size_t struct_size;       /* OTAS_AUTH_RESULT_INIT */
	otas_auth_status_t status;
	int http_status;          /* 0 when no HTTP answer was received */
	char message[256];        /* human reason; never contains the key */
	char project_id[128];
	char project_name[256];
	char project_description[1024];
	long long key_expires_at; /* unix seconds the key lapses; 0 unknown */
	int accepts_zstd;         /* the answer lists "zstd" in
	                           * response.accept_encoding */
} otas_auth_result_t;

/* OTAS_AUTH_RESULT_INIT for a declaration (C), otas_auth_result_init() for
 * memory already there (C and C++). */
#ifndef __cplusplus
#define OTAS_AUTH_RESULT_INIT {.struct_size = sizeof(otas_auth_result_t)}
#endif
static inline void
otas_auth_result_init(otas_auth_result_t *r)
{
	memset(r, 0, sizeof(*r));
	r->struct_size = sizeof(*r);
}

/* POST {auth_url}/api/project/v1/sdk/backend/key/authenticate/ with the
 * key in X-OTAS-SDK-KEY, through libcurl, waiting at most timeout_ms.
 * Accepts both `status`/`response` and `Status`/`Response` spellings.
 * Blocks.  out may be NULL; else its first out->struct_size bytes are
 * filled (struct_size kept).  Returns the status. */
OTAS_API otas_auth_status_t otas_authenticate_key(const char *auth_url,
                                                  const char *sdk_key,
                                                  int timeout_ms,
                                                  otas_auth_result_t *out);

/* ---------------------------------------------------------------- engine */

typedef struct otas_engine_s otas_engine_t;

/* Takes ownership of cfg (freed even on failure).  Does no network I/O and
 * starts no thread: the sender thread starts lazily at the first capture
 * (and again in a forked child).  Returns NULL with err filled on invalid
 * configuration.  Any thread. */
OTAS_API otas_engine_t *otas_engine_new(otas_config_t *cfg, char *err,
                                        size_t errlen);

/* Authenticate with the engine's key and URLs, blocking up to timeout_ms,
 * and remember the project for delivery.  When the back end is unreachable
 * the engine keeps capturing and retries authentication in the background.
 * Blocks; any thread, concurrently with captures.  out as for
 * otas_authenticate_key().  Returns the status. */
OTAS_API otas_auth_status_t otas_engine_authenticate(otas_engine_t *eng,
                                                     int timeout_ms,
                                                     otas_auth_result_t *out);

/* Stop the sender: flush until timeout_ms (< 0: OTAS_SHUTDOWN_TIMEOUT_MS),
 * spool what is left, free.  Blocks.  eng may be NULL.  No other call on
 * eng may run or follow (the caller's duty). */
OTAS_API void otas_engine_free(otas_engine_t *eng, int timeout_ms);

/* Stop the sender without freeing anything: deliver what was captured
 * until timeout_ms (< 0: OTAS_SHUTDOWN_TIMEOUT_MS), spool what is left
 * (what the spool cannot take is counted dropped_shutdown), join the
 * sender thread.  For an exit(3) handler or a process about to end, where
 * other threads may still call in: the engine stays valid, later captures
 * are queued but never sent (otas_engine_free() counts them
 * dropped_shutdown), a second stop does nothing new.  Returns OTAS_OK
 * when everything captured so far was delivered or spooled (also for a
 * NULL eng), OTAS_DROPPED when some was not.  otas_engine_new() has
 * initialised libcrypto, so its clean-up (an exit(3) handler of its own)
 * runs after any handler registered after otas_engine_new(), and the
 * spool can still be sealed there.  Blocks, at most about timeout_ms;
 * any thread but the logger callback's. */
OTAS_API otas_result_t otas_engine_stop(otas_engine_t *eng, int timeout_ms);

/* One header (or CGI environment entry).  Bytes are not NUL-terminated. */
typedef struct {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
} otas_header_t;

/* One error attached to an event (an exception the application raised, or
 * one the host reports for the request). */
typedef struct {
	const char *type;
	size_t type_len;
	const char *message;
	size_t message_len;
	const char *stack;
	size_t stack_len;
} otas_error_t;

typedef enum {
	/* req_headers are a CGI environment (RFC 3875): only HTTP_* and
	 * CONTENT_TYPE / CONTENT_LENGTH entries are headers (HTTP_X_FOO ->
	 * x-foo); the rest is ignored.  Without the flag names are real
	 * header names. */
	OTAS_CAP_REQ_HEADERS_CGI = 1 << 0,
	/* The response body was streamed: resp_body is empty and
	 * resp_body_size is the count of bytes streamed (or -1). */
	OTAS_CAP_RESP_STREAMING = 1 << 1,
	/* The request body was not read (multipart, octet-stream, over the
	 * cap): req_body is empty, req_body_size is the declared length. */
	OTAS_CAP_REQ_BODY_SKIPPED = 1 << 2,
	/* direction "outgoing" (a call the app made), see parent_event_id */
	OTAS_CAP_OUTGOING = 1 << 3,
	/* Keep req_body / resp_body without a copy (with body_release set,
	 * see otas_capture_t.body_release). */
	OTAS_CAP_REQ_BODY_BORROWED = 1 << 4,
	OTAS_CAP_RESP_BODY_BORROWED = 1 << 5
} otas_capture_flag_t;

/* The raw pieces of one request/response pair.  Every pointer is borrowed
 * for the duration of otas_capture() only (but bodies the host lends with
 * body_release, below); unset strings are NULL/0. */
typedef struct {
	size_t struct_size;           /* OTAS_CAPTURE_INIT / otas_capture_init */
	int flags;                    /* OTAS_CAP_* (otas_capture_flag_t) */
	const char *method;
	size_t method_len;
	const char *path;             /* no query string */
	size_t path_len;
	const char *route;            /* URL pattern that matched, or NULL */
	size_t route_len;
	const char *query;            /* raw query string, no '?' */
	size_t query_len;
	const char *scheme;           /* "http"/"https" or NULL */
	size_t scheme_len;
	const char *remote_addr;      /* socket peer address or NULL */
	size_t remote_addr_len;

	const otas_header_t *req_headers;
	size_t n_req_headers;
	const char *req_body;         /* bytes as received (maybe gzip) */
	size_t req_body_len;
	int64_t req_body_size;        /* full size; -1 = use req_body_len */

	int status;
	const otas_header_t *resp_headers; /* real header names */
	size_t n_resp_headers;
	const char *resp_body;
	size_t resp_body_len;
	int64_t resp_body_size;       /* full size; -1 = use resp_body_len */

	int64_t start_unix_us;        /* wall clock at request start */
	int64_t duration_ns;          /* monotonic time inside the app */

	const otas_error_t *errors;   /* exception first, then reported */
	size_t n_errors;

	/* Identity and context, set by the host's callbacks (may be NULL). */
	const char *user_id;
	size_t user_id_len;
	const char *company_id;
	size_t company_id_len;
	const char *session_token;    /* hashed by the engine, never stored */
	size_t session_token_len;
	const char *metadata_json;    /* a JSON object merged into metadata */
	size_t metadata_json_len;
	const char *parent_event_id;  /* outgoing: the incoming event's id */
	size_t parent_event_id_len;
	/* The event's id when the host made it up front with
	 * otas_new_event_id() (e.g. to send it in a response header before a
	 * streamed body ends, or to link outgoing calls): 36 characters.  NULL
	 * (or any other length): the engine generates one. */
	const char *event_id;
	size_t event_id_len;
	/* "SERVER_NAME:SERVER_PORT" (CGI), for metadata.host when the
	 * request has no Host header; NULL when unknown. */
	const char *server_host;
	size_t server_host_len;
	/* Big bodies without a copy.  With body_release set, a body whose
	 * OTAS_CAP_*_BODY_BORROWED flag is set is not copied: the engine
	 * keeps the pointer, and the host keeps those bytes alive and
	 * unchanged until the engine calls body_release(body_owner).  That
	 * call comes exactly once, from any thread (usually the sender's,
	 * once the event is serialised, or otas_engine_free's), for every
	 * otas_capture() that returned OTAS_OK; never for another result
	 * (the host still owns the bytes then).  It must not block or call
	 * into the engine.  A copy of a few KB costs less than the release:
	 * worth it for bodies of tens of KB.  body_release NULL: the flags
	 * are ignored, every body is copied. */
	void (*body_release)(void *body_owner);
	void *body_owner;
} otas_capture_t;

/* An otas_capture_t with every field unset: OTAS_CAPTURE_INIT for a
 * declaration (C), otas_capture_init() for memory already there (C and
 * C++). */
#ifndef __cplusplus
#define OTAS_CAPTURE_INIT {.struct_size = sizeof(otas_capture_t)}
#endif
static inline void
otas_capture_init(otas_capture_t *cap)
{
	memset(cap, 0, sizeof(*cap));
	cap->struct_size = sizeof(*cap);
}

/* A fresh UUIDv7 (36 chars + NUL) for otas_capture_t.event_id.  Any
 * thread; never fails. */
OTAS_API void otas_new_event_id(char out[37]);

/* Copy the pieces into engine memory and enqueue them; no redaction, JSON
 * or I/O happens here.  Never blocks: when the queue's byte budget is full
 * the event is dropped and counted ("queue_full").
 * Requests excluded by OTAS_CAPTURE_METHODS / OTAS_EXCLUDE_PATHS (counted
 * "excluded") or sampled out by OTAS_SAMPLE_RATE ("sampled_out") are not
 * copied at all.
 * event_id_out (may be NULL) receives the event's UUIDv7, 36 chars + NUL,
 * when the event was queued.  cap->struct_size must be at least
 * offsetof(otas_capture_t, flags) + sizeof(int); fields past it read as
 * unset.
 * Returns OTAS_OK when queued, OTAS_DROPPED when dropped (counted; also
 * when OTAS_ENABLED=0, not counted), OTAS_SKIPPED when excluded or sampled
 * out, OTAS_EINVAL on bad arguments.  Any thread; never blocks. */
OTAS_API otas_result_t otas_capture(otas_engine_t *eng,
                                    const otas_capture_t *cap,
                                    char event_id_out[37]);

/* Predicate: would a request with this method and path be captured?
 * Returns 1 (yes) or 0 (no: OTAS_CAPTURE_METHODS or OTAS_EXCLUDE_PATHS
 * excludes it, OTAS is disabled, or eng is NULL).  Lets a host
 * skip its own work, such as reading the body, for excluded requests;
 * otas_capture() applies the same rules itself.  A 0 is counted in
 * "excluded" (so a host that stops there is counted once).  Sampling is
 * not decided here (it needs the event id).  Any thread; never blocks. */
OTAS_API int otas_should_capture(otas_engine_t *eng, const char *method,
                                 size_t method_len, const char *path,
                                 size_t path_len);

/* ------------------------------------------------------------- entities */

typedef enum {
	OTAS_ENTITY_USER = 0,         /* requires "user_id" */
	OTAS_ENTITY_COMPANY = 1,      /* requires "company_id" */
	OTAS_ENTITY_SUBSCRIPTION = 2  /* requires "subscription_id" and
	                                 "company_id" */
} otas_entity_kind_t;

/* Queue one user/company/subscription update: json is a JSON object of
 * the entity's fields (ids as strings or numbers, an optional "metadata"
 * object).  The sender posts queued updates in batches to
 * POST {base}/api/v1/entities/batch/ as {"entities":[{"kind":...,...}]};
 * a back end without that endpoint (404/405) drops them, counted in
 * dropped_entities and logged once.  Updates are not spooled: one that
 * cannot be delivered before shutdown is dropped, counted.
 * Returns OTAS_OK when queued, OTAS_DROPPED when dropped (queue budget,
 * out of memory; counted), OTAS_EINVAL when kind is unknown or json is not
 * an object with the required ids.  Any thread; never blocks. */
OTAS_API otas_result_t otas_entity(otas_engine_t *eng,
                                   otas_entity_kind_t kind, const char *json,
                                   size_t len);

/* Predicate: should the host read a request body of this content type and
 * declared length before the application runs?  Returns 1 (yes) or 0 (no).
 * (Multipart and octet-stream bodies and
 * bodies over OTAS_MAX_BODY_BYTES are not loaded; bodies off entirely when
 * OTAS_CAPTURE_BODIES=0.)  content_length < 0 means unknown/chunked.
 * Any thread; never blocks. */
OTAS_API int otas_want_request_body(const otas_engine_t *eng,
                                    const char *content_type, size_t ct_len,
                                    int64_t content_length);

/* How many bytes of a body the engine keeps (OTAS_MAX_BODY_BYTES, or 0
 * when OTAS_CAPTURE_BODIES=0): hosts that assemble a body from chunks
 * (an iterable body, a stream of messages) copy at most this much.  Any
 * thread. */
OTAS_API size_t otas_body_cap(const otas_engine_t *eng);

/* Wait until everything captured before the call has been delivered or
 * spooled, at most timeout_ms.  Returns OTAS_OK when done (also for a NULL
 * eng: nothing to wait for), OTAS_TIMEOUT when the deadline passed first
 * (as sentry_flush: 0 is success).  Blocks; any thread but the logger
 * callback's. */
OTAS_API otas_result_t otas_flush(otas_engine_t *eng, int timeout_ms);

/* The fields of otas_stats_t, declared once: the engine's counters, the
 * struct below, otas_stats(), the OTAS_DEBUG shutdown line and a host
 * binding's map of them can all be generated from this table.
 *   C(name, group, key, doc)        a counter: uint64_t, only grows
 *   G(name, type, group, key, doc)  a gauge: the state now
 *   S(name, size, group, key, doc)  a NUL-terminated string of size bytes
 * `group` and `key` say where a host that nests the counters shows the
 * field: top-level under key, or in the sub-map `group` ("dropped") under
 * key.  The order is the ABI: add fields at the end only. */
#define OTAS_STATS_FIELDS(C, G, S)                                           \
	C(captured, top, captured, "otas_capture() calls that queued")        \
	C(sent, top, sent, "events acknowledged by the back end")             \
	C(batches, top, batches, "requests that delivered >= 1 event")        \
	C(bytes_sent, top, bytes_sent, "request bodies as sent (compressed)") \
	C(retried, top, retried, "delivery attempts repeated")                \
	C(spooled, top, spooled, "events written to the spool")              \
	C(unspooled, top, unspooled, "events read back from the spool")      \
	C(duplicates, top, duplicates, "events the back end already had")    \
	C(dropped_queue_full, dropped, queue_full,                            \
	  "not queued: the queue's byte budget was full")                     \
	C(dropped_rejected, dropped, rejected,                                \
	  "refused by the back end (400, rejected)")                          \
	C(dropped_invalid_agent_token, dropped, invalid_agent_token,          \
	  "401 about the event's agent token")                                \
	C(skipped_no_agent_token, dropped, skipped_no_agent_token,            \
	  "per-event mode: no agent token, not sent")                         \
	C(dropped_spool_full, dropped, spool_full,                            \
	  "oldest spooled batches evicted")                                   \
	C(dropped_shutdown, dropped, shutdown,                                \
	  "neither delivered nor spooled at shutdown")                        \
	C(dropped_capture_error, dropped, capture_error,                      \
	  "bad input or out of memory while copying")                         \
	C(sampled_out, top, sampled_out, "not captured: OTAS_SAMPLE_RATE")    \
	C(excluded, top, excluded,                                            \
	  "not captured: OTAS_CAPTURE_METHODS / OTAS_EXCLUDE_PATHS")          \
	C(entities_sent, top, entities_sent, "entity updates acknowledged")   \
	C(dropped_entities, top, dropped_entities,                            \
	  "entity updates not delivered")                                     \
	G(queue_bytes, uint64_t, top, queue_bytes, "bytes queued now")        \
	G(queue_events, uint64_t, top, queue_events, "events queued now")     \
	G(batch_endpoint, int, top, batch_endpoint,                           \
	  "1 batch endpoint, 0 per-event fallback, -1 not known yet")         \
	G(authenticated, int, top, authenticated,                             \
	  "1 once the key was accepted")                                      \
	S(last_error, 256, top, last_error,                                   \
	  "last delivery problem (never the key)")

/* Counters since the engine was created (this process). */
typedef struct {
	size_t struct_size; /* OTAS_STATS_INIT / otas_stats_init() */
#define OTAS__STATS_C(name, group, key, doc) uint64_t name;
#define OTAS__STATS_G(name, type, group, key, doc) type name;
#define OTAS__STATS_S(name, size, group, key, doc) char name[size];
	OTAS_STATS_FIELDS(OTAS__STATS_C, OTAS__STATS_G, OTAS__STATS_S)
#undef OTAS__STATS_C
#undef OTAS__STATS_G
#undef OTAS__STATS_S
} otas_stats_t;

#ifndef __cplusplus
#define OTAS_STATS_INIT {.struct_size = sizeof(otas_stats_t)}
#endif
static inline void
otas_stats_init(otas_stats_t *st)
{
	memset(st, 0, sizeof(*st));
	st->struct_size = sizeof(*st);
}

/* Fill the first out->struct_size bytes of *out (struct_size kept; the
 * fields of a newer, longer struct that this engine does not know are
 * left as they are) with the counters now.  Counters are
 * read one by one without a lock, so they may be a few events apart; the
 * gauges are read together.  eng NULL: zeros.  Any thread. */
OTAS_API void otas_stats(otas_engine_t *eng, otas_stats_t *out);

/* ---------------------------------------------------------------- logging */

/* Log levels; the numbers are the common ones (10 debug ... 40 error), so
 * a host may pass its own levels through. */
typedef enum {
	OTAS_LOG_DEBUG = 10,
	OTAS_LOG_INFO = 20,
	OTAS_LOG_WARNING = 30,
	OTAS_LOG_ERROR = 40
} otas_log_level_t;

/* Called from the sender thread (or the capturing thread for capture
 * faults, or the thread calling otas_set_logger() for the start-up line)
 * with a NUL-terminated, secret-free message.  The callback must not call
 * back into the engine.  Messages below min_level are never formatted.
 * Repeated faults are logged once per episode, not per event. */
typedef void (*otas_log_fn)(otas_log_level_t level, const char *msg,
                            void *userdata);

/* Set before the first capture (not concurrently with any other call on
 * eng); fn NULL disables logging.  When min_level is OTAS_LOG_DEBUG the
 * engine logs one start-up line at once: "otas: start (pid N): " and every
 * option as NAME='value' (secrets as '***'). */
OTAS_API void otas_set_logger(otas_engine_t *eng, otas_log_fn fn,
                              void *userdata, otas_log_level_t min_level);

/* Library version string, e.g. "0.2.0".  Static storage; any thread. */
OTAS_API const char *otas_version(void);

#ifdef __cplusplus
}
#endif
#endif /* OTAS_H */
