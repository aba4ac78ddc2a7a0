/*
 * test_http_ca.c -- CA certificates for HTTPS: OTAS_CA_BUNDLE is checked
 * at start-up (a missing file names the option and the fix) and, once set,
 * is the only bundle used; without it libcurl's default is kept where it
 * exists.  (Delivery over TLS, right and wrong CA, is proved end to end by
 * tests/install/.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "send/http_curl.h"
#include "testlib.h"

static char err[512];

TEST(missing_bundle_is_a_startup_error)
{
	otas_config_t *c = otas_config_new();

	CHECK(otas_config_set(c, "OTAS_CA_BUNDLE", "/nonexistent/ca.pem", err,
	                      sizeof err) == 0);
	CHECK(otas_config_check(c, err, sizeof err) == -1);
	CHECK(strstr(err, "OTAS_CA_BUNDLE=/nonexistent/ca.pem"));
	CHECK(strstr(err, "No such file"));
	CHECK(strstr(err, "unset it"));
	otas_config_free(c);
}

TEST(readable_bundle_is_accepted_and_used)
{
	char path[] = "/tmp/otas-test-ca-XXXXXX", file[4096], dir[4096];
	otas_config_t *c = otas_config_new();
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK(write(fd, "-----BEGIN CERTIFICATE-----\n", 28) == 28);
	close(fd);
	CHECK(otas_config_set(c, "OTAS_CA_BUNDLE", path, err, sizeof err) == 0);
	CHECK(otas_config_check(c, err, sizeof err) == 0);
	otas__http_set_ca_bundle(path);
	otas__http_ca_in_use(file, sizeof file, dir, sizeof dir);
	CHECK_STR(file, path);
	CHECK_STR(dir, ""); /* the bundle alone: no system CA directory */
	unlink(path);
	otas_config_free(c);
}

int
main(void)
{
	RUN(missing_bundle_is_a_startup_error);
	RUN(readable_bundle_is_accepted_and_used);
	return testlib_done();
}
