/*
 * otlp.h -- the second wire format: OTAS_EXPORTER=otlp sends each event as
 * an OpenTelemetry log record (OTLP/HTTP, protobuf) instead of the OTAS
 * batch of PROTOCOL.md.
 *
 * Input is the event JSON of event.c, already redacted (the same bytes the
 * spool keeps), so spooled batches replay through this encoder too.  The
 * protobuf is written by hand (varints and length-delimited fields): the
 * messages are ExportLogsServiceRequest > ResourceLogs > ScopeLogs >
 * LogRecord of opentelemetry-proto (logs/v1, collector/logs/v1).
 *
 * Derived state (URL, header lines, the encoded resource) is built once by
 * otas__otlp_new() and read-only afterwards; encoding runs on the sender
 * thread.
 */
#ifndef OTAS_OTLP_H
#define OTAS_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "common/buf.h"

typedef struct otas__otlp_s otas__otlp_t;

#define OTAS__OTLP_DEFAULT_ENDPOINT "http://127.0.0.1:4318/v1/logs"

/* 1 when cfg selects OTAS_EXPORTER=otlp. */
int otas__otlp_enabled(const otas_config_t *cfg);

/* Check OTAS_EXPORTER, OTAS_OTLP_ENDPOINT, OTAS_OTLP_HEADERS and
 * OTAS_OTLP_COMPRESSION.  0, or -1 with err naming the option (never a
 * header value: they are secrets). */
int otas__otlp_validate(const otas_config_t *cfg, char *err, size_t errlen);

/* The exporter's state for cfg (validated), or NULL on oom.  sdk_name
 * goes into the resource (otas.sdk). */
otas__otlp_t *otas__otlp_new(const otas_config_t *cfg, const char *sdk_name);
void otas__otlp_free(otas__otlp_t *o);

/* The URL posted to: OTAS_OTLP_ENDPOINT with /v1/logs appended unless it
 * ends so already (as OpenTelemetry's exporters treat a base endpoint). */
const char *otas__otlp_url(const otas__otlp_t *o);
/* 1 when bodies go gzip'd (OTAS_OTLP_COMPRESSION=gzip, the default). */
int otas__otlp_gzip(const otas__otlp_t *o);
/* The request's header lines: Content-Type, Content-Encoding when gzip,
 * then OTAS_OTLP_HEADERS (secrets: never log them). */
const char *const *otas__otlp_headers(const otas__otlp_t *o, size_t *n);

/* Append one LogRecord (as the length-delimited field 2 of ScopeLogs) for
 * the event JSON to records.  0, or -1 when the JSON is not an event
 * object (nothing appended) or out of memory (records->oom). */
int otas__otlp_add(const otas__otlp_t *o, const char *json, size_t len,
                   otas__buf_t *records);

/* Write the whole ExportLogsServiceRequest around records into out
 * (reset first).  0, or -1 on oom. */
int otas__otlp_finish(const otas__otlp_t *o, const otas__buf_t *records,
                      otas__buf_t *out);

/* Read an ExportLogsServiceResponse: partial_success.rejected_log_records
 * into *rejected (0 when absent) and its error_message into msg.  0, or
 * -1 when the body is not a valid message (*rejected 0). */
int otas__otlp_parse_response(const char *body, size_t len,
                              int64_t *rejected, char *msg, size_t msglen);

#endif
