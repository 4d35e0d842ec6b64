/*
 * The statistics of a window (include/vigie/wstats.h): the one place that
 * turns an accumulator into the numbers the outputs publish, with the rules
 * for what an empty window or a missing sketch shows.
 */
#include <math.h>

#include "vigie/wstats.h"
#include "vigie/wtable.h"

double vg_acc_quantile(const struct vg_acc *a, double q) {
  return a->qs ? vg_ddsketch_quantile(a->qs, q) : NAN;
}

void vg_acc_stats(const struct vg_acc *a, unsigned want, double out[VG_STAT_N]) {
  const struct vg_stats *s = &a->st;
  int has_fl = !vg_firstlast_empty(&a->fl);
  for (int k = 0; k < VG_STAT_N; k++) {
    double v = NAN;
    if (!(want & VG_STAT_BIT(k))) {
      out[k] = v;
      continue;
    }
    switch ((enum vg_stat)k) {
    case VG_STAT_COUNT: v = (double)s->count; break;
    case VG_STAT_SUM: v = s->count ? vg_stats_sum(s) : NAN; break;
    case VG_STAT_MIN: v = s->count ? s->min : NAN; break;
    case VG_STAT_MAX: v = s->count ? s->max : NAN; break;
    case VG_STAT_MEAN: v = vg_stats_mean(s); break;
    case VG_STAT_STDDEV: v = vg_stats_stddev_sample(s); break;
    case VG_STAT_P50: v = vg_acc_quantile(a, 0.5); break;
    case VG_STAT_P95: v = vg_acc_quantile(a, 0.95); break;
    case VG_STAT_FIRST: v = has_fl ? a->fl.first_v : NAN; break;
    case VG_STAT_LAST: v = has_fl ? a->fl.last_v : NAN; break;
    case VG_STAT_DISTINCT: v = a->hll ? round(vg_hll_estimate(a->hll)) : NAN; break;
    case VG_STAT_N: break;
    }
    out[k] = v;
  }
}

void vg_window_stats(const struct vg_wentry *w, double out[VG_STAT_N]) {
  vg_acc_stats(&w->acc, VG_STAT_ALL, out);
}
