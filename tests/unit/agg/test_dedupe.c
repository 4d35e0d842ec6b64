/* Duplicate readings (worker.h "Duplicates", dedupe.h): a reading of a
 * dedupe source whose series, event time and distinct-key hash equal a
 * reading already counted in its base window is dropped -- found by the
 * worker within its epoch, by the writer across epochs and workers -- and
 * the base, hourly and daily windows hold exactly the other readings. The
 * cap (dedupe_max) and the horizon let readings through unchecked, counted.
 * A randomized run with copies scattered over epochs and workers is
 * compared with an oracle built from the first copy of each reading. */
#include <string.h>

#include "testutil.h"
#include "aggtest.h"
#include "vigie/dedupe.h"
#include "vigie/error.h"
#include "vigie/window.h"
#include "vigie/worker.h"

#define S   1000000000LL
#define DAY 86400LL
/* 2024-06-01T12:00:00Z */
#define T_S 1717243200LL

static struct vg_tz *utc(void) {
  struct vg_tz *tz = NULL;
  assert_int_equal(vg_tz_load("UTC", &tz, NULL, 0), 0);
  return tz;
}

struct setup {
  uint32_t nworkers, nparts;
  int64_t lateness_s, base_keep_s, dedupe_s;
  int distinct;
};

static struct vg_agg *agg_with(const struct vg_tz *tz, struct setup c) {
  struct vg_agg_opts o = {.nworkers = c.nworkers,
                          .nparts = c.nparts,
                          .base_s = 60,
                          .ooo_ns = 10 * S,
                          .idle_ns = 30 * S,
                          .win = {.lateness_s = c.lateness_s,
                                  .retention_s = {c.base_keep_s, 0, 0},
                                  .acc = VG_ACC_OPTS_DEFAULT},
                          .dedupe_s = c.dedupe_s};
  o.win.acc.distinct = c.distinct;
  struct vg_agg *a = NULL;
  char err[200];
  assert_int_equal(vg_agg_new(tz, &o, 0, &a, err, sizeof err), 0);
  return a;
}

struct rd {
  uint64_t series;
  int64_t t_ns;
  double v;
  int has_key;
  uint64_t key;
};

/* Adds r from partition part (its worker: part % nworkers) at offset off. */
static int add(struct vg_agg *a, uint32_t nworkers, uint32_t part, int64_t off,
               struct rd r, uint32_t dedupe) {
  struct vg_agg_event ev = {.series = r.series,
                            .time_ns = r.t_ns,
                            .value = r.v,
                            .distinct = r.key,
                            .has_distinct = r.has_key,
                            .dedupe = dedupe};
  return vg_worker_add(vg_agg_worker(a, part % nworkers), part, off, &ev, 1);
}

/* Every worker hands its epoch, and the writer collects them all. */
static void epoch(struct vg_agg *a, uint32_t nworkers) {
  for (uint32_t i = 0; i < nworkers; i++)
    assert_int_equal(vg_worker_flush(vg_agg_worker(a, i), 2), 0);
  assert_true(vg_agg_collect(a, 2, NULL, NULL) >= 0);
}

static const struct vg_wentry *win(struct vg_agg *a, uint64_t series, enum vg_res res,
                                   int64_t t_s) {
  int64_t len = res == VG_RES_BASE ? 60 : res == VG_RES_HOUR ? 3600 : DAY;
  return vg_windows_get(vg_agg_windows(a), series, res, t_s - t_s % len);
}

static uint64_t count(struct vg_agg *a, uint64_t series, enum vg_res res, int64_t t_s) {
  const struct vg_wentry *e = win(a, series, res, t_s);
  return e ? e->acc.st.count : 0;
}

static struct rd R(uint64_t series, int64_t t_s, double v) {
  return (struct rd){series, t_s *S, v, 0, 0};
}

