/* Duplicates across restarts and crashes (worker.h "Duplicates", store.h
 * `dup`): the fingerprints of each base window are committed with it in
 * one transaction, loaded back for a window restored at start, for a final
 * window loaded to be revised, and for a set that left memory idle;
 * retention deletes them from the front; and a writer killed with SIGKILL
 * at random moments while re-sent readings stream in leaves a store in
 * which every base window holds exactly the unique readings below the
 * committed offset and as many fingerprints as readings. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "testutil.h"
#include "storetest.h"
#include "vigie/error.h"
#include "vigie/store.h"
#include "vigie/window.h"
#include "vigie/worker.h"

#define S 1000000000LL
/* 2024-06-01T12:00:00Z */
#define T_S 1717243200LL

static struct vg_store *open_store(const char *dir, int64_t dedupe_keep_s) {
  struct vg_store_opts o = {
      .path = dir, .durability = VG_STORE_NOSYNC, .dedupe_retention_s = dedupe_keep_s};
  struct vg_store *st = NULL;
  char err[256];
  int rc = vg_store_open(&o, &st, err, sizeof err);
  if (rc)
    print_message("open: %s\n", err);
  assert_int_equal(rc, 0);
  return st;
}

static void commit_rows(struct vg_store *st, uint64_t epoch, const struct vg_fprow *rows,
                        size_t n, int64_t wm_ns) {
  struct vg_store_epoch ep = {
      .epoch = epoch, .fps = rows, .nfps = n, .watermark_ns = wm_ns};
  char err[256];
  int rc = vg_store_commit(st, &ep, err, sizeof err);
  if (rc)
    print_message("commit: %s\n", err);
  assert_int_equal(rc, 0);
}

/* The set the store holds for a window: its size, or a negative error. */
static int64_t stored_fps(struct vg_store *st, uint64_t series, int64_t start,
                          int64_t end, struct vg_fpset *out) {
  vg_fpset_init(out);
  int rc = vg_store_fp_loader(st, series, start, end, out);
  if (rc < 0)
    return rc;
  assert_int_equal(rc, out->n > 0);
  return out->n;
}

static uint64_t dedupe_rows(struct vg_store *st) {
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(st, &ss), 0);
  return ss.dedupe_rows;
}

/* Rows of one window from two epochs read back as one set, in order,
 * with and without distinct keys; other windows apart; a row that does
 * not follow the previous ones is corruption. */
static void fingerprints_round_trip(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-dupstore-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct vg_store *st = open_store(dir, 0);
  int64_t a0 = T_S, a1 = T_S + 60;
  struct vg_fp fa[3] = {{a0 * S + 5, 0}, {a0 * S + 1, 0}, {a0 * S + 5, 0xfeedULL}};
  struct vg_fp fb = {a0 * S, 0x77}, fc = {a1 * S, 0};
  struct vg_fprow r1[] = {{1, a0, a0 + 60, 0, 2, fa},
                          {2, a0, a0 + 60, 0, 1, &fb},
                          {1, a1, a1 + 60, 0, 0, &fc}}; /* n 0: nothing */
  commit_rows(st, 1, r1, 3, T_S * S);
  struct vg_fprow r2[] = {{1, a0, a0 + 60, 2, 1, fa + 2}, {1, a1, a1 + 60, 0, 1, &fc}};
  commit_rows(st, 2, r2, 2, T_S * S);
  assert_int_equal(dedupe_rows(st), 4);
  struct vg_fpset s;
  assert_int_equal(stored_fps(st, 1, a0, a0 + 60, &s), 3);
  assert_memory_equal(vg_fpset_v(&s), fa, sizeof fa);
  vg_fpset_release(&s);
  assert_int_equal(stored_fps(st, 2, a0, a0 + 60, &s), 1);
  assert_true(vg_fpset_v(&s)[0].t == fb.t && vg_fpset_v(&s)[0].key == fb.key);
  vg_fpset_release(&s);
  assert_int_equal(stored_fps(st, 1, a1, a1 + 60, &s), 1);
  vg_fpset_release(&s);
  assert_int_equal(stored_fps(st, 3, a0, a0 + 60, &s), 0);
  assert_int_equal(stored_fps(st, 1, a0 - 60, a0, &s), 0);
  /* a row that starts at 5 after none: not the window's rows */
  struct vg_fprow bad = {4, a0, a0 + 60, 5, 1, &fb};
  commit_rows(st, 3, &bad, 1, T_S * S);
  assert_int_equal(stored_fps(st, 4, a0, a0 + 60, &s), VG_ECORRUPT);
  assert_int_equal(s.n, 0);
  vg_store_close(st);
  st_rmtree(dir);
}

