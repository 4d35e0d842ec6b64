/* Late readings on the store side: a final window that only the store holds
 * (its segment) is loaded through vg_store_window_loader, revised, and its
 * segment rewritten with the new revision; and no write transaction --
 * commit or flush -- rewrites more than seal_max segments, even when one
 * epoch revises windows of many spans long past (the spans left over are
 * written by the next commits, or after a restart by vg_store_flush). */
#include <string.h>

#include "testutil.h"
#include "storetest.h"
#include "vigie/error.h"
#include "vigie/store.h"
#include "vigie/window.h"

#define S    1000000000LL
#define DAY  86400LL
#define NSER 50
#define SEAL 8
/* 2020-01-15T10:00:00Z: every reading of these tests is in this hour */
#define T0 1579082400LL

struct fx {
  char dir[64];
  struct vg_store *st;
  struct vg_store_opts o;
  struct vg_tz *tz;
  struct vg_windows w;
  uint64_t epoch;
};

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/vigie-latestore-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->o = (struct vg_store_opts){
      .path = f->dir, .durability = VG_STORE_NOSYNC, .seal_max = SEAL};
  char err[256];
  assert_int_equal(vg_store_open(&f->o, &f->st, err, sizeof err), 0);
  assert_int_equal(vg_tz_load("UTC", &f->tz, NULL, 0), 0);
  struct vg_window_opts wo = {
      .lateness_s = 0, .retention_s = {0, 0, 0}, .acc = VG_ACC_OPTS_DEFAULT};
  assert_int_equal(vg_windows_init(&f->w, f->tz, 60, &wo), 0);
  assert_int_equal(vg_windows_set_loader(&f->w, vg_store_window_loader, f->st), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  vg_windows_release(&f->w);
  vg_store_close(f->st);
  vg_tz_free(f->tz);
  st_rmtree(f->dir);
  free(f);
  return 0;
}

static uint64_t seg_writes(struct fx *f) {
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  return ss.segment_writes;
}

/* The daemon's writer (engine.c commit): provisional dirty windows to
 * `open`, final ones sealed, nothing evicted by key; then clean, and final
 * clean windows leave memory. Asserts the transaction stayed in budget. */
static void commit(struct fx *f) {
  uint32_t nd = vg_windows_ndirty(&f->w);
  const struct vg_wentry **open = calloc(nd + 1, sizeof *open);
  const struct vg_wentry **sealed = calloc(nd + 1, sizeof *sealed);
  size_t no = 0, ns = 0;
  for (uint32_t i = 0; i < nd; i++) {
    const struct vg_wentry *e = vg_windows_dirty_at(&f->w, i);
    if (e->final)
      sealed[ns++] = e;
    else
      open[no++] = e;
  }
  struct vg_store_epoch ep = {.epoch = ++f->epoch,
                              .open = open,
                              .nopen = no,
                              .sealed = sealed,
                              .nsealed = ns,
                              .watermark_ns = f->w.watermark_ns};
  char err[256];
  uint64_t before = seg_writes(f);
  int rc = vg_store_commit(f->st, &ep, err, sizeof err);
  if (rc)
    print_message("commit: %s\n", err);
  assert_int_equal(rc, 0);
  assert_true(seg_writes(f) - before <= SEAL);
  free(open);
  free(sealed);
  vg_windows_clean(&f->w);
  vg_windows_evict_final(&f->w);
}

/* Empty epochs until one writes no segment (the queue is empty). */
static void commit_until_quiet(struct fx *f) {
  for (int k = 0;; k++) {
    uint64_t before = seg_writes(f);
    commit(f);
    if (seg_writes(f) == before)
      break;
    assert_true(k < 1000);
  }
}

/* vg_store_flush one transaction at a time until nothing is left, each in
 * budget. Returns the spans written. */
static size_t flush_all(struct fx *f, int64_t wm_ns) {
  size_t total = 0, n;
  int more = 1, rounds = 0;
  char err[256];
  while (more) {
    uint64_t before = seg_writes(f);
    assert_int_equal(vg_store_flush(f->st, wm_ns, 100000, 1, &n, &more, err, sizeof err),
                     0);
    assert_true(seg_writes(f) - before <= SEAL);
    total += n;
    assert_true(++rounds < 1000);
  }
  return total;
}

