/* Tests of watermarks (min over active partitions, idle partitions, never
 * back) and of the window lifecycle: provisional, final, late revisions,
 * retention rejections, eviction, and hour/day rollups as exact merges. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "aggtest.h"
#include "vigie/error.h"
#include "agg/watermark.h"
#include "vigie/window.h"
#include "vigie/worker.h"

#define S 1000000000LL

static void watermark_is_min_over_active_partitions(void **state) {
  (void)state;
  struct vg_watermarks wm;
  assert_int_equal(vg_watermarks_init(&wm, 3, 10 * S, 30 * S, 0), 0);
  assert_true(vg_watermarks_advance(&wm, 0) == INT64_MIN);
  vg_watermarks_observe(&wm, 0, 100 * S, 1 * S);
  vg_watermarks_observe(&wm, 1, 50 * S, 1 * S);
  /* partition 2 has said nothing yet but is not idle: it holds everything */
  assert_true(vg_watermarks_advance(&wm, 5 * S) == INT64_MIN);
  /* 31 s after start partition 2 is idle: min(100, 50) - 10 */
  assert_true(vg_watermarks_advance(&wm, 31 * S) == 40 * S);
  vg_watermarks_observe(&wm, 1, 70 * S, 32 * S);
  vg_watermarks_observe(&wm, 0, 90 * S, 32 * S); /* older event: no change */
  assert_true(vg_watermarks_advance(&wm, 33 * S) == 60 * S);
  /* partition 1 goes quiet; partition 0 keeps talking */
  vg_watermarks_observe(&wm, 0, 200 * S, 70 * S);
  assert_true(vg_watermarks_advance(&wm, 70 * S) == 190 * S);
  /* partition 2 wakes up far behind: the global watermark does not go back */
  vg_watermarks_observe(&wm, 2, 20 * S, 71 * S);
  assert_true(vg_watermarks_advance(&wm, 71 * S) == 190 * S);
  /* everyone idle: the highest partition watermark */
  assert_true(vg_watermarks_advance(&wm, 1000 * S) == 190 * S);
  vg_watermarks_observe(&wm, 0, 500 * S, 1001 * S);
  assert_true(vg_watermarks_advance(&wm, 1002 * S) == 490 * S);
  vg_watermarks_release(&wm);
}

static struct vg_tz *load(const char *name) {
  struct vg_tz *tz = NULL;
  assert_int_equal(vg_tz_load(name, &tz, NULL, 0), 0);
  return tz;
}

struct emits {
  int n;
  struct vg_wentry last[16];
};

static void on_emit(const struct vg_wentry *e, void *ctx) {
  struct emits *em = ctx;
  if (em->n < 16)
    em->last[em->n] = *e;
  em->n++;
}