/* A copy within one epoch: dropped by the worker. */
static void
copy_within_an_epoch(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, (struct setup){1, 1, 3600, 0, 0, 0});
  assert_int_equal(add(a, 1, 0, 0, R(7, T_S, 1.5), 100), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 1, 0, 1, R(7, T_S, 1.5), 100), VG_AGG_ACCEPTED); /* taken */
  assert_int_equal(add(a, 1, 0, 2, R(7, T_S + 1, 2.5), 100), VG_AGG_ACCEPTED);
  epoch(a, 1);
  for (enum vg_res r = VG_RES_BASE; r <= VG_RES_DAY; r++) {
    assert_int_equal(count(a, 7, r, T_S), 2);
    assert_true(vg_stats_sum(&win(a, 7, r, T_S)->acc.st) == 4.0);
  }
  const struct vg_windows *w = vg_agg_windows(a);
  assert_int_equal(w->c.aggregated, 2);
  assert_int_equal(w->c.duplicates, 1);
  assert_int_equal(vg_agg_dedupe(a, 0).duplicates, 1);
  assert_int_equal(vg_agg_position(a, 0).next_offset, 3); /* the copy was consumed */
  vg_agg_free(a);
  vg_tz_free(tz);
}

/* A copy in a later epoch: dropped by the writer, whose delta is rebuilt
 * from the epoch's other readings -- the windows equal those of the
 * readings without the copy, first and last included. */
static void copy_in_a_later_epoch(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, (struct setup){1, 1, 3600, 0, 0, 0});
  struct rd x = R(7, T_S + 10, 3), y = R(7, T_S + 20, 1), z = R(7, T_S + 5, 2);
  assert_int_equal(add(a, 1, 0, 0, x, 100), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 1, 0, 1, y, 100), VG_AGG_ACCEPTED);
  epoch(a, 1);
  /* the copy of x comes first in this epoch's delta, then a new reading
   * that is the window's earliest */
  assert_int_equal(add(a, 1, 0, 2, x, 100), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 1, 0, 3, z, 100), VG_AGG_ACCEPTED);
  epoch(a, 1);
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_acc want;
  vg_acc_init(&want);
  assert_int_equal(vg_acc_add(&want, &o, x.t_ns, x.v, 0, 0), 0);
  assert_int_equal(vg_acc_add(&want, &o, y.t_ns, y.v, 0, 0), 0);
  assert_int_equal(vg_acc_add(&want, &o, z.t_ns, z.v, 0, 0), 0);
  for (enum vg_res r = VG_RES_BASE; r <= VG_RES_DAY; r++)
    assert_true(vg_acc_equal(&win(a, 7, r, T_S)->acc, &want, 1e-12));
  assert_true(win(a, 7, VG_RES_BASE, T_S)->acc.fl.first_t == z.t_ns);
  const struct vg_windows *w = vg_agg_windows(a);
  assert_int_equal(w->c.aggregated, 3);
  assert_int_equal(w->c.duplicates, 1);
  /* only copies: nothing merges */
  assert_int_equal(add(a, 1, 0, 4, y, 100), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 1, 0, 5, z, 100), VG_AGG_ACCEPTED);
  epoch(a, 1);
  assert_int_equal(count(a, 7, VG_RES_BASE, T_S), 3);
  assert_int_equal(count(a, 7, VG_RES_DAY, T_S), 3);
  assert_int_equal(w->c.aggregated, 3);
  assert_int_equal(w->c.duplicates, 3);
  vg_acc_release(&want);
  vg_agg_free(a);
  vg_tz_free(tz);
}

/* The same reading from two partitions of two workers in one epoch: the
 * writer keeps the one it merges first (worker 0's) and drops the other,
 * counted for its partition. */
static void copies_from_two_workers(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, (struct setup){2, 2, 3600, 0, 0, 0});
  assert_int_equal(add(a, 2, 0, 0, R(7, T_S, 1), 100), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 2, 1, 0, R(7, T_S, 1), 100), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 2, 1, 1, R(7, T_S + 1, 1), 100), VG_AGG_ACCEPTED);
  epoch(a, 2);
  assert_int_equal(count(a, 7, VG_RES_BASE, T_S), 2);
  assert_int_equal(count(a, 7, VG_RES_HOUR, T_S), 2);
  assert_int_equal(vg_agg_dedupe(a, 0).duplicates, 0);
  assert_int_equal(vg_agg_dedupe(a, 1).duplicates, 1);
  assert_int_equal(vg_agg_windows(a)->c.aggregated, 2);
  vg_agg_free(a);
  vg_tz_free(tz);
}

