/* The store against the real aggregation engine: events of 20 series over
 * three hours (quantile and distinct sketches on, late events that revise
 * final windows) go through a worker and the writer; every epoch commits the
 * writer's open windows, the windows it emitted (sealed) and the partition
 * positions. After reopening, the reloaded windows equal the engine's at
 * full precision, the positions and watermark are the engine's, and range
 * reads (segments and open rows) give every window with its latest
 * revision. */
#include <string.h>

#include "testutil.h"
#include "storetest.h"
#include "vigie/error.h"
#include "vigie/store.h"
#include "vigie/worker.h"

#define S     1000000000LL
#define NSER  20
#define NPART 2

struct emitted {
  struct vg_wentry w[20000];
  const struct vg_wentry *p[20000];
  size_t n;
};

static void on_emit(const struct vg_wentry *w, void *ctx) {
  struct emitted *e = ctx;
  assert_true(e->n < 20000);
  struct vg_wentry *d = &e->w[e->n];
  *d = *w;
  vg_acc_init(&d->acc);
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  assert_int_equal(vg_acc_merge(&d->acc, &w->acc, &o), 0);
  e->p[e->n] = d;
  e->n++;
}

static void emitted_clear(struct emitted *e) {
  for (size_t i = 0; i < e->n; i++)
    vg_acc_release(&e->w[i].acc);
  e->n = 0;
}

struct cmp_ctx {
  const struct vg_windows *win;
  size_t n, bad;
};

static int compare_window(const struct vg_wentry *w, void *ctx) {
  struct cmp_ctx *c = ctx;
  const struct vg_wentry *m =
      vg_windows_get(c->win, w->series, (enum vg_res)w->res, w->start);
  c->n++;
  if (!m || m->end != w->end || m->final != w->final || m->revision != w->revision ||
      !vg_acc_equal(&m->acc, &w->acc, 0))
    c->bad++;
  return 0;
}

struct range_ctx {
  const struct vg_windows *win;
  size_t n, bad;
  int64_t last;
};

static int range_window(const struct vg_wentry *w, void *ctx) {
  struct range_ctx *c = ctx;
  const struct vg_wentry *m =
      vg_windows_get(c->win, w->series, (enum vg_res)w->res, w->start);
  c->n++;
  /* at segment precision: exact count/min/max/first/last and sketches,
   * latest revision, in time order */
  if (!m || w->start <= c->last || m->revision != w->revision ||
      m->acc.st.count != w->acc.st.count || m->acc.st.min != w->acc.st.min ||
      m->acc.st.max != w->acc.st.max || m->acc.fl.last_v != w->acc.fl.last_v ||
      vg_stats_sum(&m->acc.st) != vg_stats_sum(&w->acc.st) ||
      (m->acc.qs && (!w->acc.qs || !vg_ddsketch_equal(m->acc.qs, w->acc.qs))))
    c->bad++;
  c->last = w->start;
  return 0;
}

/* Range reads of every series and resolution give each window of win once,
 * at segment precision, latest revision, in time order. */
static void read_every_range(struct vg_store_reader *r, const struct vg_windows *win,
                             int64_t t0) {
  char err[256];
  size_t total = 0;
  for (uint64_t id = 1; id <= NSER; id++)
    for (uint8_t res = 0; res < 3; res++) {
      struct range_ctx rc = {win, 0, 0, INT64_MIN};
      assert_int_equal(vg_store_read_range(r, id, res, t0 / S - 86400, t0 / S + 2 * 86400,
                                           range_window, &rc, err, sizeof err),
                       0);
      assert_int_equal(rc.bad, 0);
      total += rc.n;
    }
  assert_int_equal(total, win->t.n);
}

