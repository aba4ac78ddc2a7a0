/*
 * sender.h -- the one background thread per process that turns queued
 * records into delivered (or spooled) events.
 */
#ifndef OTAS_SENDER_H
#define OTAS_SENDER_H

#include "engine.h"

/* Start the sender thread unless it runs.  Called from otas_capture()
 * after the fast check of eng->started; takes q.mu.  0, or -1 when the
 * thread could not be created (records stay queued; tried again at the
 * next capture). */
int otas__sender_start(otas_engine_t *eng);

/* Ask the sender to deliver what it can until now + timeout_ms, spool the
 * rest and exit; join it.  No-op when it never started. */
void otas__sender_stop(otas_engine_t *eng, int timeout_ms);

/* Tunables shrunk by OTAS_TESTING_SMALL_LIMITS so tests run the paths. */
#ifdef OTAS_TESTING_SMALL_LIMITS
#define OTAS__RETRY_BASE_MS 50
#define OTAS__RETRY_CAP_MS 1000
#define OTAS__RETRY_WINDOW_MS 3000
#define OTAS__AUTH_WAIT_MS 1000
#define OTAS__REPROBE_MS 2000
#else
#define OTAS__RETRY_BASE_MS 500
#define OTAS__RETRY_CAP_MS 30000
#define OTAS__RETRY_WINDOW_MS 30000
#define OTAS__AUTH_WAIT_MS 60000
#define OTAS__REPROBE_MS 600000
#endif
#define OTAS__SPOOL_LEASE_MS 120000

#endif