static void merge(struct fx *f, uint64_t series, int64_t t_s, double v, unsigned into) {
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_acc d;
  vg_acc_init(&d);
  assert_int_equal(vg_acc_add(&d, &o, t_s * S, v, 0, 0), 0);
  int64_t start = t_s - t_s % 60;
  assert_int_equal(vg_windows_merge(&f->w, series, start, start + 60, into, &d, NULL), 0);
  vg_acc_release(&d);
}

struct got {
  uint64_t count;
  uint32_t revision;
  double sum;
  int n;
};

static int take(const struct vg_wentry *e, void *ctx) {
  struct got *g = ctx;
  g->count = e->acc.st.count;
  g->revision = e->revision;
  g->sum = vg_stats_sum(&e->acc.st);
  g->n++;
  return 0;
}

static struct got read_window(struct fx *f, uint64_t series, uint8_t res, int64_t start) {
  struct vg_store_reader *r;
  struct got g = {0};
  char err[256];
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(
      vg_store_read_range(r, series, res, start, start + 1, take, &g, err, sizeof err),
      0);
  vg_store_reader_end(r);
  return g;
}

/* NSER series, one reading each in the hour of T0, final long ago and in
 * their segments only; a month later a late reading each arrives whose
 * base window is retired (into hour and day). Each hour and day is loaded
 * from its segment, revised once, and written back into its segment with
 * revision 1 and both readings; no transaction rewrote more than SEAL
 * segments along the way. */
static void revision_of_windows_only_in_the_store(void **state) {
  struct fx *f = *state;
  for (uint64_t s = 1; s <= NSER; s++)
    merge(f, s, T0 + (int64_t)s * 60, (double)s, VG_INTO_ALL);
  vg_windows_advance(&f->w, (T0 + 2 * DAY) * S, NULL, NULL);
  commit(f); /* 3 * NSER sealed windows: more spans due than one budget */
  assert_int_equal(f->w.t.n, 0);
  commit_until_quiet(f); /* empty epochs write the deferred ones */
  /* what is left (hours and base windows not at a flush boundary) once
   * their spans are over */
  int64_t wm = (T0 + 400 * DAY) * S;
  flush_all(f, wm);
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.open_windows, 0); /* every window in a segment only */
  assert_int_equal(ss.segments, 3 * NSER);
  int64_t day = T0 - T0 % DAY;
  for (uint64_t s = 1; s <= NSER; s++) {
    struct got g = read_window(f, s, VG_RES_HOUR, T0);
    assert_true(g.n == 1 && g.count == 1 && g.revision == 0);
  }

  /* a month later: late readings, into hour and day */
  vg_windows_advance(&f->w, (T0 + 45 * DAY) * S, NULL, NULL);
  for (uint64_t s = 1; s <= NSER; s++)
    merge(f, s, T0 + (int64_t)s * 60 + 30, 100.0, VG_INTO_HOUR | VG_INTO_DAY);
  assert_int_equal(f->w.t.n, 2 * NSER); /* loaded: no base window */
  for (uint64_t s = 1; s <= NSER; s++) {
    const struct vg_wentry *h = vg_windows_get(&f->w, s, VG_RES_HOUR, T0);
    const struct vg_wentry *d = vg_windows_get(&f->w, s, VG_RES_DAY, day);
    assert_true(h && h->final && h->revision == 1 && h->acc.st.count == 2);
    assert_true(d && d->final && d->revision == 1 && d->acc.st.count == 2);
  }
  size_t emitted = vg_windows_advance(&f->w, (T0 + 45 * DAY) * S + 1, NULL, NULL);
  assert_int_equal(emitted, 2 * NSER);
  uint64_t before = seg_writes(f);
  commit(f);
  commit_until_quiet(f); /* the days (and hours) at their flush boundary */
  flush_all(f, wm);      /* the other hours, their span over */
  assert_int_equal(seg_writes(f) - before, 2 * NSER); /* each segment once */
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.open_windows, 0);
  for (uint64_t s = 1; s <= NSER; s++) {
    struct got h = read_window(f, s, VG_RES_HOUR, T0);
    struct got d = read_window(f, s, VG_RES_DAY, day);
    struct got b = read_window(f, s, VG_RES_BASE, T0 + (int64_t)s * 60);
    assert_true(h.n == 1 && h.count == 2 && h.revision == 1 && h.sum == (double)s + 100);
    assert_true(d.n == 1 && d.count == 2 && d.revision == 1 && d.sum == (double)s + 100);
    assert_true(b.n == 1 && b.count == 1 && b.revision == 0); /* retired: untouched */
  }
}

