/*
 * vigie-bench-store: the LMDB store's three figures of issue 5.
 *
 * 1. Epoch commit: one write transaction upserting every open window of N
 *    active series (one base window each, 6 readings, full-precision
 *    accumulator rows) plus positions and the watermark, for N = 10 000 and
 *    1 000 000, with the default durability (sync every commit). Printed:
 *    ms per commit and series-windows per second (the store's side of the
 *    merge: the in-memory merge itself is vigie-bench-agg's).
 * 2. Bytes per stored window of a regular sensor (a reading every 10 s,
 *    diurnal curve plus noise, one decimal as real sensors report) for 1m
 *    windows over 14 days, 1h over a year and 1d over three years: the
 *    segment bytes for each codec (plain fixed-width columns, delta/XOR,
 *    plain + zstd, delta/XOR + zstd), then the LMDB file bytes per window
 *    with the default codec (B-tree pages and slack included). A second
 *    line per resolution uses full-precision noise (no decimal rounding),
 *    the hard case for any float codec.
 * 3. Range read of one year of hourly windows of one series (8760 windows,
 *    13 segments) in a fresh read-only snapshot: best and median of 200.
 *
 *   vigie-bench-store [--dir DIR] [--max-series N]
 *
 * Timings are wall-clock on whatever machine runs it; on a shared machine
 * they move from run to run.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ftw.h>

#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/segment.h"
#include "vigie/store.h"

#include "bench.h"

#define T0 (20000LL * 86400) /* 2024-10-04T00:00:00Z */

static struct vg_store *open_store(const char *dir, int durability) {
  struct vg_store_opts o = {.path = dir, .durability = durability};
  struct vg_store *st;
  char err[256];
  if (vg_store_open(&o, &st, err, sizeof err)) {
    fprintf(stderr, "vigie-bench-store: %s\n", err);
    exit(1);
  }
  return st;
}

static void commit_or_die(struct vg_store *st, const struct vg_store_epoch *ep) {
  char err[256];
  if (vg_store_commit(st, ep, err, sizeof err)) {
    fprintf(stderr, "vigie-bench-store: %s\n", err);
    exit(1);
  }
}

/* One window per series: the windows and the pointers a store epoch takes. */
struct wset {
  struct vg_wentry *w;
  const struct vg_wentry **p;
  size_t n;
};

static void wset_init(struct wset *s, size_t n) {
  s->w = calloc(n, sizeof *s->w);
  s->p = calloc(n, sizeof *s->p);
  s->n = n;
  if (!s->w || !s->p)
    exit(1);
}

static void wset_release(struct wset *s) {
  for (size_t i = 0; i < s->n; i++)
    vg_acc_release(&s->w[i].acc);
  free(s->w);
  free(s->p);
}

/* Window i of s becomes the minute at start of series i * id_mul, holding
 * nread readings 10 s apart, values with one decimal around 20. */
static void minute_windows(struct wset *s, uint64_t id_mul, int64_t start, int nread,
                           int final, uint64_t *rng) {
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  for (size_t i = 0; i < s->n; i++) {
    struct vg_wentry *w = &s->w[i];
    vg_acc_release(&w->acc);
    *w = (struct vg_wentry){.series = i * id_mul,
                            .res = VG_RES_BASE,
                            .start = start,
                            .end = start + 60,
                            .final = final};
    vg_acc_init(&w->acc);
    for (int k = 0; k < nread; k++)
      vg_acc_add(&w->acc, &o, (start + k * 10) * 1000000000LL,
                 round(200 + 50 * unit(rng)) / 10, 0, 0);
    s->p[i] = w;
  }
}

/* Commits ep; *wall and *cpu the seconds it took. */
static void timed_commit(struct vg_store *st, const struct vg_store_epoch *ep,
                         double *wall, double *cpu) {
  double t = now_s(), c = cpu_s();
  commit_or_die(st, ep);
  *wall = now_s() - t;
  *cpu = cpu_s() - c;
}

/* A store of its own in base/<kind>-<n> and the windows of n series. */
struct bench_run {
  char dir[512];
  struct vg_store *st;
  struct wset ws;
};

