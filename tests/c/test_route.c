/*
 * test_route.c -- route.c: Django's regex routes (re_path, Django REST
 * framework's routers) written as templates, everything else left alone.
 */
#include <string.h>

#include "event/route.h"
#include "testlib.h"

/* The template of route, or the route itself when it is left alone. */
static const char *
tmpl(const char *route)
{
	static otas__buf_t b = OTAS__BUF_INIT;

	otas__buf_reset(&b);
	otas__buf_puts(&b, "x"); /* what the buffer held stays */
	if (otas__route_template(route, strlen(route), &b) == 0)
		otas__buf_append(&b, route, strlen(route));
	return b.data + 1;
}

TEST(drf_default_router)
{
	/* What Django's ResolverMatch.route is for DefaultRouter's urls
	 * under path("api/", include(router.urls)). */
	CHECK_STR(tmpl("api/items/$"), "api/items/");
	CHECK_STR(tmpl("api/items/(?P<pk>[^/.]+)/$"), "api/items/<pk>/");
	CHECK_STR(tmpl("api/items/(?P<pk>[^/.]+)\\.(?P<format>[a-z0-9]+)/?$"),
	          "api/items/<pk>.<format>");
	CHECK_STR(tmpl("api/items\\.(?P<format>[a-z0-9]+)/?$"),
	          "api/items.<format>");
	CHECK_STR(tmpl("api/^$"), "api/");
	CHECK_STR(tmpl("api/items/(?P<pk>[^/.]+)/set_password/$"),
	          "api/items/<pk>/set_password/");
}

TEST(re_path)
{
	CHECK_STR(tmpl("^legacy/(?P<year>[0-9]{4})/(?P<slug>[\\w-]+)/$"),
	          "legacy/<year>/<slug>/");
	/* Unnamed groups are the view's positional arguments. */
	CHECK_STR(tmpl("^v(?P<version>\\d+)/users/(\\d+)/(\\w+)$"),
	          "v<version>/users/<arg1>/<arg2>");
	/* Groups inside groups, brackets and parentheses in classes. */
	CHECK_STR(tmpl("^a/(?P<x>(\\d|[a-f])+)/$"), "a/<x>/");
	CHECK_STR(tmpl("^a/(?P<x>[)(\\]]+)/b$"), "a/<x>/b");
	/* An included regex under another one: its anchor is dropped too. */
	CHECK_STR(tmpl("^shop/^cart/(?P<id>\\d+)$"), "shop/cart/<id>");
	/* Escaped literals. */
	CHECK_STR(tmpl("^files/(?P<name>[^/]+)\\.txt$"), "files/<name>.txt");
	CHECK_STR(tmpl("^a\\-b/c\\/d$"), "a-b/c/d");
	CHECK_STR(tmpl("^$"), "");
}

TEST(left_alone)
{
	otas__buf_t b = OTAS__BUF_INIT;
	static const char *const same[] = {
	    /* path() routes and other frameworks' templates */
	    "api/items/<int:pk>", "api/items/", "/items/{item_id}", "",
	    "api/<path:rest>",
	    /* regexes no template says well: kept as they are */
	    "^a/(?:x|y)/$", "^a/(?P<x>\\d+)?/$", "^a/\\d+/$", "^a/[0-9]+/$",
	    "^a|b$", "^a/b*$", "^a/b+$", "^a{2}$", "^a/(?P<1x>\\d+)$",
	    "^a/(?P<x\\d+)$", "^a/(\\d+$", "^a/\\d+)$", "^a/[0-9$",
	    "^a/(?P<x>\\d+", "^a/\\", "^a/(?=x)b$", "^a/(?i)b$",
	    "^a/x?$"};
	size_t i;

	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		otas__buf_reset(&b);
		otas__buf_puts(&b, "keep");
		CHECK_INT(otas__route_template(same[i], strlen(same[i]), &b), 0);
		CHECK_STR(b.data, "keep");
	}
	otas__buf_free(&b);
}

TEST(is_regex)
{
	CHECK_INT(otas__route_is_regex("api/items/$", 11), 1);
	CHECK_INT(otas__route_is_regex("^a", 2), 1);
	CHECK_INT(otas__route_is_regex("a/(?P<x>y)", 10), 1);
	CHECK_INT(otas__route_is_regex("a\\.b", 4), 1);
	CHECK_INT(otas__route_is_regex("api/items/<int:pk>", 18), 0);
	CHECK_INT(otas__route_is_regex("/items/{item_id}", 16), 0);
	CHECK_INT(otas__route_is_regex("", 0), 0);
}

TEST(a_template_is_its_own_template)
{
	/* What comes out is no regex: written again, it is left alone. */
	const char *t = tmpl("^v(?P<version>\\d+)/users/(\\d+)\\.json$");

	CHECK_STR(t, "v<version>/users/<arg1>.json");
	CHECK_INT(otas__route_is_regex(t, strlen(t)), 0);
}

int
main(void)
{
	RUN(drf_default_router);
	RUN(re_path);
	RUN(left_alone);
	RUN(is_regex);
	RUN(a_template_is_its_own_template);
	return testlib_done();
}
