/*
 * redact_body.h -- redaction of bodies, form fields and query strings:
 * the one header of two files, redact_json.c (JSON documents) and
 * redact_form.c (form encoding, query strings), which share the rule and
 * name-set types below and whose callers redact "a body" either way.
 *
 * Rules are JSONPath expressions ($.a.b, $['a'], $.a[0], $.a[*].b, $..b,
 * $.a.*, unions $['a','b'] and $.a[0,2], slices $.a[0:2] and $.a[::-2],
 * negative indexes $.a[-1]) or bare names (`password`, the same as
 * $..password), given as one comma-separated list.  A JSON document is redacted in
 * a single pass with no per-byte allocation: every value a rule matches
 * (scalar, object or array) becomes the string "[REDACTED]" and the rest of
 * the document is written out byte-for-byte as it came (key order, number
 * spelling, whitespace).  Form-encoded bodies are treated as a flat object
 * (rule $.password matches field `password`).
 *
 * Fail closed: a body that rules apply to but that does not parse, or nests
 * deeper than OTAS__REDACT_MAX_DEPTH, is reported as unparseable so that the
 * caller replaces it by OTAS__UNPARSEABLE_MARKER.
 *
 * Threads: rule sets are immutable after parsing and may be shared; the
 * functions are reentrant.
 */
#ifndef OTAS_REDACT_BODY_H
#define OTAS_REDACT_BODY_H

#include <stddef.h>

#include "common/buf.h"

#define OTAS__REDACTED "[REDACTED]"
#define OTAS__UNPARSEABLE_MARKER "[UNPARSEABLE BODY REDACTED]"
#define OTAS__REDACT_MAX_DEPTH 128

typedef struct otas__jsonpath_set_s otas__jsonpath_set_t;

/* Parse a comma-separated list of JSONPath rules (whitespace around rules
 * ignored; "" gives an empty set).  Returns NULL with err naming the rule
 * and the 1-based character position of the fault within it (its last
 * character when the rule ends early), e.g.
 *   rule "$.a[" at position 4: expected an index, '*' or a quoted name
 * Commas inside quoted names and brackets do not split rules.  Filters
 * ([?...]) and script expressions ([(...)]) are refused: they cannot be
 * applied in one streaming pass.  See jsonpath.c for the grammar. */
otas__jsonpath_set_t *otas__jsonpath_parse(const char *rules, char *err,
                                           size_t errlen);
void otas__jsonpath_free(otas__jsonpath_set_t *set);
size_t otas__jsonpath_count(const otas__jsonpath_set_t *set);

/* Redact a JSON document into out (appended).  Returns 0 when it parsed
 * (out holds the redacted document, identical to the input when nothing
 * matched), -1 when it is not JSON or too deep (out unchanged). */
int otas__redact_json(const otas__jsonpath_set_t *rules, const char *in,
                      size_t len, otas__buf_t *out);

/* A set of sensitive names (query parameters, form fields, JSON keys at
 * any depth, header names), compared after normalisation: see
 * redact_names.h.  `defaults` adds the built-in list. */
struct otas__namepats_s;
typedef struct {
	const char *const *names;
	size_t n;
	int defaults;
	/* The names normalised once (otas__nameset_prepare in
	 * redact_names.h); NULL: normalised again at each lookup. */
	struct otas__namepats_s *pats;
} otas__nameset_t;

/* otas__redact_json with, besides the rules, every member at any depth
 * whose key `names` marks as sensitive redacted (names may be NULL). */
int otas__redact_json_names(const otas__jsonpath_set_t *rules,
                            const otas__nameset_t *names, const char *in,
                            size_t len, otas__buf_t *out);

/* otas__redact_json_names, the result appended to out as a quoted JSON
 * string (what otas__json_str_text would write of it), in the same pass.
 * Returns 0; -1 when the body is not JSON or too deep, or on out of
 * memory (out->oom); 1 when the redacted document is longer than cap
 * bytes.  Out is unchanged unless 0 is returned. */
int otas__redact_json_names_str(const otas__jsonpath_set_t *rules,
                                const otas__nameset_t *names,
                                const char *in, size_t len, size_t cap,
                                otas__buf_t *out);

/* Redact an application/x-www-form-urlencoded string (a body or a query
 * string) into out: the value of every field whose decoded name is in
 * `names`, or that a rule of `rules` ($.name, $['name'], $.*, $..name)
 * matches, becomes %5BREDACTED%5D; everything else is kept as written.
 * A matched field with an empty or no value is redacted too (`token`
 * becomes `token=%5BREDACTED%5D`).  A rule "$" matches every field.
 * Either set may be NULL.  Returns 0; on allocation failure out->oom is
 * set and out must not be used. */
int otas__redact_urlencoded(const otas__jsonpath_set_t *rules,
                            const otas__nameset_t *names, const char *in,
                            size_t len, otas__buf_t *out);

/* Decode an urlencoded string into the JSON object text used for
 * `query_params` and `post_data`: {"name": ["v1", "v2"], ...} in order of
 * first appearance, values redacted as by otas__redact_urlencoded (the
 * value "[REDACTED]").  Empty fields (`a=1&&b`) are skipped, a field with
 * no '=' has the value "".  Invalid UTF-8 after percent-decoding is
 * written with U+FFFD.  Appends to out; returns 0 (out->oom on failure). */
int otas__urlencoded_to_json(const otas__jsonpath_set_t *rules,
                             const otas__nameset_t *names, const char *in,
                             size_t len, otas__buf_t *out);

#endif
