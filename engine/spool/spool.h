/*
 * spool.h -- the disk spool: undelivered batches in one SQLite file shared
 * by every process of an app (gunicorn/uWSGI workers), so that whichever
 * process is alive delivers them when the back end answers again, also
 * after a restart.
 *
 * What is stored is already redacted and never holds the SDK key: a batch
 * is `n_events` serialised event objects (the JSON objects of PROTOCOL.md
 * section 3, agent_session_token and event_id included) separated by '\n'.
 * Each agent_session_token is taken out of its event and kept sealed
 * (otas__spool_set_secret) in a column of its own, one line per event, so
 * that a claim hands the tokens to the sender without parsing the events;
 * a claim puts them back in place.
 * Each event carries its event_id, so a batch delivered just before a crash
 * and sent again is stored once by the back end.
 *
 * Bounded: the payload bytes stored never exceed max_bytes; putting a batch
 * into a full spool deletes the oldest batches first and reports how many
 * events that evicted.  Several processes may claim batches concurrently: a
 * claim is a lease, so a batch claimed by a process that died returns to
 * the pool when its lease expires.
 *
 * Threads: only the sender thread of a process calls these functions; a
 * spool handle never crosses fork().  Close it before fork() and open a new
 * one in each process afterwards: SQLite's per-process lock bookkeeping is
 * copied into the child in a state that does not match the child's real
 * locks.  An inherited handle refuses every call in the child (-1), and
 * otas__spool_close() there frees only the handle, not the connection.
 *
 * Errors never contain payload bytes or secrets; they name the file.
 */
#ifndef OTAS_SPOOL_H
#define OTAS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct otas__spool_s otas__spool_t;

/* Open (creating the file, its directory and schema when absent) the spool
 * at `path`.  New directories get mode 0700, a new file 0600.  Returns NULL
 * with err filled on failure (unwritable directory, read-only file, ...).
 * On success err is "" -- or, when the file at `path` was corrupt, not an
 * SQLite file or written by a newer OTAS, a notice that it was renamed to
 * `<path>.corrupt-<unixtime>` and an empty spool started: log it once.
 * Leases still held by this pid, or by dead pids of this host and pid
 * namespace, are ended (a restarted app need not wait them out). */
otas__spool_t *otas__spool_open(const char *path, int64_t max_bytes,
                                char *err, size_t errlen);
void otas__spool_close(otas__spool_t *sp);

/* The secret (the SDK key) from which the key that seals agent session
 * tokens is derived (HMAC-SHA256): every process of the app has it, it is
 * never in the spool.  put seals each event's agent_session_token
 * (AES-256-GCM, "otas-seal1.<base64url>"), claim opens it; without a
 * secret, or under another one, the token is stored and read back as "".
 * 0, or -1. */
int otas__spool_set_secret(otas__spool_t *sp, const char *secret,
                           size_t len);

/* Store one batch (one IMMEDIATE transaction: the bound holds across
 * processes).  *evicted_events (may be NULL) receives the number of events
 * deleted to make room: oldest batches without a live lease first, then, if
 * still needed, leased ones (oldest first) -- so a batch in flight in some
 * process may be counted as evicted and still be delivered.  A batch larger
 * than max_bytes on its own is refused (-1).  Returns 0, or -1 with err
 * (e.g. "disk full", "database is locked" after 5 s).  The payload is not
 * retained after the call.  Each process enforces its own max_bytes. */
int otas__spool_put(otas__spool_t *sp, const char *payload, size_t len,
                    uint32_t n_events, uint64_t *evicted_events, char *err,
                    size_t errlen);

/* Claim the oldest batch that no live lease holds, leasing it for
 * lease_ms (clamped to 1 ms .. 1 h) to this process.  Returns 1 with *id,
 * payload appended to out and *n_events (may be NULL) set; 0 when nothing
 * is available; -1 on error (otas__spool_error() says why; out of memory in
 * `out` leaves the batch unclaimed). */
int otas__spool_claim(otas__spool_t *sp, int64_t lease_ms, int64_t *id,
                      otas__buf_t *out, uint32_t *n_events);

/* claim, and append to tokens the batch's agent tokens in clear, one line
 * per event line ("" for none), without parsing the events: they are kept
 * in their own column (schema 2) or found in place (batches of schema 1).
 * The tokens are credentials: wipe them after use.  On -1 nothing is left
 * appended. */
int otas__spool_claim_tokens(otas__spool_t *sp, int64_t lease_ms,
                             int64_t *id, otas__buf_t *out,
                             uint32_t *n_events, otas__buf_t *tokens);

/* The claimed batch was delivered: delete it.  0 or -1.  An id that is
 * gone (evicted meanwhile) is not an error. */
int otas__spool_delete(otas__spool_t *sp, int64_t id);

/* The claimed batch was not delivered: end the lease now.  0 or -1.
 * Ends only this process's lease: if it had expired and another process
 * claimed the batch since, that claim stands. */
int otas__spool_release(otas__spool_t *sp, int64_t id);

/* What the spool holds now (all processes).  Any out pointer may be NULL. */
int otas__spool_count(otas__spool_t *sp, int64_t *batches, int64_t *events,
                      int64_t *bytes);

/* The last failure or recovery notice of this handle ("" if none); never
 * NULL.  Valid until the next call on the handle.  Besides corruption, a
 * handle notices within a second when its file was moved aside by another
 * process or removed, and continues in the file now at `path`. */
const char *otas__spool_error(const otas__spool_t *sp);

/* How many times this handle found its file corrupt and moved it aside
 * (at open or during an operation).  The engine logs when it grows. */
uint64_t otas__spool_recoveries(const otas__spool_t *sp);

#endif
