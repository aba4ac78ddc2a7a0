/*
 * otas.h -- the public C interface of the OTAS capture engine (libotas).
 *
 * The engine owns every decision about an API event: which fields it has,
 * redaction, body caps, the bounded queue, batching, JSON, gzip, delivery
 * over HTTP (libcurl), retries and the disk spool.  A host (the CPython
 * binding in python/otas/_engine.c, or any C program) hands it the raw pieces
 * of one request/response pair in ONE call, otas_capture(), which copies the
 * bytes and enqueues them; everything else happens on one background sender
 * thread per process.
 *
 * Threads: every function here may be called from any thread unless its
 * comment says otherwise.  No function prints, aborts or exits.
 * Secrets: the SDK key given in the configuration never appears in an error
 * message, a log line, a stats field or a spool file.
 */
#ifndef OTAS_H
#define OTAS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define OTAS_API __declspec(dllexport)
#elif defined(__GNUC__)
#define OTAS_API __attribute__((visibility("default")))
#else
#define OTAS_API
#endif

#ifndef OTAS_VERSION /* CMake passes the one in python/otas/_version.py */
#define OTAS_VERSION "0.3.0.dev0"
#endif

/* ---------------------------------------------------------------- config */

typedef struct otas_config_s otas_config_t;

/* A configuration holding every option at its documented default.
 * Returns NULL only when out of memory.  Owned by the caller until passed to
 * otas_engine_new(). */
OTAS_API otas_config_t *otas_config_new(void);
OTAS_API void otas_config_free(otas_config_t *cfg);

/* Set one option by its environment-variable name, e.g.
 * ("OTAS_BATCH_MAX_EVENTS", "100").  Values are strings exactly as a user
 * writes them in the environment; lists are comma-separated.
 * Returns 0 on success; -1 when the name is unknown or the value invalid,
 * with `err` (NUL-terminated, at most errlen bytes) naming the option, the
 * bad value (never for secret options) and the fix.  The option
 * "OTAS_SDK_KEY" is stored but never echoed back. */
OTAS_API int otas_config_set(otas_config_t *cfg, const char *name,
                             const char *value, char *err, size_t errlen);

/* Cross-option validation after all otas_config_set() calls (e.g. a batch
 * byte limit above the queue budget).  Same return convention. */
OTAS_API int otas_config_check(const otas_config_t *cfg, char *err,
                               size_t errlen);

/* Read back an option's effective value as a string into buf (for system
 * checks and `otas.config()`); the SDK key reads back as "otas_***" when set
 * and "" when not.  Returns 0, or -1 for an unknown name. */
OTAS_API int otas_config_get(const otas_config_t *cfg, const char *name,
                             char *buf, size_t buflen);

/* NULL-terminated list of every option name the engine understands. */
OTAS_API const char *const *otas_config_names(void);

/* ---------------------------------------------------------- authenticate */

typedef enum {
	OTAS_AUTH_OK = 0,          /* 2xx with status 1: project fields set */
	OTAS_AUTH_INVALID_KEY = 1, /* 401/403, or 2xx with status != 1 */
	OTAS_AUTH_UNREACHABLE = 2, /* connect error, timeout, 5xx, bad reply */
	OTAS_AUTH_CONFIG = 3       /* no key, bad URL */
} otas_auth_status_t;

