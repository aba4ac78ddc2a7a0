/*
 * auth.h -- the key's authentication: the exchange (auth.c) and what the
 * engine knows from the last one (the project, the key refused or not,
 * zstd accepted).
 *
 * otas__auth_t is written by whoever authenticates (the host through
 * otas_engine_authenticate(), the sender thread in the background) and
 * read by the sender and otas_stats().  It has its own mutex, always the
 * innermost lock (taken with q.mu held, never the other way round); the
 * fork prepare handler takes it last (otas__auth_fork_lock()).
 */
#ifndef OTAS_AUTH_H
#define OTAS_AUTH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "otas/otas.h"

enum {
	OTAS__AUTH_UNKNOWN = 0, /* not tried, or unreachable: retry */
	OTAS__AUTH_OK = 1,
	OTAS__AUTH_INVALID = 2  /* key refused: retry slowly */
};

typedef struct {
	pthread_mutex_t mu;
	char project_id[128];      /* under mu */
	int state;                 /* OTAS__AUTH_*, under mu */
	atomic_int accepts_zstd;   /* the last OK authentication said so */
	atomic_int unreachable_told; /* the host was already told
	                              * "unreachable" (otas_engine_authenticate) */
} otas__auth_t;

/* state: OTAS__AUTH_OK for an exporter that needs no authentication. */
int otas__auth_init(otas__auth_t *a, int state);
void otas__auth_destroy(otas__auth_t *a);

/* Remember the result of an authentication (takes a->mu). */
void otas__auth_set(otas__auth_t *a, const otas_auth_result_t *r);
/* The project id now ("" unknown; takes a->mu). */
void otas__auth_project(otas__auth_t *a, char *out, size_t n);
/* 1 when the key was accepted (takes a->mu). */
int otas__auth_ok(otas__auth_t *a);

/* Fork: prepare takes a->mu (after every other lock), parent and child
 * release it. */
void otas__auth_fork_lock(otas__auth_t *a);
void otas__auth_fork_unlock(otas__auth_t *a);

/* otas_authenticate_key() into a whole otas_auth_result_t (out never
 * NULL); the public call copies what the caller's struct_size holds. */
otas_auth_status_t otas__authenticate_key(const char *auth_url,
                                          const char *sdk_key, int timeout_ms,
                                          otas_auth_result_t *out);

#endif
