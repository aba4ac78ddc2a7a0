/*
 * config.h -- the engine's options (struct otas_config_s).  Fields are
 * written by otas_config_set() before the engine exists and are read-only
 * afterwards, so every thread may read them without a lock.
 */
#ifndef OTAS_CONFIG_H
#define OTAS_CONFIG_H

#include <stdint.h>

#include "otas/otas.h"

struct otas_config_s {
	char *sdk_key;          /* secret: never echoed */
	char *base_url;
	char *auth_url;         /* "" = base_url */
	int enabled;
	int debug;
	char *sensitive_headers;
	char *request_header_masks;  /* request direction only */
	char *response_header_masks; /* response direction only */
	/* Read by the host (the Python package), validated here so that every
	 * option has one table: which user field is the id, whether to
	 * resolve an unevaluated user after the view, outgoing bodies, and
	 * traceparent propagation on captured outgoing calls. */
	char *user_id_field;
	int resolve_user;
	int capture_outgoing_bodies;
	int propagate_traceparent;
	int64_t max_in_flight;      /* batches in flight at once (1..8) */
	int64_t queue_max_bytes;
	int64_t batch_max_events;
	int64_t batch_max_bytes;
	int64_t flush_interval_ms;
	int64_t max_body_bytes;
	int capture_bodies;
	int64_t timeout_ms;
	int64_t shutdown_timeout_ms;
	char *spool_dir;        /* "" = default */
	int64_t spool_max_bytes;
	int send_without_agent_token;
	int strict_startup;
	int capture_outgoing; /* read by the host: it patches its HTTP clients */
	char *sdk_name;         /* "" = otas-c/<version> */
	char *redact_request_body;
	char *redact_response_body;
	char *sensitive_query_params;
	char *redact_names;     /* more sensitive names (redact_names.h) */
	int redact_default_names;
	/* identity.c and filter.c (validated by otas_config_check) */
	char *auth_header_names;
	char *auth_user_field;
	char *trusted_proxies;
	int event_id_header;    /* read by the host: it sets the header */
	char *exclude_paths;
	char *sample_rate;
	char *capture_methods;
	char *tags;
	char *service_version;
	char *ca_bundle;        /* "" = the system's (http_curl.c probes) */
	/* otlp.c: OTAS_EXPORTER=otlp (validated by otlp.c) */
	char *exporter;         /* "otas" | "otlp" */
	char *otlp_endpoint;    /* "" = OTAS__OTLP_DEFAULT_ENDPOINT */
	char *otlp_headers;     /* secret: never echoed */
	char *otlp_compression; /* "gzip" | "none" */
	char *service_name;
	char *compression;      /* OTAS_COMPRESSION, see otas__compression */
};

/* OTAS_COMPRESSION: batch body encoding toward the OTAS back end. */
enum { OTAS__COMP_AUTO, OTAS__COMP_ZSTD, OTAS__COMP_GZIP, OTAS__COMP_NONE };
/* OTAS__COMP_*, or -1 when the value is not known. */
int otas__compression(const otas_config_t *c);

/* Split a comma-separated list into lower-cased, trimmed, non-empty
 * names.  Returns a NULL-terminated malloc'd array (free with
 * otas__names_free), NULL on oom. */
char **otas__names_split(const char *list, size_t *n_out);
/* The same split with a choice of case: OTAS__FOLD_LOWER, OTAS__FOLD_KEEP
 * or OTAS__FOLD_UPPER.  Every comma list of the options goes through it. */
enum { OTAS__FOLD_LOWER = -1, OTAS__FOLD_KEEP = 0, OTAS__FOLD_UPPER = 1 };
char **otas__list_split(const char *list, size_t *n_out, int fold);
void otas__names_free(char **names);

#endif