/* One epoch seals day windows of 3 * SEAL + 2 series and base windows at
 * their day boundary of as many: the commit writes SEAL segments and
 * queues the rest, which the next commits write, oldest first, SEAL at a
 * time. Closing the store with spans still queued loses nothing: after a
 * restart vg_store_flush finds them by their pending rows, before their
 * span is over. Readers see every window all along. */
static void deferred_spans_are_written_later(void **state) {
  struct fx *f = *state;
  enum { N = 3 * SEAL + 2 };
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  uint64_t rng = 5;
  struct vg_wentry w[2 * N];
  const struct vg_wentry *p[2 * N];
  int64_t day = T0 - T0 % DAY;
  for (int s = 0; s < N; s++) {
    st_window(&w[s], (uint64_t)s + 1, VG_RES_DAY, day, DAY, 3, 1, &o, &rng);
    /* the base window of series s that crosses its (phase-shifted) day
     * boundary: found by trying each minute of the day */
    int64_t t = day;
    for (;; t += 60) {
      struct vg_wentry probe = {.series = (uint64_t)s + 1, .start = t, .end = t + 60};
      int64_t phase = (int64_t)((probe.series * 0x9e3779b97f4a7c15ULL) >> 33) % DAY;
      if ((t + 60 + phase) / DAY > (t + phase) / DAY)
        break;
    }
    st_window(&w[N + s], (uint64_t)s + 1, VG_RES_BASE, t, 60, 2, 1, &o, &rng);
  }
  for (int i = 0; i < 2 * N; i++)
    p[i] = &w[i];
  char err[256];
  uint64_t before = seg_writes(f);
  struct vg_store_epoch ep = {
      .epoch = 1, .sealed = p, .nsealed = 2 * N, .watermark_ns = (day + DAY) * S};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  assert_int_equal(seg_writes(f) - before, SEAL);
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.segments, SEAL);
  for (int s = 0; s < N; s++) {
    struct got g = read_window(f, (uint64_t)s + 1, VG_RES_DAY, day);
    assert_true(g.n == 1 && g.count == 3);
  }
  /* two empty epochs: SEAL more each */
  for (int k = 0; k < 2; k++) {
    before = seg_writes(f);
    ep = (struct vg_store_epoch){.epoch = 2 + (uint64_t)k,
                                 .watermark_ns = (day + DAY) * S};
    assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
    assert_int_equal(seg_writes(f) - before, SEAL);
  }
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.segments, 3 * SEAL);
  /* a restart forgets the queue: the rows are still pending, and due */
  vg_windows_release(&f->w);
  struct vg_window_opts wo = {
      .lateness_s = 0, .retention_s = {0, 0, 0}, .acc = VG_ACC_OPTS_DEFAULT};
  assert_int_equal(vg_windows_init(&f->w, f->tz, 60, &wo), 0);
  vg_store_close(f->st);
  assert_int_equal(vg_store_open(&f->o, &f->st, err, sizeof err), 0);
  assert_int_equal(vg_windows_set_loader(&f->w, vg_store_window_loader, f->st), 0);
  ep = (struct vg_store_epoch){.epoch = 4, .watermark_ns = (day + DAY) * S};
  before = seg_writes(f);
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  assert_int_equal(seg_writes(f) - before, 0);
  /* the days' 360-day span and the base windows' day are not over at this
   * watermark: they are written because they reached their boundary */
  size_t n = flush_all(f, (day + 1) * S);
  assert_int_equal(n, 2 * N - 3 * SEAL);
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.segments, 2 * N);
  assert_int_equal(ss.open_windows, 0);
  for (int s = 0; s < N; s++) {
    struct got g = read_window(f, (uint64_t)s + 1, VG_RES_DAY, day);
    assert_true(g.n == 1 && g.count == 3);
    g = read_window(f, (uint64_t)s + 1, VG_RES_BASE, w[N + s].start);
    assert_true(g.n == 1 && g.count == 2);
  }
  for (int i = 0; i < 2 * N; i++)
    vg_acc_release(&w[i].acc);
}

int vg_test_store_late(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(revision_of_windows_only_in_the_store, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(deferred_spans_are_written_later, setup, teardown),
  };
  return cmocka_run_group_tests_name("store_late", tests, NULL, NULL);
}