static void bench_run_start(struct bench_run *r, const char *base, const char *kind,
                            size_t n, int durability) {
  snprintf(r->dir, sizeof r->dir, "%s/%s-%zu", base, kind, n);
  r->st = open_store(r->dir, durability);
  wset_init(&r->ws, n);
}

/* Frees the windows, closes the store and removes it. */
static void bench_run_end(struct bench_run *r) {
  wset_release(&r->ws);
  vg_store_close(r->st);
  rmtree(r->dir);
}

/* --- 1. epoch commit ----------------------------------------------------- */

static void bench_commit(const char *base, size_t nseries, int epochs, int durability) {
  struct bench_run r;
  bench_run_start(&r, base, "commit", nseries, durability);
  uint64_t rng = 1;
  double first = 0, best = 1e30, total = 0, cbest = 1e30;
  struct vg_store_pos pos[8];
  for (int e = 0; e < epochs; e++) {
    /* the same minute every epoch (a 1 s checkpoint updates the current
     * minute's window 60 times): the first epoch inserts, the others update */
    minute_windows(&r.ws, 0x9e3779b97f4a7c15ULL /* hashed ids */, T0, e < 6 ? e + 1 : 6,
                   0, &rng);
    for (int k = 0; k < 8; k++)
      pos[k] = (struct vg_store_pos){"air", (uint32_t)k, e * 1000 + k, 0, 0};
    struct vg_store_epoch ep = {.epoch = (uint64_t)e + 1,
                                .open = r.ws.p,
                                .nopen = nseries,
                                .pos = pos,
                                .npos = 8,
                                .watermark_ns = e};
    double t, c;
    timed_commit(r.st, &ep, &t, &c);
    if (e == 0) {
      first = t;
      continue;
    }
    total += t;
    if (t < best)
      best = t;
    if (c < cbest)
      cbest = c;
  }
  int n = epochs - 1;
  printf("  %9zu  %-6s  %6d  %9.1f  %9.1f  %9.1f  %9.1f  %11.0f  %11.0f\n", nseries,
         durability == VG_STORE_SYNC ? "sync" : "nosync", n, first * 1e3, best * 1e3,
         total / n * 1e3, cbest * 1e3, (double)nseries / best, (double)nseries / cbest);
  bench_run_end(&r);
}

/* --- 1b. sealing ----------------------------------------------------------- */

/* N series seal one base window per epoch (a minute of event time each), as
 * the watermark moves, for `minutes` epochs: CPU per sealed window,
 * amortized over the hourly batch rewrites of the day segments. */
static void bench_seal(const char *base, size_t nseries, int minutes) {
  struct bench_run r;
  bench_run_start(&r, base, "seal", nseries, VG_STORE_NOSYNC);
  uint64_t rng = 3;
  double cpu = 0, wall = 0, worst = 0;
  for (int m = 0; m < minutes; m++) {
    minute_windows(&r.ws, 1, T0 + m * 60LL, 6, 1, &rng);
    struct vg_store_epoch ep = {
        .epoch = (uint64_t)m + 1, .sealed = r.ws.p, .nsealed = nseries};
    double t, c;
    timed_commit(r.st, &ep, &t, &c);
    wall += t;
    cpu += c;
    if (c > worst)
      worst = c;
  }
  printf("  %9zu  %7d  %14.2f  %14.2f  %17.1f\n", nseries, minutes,
         wall / minutes / (double)nseries * 1e6, cpu / minutes / (double)nseries * 1e6,
         worst * 1e3);
  bench_run_end(&r);
}

/* --- 2. bytes per stored window ------------------------------------------ */

/* Windows of one series: [start, start + len) for nwin windows, readings
 * every 10 s. decimals: round values to one decimal. */
static struct vg_wentry *sensor_windows(uint8_t res, int64_t len, size_t nwin,
                                        int decimals, uint64_t seed) {
  struct vg_wentry *w = calloc(nwin, sizeof *w);
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  uint64_t rng = seed;
  for (size_t i = 0; i < nwin; i++) {
    int64_t s = T0 + (int64_t)i * len;
    w[i] = (struct vg_wentry){
        .series = 42, .res = res, .start = s, .end = s + len, .final = 1};
    vg_acc_init(&w[i].acc);
    for (int64_t t = s; t < s + len; t += 10) {
      double v = 30 + 15 * sin((double)(t % 86400) / 86400 * 2 * M_PI) + 3 * unit(&rng);
      if (decimals)
        v = round(v * 10) / 10;
      vg_acc_add(&w[i].acc, &o, t * 1000000000LL, v, 0, 0);
    }
  }
  return w;
}