typedef struct {
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

/* POST {auth_url}/api/project/v1/sdk/backend/key/authenticate/ with the
 * key in X-OTAS-SDK-KEY, through libcurl, waiting at most timeout_ms.
 * Accepts both `status`/`response` and `Status`/`Response` spellings.
 * Blocks: call without holding the GIL.  Always fills *out; returns
 * out->status. */
OTAS_API otas_auth_status_t otas_authenticate_key(const char *auth_url,
                                                  const char *sdk_key,
                                                  int timeout_ms,
                                                  otas_auth_result_t *out);

/* ---------------------------------------------------------------- engine */

typedef struct otas_engine_s otas_engine_t;

/* Takes ownership of cfg (freed even on failure).  Does no network I/O and
 * starts no thread: the sender thread starts lazily at the first capture
 * (and again in a forked child).  Returns NULL with err filled on invalid
 * configuration. */
OTAS_API otas_engine_t *otas_engine_new(otas_config_t *cfg, char *err,
                                        size_t errlen);

/* Authenticate with the engine's key and URLs, blocking up to timeout_ms,
 * and remember the project for delivery.  When the back end is unreachable
 * the engine keeps capturing and retries authentication in the background.
 * Blocks: call without holding the GIL. */
OTAS_API otas_auth_status_t otas_engine_authenticate(otas_engine_t *eng,
                                                     int timeout_ms,
                                                     otas_auth_result_t *out);

/* Stop the sender: flush until timeout_ms, spool what is left, free.
 * Blocks.  eng may be NULL. */
OTAS_API void otas_engine_free(otas_engine_t *eng, int timeout_ms);

/* One header (or CGI/WSGI environ entry).  Bytes are not NUL-terminated. */
typedef struct {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
} otas_header_t;

/* One error attached to an event (an exception the view raised, or one
 * reported with otas.report_error()). */
typedef struct {
	const char *type;
	size_t type_len;
	const char *message;
	size_t message_len;
	const char *stack;
	size_t stack_len;
} otas_error_t;

enum {
	/* req_headers are a CGI/WSGI environ: only HTTP_* and CONTENT_TYPE /
	 * CONTENT_LENGTH entries are headers (HTTP_X_FOO -> x-foo); the rest
	 * is ignored.  Without the flag names are real header names. */
	OTAS_CAP_REQ_HEADERS_CGI = 1 << 0,
	/* The response body was streamed: resp_body is empty and
	 * resp_body_size is the count of bytes streamed (or -1). */
	OTAS_CAP_RESP_STREAMING = 1 << 1,
	/* The request body was not read (multipart, octet-stream, over the
	 * cap): req_body is empty, req_body_size is the declared length. */
	OTAS_CAP_REQ_BODY_SKIPPED = 1 << 2,
	/* direction "outgoing" (a call the app made), see parent_event_id */
	OTAS_CAP_OUTGOING = 1 << 3
};

/* The raw pieces of one request/response pair.  Every pointer is borrowed
 * for the duration of otas_capture() only; unset strings are NULL/0. */
typedef struct {
	int flags;                    /* OTAS_CAP_* */
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
	/* "SERVER_NAME:SERVER_PORT" (PEP 3333), for metadata.host when the
	 * request has no Host header; NULL when unknown. */
	const char *server_host;
	size_t server_host_len;
} otas_capture_t;

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
 * when the event was queued.
 * Returns 0 when queued, 1 when dropped (counted), 2 when excluded or
 * sampled out, -1 on bad arguments. */
OTAS_API int otas_capture(otas_engine_t *eng, const otas_capture_t *cap,
                          char event_id_out[37]);

/* Would a request with this method and path be captured?  (1, or 0 when
 * OTAS_CAPTURE_METHODS or OTAS_EXCLUDE_PATHS excludes it.)  Lets a host
 * skip its own work, such as reading the body, for excluded requests;
 * otas_capture() applies the same rules itself.  A 0 is counted in
 * "excluded" (so a host that stops there is counted once).  Sampling is
 * not decided here (it needs the event id). */
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
 * Returns 0 when queued, 1 when dropped (queue budget, out of memory;
 * counted), -1 when kind is unknown or json is not an object with the
 * required ids. */
OTAS_API int otas_entity(otas_engine_t *eng, int kind, const char *json,
                         size_t len);

/* Should the host read a request body of this content type and declared
 * length before the view runs?  (Multipart and octet-stream bodies and
 * bodies over OTAS_MAX_BODY_BYTES are not loaded; bodies off entirely when
 * OTAS_CAPTURE_BODIES=0.)  content_length < 0 means unknown/chunked. */
OTAS_API int otas_want_request_body(const otas_engine_t *eng,
                                    const char *content_type, size_t ct_len,
                                    int64_t content_length);

/* How many bytes of a body the engine keeps (OTAS_MAX_BODY_BYTES, or 0
 * when OTAS_CAPTURE_BODIES=0): hosts that assemble a body from chunks
 * (WSGI iterables, ASGI messages) copy at most this much. */
OTAS_API size_t otas_body_cap(const otas_engine_t *eng);

/* Wait until everything captured before the call has been delivered or
 * spooled, at most timeout_ms.  Returns 1 when done, 0 on timeout.
 * Blocks: call without holding the GIL. */
OTAS_API int otas_flush(otas_engine_t *eng, int timeout_ms);

/* Counters since the engine was created (this process). */
typedef struct {
	uint64_t captured;        /* otas_capture() calls that queued */
	uint64_t sent;            /* events acknowledged by the back end */
	uint64_t batches;         /* requests that delivered >= 1 event */
	uint64_t bytes_sent;      /* request bodies as sent (compressed) */
	uint64_t retried;         /* delivery attempts repeated */
	uint64_t spooled;         /* events written to the spool */
	uint64_t unspooled;       /* events read back from the spool */
	uint64_t duplicates;      /* events the back end already had */
	uint64_t dropped_queue_full;
	uint64_t dropped_rejected;          /* 400 / rejected by back end */
	uint64_t dropped_invalid_agent_token; /* 401 about the event's token */
	uint64_t skipped_no_agent_token;    /* per-event mode, no token */
	uint64_t dropped_spool_full;        /* oldest spooled batches evicted */
	uint64_t dropped_shutdown;          /* not delivered nor spooled */
	uint64_t dropped_capture_error;     /* bad input / out of memory */
	uint64_t sampled_out;     /* not captured: OTAS_SAMPLE_RATE */
	uint64_t excluded;        /* not captured: methods / exclude paths */
	uint64_t entities_sent;   /* entity updates acknowledged */
	uint64_t dropped_entities; /* entity updates not delivered */
	uint64_t queue_bytes;     /* bytes queued now */
	uint64_t queue_events;    /* events queued now */
	int batch_endpoint;       /* 1 batch, 0 per-event fallback, -1 unknown */
	int authenticated;        /* 1 once the key was accepted */
	char last_error[256];     /* last delivery problem, never the key */
} otas_stats_t;

OTAS_API void otas_stats(otas_engine_t *eng, otas_stats_t *out);

/* ---------------------------------------------------------------- logging */

/* Levels use Python's numbers so a host can pass them straight through. */
enum { OTAS_LOG_DEBUG = 10, OTAS_LOG_INFO = 20, OTAS_LOG_WARNING = 30,
       OTAS_LOG_ERROR = 40 };

/* Called from the sender thread (or the capturing thread for capture
 * faults) with a NUL-terminated, secret-free message.  The callback must not
 * call back into the engine.  Messages below min_level are never formatted.
 * Repeated faults are logged once per episode, not per event. */
typedef void (*otas_log_fn)(int level, const char *msg, void *userdata);

/* Set before the first capture; fn NULL disables logging. */
OTAS_API void otas_set_logger(otas_engine_t *eng, otas_log_fn fn,
                              void *userdata, int min_level);

/* Library version string, e.g. "0.2.0". */
OTAS_API const char *otas_version(void);

#ifdef __cplusplus
}
#endif
#endif /* OTAS_H */
