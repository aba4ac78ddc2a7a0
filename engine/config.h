/*
 * config.h -- the engine's options (struct otas_config_s).  Fields are
 * written by otas_config_set() before the engine exists and are read-only
 * afterwards, so every thread may read them without a lock.  The options
 * themselves are declared once, in options.def.
 */
#ifndef OTAS_CONFIG_H
#define OTAS_CONFIG_H

#include <stdint.h>

#include "common/buf.h"
#include "otas/otas.h"

/* Member types of each option TYPE (options.def). */
#define OTAS__CTYPE_STR char *
#define OTAS__CTYPE_SECRET char *
#define OTAS__CTYPE_HIDDEN char *
#define OTAS__CTYPE_URL char *
#define OTAS__CTYPE_RULES char *
#define OTAS__CTYPE_BOOL int
#define OTAS__CTYPE_INT int64_t
#define OTAS__CTYPE_SIZE int64_t
#define OTAS__MIB ((int64_t)1 << 20)
#define OTAS__GIB ((int64_t)1 << 30)

/* One member per option of options.def, named by its `field` column: a
 * string (never NULL after otas_config_new()), an int 0/1 or an int64_t. */
struct otas_config_s {
#define OTAS__OPTION(name, type, field, ...) OTAS__CTYPE_##type field;
#include "options.def"
#undef OTAS__OPTION
};

/* Append every option as NAME='value' (the value as otas_config_get()
 * reads it back; a set secret as '***'), separated by spaces, in
 * options.def order: the OTAS_DEBUG start-up line.  Returns 0, or -1 when
 * out of memory. */
int otas__config_describe(const otas_config_t *c, otas__buf_t *b);

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
