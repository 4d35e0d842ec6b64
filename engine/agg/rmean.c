/*
 * 8-hour running means over hourly values (rmean.h).
 */
#include <math.h>

#include "vigie/rmean.h"

unsigned vg_mean_valid(const double *v, const unsigned char *valid, size_t n,
                       double *mean) {
  double sum = 0;
  unsigned k = 0;
  for (size_t i = 0; i < n; i++)
    if (valid[i]) {
      sum += v[i];
      k++;
    }
  *mean = k ? sum / k : NAN;
  return k;
}

void vg_rmean8_day(const double *v, const unsigned char *valid, size_t nday, double *max,
                   unsigned *nvalid) {
  double best = NAN;
  unsigned n = 0;
  for (size_t i = 0; i < nday; i++) {
    double m;
    if (vg_mean_valid(v + i, valid + i, VG_RMEAN8_HOURS, &m) < VG_RMEAN8_MIN)
      continue;
    if (n == 0 || m > best)
      best = m;
    n++;
  }
  *max = best;
  *nvalid = n;
}

unsigned vg_rmean8_needed(size_t nday) {
  return (unsigned)((nday * 3 + 3) / 4);
}