/* Retention deletes the rows of windows that ended at or before
 * watermark - dedupe_retention_s, oldest first, at most max_deletes per
 * call; with no dedupe retention nothing goes. */
static void retention_deletes_old_fingerprints(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-dupstore-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct vg_store *st = open_store(dir, 3600);
  struct vg_fp f = {T_S * S, 0};
  enum { N = 10 };
  struct vg_fprow rows[N];
  for (int i = 0; i < N; i++) /* windows ending at T + 60 + i * 10 min */
    rows[i] =
        (struct vg_fprow){(uint64_t)i % 3, T_S + i * 600, T_S + i * 600 + 60, 0, 1, &f};
  commit_rows(st, 1, rows, N, T_S * S);
  assert_int_equal(dedupe_rows(st), N);
  size_t deleted = 0;
  int more = 0;
  char err[256];
  /* horizon T + 1860: the windows ending at T + 60, 660, 1260, 1860 go */
  int64_t wm = (T_S + 1860 + 3600) * S;
  assert_int_equal(vg_store_retain(st, wm, 3, 1, &deleted, &more, err, sizeof err), 0);
  assert_int_equal(deleted, 0); /* segments only */
  assert_int_equal(dedupe_rows(st), N - 3);
  assert_true(more);
  assert_int_equal(vg_store_retain(st, wm, 3, 1, &deleted, &more, err, sizeof err), 0);
  assert_int_equal(dedupe_rows(st), N - 4);
  assert_false(more);
  struct vg_fpset s;
  assert_int_equal(stored_fps(st, 0, T_S + 1800, T_S + 1860, &s), 0); /* i = 3 */
  assert_int_equal(stored_fps(st, 1, T_S + 2400, T_S + 2460, &s), 1); /* i = 4 */
  vg_fpset_release(&s);
  vg_store_close(st);
  /* kept forever without a dedupe retention */
  st = open_store(dir, 0);
  assert_int_equal(
      vg_store_retain(st, INT64_MAX / 2, 100, 1, NULL, &more, err, sizeof err), 0);
  assert_int_equal(dedupe_rows(st), N - 4);
  vg_store_close(st);
  st_rmtree(dir);
}

/* ---- the writer over a store, as the daemon runs it ---------------------- */

struct run {
  struct vg_tz *tz;
  struct vg_store *st;
  struct vg_agg *a;
  uint64_t epoch;
};

static int restore_win(const struct vg_wentry *w, void *ctx) {
  struct run *r = ctx;
  if (w->final)
    return 0; /* sealed: the loader finds it */
  return vg_agg_restore_window(r->a, w);
}

static int restore_pos(const struct vg_store_pos *p, void *ctx) {
  struct run *r = ctx;
  vg_agg_restore_position(
      r->a, p->partition,
      (struct vg_part_pos){p->next_offset, p->max_event_ns, p->last_active_ns});
  return 0;
}