static void window_goes_final_then_revises(void **state) {
  (void)state;
  struct vg_tz *tz = load("UTC");
  struct vg_windows w;
  struct vg_window_opts o = {
      .lateness_s = 120, .retention_s = {7200, 7200, 0}, .acc = VG_ACC_OPTS_DEFAULT};
  assert_int_equal(vg_windows_init(&w, tz, 60, &o), 0);
  struct vg_acc d;
  delta_of(&d, 30, 1.5);
  assert_int_equal(vg_windows_merge(&w, 7, 0, 60, VG_INTO_ALL, &d, NULL),
                   VG_AGG_ACCEPTED);
  vg_acc_release(&d);
  struct emits em = {0};
  /* watermark == end + lateness: still provisional */
  assert_int_equal(vg_windows_advance(&w, 180 * S, on_emit, &em), 0);
  const struct vg_wentry *base = vg_windows_get(&w, 7, VG_RES_BASE, 0);
  assert_non_null(base);
  assert_false(base->final);
  /* one nanosecond later: final, emitted once */
  assert_int_equal(vg_windows_advance(&w, 180 * S + 1, on_emit, &em), 1);
  assert_true(em.last[0].final && em.last[0].revision == 0 &&
              em.last[0].res == VG_RES_BASE);
  assert_int_equal(vg_windows_advance(&w, 181 * S, on_emit, &em), 0);
  /* a late event still counts: revision 1, re-emitted */
  int revised = 0;
  assert_int_equal(merge_reading(&w, 7, 0, 60, 59, 2.5, &revised), VG_AGG_ACCEPTED);
  assert_true(revised);
  base = vg_windows_get(&w, 7, VG_RES_BASE, 0);
  assert_int_equal(base->revision, 1);
  assert_int_equal(base->acc.st.count, 2);
  assert_true(base->acc.fl.last_v == 2.5);
  em.n = 0;
  assert_int_equal(vg_windows_advance(&w, 182 * S, on_emit, &em), 1);
  assert_int_equal(em.last[0].revision, 1);
  /* the hour window is still provisional, so it was not revised */
  const struct vg_wentry *hour = vg_windows_get(&w, 7, VG_RES_HOUR, 0);
  assert_int_equal(hour->revision, 0);
  assert_int_equal(hour->acc.st.count, 2);
  assert_int_equal(w.c.revisions, 1);
  /* past the retention horizon of base and hour windows (watermark - 7200
   * s) they leave memory; days are kept forever */
  em.n = 0;
  vg_windows_advance(&w, 86400 * 2 * S, on_emit, &em);
  assert_int_equal(em.n, 2); /* the hour and the day went final */
  assert_null(vg_windows_get(&w, 7, VG_RES_BASE, 0));
  assert_null(vg_windows_get(&w, 7, VG_RES_HOUR, 0));
  assert_int_equal(w.c.evicted, 2);
  /* a late delta the worker sent to the day only (its base window and hour
   * retired): merged there and nowhere else, the day revised */
  delta_of(&d, 10, 1);
  assert_int_equal(vg_windows_merge(&w, 7, 0, 60, VG_INTO_DAY, &d, &revised), 0);
  vg_acc_release(&d);
  assert_true(revised);
  assert_null(vg_windows_get(&w, 7, VG_RES_BASE, 0));
  assert_null(vg_windows_get(&w, 7, VG_RES_HOUR, 0));
  const struct vg_wentry *day = vg_windows_get(&w, 7, VG_RES_DAY, 0);
  assert_int_equal(day->acc.st.count, 3);
  em.n = 0;
  assert_int_equal(vg_windows_advance(&w, 86400 * 2 * S + 1, on_emit, &em), 1);
  assert_true(em.last[0].res == VG_RES_DAY && em.last[0].revision == 1);
  assert_int_equal(w.c.revisions, 2);
  assert_string_equal(vg_agg_reject_name(VG_AGG_REJECT_RETENTION),
                      "older than the retention horizon");
  /* an empty delta creates no window */
  vg_acc_init(&d);
  assert_int_equal(
      vg_windows_merge(&w, 8, 86400 * 3, 86400 * 3 + 60, VG_INTO_ALL, &d, NULL),
      VG_AGG_ACCEPTED);
  assert_null(vg_windows_get(&w, 8, VG_RES_BASE, 86400 * 3));
  /* windows near the end of the representable range do not overflow */
  delta_of(&d, 9000000000LL, 1);
  assert_int_equal(
      vg_windows_merge(&w, 9, 9000000000LL, 9000000060LL, VG_INTO_ALL, &d, NULL),
      VG_AGG_ACCEPTED);
  vg_acc_release(&d);
  em.n = 0;
  assert_int_equal(vg_windows_advance(&w, INT64_MAX, on_emit, &em), 3);
  assert_true(em.last[0].final && em.last[0].series == 9);
  vg_windows_release(&w);
  vg_tz_free(tz);
}

/* Events over a fall-back day in Paris: every hour window equals the merge
 * of its base windows, the day the merge of its hours, and both repeated
 * 02:00 hours exist. */
