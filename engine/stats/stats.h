/*
 * stats.h -- the engine's counters: one relaxed atomic per counter of
 * OTAS_STATS_FIELDS (include/otas/otas.h, where they are declared once).
 *
 * Its own unit, below capture and send, so that both stages count into
 * the same struct without either including the engine: engine.c owns the
 * struct and hands a pointer to the sender (sender.h's inputs).  Any
 * thread may count or read; counters are independent (relaxed), so a
 * reader may see two of them a few events apart.
 */
#ifndef OTAS_STATS_H
#define OTAS_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "otas/otas.h"

typedef struct {
#define OTAS__CNT(name, ...) atomic_uint_fast64_t name;
#define OTAS__NONE(...)
	OTAS_STATS_FIELDS(OTAS__CNT, OTAS__NONE, OTAS__NONE)
#undef OTAS__CNT
#undef OTAS__NONE
} otas__counters_t;

/* Add n to counter f of *c (c: otas__counters_t *). */
#define OTAS__INC(c, f, n) \
	atomic_fetch_add_explicit(&(c)->f, (uint64_t)(n), \
	                          memory_order_relaxed)

/* Copy every counter of c into the counter fields of out (gauges and
 * strings are left as they are). */
void otas__counters_read(const otas__counters_t *c, otas_stats_t *out);

/* Every counter back to 0 (a forked child: "this process"). */
void otas__counters_reset(otas__counters_t *c);

#endif
