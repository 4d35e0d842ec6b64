/*
 * Unit tests of the persistence side of the aggregation core: dirty windows
 * for the store's commits, eviction of sealed final windows, revisions of
 * evicted windows through the loader, restoring at start, and offsets of
 * messages that produced no event.
 */
#include <errno.h>
#include <string.h>

#include "testutil.h"
#include "aggtest.h"
#include "vigie/tz.h"
#include "vigie/window.h"
#include "vigie/worker.h"

#define S 1000000000LL

static struct vg_tz *utc(void) {
  struct vg_tz *tz;
  char err[128];
  assert_int_equal(vg_tz_load("UTC", &tz, err, sizeof err), 0);
  return tz;
}

/* A store in a table: what the loader finds after a window was evicted. */
struct fake_store {
  struct vg_wentry saved[8];
  int n, loads;
};

static void save_dirty(struct vg_windows *w, struct fake_store *st) {
  for (uint32_t i = 0; i < vg_windows_ndirty(w); i++) {
    const struct vg_wentry *e = vg_windows_dirty_at(w, i);
    int k = 0;
    while (k < st->n && !(st->saved[k].series == e->series &&
                          st->saved[k].res == e->res && st->saved[k].start == e->start))
      k++;
    if (k == st->n) {
      assert_true(st->n < 8);
      st->n++;
    } else {
      vg_acc_release(&st->saved[k].acc);
    }
    st->saved[k] = *e;
    vg_acc_init(&st->saved[k].acc);
    struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
    assert_int_equal(vg_acc_merge(&st->saved[k].acc, &e->acc, &o), 0);
  }
}

static int load(void *ctx, uint64_t series, uint8_t res, int64_t start,
                struct vg_wentry *out) {
  struct fake_store *st = ctx;
  st->loads++;
  for (int k = 0; k < st->n; k++) {
    const struct vg_wentry *e = &st->saved[k];
    if (e->series == series && e->res == res && e->start == start) {
      struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
      out->revision = e->revision;
      return vg_acc_merge(&out->acc, &e->acc, &o) == 0 ? 1 : -ENOMEM;
    }
  }
  return 0;
}

struct emits {
  int n;
  struct vg_wentry last;
};

static void on_emit(const struct vg_wentry *e, void *ctx) {
  struct emits *em = ctx;
  em->n++;
  em->last = *e;
}

static void sealed_windows_leave_memory_and_revise_from_the_store(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_windows w;
  struct vg_window_opts o = {.lateness_s = 120,
                             .retention_s = {86400 * 30, 86400 * 30, 86400 * 30},
                             .acc = VG_ACC_OPTS_DEFAULT};
  struct fake_store st = {0};
  assert_int_equal(vg_windows_init(&w, tz, 60, &o), 0);
  assert_int_equal(vg_windows_set_loader(&w, load, &st), 0);
  struct vg_acc d;
  delta_of(&d, 30, 1.5);
  assert_int_equal(vg_windows_merge(&w, 7, 0, 60, VG_INTO_ALL, &d, NULL),
                   VG_AGG_ACCEPTED);
  vg_acc_release(&d);
  assert_int_equal(vg_windows_ndirty(&w), 3); /* base, hour, day */
  /* fresh windows: the store cannot hold them (their writes skip lookups) */
  for (uint32_t i = 0; i < 3; i++)
    assert_false(vg_windows_dirty_at(&w, i)->stored);
  save_dirty(&w, &st);
  vg_windows_clean(&w);
  assert_int_equal(vg_windows_ndirty(&w), 0);
  assert_true(vg_windows_get(&w, 7, VG_RES_BASE, 0)->stored); /* committed now */
  assert_int_equal(vg_windows_evict_final(&w), 0);            /* nothing final yet */

  /* the base window goes final: dirty again (it must be sealed) */
  struct emits em = {0};
  assert_int_equal(vg_windows_advance(&w, 200 * S, on_emit, &em), 1);
  assert_int_equal(vg_windows_ndirty(&w), 1);
  assert_true(vg_windows_dirty_at(&w, 0)->final);
  /* not evicted while its change is not committed */
  assert_int_equal(vg_windows_evict_final(&w), 0);
  save_dirty(&w, &st);
  vg_windows_clean(&w);
  assert_int_equal(vg_windows_evict_final(&w), 1);
  assert_null(vg_windows_get(&w, 7, VG_RES_BASE, 0));
  assert_non_null(vg_windows_get(&w, 7, VG_RES_HOUR, 0)); /* still provisional */

  /* a late event for the sealed window: loaded, merged, revised, re-emitted */
  int revised = 0;
  assert_int_equal(merge_reading(&w, 7, 0, 60, 59, 2.5, &revised), VG_AGG_ACCEPTED);
  assert_true(revised);
  assert_int_equal(st.loads, 1); /* only the evicted window was looked up */
  const struct vg_wentry *base = vg_windows_get(&w, 7, VG_RES_BASE, 0);
  assert_non_null(base);
  assert_int_equal(base->acc.st.count, 2);
  assert_true(base->final);
  assert_true(base->stored); /* reloaded: its row may exist, writes must look */
  assert_int_equal(base->revision, 1);
  em.n = 0;
  assert_int_equal(vg_windows_advance(&w, 201 * S, on_emit, &em), 1);
  assert_int_equal(em.last.revision, 1);
  assert_int_equal(em.last.acc.st.count, 2);

  /* a late event for a window the store never had: a new final window */
  vg_windows_advance(&w, 1000 * S, NULL, NULL);
  delta_of(&d, 65, 4);
  assert_int_equal(vg_windows_merge(&w, 7, 60, 120, VG_INTO_ALL, &d, &revised),
                   VG_AGG_ACCEPTED);
  vg_acc_release(&d);
  assert_int_equal(st.loads, 2);
  assert_false(vg_windows_get(&w, 7, VG_RES_BASE, 60)->final);
  em.n = 0;
  vg_windows_advance(&w, 1001 * S, on_emit, &em);
  assert_int_equal(em.n, 1);
  assert_int_equal(em.last.start, 60);
  assert_int_equal(em.last.revision, 0);

  for (int k = 0; k < st.n; k++)
    vg_acc_release(&st.saved[k].acc);
  vg_windows_release(&w);
  vg_tz_free(tz);
}

