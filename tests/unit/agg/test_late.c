/* Late readings (worker.h "Late readings", window.h): a reading goes into
 * every resolution that still retains its time by its own partition's
 * watermark -- hour and day when its base window is retired, rejected only
 * when nothing retains it -- the decision depends on the partition's
 * history only (not on the global watermark, a restart, or other
 * partitions), the writer merges into exactly those windows, and a final
 * window changed any number of times between two emissions gets revision + 1
 * once. */
#include <string.h>

#include "testutil.h"
#include "vigie/error.h"
#include "vigie/window.h"
#include "vigie/worker.h"

#define S   1000000000LL
#define DAY 86400LL
/* 2024-06-01T12:00:00Z: the partition's newest reading in these tests */
#define T_S 1717243200LL

struct seen {
  struct {
    uint64_t series;
    int64_t start;
    uint8_t res;
    uint64_t count;
    uint32_t revision;
  } w[64];
  int n;
};

static void on_emit(const struct vg_wentry *e, void *ctx) {
  struct seen *s = ctx;
  assert_true(s->n < 64);
  s->w[s->n].series = e->series;
  s->w[s->n].start = e->start;
  s->w[s->n].res = e->res;
  s->w[s->n].count = e->acc.st.count;
  s->w[s->n].revision = e->revision;
  s->n++;
}

/* The count of the last emission of (series, res, window holding t_s), 0
 * when it was never emitted. */
static uint64_t emitted_count(const struct seen *s, uint64_t series, uint8_t res,
                              int64_t t_s) {
  int64_t start = res == VG_RES_BASE   ? t_s - t_s % 60
                  : res == VG_RES_HOUR ? t_s - t_s % 3600
                                       : t_s - t_s % DAY; /* UTC */
  uint64_t c = 0;
  for (int i = 0; i < s->n; i++)
    if (s->w[i].series == series && s->w[i].res == res && s->w[i].start == start)
      c = s->w[i].count;
  return c;
}

static struct vg_agg *agg_with(const struct vg_tz *tz, uint32_t nparts, int64_t base_keep,
                               int64_t hour_keep, int64_t day_keep) {
  struct vg_agg_opts o = {.nworkers = 1,
                          .nparts = nparts,
                          .base_s = 60,
                          .ooo_ns = 10 * S,
                          .idle_ns = 30 * S,
                          .win = {.lateness_s = 120,
                                  .retention_s = {base_keep, hour_keep, day_keep},
                                  .acc = VG_ACC_OPTS_DEFAULT}};
  struct vg_agg *a = NULL;
  char err[200];
  assert_int_equal(vg_agg_new(tz, &o, 0, &a, err, sizeof err), 0);
  return a;
}

static int add(struct vg_agg *a, uint32_t part, int64_t off, uint64_t series, int64_t t_s,
               double v) {
  struct vg_agg_event ev = {.series = series, .time_ns = t_s * S, .value = v};
  return vg_worker_add(vg_agg_worker(a, 0), part, off, &ev, 1);
}

/* Hands the epoch over, collects it, then finalizes and emits everything. */
static void drain(struct vg_agg *a, struct seen *s) {
  assert_int_equal(vg_worker_flush(vg_agg_worker(a, 0), 2), 0);
  assert_true(vg_agg_collect(a, 2, on_emit, s) >= 0);
  vg_windows_advance(vg_agg_writer_windows(a), INT64_MAX, on_emit, s);
}

static struct vg_tz *utc(void) {
  struct vg_tz *tz = NULL;
  assert_int_equal(vg_tz_load("UTC", &tz, NULL, 0), 0);
  return tz;
}

/* The default configuration: base windows kept 14 days, hours and days
 * forever. A reading 20 days behind its partition still counts in its hour
 * and its day; one 13 days behind in all three. */
