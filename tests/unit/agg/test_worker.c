/* Tests of the shared-nothing workers and the collecting writer: the epoch
 * hand-off, positions, rejections with reasons, back-pressure, and a
 * threaded stress test (many workers, random epoch lengths, a concurrent
 * writer) whose merged windows must equal a single-threaded run -- also
 * for a dedupe source whose copies cross epochs and workers' hand-offs.
 * The group name starts with agg_thread so CI runs it under
 * ThreadSanitizer. */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "testutil.h"
#include "aggtest.h"
#include "vigie/error.h"
#include "vigie/worker.h"
#include "common/atomic.h"

#define S 1000000000LL

static struct vg_tz *load(const char *name) {
  struct vg_tz *tz = NULL;
  assert_int_equal(vg_tz_load(name, &tz, NULL, 0), 0);
  return tz;
}

static struct vg_agg_opts opts(uint32_t nworkers, uint32_t nparts) {
  struct vg_agg_opts o = {
      .nworkers = nworkers,
      .nparts = nparts,
      .base_s = 60,
      .ooo_ns = 10 * S,
      .idle_ns = 30 * S,
      .win = {.lateness_s = 120,
              .retention_s = {3650LL * 86400, 3650LL * 86400, 3650LL * 86400},
              .acc = VG_ACC_OPTS_DEFAULT}};
  return o;
}

static void worker_hands_epochs_to_writer(void **state) {
  (void)state;
  struct vg_tz *tz = load("Europe/Paris");
  struct vg_agg *a;
  struct vg_agg_opts o = opts(2, 4);
  char err[200];
  assert_int_equal(vg_agg_new(tz, &o, 0, &a, err, sizeof err), 0);
  struct vg_worker *w0 = vg_agg_worker(a, 0), *w1 = vg_agg_worker(a, 1);
  const int64_t t0 = 1711839600LL * S; /* 2024-03-31 00:00 Paris */
  struct vg_agg_event ev = {.series = 42, .time_ns = t0 + 5 * S, .value = 1.0};
  assert_int_equal(vg_worker_add(w0, 0, 100, &ev, 1), VG_AGG_ACCEPTED);
  ev.value = 3.0;
  ev.time_ns += 30 * S;
  assert_int_equal(vg_worker_add(w0, 2, 7, &ev, 1), VG_AGG_ACCEPTED);
  ev.value = NAN;
  assert_int_equal(vg_worker_add(w1, 1, 0, &ev, 1), VG_AGG_REJECT_NONFINITE);
  /* nothing reaches the writer before a flush */
  assert_int_equal(vg_agg_collect(a, 2, NULL, NULL), 0);
  assert_null(vg_windows_get(vg_agg_windows(a), 42, VG_RES_BASE, t0 / S));
  assert_int_equal(vg_worker_flush(w0, 2), 0);
  assert_int_equal(vg_worker_flush(w1, 2), 0);
  assert_int_equal(vg_agg_collect(a, 3, NULL, NULL), 2);
  const struct vg_windows *win = vg_agg_windows(a);
  const struct vg_wentry *e = vg_windows_get(win, 42, VG_RES_BASE, t0 / S);
  assert_non_null(e);
  assert_int_equal(e->acc.st.count, 2);
  assert_true(vg_stats_mean(&e->acc.st) == 2.0);
  e = vg_windows_get(win, 42, VG_RES_DAY, t0 / S);
  assert_non_null(e);
  assert_int_equal(e->end - e->start, 23 * 3600);
  assert_int_equal(win->c.rejected[VG_AGG_REJECT_NONFINITE], 1);
  assert_int_equal(vg_agg_position(a, 0).next_offset, 101);
  assert_int_equal(vg_agg_position(a, 2).next_offset, 8);
  assert_int_equal(vg_agg_position(a, 1).next_offset, 1);
  assert_int_equal(vg_agg_position(a, 3).next_offset, -1);
  /* back-pressure: a writer that does not collect makes flush say so; the
   * epoch continues and nothing is lost */
  ev.value = 1;
  for (int i = 0; i < VG_AGG_MAX_PENDING; i++) {
    assert_int_equal(vg_worker_add(w0, 0, 200 + i, &ev, 4), VG_AGG_ACCEPTED);
    assert_int_equal(vg_worker_flush(w0, 4), 0);
  }
  assert_int_equal(vg_worker_add(w0, 0, 300, &ev, 4), VG_AGG_ACCEPTED);
  assert_int_equal(vg_worker_flush(w0, 4), VG_EFULL);
  assert_int_equal(vg_agg_collect(a, 5, NULL, NULL), VG_AGG_MAX_PENDING);
  assert_int_equal(vg_worker_flush(w0, 5), 0);
  assert_int_equal(vg_agg_collect(a, 5, NULL, NULL), 1);
  e = vg_windows_get(win, 42, VG_RES_BASE, t0 / S);
  assert_int_equal(e->acc.st.count, 2 + VG_AGG_MAX_PENDING + 1);
  assert_int_equal(vg_agg_position(a, 0).next_offset, 301);
  /* retention: once partition 0 is far ahead, a reading of it that no
   * resolution retains any more (its day ended before the horizon) is
   * rejected with the reason, and its offset consumed all the same */
  ev.time_ns = t0 + 3650LL * 86400 * S + 2 * 86400 * S;
  assert_int_equal(vg_worker_add(w1, 1, 1, &ev, 40 * S), VG_AGG_ACCEPTED);
  assert_int_equal(vg_worker_add(w0, 0, 301, &ev, 40 * S), VG_AGG_ACCEPTED);
  ev.time_ns = t0;
  assert_int_equal(vg_worker_add(w0, 0, 302, &ev, 41 * S), VG_AGG_REJECT_RETENTION);
  assert_int_equal(vg_worker_flush(w0, 41 * S), 0);
  assert_int_equal(vg_worker_flush(w1, 41 * S), 0);
  assert_int_equal(vg_agg_collect(a, 41 * S, NULL, NULL), 2);
  assert_int_equal(vg_agg_windows(a)->c.rejected[VG_AGG_REJECT_RETENTION], 1);
  /* accepted: 2 + VG_AGG_MAX_PENDING + 1 above, then 2 */
  assert_int_equal(vg_agg_windows(a)->c.aggregated, 2 + VG_AGG_MAX_PENDING + 1 + 2);
  assert_int_equal(vg_agg_position(a, 0).next_offset, 303); /* consumed anyway */
  vg_agg_free(a);
  vg_tz_free(tz);
}

