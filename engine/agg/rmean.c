/*
 * 8-hour running means over hourly values (rmean.h).
 */
#include <math.h>

#include "vigie/rmean.h"

void vg_rmean8_day(const double *v, const unsigned char *valid, size_t nday, double *max,
                   unsigned *nvalid) {
  double best = NAN;
  unsigned n = 0;
  for (size_t i = 0; i < nday; i++) {
    double sum = 0;
    unsigned k = 0;
    for (size_t h = i; h < i + VG_RMEAN8_HOURS; h++)
      if (valid[h]) {
        sum += v[h];
        k++;
      }
    if (k < VG_RMEAN8_MIN)
      continue;
    double m = sum / k;
    if (n == 0 || m > best)
      best = m;
    n++;
  }
  *max = best;
  *nvalid = n;
}

unsigned vg_rmean8_needed(size_t nday) { return (unsigned)((nday * 3 + 3) / 4); }