/* count_as with a distinct key: the key's hash is part of the identity, so
 * two passages at the same instant by two devices both count, a re-sent
 * one does not, and one without a key is a reading of its own. The
 * windows (the HLL included) equal those of the unique passages. */
static void distinct_key_in_the_identity(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, (struct setup){1, 1, 3600, 0, 0, 1});
  struct rd p[] = {
      {9, T_S * S + 1000, 1, 1, 0x1111},
      {9, T_S * S + 1000, 1, 1, 0x2222},
      {9, T_S * S + 1000, 1, 0, 0},
      {9, T_S * S + 2000, 1, 1, 0x1111},
  };
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  o.distinct = 1;
  struct vg_acc want;
  vg_acc_init(&want);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(add(a, 1, 0, i, p[i], 50), VG_AGG_ACCEPTED);
    assert_int_equal(vg_acc_add(&want, &o, p[i].t_ns, 1, p[i].has_key, p[i].key), 0);
  }
  assert_int_equal(add(a, 1, 0, 4, p[1], 50), VG_AGG_ACCEPTED); /* within the epoch */
  epoch(a, 1);
  for (int i = 0; i < 4; i++) /* all of them again, next epoch */
    assert_int_equal(add(a, 1, 0, 5 + i, p[i], 50), VG_AGG_ACCEPTED);
  epoch(a, 1);
  for (enum vg_res r = VG_RES_BASE; r <= VG_RES_DAY; r++) {
    assert_int_equal(count(a, 9, r, T_S), 4);
    assert_true(vg_acc_equal(&win(a, 9, r, T_S)->acc, &want, 0));
  }
  assert_int_equal(vg_agg_windows(a)->c.duplicates, 5);
  vg_acc_release(&want);
  vg_agg_free(a);
  vg_tz_free(tz);
}

/* dedupe_max 3: the fourth and fifth readings of a base window count but
 * are not recorded (dedupe_full), so their copies count again; copies of
 * the three recorded ones are still dropped, and within an epoch the
 * worker drops every copy whatever the cap. */
static void cap_stops_recording_not_checking(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, (struct setup){1, 1, 3600, 0, 0, 0});
  int64_t off = 0;
  for (int i = 0; i < 5; i++)
    assert_int_equal(add(a, 1, 0, off++, R(7, T_S + i, i), 3), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 1, 0, off++, R(7, T_S + 4, 4), 3), VG_AGG_ACCEPTED);
  epoch(a, 1);
  const struct vg_windows *w = vg_agg_windows(a);
  assert_int_equal(count(a, 7, VG_RES_BASE, T_S), 5);
  assert_int_equal(w->c.duplicates, 1);
  assert_int_equal(w->c.dedupe_full, 2);
  for (int i = 0; i < 5; i++)
    assert_int_equal(add(a, 1, 0, off++, R(7, T_S + i, i), 3), VG_AGG_ACCEPTED);
  epoch(a, 1);
  assert_int_equal(count(a, 7, VG_RES_BASE, T_S), 7);
  assert_int_equal(count(a, 7, VG_RES_HOUR, T_S), 7);
  assert_int_equal(w->c.duplicates, 4);
  assert_int_equal(w->c.dedupe_full, 4);
  assert_int_equal(vg_agg_dedupe(a, 0).full, 4);
  assert_int_equal(w->c.aggregated, 7);
  uint32_t nsets;
  uint64_t nfps;
  vg_windows_fp_bytes(w, &nsets, &nfps);
  assert_int_equal(nsets, 1);
  assert_int_equal(nfps, 3);
  vg_agg_free(a);
  vg_tz_free(tz);
}

/* Past the horizon (2 h behind the partition's watermark with dedupe_s 1 h)
 * or with its base window retired (1 day), a reading is aggregated
 * unchecked: its copies count, and dedupe_past says how many. */