static void retired_base_still_feeds_hour_and_day(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, 1, 14 * DAY, 0, 0);
  assert_int_equal(add(a, 0, 0, 7, T_S, 1), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 0, 1, 7, T_S - 20 * DAY, 2), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 0, 2, 7, T_S - 13 * DAY, 3), VG_AGG_ACCEPTED);
  /* two readings of one base window, the second once the partition moved
   * on by 15 days: the base window has the first only, hour and day both */
  int64_t t = T_S + 2 * DAY - 14 * DAY - 3600;
  assert_int_equal(add(a, 0, 3, 8, t, 4), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 0, 4, 9, T_S + 2 * DAY, 5), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 0, 5, 8, t + 1, 6), VG_AGG_ACCEPTED);
  struct seen s = {0};
  drain(a, &s);
  assert_int_equal(emitted_count(&s, 7, VG_RES_BASE, T_S - 20 * DAY), 0);
  assert_int_equal(emitted_count(&s, 7, VG_RES_HOUR, T_S - 20 * DAY), 1);
  assert_int_equal(emitted_count(&s, 7, VG_RES_DAY, T_S - 20 * DAY), 1);
  for (uint8_t r = 0; r < 3; r++)
    assert_int_equal(emitted_count(&s, 7, r, T_S - 13 * DAY), 1);
  assert_int_equal(emitted_count(&s, 8, VG_RES_BASE, t), 1);
  assert_int_equal(emitted_count(&s, 8, VG_RES_HOUR, t), 2);
  assert_int_equal(emitted_count(&s, 8, VG_RES_DAY, t), 2);
  const struct vg_windows *w = vg_agg_windows(a);
  assert_int_equal(w->c.aggregated, 6);
  assert_int_equal(w->c.rejected[VG_AGG_REJECT_RETENTION], 0);
  vg_agg_free(a);
  vg_tz_free(tz);
}

/* Every resolution with a retention: base 14 days, hours 30, days 60. A
 * reading goes into what still retains it, down to the last second of the
 * day horizon; past it, nothing retains it and it is rejected. */
static void rejected_only_when_nothing_retains_it(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, 1, 14 * DAY, 30 * DAY, 60 * DAY);
  assert_int_equal(add(a, 0, 0, 7, T_S, 1), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 0, 1, 7, T_S - 20 * DAY, 1), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 0, 2, 7, T_S - 45 * DAY, 1), VG_AGG_ACCEPTED);
  /* the day horizon is T - 10 s - 60 days = 2024-04-02T11:59:50Z: the day
   * of 2024-04-02 still ends after it, the day before does not */
  int64_t d0402 = 1712016000LL; /* 2024-04-02T00:00:00Z */
  assert_int_equal(add(a, 0, 3, 7, d0402, 1), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 0, 4, 7, d0402 - 1, 1), VG_AGG_REJECT_RETENTION);
  assert_int_equal(add(a, 0, 5, 7, T_S - 90 * DAY, 1), VG_AGG_REJECT_RETENTION);
  struct seen s = {0};
  drain(a, &s);
  assert_int_equal(emitted_count(&s, 7, VG_RES_BASE, T_S - 20 * DAY), 0);
  assert_int_equal(emitted_count(&s, 7, VG_RES_HOUR, T_S - 20 * DAY), 1);
  assert_int_equal(emitted_count(&s, 7, VG_RES_DAY, T_S - 20 * DAY), 1);
  assert_int_equal(emitted_count(&s, 7, VG_RES_BASE, T_S - 45 * DAY), 0);
  assert_int_equal(emitted_count(&s, 7, VG_RES_HOUR, T_S - 45 * DAY), 0);
  assert_int_equal(emitted_count(&s, 7, VG_RES_DAY, T_S - 45 * DAY), 1);
  assert_int_equal(emitted_count(&s, 7, VG_RES_DAY, d0402), 1);
  assert_int_equal(emitted_count(&s, 7, VG_RES_DAY, d0402 - 1), 0);
  const struct vg_windows *w = vg_agg_windows(a);
  assert_int_equal(w->c.aggregated, 4);
  assert_int_equal(w->c.rejected[VG_AGG_REJECT_RETENTION], 2);
  assert_int_equal(vg_agg_position(a, 0).next_offset, 6); /* rejected ones consumed */
  vg_agg_free(a);
  vg_tz_free(tz);
}