static void bad_options_are_refused(void **state) {
  (void)state;
  struct vg_agg *a;
  struct vg_agg_opts o = opts(1, 1);
  char err[200];
  o.base_s = 7;
  assert_int_equal(vg_agg_new(NULL, &o, 0, &a, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "7 s"));
}

/* ---- the stress test ---- */

#define NPARTS   12
#define NSERIES  300
#define PER_PART 10000

/* 1: the events are a dedupe source's, and every seventh is a copy of the
 * partition's event 5 before it */
static int stress_dedupe;

/* The events of partition p, a pure function of (p, i): times mostly
 * increasing with jitter and some very late ones, over a Sydney DST day. */
static void event_at(uint32_t p, uint32_t i, struct vg_agg_event *ev) {
  if (stress_dedupe && i % 7 == 3 && i >= 5)
    i -= 5;
  struct rng r = {((uint64_t)p << 32) | i};
  uint64_t x = rng_next(&r);
  int64_t base = 1712408400LL * S - 3600 * S; /* around 2024-04-07, 25 h day */
  int64_t t = base + (int64_t)i * 5 * S + (int64_t)(x % (20 * S)) - 10 * S;
  if (x % 97 == 0)
    t -= 3 * 3600 * S; /* very late */
  ev->series = (rng_next(&r) % NSERIES) * 1000003 + p % 3;
  ev->time_ns = t;
  ev->value = (double)(rng_next(&r) % 100000) / 7.0 - 1000;
  ev->has_distinct = 1;
  ev->distinct = rng_next(&r) % 5000;
  ev->dedupe = stress_dedupe ? 1000 : 0;
}

struct stress {
  struct vg_agg *a;
  uint32_t nworkers;
  vg_atomic_u64 done; /* workers finished (relaxed count + final flush seen) */
};

struct worker_arg {
  struct stress *st;
  uint32_t id;
  uint64_t seed;
};

/* A worker thread: its partitions round-robin, an epoch boundary after a
 * random number of events (1 to 2000), retrying when the writer is behind. */
static void *worker_main(void *p) {
  struct worker_arg *wa = p;
  struct vg_worker *w = vg_agg_worker(wa->st->a, wa->id);
  struct rng r = {wa->seed};
  uint32_t next[NPARTS] = {0};
  uint64_t left = 0, until_flush = 1 + rng_below(&r, 2000);
  for (uint32_t q = wa->id; q < NPARTS; q += wa->st->nworkers)
    left += PER_PART;
  while (left) {
    for (uint32_t q = wa->id; q < NPARTS; q += wa->st->nworkers) {
      uint32_t burst = 1 + (uint32_t)rng_below(&r, 64);
      for (; burst && next[q] < PER_PART; burst--, left--) {
        struct vg_agg_event ev;
        event_at(q, next[q], &ev);
        vg_worker_add(w, q, next[q], &ev, 0);
        next[q]++;
        if (--until_flush == 0) {
          if (vg_worker_flush(w, 0) == 0)
            until_flush = 1 + rng_below(&r, 2000);
          else
            until_flush = 100; /* writer behind: keep filling this epoch */
        }
      }
    }
  }
  while (vg_worker_flush(w, 0) != 0)
    sched_yield();
  /* release: the final flush happens-before the writer's last collect */
  atomic_fetch_add_explicit(&wa->st->done, 1, memory_order_release);
  return NULL;
}

