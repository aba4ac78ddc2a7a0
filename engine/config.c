/*
 * config.c -- every option by its environment-variable name.
 *
 * One table drives set, get, defaults and the list of names, so an option
 * cannot be settable but unreadable or undocumented.  Messages name the
 * option, the bad value (except for the key) and the fix.
 */
#include "config.h"
#include "common/buf.h"

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

/* Option types: the TYPE column of options.def, as the public enum. */
enum {
	T_STR = OTAS_OPTION_STRING,
	T_SECRET = OTAS_OPTION_SDK_KEY,
	T_HIDDEN = OTAS_OPTION_SECRET,
	T_URL = OTAS_OPTION_URL,
	T_RULES = OTAS_OPTION_RULES,
	T_BOOL = OTAS_OPTION_BOOL,
	T_INT = OTAS_OPTION_INT,
	T_SIZE = OTAS_OPTION_SIZE
};

typedef struct {
	const char *name;
	int type;
	size_t off;
	const char *def;
	int64_t min, max;
} opt_t;

#define F(f) offsetof(struct otas_config_s, f)

static const opt_t opts[] = {
#define OTAS__OPTION(name, type, field, def, min, max, ...) \
	{#name, T_##type, F(field), def, min, max},
#include "options.def"
#undef OTAS__OPTION
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static const char *const names[] = {
#define OTAS__OPTION(name, ...) #name,
#include "options.def"
#undef OTAS__OPTION
    NULL};

const char *const *
otas_config_names(void)
{
	return names;
}

/* A string member: every type but BOOL, INT and SIZE. */
static int
is_string(int type)
{
	return type != T_BOOL && type != T_INT && type != T_SIZE;
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

otas_option_type_t
otas_config_type(const char *name)
{
	const opt_t *o = find(name);

	return o ? (otas_option_type_t)o->type : OTAS_OPTION_UNKNOWN;
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
		case 'G': mul = OTAS__GIB; break;
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
		/* RULES are compiled by otas_config_check() (engine.c), which
		 * names the option: config.c stays below the stages. */
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
	/* A URL's default may be refused by its check (an empty base URL
	 * is); every string member must still be set. */
	for (i = 0; i < N_OPTS; i++) {
		if (is_string(opts[i].type) &&
		    !*(char **)((char *)c + opts[i].off)) {
			otas_config_free(c);
			return NULL;
		}
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
		if (is_string(opts[i].type))
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

int
otas__config_describe(const otas_config_t *c, otas__buf_t *b)
{
	char v[1024];
	const char *p;
	size_t i;

	for (i = 0; i < N_OPTS; i++) {
		if (otas_config_get(c, opts[i].name, v, sizeof(v)) != 0)
			return -1;
		if ((opts[i].type == T_SECRET || opts[i].type == T_HIDDEN) && *v)
			snprintf(v, sizeof(v), "***");
		if (i)
			otas__buf_putc(b, ' ');
		otas__buf_puts(b, opts[i].name);
		otas__buf_puts(b, "='");
		for (p = v; *p; p++) {
			if (*p == '\\' || *p == '\'')
				otas__buf_putc(b, '\\');
			otas__buf_putc(b, *p);
		}
		otas__buf_putc(b, '\'');
	}
	return b->oom ? -1 : 0;
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
