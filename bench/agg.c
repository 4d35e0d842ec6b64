/*
 * vigie-bench-agg: aggregation throughput from memory, one core.
 *
 * Events (series id, event time, value) are generated in memory first, then
 * fed to one worker (vg_worker_add) for 1, 10 000 and 1 000 000 active
 * series, with and without quantile sketches. Printed per configuration:
 * worker events/s (the per-core figure: the worker is single-threaded and
 * shares nothing), the ratio to a baseline measured in the same run (adding
 * each value into a plain array slot of its series: the floor of any
 * per-series aggregation), bytes per open series-window of the delta table
 * (without and with sketches), and the writer's merge rate of the epoch
 * deltas into base, hour and day windows (flush + collect on the same
 * thread, timed separately; for 1 M series one epoch holds the whole run
 * and the writer side is skipped to keep memory bounded). The "decode+agg"
 * lines run the same events through the InfluxDB line-protocol codec first
 * (one line per message, as small Kafka messages), hashing each series key
 * to its id with FNV-1a: the whole in-memory path from bytes to windows.
 *
 *   vigie-bench-agg [--events N] [--epoch N] [--repeat N]
 *
 * Each figure is the best of --repeat runs (default 3): the machine may be
 * shared, and the best run is the one least disturbed.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vigie/codec.h"
#include "vigie/ddsketch.h"
#include "vigie/hash.h"
#include "vigie/error.h"
#include "vigie/worker.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct gen {
  struct vg_agg_event *ev;
  uint32_t *idx; /* series index of each event, for the baseline */
};

/* n events over `series` series, event time advancing 30 us per event from
 * 2024-06-01T10:00Z (with some jitter), log-normal-ish values. */
static void generate(struct gen *g, size_t n, uint32_t series) {
  uint64_t s = 12345;
  for (size_t i = 0; i < n; i++) {
    uint64_t r1 = mix(s++), r2 = mix(s++);
    uint32_t k = (uint32_t)(r1 % series);
    double u = (double)(r2 >> 11) * 0x1.0p-53;
    g->idx[i] = k;
    g->ev[i] = (struct vg_agg_event){
        .series = mix(k ^ 0xabcdefULL),
        .time_ns =
            1717236000LL * 1000000000 + (int64_t)i * 30000 - (int64_t)(r2 % 1000000),
        .value = exp(u * 6 - 1), /* 0.37 .. 148 */
    };
  }
}

static double baseline(const struct gen *g, size_t n, uint32_t series) {
  double *sums = calloc(series, sizeof *sums);
  double t0 = now_s();
  for (size_t i = 0; i < n; i++)
    sums[g->idx[i]] += g->ev[i].value;
  double dt = now_s() - t0;
  volatile double sink = sums[0];
  (void)sink;
  free(sums);
  return (double)n / dt;
}

struct result {
  double eps, writer_dps;
  double bytes_per_window, sketch_bytes_per_window;
  size_t windows;
};

/* The engine every run measures: one worker over one partition, minute
 * base windows, nothing late, an hour of retention, quantile sketches or
 * not. vg_agg_new's code (said on stderr). */
static int new_agg(const struct vg_tz *tz, int sketches, struct vg_agg **a) {
  struct vg_agg_opts o = {.nworkers = 1,
                          .nparts = 1,
                          .base_s = 60,
                          .ooo_ns = 0,
                          .idle_ns = INT64_MAX / 2,
                          .win = {.lateness_s = 0,
                                  .retention_s = {3600, 3600, 3600},
                                  .acc = VG_ACC_OPTS_DEFAULT}};
  o.win.acc.quantiles = sketches;
  char err[256];
  int rc = vg_agg_new(tz, &o, 0, a, err, sizeof err);
  if (rc)
    fprintf(stderr, "vigie-bench-agg: %s\n", err);
  return rc;
}

