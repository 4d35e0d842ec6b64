/*
 * The store shared by the publication tests: three passage counters over
 * 40 UTC days of hourly and daily windows, counts skewed small so that many
 * hours fall under k = 10, the last afternoon provisional, and an emit-log
 * record for every final window; the datasets of the YAML below.
 */
#ifndef VIGIE_TEST_PUBTEST_H
#define VIGIE_TEST_PUBTEST_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../store/storetest.h"
#include "vigie/config.h"
#include "vigie/dataset.h"
#include "vigie/error.h"
#include "vigie/store.h"

#define DAY   86400LL
#define T0    (20000LL * DAY) /* a UTC midnight */
#define NDAYS 40
#define K     10

static const char yaml[] = "timezone: UTC\n"
                           "sources:\n"
                           "  - topic: traffic\n"
                           "    time_key: ts\n"
                           "    entity_key: counter_id\n"
                           "    count_as: passages\n"
                           "datasets:\n"
                           "  - id: passages-heure\n"
                           "    title: Passages\n"
                           "    resolution: 1h\n"
                           "    metrics: [passages]\n"
                           "    columns: [count, sum, mean]\n"
                           "    tag_columns: [counter_id]\n"
                           "    suppress_below: 10\n"
                           "    status: all\n"
                           "    sensor_period: 10m\n"
                           "    entity_tag: counter_id\n"
                           "    coordinates: {c1: \"48.85,2.35\"}\n"
                           "  - id: passages-jour\n"
                           "    resolution: 1d\n"
                           "    metrics: [passages]\n"
                           "    columns: [sum]\n"
                           "    tag_columns: [counter_id]\n"
                           "    suppress_below: 10\n"
                           "  - id: passages-final\n"
                           "    resolution: 1h\n"
                           "    metrics: [passages]\n"
                           "    columns: [count]\n";

#define NSERIES 3
static const char *const keys[NSERIES] = {"passages{counter_id=\"c1\"}",
                                          "passages{counter_id=\"c2\"}",
                                          "passages{counter_id=\"c;3\"}"};

struct fx {
  char dir[64];
  struct vg_store *st;
  struct vg_config cfg;
  struct vg_api_opts ao; /* what publication receives of cfg */
  struct vg_dataset *hourly, *daily, *final;
  /* the truth: count of each hour (0: no window) */
  uint32_t count[NSERIES][NDAYS * 24];
  struct vg_wentry *w;
  size_t nw;
  size_t nemit; /* emit-log records committed (sequences 0 .. nemit - 1) */
};

static void add_window(struct fx *f, uint64_t series, uint8_t res, int64_t start,
                       int64_t len, uint32_t n, int final) {
  struct vg_wentry *w = &f->w[f->nw++];
  memset(w, 0, sizeof *w);
  w->series = series;
  w->res = res;
  w->start = start;
  w->end = start + len;
  w->final = (uint8_t) final;
  vg_acc_init(&w->acc);
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  for (uint32_t i = 0; i < n; i++)
    assert_int_equal(vg_acc_add(&w->acc, &o, (start + i) * 1000000000LL, 1.0, 0, 0), 0);
}

static int pub_setup(void **state) {
  struct fx *f = calloc(1, sizeof *f);
  char err[1024] = "";
  strcpy(f->dir, "/tmp/vigie-ds-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  struct vg_store_opts o = {.path = f->dir, .durability = VG_STORE_NOSYNC};
  assert_int_equal(vg_store_open(&o, &f->st, err, sizeof err), 0);
  assert_int_equal(
      vg_config_parse("t.yaml", yaml, strlen(yaml), &f->cfg, err, sizeof err), 0);
  assert_int_equal(vg_config_api(&f->cfg, &f->ao), 0);
  assert_int_equal(
      vg_dataset_new(&f->ao.datasets[0], &f->ao.env, &f->hourly, err, sizeof err), 0);
  assert_int_equal(
      vg_dataset_new(&f->ao.datasets[1], &f->ao.env, &f->daily, err, sizeof err), 0);
  assert_int_equal(
      vg_dataset_new(&f->ao.datasets[2], &f->ao.env, &f->final, err, sizeof err), 0);
  /* counts skewed small so that many hours fall under k; some hours empty */
  uint64_t rng = 42;
  f->w = calloc(NSERIES * NDAYS * 25, sizeof *f->w);
  for (int s = 0; s < NSERIES; s++)
    for (int d = 0; d < NDAYS; d++) {
      uint32_t total = 0;
      for (int h = 0; h < 24; h++) {
        uint64_t r = st_rng(&rng) % 100;
        uint32_t c = r < 15   ? 0
                     : r < 45 ? (uint32_t)(1 + r % 9)
                              : (uint32_t)(10 + r % 40);
        if (d == 3) /* one day with a single small hour */
          c = h == 5 ? 3 : h < 5 ? 0 : 20;
        f->count[s][d * 24 + h] = c;
        if (c) /* the last day's afternoon is still provisional */
          add_window(f, (uint64_t)s + 1, VG_RES_HOUR, T0 + d * DAY + h * 3600, 3600, c,
                     !(d == NDAYS - 1 && h >= 12));
        total += c;
      }
      if (total)
        add_window(f, (uint64_t)s + 1, VG_RES_DAY, T0 + d * DAY, DAY, total,
                   d != NDAYS - 1);
    }
  const struct vg_wentry **open = calloc(f->nw, sizeof *open);
  for (size_t i = 0; i < f->nw; i++)
    open[i] = &f->w[i];
  struct vg_store_series ser[NSERIES];
  for (int s = 0; s < NSERIES; s++)
    ser[s] = (struct vg_store_series){(uint64_t)s + 1, keys[s], strlen(keys[s]), 0};
  struct vg_store_emit *em = calloc(f->nw, sizeof *em);
  size_t nem = 0;
  for (size_t i = 0; i < f->nw; i++)
    if (f->w[i].final)
      em[nem++] =
          (struct vg_store_emit){0, f->w[i].series, f->w[i].res, f->w[i].start, 0};
  f->nemit = nem;
  struct vg_store_epoch ep = {.epoch = 1,
                              .open = open,
                              .nopen = f->nw,
                              .series = ser,
                              .nseries = NSERIES,
                              .emit = em,
                              .nemit = nem,
                              .watermark_ns = INT64_MIN};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  free(open);
  free(em);
  *state = f;
  return 0;
}

static int pub_teardown(void **state) {
  struct fx *f = *state;
  for (size_t i = 0; i < f->nw; i++)
    vg_acc_release(&f->w[i].acc);
  free(f->w);
  vg_dataset_free(f->hourly);
  vg_dataset_free(f->daily);
  vg_dataset_free(f->final);
  vg_config_api_release(&f->ao);
  vg_config_release(&f->cfg);
  vg_store_close(f->st);
  st_rmtree(f->dir);
  free(f);
  return 0;
}

#endif
