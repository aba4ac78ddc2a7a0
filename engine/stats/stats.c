/*
 * stats.c -- reading and resetting the counters (see stats.h).
 */
#include "stats/stats.h"

void
otas__counters_read(const otas__counters_t *c, otas_stats_t *o)
{
#define C(name, ...) \
	o->name = atomic_load_explicit(&c->name, memory_order_relaxed);
#define NONE(...)
	OTAS_STATS_FIELDS(C, NONE, NONE)
#undef C
#undef NONE
}

void
otas__counters_reset(otas__counters_t *c)
{
#define C(name, ...) atomic_store_explicit(&c->name, 0, memory_order_relaxed);
#define NONE(...)
	OTAS_STATS_FIELDS(C, NONE, NONE)
#undef C
#undef NONE
}
