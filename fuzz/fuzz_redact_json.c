/*
 * fuzz_redact_json.c -- rule set x body through otas__redact_json.
 *
 * Input: rules up to the first newline, the body after it (a rule text
 * that does not parse falls back to a fixed set, so every input reaches
 * the redactor).  Properties, checked against the independent validator
 * in json_check.h:
 *   - the redactor accepts exactly what json_check accepts (within the
 *     depth limit): it neither fails open nor rejects valid JSON;
 *   - when it accepts, its output is valid JSON by both validators;
 *   - with no rules, the output is the input byte for byte;
 *   - redacting the output again changes nothing (idempotent);
 *   - for a rule `$..[i]` or `$..[a:b:c]` (bounds and step picked from a
 *     hash of the body, negative ones included), the output equals the
 *     one of a tree-walking reference here that counts each array with
 *     json_check and selects elements by Python's slice iteration: an
 *     independent check of negative indexes and slices, whose arrays the
 *     redactor counts with a look-ahead scan.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "event/jsonpath.h"
#include "slice_ref.h"
#include "event/redact_body.h"
#include "common/json.h"

static const otas__nameset_t DEFAULTS = {NULL, 0, 1, NULL};

static const char FALLBACK[] = "$..a, $.b[*].c, $[0], $..token, $.*.x";

/* Most arrays open at once anywhere in a valid document.  Counting a
 * document's arrays for negative indexes scans each byte at most this
 * many times, so the redactor's budget (16 times the length, plus 4 KB)
 * can only run out, and fail a valid document closed, above 16. */
static size_t
max_array_depth(const char *s, size_t n)
{
	size_t i, d = 0, m = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '"') {
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		} else if (s[i] == '[') {
			if (++d > m)
				m = d;
		} else if (s[i] == ']') {
			d--;
		}
	}
	return m;
}

/* Walk the valid value at j->i, appending to out the bytes since *copied
 * and "[REDACTED]" for each selected array element (`$..` reaches every
 * array, in objects too; a redacted element is not walked into). */
static void
ref_walk(jc_t *j, const ref_sel_t *r, otas__buf_t *out, size_t *copied)
{
	unsigned char c;

	jc_ws(j);
	c = j->s[j->i];
	if (c == '{') {
		j->i++;
		jc_ws(j);
		if (j->s[j->i] == '}') {
			j->i++;
			return;
		}
		for (;;) {
			jc_ws(j);
			jc_string(j);
			jc_ws(j);
			j->i++; /* ':' */
			ref_walk(j, r, out, copied);
			jc_ws(j);
			if (j->s[j->i++] == '}')
				return;
		}
	}
	if (c == '[') {
		size_t open = ++j->i;
		long n = 0, k;
		jc_ws(j);
		if (j->s[j->i] == ']') {
			j->i++;
			return;
		}
		/* Count the elements first (json_check's own parser). */
		for (;;) {
			jc_value(j, 0);
			n++;
			jc_ws(j);
			if (j->s[j->i++] == ']')
				break;
		}
		j->i = open;
		for (k = 0;; k++) {
			jc_ws(j);
			if (ref_selected(r, n, k)) {
				size_t st = j->i;
				jc_value(j, 0);
				otas__buf_append(out, (const char *)j->s + *copied,
				                 st - *copied);
				otas__buf_puts(out, "\"[REDACTED]\"");
				*copied = j->i;
			} else {
				ref_walk(j, r, out, copied);
			}
			jc_ws(j);
			if (j->s[j->i++] == ']')
				return;
		}
	}
	jc_value(j, 0);
}

static void
check_one(const char *body, size_t blen, const char *rule,
          const ref_sel_t *r)
{
	size_t copied = 0;
	char err[200];
	otas__jsonpath_set_t *set;
	otas__buf_t want = OTAS__BUF_INIT, got = OTAS__BUF_INIT;
	jc_t j = {(const unsigned char *)body, blen, 0, 1 << 30};

	set = otas__jsonpath_parse(rule, err, sizeof(err));
	if (!set)
		abort();
	if (otas__redact_json(set, body, blen, &got) != 0) {
		if (max_array_depth(body, blen) <= 16)
			abort(); /* the count budget cannot be spent */
		goto done;
	}
	ref_walk(&j, r, &want, &copied);
	otas__buf_append(&want, body + copied, blen - copied);
	if (!got.oom && !want.oom &&
	    (got.len != want.len || memcmp(got.data, want.data, got.len) != 0))
		abort(); /* disagrees with the reference */
done:
	otas__buf_free(&want);
	otas__buf_free(&got);
	otas__jsonpath_free(set);
}

static void
check_reference(const char *body, size_t blen)
{
	/* Fixed rules that need the count, then one picked by the hash. */
	static const struct {
		const char *rule;
		ref_sel_t r;
	} fixed[] = {
	    {"$..[-1]", {0, 1, 0, -1, 0, 1}},
	    {"$..[-2]", {0, 1, 0, -2, 0, 1}},
	    {"$..[-3:]", {1, 1, 0, -3, 0, 1}},
	    {"$..[::-2]", {1, 0, 0, 0, 0, -2}},
	    {"$..[1:-1]", {1, 1, 1, 1, -1, 1}},
	};
	uint64_t h = 1469598103934665603ULL;
	size_t i;
	ref_sel_t r;
	char rule[64], sa[24] = "", sb[24] = "", sc[24] = "";

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check_one(body, blen, fixed[i].rule, &fixed[i].r);
	for (i = 0; i < blen; i++)
		h = (h ^ (unsigned char)body[i]) * 1099511628211ULL;
	memset(&r, 0, sizeof(r));
	r.slice = (int)(h & 1);
	r.a = (long)((h >> 1) % 11) - 5;
	r.b = (long)((h >> 5) % 11) - 5;
	r.step = (long)((h >> 9) % 7) - 3;
	r.has_a = !r.slice || (h >> 12) % 4 != 0;
	r.has_b = (h >> 14) % 4 != 0;
	if (r.step == 0)
		r.step = 1;
	if (r.slice) {
		if (r.has_a)
			snprintf(sa, sizeof(sa), "%ld", r.a);
		if (r.has_b)
			snprintf(sb, sizeof(sb), "%ld", r.b);
		if ((h >> 16) % 4 != 0 || r.step != 1)
			snprintf(sc, sizeof(sc), ":%ld", r.step);
		snprintf(rule, sizeof(rule), "$..[%s:%s%s]", sa, sb, sc);
	} else {
		if (r.a == 0 && (h >> 16) % 2)
			r.a = -1;
		snprintf(rule, sizeof(rule), "$..[%ld]", r.a);
	}
	check_one(body, blen, rule, &r);
}

