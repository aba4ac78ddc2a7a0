/*
 * test_identity.c -- identity.c: JWT user id, base64 in both alphabets,
 * client IP behind trusted proxies, traceparent, tags and version.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event/identity.h"
#include "common/json.h"
#include "testlib.h"

static char out[256];

static const char *
uid(const char *hdr, const char *claim)
{
	if (otas__jwt_user_id(hdr, strlen(hdr), claim, out, sizeof(out)) < 0)
		return NULL;
	return out;
}

/* base64url of the payload, no padding, as JWT libraries write it. */
static void
jwt(char *dst, size_t n, const char *payload, int std)
{
	otas__buf_t b = OTAS__BUF_INIT;
	size_t i;

	otas__base64(&b, (const unsigned char *)payload, strlen(payload));
	for (i = 0; !std && i < b.len; i++) {
		if (b.data[i] == '+')
			b.data[i] = '-';
		else if (b.data[i] == '/')
			b.data[i] = '_';
	}
	while (!std && b.len && b.data[b.len - 1] == '=')
		b.data[--b.len] = '\0';
	snprintf(dst, n, "Bearer eyJhbGciOiJIUzI1NiJ9.%s.c2ln", b.data);
	otas__buf_free(&b);
}

TEST(jwt_string_and_number_claims)
{
	char h[512];

	jwt(h, sizeof(h), "{\"sub\":\"user-42\"}", 0);
	CHECK_STR(uid(h, "sub"), "user-42");
	jwt(h, sizeof(h), "{\"sub\":\"x\",\"uid\":1234567890123}", 0);
	CHECK_STR(uid(h, "uid"), "1234567890123");
	jwt(h, sizeof(h), "{\"uid\":7.0}", 0);
	CHECK_STR(uid(h, "uid"), "7");
	jwt(h, sizeof(h), "{\"uid\":true}", 0);
	CHECK(uid(h, "uid") == NULL);
	jwt(h, sizeof(h), "{\"sub\":\"\"}", 0);
	CHECK(uid(h, "sub") == NULL);
	jwt(h, sizeof(h), "{\"other\":\"a\"}", 0);
	CHECK(uid(h, "sub") == NULL);
}

TEST(jwt_urlsafe_and_standard_base64)
{
	/* This payload encodes with "-" and "_" in the URL-safe alphabet and
	 * "+" and "/" in the standard one. */
	const char *p = "{\"sub\":\"a>>>b?\?\?c~~~\",\"pad\":\">>>?\?\?\"}";
	char h[512];

	jwt(h, sizeof(h), p, 0);
	CHECK(strchr(h, '-') && strchr(h, '_'));
	CHECK_STR(uid(h, "sub"), "a>>>b???c~~~");
	jwt(h, sizeof(h), p, 1);
	CHECK(strchr(h, '+') && strchr(h, '/'));
	CHECK_STR(uid(h, "sub"), "a>>>b???c~~~");
	/* Padded also works. */
	jwt(h, sizeof(h), "{\"sub\":\"abc\"}", 1);
	CHECK(strchr(h, '='));
	CHECK_STR(uid(h, "sub"), "abc");
}

TEST(jwt_prefix_and_garbage)
{
	char h[512];

	jwt(h, sizeof(h), "{\"sub\":\"u1\"}", 0);
	CHECK_STR(uid(h + 7, "sub"), "u1");          /* no Bearer */
	h[0] = 'b';
	CHECK_STR(uid(h, "sub"), "u1");              /* bearer */
	CHECK(uid("Bearer", "sub") == NULL);
	CHECK(uid("Bearer abc", "sub") == NULL);
	CHECK(uid("Bearer a..b", "sub") == NULL);
	CHECK(uid("Bearer a.!!!!.b", "sub") == NULL);
	CHECK(uid("Basic dXNlcjpwYXNz", "sub") == NULL);
	CHECK(uid("Bearer a.W10.b", "sub") == NULL); /* [] not an object */
}