static int run(const struct vg_tz *tz, const struct gen *g, size_t n, size_t epoch,
               int sketches, int writer, struct result *res) {
  struct vg_agg *a;
  int rc = new_agg(tz, sketches, &a);
  if (rc)
    return rc;
  struct vg_worker *w = vg_agg_worker(a, 0);
  double work = 0, wtime = 0;
  size_t deltas = 0;
  *res = (struct result){0};
  for (size_t i = 0; i < n;) {
    size_t end = writer && i + epoch < n ? i + epoch : n;
    double t0 = now_s();
    for (; i < end; i++)
      vg_worker_add(w, 0, (int64_t)i, &g->ev[i], 0);
    work += now_s() - t0;
    size_t nwin;
    size_t plain = vg_worker_bytes(w, 0, &nwin);
    size_t full = vg_worker_bytes(w, 1, &nwin);
    if (nwin > res->windows) {
      res->windows = nwin;
      res->bytes_per_window = (double)plain / (double)nwin;
      res->sketch_bytes_per_window = (double)(full - plain) / (double)nwin;
    }
    if (writer) {
      deltas += nwin;
      t0 = now_s();
      vg_worker_flush(w, 0);
      vg_agg_collect(a, 0, NULL, NULL);
      wtime += now_s() - t0;
    }
  }
  res->eps = (double)n / work;
  res->writer_dps = writer ? (double)deltas / wtime : 0;
  vg_agg_free(a);
  return 0;
}

/* The events as line-protocol messages: one buffer, message i at off[i]. */
struct msgs {
  char *buf;
  size_t *off;
};

static int make_msgs(struct msgs *m, const struct gen *g, size_t n) {
  m->buf = malloc(n * 64);
  m->off = malloc((n + 1) * sizeof *m->off);
  if (!m->buf || !m->off)
    return -1;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    m->off[i] = at;
    at += (size_t)snprintf(m->buf + at, 64, "pm10,sensor_id=s%u value=%.4f %lld\n",
                           g->idx[i], g->ev[i].value, (long long)g->ev[i].time_ns);
  }
  m->off[n] = at;
  return 0;
}

static int run_decode(const struct vg_tz *tz, const struct msgs *m, size_t n,
                      int sketches, double *eps) {
  struct vg_codec_config cc = {.format = VG_FORMAT_INFLUX};
  struct vg_codec *codec;
  char err[256];
  if (vg_codec_new(&cc, &codec, err, sizeof err) != 0) {
    fprintf(stderr, "vigie-bench-agg: %s\n", err);
    return -1;
  }
  struct vg_agg *a;
  if (new_agg(tz, sketches, &a) != 0) {
    vg_codec_free(codec);
    return -1;
  }
  struct vg_worker *w = vg_agg_worker(a, 0);
  struct vg_event_batch b;
  vg_event_batch_init(&b);
  size_t events = 0;
  double t0 = now_s();
  for (size_t i = 0; i < n;) {
    vg_event_batch_clear(&b);
    size_t end = i + 1024 < n ? i + 1024 : n;
    for (; i < end; i++)
      vg_codec_decode(codec, m->buf + m->off[i], m->off[i + 1] - m->off[i], 0, &b);
    for (size_t k = 0; k < b.n_events; k++) {
      const struct vg_event *e = &b.events[k];
      struct vg_agg_event ev = {
          .series = vg_fnv1a64(VG_FNV64_OFFSET, vg_event_key(&b, e), e->key_len),
          .time_ns = e->time_ns,
          .value = e->value};
      vg_worker_add(w, 0, (int64_t)events++, &ev, 0);
    }
  }
  *eps = (double)events / (now_s() - t0);
  vg_event_batch_release(&b);
  vg_codec_free(codec);
  vg_agg_free(a);
  return events == n ? 0 : -1;
}

