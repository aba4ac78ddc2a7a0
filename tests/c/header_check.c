/*
 * header_check.c -- include/otas/otas.h stands alone: compiled by itself as
 * C99 and as C++ with every warning an error (tests/c/CMakeLists.txt,
 * test_header_c99 / test_header_cxx).  It also uses the init macros and
 * functions, so a host built with -Wextra gets no warning from them.
 */
#include <otas/otas.h>

int otas_header_check(void);

int
otas_header_check(void)
{
#ifndef __cplusplus
	otas_capture_t c = OTAS_CAPTURE_INIT;
	otas_stats_t st = OTAS_STATS_INIT;
	otas_auth_result_t r = OTAS_AUTH_RESULT_INIT;
#else
	otas_capture_t c;
	otas_stats_t st;
	otas_auth_result_t r;
#endif
	otas_result_t res = OTAS_OK;
	otas_log_level_t lv = OTAS_LOG_DEBUG;
	otas_entity_kind_t k = OTAS_ENTITY_USER;

	otas_capture_init(&c);
	otas_stats_init(&st);
	otas_auth_result_init(&r);
	return (int)res + (int)lv + (int)k + (int)c.struct_size +
	       (int)st.struct_size + (int)r.struct_size;
}
