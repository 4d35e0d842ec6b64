/*
 * vigie-bench-dedupe: what `dedupe: true` costs (worker.h "Duplicates").
 *
 * Two workloads of real shapes, generated in memory, each run through the
 * daemon's whole path on one thread -- worker (vg_worker_add, flush),
 * writer (vg_agg_collect) and the store (vg_store_commit of the dirty
 * windows and the new fingerprints in one LMDB transaction, NOSYNC, then
 * clean and evict as engine.c does) -- once with dedupe off and once on,
 * on the same events:
 * - sensor: 10,000 sensors, one reading per minute each (a base window
 *   holds one reading);
 * - mobility: 100 counters, 300 passages per minute each with a device
 *   hash as distinct key (a base window holds hundreds).
 * In both, --copies of the readings (default 1 %) are re-sent 1 to 5,000
 * readings later (the same epoch or a later one).
 *
 * Printed per workload and mode: events/s of the whole path and of each
 * stage (CPU seconds of this thread, best of --repeat), then for dedupe on:
 * the writer's fingerprint sets at their largest (sets in memory, bytes per
 * set and per fingerprint, MiB), the worker's bytes per reading kept for
 * the epoch (the epoch table on minus off), and the store's bytes per
 * fingerprint (keys and values of `dup`, without LMDB's page overhead) and
 * the growth of the map in use. The copies found are checked against the
 * copies sent.
 *
 *   vigie-bench-dedupe [--minutes M] [--epoch N] [--copies P] [--repeat N]
 *                      [--workdir DIR]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "vigie/error.h"
#include "vigie/store.h"
#include "vigie/worker.h"

#define S 1000000000LL
/* 2024-06-03T00:00:00Z */
#define T0 1717372800LL

struct load {
  const char *name;
  struct vg_agg_event *ev;
  size_t n;
  uint64_t copies;
};

/* Appends ev, and with probability p a copy of it due `1..5000` events
 * later (held in a small ring of pending copies). */
struct gen {
  struct load *l;
  size_t cap;
  uint64_t rng;
  double p;
  struct {
    size_t due;
    struct vg_agg_event ev;
  } * pend;
  size_t npend, cappend;
};

static int push(struct gen *g, struct vg_agg_event ev) {
  if (g->l->n == g->cap)
    return -ENOMEM;
  g->l->ev[g->l->n++] = ev;
  return 0;
}

static int emit(struct gen *g, struct vg_agg_event ev) {
  int rc = push(g, ev);
  for (size_t k = 0; rc == 0 && k < g->npend; k++)
    if (g->pend[k].due <= g->l->n) {
      rc = push(g, g->pend[k].ev);
      g->l->copies++;
      g->pend[k--] = g->pend[--g->npend];
    }
  if (rc == 0 && unit(&g->rng) < g->p) {
    if (g->npend == g->cappend) {
      size_t nc = g->cappend ? 2 * g->cappend : 1024;
      void *p = realloc(g->pend, nc * sizeof *g->pend);
      if (!p)
        return -ENOMEM;
      g->pend = p;
      g->cappend = nc;
    }
    g->pend[g->npend].due = g->l->n + 1 + rng_next(&g->rng) % 5000;
    g->pend[g->npend++].ev = ev;
  }
  return rc;
}

static int finish(struct gen *g) {
  int rc = 0;
  for (size_t k = 0; rc == 0 && k < g->npend; k++, g->l->copies++)
    rc = push(g, g->pend[k].ev);
  free(g->pend);
  return rc;
}

static uint64_t series_id(uint64_t k) {
  uint64_t s = k * 0x9e3779b97f4a7c15ULL + 1;
  return rng_next(&s);
}

/* sensors x minutes, one reading each per minute at the sensor's second */
static int make_sensor(struct load *l, uint32_t sensors, uint32_t minutes, double p) {
  size_t cap = (size_t)sensors * minutes * (1 + 3 * p) + 16;
  *l = (struct load){"sensor", malloc(cap * sizeof *l->ev), 0, 0};
  struct gen g = {l, cap, 42, p, NULL, 0, 0};
  if (!l->ev)
    return -ENOMEM;
  for (uint32_t m = 0; m < minutes; m++)
    for (uint32_t k = 0; k < sensors; k++) {
      struct vg_agg_event ev = {.series = series_id(k),
                                .time_ns = (T0 + m * 60 + k % 60) * S + k,
                                .value = 10 + (double)(rng_next(&g.rng) % 400) / 10};
      if (emit(&g, ev))
        return -ENOMEM;
    }
  return finish(&g);
}

/* counters x minutes, `per_min` passages each per minute, in time order
 * within each minute, each with a device hash */
