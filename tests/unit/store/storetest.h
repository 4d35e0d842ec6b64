/*
 * Helpers shared by the store tests: windows built from values, a small
 * deterministic generator, temporary directories and window comparison at
 * the precision a segment keeps.
 */
#ifndef VIGIE_TEST_STORETEST_H
#define VIGIE_TEST_STORETEST_H

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/acc.h"
#include "vigie/calendar.h"
#include "vigie/wtable.h"

static inline uint64_t st_rng(uint64_t *s) {
  *s += 0x9e3779b97f4a7c15ULL;
  uint64_t z = *s;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* A window of series/res [start, start+len) holding n readings of a regular
 * sensor (one every len/n seconds, values with one decimal, around base). */
static inline void st_window(struct vg_wentry *w, uint64_t series, uint8_t res,
                             int64_t start, int64_t len, int n, double base,
                             const struct vg_acc_opts *o, uint64_t *rng) {
  memset(w, 0, sizeof *w);
  w->series = series;
  w->res = res;
  w->start = start;
  w->end = start + len;
  w->final = 1;
  vg_acc_init(&w->acc);
  for (int i = 0; i < n; i++) {
    double v = round((base + (double)(st_rng(rng) % 100) / 10.0) * 10) / 10;
    int64_t t = (start + (int64_t)i * len / n) * 1000000000LL;
    if (vg_acc_add(&w->acc, o, t, v, 1, st_rng(rng) % 50) != 0)
      abort();
  }
}

/* Equal at the precision of a segment: exact count/min/max/first/last,
 * sum and M2 as single doubles, sketches identical. */
static inline int st_same(const struct vg_wentry *a, const struct vg_wentry *b) {
  if (a->series != b->series || a->res != b->res || a->start != b->start ||
      a->end != b->end || a->revision != b->revision)
    return 0;
  const struct vg_acc *x = &a->acc, *y = &b->acc;
  if (x->st.count != y->st.count)
    return 0;
  if (!x->st.count)
    return 1;
  if (x->st.min != y->st.min || x->st.max != y->st.max ||
      memcmp(&(double){vg_stats_sum(&x->st)}, &(double){vg_stats_sum(&y->st)}, 8) ||
      memcmp(&(double){vg_stats_m2(&x->st)}, &(double){vg_stats_m2(&y->st)}, 8) || x->fl.first_t != y->fl.first_t ||
      x->fl.last_t != y->fl.last_t || x->fl.first_v != y->fl.first_v ||
      x->fl.last_v != y->fl.last_v)
    return 0;
  if (!x->qs != !y->qs || (x->qs && !vg_ddsketch_equal(x->qs, y->qs)))
    return 0;
  if (!x->hll != !y->hll || (x->hll && !vg_hll_equal(x->hll, y->hll)))
    return 0;
  return 1;
}

static inline int st_rm(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

static inline void st_rmtree(const char *dir) {
  nftw(dir, st_rm, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
