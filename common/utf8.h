/*
 * utf8.h -- UTF-8 checks shared by the engine (event JSON) and
 * otas-collector (batch bodies): one validator, one cut.
 */
#ifndef OTAS_COMMON_UTF8_H
#define OTAS_COMMON_UTF8_H

#include <stddef.h>

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), else 0. */
int otas__utf8_valid(const char *s, size_t n);

/* Largest length <= max that does not split a UTF-8 sequence of s. */
size_t otas__utf8_cut(const char *s, size_t n, size_t max);

#endif