static void past_the_horizon_unchecked(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, (struct setup){1, 1, 3600, DAY, 3600, 0});
  int64_t off = 0;
  assert_int_equal(add(a, 1, 0, off++, R(7, T_S, 1), 10), VG_AGG_ACCEPTED);
  /* 30 min behind: checked */
  for (int k = 0; k < 2; k++)
    assert_int_equal(add(a, 1, 0, off++, R(7, T_S - 1800, 2), 10), VG_AGG_ACCEPTED);
  /* 2 h behind, base window kept: past the dedupe horizon */
  for (int k = 0; k < 2; k++)
    assert_int_equal(add(a, 1, 0, off++, R(7, T_S - 7200, 3), 10), VG_AGG_ACCEPTED);
  /* 2 days behind: base window retired, into hour and day only */
  for (int k = 0; k < 2; k++)
    assert_int_equal(add(a, 1, 0, off++, R(7, T_S - 2 * DAY, 4), 10), VG_AGG_ACCEPTED);
  epoch(a, 1);
  assert_int_equal(count(a, 7, VG_RES_BASE, T_S - 1800), 1);
  assert_int_equal(count(a, 7, VG_RES_BASE, T_S - 7200), 2);
  assert_int_equal(count(a, 7, VG_RES_BASE, T_S - 2 * DAY), 0);
  assert_int_equal(count(a, 7, VG_RES_HOUR, T_S - 2 * DAY), 2);
  const struct vg_windows *w = vg_agg_windows(a);
  assert_int_equal(w->c.duplicates, 1);
  assert_int_equal(w->c.dedupe_past, 4);
  assert_int_equal(vg_agg_dedupe(a, 0).past, 4);
  assert_int_equal(w->c.aggregated, 6);
  vg_agg_free(a);
  vg_tz_free(tz);
}

/* A source without dedupe counts every copy (the feature is opt-in), and
 * its readings never reach the fingerprint sets. */
static void without_dedupe_copies_count(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, (struct setup){1, 1, 3600, 0, 0, 0});
  for (int k = 0; k < 3; k++)
    assert_int_equal(add(a, 1, 0, k, R(7, T_S, 1), 0), VG_AGG_ACCEPTED);
  epoch(a, 1);
  assert_int_equal(count(a, 7, VG_RES_BASE, T_S), 3);
  assert_int_equal(vg_agg_windows(a)->c.duplicates, 0);
  assert_null(vg_agg_windows(a)->fps);
  vg_agg_free(a);
  vg_tz_free(tz);
}

struct seen {
  int n;
  uint32_t revision;
};

static void on_emit(const struct vg_wentry *e, void *ctx) {
  struct seen *s = ctx;
  if (e->series == 7 && e->res == VG_RES_BASE) {
    s->n++;
    s->revision = e->revision;
  }
}

/* A copy of a reading of a window already final is dropped without a
 * revision: the window is not re-emitted; a new late reading is one. */
static void copy_of_a_final_window_is_no_revision(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_agg *a = agg_with(tz, (struct setup){1, 1, 60, 0, 0, 0});
  struct seen s = {0};
  assert_int_equal(add(a, 1, 0, 0, R(7, T_S, 1), 10), VG_AGG_ACCEPTED);
  assert_int_equal(add(a, 1, 0, 1, R(8, T_S + 600, 1), 10), VG_AGG_ACCEPTED);
  assert_int_equal(vg_worker_flush(vg_agg_worker(a, 0), 2), 0);
  assert_true(vg_agg_collect(a, 2, on_emit, &s) == 1);
  assert_int_equal(s.n, 1); /* final at once: the watermark is 10 min ahead */
  assert_int_equal(add(a, 1, 0, 2, R(7, T_S, 1), 10), VG_AGG_ACCEPTED);
  assert_int_equal(vg_worker_flush(vg_agg_worker(a, 0), 3), 0);
  assert_true(vg_agg_collect(a, 3, on_emit, &s) == 1);
  assert_int_equal(s.n, 1);
  assert_int_equal(vg_agg_windows(a)->c.revisions, 0);
  assert_int_equal(add(a, 1, 0, 3, R(7, T_S + 1, 1), 10), VG_AGG_ACCEPTED);
  assert_int_equal(vg_worker_flush(vg_agg_worker(a, 0), 4), 0);
  assert_true(vg_agg_collect(a, 4, on_emit, &s) == 1);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.revision, 1);
  assert_int_equal(count(a, 7, VG_RES_BASE, T_S), 2);
  vg_agg_free(a);
  vg_tz_free(tz);
}

