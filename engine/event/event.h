/*
 * event.h -- one record to the JSON event object of PROTOCOL.md (section 2
 * plus agent_session_token and event_id of section 3).  Runs on the sender
 * thread: here, not at capture, happen header normalisation, redaction,
 * gzip decoding, body caps and escaping.
 */
#ifndef OTAS_EVENT_H
#define OTAS_EVENT_H

#include <stddef.h>

#include "capture/capture.h"
#include "engine.h"
#include "common/buf.h"

/* The object begins with this prefix followed by the project id string,
 * so that events serialised before authentication (project id unknown,
 * written as "") can be patched when sent. */
#define OTAS__EVENT_PREFIX "{\"project_id\":"

/* Append the event object for r to out.  *token and *token_len receive the
 * agent session token (pointing into r; NULL/0 when absent).  Returns 0,
 * or -1 when out of memory (out then in an undefined state). */
int otas__event_write(otas_engine_t *eng, const char *project_id,
                      const struct otas__record_s *r, otas__buf_t *out,
                      const char **token, size_t *token_len);

#endif