static void rollups_are_exact_merges(void **state) {
  (void)state;
  struct vg_tz *tz = load("Europe/Paris");
  struct vg_windows w;
  struct vg_window_opts o = {.lateness_s = 0,
                             .retention_s = {100 * 86400, 100 * 86400, 100 * 86400},
                             .acc = VG_ACC_OPTS_DEFAULT};
  o.acc.quantiles = 1;
  assert_int_equal(vg_windows_init(&w, tz, 300, &o), 0);
  struct vg_calendar cal;
  vg_calendar_init(&cal, tz, 300);
  struct rng r = {5};
  const int64_t day0 = 1729980000, day1 = 1730070000; /* 2024-10-27, 25 h */
  for (int i = 0; i < 20000; i++) {
    int64_t t = day0 + (int64_t)rng_below(&r, (uint64_t)(day1 - day0));
    struct vg_span b = vg_calendar_base_ns(&cal, t * S);
    struct vg_acc d;
    struct vg_acc_opts ao = o.acc;
    vg_acc_init(&d);
    vg_acc_add(&d, &ao, t * S, rng_unit(&r) * 100, 0, 0);
    assert_int_equal(
        vg_windows_merge(&w, 1 + i % 3, b.start, b.end, VG_INTO_ALL, &d, NULL), 0);
    vg_acc_release(&d);
  }
  for (uint64_t series = 1; series <= 3; series++) {
    struct vg_acc day_sum;
    vg_acc_init(&day_sum);
    int hours = 0;
    for (int64_t h = day0; h < day1; hours++) {
      const struct vg_wentry *he = vg_windows_get(&w, series, VG_RES_HOUR, h);
      assert_non_null(he);
      struct vg_acc sum;
      vg_acc_init(&sum);
      for (int64_t b = h; b < he->end; b += 300) {
        const struct vg_wentry *be = vg_windows_get(&w, series, VG_RES_BASE, b);
        if (be)
          vg_acc_merge(&sum, &be->acc, &o.acc);
      }
      assert_true(vg_acc_equal(&sum, &he->acc, 1e-12));
      vg_acc_merge(&day_sum, &he->acc, &o.acc);
      vg_acc_release(&sum);
      h = he->end;
    }
    assert_int_equal(hours, 25);
    const struct vg_wentry *de = vg_windows_get(&w, series, VG_RES_DAY, day0);
    assert_non_null(de);
    assert_int_equal(de->end, day1);
    assert_true(vg_acc_equal(&day_sum, &de->acc, 1e-12));
    vg_acc_release(&day_sum);
    /* 02:00 local twice: 00:00Z and 01:00Z */
    assert_non_null(vg_windows_get(&w, series, VG_RES_HOUR, 1729987200));
    assert_non_null(vg_windows_get(&w, series, VG_RES_HOUR, 1729990800));
  }
  vg_windows_release(&w);
  vg_tz_free(tz);
}

/* Windows in zone over base_s windows, with lateness 0 and 30 days of
 * retention (the cache tests); the caller frees the returned zone. */
static struct vg_tz *windows_in(struct vg_windows *w, const char *zone, int64_t base_s) {
  struct vg_tz *tz = load(zone);
  struct vg_window_opts o = {.lateness_s = 0,
                             .retention_s = {30 * 86400, 30 * 86400, 30 * 86400},
                             .acc = VG_ACC_OPTS_DEFAULT};
  assert_int_equal(vg_windows_init(w, tz, base_s, &o), 0);
  return tz;
}

/* The merge remembers each series' hour and day windows by entry index; an
 * eviction moves entries, and the next delta must still find its own hour
 * and day, not a window that moved into the remembered place. */
static void coarse_windows_found_after_eviction(void **state) {
  (void)state;
  struct vg_windows w;
  struct vg_tz *tz = windows_in(&w, "UTC", 60);
  struct vg_acc d;
  delta_of(&d, 30, 1); /* series 1: base, hour and day at 0 (entries 0-2) */
  assert_int_equal(vg_windows_merge(&w, 1, 0, 60, VG_INTO_ALL, &d, NULL),
                   VG_AGG_ACCEPTED);
  vg_acc_release(&d);
  delta_of(&d, 7230, 2); /* series 2: entries 3-5 */
  assert_int_equal(vg_windows_merge(&w, 2, 7200, 7260, VG_INTO_ALL, &d, NULL),
                   VG_AGG_ACCEPTED);
  vg_acc_release(&d);
  /* series 1's base and hour go final and leave: series 2's move down */
  struct emits em = {0};
  assert_int_equal(vg_windows_advance(&w, 3601 * S, on_emit, &em), 2);
  assert_int_equal(vg_windows_evict_final(&w), 2);
  assert_int_equal(w.t.n, 4);
  for (int k = 0; k < 3; k++) {
    delta_of(&d, 7290 + 60 * k, 3);
    assert_int_equal(
        vg_windows_merge(&w, 2, 7260 + 60 * k, 7320 + 60 * k, VG_INTO_ALL, &d, NULL),
        VG_AGG_ACCEPTED);
    vg_acc_release(&d);
  }
  /* one hour and one day window each, holding every delta */
  assert_int_equal(w.t.n, 7); /* series 1: day; series 2: 4 bases, hour, day */
  const struct vg_wentry *hour = vg_windows_get(&w, 2, VG_RES_HOUR, 7200);
  const struct vg_wentry *day = vg_windows_get(&w, 2, VG_RES_DAY, 0);
  assert_non_null(hour);
  assert_non_null(day);
  assert_int_equal(hour->acc.st.count, 4);
  assert_true(hour->acc.st.sum == 11);
  assert_int_equal(day->acc.st.count, 4);
  assert_int_equal(vg_windows_get(&w, 1, VG_RES_DAY, 0)->acc.st.count, 1);
  /* a delta of series 1 after its hour left: a new hour window is made */
  delta_of(&d, 40, 5);
  assert_int_equal(vg_windows_merge(&w, 1, 0, 60, VG_INTO_ALL, &d, NULL),
                   VG_AGG_ACCEPTED);
  vg_acc_release(&d);
  assert_int_equal(vg_windows_get(&w, 1, VG_RES_HOUR, 0)->acc.st.count, 1);
  assert_int_equal(vg_windows_get(&w, 1, VG_RES_DAY, 0)->acc.st.count, 2);
  assert_int_equal(vg_windows_get(&w, 2, VG_RES_DAY, 0)->acc.st.count, 4);
  vg_windows_release(&w);
  vg_tz_free(tz);
}