/* A set: one fingerprint in its struct, then on the heap, scanned, then
 * indexed; every member found, in the order recorded, no other. */
static void a_set_grows_and_finds(void **state) {
  (void)state;
  struct vg_fpset s;
  vg_fpset_init(&s);
  struct rng g = {9};
  enum { N = 3000 };
  static struct vg_fp f[N];
  for (int i = 0; i < N; i++) {
    f[i] = (struct vg_fp){(int64_t)(rng_next(&g) >> 1), i % 3 ? rng_next(&g) : 0};
    assert_false(vg_fpset_has(&s, f[i]));
    assert_int_equal(vg_fpset_add(&s, f[i]), 0);
    if (i == 0)
      assert_int_equal(vg_fpset_bytes(&s), 0); /* in the struct */
    if (i % 97 == 0 || i < 20)
      for (int k = 0; k <= i; k++)
        assert_true(vg_fpset_has(&s, f[k]));
  }
  assert_int_equal(s.n, N);
  assert_memory_equal(vg_fpset_v(&s), f, sizeof f);
  for (int i = 0; i < N; i++) {
    assert_true(vg_fpset_has(&s, f[i]));
    assert_false(vg_fpset_has(&s, (struct vg_fp){f[i].t, f[i].key ^ 1}));
  }
  assert_true(vg_fpset_bytes(&s) >= N * sizeof f[0]);
  vg_fpset_release(&s);
  assert_int_equal(s.n, 0);
}

/* Randomized: NSER series (every other one with distinct keys, several
 * readings per instant) over 3 hours, sent by 4 partitions of 2 workers
 * in epochs of random length; one reading in five is sent again, some
 * readings later, from a random partition (the same or another worker,
 * the same or a later epoch, sometimes after its window went final).
 * Every base, hourly and daily window equals the oracle's, built from the
 * unique readings; the copies are all counted as duplicates. */
#define NSER 6
#define NRD  6000

struct wkey {
  uint64_t series;
  uint8_t res;
  int64_t start;
  struct vg_acc acc;
};

static struct vg_acc *oracle_acc(struct wkey *o, int *n, uint64_t series, uint8_t res,
                                 int64_t start) {
  for (int i = 0; i < *n; i++)
    if (o[i].series == series && o[i].res == res && o[i].start == start)
      return &o[i].acc;
  o[*n] = (struct wkey){.series = series, .res = res, .start = start};
  vg_acc_init(&o[*n].acc);
  return &o[(*n)++].acc;
}