/* Segment bytes of the windows w[0..n) with a codec (grouped by span). */
static size_t segment_bytes(const struct vg_wentry *w, size_t n, unsigned codec) {
  size_t total = 0;
  const struct vg_wentry **p = calloc(n, sizeof *p);
  for (size_t i = 0; i < n;) {
    int64_t span = vg_seg_span(w[i].res, w[i].start);
    size_t j = i;
    while (j < n && vg_seg_span(w[j].res, w[j].start) == span) {
      p[j - i] = &w[j];
      j++;
    }
    uint8_t *buf;
    size_t len;
    struct vg_seg_key key = {w[i].series, w[i].res, span};
    if (vg_seg_encode(&key, p, j - i, codec, &buf, &len))
      exit(1);
    total += len;
    free(buf);
    i = j;
  }
  free(p);
  return total;
}

/* LMDB bytes per window: many series of the same shape sealed into a fresh
 * store (so pages fill as they would), divided by the windows. */
static double lmdb_bytes(const char *base, const struct vg_wentry *w, size_t n) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/bytes", base);
  struct vg_store *st = open_store(dir, VG_STORE_SYNC);
  enum { COPIES = 64 };
  struct vg_wentry *c = calloc(n, sizeof *c);
  const struct vg_wentry **p = calloc(n, sizeof *p);
  struct vg_store_stat s0, s1;
  vg_store_stat(st, &s0);
  for (int k = 0; k < COPIES; k++) {
    for (size_t i = 0; i < n; i++) {
      c[i] = w[i];
      c[i].series = 1000 + (uint64_t)k; /* shares the sketches: read-only */
      p[i] = &c[i];
    }
    struct vg_store_epoch ep = {
        .epoch = (uint64_t)k + 1, .sealed = p, .nsealed = n, .flush = 1};
    commit_or_die(st, &ep);
  }
  vg_store_stat(st, &s1);
  vg_store_close(st);
  rmtree(dir);
  free(c);
  free(p);
  return (double)(s1.used_bytes - s0.used_bytes) / (double)(n * COPIES);
}

static void bench_bytes(const char *base) {
  static const struct {
    const char *name;
    uint8_t res;
    int64_t len;
    size_t nwin;
  } cases[] = {{"1m", VG_RES_BASE, 60, 14 * 1440},
               {"1h", VG_RES_HOUR, 3600, 365 * 24},
               {"1d", VG_RES_DAY, 86400, 3 * 365}};
  for (size_t c = 0; c < 3; c++)
    for (int dec = 1; dec >= 0; dec--) {
      struct vg_wentry *w =
          sensor_windows(cases[c].res, cases[c].len, cases[c].nwin, dec, 7);
      double b[4];
      for (unsigned codec = 0; codec < 4; codec++)
        b[codec] = (double)segment_bytes(w, cases[c].nwin, codec) / (double)cases[c].nwin;
      double lm = lmdb_bytes(base, w, cases[c].nwin);
      printf("  %-3s %-9s %7zu  %7.1f  %7.1f  %10.1f  %10.1f  %12.1f\n", cases[c].name,
             dec ? "1 decimal" : "full", cases[c].nwin, b[0], b[VG_SEG_DELTA],
             b[VG_SEG_ZSTD], b[VG_SEG_DELTA | VG_SEG_ZSTD], lm);
      for (size_t i = 0; i < cases[c].nwin; i++)
        vg_acc_release(&w[i].acc);
      free(w);
    }
}

/* --- 3. range read -------------------------------------------------------- */

static int count_cb(const struct vg_wentry *w, void *ctx) {
  size_t *n = ctx;
  (*n)++;
  return w->acc.st.count == 0; /* touch it */
}