/* A writer starting from what the store holds (engine.c ingest_start). */
static int start(struct run *r, const char *dir, uint32_t dedupe_horizon_s) {
  struct vg_agg_opts o = {
      .nworkers = 1,
      .nparts = 1,
      .base_s = 60,
      .ooo_ns = 10 * S,
      .idle_ns = 30 * S,
      .win = {.lateness_s = 120, .retention_s = {0, 0, 0}, .acc = VG_ACC_OPTS_DEFAULT},
      .dedupe_s = dedupe_horizon_s};
  struct vg_store_opts so = {.path = dir, .durability = VG_STORE_SYNC};
  char err[256];
  int rc;
  if ((rc = vg_tz_load("UTC", &r->tz, NULL, 0)) ||
      (rc = vg_store_open(&so, &r->st, err, sizeof err)) ||
      (rc = vg_agg_new(r->tz, &o, 0, &r->a, err, sizeof err)) ||
      (rc = vg_windows_set_loader(vg_agg_writer_windows(r->a), vg_store_window_loader,
                                  r->st)))
    return rc;
  vg_windows_set_fp_loader(vg_agg_writer_windows(r->a), vg_store_fp_loader, r->st);
  struct vg_store_state s;
  if ((rc = vg_store_load(r->st, restore_win, restore_pos, r, &s, err, sizeof err)))
    return rc;
  if (s.watermark_ns != INT64_MIN)
    vg_agg_restore_watermark(r->a, s.watermark_ns);
  r->epoch = s.epoch;
  return 0;
}

static void stop(struct run *r) {
  vg_agg_free(r->a);
  vg_store_close(r->st);
  vg_tz_free(r->tz);
  memset(r, 0, sizeof *r);
}

static int epoch_commit(struct run *r) {
  char err[256];
  int rc = vg_worker_flush(vg_agg_worker(r->a, 0), 2);
  if (rc == 0 && vg_agg_collect(r->a, 2, NULL, NULL) < 0)
    rc = -ENOMEM;
  if (rc == 0)
    rc = st_writer_commit(r->a, r->st, ++r->epoch, "t", 1, NULL, err, sizeof err);
  return rc;
}

static void add1(struct run *r, int64_t off, uint64_t series, int64_t t_s, double v) {
  struct vg_agg_event ev = {
      .series = series, .time_ns = t_s * S, .value = v, .dedupe = 1000};
  assert_int_equal(vg_worker_add(vg_agg_worker(r->a, 0), 0, off, &ev, 1),
                   VG_AGG_ACCEPTED);
}

struct got {
  uint64_t count;
  uint32_t revision;
  int n;
};

static int take(const struct vg_wentry *e, void *ctx) {
  struct got *g = ctx;
  g->count = e->acc.st.count;
  g->revision = e->revision;
  g->n++;
  return 0;
}

static struct got stored_window(struct vg_store *st, uint64_t series, uint8_t res,
                                int64_t start) {
  struct vg_store_reader *rd;
  struct got g = {0};
  char err[256];
  assert_int_equal(vg_store_reader_begin(st, &rd), 0);
  assert_int_equal(
      vg_store_read_range(rd, series, res, start, start + 1, take, &g, err, sizeof err),
      0);
  vg_store_reader_end(rd);
  return g;
}

/* After a restart, copies of committed readings are dropped: one of an
 * open window restored at start, one of a final window that only the
 * store holds (loaded to be revised: no revision, for nothing changed);
 * a set that stayed idle leaves memory and is loaded again for the next
 * copy. */