static void horizon_keeps_uncommitted_windows(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  struct vg_windows w;
  struct vg_window_opts o = {
      .lateness_s = 60, .retention_s = {3600, 3600, 3600}, .acc = VG_ACC_OPTS_DEFAULT};
  struct fake_store st = {0};
  assert_int_equal(vg_windows_init(&w, tz, 60, &o), 0);
  assert_int_equal(vg_windows_set_loader(&w, load, &st), 0);
  struct vg_acc d;
  delta_of(&d, 30, 1);
  vg_windows_merge(&w, 1, 0, 60, VG_INTO_ALL, &d, NULL);
  vg_acc_release(&d);
  /* the watermark jumps years ahead: every window is final and past the
   * horizon, but none has been committed, so none may vanish */
  vg_windows_advance(&w, 400000000LL * S, NULL, NULL);
  assert_int_equal(w.t.n, 3);
  assert_int_equal(vg_windows_ndirty(&w), 3);
  vg_windows_clean(&w);
  assert_int_equal(vg_windows_evict_final(&w), 3);
  vg_windows_release(&w);
  vg_tz_free(tz);
}

static void restore_and_skip(void **state) {
  (void)state;
  struct vg_tz *tz = utc();
  char err[256];
  struct vg_agg *a;
  struct vg_agg_opts o = {.nworkers = 1,
                          .nparts = 2,
                          .base_s = 60,
                          .ooo_ns = 0,
                          .idle_ns = 3600 * S,
                          .win = {.lateness_s = 60,
                                  .retention_s = {86400, 86400, 86400},
                                  .acc = VG_ACC_OPTS_DEFAULT}};
  assert_int_equal(vg_agg_new(tz, &o, 0, &a, err, sizeof err), 0);
  struct vg_wentry saved = {.series = 5, .start = 600, .end = 660, .res = VG_RES_BASE};
  delta_of(&saved.acc, 610, 3);
  assert_int_equal(vg_agg_restore_window(a, &saved), 0);
  assert_int_equal(vg_agg_restore_window(a, &saved), -EEXIST);
  vg_acc_release(&saved.acc);
  vg_agg_restore_position(a, 1, (struct vg_part_pos){42, 650 * S, 0});
  vg_agg_restore_watermark(a, 640 * S);
  assert_int_equal(vg_agg_watermark(a), 640 * S);
  assert_int_equal(vg_agg_position(a, 1).next_offset, 42);
  const struct vg_wentry *e = vg_windows_get(vg_agg_windows(a), 5, VG_RES_BASE, 600);
  assert_non_null(e);
  assert_int_equal(e->acc.st.count, 1);
  assert_false(e->dirty);

  /* a message without events still moves its partition's offset */
  struct vg_worker *w = vg_agg_worker(a, 0);
  vg_worker_skip(w, 1, 42, 1);
  struct vg_agg_event ev = {.series = 5, .time_ns = 620 * S, .value = 4};
  assert_int_equal(vg_worker_add(w, 1, 43, &ev, 1), VG_AGG_ACCEPTED);
  vg_worker_skip(w, 1, 44, 2);
  assert_int_equal(vg_worker_flush(w, 2), 0);
  assert_int_equal(vg_agg_collect(a, 2, NULL, NULL), 1);
  assert_int_equal(vg_agg_position(a, 1).next_offset, 45);
  e = vg_windows_get(vg_agg_windows(a), 5, VG_RES_BASE, 600);
  assert_int_equal(e->acc.st.count, 2); /* restored 1 + the new one */
  vg_agg_free(a);
  vg_tz_free(tz);
}

int vg_test_agg_persist(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sealed_windows_leave_memory_and_revise_from_the_store),
      cmocka_unit_test(horizon_keeps_uncommitted_windows),
      cmocka_unit_test(restore_and_skip),
  };
  return cmocka_run_group_tests_name("agg_persist", tests, NULL, NULL);
}
