/*
 * Small helpers the micro-benchmarks share (header-only, static inline):
 * clocks, a seeded generator, a comparison for qsort, removing a tree.
 */
#ifndef VIGIE_BENCH_H
#define VIGIE_BENCH_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: on a shared machine, wall-clock also counts the
 * time other processes held the cores. */
static inline double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: the same sequence for the same seed on every machine */
static inline uint64_t rng_next(uint64_t *s) {
  *s += 0x9e3779b97f4a7c15ULL;
  uint64_t z = *s;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static inline double unit(uint64_t *s) {
  return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static inline int bench__rm_one(const char *p, const struct stat *sb, int flag,
                                struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

static inline void rmtree(const char *dir) {
  nftw(dir, bench__rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