static void random_copies_equal_the_oracle(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  for (uint64_t seed = 1; seed <= 3; seed++) {
    struct rng g = {seed};
    struct vg_agg *a = agg_with(tz, (struct setup){2, 4, 300, 0, 0, 1});
    struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
    o.distinct = 1;
    struct rd *u = calloc(NRD, sizeof *u);
    struct {
      struct rd r;
      int at;
    } *q = calloc(NRD, sizeof *q); /* copies queued */
    int nq = 0;
    struct wkey *ow = calloc(3 * NRD, sizeof *ow);
    int nw = 0;
    for (int i = 0; i < NRD; i++) {
      uint64_t s = 1 + rng_below(&g, NSER);
      int keyed = s % 2 == 0;
      /* + i ns: each reading an instant of its own ... */
      int64_t t = (T_S + (int64_t)i * 10800 / NRD + (int64_t)rng_below(&g, 30)) * S + i;
      if (i > 0 && keyed && u[i - 1].series == s && rng_below(&g, 2) == 0)
        t = u[i - 1].t_ns; /* ... but passages of two devices at one instant */
      u[i] = (struct rd){s, t, (double)rng_below(&g, 1000) / 10, keyed,
                         keyed ? (uint64_t)i + 1 : 0};
    }
    int64_t off[4] = {0};
    uint64_t copies = 0;
    int in_epoch = 0, epoch_len = 1 + (int)rng_below(&g, 200);
    for (int i = 0; i <= NRD; i++) {
      /* copies that are due, then the next reading */
      for (int k = 0; k < nq; k++)
        if (q[k].at <= i) {
          uint32_t p = (uint32_t)rng_below(&g, 4);
          assert_int_equal(add(a, 2, p, off[p]++, q[k].r, 1000), VG_AGG_ACCEPTED);
          q[k--] = q[--nq];
          copies++;
          in_epoch++;
        }
      if (i == NRD)
        break;
      uint32_t p = (uint32_t)(u[i].series % 4);
      assert_int_equal(add(a, 2, p, off[p]++, u[i], 1000), VG_AGG_ACCEPTED);
      for (int r = 0; r < 3; r++) {
        int64_t ts = vg_floor_div(u[i].t_ns, S);
        int64_t len = r == 0 ? 60 : r == 1 ? 3600 : DAY;
        assert_int_equal(
            vg_acc_add(oracle_acc(ow, &nw, u[i].series, (uint8_t)r, ts - ts % len), &o,
                       u[i].t_ns, u[i].v, u[i].has_key, u[i].key),
            0);
      }
      if (rng_below(&g, 5) == 0) {
        q[nq].r = u[i];
        q[nq++].at = i + 1 + (int)rng_below(&g, 400);
      }
      if (++in_epoch >= epoch_len) {
        epoch(a, 2);
        in_epoch = 0;
        epoch_len = 1 + (int)rng_below(&g, 200);
      }
    }
    while (nq) { /* the copies still queued */
      for (int k = 0; k < nq; k++) {
        uint32_t p = (uint32_t)rng_below(&g, 4);
        assert_int_equal(add(a, 2, p, off[p]++, q[k].r, 1000), VG_AGG_ACCEPTED);
        copies++;
      }
      nq = 0;
    }
    epoch(a, 2);
    vg_windows_advance(vg_agg_writer_windows(a), INT64_MAX, NULL, NULL);
    const struct vg_windows *w = vg_agg_windows(a);
    assert_int_equal(w->c.duplicates, copies);
    assert_int_equal(w->c.aggregated, NRD);
    uint64_t per_part = 0;
    for (uint32_t p = 0; p < 4; p++)
      per_part += vg_agg_dedupe(a, p).duplicates;
    assert_int_equal(per_part, copies);
    assert_true(copies > NRD / 6);
    int nwin = 0;
    for (int k = 0; k < nw; k++) {
      const struct vg_wentry *e = vg_windows_get(w, ow[k].series, ow[k].res, ow[k].start);
      assert_non_null(e);
      if (!vg_acc_equal(&e->acc, &ow[k].acc, 1e-9))
        fail_msg("seed %llu: window %llu/%u/%lld has %llu readings, the oracle %llu",
                 (unsigned long long)seed, (unsigned long long)ow[k].series, ow[k].res,
                 (long long)ow[k].start, (unsigned long long)e->acc.st.count,
                 (unsigned long long)ow[k].acc.st.count);
      nwin++;
      vg_acc_release(&ow[k].acc);
    }
    assert_int_equal((uint32_t)nwin, w->t.n); /* and no other window */
    free(ow);
    free(q);
    free(u);
    vg_agg_free(a);
  }
  vg_tz_free(tz);
}

int vg_test_agg_dedupe(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(copy_within_an_epoch),
      cmocka_unit_test(copy_in_a_later_epoch),
      cmocka_unit_test(copies_from_two_workers),
      cmocka_unit_test(distinct_key_in_the_identity),
      cmocka_unit_test(cap_stops_recording_not_checking),
      cmocka_unit_test(past_the_horizon_unchecked),
      cmocka_unit_test(without_dedupe_copies_count),
      cmocka_unit_test(copy_of_a_final_window_is_no_revision),
      cmocka_unit_test(a_set_grows_and_finds),
      cmocka_unit_test(random_copies_equal_the_oracle),
  };
  return cmocka_run_group_tests_name("agg_dedupe", tests, NULL, NULL);
}