/* The same partition history gives the same decisions whatever else
 * happened: another partition far ahead moving the global watermark, or a
 * restart from the committed position with a global watermark far ahead.
 * Only the partition's own history changes them. */
enum scene { ALONE, OTHER_AHEAD, RESTARTED, LAGGING };

static void run_scene(enum scene sc, struct seen *s, int rc[3]) {
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, 2, 14 * DAY, 0, 0);
  int64_t off = 0;
  if (sc == OTHER_AHEAD || sc == LAGGING) {
    /* partition 1 a year ahead; partition 0 idle: the global watermark
     * follows partition 1 */
    assert_int_equal(add(a, 1, 0, 99, T_S + 365 * DAY, 1), VG_AGG_ACCEPTED);
    assert_int_equal(vg_worker_flush(vg_agg_worker(a, 0), 100 * S), 0);
    assert_true(vg_agg_collect(a, 100 * S, NULL, NULL) == 1);
    assert_true(vg_agg_watermark(a) == (T_S + 365 * DAY) * S - 10 * S);
  }
  if (sc == RESTARTED) {
    /* what the store gave back: partition 0 committed up to its reading at
     * T, and a global watermark a year ahead */
    vg_agg_restore_position(a, 0, (struct vg_part_pos){1, T_S * S, 1});
    vg_agg_restore_watermark(a, (T_S + 365 * DAY) * S);
    off = 1;
  } else if (sc != LAGGING) {
    assert_int_equal(add(a, 0, off++, 98, T_S, 1), VG_AGG_ACCEPTED);
  }
  rc[0] = add(a, 0, off++, 7, T_S - 20 * DAY, 2);
  rc[1] = add(a, 0, off++, 7, T_S - 13 * DAY, 3);
  rc[2] = add(a, 0, off++, 7, T_S - 400 * DAY, 4);
  drain(a, s);
  vg_agg_free(a);
  vg_tz_free(tz);
}

static void decision_is_the_partitions_own(void **state) {
  (void)state;
  struct seen ref = {0};
  int rref[3];
  run_scene(ALONE, &ref, rref);
  assert_int_equal(rref[0], VG_AGG_ACCEPTED);
  assert_int_equal(rref[1], VG_AGG_ACCEPTED);
  assert_int_equal(rref[2], VG_AGG_ACCEPTED); /* its hour and day are kept forever */
  assert_int_equal(emitted_count(&ref, 7, VG_RES_BASE, T_S - 20 * DAY), 0);
  assert_int_equal(emitted_count(&ref, 7, VG_RES_HOUR, T_S - 20 * DAY), 1);
  assert_int_equal(emitted_count(&ref, 7, VG_RES_BASE, T_S - 13 * DAY), 1);
  assert_int_equal(emitted_count(&ref, 7, VG_RES_BASE, T_S - 400 * DAY), 0);
  assert_int_equal(emitted_count(&ref, 7, VG_RES_DAY, T_S - 400 * DAY), 1);
  for (enum scene sc = OTHER_AHEAD; sc <= RESTARTED; sc++) {
    struct seen s = {0};
    int r[3];
    run_scene(sc, &s, r);
    assert_memory_equal(r, rref, sizeof r);
    for (int k = 0; k < 3; k++) {
      int64_t t = T_S - (k == 0 ? 20 : k == 1 ? 13 : 400) * DAY;
      for (uint8_t res = 0; res < 3; res++)
        assert_int_equal(emitted_count(&s, 7, res, t), emitted_count(&ref, 7, res, t));
    }
  }
  /* partition 0 without its reading at T: its watermark is 20 days behind,
   * so the reading at T - 20 days goes into its base window too, although
   * the global watermark retired that window long ago */
  struct seen s = {0};
  int r[3];
  run_scene(LAGGING, &s, r);
  assert_int_equal(emitted_count(&s, 7, VG_RES_BASE, T_S - 20 * DAY), 1);
}