static void bench_range(const char *base) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/range", base);
  struct vg_store *st = open_store(dir, VG_STORE_SYNC);
  size_t n = 365 * 24;
  struct vg_wentry *w = sensor_windows(VG_RES_HOUR, 3600, n, 1, 11);
  const struct vg_wentry **p = calloc(n, sizeof *p);
  for (size_t i = 0; i < n; i++)
    p[i] = &w[i];
  struct vg_store_epoch ep = {.epoch = 1, .sealed = p, .nsealed = n, .flush = 1};
  commit_or_die(st, &ep);
  /* neighbours on both sides, as in a real store */
  for (size_t i = 0; i < n; i++)
    w[i].series = 41;
  commit_or_die(st, &ep);
  for (size_t i = 0; i < n; i++)
    w[i].series = 43;
  commit_or_die(st, &ep);
  enum { RUNS = 200 };
  double t[RUNS], ct[RUNS];
  size_t got = 0;
  char err[256];
  for (int r = 0; r < RUNS; r++) {
    size_t cnt = 0;
    double t0 = now_s(), c0 = cpu_s();
    struct vg_store_reader *rd;
    if (vg_store_reader_begin(st, &rd) ||
        vg_store_read_range(rd, 42, VG_RES_HOUR, T0, T0 + 365 * 86400LL, count_cb, &cnt,
                            err, sizeof err)) {
      fprintf(stderr, "vigie-bench-store: range read failed: %s\n", err);
      exit(1);
    }
    vg_store_reader_end(rd);
    t[r] = now_s() - t0;
    ct[r] = cpu_s() - c0;
    got = cnt;
  }
  qsort(t, RUNS, sizeof t[0], cmp_double);
  qsort(ct, RUNS, sizeof ct[0], cmp_double);
  printf("  %zu windows in %zu segments: wall best %.3f ms, median %.3f ms; cpu best "
         "%.3f ms, "
         "median %.3f ms (target <= 2 ms)\n",
         got, (size_t)(365 * 86400LL / vg_seg_span_len(VG_RES_HOUR) + 1), t[0] * 1e3,
         t[RUNS / 2] * 1e3, ct[0] * 1e3, ct[RUNS / 2] * 1e3);
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&w[i].acc);
  free(w);
  free(p);
  vg_store_close(st);
  rmtree(dir);
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  size_t max_series = 1000000;
  static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                       {"max-series", required_argument, NULL, 'm'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "d:m:", opts, NULL)) != -1) {
    if (c == 'd')
      dir = optarg;
    else if (c == 'm')
      max_series = strtoull(optarg, NULL, 10);
    else {
      fprintf(stderr, "usage: vigie-bench-store [--dir DIR] [--max-series N]\n");
      return 2;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  char tmp[] = "/tmp/vigie-bench-store-XXXXXX";
  if (!dir && !(dir = mkdtemp(tmp))) {
    perror("mkdtemp");
    return 1;
  }
  mkdir(dir, 0750);
  printf(
      "vigie-bench-store (wall-clock on this machine; default durability is sync)\n\n");
  printf("epoch commit: every open window of N active series in one write txn\n");
  printf("(insert: the first epoch creates the rows; update: the next epochs rewrite "
         "them)\n");
  printf("  %9s  %-6s  %6s  %9s  %9s  %9s  %9s  %11s  %11s\n", "series", "sync", "epochs",
         "insert ms", "upd best", "upd mean", "upd cpu", "best win/s", "cpu win/s");
  bench_commit(dir, 10000, 11, VG_STORE_SYNC);
  bench_commit(dir, 10000, 11, VG_STORE_NOSYNC);
  if (max_series >= 1000000) {
    bench_commit(dir, 1000000, 6, VG_STORE_SYNC);
    bench_commit(dir, 1000000, 6, VG_STORE_NOSYNC);
  }
  printf(
      "\nsealing: one base window per series per epoch (nosync), 12 h of event time\n");
  printf("  %9s  %7s  %14s  %14s  %17s\n", "series", "epochs", "wall us/window",
         "cpu us/window", "worst epoch cpu ms");
  bench_seal(dir, 1000, 720);
  printf("\nbytes per stored window (regular sensor, a reading every 10 s)\n");
  printf("  %-3s %-9s %7s  %7s  %7s  %10s  %10s  %12s\n", "res", "values", "windows",
         "plain", "delta", "plain+zstd", "delta+zstd", "lmdb/default");
  bench_bytes(dir);
  printf(
      "\nrange read: one year of hourly windows of one series (fresh snapshot each)\n");
  bench_range(dir);
  if (dir == tmp)
    rmtree(dir);
  return 0;
}