/* A window restored from the store keeps its stored span, which need not be
 * the calendar's (the time zone or its rules changed between runs): a delta
 * finds it by its start, but a later delta past the calendar's end goes to
 * the calendar's next window, not to the stored one that still holds it. */
static void stored_window_of_another_span_is_not_cached(void **state) {
  (void)state;
  struct vg_windows w;
  struct vg_tz *tz = windows_in(&w, "UTC", 60);
  /* a stored 25-hour day at 0 (a London fall-back day, say) */
  struct vg_wentry day;
  memset(&day, 0, sizeof day);
  day.series = 1;
  day.res = VG_RES_DAY;
  day.start = 0;
  day.end = 90000;
  delta_of(&day.acc, 100, 7);
  assert_int_equal(vg_windows_restore(&w, &day), 0);
  vg_acc_release(&day.acc);
  struct vg_acc d;
  delta_of(&d, 30, 1); /* the first UTC day: into the stored window */
  assert_int_equal(vg_windows_merge(&w, 1, 0, 60, VG_INTO_ALL, &d, NULL),
                   VG_AGG_ACCEPTED);
  vg_acc_release(&d);
  delta_of(&d, 86430, 2); /* the next UTC day, inside the stored span */
  assert_int_equal(vg_windows_merge(&w, 1, 86400, 86460, VG_INTO_ALL, &d, NULL),
                   VG_AGG_ACCEPTED);
  vg_acc_release(&d);
  assert_int_equal(vg_windows_get(&w, 1, VG_RES_DAY, 0)->acc.st.count, 2);
  const struct vg_wentry *next = vg_windows_get(&w, 1, VG_RES_DAY, 86400);
  assert_non_null(next);
  assert_int_equal(next->end, 172800);
  assert_int_equal(next->acc.st.count, 1);
  vg_windows_release(&w);
  vg_tz_free(tz);
}

/* ---- real data: Aberdeen PM, October 2018 (UTC timestamps), in
 * Europe/London local hours and days, which include the 25-hour
 * 2018-10-28; the oracle groups events with glibc's localtime_r, independent
 * of Vigie's tz module. */

struct pm_row {
  int64_t t;   /* UTC seconds */
  double v[2]; /* P1, P2 */
};

static size_t load_pm(const char *dir, struct pm_row **out) {
  size_t n = 0, cap = 0;
  struct pm_row *rows = NULL;
  for (int day = 1; day <= 31; day++) {
    char path[8192];
    snprintf(path, sizeof path, "%s/2018-10-%02d_sds011_sensor_5331.csv", dir, day);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
      struct tm tm = {0};
      double p1, p2;
      /* sensor_id;type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;... */
      char *c = line;
      for (int k = 0; k < 5 && c; k++)
        c = strchr(c, ';') ? strchr(c, ';') + 1 : NULL;
      if (!c || sscanf(c, "%d-%d-%dT%d:%d:%d;%lf;;;%lf", &tm.tm_year, &tm.tm_mon,
                       &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &p1, &p2) != 8)
        continue;
      tm.tm_year -= 1900;
      tm.tm_mon -= 1;
      if (n == cap) {
        cap = cap ? cap * 2 : 4096;
        rows = realloc(rows, cap * sizeof *rows);
      }
      rows[n++] = (struct pm_row){timegm(&tm), {p1, p2}};
    }
    fclose(f);
  }
  *out = rows;
  return n;
}

