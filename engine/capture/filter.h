/*
 * filter.h -- what to keep: OTAS_CAPTURE_METHODS, OTAS_EXCLUDE_PATHS and
 * OTAS_SAMPLE_RATE, decided in otas_capture() before anything is copied.
 */
#ifndef OTAS_FILTER_H
#define OTAS_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "otas/otas.h"

typedef struct otas__filter_s otas__filter_t;

/* Check the three options; 0, or -1 with err naming the option and fix. */
int otas__filter_validate(const otas_config_t *cfg, char *err,
                          size_t errlen);

/* Immutable per-engine state; NULL on oom or invalid config. */
otas__filter_t *otas__filter_new(const otas_config_t *cfg);
void otas__filter_free(otas__filter_t *f);

/* 1: capture a request with this method and path; 0: excluded by
 * OTAS_CAPTURE_METHODS or OTAS_EXCLUDE_PATHS.  f may be NULL (keep). */
int otas__filter_request(const otas__filter_t *f, const char *method,
                         size_t mlen, const char *path, size_t plen);

/* 1 when sampling is on (rate below 1). */
int otas__filter_sampling(const otas__filter_t *f);

/* 1: keep the event with this id under the sample rate.  Deterministic:
 * the same id always gives the same answer. */
int otas__filter_sampled(const otas__filter_t *f, const char *id, size_t n);

/* Pure helpers (unit-tested). */
int otas__sample_keep(double rate, const char *id, size_t n);
int otas__glob_match(const char *pattern, const char *s, size_t n);

#endif
