/* Unit tests of indicators (indicator.h, rmean.h): the 8-hour running means
 * by hand, the definitions and their presets, and rows that follow a real
 * store -- computed from the final windows, committed, left alone when
 * nothing changed, finalised by the watermark, revised with a window, and
 * read back as the dataset `indicateurs` and as rollup messages. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vigie/indicator.h"
#include "vigie/rmean.h"
#include "vigie/rollup.h"
#include "pubtest.h"

/* ---- 8-hour running means -----------------------------------------------------------
 */

static void rmean8_by_hand(void **state) {
  (void)state;
  double v[32];
  unsigned char ok[32];
  double max;
  unsigned n;
  /* 7 hours of the evening before, then a 24-hour day, all at 10 */
  for (int i = 0; i < 31; i++) {
    v[i] = 10;
    ok[i] = 1;
  }
  vg_rmean8_day(v, ok, 24, &max, &n);
  assert_int_equal(n, 24);
  assert_true(max == 10);
  /* 200 over hours 12..19 of the day: the mean ending with hour 19 is 200,
   * its neighbours (7 of 8 hours at 200) 175 */
  for (int h = 12; h <= 19; h++)
    v[7 + h] = 200;
  for (int h = 0; h < 31; h++)
    if (v[h] != 200)
      v[h] = 0;
  vg_rmean8_day(v, ok, 24, &max, &n);
  assert_true(max == 200);
  /* the first mean of the day covers 17:00 the day before to 01:00: the
   * evening counts */
  for (int i = 0; i < 31; i++)
    v[i] = i < 8 ? 160 : 0;
  vg_rmean8_day(v, ok, 24, &max, &n);
  assert_true(max == 160);
  /* a mean needs 6 valid hours of 8: with every other hour missing none is */
  for (int i = 0; i < 31; i++)
    ok[i] = i % 2;
  vg_rmean8_day(v, ok, 24, &max, &n);
  assert_int_equal(n, 0);
  assert_true(isnan(max));
  /* three quarters of the day's means, rounded up */
  assert_int_equal(vg_rmean8_needed(24), 18);
  assert_int_equal(vg_rmean8_needed(23), 18);
  assert_int_equal(vg_rmean8_needed(25), 19);
}

/* ---- definitions ---------------------------------------------------------------------
 */

static char *metrics_v[] = {"pm10", "no2"};
static const struct vg_dataset_def air = {
    .id = "air", .metrics = {metrics_v, 2}, .resolution = VG_RES_HOUR};

static void def_release(struct vg_indicator_def *d) {
  char **s[] = {&d->id,          &d->preset,         &d->title, &d->title_en,
                &d->description, &d->description_en, &d->unit,  &d->unit_en,
                &d->dataset,     &d->metric};
  for (size_t i = 0; i < sizeof s / sizeof *s; i++)
    free(*s[i]);
}

static void def_of(struct vg_indicator_def *d, const char *preset, const char *metric) {
  vg_indicator_def_init(d);
  d->id = strdup("x");
  d->dataset = strdup("air");
  d->metric = strdup(metric);
  d->preset = preset ? strdup(preset) : NULL;
}