/* otas__redact_json_names_str (redaction and escaping in one pass) writes
 * exactly what otas__json_str_text writes of otas__redact_json_names'
 * output, after what out already holds; -1 exactly when that fails; 1,
 * out untouched, exactly when that output is longer than cap. */
static void
check_str(const otas__jsonpath_set_t *set, const otas__nameset_t *names,
          const char *body, size_t blen, size_t cap)
{
	otas__buf_t ref = OTAS__BUF_INIT, exp = OTAS__BUF_INIT,
	            got = OTAS__BUF_INIT;
	int r1, r2;

	r1 = otas__redact_json_names(set, names, body, blen, &ref);
	otas__buf_puts(&got, "x");
	r2 = otas__redact_json_names_str(set, names, body, blen, cap, &got);
	if (ref.oom || got.oom)
		goto done;
	if (r1 != 0 || ref.len > cap) {
		if (r2 != (r1 != 0 ? -1 : 1) || got.len != 1 ||
		    got.data[1] != '\0')
			abort();
		goto done;
	}
	otas__buf_puts(&exp, "x");
	if (otas__json_str_text(&exp, ref.data ? ref.data : "", ref.len) != 0)
		abort(); /* a valid document is always text */
	if (r2 != 0 || got.len != exp.len ||
	    memcmp(got.data, exp.data, exp.len) != 0 || got.data[got.len])
		abort();
done:
	otas__buf_free(&ref);
	otas__buf_free(&exp);
	otas__buf_free(&got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t rlen = nl ? (size_t)(nl - (const char *)data) : 0;
	const char *body = nl ? nl + 1 : (const char *)data;
	size_t blen = size - (size_t)(body - (const char *)data);
	char *rules = malloc(rlen + 1), err[200];
	otas__jsonpath_set_t *set, *none;
	otas__buf_t out = OTAS__BUF_INIT, again = OTAS__BUF_INIT;
	int rc, valid;

	if (!rules)
		return 0;
	memcpy(rules, data, rlen);
	rules[rlen] = '\0';
	set = otas__jsonpath_parse(rules, err, sizeof(err));
	if (!set)
		set = otas__jsonpath_parse(FALLBACK, err, sizeof(err));
	none = otas__jsonpath_parse("", err, sizeof(err));
	if (!set || !none)
		abort();

	check_str(set, NULL, body, blen, (size_t)-1);
	check_str(set, &DEFAULTS, body, blen, (size_t)-1);
	/* A cap somewhere around the length, from the input. */
	check_str(set, &DEFAULTS, body, blen,
	          blen + 16 - (size ? data[size - 1] % 33 : 0));
	valid = json_check(body, blen, OTAS__REDACT_MAX_DEPTH);
	rc = otas__redact_json(set, body, blen, &out);
	if (out.oom)
		goto done;
	if (rc != 0 && valid && otas__jsonpath_has_count_rules(set) &&
	    max_array_depth(body, blen) > 16)
		goto done; /* the count budget ran out: fail closed */
	if ((rc == 0) != valid)
		abort(); /* disagreement on validity */
	if (rc != 0) {
		if (out.len != 0)
			abort(); /* fail closed leaves out untouched */
		goto done;
	}
	if (!json_check(out.data, out.len, OTAS__REDACT_MAX_DEPTH))
		abort();
	if (otas__redact_json(none, out.data, out.len, &again) != 0 ||
	    again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
		abort();
	otas__buf_reset(&again);
	rc = otas__redact_json(set, out.data, out.len, &again);
	if (rc != 0 && otas__jsonpath_has_count_rules(set) &&
	    max_array_depth(body, blen) > 16)
		goto done; /* the count budget ran out: fail closed */
	if (rc != 0 || again.len != out.len ||
	    memcmp(again.data, out.data, out.len) != 0)
		abort(); /* not idempotent */
	otas__buf_reset(&again);
	if (otas__redact_json(none, body, blen, &again) != 0 ||
	    again.len != blen || memcmp(again.data, body, blen) != 0)
		abort(); /* pass-through not byte for byte */
	/* The same with the default sensitive names (the engine's default):
	 * same verdict on validity, valid output, idempotent. */
	otas__buf_reset(&out);
	if (otas__redact_json_names(set, &DEFAULTS, body, blen, &out) != 0)
		abort();
	if (out.oom || !json_check(out.data, out.len, OTAS__REDACT_MAX_DEPTH))
		abort();
	otas__buf_reset(&again);
	if (otas__redact_json_names(set, &DEFAULTS, out.data, out.len,
	                            &again) != 0 ||
	    again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
		abort();
	check_reference(body, blen);
done:
	otas__buf_free(&out);
	otas__buf_free(&again);
	otas__jsonpath_free(set);
	otas__jsonpath_free(none);
	free(rules);
	return 0;
}
