/*
 * testlib.h -- the C tests' assertion macros and runner.
 *
 *   TEST(queue_drops_when_full) { ... CHECK(x == 1); CHECK_STR(a, "b"); }
 *   int main(void) { RUN(queue_drops_when_full); return testlib_done(); }
 *
 * A failed CHECK reports file:line and the expression and ends that test.
 * SKIP("why") ends a test as skipped: counted and printed apart.
 * testlib_done() prints "N passed, N failed[, N skipped]" and returns the
 * exit status.
 */
#ifndef OTAS_TESTLIB_H
#define OTAS_TESTLIB_H

#include <stdio.h>
#include <string.h>
#include <setjmp.h>

static int testlib_passed, testlib_failed, testlib_skipped;
static jmp_buf testlib_jmp;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n",     \
			        __FILE__, __LINE__, #cond);                \
			longjmp(testlib_jmp, 1);                           \
		}                                                          \
	} while (0)

#define CHECK_INT(a, b)                                                    \
	do {                                                               \
		long long _a = (long long)(a), _b = (long long)(b);        \
		if (_a != _b) {                                            \
			fprintf(stderr, "  %s:%d: %s == %lld, want %lld\n", \
			        __FILE__, __LINE__, #a, _a, _b);           \
			longjmp(testlib_jmp, 1);                           \
		}                                                          \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *_a = (a), *_b = (b);                           \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                   \
			fprintf(stderr,                                    \
			        "  %s:%d: %s\n    got  \"%s\"\n    want \"%s\"\n", \
			        __FILE__, __LINE__, #a, _a ? _a : "(null)",  \
			        _b ? _b : "(null)");                       \
			longjmp(testlib_jmp, 1);                           \
		}                                                          \
	} while (0)

/* End the current test as skipped (counted apart, never as passed). */
#define SKIP(why)                                                          \
	do {                                                               \
		fprintf(stderr, "  skipped: %s\n", why);                   \
		longjmp(testlib_jmp, 2);                                   \
	} while (0)

#define RUN(name)                                                          \
	do {                                                               \
		int _r;                                                    \
		fprintf(stderr, "%s\n", #name);                            \
		if ((_r = setjmp(testlib_jmp)) == 0) {                     \
			name();                                            \
			testlib_passed++;                                  \
		} else if (_r == 2) {                                      \
			testlib_skipped++;                                 \
		} else {                                                   \
			fprintf(stderr, "FAIL %s\n", #name);               \
			testlib_failed++;                                  \
		}                                                          \
	} while (0)

static inline int
testlib_done(void)
{
	if (testlib_skipped)
		printf("%d passed, %d failed, %d skipped\n", testlib_passed,
		       testlib_failed, testlib_skipped);
	else
		printf("%d passed, %d failed\n", testlib_passed, testlib_failed);
	return testlib_failed ? 1 : 0;
}

#endif