struct group {
  long key;
  int64_t first_t;
  uint64_t count;
  double sum, min, max;
};

/* Groups by a local-time key (day: yyyymmdd; hour: yyyymmddhh*2 + isdst). */
static size_t oracle(const struct pm_row *rows, size_t n, int s, int hourly,
                     struct group *g, size_t cap) {
  size_t ng = 0;
  for (size_t i = 0; i < n; i++) {
    time_t t = (time_t)rows[i].t;
    struct tm tm;
    localtime_r(&t, &tm);
    long key = (tm.tm_year + 1900L) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
    if (hourly)
      key = (key * 100 + tm.tm_hour) * 2 + (tm.tm_isdst > 0);
    size_t k = 0;
    while (k < ng && g[k].key != key)
      k++;
    if (k == ng) {
      assert_true(ng < cap);
      g[ng++] = (struct group){key, rows[i].t, 0, 0, INFINITY, -INFINITY};
    }
    double v = rows[i].v[s];
    g[k].count++;
    g[k].sum += v;
    g[k].min = fmin(g[k].min, v);
    g[k].max = fmax(g[k].max, v);
  }
  return ng;
}

static void real_data_rollups_match_libc_oracle(void **state) {
  (void)state;
  char dir[4096];
  if (!vg_test_shared_data(dir, sizeof dir, "aberdeen-sensorcommunity-pm/daily_files"))
    return;
  struct pm_row *rows;
  size_t n = load_pm(dir, &rows);
  assert_true(n > 10000);
  struct vg_tz *tz = load("Europe/London");
  struct vg_agg_opts o = {
      .nworkers = 1,
      .nparts = 1,
      .base_s = 60,
      .ooo_ns = 0,
      .idle_ns = INT64_MAX / 2,
      .win = {.lateness_s = 3600, .retention_s = {0, 0, 0}, .acc = VG_ACC_OPTS_DEFAULT}};
  struct vg_agg *a;
  assert_int_equal(vg_agg_new(tz, &o, 0, &a, NULL, 0), 0);
  struct vg_worker *w = vg_agg_worker(a, 0);
  for (size_t i = 0; i < n; i++) {
    for (int s = 0; s < 2; s++) {
      struct vg_agg_event ev = {
          .series = (uint64_t)s + 1, .time_ns = rows[i].t * S, .value = rows[i].v[s]};
      assert_int_equal(vg_worker_add(w, 0, (int64_t)(2 * i + s), &ev, 0),
                       VG_AGG_ACCEPTED);
    }
    if (i % 777 == 0) {
      assert_int_equal(vg_worker_flush(w, 0), 0);
      assert_true(vg_agg_collect(a, 0, NULL, NULL) >= 0);
    }
  }
  assert_int_equal(vg_worker_flush(w, 0), 0);
  assert_true(vg_agg_collect(a, 0, NULL, NULL) >= 0);
  const struct vg_windows *win = vg_agg_windows(a);

  const char *saved = getenv("TZ");
  char *saved_copy = saved ? strdup(saved) : NULL;
  setenv("TZ", "Europe/London", 1);
  tzset();
  static struct group g[2000];
  struct vg_calendar cal;
  vg_calendar_init(&cal, tz, 60);
  for (int s = 0; s < 2; s++) {
    for (int hourly = 0; hourly < 2; hourly++) {
      size_t ng = oracle(rows, n, s, hourly, g, 2000);
      size_t found = 0;
      for (size_t k = 0; k < ng; k++) {
        enum vg_res res = hourly ? VG_RES_HOUR : VG_RES_DAY;
        struct vg_span sp = vg_calendar_window(&cal, res, g[k].first_t);
        const struct vg_wentry *e = vg_windows_get(win, (uint64_t)s + 1, res, sp.start);
        assert_non_null(e);
        const struct vg_stats *st = &e->acc.st;
        if (st->count != g[k].count || st->min != g[k].min || st->max != g[k].max ||
            vg_rel_diff(vg_stats_sum(st), g[k].sum) > 1e-12)
          fail_msg("series %d %s %ld: count %llu/%llu sum %.17g/%.17g", s,
                   hourly ? "hour" : "day", g[k].key, (unsigned long long)st->count,
                   (unsigned long long)g[k].count, vg_stats_sum(st), g[k].sum);
        if (!hourly && g[k].key == 20181028)
          assert_int_equal(e->end - e->start, 25 * 3600);
        found++;
      }
      /* and no window the oracle does not have */
      size_t ours = 0;
      for (uint32_t k = 0; k < win->t.n; k++)
        ours += win->t.e[k].series == (uint64_t)s + 1 &&
                win->t.e[k].res == (hourly ? VG_RES_HOUR : VG_RES_DAY);
      assert_int_equal(ours, found);
      if (s == 0)
        print_message("aberdeen P1: %zu events, %zu %s windows match the oracle\n", n,
                      found, hourly ? "hour" : "day");
    }
  }
  if (saved_copy) {
    setenv("TZ", saved_copy, 1);
    free(saved_copy);
  } else {
    unsetenv("TZ");
  }
  tzset();
  vg_agg_free(a);
  vg_tz_free(tz);
  free(rows);
}

