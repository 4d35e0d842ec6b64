/*
 * Small helpers the benchmarks share: a monotonic clock, a comparison for
 * qsort of timings, and removing a scratch directory tree.
 */
#ifndef VIGIE_BENCH_UTIL_H
#define VIGIE_BENCH_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static inline int bench_rm_one(const char *p, const struct stat *sb, int flag,
                               struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

/* Removes dir and everything below it (a benchmark's scratch store). */
static inline void rmtree(const char *dir) {
  nftw(dir, bench_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
