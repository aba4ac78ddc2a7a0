/*
 * slice_ref.h -- RFC 9535 index and slice selection by Python's slice
 * iteration, for the fuzz targets: written apart from engine/event/jsonpath.c's
 * arithmetic (clamp and modulo) so that the two check each other.
 */
#ifndef OTAS_FUZZ_SLICE_REF_H
#define OTAS_FUZZ_SLICE_REF_H

/* An index (slice 0: a) or a slice a:b:step with optional bounds. */
typedef struct {
	int slice, has_a, has_b;
	long a, b, step;
} ref_sel_t;

/* Whether element i of an array of n is selected. */
static int
ref_selected(const ref_sel_t *r, long n, long i)
{
	long lo, hi, k, a = r->a, b = r->b;

	if (!r->slice)
		return (a < 0 ? n + a : a) == i;
	if (r->step > 0) {
		lo = !r->has_a ? 0 : a < 0 ? (a + n < 0 ? 0 : a + n) : (a > n ? n : a);
		hi = !r->has_b ? n : b < 0 ? (b + n < 0 ? 0 : b + n) : (b > n ? n : b);
		for (k = lo; k < hi; k += r->step)
			if (k == i)
				return 1;
		return 0;
	}
	hi = !r->has_a ? n - 1 : a < 0 ? (a + n < 0 ? -1 : a + n) : (a >= n ? n - 1 : a);
	lo = !r->has_b ? -1 : b < 0 ? (b + n < 0 ? -1 : b + n) : (b >= n ? n - 1 : b);
	for (k = hi; k > lo; k += r->step)
		if (k == i)
			return 1;
	return 0;
}

#endif