static void engine_windows_survive_the_store(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-aggstore-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct vg_tz *tz = NULL;
  assert_int_equal(vg_tz_load("Europe/Paris", &tz, NULL, 0), 0);
  struct vg_agg_opts o = st_agg_opts(NPART, 3600 * S, 300);
  o.win.acc.quantiles = 1;
  o.win.acc.distinct = 1;
  struct vg_agg *a;
  char err[256];
  assert_int_equal(vg_agg_new(tz, &o, 0, &a, err, sizeof err), 0);
  struct vg_worker *wk = vg_agg_worker(a, 0);
  struct vg_store *st;
  struct vg_store_opts so = {.path = dir, .durability = VG_STORE_NOSYNC};
  assert_int_equal(vg_store_open(&so, &st, err, sizeof err), 0);
  struct emitted *em = calloc(1, sizeof *em);
  const struct vg_wentry **open = NULL;
  uint64_t rng = 12;
  int64_t t0 = 1711839600LL * S; /* 2024-03-31 00:00 Paris, the spring-forward day */
  int64_t offsets[NPART] = {0};
  uint64_t epoch = 0;
  for (int sec = 0; sec < 3 * 3600; sec += 5) {
    for (int s = 0; s < NSER; s++) {
      if (st_rng(&rng) % 3)
        continue;
      uint32_t part = (uint32_t)s % NPART;
      /* 2 % late by up to 20 minutes: some revise final windows */
      int64_t late = st_rng(&rng) % 50 == 0 ? (int64_t)(st_rng(&rng) % 1200) * S : 0;
      struct vg_agg_event ev = {.series = (uint64_t)s + 1,
                                .time_ns = t0 + sec * S - late,
                                .value = (double)(st_rng(&rng) % 1000) / 10,
                                .distinct = st_rng(&rng) % 64,
                                .has_distinct = 1};
      vg_worker_add(wk, part, offsets[part]++, &ev, t0 + sec * S);
    }
    if (sec % 60 != 55)
      continue;
    /* an epoch a minute: hand-off, collect, commit */
    assert_int_equal(vg_worker_flush(wk, t0 + sec * S), 0);
    assert_true(vg_agg_collect(a, t0 + sec * S, on_emit, em) >= 0);
    const struct vg_windows *win = vg_agg_windows(a);
    open = realloc(open, (win->t.n + 1) * sizeof *open);
    for (uint32_t k = 0; k < win->t.n; k++)
      open[k] = &win->t.e[k];
    struct vg_store_pos pos[NPART];
    for (uint32_t p = 0; p < NPART; p++) {
      struct vg_part_pos pp = vg_agg_position(a, p);
      pos[p] = (struct vg_store_pos){"air", p, pp.next_offset, pp.max_event_ns,
                                     pp.last_active_ns};
    }
    struct vg_store_emit *log = calloc(em->n + 1, sizeof *log);
    for (size_t i = 0; i < em->n; i++)
      log[i] = (struct vg_store_emit){0, em->w[i].series, em->w[i].res, em->w[i].start,
                                      em->w[i].revision};
    struct vg_store_epoch ep = {.epoch = ++epoch,
                                .open = open,
                                .nopen = win->t.n,
                                .sealed = em->p,
                                .nsealed = em->n,
                                .pos = pos,
                                .npos = NPART,
                                .emit = log,
                                .nemit = em->n,
                                .watermark_ns = vg_agg_watermark(a)};
    int rc = vg_store_commit(st, &ep, err, sizeof err);
    if (rc)
      print_message("commit: %s\n", err);
    assert_int_equal(rc, 0);
    free(log);
    emitted_clear(em);
  }
  const struct vg_windows *win = vg_agg_windows(a);
  assert_true(win->c.revisions > 0); /* late events did revise final windows */
  assert_true(win->c.finalized > 0);

  vg_store_close(st);
  assert_int_equal(vg_store_open(&so, &st, err, sizeof err), 0);
  struct cmp_ctx c = {win, 0, 0};
  struct vg_store_state s;
  assert_int_equal(vg_store_load(st, compare_window, NULL, &c, &s, err, sizeof err), 0);
  assert_int_equal(c.bad, 0);
  assert_int_equal(c.n, win->t.n);
  assert_int_equal(s.epoch, epoch);
  assert_int_equal(s.watermark_ns, vg_agg_watermark(a));
  struct vg_store_reader *r;
  assert_int_equal(vg_store_reader_begin(st, &r), 0);
  for (uint32_t p = 0; p < NPART; p++) {
    struct vg_store_pos sp;
    assert_int_equal(vg_store_position(r, "air", p, &sp), 0);
    assert_int_equal(sp.next_offset, vg_agg_position(a, p).next_offset);
  }
  read_every_range(r, win, t0);
  vg_store_reader_end(r);

  /* the writer lets go of its final windows and every pending one is
   * flushed: range reads now take them from the segments */
  struct vg_store_wkey *ev = calloc(win->t.n, sizeof *ev);
  size_t nev = 0;
  for (uint32_t k = 0; k < win->t.n; k++)
    if (win->t.e[k].final)
      ev[nev++] =
          (struct vg_store_wkey){win->t.e[k].series, win->t.e[k].res, win->t.e[k].start};
  struct vg_store_epoch ep = {
      .epoch = ++epoch, .evict = ev, .nevict = nev, .watermark_ns = vg_agg_watermark(a)};
  assert_int_equal(vg_store_commit(st, &ep, err, sizeof err), 0);
  free(ev);
  size_t flushed;
  int more;
  assert_int_equal(
      vg_store_flush(st, INT64_MAX, 100000, 100, &flushed, &more, err, sizeof err), 0);
  assert_int_equal(more, 0);
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(st, &ss), 0);
  assert_int_equal(ss.open_windows, win->t.n - nev);
  assert_true(ss.segments > 0);
  assert_int_equal(vg_store_reader_begin(st, &r), 0);
  read_every_range(r, win, t0);
  vg_store_reader_end(r);
  vg_store_close(st);
  free(open);
  free(em);
  vg_agg_free(a);
  vg_tz_free(tz);
  st_rmtree(dir);
}

