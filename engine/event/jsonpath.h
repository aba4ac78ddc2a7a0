/*
 * jsonpath.h -- compiled JSONPath rule sets and their incremental matcher
 * (internal to the redactors; the parser's public face is redact_body.h).
 *
 * A rule set is compiled into one NFA.  Rule r with k steps owns the states
 * base_r .. base_r+k: state base_r+i means "the first i steps matched at the
 * current node", base_r+k is accepting.  A walker keeps, per depth, the set
 * of active states as a bitset of otas__jsonpath_nwords() words; stepping
 * into a member or an element computes the child's set from the parent's.
 * An accepting state is never stored: reaching one means "redact this
 * value", and the caller stops matching below it.  A step may be a list
 * of selectors (a union `['a','b']`, `[0,2]`, slices `[1:5:2]`, negative
 * indexes `[-1]`): it accepts a child when any selector does.  A step after `..` keeps
 * its own state active in every child, which is how recursive descent is
 * followed without backtracking.
 */
#ifndef OTAS_JSONPATH_H
#define OTAS_JSONPATH_H

#include <stddef.h>
#include <stdint.h>

#include "event/redact_body.h"

/* Words of one state bitset (0 when the set has no steps at all). */
size_t otas__jsonpath_nwords(const otas__jsonpath_set_t *set);
/* Room for `depth` state sets: `small` (nsmall words, the caller's
 * stack) when it is enough, else a malloc'd block the caller frees (when
 * it is not `small`); NULL when out of memory. */
uint64_t *otas__jsonpath_states_alloc(const otas__jsonpath_set_t *rules,
                                      size_t depth, uint64_t *small,
                                      size_t nsmall);

/* Fill `states` with the states active at the document root.  Returns 1
 * when a rule ("$") matches the root value itself, else 0. */
int otas__jsonpath_start(const otas__jsonpath_set_t *set, uint64_t *states);

/* The set's member filter: a member whose bit (otas__jsonpath_name_bit)
 * is not set is taken by no rule, and leaves nothing active below it
 * (otas__jsonpath_member would say 0 and clear next), unless its key
 * holds escapes.  All bits are set when a rule has "..", `*` or a
 * bracket selector. */
uint64_t otas__jsonpath_name_filter(const otas__jsonpath_set_t *set);

/* A raw key's bit in the member filter: of its length and first byte. */
static inline unsigned
otas__jsonpath_name_bit(const char *name, size_t len)
{
	return (unsigned)((len * 7 + (len ? (unsigned char)name[0] : 0)) & 63);
}

/* From the states `cur` of an object, the states of its member named by
 * the `len` bytes at `key`.  With `json_escaped` the bytes are the raw
 * contents of a JSON string (escapes are decoded before comparing, so
 * "pass\u0077ord" is `password`); without, they are the name itself.
 * Returns 1 when a rule matches the member (redact its value; `next` is
 * then unspecified), else 0 with `next` filled (possibly empty). */
int otas__jsonpath_member(const otas__jsonpath_set_t *set, const uint64_t *cur,
                          const char *key, size_t len, int json_escaped,
                          uint64_t *next);

/* Same for element `index` of an array of `count` elements.  `count` is
 * needed only when otas__jsonpath_needs_count(set, cur) says so (negative
 * indexes, slices with a negative bound or step); otherwise pass SIZE_MAX
 * (unknown), with which such selectors match nothing. */
int otas__jsonpath_element(const otas__jsonpath_set_t *set,
                           const uint64_t *cur, size_t index, size_t count,
                           uint64_t *next);

/* 1 when some rule of the set has a step that needs an array's element
 * count (the walker checks this once per document, so that rule sets
 * without one pay nothing per array). */
int otas__jsonpath_has_count_rules(const otas__jsonpath_set_t *set);

/* 1 when one of the states `cur` of an array needs its element count. */
int otas__jsonpath_needs_count(const otas__jsonpath_set_t *set,
                               const uint64_t *cur);

/* 1 when any state of `states` is set. */
int otas__jsonpath_live(const otas__jsonpath_set_t *set,
                        const uint64_t *states);

/* Compare the raw contents of a valid JSON string (escapes undecoded) with
 * the UTF-8 bytes name[0..nlen).  A lone surrogate escape never matches. */
int otas__json_str_equal(const char *raw, size_t rawlen, const char *name,
                         size_t nlen);

#endif
