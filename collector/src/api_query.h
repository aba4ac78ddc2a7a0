/*
 * api_query.h -- the query API's JSON, built from the store's rows.
 *
 * store.h hands back plain rows; these functions give them the shapes
 * GET /api/v1/... send (collector/README.md "Query API").  Each returns a
 * new reference, or NULL on a store failure.
 *
 * Events are paged: a response carries at most OTAS__QUERY_MAX_ROWS events
 * and about OTAS__QUERY_MAX_BYTES of stored documents, whatever `limit`
 * asks, with `next` set to the cursor of the last event sent, so a heavy
 * query costs one bounded page at a time and a slow client pays for it,
 * not the server's memory.
 */
#ifndef OTAS_COLLECTOR_API_QUERY_H
#define OTAS_COLLECTOR_API_QUERY_H

#include <jansson.h>

#include "http.h"
#include "store.h"

#ifndef OTAS__QUERY_MAX_ROWS
#define OTAS__QUERY_MAX_ROWS 1000
#endif
#ifndef OTAS__QUERY_MAX_BYTES
#define OTAS__QUERY_MAX_BYTES (4 * 1024 * 1024)
#endif

json_t *otas__store_events(otas__store_t *st, int64_t project_pk,
                           const otas__event_query_t *q);
/* NULL when not found (or on failure). */
json_t *otas__store_event_get(otas__store_t *st, int64_t project_pk,
                              const char *event_id);
json_t *otas__store_stats_endpoints(otas__store_t *st, int64_t project_pk,
                                    int64_t since_us, int64_t until_us);
json_t *otas__store_stats_timeseries(otas__store_t *st, int64_t project_pk,
                                     int days, int64_t now_us);
json_t *otas__store_stats_latency(otas__store_t *st, int64_t project_pk,
                                  const char *method, const char *route,
                                  int64_t since_us, int64_t until_us);
json_t *otas__store_agent_sessions(otas__store_t *st, int64_t project_pk);
/* {"entities":[...]} newest first; kind/company_id NULL: any. */
json_t *otas__store_entities_list(otas__store_t *st, int64_t project_pk,
                                  const char *kind, const char *company_id,
                                  long limit);
/* [{"id","name","description","created_at","active_keys"}] */
json_t *otas__store_project_list(otas__store_t *st);

/* The handlers (route table in routes.c; read key checked by http.c). */
enum MHD_Result otas__api_events(otas__server_t *s, struct MHD_Connection *c,
                                 otas__req_t *r);
enum MHD_Result otas__api_event_get(otas__server_t *s,
                                    struct MHD_Connection *c, otas__req_t *r);
/* route->arg: {kind, the answer's list name} */
typedef struct {
	const char *kind, *key;
} otas__entity_route_t;
enum MHD_Result otas__api_entity_list(otas__server_t *s,
                                      struct MHD_Connection *c,
                                      otas__req_t *r);
enum MHD_Result otas__api_entities(otas__server_t *s,
                                   struct MHD_Connection *c, otas__req_t *r);
enum MHD_Result otas__api_project(otas__server_t *s, struct MHD_Connection *c,
                                  otas__req_t *r);
enum MHD_Result otas__api_agent_sessions(otas__server_t *s,
                                         struct MHD_Connection *c,
                                         otas__req_t *r);
enum MHD_Result otas__api_stats_endpoints(otas__server_t *s,
                                          struct MHD_Connection *c,
                                          otas__req_t *r);
enum MHD_Result otas__api_stats_timeseries(otas__server_t *s,
                                           struct MHD_Connection *c,
                                           otas__req_t *r);
enum MHD_Result otas__api_stats_latency(otas__server_t *s,
                                        struct MHD_Connection *c,
                                        otas__req_t *r);
enum MHD_Result otas__api_collector_stats(otas__server_t *s,
                                          struct MHD_Connection *c,
                                          otas__req_t *r);

#endif