/* A final hour changed by 60 late minute deltas between two emissions is
 * re-emitted once with revision 1; one more change before the next
 * emission, revision 2; no change, no emission. */
static void revision_once_per_emission(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_windows w;
  struct vg_window_opts o = {
      .lateness_s = 0, .retention_s = {0, 0, 0}, .acc = VG_ACC_OPTS_DEFAULT};
  assert_int_equal(vg_windows_init(&w, tz, 60, &o), 0);
  struct vg_acc_opts ao = VG_ACC_OPTS_DEFAULT;
  struct vg_acc d;
  vg_acc_init(&d);
  assert_int_equal(vg_acc_add(&d, &ao, 30 * S, 1, 0, 0), 0);
  assert_int_equal(vg_windows_merge(&w, 7, 0, 60, VG_INTO_ALL, &d, NULL), 0);
  struct seen s = {0};
  assert_int_equal(vg_windows_advance(&w, 3600 * S + 1, on_emit, &s), 2); /* base, hour */
  assert_int_equal(w.c.revisions, 0);
  for (int k = 0; k < 60; k++) {
    int revised = 0;
    assert_int_equal(vg_windows_merge(&w, 7, 60 * k, 60 * k + 60,
                                      VG_INTO_HOUR | VG_INTO_DAY, &d, &revised),
                     0);
    assert_true(revised);
  }
  assert_int_equal(w.c.revisions, 1);
  s.n = 0;
  assert_int_equal(vg_windows_advance(&w, 3600 * S + 2, on_emit, &s), 1);
  assert_true(s.w[0].res == VG_RES_HOUR && s.w[0].revision == 1 && s.w[0].count == 61);
  assert_int_equal(vg_windows_advance(&w, 3600 * S + 3, on_emit, &s), 0);
  assert_int_equal(
      vg_windows_merge(&w, 7, 120, 180, VG_INTO_HOUR | VG_INTO_DAY, &d, NULL), 0);
  s.n = 0;
  assert_int_equal(vg_windows_advance(&w, 3600 * S + 4, on_emit, &s), 1);
  assert_true(s.w[0].revision == 2 && s.w[0].count == 62);
  assert_int_equal(w.c.revisions, 2);
  /* the day was never final: no revision, one emission when it goes final */
  s.n = 0;
  assert_int_equal(vg_windows_advance(&w, DAY * S + 1, on_emit, &s), 1);
  assert_true(s.w[0].res == VG_RES_DAY && s.w[0].revision == 0 && s.w[0].count == 62);
  /* the base window at 0 saw the first delta only */
  assert_int_equal(vg_windows_get(&w, 7, VG_RES_BASE, 0)->acc.st.count, 1);
  vg_acc_release(&d);
  vg_windows_release(&w);
  vg_tz_free(tz);
}

/* Retentions shorter than the lateness (a window would leave before it is
 * final) are refused; 0 means forever. */
static void retention_below_lateness_refused(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg_opts o = {.nworkers = 1,
                          .nparts = 1,
                          .base_s = 60,
                          .ooo_ns = 0,
                          .idle_ns = 0,
                          .win = {.lateness_s = 7200,
                                  .retention_s = {0, 3600, 0},
                                  .acc = VG_ACC_OPTS_DEFAULT}};
  struct vg_agg *a = NULL;
  char err[200];
  assert_int_equal(vg_agg_new(tz, &o, 0, &a, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "retention"));
  o.win.retention_s[1] = 7200;
  assert_int_equal(vg_agg_new(tz, &o, 0, &a, err, sizeof err), 0);
  vg_agg_free(a);
  vg_tz_free(tz);
}

int vg_test_agg_late(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(retired_base_still_feeds_hour_and_day),
      cmocka_unit_test(rejected_only_when_nothing_retains_it),
      cmocka_unit_test(decision_is_the_partitions_own),
      cmocka_unit_test(revision_once_per_emission),
      cmocka_unit_test(retention_below_lateness_refused),
  };
  return cmocka_run_group_tests_name("agg_late", tests, NULL, NULL);
}