static int make_mobility(struct load *l, uint32_t counters, uint32_t minutes,
                         uint32_t per_min, double p) {
  size_t cap = (size_t)counters * minutes * per_min * (1 + 3 * p) + 16;
  *l = (struct load){"mobility", malloc(cap * sizeof *l->ev), 0, 0};
  struct gen g = {l, cap, 43, p, NULL, 0, 0};
  size_t per = (size_t)counters * per_min;
  struct vg_agg_event *m = malloc(per * sizeof *m);
  if (!l->ev || !m)
    return -ENOMEM;
  for (uint32_t mi = 0; mi < minutes; mi++) {
    for (size_t i = 0; i < per; i++) {
      uint32_t k = (uint32_t)(i % counters);
      m[i] = (struct vg_agg_event){
          .series = series_id(1000000 + k),
          .time_ns = (T0 + mi * 60) * S + (int64_t)(rng_next(&g.rng) % (60000)) * 1000000,
          .value = 1,
          .distinct = rng_next(&g.rng),
          .has_distinct = 1};
    }
    /* time order within the minute (insertion sort on nearly random data
     * is too slow: a counting pass over the 60,000 milliseconds) */
    uint32_t *cnt = calloc(60001, sizeof *cnt);
    struct vg_agg_event *o = malloc(per * sizeof *o);
    if (!cnt || !o)
      return -ENOMEM;
    for (size_t i = 0; i < per; i++)
      cnt[(m[i].time_ns / 1000000) % 60000 + 1]++;
    for (int b = 1; b <= 60000; b++)
      cnt[b] += cnt[b - 1];
    for (size_t i = 0; i < per; i++)
      o[cnt[(m[i].time_ns / 1000000) % 60000]++] = m[i];
    for (size_t i = 0; i < per; i++)
      if (emit(&g, o[i]))
        return -ENOMEM;
    free(cnt);
    free(o);
  }
  free(m);
  return finish(&g);
}

struct result {
  double worker_s, writer_s, store_s;
  uint64_t dups, aggregated;
  /* memory (dedupe on) */
  size_t fp_bytes;
  uint32_t fp_sets;
  uint64_t fp_n;
  size_t worker_bytes;  /* the epoch table at its largest */
  size_t worker_events; /* readings in that epoch */
  uint64_t store_rows, store_bytes, store_used;
};

/* engine.c's commit(): the dirty windows and the new fingerprints in one
 * transaction, then clean, and evict the final windows in batches. */
static int commit(struct vg_agg *a, struct vg_store *st, uint64_t epoch,
                  unsigned *since) {
  struct vg_windows *w = vg_agg_writer_windows(a);
  uint32_t nd = vg_windows_ndirty(w), nf = vg_windows_nfpdirty(w);
  const struct vg_wentry **open = malloc((nd + 1) * sizeof *open);
  const struct vg_wentry **sealed = malloc((nd + 1) * sizeof *sealed);
  struct vg_fprow *fps = malloc((nf + 1) * sizeof *fps);
  size_t no = 0, ns = 0, nr = 0;
  int rc = -ENOMEM;
  char err[512];
  if (open && sealed && fps) {
    for (uint32_t i = 0; i < nd; i++) {
      const struct vg_wentry *e = vg_windows_dirty_at(w, i);
      if (e->final)
        sealed[ns++] = e;
      else
        open[no++] = e;
    }
    for (uint32_t i = 0; i < nf; i++) {
      fps[nr] = vg_windows_fprow(w, i);
      nr += fps[nr].n > 0;
    }
    struct vg_store_epoch ep = {.epoch = epoch,
                                .open = open,
                                .nopen = no,
                                .sealed = sealed,
                                .nsealed = ns,
                                .fps = fps,
                                .nfps = nr,
                                .watermark_ns = vg_agg_watermark(a)};
    rc = vg_store_commit(st, &ep, err, sizeof err);
    if (rc)
      fprintf(stderr, "vigie-bench-dedupe: %s\n", err);
  }
  free(open);
  free(sealed);
  free(fps);
  if (rc)
    return rc;
  vg_windows_clean(w);
  if (++*since >= 30) {
    vg_windows_evict_final(w);
    *since = 0;
  }
  return 0;
}