static void presets_fill_and_refuse(void **state) {
  (void)state;
  struct vg_indicator_def d;
  char err[512];
  def_of(&d, "eu-pm10-daily-exceedances", "pm10");
  assert_int_equal(vg_indicator_finish(&d, &air, err, sizeof err), 0);
  assert_int_equal(d.statistic, VG_IND_EXCEEDANCES);
  assert_int_equal(d.over, VG_IND_OVER_1D);
  assert_int_equal(d.hours_min, 18);
  assert_true(d.threshold == 50 && d.coverage_min == 0.75 && d.target == 35);
  assert_int_equal(d.direction, VG_IND_AT_MOST);
  assert_non_null(strstr(d.title, "PM10"));
  assert_non_null(strstr(d.title_en, "PM10"));
  assert_int_equal(vg_indicator_attained(&d, 35), 1);
  assert_int_equal(vg_indicator_attained(&d, 36), 0);
  assert_int_equal(vg_indicator_attained(&d, NAN), -1);
  def_release(&d);
  /* the city sets its own objective (the 2030 value) but not the definition */
  def_of(&d, "eu-no2-annual-mean", "no2");
  d.target = 20;
  assert_int_equal(vg_indicator_finish(&d, &air, err, sizeof err), 0);
  assert_true(d.target == 20 && d.capture_min == 0.9);
  def_release(&d);
  def_of(&d, "eu-o3-8h-exceedances", "pm10");
  d.threshold = 100;
  assert_int_equal(vg_indicator_finish(&d, &air, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "threshold: preset eu-o3-8h-exceedances defines it"));
  def_release(&d);
  def_of(&d, "eu-pm10-hourly", "pm10");
  assert_int_equal(vg_indicator_finish(&d, &air, err, sizeof err), VG_ECONFIG);
  assert_non_null(
      strstr(err, "preset: unknown preset \"eu-pm10-hourly\" (one of eu-pm10"));
  def_release(&d);
  /* the checks name the key first, for the config's file:line: key */
  struct {
    int statistic, over;
    double threshold;
    const char *metric, *starts;
  } bad[] = {
      {-1, -1, NAN, "pm10", "statistic: required"},
      {VG_IND_EXCEEDANCES, -1, NAN, "pm10", "threshold: required"},
      {VG_IND_MEAN, -1, 3, "pm10", "threshold: only"},
      {VG_IND_MEAN, -1, NAN, "o3", "metric: \"o3\" is not one of the metrics"},
      {VG_IND_P95, VG_IND_OVER_MAX8H, NAN, "pm10", "statistic: p95 does not apply"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    def_of(&d, NULL, bad[i].metric);
    d.statistic = bad[i].statistic;
    d.over = bad[i].over;
    d.threshold = bad[i].threshold;
    assert_int_equal(vg_indicator_finish(&d, &air, err, sizeof err), VG_ECONFIG);
    assert_true(strncmp(err, bad[i].starts, strlen(bad[i].starts)) == 0);
    def_release(&d);
  }
  def_of(&d, NULL, "pm10");
  d.statistic = VG_IND_MEAN;
  assert_int_equal(vg_indicator_finish(&d, NULL, err, sizeof err), VG_ECONFIG);
  assert_true(strncmp(err, "dataset: ", 9) == 0);
  def_release(&d);
}

/* ---- rows over a store
 * ----------------------------------------------------------------- */

struct stepped {
  struct vg_store_ind *v; /* copies, strings included */
  size_t n;
};

static void stepped_release(struct stepped *s) {
  for (size_t i = 0; i < s->n; i++) {
    free((char *)s->v[i].indicator);
    free((char *)s->v[i].series);
  }
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

/* One step from *cursor, its rows committed in epoch `epoch` (with the
 * watermark wm_ns) and returned. */
static void step_commit(struct fx *f, struct vg_indicators *ix, uint64_t *cursor,
                        uint64_t epoch, int64_t wm_ns, struct stepped *out) {
  char err[256] = "";
  struct vg_store_reader *r;
  const struct vg_store_ind *rows;
  size_t n;
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_indicators_step(ix, r, cursor, &rows, &n, err, sizeof err), 0);
  vg_store_reader_end(r);
  out->v = calloc(n + 1, sizeof *out->v);
  out->n = n;
  struct vg_store_emit *em = calloc(n + 1, sizeof *em);
  for (size_t i = 0; i < n; i++) {
    out->v[i] = rows[i];
    out->v[i].indicator = strdup(rows[i].indicator);
    out->v[i].series = strdup(rows[i].series);
    em[i] = (struct vg_store_emit){0, rows[i].key, VG_STORE_EMIT_IND, rows[i].start,
                                   rows[i].revision};
  }
  struct vg_store_epoch ep = {.epoch = epoch,
                              .ind = out->v,
                              .nind = n,
                              .emit = em,
                              .nemit = n,
                              .watermark_ns = wm_ns};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  f->nemit += n;
  free(em);
}

static const struct vg_store_ind *find_row(const struct stepped *s, const char *ind,
                                           const char *series, int64_t start) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i].indicator, ind) == 0 && strcmp(s->v[i].series, series) == 0 &&
        s->v[i].start == start)
      return &s->v[i];
  return NULL;
}

