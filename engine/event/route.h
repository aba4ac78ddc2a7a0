/*
 * route.h -- the route an event records, as a template.
 *
 * Django's ResolverMatch.route is a template for path() (`api/items/<int:pk>`)
 * but the regex itself for re_path() and for Django REST framework's
 * routers (`api/items/(?P<pk>[^/.]+)/$`), which makes a poor name for an
 * endpoint on a dashboard or in OpenTelemetry's `http.route`.  Such a
 * route is written as the template it stands for: anchors (`^`, `$`)
 * dropped, a named group as `<name>`, an unnamed one as `<arg1>`,
 * `<arg2>`, ... (the view's positional arguments), an escaped character as
 * itself and an optional slash (`/?`) dropped:
 *
 *   api/items/(?P<pk>[^/.]+)\.(?P<format>[a-z0-9]+)/?$  ->  api/items/<pk>.<format>
 *   ^v(?P<version>\d+)/users/(\d+)$                      ->  v<version>/users/<arg1>
 *
 * A regex no template says well (a class, quantifier, alternation or
 * non-capturing group outside any group, an optional group, a malformed
 * pattern) is left as it is.
 *
 * Threads: pure functions.
 */
#ifndef OTAS_ROUTE_H
#define OTAS_ROUTE_H

#include <stddef.h>

#include "common/buf.h"

/* 1 when route[0..len) has regex syntax (`^ $ ( [ \`); path() routes and
 * other frameworks' templates (`/items/{id}`) have none. */
int otas__route_is_regex(const char *route, size_t len);

/* 1 with the template appended to out when route[0..len) is a regex
 * route that a template says (above); 0 with out unchanged otherwise (the
 * caller writes the route as it is).  An out of memory is out->oom. */
int otas__route_template(const char *route, size_t len, otas__buf_t *out);

#endif
