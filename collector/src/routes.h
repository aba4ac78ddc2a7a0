/*
 * routes.h -- the collector's endpoints: the route table http.c serves
 * (otas__routes in http.h) and the handlers behind it (routes.c).
 */
#ifndef OTAS_COLLECTOR_ROUTES_H
#define OTAS_COLLECTOR_ROUTES_H

#include "http.h"

#endif
