/*
 * Scalar accumulator: count, sum, min, max, mean and M2 (the sum of squared
 * deviations from the mean, for population and sample variance) of a stream
 * of finite doubles.
 *
 * Mergeable: vg_stats_merge(a, b) equals accumulating the union of the two
 * inputs, exactly for count/min/max and to rounding (well inside 1e-12
 * relative on real data) for sum/mean/M2. The sum is compensated
 * (Kahan-Neumaier: `sum + comp` carries the rounding error of every addition),
 * M2 follows Welford on add and Chan et al. on merge, with the running mean
 * kept as a double-double and M2 compensated, so data far from zero (1e6 +
 * noise) stays within 1e-12 of the exact M2. Merge is bitwise commutative
 * (operands are put in a canonical order first).
 *
 * Values must be finite (asserted): the caller rejects NaN and infinities.
 * A struct vg_stats is plain data (72 bytes), no allocation, no release;
 * not thread-safe (one owner at a time).
 *
 * Binary encoding (vg_stats_encode): little-endian, versioned:
 *   u8 tag 'S' (0x53), u8 version (1), varint count,
 *   and when count > 0: f64 sum, comp, min, max, mean, mean_lo, m2, m2_c
 * (varint = unsigned LEB128, f64 = IEEE-754 binary64 little-endian).
 */
#ifndef VIGIE_STATS_H
#define VIGIE_STATS_H

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define VG_STATS_TAG         0x53
#define VG_STATS_VERSION     1
#define VG_STATS_MAX_ENCODED 76 /* 2 + 10 + 8 * 8 */

struct vg_stats {
  uint64_t count;
  double sum;  /* running sum ... */
  double comp; /* ... and its compensation: the sum is sum + comp */
  double min;
  double max;
  double mean;    /* running mean as a double-double: mean + mean_lo, so a */
  double mean_lo; /* large offset does not drift it (Welford needs it exact) */
  double m2;      /* M2 is m2 + m2_c (compensated) */
  double m2_c;
};

static inline void vg_stats_init(struct vg_stats *s) {
  *s = (struct vg_stats){.min = INFINITY, .max = -INFINITY};
}

/* Neumaier's two-sum step: adds x to (*sum, *comp). */
static inline void vg__neumaier_add(double *sum, double *comp, double x) {
  double t = *sum + x;
  if (fabs(*sum) >= fabs(x))
    *comp += (*sum - t) + x;
  else
    *comp += (x - t) + *sum;
  *sum = t;
}

/* (*hi, *lo) += x, a double-double addition. */
static inline void vg__dd_add(double *hi, double *lo, double x) {
  double s = *hi + x;
  double bp = s - *hi;
  double e = (*hi - (s - bp)) + (x - bp);
  double l = *lo + e;
  *hi = s + l;
  *lo = l - (*hi - s);
}

static inline void vg_stats_add(struct vg_stats *s, double x) {
  assert(isfinite(x));
  s->count++;
  vg__neumaier_add(&s->sum, &s->comp, x);
  if (x < s->min)
    s->min = x;
  if (x > s->max)
    s->max = x;
  double d = (x - s->mean) - s->mean_lo;
  vg__dd_add(&s->mean, &s->mean_lo, d / (double)s->count);
  double d2 = (x - s->mean) - s->mean_lo;
  vg__neumaier_add(&s->m2, &s->m2_c, d * d2);
}

/* dst := dst (+) src. Chan et al.'s pairwise update for mean and M2. */
void vg_stats_merge(struct vg_stats *dst, const struct vg_stats *src);

static inline double vg_stats_sum(const struct vg_stats *s) {
  return s->sum + s->comp;
}
/* NaN when empty. */
static inline double vg_stats_mean(const struct vg_stats *s) {
  return s->count ? vg_stats_sum(s) / (double)s->count : NAN;
}
/* Population variance (M2 / n); NaN when empty. */
static inline double vg_stats_m2(const struct vg_stats *s) {
  return s->m2 + s->m2_c;
}
static inline double vg_stats_var_pop(const struct vg_stats *s) {
  return s->count ? vg_stats_m2(s) / (double)s->count : NAN;
}
/* Sample variance (M2 / (n - 1)); NaN below two values. */
static inline double vg_stats_var_sample(const struct vg_stats *s) {
  return s->count > 1 ? vg_stats_m2(s) / (double)(s->count - 1) : NAN;
}
static inline double vg_stats_stddev_pop(const struct vg_stats *s) {
  return sqrt(vg_stats_var_pop(s));
}
static inline double vg_stats_stddev_sample(const struct vg_stats *s) {
  return sqrt(vg_stats_var_sample(s));
}

/* Writes the encoding into buf (cap bytes; VG_STATS_MAX_ENCODED always
 * suffices); *len gets its size. Returns 0 or VG_EFULL. */
int vg_stats_encode(const struct vg_stats *s, uint8_t *buf, size_t cap, size_t *len);
/* Decodes one encoding from the start of buf into *s; *used gets the bytes
 * consumed. Returns 0, VG_EDECODE (malformed/truncated) or VG_EVERSION. */
int vg_stats_decode(struct vg_stats *s, const uint8_t *buf, size_t len, size_t *used);

#endif