static void writer_emit(const struct vg_wentry *e, void *ctx) {
  (void)e;
  (*(uint64_t *)ctx)++;
}

static int compare_windows(const struct vg_windows *x, const struct vg_windows *y) {
  if (x->t.n != y->t.n) {
    print_message("window count %u vs %u\n", x->t.n, y->t.n);
    return 0;
  }
  for (uint32_t k = 0; k < x->t.n; k++) {
    const struct vg_wentry *e = &x->t.e[k];
    const struct vg_wentry *f = vg_windows_get(y, e->series, e->res, e->start);
    if (!f || f->end != e->end || !vg_acc_equal(&e->acc, &f->acc, 1e-12)) {
      print_message("window series %llu res %d start %lld differs\n",
                    (unsigned long long)e->series, e->res, (long long)e->start);
      return 0;
    }
  }
  return 1;
}

static void run_stress(int dedupe) {
  stress_dedupe = dedupe;
  struct vg_tz *tz = load("Australia/Sydney");
  char err[200];
  struct vg_agg_opts o = opts(1, NPARTS);
  o.win.acc.quantiles = 1;
  o.win.acc.distinct = 1;
  /* the reference: one worker, one epoch */
  struct vg_agg *ref;
  assert_int_equal(vg_agg_new(tz, &o, 0, &ref, err, sizeof err), 0);
  struct vg_worker *w = vg_agg_worker(ref, 0);
  for (uint32_t q = 0; q < NPARTS; q++)
    for (uint32_t i = 0; i < PER_PART; i++) {
      struct vg_agg_event ev;
      event_at(q, i, &ev);
      assert_int_equal(vg_worker_add(w, q, i, &ev, 0), VG_AGG_ACCEPTED);
    }
  assert_int_equal(vg_worker_flush(w, 0), 0);
  assert_int_equal(vg_agg_collect(ref, 0, NULL, NULL), 1);

  const uint32_t nworkers[] = {2, 5, 11};
  for (size_t run = 0; run < 3; run++) {
    struct stress st = {.nworkers = nworkers[run]};
    o.nworkers = nworkers[run];
    assert_int_equal(vg_agg_new(tz, &o, 0, &st.a, err, sizeof err), 0);
    vg_atomic_store_relaxed_u64(&st.done, 0);
    pthread_t th[16];
    struct worker_arg args[16];
    for (uint32_t i = 0; i < st.nworkers; i++) {
      args[i] = (struct worker_arg){&st, i, 1000 * run + i};
      assert_int_equal(pthread_create(&th[i], NULL, worker_main, &args[i]), 0);
    }
    /* this thread is the writer: collect until every worker is done and
     * their last epochs are in */
    uint64_t emitted = 0, epochs = 0;
    for (;;) {
      int finished = atomic_load_explicit(&st.done, memory_order_acquire) == st.nworkers;
      int n = vg_agg_collect(st.a, 0, writer_emit, &emitted);
      assert_true(n >= 0);
      epochs += (uint64_t)n;
      if (finished && n == 0)
        break;
      if (n == 0)
        sched_yield();
    }
    for (uint32_t i = 0; i < st.nworkers; i++)
      pthread_join(th[i], NULL);
    print_message("%u workers: %llu epochs, %llu emissions, watermark %lld\n",
                  st.nworkers, (unsigned long long)epochs, (unsigned long long)emitted,
                  (long long)vg_agg_watermark(st.a));
    assert_true(epochs >= st.nworkers);
    assert_true(compare_windows(vg_agg_windows(ref), vg_agg_windows(st.a)));
    for (uint32_t q = 0; q < NPARTS; q++)
      assert_int_equal(vg_agg_position(st.a, q).next_offset, PER_PART);
    /* every copy found, wherever the epochs were cut */
    uint64_t copies = 0;
    for (uint32_t i = 5; dedupe && i < PER_PART; i++)
      copies += NPARTS * (i % 7 == 3);
    assert_int_equal(vg_agg_windows(st.a)->c.duplicates, copies);
    assert_int_equal(vg_agg_windows(ref)->c.duplicates, copies);
    assert_int_equal(vg_agg_windows(st.a)->c.aggregated, NPARTS * PER_PART - copies);
    vg_agg_free(st.a);
  }
  vg_agg_free(ref);
  vg_tz_free(tz);
  stress_dedupe = 0;
}

static void threaded_run_equals_single_threaded(void **state) {
  (void)state;
  run_stress(0);
}

static void threaded_dedupe_equals_single_threaded(void **state) {
  (void)state;
  run_stress(1);
}

int vg_test_agg_thread_worker(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(worker_hands_epochs_to_writer),
      cmocka_unit_test(bad_options_are_refused),
      cmocka_unit_test(threaded_run_equals_single_threaded),
      cmocka_unit_test(threaded_dedupe_equals_single_threaded),
  };
  return cmocka_run_group_tests_name("agg_thread_worker", tests, NULL, NULL);
}
