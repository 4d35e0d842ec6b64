/*
 * The statistics of a window, as every output publishes them: the HTTP API
 * and its exports (publish/dataset.c), the rollup topic (publish/rollup.c),
 * `vigieq query` and the tables of `vigieq sql`. They are computed here,
 * once, so that these outputs cannot drift apart.
 *
 * Reads the accumulator only: a window the store handed over (valid during
 * its callback) or one shared by readers may be passed as is. Thread-safe
 * on distinct or unchanging accumulators.
 */
#ifndef VIGIE_WSTATS_H
#define VIGIE_WSTATS_H

#include "vigie/acc.h"

struct vg_wentry;

/* In the order of the published columns. */
enum vg_stat {
  VG_STAT_COUNT,
  VG_STAT_SUM,
  VG_STAT_MIN,
  VG_STAT_MAX,
  VG_STAT_MEAN,
  VG_STAT_STDDEV, /* sample standard deviation, n - 1 */
  VG_STAT_P50,
  VG_STAT_P95,
  VG_STAT_FIRST,
  VG_STAT_LAST,
  VG_STAT_DISTINCT,
  VG_STAT_N
};

#define VG_STAT_BIT(s) (1u << (s))
#define VG_STAT_ALL    (VG_STAT_BIT(VG_STAT_N) - 1)

/* out[s] for each statistic s whose bit is in want, NaN for the others
 * (quantiles and the distinct count cost a walk of their sketch: ask only
 * for what is printed). NaN where a statistic is undefined or not kept:
 * sum, min, max, mean, first and last of an empty window, stddev under two
 * readings, p50 and p95 without a quantile sketch, distinct without an HLL
 * (else its estimate rounded to an integer; NaN too in the unlikely case
 * that the estimate finds no scratch memory). count is the exact count as
 * a double; a->st.count is the integer. */
void vg_acc_stats(const struct vg_acc *a, unsigned want, double out[VG_STAT_N]);

/* Every statistic of window w: vg_acc_stats(&w->acc, VG_STAT_ALL, out). */
void vg_window_stats(const struct vg_wentry *w, double out[VG_STAT_N]);

/* The value at quantile q in [0, 1] of a's quantile sketch; NaN without
 * one. p50 and p95 above, and vigieq's pNN columns. */
double vg_acc_quantile(const struct vg_acc *a, double q);

#endif
