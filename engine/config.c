/*
 * config.c -- every option by its environment-variable name.
 *
 * One table drives set, get, defaults and the list of names, so an option
 * cannot be settable but unreadable or undocumented.  Messages name the
 * option, the bad value (except for the key) and the fix.
 */
#include "config.h"
#include "event/redact_body.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { T_STR, T_SECRET, T_BOOL, T_SIZE, T_INT, T_URL, T_RULES, T_HIDDEN };

typedef struct {
	const char *name;
	int type;
	size_t off;
	const char *def;
	int64_t min, max;
} opt_t;

#define F(f) offsetof(struct otas_config_s, f)
#define GiB ((int64_t)1 << 30)

static const opt_t opts[] = {
    {"OTAS_SDK_KEY", T_SECRET, F(sdk_key), "", 0, 0},
    {"OTAS_BASE_URL", T_URL, F(base_url), "http://localhost:8002", 0, 0},
    {"OTAS_AUTH_URL", T_URL, F(auth_url), "", 0, 0},
    {"OTAS_ENABLED", T_BOOL, F(enabled), "1", 0, 1},
    {"OTAS_DEBUG", T_BOOL, F(debug), "0", 0, 1},
    {"OTAS_SENSITIVE_HEADERS", T_STR, F(sensitive_headers), "", 0, 0},
    {"OTAS_REQUEST_HEADER_MASKS", T_STR, F(request_header_masks), "", 0, 0},
    {"OTAS_RESPONSE_HEADER_MASKS", T_STR, F(response_header_masks), "", 0,
     0},
    {"OTAS_QUEUE_MAX_BYTES", T_SIZE, F(queue_max_bytes), "33554432",
     65536, 16 * GiB},
    {"OTAS_BATCH_MAX_EVENTS", T_INT, F(batch_max_events), "100", 1, 10000},
    {"OTAS_BATCH_MAX_BYTES", T_SIZE, F(batch_max_bytes), "1048576", 1024,
     64 << 20},
    {"OTAS_FLUSH_INTERVAL_MS", T_INT, F(flush_interval_ms), "1000", 1,
     3600000},
    {"OTAS_MAX_BODY_BYTES", T_SIZE, F(max_body_bytes), "102400", 0,
     64 << 20},
    {"OTAS_CAPTURE_BODIES", T_BOOL, F(capture_bodies), "1", 0, 1},
    {"OTAS_TIMEOUT_MS", T_INT, F(timeout_ms), "10000", 100, 600000},
    {"OTAS_SHUTDOWN_TIMEOUT_MS", T_INT, F(shutdown_timeout_ms), "5000", 0,
     3600000},
    {"OTAS_SPOOL_DIR", T_STR, F(spool_dir), "", 0, 0},
    {"OTAS_SPOOL_MAX_BYTES", T_SIZE, F(spool_max_bytes), "268435456", 0,
     1024 * GiB},
    {"OTAS_SEND_WITHOUT_AGENT_TOKEN", T_BOOL, F(send_without_agent_token),
     "0", 0, 1},
    {"OTAS_STRICT_STARTUP", T_BOOL, F(strict_startup), "0", 0, 1},
    {"OTAS_CAPTURE_OUTGOING", T_BOOL, F(capture_outgoing), "0", 0, 1},
    {"OTAS_SDK_NAME", T_STR, F(sdk_name), "", 0, 0},
    {"OTAS_REDACT_REQUEST_BODY", T_RULES, F(redact_request_body), "", 0, 0},
    {"OTAS_REDACT_RESPONSE_BODY", T_RULES, F(redact_response_body), "", 0,
     0},
    {"OTAS_SENSITIVE_QUERY_PARAMS", T_STR, F(sensitive_query_params),
     "password,token,access_token,api_key,apikey,secret,client_secret", 0,
     0},
    {"OTAS_REDACT_NAMES", T_STR, F(redact_names), "", 0, 0},
    {"OTAS_REDACT_DEFAULT_NAMES", T_BOOL, F(redact_default_names), "1", 0,
     1},
    {"OTAS_AUTHORIZATION_HEADER_NAME", T_STR, F(auth_header_names),
     "authorization", 0, 0},
    {"OTAS_AUTHORIZATION_USER_ID_FIELD", T_STR, F(auth_user_field), "sub",
     0, 0},
    {"OTAS_TRUSTED_PROXIES", T_STR, F(trusted_proxies), "", 0, 0},
    {"OTAS_EVENT_ID_HEADER", T_BOOL, F(event_id_header), "0", 0, 1},
    {"OTAS_EXCLUDE_PATHS", T_STR, F(exclude_paths), "", 0, 0},
    {"OTAS_SAMPLE_RATE", T_STR, F(sample_rate), "1", 0, 0},
    {"OTAS_CAPTURE_METHODS", T_STR, F(capture_methods), "", 0, 0},
    {"OTAS_TAGS", T_STR, F(tags), "", 0, 0},
    {"OTAS_SERVICE_VERSION", T_STR, F(service_version), "", 0, 0},
    {"OTAS_CA_BUNDLE", T_STR, F(ca_bundle), "", 0, 0},
    {"OTAS_EXPORTER", T_STR, F(exporter), "otas", 0, 0},
    {"OTAS_OTLP_ENDPOINT", T_URL, F(otlp_endpoint), "", 0, 0},
    {"OTAS_OTLP_HEADERS", T_HIDDEN, F(otlp_headers), "", 0, 0},
    {"OTAS_OTLP_COMPRESSION", T_STR, F(otlp_compression), "gzip", 0, 0},
    {"OTAS_COMPRESSION", T_STR, F(compression), "auto", 0, 0},
    {"OTAS_SERVICE_NAME", T_STR, F(service_name), "", 0, 0},
    {"OTAS_USER_ID_FIELD", T_STR, F(user_id_field), "pk", 0, 0},
    {"OTAS_RESOLVE_USER", T_BOOL, F(resolve_user), "0", 0, 1},
    {"OTAS_CAPTURE_OUTGOING_BODIES", T_BOOL, F(capture_outgoing_bodies), "1",
     0, 1},
    {"OTAS_PROPAGATE_TRACEPARENT", T_BOOL, F(propagate_traceparent), "1", 0,
     1},
    {"OTAS_MAX_IN_FLIGHT", T_INT, F(max_in_flight), "4", 1, 8},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static const char *const names[N_OPTS + 1] = {
    "OTAS_SDK_KEY", "OTAS_BASE_URL", "OTAS_AUTH_URL", "OTAS_ENABLED",
    "OTAS_DEBUG", "OTAS_SENSITIVE_HEADERS", "OTAS_REQUEST_HEADER_MASKS",
    "OTAS_RESPONSE_HEADER_MASKS", "OTAS_QUEUE_MAX_BYTES",
    "OTAS_BATCH_MAX_EVENTS", "OTAS_BATCH_MAX_BYTES",
    "OTAS_FLUSH_INTERVAL_MS", "OTAS_MAX_BODY_BYTES", "OTAS_CAPTURE_BODIES",
    "OTAS_TIMEOUT_MS", "OTAS_SHUTDOWN_TIMEOUT_MS", "OTAS_SPOOL_DIR",
    "OTAS_SPOOL_MAX_BYTES", "OTAS_SEND_WITHOUT_AGENT_TOKEN",
    "OTAS_STRICT_STARTUP", "OTAS_CAPTURE_OUTGOING", "OTAS_SDK_NAME",
    "OTAS_REDACT_REQUEST_BODY",
    "OTAS_REDACT_RESPONSE_BODY", "OTAS_SENSITIVE_QUERY_PARAMS",
    "OTAS_REDACT_NAMES", "OTAS_REDACT_DEFAULT_NAMES",
    "OTAS_AUTHORIZATION_HEADER_NAME", "OTAS_AUTHORIZATION_USER_ID_FIELD",
    "OTAS_TRUSTED_PROXIES", "OTAS_EVENT_ID_HEADER", "OTAS_EXCLUDE_PATHS",
    "OTAS_SAMPLE_RATE", "OTAS_CAPTURE_METHODS", "OTAS_TAGS",
    "OTAS_SERVICE_VERSION", "OTAS_CA_BUNDLE", "OTAS_EXPORTER",
    "OTAS_OTLP_ENDPOINT", "OTAS_OTLP_HEADERS", "OTAS_OTLP_COMPRESSION",
    "OTAS_COMPRESSION", "OTAS_SERVICE_NAME",
    "OTAS_USER_ID_FIELD",
    "OTAS_RESOLVE_USER", "OTAS_CAPTURE_OUTGOING_BODIES",
    "OTAS_PROPAGATE_TRACEPARENT", "OTAS_MAX_IN_FLIGHT", NULL};

const char *const *
otas_config_names(void)
{
	return names;
}

static const opt_t *
find(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < N_OPTS; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *
trim_dup(const char *v)
{
	size_t n;

	while (isspace((unsigned char)*v))
		v++;
	n = strlen(v);
	while (n && isspace((unsigned char)v[n - 1]))
		n--;
	return strndup(v, n);
}

static int
parse_bool(const char *v, int *out)
{
	static const char *yes[] = {"1", "true", "yes", "on"};
	static const char *no[] = {"0", "false", "no", "off"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

/* Integer with an optional K/M/G (binary) suffix when `sizes`. */
static int
parse_int(const char *v, int sizes, int64_t *out)
{
	char *end;
	long long x;
	int64_t mul = 1;

	if (!*v || !(isdigit((unsigned char)*v)))
		return -1;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno)
		return -1;
	if (sizes && *end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': mul = 1024; break;
		case 'M': mul = 1024 * 1024; break;
		case 'G': mul = GiB; break;
		default: return -1;
		}
		end++;
		if (toupper((unsigned char)*end) == 'I')
			end++;
		if (toupper((unsigned char)*end) == 'B')
			end++;
	}
	if (*end)
		return -1;
	if (x > INT64_MAX / mul)
		return -1;
	*out = (int64_t)x * mul;
	return 0;
}

static int
key_looks_valid(const char *k)
{
	size_t n = strlen(k), i;

	/* otas_ + 11-char prefix + _ + 43-char secret, base64url chars. */
	if (strncmp(k, "otas_", 5) != 0 || n < 5 + 11 + 1 + 43)
		return 0;
	for (i = 5; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_' && k[i] != '-')
			return 0;
	return k[n - 44] == '_';
}

/* OTAS_SHUTDOWN_TIMEOUT (seconds, before every duration was in ms): still
 * accepted, as OTAS_SHUTDOWN_TIMEOUT_MS; the host warns that it is
 * deprecated. */
static int
deprecated_seconds(otas_config_t *cfg, const char *v, char *err,
                   size_t errlen)
{
	char *end, ms[32];
	double d;

	errno = 0;
	d = strtod(v, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (!*v || *end || errno || !isfinite(d) || d < 0 || d > 3600) {
		set_err(err, errlen,
		        "OTAS_SHUTDOWN_TIMEOUT=\"%s\" is invalid: it is "
		        "deprecated, use OTAS_SHUTDOWN_TIMEOUT_MS (milliseconds "
		        "from 0 to 3600000)", v);
		return -1;
	}
	snprintf(ms, sizeof(ms), "%lld", (long long)llround(d * 1000));
	return otas_config_set(cfg, "OTAS_SHUTDOWN_TIMEOUT_MS", ms, err,
	                       errlen);
}

int
otas_config_set(otas_config_t *cfg, const char *name, const char *value,
                char *err, size_t errlen)
{
	const opt_t *o = find(name);
	char *v = NULL, **sp;
	int64_t iv;
	int bv;

	if (err && errlen)
		err[0] = '\0';
	if (cfg && name && strcmp(name, "OTAS_SHUTDOWN_TIMEOUT") == 0 && value)
		return deprecated_seconds(cfg, value, err, errlen);
	if (!cfg || !o) {
		set_err(err, errlen,
		        "unknown option %s%s: see otas_config_names() for the "
		        "options the engine understands",
		        name ? name : "(null)", "");
		return -1;
	}
	if (!value)
		value = o->def;
	v = trim_dup(value);
	if (!v)
		goto oom;
	switch (o->type) {
	case T_SECRET:
		if (*v && !key_looks_valid(v)) {
			set_err(err, errlen,
			        "OTAS_SDK_KEY does not look like an OTAS key "
			        "(otas_<prefix>_<secret>)%s%s: copy the key "
			        "exactly as the OTAS project page shows it",
			        "", "");
			goto fail;
		}
		/* fallthrough */
	case T_STR:
	case T_HIDDEN:
	case T_RULES:
		if (o->type == T_RULES) {
			/* Parse now so the error names the option at once. */
			char e2[256];
			otas__jsonpath_set_t *rs =
			    otas__jsonpath_parse(v, e2, sizeof(e2));
			if (!rs) {
				set_err(err, errlen,
				        "%s: %s: fix the JSONPath rule (rules are "
				        "comma-separated, e.g. $.password,$..token)",
				        o->name, e2);
				goto fail;
			}
			otas__jsonpath_free(rs);
		}
		sp = (char **)((char *)cfg + o->off);
		free(*sp);
		*sp = v;
		return 0;
	case T_URL:
		if (*v && strncmp(v, "http://", 7) != 0 &&
		    strncmp(v, "https://", 8) != 0) {
			set_err(err, errlen,
			        "%s=\"%s\" is not a URL: give an http:// or "
			        "https:// URL such as http://localhost:8002",
			        o->name, v);
			goto fail;
		}
		if (!*v && o->off == F(base_url)) {
			set_err(err, errlen,
			        "%s is empty%s: give the back end's URL such as "
			        "http://localhost:8002",
			        o->name, "");
			goto fail;
		}
		sp = (char **)((char *)cfg + o->off);
		free(*sp);
		*sp = v;
		return 0;
	case T_BOOL:
		if (parse_bool(v, &bv) != 0) {
			set_err(err, errlen,
			        "%s=\"%s\" is not a boolean: use 1/0, "
			        "true/false, yes/no or on/off",
			        o->name, v);
			goto fail;
		}
		*(int *)((char *)cfg + o->off) = bv;
		break;
	case T_SIZE:
	case T_INT:
		if (parse_int(v, o->type == T_SIZE, &iv) != 0 || iv < o->min ||
		    iv > o->max) {
			char range[96];
			snprintf(range, sizeof(range),
			         "give a whole number from %lld to %lld%s",
			         (long long)o->min, (long long)o->max,
			         o->type == T_SIZE ? " (bytes; K/M/G allowed)"
			                           : "");
			if (err && errlen)
				snprintf(err, errlen, "%s=\"%s\" is invalid: %s",
				         o->name, v, range);
			goto fail;
		}
		*(int64_t *)((char *)cfg + o->off) = iv;
		break;
	}
	free(v);
	return 0;
oom:
	set_err(err, errlen, "%s%s: out of memory", o->name, "");
fail:
	free(v);
	return -1;
}

otas_config_t *
otas_config_new(void)
{
	otas_config_t *c = calloc(1, sizeof(*c));
	size_t i;

	if (!c)
		return NULL;
	for (i = 0; i < N_OPTS; i++) {
		if (otas_config_set(c, opts[i].name, opts[i].def, NULL, 0) !=
		        0 &&
		    opts[i].type != T_URL) {
			otas_config_free(c);
			return NULL;
		}
	}
	if (!c->base_url || !c->auth_url || !c->sdk_key || !c->otlp_endpoint) {
		otas_config_free(c);
		return NULL;
	}
	return c;
}

void
otas_config_free(otas_config_t *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < N_OPTS; i++) {
		int t = opts[i].type;
		if (t == T_STR || t == T_SECRET || t == T_URL ||
		    t == T_RULES || t == T_HIDDEN)
			free(*(char **)((char *)c + opts[i].off));
	}
	free(c);
}

int
otas_config_get(const otas_config_t *c, const char *name, char *buf,
                size_t buflen)
{
	const opt_t *o = find(name);
	const char *s;

	if (!c || !o || !buf || !buflen)
		return -1;
	switch (o->type) {
	case T_SECRET:
		snprintf(buf, buflen, "%s", c->sdk_key[0] ? "otas_***" : "");
		break;
	case T_HIDDEN:
		s = *(char *const *)((const char *)c + o->off);
		snprintf(buf, buflen, "%s", *s ? "***" : "");
		break;
	case T_STR:
	case T_URL:
	case T_RULES:
		s = *(char *const *)((const char *)c + o->off);
		if (o->off == F(auth_url) && !*s)
			s = c->base_url;
		snprintf(buf, buflen, "%s", s);
		break;
	case T_BOOL:
		snprintf(buf, buflen, "%d",
		         *(const int *)((const char *)c + o->off));
		break;
	case T_SIZE:
	case T_INT:
		snprintf(buf, buflen, "%lld",
		         (long long)*(const int64_t *)((const char *)c +
		                                       o->off));
		break;
	}
	return 0;
}

char **
otas__list_split(const char *list, size_t *n_out, int fold)
{
	size_t n = 1, k = 0, i;
	const char *p, *s, *e;
	char **out;

	for (p = list; *p; p++)
		n += *p == ',';
	out = calloc(n + 1, sizeof(char *));
	if (!out)
		return NULL;
	for (s = list;; s = e + 1) {
		e = strchr(s, ',');
		if (!e)
			e = s + strlen(s);
		while (s < e && isspace((unsigned char)*s))
			s++;
		p = e;
		while (p > s && isspace((unsigned char)p[-1]))
			p--;
		if (p > s) {
			out[k] = strndup(s, (size_t)(p - s));
			if (!out[k]) {
				otas__names_free(out);
				return NULL;
			}
			for (i = 0; fold && out[k][i]; i++)
				out[k][i] = (char)(fold > 0
				                       ? toupper((unsigned char)out[k][i])
				                       : tolower((unsigned char)out[k][i]));
			k++;
		}
		if (!*e)
			break;
	}
	if (n_out)
		*n_out = k;
	return out;
}

char **
otas__names_split(const char *list, size_t *n_out)
{
	return otas__list_split(list, n_out, OTAS__FOLD_LOWER);
}

void
otas__names_free(char **names_)
{
	size_t i;

	if (!names_)
		return;
	for (i = 0; names_[i]; i++)
		free(names_[i]);
	free(names_);
}

int
otas__compression(const otas_config_t *c)
{
	static const char *const n[] = {"auto", "zstd", "gzip", "none"};
	int i;

	for (i = 0; i < 4; i++)
		if (c->compression && strcasecmp(c->compression, n[i]) == 0)
			return i;
	return -1;
}