static void restart_finds_committed_readings(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-dupstore-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct run r = {0};
  assert_int_equal(start(&r, dir, 0), 0);
  add1(&r, 0, 7, T_S - 600, 1); /* final at once: the watermark is T - 9 s */
  add1(&r, 1, 7, T_S, 2);
  add1(&r, 2, 7, T_S + 1, 3);
  assert_int_equal(epoch_commit(&r), 0);
  const struct vg_windows *w = vg_agg_windows(r.a);
  assert_null(vg_windows_get(w, 7, VG_RES_BASE, T_S - 600)); /* sealed, evicted */
  stop(&r);

  assert_int_equal(start(&r, dir, 0), 0);
  w = vg_agg_windows(r.a);
  assert_non_null(vg_windows_get(w, 7, VG_RES_BASE, T_S)); /* restored */
  add1(&r, 3, 7, T_S, 2);                                  /* copy: open window */
  add1(&r, 4, 7, T_S - 600, 1); /* copy: final window in the store only */
  add1(&r, 5, 7, T_S + 2, 4);   /* new */
  assert_int_equal(epoch_commit(&r), 0);
  assert_int_equal(w->c.duplicates, 2);
  assert_int_equal(w->c.aggregated, 1);
  assert_int_equal(w->c.revisions, 0);
  struct got g = stored_window(r.st, 7, VG_RES_BASE, T_S);
  assert_true(g.n == 1 && g.count == 3);
  g = stored_window(r.st, 7, VG_RES_BASE, T_S - 600);
  assert_true(g.n == 1 && g.count == 1 && g.revision == 0);
  struct vg_fpset s;
  assert_int_equal(stored_fps(r.st, 7, T_S, T_S + 60, &s), 3);
  vg_fpset_release(&s);

  /* idle: after enough commits without a lookup, the sets leave memory */
  for (int k = 0; k < 2 * VG_FP_IDLE_CLEANS; k++)
    assert_int_equal(epoch_commit(&r), 0);
  uint32_t nsets = 1;
  vg_windows_fp_bytes(w, &nsets, NULL);
  assert_int_equal(nsets, 0);
  add1(&r, 6, 7, T_S + 2, 4); /* copy of the last new one */
  assert_int_equal(epoch_commit(&r), 0);
  assert_int_equal(w->c.duplicates, 3);
  vg_windows_fp_bytes(w, &nsets, NULL);
  assert_int_equal(nsets, 1);
  g = stored_window(r.st, 7, VG_RES_BASE, T_S);
  assert_true(g.n == 1 && g.count == 3);
  g = stored_window(r.st, 7, VG_RES_HOUR, T_S);
  assert_true(g.n == 1 && g.count == 3);
  g = stored_window(r.st, 7, VG_RES_DAY, T_S - 12 * 3600);
  assert_true(g.n == 1 && g.count == 4 && g.revision == 0);
  stop(&r);
  st_rmtree(dir);
}

/* ---- kill -9 ------------------------------------------------------------- */

/* The stream, a function of the offset: 5 series, a reading each every
 * second; offset o with o % 4 == 0 re-sends offset o - 7 (a copy in the
 * same or the next epoch), and o % 50 == 3 re-sends o - 1503 (its window
 * long final and evicted: loaded from the store). */
#define PER_EPOCH 50

static int copy_of(int64_t o, int64_t *orig) {
  if (o >= 7 && o % 4 == 0) {
    *orig = o - 7;
    return 1;
  }
  if (o >= 1503 && o % 50 == 3) {
    *orig = o - 1503;
    return 1;
  }
  return 0;
}

/* The reading at offset o (following copies to their original). */
static void reading(int64_t o, uint64_t *series, int64_t *t_s, double *v) {
  int64_t orig;
  while (copy_of(o, &orig))
    o = orig;
  *series = 100 + (uint64_t)(o % 5);
  *t_s = T_S + o / 5;
  *v = (double)(o % 97);
}

static void crash_child(const char *dir, int fd) {
  struct run r = {0};
  if (start(&r, dir, 0))
    _exit(3);
  int64_t off = vg_agg_position(r.a, 0).next_offset;
  if (off < 0)
    off = 0;
  for (;;) {
    for (int i = 0; i < PER_EPOCH; i++, off++) {
      uint64_t series;
      int64_t t;
      double v;
      reading(off, &series, &t, &v);
      struct vg_agg_event ev = {
          .series = series, .time_ns = t * S, .value = v, .dedupe = 1000};
      if (vg_worker_add(vg_agg_worker(r.a, 0), 0, off, &ev, 1) != VG_AGG_ACCEPTED)
        _exit(4);
    }
    if (epoch_commit(&r))
      _exit(5);
    if (write(fd, &off, sizeof off) != sizeof off)
      _exit(6);
  }
}

struct verify {
  struct vg_store *st;
  int64_t upto;   /* the committed next offset */
  uint64_t *want; /* per (series, minute since T): unique readings below upto */
  int bad, nwin;
  uint64_t total;
};

#define MINUTES 400