int main(int argc, char **argv) {
  size_t n = 4000000, epoch = 1000000;
  int repeat = 3;
  static const struct option longopts[] = {{"events", required_argument, NULL, 'n'},
                                           {"epoch", required_argument, NULL, 'e'},
                                           {"repeat", required_argument, NULL, 'r'},
                                           {"help", no_argument, NULL, 'h'},
                                           {0}};
  int c;
  while ((c = getopt_long(argc, argv, "n:e:r:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'n': n = strtoull(optarg, NULL, 10); break;
    case 'e': epoch = strtoull(optarg, NULL, 10); break;
    case 'r': repeat = atoi(optarg); break;
    default:
      fputs("usage: vigie-bench-agg [--events N] [--epoch N] [--repeat N]\n",
            c == 'h' ? stdout : stderr);
      return c == 'h' ? 0 : 2;
    }
  }
  if (n == 0 || epoch == 0 || repeat < 1)
    return 2;
  struct vg_tz *tz;
  char err[256];
  if (vg_tz_load("Europe/Paris", &tz, err, sizeof err) != 0) {
    fprintf(stderr, "vigie-bench-agg: %s\n", err);
    return 1;
  }
  struct gen g = {malloc(n * sizeof *g.ev), malloc(n * sizeof *g.idx)};
  if (!g.ev || !g.idx) {
    fputs("vigie-bench-agg: out of memory\n", stderr);
    return 1;
  }
  printf("vigie-bench-agg: %zu events per run, epoch %zu events, base window 60 s, "
         "Europe/Paris, 1 worker thread, best of %d\n",
         n, epoch, repeat);
  printf("%-9s %-8s %12s %9s %10s %12s %14s %12s\n", "series", "sketch", "events/s",
         "vs array", "windows", "B/window", "sketch B/win", "writer d/s");
  const uint32_t series[] = {1, 10000, 1000000};
  for (int s = 0; s < 3; s++) {
    generate(&g, n, series[s]);
    double base = 0;
    for (int k = 0; k < repeat; k++)
      base = fmax(base, baseline(&g, n, series[s]));
    for (int sk = 0; sk < 2; sk++) {
      struct result r = {0}, t;
      int writer = series[s] <= 10000;
      for (int k = 0; k < repeat; k++) {
        if (run(tz, &g, n, epoch, sk, writer, &t) != 0)
          return 1;
        if (t.eps > r.eps)
          r.eps = t.eps;
        if (t.writer_dps > r.writer_dps)
          r.writer_dps = t.writer_dps;
        r.windows = t.windows;
        r.bytes_per_window = t.bytes_per_window;
        r.sketch_bytes_per_window = t.sketch_bytes_per_window;
      }
      char wbuf[32];
      if (writer)
        snprintf(wbuf, sizeof wbuf, "%.3g", r.writer_dps);
      else
        snprintf(wbuf, sizeof wbuf, "-");
      printf("%-9u %-8s %12.3g %8.2fx %10zu %12.1f %14.1f %12s\n", series[s],
             sk ? "ddsketch" : "none", r.eps, r.eps / base, r.windows, r.bytes_per_window,
             sk ? r.sketch_bytes_per_window : 0.0, wbuf);
    }
    printf("%-9u %-8s %12.3g %9s   (baseline: add into an array slot per series)\n",
           series[s], "array", base, "1.00x");
    struct msgs m;
    if (make_msgs(&m, &g, n) != 0) {
      fputs("vigie-bench-agg: out of memory\n", stderr);
      return 1;
    }
    for (int sk = 0; sk < 2; sk++) {
      double eps = 0, t;
      for (int k = 0; k < repeat; k++) {
        if (run_decode(tz, &m, n, sk, &t) != 0) {
          fputs("vigie-bench-agg: decode+agg run failed\n", stderr);
          return 1;
        }
        eps = fmax(eps, t);
      }
      printf("%-9u %-8s %12.3g %8.2fx   (decode+agg: InfluxDB line protocol, one line "
             "per message%s)\n",
             series[s], sk ? "ddsketch" : "none", eps, eps / base,
             sk ? ", sketches" : "");
    }
    free(m.buf);
    free(m.off);
  }
  printf(
      "sketch bound: %zu bytes per window at most (alpha %.2f, max_bins %d per sign)\n",
      sizeof(struct vg_ddsketch) + 2 * (size_t)VG_DDSKETCH_MAX_BINS * 8,
      VG_DDSKETCH_ALPHA, VG_DDSKETCH_MAX_BINS);
  free(g.ev);
  free(g.idx);
  vg_tz_free(tz);
  return 0;
}