/* The writer as the daemon will run it: after each commit the engine drops
 * its final windows from memory (vg_windows_evict_final), and a late event
 * for one of them loads it back through vg_store_window_loader, merges and
 * bumps its revision. A reference engine fed the same events keeps
 * everything in memory: the store ends up with the same windows (exact
 * counts, min, max, revisions; sums within 1e-12), after a restart too. */
static size_t loads, loads_found;

static int counting_loader(void *store, uint64_t series, uint8_t res, int64_t start,
                           struct vg_wentry *out) {
  int rc = vg_store_window_loader(store, series, res, start, out);
  loads++;
  loads_found += rc == 1;
  return rc;
}

static void evicted_windows_revise_through_the_loader(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-aggload-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct vg_tz *tz = NULL;
  assert_int_equal(vg_tz_load("Europe/Paris", &tz, NULL, 0), 0);
  struct vg_agg_opts o = st_agg_opts(NPART, 3600 * S, 120);
  struct vg_agg *ref, *a;
  char err[256];
  assert_int_equal(vg_agg_new(tz, &o, 0, &ref, err, sizeof err), 0);
  assert_int_equal(vg_agg_new(tz, &o, 0, &a, err, sizeof err), 0);
  struct vg_store *st;
  struct vg_store_opts so = {.path = dir, .durability = VG_STORE_NOSYNC};
  assert_int_equal(vg_store_open(&so, &st, err, sizeof err), 0);
  struct vg_windows *ww = vg_agg_writer_windows(a);
  assert_int_equal(vg_windows_set_loader(ww, counting_loader, st), 0);
  struct vg_worker *wr = vg_agg_worker(ref, 0), *wk = vg_agg_worker(a, 0);
  uint64_t rng = 21, epoch = 0;
  int64_t t0 = 1711839600LL * S;
  int64_t offsets[NPART] = {0};
  size_t evicted = 0;
  for (int sec = 0; sec < 3 * 3600; sec += 5) {
    for (int s = 0; s < NSER; s++) {
      if (st_rng(&rng) % 3)
        continue;
      uint32_t part = (uint32_t)s % NPART;
      int64_t late = st_rng(&rng) % 40 == 0 ? (int64_t)(st_rng(&rng) % 2400) * S : 0;
      struct vg_agg_event e = {.series = (uint64_t)s + 1,
                               .time_ns = t0 + sec * S - late,
                               .value = (double)(st_rng(&rng) % 1000) / 10};
      vg_worker_add(wr, part, offsets[part], &e, t0 + sec * S);
      vg_worker_add(wk, part, offsets[part]++, &e, t0 + sec * S);
    }
    if (sec % 60 != 55)
      continue;
    assert_int_equal(vg_worker_flush(wr, t0 + sec * S), 0);
    assert_int_equal(vg_worker_flush(wk, t0 + sec * S), 0);
    assert_true(vg_agg_collect(ref, t0 + sec * S, NULL, NULL) >= 0);
    assert_true(vg_agg_collect(a, t0 + sec * S, NULL, NULL) >= 0);
    /* the daemon's writer: provisional dirty windows to `open`, final ones
     * sealed and let go */
    int rc = st_writer_commit(a, st, ++epoch, "air", NPART, &evicted, err, sizeof err);
    if (rc)
      print_message("commit: %s\n", err);
    assert_int_equal(rc, 0);
  }
  const struct vg_windows *rw = vg_agg_windows(ref);
  assert_true(evicted > 0);
  assert_true(rw->c.revisions > 0);
  print_message(
      "%zu windows evicted, %zu loads (%zu found in the store), %llu revisions\n",
      evicted, loads, loads_found, (unsigned long long)rw->c.revisions);
  assert_true(loads_found > 0);
  assert_int_equal(vg_agg_windows(a)->c.revisions, rw->c.revisions);
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) { /* and after a restart */
      vg_store_close(st);
      assert_int_equal(vg_store_open(&so, &st, err, sizeof err), 0);
    }
    struct vg_store_reader *r;
    assert_int_equal(vg_store_reader_begin(st, &r), 0);
    struct st_ref_ctx c = {rw, 0, 0, 1e-12, 1};
    st_read_series(r, NSER, t0 / S - 86400, t0 / S + 2 * 86400, st_against_reference, &c);
    vg_store_reader_end(r);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.n, rw->t.n);
  }
  vg_store_close(st);
  vg_agg_free(a);
  vg_agg_free(ref);
  vg_tz_free(tz);
  st_rmtree(dir);
}

int vg_test_store_agg(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(engine_windows_survive_the_store),
      cmocka_unit_test(evicted_windows_revise_through_the_loader),
  };
  return cmocka_run_group_tests_name("store_agg", tests, NULL, NULL);
}