static int check_base(const struct vg_wentry *e, void *ctx) {
  struct verify *c = ctx;
  int64_t m = (e->start - T_S) / 60;
  uint64_t want = m >= 0 && m < MINUTES ? c->want[(e->series - 100) * MINUTES + m] : 0;
  struct vg_fpset s;
  vg_fpset_init(&s);
  int rc = vg_store_fp_loader(c->st, e->series, e->start, e->end, &s);
  if (e->acc.st.count != want || rc < 0 || s.n != e->acc.st.count || e->revision != 0) {
    if (c->bad++ < 5)
      print_message(
          "series %llu minute %lld: %llu readings, %u fingerprints, revision %u; "
          "want %llu\n",
          (unsigned long long)e->series, (long long)m,
          (unsigned long long)e->acc.st.count, s.n, e->revision,
          (unsigned long long)want);
  }
  vg_fpset_release(&s);
  c->nwin++;
  c->total += e->acc.st.count;
  return 0;
}

static int check_hour(const struct vg_wentry *e, void *ctx) {
  struct verify *c = ctx;
  c->total += e->acc.st.count;
  return 0;
}

/* Every base window of the committed store: exactly the unique readings
 * below the committed offset, as many fingerprints, never revised (a copy
 * changes nothing); the hours hold the same readings. Returns the offset. */
static int64_t verify(const char *dir) {
  struct verify c = {0};
  c.st = open_store(dir, 0);
  struct vg_store_reader *rd;
  assert_int_equal(vg_store_reader_begin(c.st, &rd), 0);
  struct vg_store_pos p;
  int rc = vg_store_position(rd, "t", 0, &p);
  c.upto = rc == 0 ? p.next_offset : 0;
  c.want = calloc(5 * MINUTES, sizeof *c.want);
  uint64_t unique = 0;
  for (int64_t o = 0, orig; o < c.upto; o++)
    if (!copy_of(o, &orig)) {
      uint64_t series;
      int64_t t;
      double v;
      reading(o, &series, &t, &v);
      assert_true((t - T_S) / 60 < MINUTES);
      c.want[(series - 100) * MINUTES + (t - T_S) / 60]++;
      unique++;
    }
  char err[256];
  for (uint64_t s = 100; s < 105; s++)
    assert_int_equal(vg_store_read_range(rd, s, VG_RES_BASE, T_S, T_S + MINUTES * 60,
                                         check_base, &c, err, sizeof err),
                     0);
  assert_int_equal(c.bad, 0);
  assert_int_equal(c.total, unique);
  c.total = 0;
  for (uint64_t s = 100; s < 105; s++)
    assert_int_equal(vg_store_read_range(rd, s, VG_RES_HOUR, T_S - 3600, T_S + 86400,
                                         check_hour, &c, err, sizeof err),
                     0);
  assert_int_equal(c.total, unique);
  vg_store_reader_end(rd);
  vg_store_close(c.st);
  free(c.want);
  return c.upto;
}

static void kill9_keeps_windows_and_fingerprints_together(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-dupcrash-XXXXXX";
  assert_non_null(mkdtemp(dir));
  uint64_t rng = st_seed();
  int64_t upto = 0;
  for (int round = 0; round < 12; round++) {
    int fd;
    pid_t pid = st_fork_reporter(&fd);
    if (pid == 0)
      crash_child(dir, fd);
    int64_t k, last = upto;
    int want = 4 + (int)(st_rng(&rng) % 9);
    for (int i = 0; i < want; i++) {
      assert_int_equal(read(fd, &k, sizeof k), sizeof k);
      last = k;
    }
    st_reap(pid, &rng, 4000000, 1);
    while (read(fd, &k, sizeof k) == sizeof k)
      last = k;
    close(fd);
    upto = verify(dir);
    /* what the child reported is durable; the epoch in flight may be too */
    assert_true(upto == last || upto == last + PER_EPOCH);
  }
  print_message("12 kills, %lld readings committed\n", (long long)upto);
  assert_true(upto > 1503); /* copies of evicted windows were met */
  st_rmtree(dir);
}

int vg_test_store_dedupe(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fingerprints_round_trip),
      cmocka_unit_test(retention_deletes_old_fingerprints),
      cmocka_unit_test(restart_finds_committed_readings),
      cmocka_unit_test(kill9_keeps_windows_and_fingerprints_together),
  };
  return cmocka_run_group_tests_name("store_dedupe", tests, NULL, NULL);
}