static int run(const struct vg_tz *tz, const struct load *l, int dedupe, size_t epoch,
               const char *workdir, struct result *r) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/vigie-bench-dedupe-%d", workdir, (int)getpid());
  rmtree(dir);
  struct vg_store_opts so = {
      .path = dir, .durability = VG_STORE_NOSYNC, .map_size = 4ULL << 30};
  struct vg_agg_opts ao = {
      .nworkers = 1,
      .nparts = 1,
      .base_s = 60,
      .ooo_ns = 10 * S,
      .idle_ns = INT64_MAX / 2,
      .win = {.lateness_s = 600, .retention_s = {0, 0, 0}, .acc = VG_ACC_OPTS_DEFAULT},
      .dedupe_s = 0};
  ao.win.acc.distinct = 1;
  struct vg_store *st = NULL;
  struct vg_agg *a = NULL;
  char err[512];
  int rc;
  if ((rc = vg_store_open(&so, &st, err, sizeof err)) ||
      (rc = vg_agg_new(tz, &ao, 0, &a, err, sizeof err))) {
    fprintf(stderr, "vigie-bench-dedupe: %s\n", err);
    goto done;
  }
  struct vg_windows *w = vg_agg_writer_windows(a);
  if ((rc = vg_windows_set_loader(w, vg_store_window_loader, st)))
    goto done;
  vg_windows_set_fp_loader(w, vg_store_fp_loader, st);
  struct vg_worker *wk = vg_agg_worker(a, 0);
  *r = (struct result){0};
  uint32_t cap = dedupe ? 10000 : 0;
  unsigned since = 0;
  uint64_t ep = 0;
  for (size_t i = 0; i < l->n;) {
    size_t end = i + epoch < l->n ? i + epoch : l->n, first = i;
    double t0 = cpu_s();
    for (; i < end; i++) {
      struct vg_agg_event ev = l->ev[i];
      ev.dedupe = cap;
      if (vg_worker_add(wk, 0, (int64_t)i, &ev, 0) < 0) {
        rc = -ENOMEM;
        goto done;
      }
    }
    double t1 = cpu_s();
    size_t nwin, wb = vg_worker_bytes(wk, 0, &nwin);
    if (wb > r->worker_bytes) {
      r->worker_bytes = wb;
      r->worker_events = end - first;
    }
    double t2 = cpu_s();
    if (vg_worker_flush(wk, 0) != 0 || vg_agg_collect(a, 0, NULL, NULL) < 0) {
      rc = -ENOMEM;
      goto done;
    }
    double t3 = cpu_s();
    uint32_t nsets;
    uint64_t nfps;
    size_t fb = vg_windows_fp_bytes(w, &nsets, &nfps);
    if (fb > r->fp_bytes) {
      r->fp_bytes = fb;
      r->fp_sets = nsets;
      r->fp_n = nfps;
    }
    double t4 = cpu_s();
    if ((rc = commit(a, st, ++ep, &since)))
      goto done;
    double t5 = cpu_s();
    r->worker_s += t1 - t0;
    r->writer_s += t3 - t2;
    r->store_s += t5 - t4;
  }
  r->dups = w->c.duplicates;
  r->aggregated = w->c.aggregated;
  struct vg_store_stat ss;
  if ((rc = vg_store_stat(st, &ss)) == 0) {
    r->store_rows = ss.dedupe_rows;
    r->store_bytes = ss.dedupe_bytes;
    r->store_used = ss.used_bytes;
  }
done:
  vg_agg_free(a);
  vg_store_close(st);
  rmtree(dir);
  return rc;
}

static void print_run(const struct load *l, int on, const struct result *r,
                      const struct result *off) {
  double n = (double)l->n;
  double all = n / (r->worker_s + r->writer_s + r->store_s);
  double all_off = n / (off->worker_s + off->writer_s + off->store_s);
  printf("%-9s %-4s %11.3g %8.2fx %11.3g %11.3g %11.3g %11" PRIu64 " %11" PRIu64 "\n",
         l->name, on ? "on" : "off", all, all / all_off, n / r->worker_s, n / r->writer_s,
         n / r->store_s, r->dups, r->aggregated);
}