/* The table's compaction refills its index (vg_hindex_fill, which fetches
 * slots ahead): after every round of random inserts and drops, every key is
 * found exactly when it is held, at an entry of its own, and drop saw each
 * entry once, in index order. */
struct compact_model {
  uint8_t *held;
  uint32_t round, seen, bad;
  const struct vg_wtable *t;
};

static int model_drop(const struct vg_wentry *e, void *ctx) {
  struct compact_model *m = ctx;
  uint64_t h = (e->series + 1) * 0x9e3779b97f4a7c15ULL ^ m->round * 0xbf58476d1ce4e5b9ULL;
  if ((h >> 40) % 5 < 2) {
    m->held[e->series] = 0;
    return 1;
  }
  return 0;
}

/* drop, checking it sees the entries in index order */
static int model_visit(const struct vg_wentry *e, void *ctx) {
  struct compact_model *m = ctx;
  if (e != &m->t->e[m->seen++])
    m->bad++;
  return model_drop(e, ctx);
}

static void table_compaction_refills_the_index(void **state) {
  (void)state;
  enum { KEYS = 6000, ROUNDS = 150, INSERTS = 400 };
  struct vg_wtable t;
  vg_wtable_init(&t);
  struct compact_model m = {calloc(KEYS, 1), 0, 0, 0, &t};
  assert_non_null(m.held);
  uint64_t rng = 42;
  for (m.round = 1; m.round <= ROUNDS; m.round++) {
    for (int i = 0; i < INSERTS; i++) {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      uint64_t key = (rng >> 33) % KEYS;
      struct vg_wentry *e;
      assert_int_equal(vg_wtable_get(&t, key, (uint8_t)(key % 3), (int64_t)key * 60,
                                     (int64_t)key * 60 + 60, &e),
                       0);
      assert_int_equal(e->series, key);
      m.held[key] = 1;
    }
    uint32_t before = t.n;
    m.seen = 0;
    vg_wtable_compact(&t, model_visit, &m);
    assert_int_equal(m.bad, 0);
    assert_int_equal(m.seen, before);
    assert_true(t.n < before || before == 0);
    uint32_t held = 0;
    for (uint64_t key = 0; key < KEYS; key++) {
      const struct vg_wentry *e =
          vg_wtable_find(&t, key, (uint8_t)(key % 3), (int64_t)key * 60);
      held += m.held[key];
      assert_int_equal(e != NULL, m.held[key]);
      if (e)
        assert_true(e->series == key && e - t.e < t.n);
    }
    assert_int_equal(held, t.n);
  }
  vg_wtable_release(&t);
  free(m.held);
}

int vg_test_agg_window(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(watermark_is_min_over_active_partitions),
      cmocka_unit_test(window_goes_final_then_revises),
      cmocka_unit_test(rollups_are_exact_merges),
      cmocka_unit_test(coarse_windows_found_after_eviction),
      cmocka_unit_test(stored_window_of_another_span_is_not_cached),
      cmocka_unit_test(real_data_rollups_match_libc_oracle),
      cmocka_unit_test(table_compaction_refills_the_index),
  };
  return cmocka_run_group_tests_name("agg_window", tests, NULL, NULL);
}