static int count_rows(const struct vg_dataset_row *row, void *ctx) {
  (void)row;
  (*(size_t *)ctx)++;
  return 0;
}

static void rows_follow_the_store(void **state) {
  struct fx *f = *state;
  char err[512] = "";
  struct vg_indicator_def defs[2];
  def_of(&defs[0], NULL, "passages");
  free(defs[0].id);
  defs[0].id = strdup("jour");
  defs[0].statistic = VG_IND_SUM;
  defs[0].period = VG_IND_DAY;
  defs[0].target = 100;
  defs[0].direction = VG_IND_AT_LEAST;
  def_of(&defs[1], NULL, "passages");
  free(defs[1].id);
  defs[1].id = strdup("heures-30");
  defs[1].statistic = VG_IND_EXCEEDANCES;
  defs[1].threshold = 30;
  defs[1].over = VG_IND_OVER_1H;
  defs[1].of = VG_IND_OF_SUM;
  defs[1].period = VG_IND_MONTH;
  defs[1].merge = 1;
  const struct vg_dataset_def *ds = &f->ao.datasets[0];
  for (int i = 0; i < 2; i++) {
    free(defs[i].dataset);
    defs[i].dataset = strdup(ds->id);
    assert_int_equal(vg_indicator_finish(&defs[i], ds, err, sizeof err), 0);
  }
  struct vg_indicators_opts o = {.defs = defs,
                                 .ndefs = 2,
                                 .datasets = f->ao.datasets,
                                 .ndatasets = f->ao.ndatasets,
                                 .store_timezone = "UTC",
                                 .lateness_s = 0};
  struct vg_indicators *ix;
  assert_int_equal(vg_indicators_new(&o, &ix, err, sizeof err), 0);
  for (int i = 0; i < 2; i++)
    def_release(&defs[i]); /* copied */

  /* 1. every final daily window makes a row: its day's sum, provisional
   * (no watermark yet) */
  uint64_t cursor = 0;
  struct stepped s1;
  step_commit(f, ix, &cursor, 2, INT64_MIN, &s1);
  assert_int_equal(cursor, f->nemit - s1.n);
  size_t days = 0;
  for (int s = 0; s < NSERIES; s++)
    for (int d = 0; d < NDAYS - 1; d++) {
      uint32_t total = 0;
      for (int h = 0; h < 24; h++)
        total += f->count[s][d * 24 + h];
      const struct vg_store_ind *row = find_row(&s1, "jour", keys[s], T0 + d * DAY);
      if (!total) {
        assert_null(row);
        continue;
      }
      assert_non_null(row);
      assert_true(row->value == total);
      assert_true(row->coverage == 1.0 && !row->final && row->revision == 0);
      assert_true(isnan(row->previous));
      days++;
    }
  /* hours of the month whose passages, merged over the counters, are over
   * 30: one row for all series */
  int64_t m0 = 0, m1 = 0;
  vg_indicators_period(ix, 1, T0, &m0, &m1);
  double over = 0;
  for (int i = 0; i < NDAYS * 24; i++) {
    int64_t t = T0 + i * 3600LL;
    double sum = 0;
    for (int s = 0; s < NSERIES; s++)
      sum += f->count[s][i];
    if (t < m1 && !(i / 24 == NDAYS - 1 && i % 24 >= 12) && sum > 30)
      over++;
  }
  const struct vg_store_ind *mrow = find_row(&s1, "heures-30", "passages{*}", m0);
  assert_non_null(mrow);
  assert_true(over > 10 && mrow->value == over);
  assert_int_equal(s1.n, days + 2); /* 40 days span two UTC months */

  /* 2. nothing changed: nothing to commit */
  struct stepped s2;
  step_commit(f, ix, &cursor, 3, INT64_MIN, &s2);
  assert_int_equal(s2.n, 0);
  stepped_release(&s2);

  /* 3. the watermark passes the days' ends: each row becomes final once,
   * revision 1, though no window changed */
  int64_t wm = (T0 + NDAYS * DAY) * 1000000000LL + 1;
  struct vg_store_epoch wep = {.epoch = 4, .watermark_ns = wm};
  assert_int_equal(vg_store_commit(f->st, &wep, err, sizeof err), 0);
  struct stepped s3;
  step_commit(f, ix, &cursor, 5, wm, &s3);
  assert_int_equal(s3.n, days + 1); /* the second month ends later */
  for (size_t i = 0; i < s3.n; i++)
    if (strcmp(s3.v[i].indicator, "jour") == 0)
      assert_true(s3.v[i].final && s3.v[i].revision == 1);

  /* 4. a late reading revises day 5 of c1: that row only, revision 2 */
  struct vg_wentry w;
  memset(&w, 0, sizeof w);
  uint32_t total = 0;
  for (int h = 0; h < 24; h++)
    total += f->count[0][5 * 24 + h];
  add_window(f, 1, VG_RES_DAY, T0 + 5 * DAY, DAY, total + 7, 1);
  struct vg_wentry *rev = &f->w[f->nw - 1];
  rev->revision = 1;
  const struct vg_wentry *sealed[] = {rev};
  struct vg_store_emit em = {0, 1, VG_RES_DAY, T0 + 5 * DAY, 1};
  struct vg_store_epoch ep = {.epoch = 6,
                              .sealed = sealed,
                              .nsealed = 1,
                              .emit = &em,
                              .nemit = 1,
                              .watermark_ns = wm};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  f->nemit++;
  struct stepped s4;
  step_commit(f, ix, &cursor, 7, wm, &s4);
  assert_int_equal(s4.n, 1);
  assert_string_equal(s4.v[0].series, keys[0]);
  assert_true(s4.v[0].value == total + 7 && s4.v[0].revision == 2 && s4.v[0].final);

  /* 5. the dataset reads them back; a rollup message of one */
  struct vg_dataset *ids;
  struct vg_dataset_def idef = {.id = VG_INDICATORS_DATASET, .resolution = VG_RES_DAY};
  assert_int_equal(vg_dataset_new_indicators(&idef, ix, &ids, err, sizeof err), 0);
  struct vg_store_reader *r;
  struct vg_dataset_series_list l;
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_dataset_series(ids, r, &l), 0);
  assert_int_equal(l.n, NSERIES + 1);
  assert_string_equal(l.v[0].metric, "jour"); /* the config's order */
  assert_string_equal(l.v[NSERIES].key, "passages{*}");
  struct vg_dataset_scan sc = {
      .from_s = INT64_MIN, .to_s = INT64_MAX, .next_s = INT64_MIN};
  size_t nrows = 0;
  assert_int_equal(vg_dataset_scan(ids, r, &l, &sc, count_rows, &nrows, err, sizeof err),
                   0);
  assert_int_equal(nrows, days + 2);
  vg_dataset_series_release(&l);
  vg_store_reader_end(r);
  vg_dataset_free(ids);
  char *msg = NULL;
  size_t len = 0;
  FILE *mf = open_memstream(&msg, &len);
  struct vg_tz *utc;
  assert_int_equal(vg_tz_load("UTC", &utc, err, sizeof err), 0);
  s4.v[0].previous = NAN;
  assert_int_equal(vg_rollup_ind_json(mf, &s4.v[0], vg_indicators_def(ix, 0), utc), 0);
  fclose(mf);
  assert_non_null(strstr(msg, "\"indicator\":\"jour\""));
  assert_non_null(strstr(msg, "\"attained\":"));
  assert_non_null(strstr(msg, "\"previous_value\":null"));
  assert_non_null(strstr(msg, "\"status\":\"final\",\"revision\":2"));
  free(msg);
  vg_tz_free(utc);
  stepped_release(&s1);
  stepped_release(&s3);
  stepped_release(&s4);
  vg_indicators_free(ix);
}

int vg_test_publish_indicator(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rmean8_by_hand),
      cmocka_unit_test(presets_fill_and_refuse),
      cmocka_unit_test_setup_teardown(rows_follow_the_store, pub_setup, pub_teardown),
  };
  return cmocka_run_group_tests_name("publish_indicator", tests, NULL, NULL);
}
