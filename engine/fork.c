/*
 * fork.c -- the fork handlers (split out of engine.c).
 *
 * pthread_atfork handlers (registered once) walk a registry of live
 * engines.  prepare takes the registry lock and every engine's queue lock,
 * so no queue is half-modified when the address space is copied; the
 * parent just unlocks.  In the child the forking thread is the only
 * thread and owns those locks: it drops the parent's queued records (the
 * parent sends them, so nothing is sent twice), re-creates the condition
 * variables, resets the counters ("this process") and clears `started`, so
 * the child's first capture starts its own sender with its own curl and
 * spool handles.
 */
#include "engine.h"

#include <pthread.h>
#include <string.h>

#include "capture/capture.h"

static pthread_mutex_t g_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static otas_engine_t *g_reg;
static pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;

static void
fork_prepare(void)
{
	otas_engine_t *e;

	pthread_mutex_lock(&g_reg_mu);
	for (e = g_reg; e; e = e->reg_next) {
		/* Lock order: spool_mu, q.mu, the auth state's. */
		otas__sender_fork_prepare(&e->snd);
		pthread_mutex_lock(&e->q.mu);
		otas__auth_fork_lock(&e->auth);
	}
}

static void
fork_parent(void)
{
	otas_engine_t *e;

	for (e = g_reg; e; e = e->reg_next) {
		otas__auth_fork_unlock(&e->auth);
		pthread_mutex_unlock(&e->q.mu);
		otas__sender_fork_parent(&e->snd);
	}
	pthread_mutex_unlock(&g_reg_mu);
}

static void
fork_child(void)
{
	otas_engine_t *e;

	otas__rand_fork_child();
	for (e = g_reg; e; e = e->reg_next) {
		/* Counters start again for this process. */
		otas__counters_reset(&e->c);
		otas__auth_fork_unlock(&e->auth);
		/* Before the queue's reset: reads q.seq, q.mu still held. */
		otas__sender_fork_child(&e->snd); /* unlocks spool_mu */
		otas__queue_reset_child(&e->q);   /* unlocks q.mu */
	}
	pthread_mutex_unlock(&g_reg_mu);
}

static void
fork_once(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void
otas__fork_register(otas_engine_t *eng)
{
	pthread_once(&g_fork_once, fork_once);
	pthread_mutex_lock(&g_reg_mu);
	eng->reg_next = g_reg;
	g_reg = eng;
	pthread_mutex_unlock(&g_reg_mu);
}

void
otas__fork_unregister(otas_engine_t *eng)
{
	otas_engine_t **pp;

	pthread_mutex_lock(&g_reg_mu);
	for (pp = &g_reg; *pp; pp = &(*pp)->reg_next)
		if (*pp == eng) {
			*pp = eng->reg_next;
			break;
		}
	pthread_mutex_unlock(&g_reg_mu);
}
