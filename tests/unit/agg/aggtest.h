/*
 * Helpers shared by the aggregation tests: a seeded PRNG, random splits and
 * loaders for the real data sets of ../shared/data.
 */
#ifndef VIGIE_AGGTEST_H
#define VIGIE_AGGTEST_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/acc.h"
#include "vigie/window.h"

struct rng {
  uint64_t s;
};

static inline uint64_t rng_next(struct rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* uniform in [0, n) */
static inline uint64_t rng_below(struct rng *r, uint64_t n) {
  return rng_next(r) % n;
}

/* uniform in [0, 1) */
static inline double rng_unit(struct rng *r) {
  return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

struct dvec {
  double *v;
  size_t n, cap;
};

static inline void dvec_push(struct dvec *d, double x) {
  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 1024;
    d->v = realloc(d->v, d->cap * sizeof *d->v);
    if (!d->v)
      abort();
  }
  d->v[d->n++] = x;
}

/* Appends column `col` (0-based) of a delimited text file, skipping the
 * header and any cell that is not a number. Returns 0, -1 if unreadable. */
static inline int load_column(struct dvec *d, const char *path, char delim, int col) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  char line[4096];
  int first = 1;
  while (fgets(line, sizeof line, f)) {
    if (first) {
      first = 0;
      continue;
    }
    char *p = line;
    for (int c = 0; c < col && p; c++) {
      p = strchr(p, delim);
      if (p)
        p++;
    }
    if (!p)
      continue;
    char *end;
    double x = strtod(p, &end);
    if (end != p &&
        (*end == delim || *end == '\n' || *end == '\r' || *end == 0 || *end == ' '))
      dvec_push(d, x);
  }
  fclose(f);
  return 0;
}

/* Every daily file of the Aberdeen PM data set, column P1 or P2. */
static inline int load_aberdeen(struct dvec *d, const char *dir, int col) {
  DIR *dp = opendir(dir);
  if (!dp)
    return -1;
  struct dirent *e;
  char path[8192];
  while ((e = readdir(dp))) {
    if (!strstr(e->d_name, ".csv") || strlen(dir) + strlen(e->d_name) + 2 > sizeof path)
      continue;
    strcpy(path, dir);
    strcat(path, "/");
    strcat(path, e->d_name);
    load_column(d, path, ';', col);
  }
  closedir(dp);
  return 0;
}

/* An accumulator holding the single reading v at t_s seconds. */
static inline void delta_of(struct vg_acc *a, int64_t t_s, double v) {
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  vg_acc_init(a);
  vg_acc_add(a, &o, t_s * 1000000000LL, v, 0, 0);
}

/* Merges the single reading v at t_s seconds into the window [start, end)
 * of series and its coarser windows: vg_windows_merge's code, *revised as
 * it sets it. */
static inline int merge_reading(struct vg_windows *w, uint64_t series, int64_t start,
                                int64_t end, int64_t t_s, double v, int *revised) {
  struct vg_acc d;
  delta_of(&d, t_s, v);
  int rc = vg_windows_merge(w, series, start, end, VG_INTO_ALL, &d, revised);
  vg_acc_release(&d);
  return rc;
}

static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#endif