int main(int argc, char **argv) {
  uint32_t minutes = 120;
  size_t epoch = 20000;
  double copies = 0.01;
  int repeat = 3;
  const char *workdir = "/tmp";
  static const struct option longopts[] = {{"minutes", required_argument, NULL, 'm'},
                                           {"epoch", required_argument, NULL, 'e'},
                                           {"copies", required_argument, NULL, 'c'},
                                           {"repeat", required_argument, NULL, 'r'},
                                           {"workdir", required_argument, NULL, 'w'},
                                           {"help", no_argument, NULL, 'h'},
                                           {0}};
  int c;
  while ((c = getopt_long(argc, argv, "m:e:c:r:w:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'm': minutes = (uint32_t)strtoul(optarg, NULL, 10); break;
    case 'e': epoch = strtoull(optarg, NULL, 10); break;
    case 'c': copies = strtod(optarg, NULL); break;
    case 'r': repeat = atoi(optarg); break;
    case 'w': workdir = optarg; break;
    default:
      fputs("usage: vigie-bench-dedupe [--minutes M] [--epoch N] [--copies P] "
            "[--repeat N] [--workdir DIR]\n",
            c == 'h' ? stdout : stderr);
      return c == 'h' ? 0 : 2;
    }
  }
  if (minutes < 3 || epoch == 0 || repeat < 1 || !(copies >= 0 && copies < 0.5))
    return 2;
  struct vg_tz *tz;
  char err[256];
  if (vg_tz_load("Europe/Paris", &tz, err, sizeof err) != 0) {
    fprintf(stderr, "vigie-bench-dedupe: %s\n", err);
    return 1;
  }
  struct load loads[2];
  if (make_sensor(&loads[0], 10000, minutes, copies) ||
      make_mobility(&loads[1], 100, minutes / 3, 300, copies)) {
    fputs("vigie-bench-dedupe: out of memory\n", stderr);
    return 1;
  }
  printf(
      "vigie-bench-dedupe: sensor = 10000 sensors x 1 reading/min x %u min, mobility = "
      "100 counters x 300 passages/min x %u min (distinct keys); %.1f %% re-sent 1-5000 "
      "readings later; epoch %zu readings; lateness 10 min; LMDB NOSYNC in %s; one "
      "thread, CPU time, best of %d\n",
      minutes, minutes / 3, copies * 100, epoch, workdir, repeat);
  printf("%-9s %-4s %11s %9s %11s %11s %11s %11s %11s\n", "workload", "dedupe",
         "events/s", "vs off", "worker e/s", "writer e/s", "store e/s", "duplicates",
         "aggregated");
  struct result res[2][2];
  for (int k = 0; k < 2; k++) {
    for (int on = 0; on < 2; on++) {
      struct result best = {0}, t = {0};
      for (int i = 0; i < repeat; i++) {
        if (run(tz, &loads[k], on, epoch, workdir, &t) != 0)
          return 1;
        if (i == 0 || t.worker_s < best.worker_s)
          best.worker_s = t.worker_s;
        if (i == 0 || t.writer_s < best.writer_s)
          best.writer_s = t.writer_s;
        if (i == 0 || t.store_s < best.store_s)
          best.store_s = t.store_s;
        double ws = best.worker_s, wr = best.writer_s, so = best.store_s;
        best = t;
        best.worker_s = ws;
        best.writer_s = wr;
        best.store_s = so;
      }
      res[k][on] = best;
      if (on && best.dups != loads[k].copies) {
        fprintf(stderr,
                "vigie-bench-dedupe: %s: %" PRIu64 " duplicates found, %" PRIu64
                " sent\n",
                loads[k].name, best.dups, loads[k].copies);
        return 1;
      }
      print_run(&loads[k], on, &res[k][on], &res[k][0]);
    }
  }
  printf("\nmemory and store, dedupe on (the writer's sets at their largest):\n");
  printf("%-9s %8s %10s %9s %9s %12s %12s %12s\n", "workload", "fp/set", "sets", "B/set",
         "B/fp", "sets MiB", "worker B/rd", "store B/fp");
  for (int k = 0; k < 2; k++) {
    const struct result *on = &res[k][1], *off = &res[k][0];
    double per_set = on->fp_sets ? (double)on->fp_bytes / on->fp_sets : 0;
    double per_fp = on->fp_n ? (double)on->fp_bytes / (double)on->fp_n : 0;
    double wrd = on->worker_events
                     ? ((double)on->worker_bytes - (double)off->worker_bytes) /
                           (double)on->worker_events
                     : 0;
    uint64_t kept = on->aggregated; /* every counted reading has its fingerprint */
    printf("%-9s %8.1f %10u %9.1f %9.1f %12.2f %12.1f %12.1f\n", loads[k].name,
           on->fp_sets ? (double)on->fp_n / on->fp_sets : 0, on->fp_sets, per_set, per_fp,
           (double)on->fp_bytes / 1048576.0, wrd,
           kept ? (double)on->store_bytes / (double)kept : 0);
    printf("%-9s   store: %" PRIu64
           " rows of fingerprints, %.1f MiB of keys and values; map "
           "in use %.1f MiB with dedupe, %.1f MiB without\n",
           "", on->store_rows, (double)on->store_bytes / 1048576.0,
           (double)on->store_used / 1048576.0, (double)off->store_used / 1048576.0);
  }
  for (int k = 0; k < 2; k++)
    free(loads[k].ev);
  vg_tz_free(tz);
  return 0;
}