TEST(b64_decode_any)
{
	otas__buf_t b = OTAS__BUF_INIT;

	CHECK_INT(otas__b64_decode_any("-_-_", 4, &b), 0);
	CHECK_INT(b.len, 3);
	CHECK(memcmp(b.data, "\xfb\xff\xbf", 3) == 0);
	otas__buf_reset(&b);
	CHECK_INT(otas__b64_decode_any("+/+/", 4, &b), 0);
	CHECK(memcmp(b.data, "\xfb\xff\xbf", 3) == 0);
	otas__buf_reset(&b);
	CHECK_INT(otas__b64_decode_any("YQ==", 4, &b), 0);
	CHECK_INT(b.len, 1);
	otas__buf_reset(&b);
	CHECK_INT(otas__b64_decode_any("YQ", 2, &b), 0);
	CHECK_INT(b.len, 1);
	otas__buf_reset(&b);
	CHECK_INT(otas__b64_decode_any("Y", 1, &b), -1);
	CHECK_INT(otas__b64_decode_any("Y Q", 3, &b), -1);
	otas__buf_free(&b);
}

TEST(traceparent)
{
	const char *ok =
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

	CHECK(otas__traceparent_valid(ok, strlen(ok)));
	CHECK(!otas__traceparent_valid(ok, strlen(ok) - 1));
	CHECK(!otas__traceparent_valid(
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", 55));
	CHECK(!otas__traceparent_valid(
	    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", 55));
	CHECK(!otas__traceparent_valid(
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", 55));
	CHECK(!otas__traceparent_valid(
	    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55));
	CHECK(otas__traceparent_valid(
	    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", 57));
	CHECK(!otas__traceparent_valid(
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", 57));
}

TEST(ip_parse_forms)
{
	unsigned char a[16];
	int f;

	CHECK_INT(otas__ip_parse("10.1.2.3", 8, &f, a), 0);
	CHECK_INT(f, 4);
	CHECK_INT(otas__ip_parse(" 10.1.2.3:8080 ", 15, &f, a), 0);
	CHECK_INT(a[3], 3);
	CHECK_INT(otas__ip_parse("[2001:db8::1]:443", 17, &f, a), 0);
	CHECK_INT(f, 6);
	CHECK_INT(otas__ip_parse("2001:db8::1", 11, &f, a), 0);
	CHECK_INT(otas__ip_parse("::ffff:10.0.0.1", 15, &f, a), 0);
	CHECK_INT(f, 4);
	CHECK_INT(a[0], 10);
	CHECK_INT(otas__ip_parse("unknown", 7, &f, a), -1);
	CHECK_INT(otas__ip_parse("", 0, &f, a), -1);
}

static otas__ident_t *
ident(const char *name, const char *value)
{
	otas_config_t *cfg = otas_config_new();
	otas__ident_t *id;
	char err[256];

	if (name)
		CHECK_INT(otas_config_set(cfg, name, value, err, sizeof(err)),
		          0);
	id = otas__ident_new(cfg);
	otas_config_free(cfg);
	CHECK(id != NULL);
	return id;
}

static const char *
cip(otas__ident_t *id, const char *peer, const otas_header_t *h, size_t n)
{
	otas_capture_t c;

	otas_capture_init(&c);
	c.remote_addr = peer;
	c.remote_addr_len = strlen(peer);
	c.req_headers = h;
	c.n_req_headers = n;
	otas__client_ip(id, &c, 1, out, sizeof(out));
	return out;
}

#define H(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

TEST(client_ip_untrusted_peer_ignores_headers)
{
	otas__ident_t *id = ident(NULL, NULL);
	otas_header_t h[] = {H("HTTP_X_FORWARDED_FOR", "1.2.3.4")};

	CHECK_STR(cip(id, "127.0.0.1", h, 1), "127.0.0.1");
	otas__ident_free(id);
	id = ident("OTAS_TRUSTED_PROXIES", "10.0.0.0/8");
	CHECK_STR(cip(id, "192.0.2.1", h, 1), "192.0.2.1");
	otas__ident_free(id);
}

TEST(client_ip_xff_rightmost_untrusted)
{
	otas__ident_t *id = ident("OTAS_TRUSTED_PROXIES",
	                          "127.0.0.1, 10.0.0.0/8, 2001:db8::/32");
	otas_header_t spoof[] = {
	    H("HTTP_X_FORWARDED_FOR", "6.6.6.6, 203.0.113.9, 10.0.0.5")};
	otas_header_t all[] = {H("HTTP_X_FORWARDED_FOR", "10.1.1.1, 10.0.0.5")};
	otas_header_t v6[] = {
	    H("HTTP_X_FORWARDED_FOR", "2001:db9::7, 2001:db8::1")};
	otas_header_t real[] = {H("HTTP_X_REAL_IP", "198.51.100.2")};
	otas_header_t cf[] = {H("HTTP_CF_CONNECTING_IP", "198.51.100.3"),
	                      H("HTTP_TRUE_CLIENT_IP", "198.51.100.4")};
	otas_header_t bad[] = {H("HTTP_X_FORWARDED_FOR", "garbage"),
	                       H("HTTP_X_REAL_IP", "198.51.100.5")};

	CHECK_STR(cip(id, "127.0.0.1", spoof, 1), "203.0.113.9");
	CHECK_STR(cip(id, "10.9.9.9", all, 1), "10.1.1.1");
	CHECK_STR(cip(id, "::1", spoof, 1), "::1"); /* ::1 not trusted */
	CHECK_STR(cip(id, "2001:db8::2", v6, 1), "2001:db9::7");
	CHECK_STR(cip(id, "127.0.0.1", real, 1), "198.51.100.2");
	CHECK_STR(cip(id, "127.0.0.1", cf, 2), "198.51.100.3");
	CHECK_STR(cip(id, "127.0.0.1", bad, 2), "198.51.100.5");
	CHECK_STR(cip(id, "127.0.0.1", NULL, 0), "127.0.0.1");
	otas__ident_free(id);
}

/* The peer's answer kept from the last call (no trusted proxies): the
 * same answers as computed afresh, whatever comes in between, and never
 * kept for an identity with trusted proxies. */
TEST(client_ip_kept_answer)
{
	otas__ident_t *plain = ident(NULL, NULL);
	otas__ident_t *prox = ident("OTAS_TRUSTED_PROXIES", "127.0.0.1");
	otas_header_t h[] = {H("HTTP_X_FORWARDED_FOR", "203.0.113.9")};
	char small[6];
	otas_capture_t c;
	int k;

	for (k = 0; k < 2; k++) {
		CHECK_STR(cip(plain, "127.0.0.1", h, 1), "127.0.0.1");
		CHECK_STR(cip(plain, "127.0.0.1", NULL, 0), "127.0.0.1");
		CHECK_STR(cip(prox, "127.0.0.1", h, 1), "203.0.113.9");
		CHECK_STR(cip(plain, "127.0.0.1", h, 1), "127.0.0.1");
		CHECK_STR(cip(NULL, "127.0.0.1", h, 1), "127.0.0.1");
		CHECK_STR(cip(plain, "127.000.000.001", NULL, 0),
		          "127.000.000.001"); /* not an address: as given */
		CHECK_STR(cip(plain, "::ffff:10.0.0.1", NULL, 0), "10.0.0.1");
		CHECK_STR(cip(plain, "10.0.0.1", NULL, 0), "10.0.0.1");
		CHECK_STR(cip(plain, "10.0.0.12", NULL, 0), "10.0.0.12");
		CHECK_STR(cip(plain, "10.0.0.1", NULL, 0), "10.0.0.1");
	}
	/* another buffer size: computed for it, not copied */
	otas_capture_init(&c);
	c.remote_addr = "10.0.0.1";
	c.remote_addr_len = 8;
	otas__client_ip(plain, &c, 1, small, sizeof(small));
	CHECK_STR(small, "10.0.");
	CHECK_STR(cip(plain, "10.0.0.1", NULL, 0), "10.0.0.1");
	otas__ident_free(plain);
	otas__ident_free(prox);
}

TEST(metadata_members)
{
	otas_config_t *cfg = otas_config_new();
	otas__ident_t *id;
	otas__buf_t b = OTAS__BUF_INIT;
	otas_capture_t c;
	char h[512], err[256];
	otas_header_t hs[3];

	CHECK_INT(otas_config_set(cfg, "OTAS_TAGS", "eu, canary", err,
	                          sizeof(err)), 0);
	CHECK_INT(otas_config_set(cfg, "OTAS_SERVICE_VERSION", "1.4.2", err,
	                          sizeof(err)), 0);
	CHECK_INT(otas_config_set(cfg, "OTAS_AUTHORIZATION_HEADER_NAME",
	                          "x-token, authorization", err, sizeof(err)),
	          0);
	CHECK_INT(otas_config_set(cfg, "OTAS_AUTHORIZATION_USER_ID_FIELD",
	                          "uid", err, sizeof(err)), 0);
	id = otas__ident_new(cfg);
	otas_config_free(cfg);
	CHECK(id != NULL);
	jwt(h, sizeof(h), "{\"uid\":99}", 0);
	hs[0] = (otas_header_t){"Authorization", 13, h, strlen(h)};
	hs[1] = (otas_header_t){"traceparent", 11,
	                        "00-4bf92f3577b34da6a3ce929d0e0e4736-"
	                        "00f067aa0ba902b7-01", 55};
	hs[2] = (otas_header_t){"X-Token", 7, "not a jwt", 9};
	otas_capture_init(&c);
	c.remote_addr = "127.0.0.1";
	c.remote_addr_len = 9;
	c.req_headers = hs;
	c.n_req_headers = 3;
	otas__ident_write_metadata(id, &c, 0, &b);
	CHECK_STR(b.data,
	          ",\"client_ip\":\"127.0.0.1\",\"user_id\":\"99\","
	          "\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-"
	          "00f067aa0ba902b7-01\",\"tags\":[\"eu\",\"canary\"],"
	          "\"service_version\":\"1.4.2\"");
	/* The host's user id wins over the token. */
	otas__buf_reset(&b);
	c.user_id = "host-user";
	c.user_id_len = 9;
	otas__ident_write_metadata(id, &c, 0, &b);
	CHECK(strstr(b.data, "\"user_id\":\"host-user\""));
	CHECK(!strstr(b.data, "\"99\""));
	otas__buf_free(&b);
	otas__ident_free(id);
}

TEST(validation_messages)
{
	otas_config_t *cfg = otas_config_new();
	char err[256];

	CHECK_INT(otas_config_set(cfg, "OTAS_TRUSTED_PROXIES", "10.0.0.0/33",
	                          err, sizeof(err)), 0);
	CHECK_INT(otas_config_check(cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "OTAS_TRUSTED_PROXIES") && strstr(err, "10.0.0.0/33"));
	CHECK_INT(otas_config_set(cfg, "OTAS_TRUSTED_PROXIES", "::1, 10.0.0.1",
	                          err, sizeof(err)), 0);
	CHECK_INT(otas_config_check(cfg, err, sizeof(err)), 0);
	otas_config_free(cfg);
}

int
main(void)
{
	RUN(jwt_string_and_number_claims);
	RUN(jwt_urlsafe_and_standard_base64);
	RUN(jwt_prefix_and_garbage);
	RUN(b64_decode_any);
	RUN(traceparent);
	RUN(ip_parse_forms);
	RUN(client_ip_untrusted_peer_ignores_headers);
	RUN(client_ip_xff_rightmost_untrusted);
	RUN(client_ip_kept_answer);
	RUN(metadata_members);
	RUN(validation_messages);
	return testlib_done();
}
