/*
 * Helpers shared by the store tests: windows built from values, a small
 * deterministic generator, temporary directories and window comparison at
 * the precision a segment keeps.
 */
#ifndef VIGIE_TEST_STORETEST_H
#define VIGIE_TEST_STORETEST_H

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "vigie/acc.h"
#include "vigie/calendar.h"
#include "vigie/store.h"
#include "vigie/window.h"
#include "vigie/worker.h"
#include "vigie/wtable.h"

static inline uint64_t st_rng(uint64_t *s) {
  *s += 0x9e3779b97f4a7c15ULL;
  uint64_t z = *s;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* A window of series/res [start, start+len) holding n readings of a regular
 * sensor (one every len/n seconds, values with one decimal, around base). */
static inline void st_window(struct vg_wentry *w, uint64_t series, uint8_t res,
                             int64_t start, int64_t len, int n, double base,
                             const struct vg_acc_opts *o, uint64_t *rng) {
  memset(w, 0, sizeof *w);
  w->series = series;
  w->res = res;
  w->start = start;
  w->end = start + len;
  w->final = 1;
  vg_acc_init(&w->acc);
  for (int i = 0; i < n; i++) {
    double v = round((base + (double)(st_rng(rng) % 100) / 10.0) * 10) / 10;
    int64_t t = (start + (int64_t)i * len / n) * 1000000000LL;
    if (vg_acc_add(&w->acc, o, t, v, 1, st_rng(rng) % 50) != 0)
      abort();
  }
}

/* Equal at the precision of a segment: exact count/min/max/first/last,
 * sum and M2 as single doubles, sketches identical. */
static inline int st_same(const struct vg_wentry *a, const struct vg_wentry *b) {
  if (a->series != b->series || a->res != b->res || a->start != b->start ||
      a->end != b->end || a->revision != b->revision)
    return 0;
  const struct vg_acc *x = &a->acc, *y = &b->acc;
  if (x->st.count != y->st.count)
    return 0;
  if (!x->st.count)
    return 1;
  if (x->st.min != y->st.min || x->st.max != y->st.max ||
      memcmp(&(double){vg_stats_sum(&x->st)}, &(double){vg_stats_sum(&y->st)}, 8) ||
      memcmp(&(double){vg_stats_m2(&x->st)}, &(double){vg_stats_m2(&y->st)}, 8) ||
      x->fl.first_t != y->fl.first_t || x->fl.last_t != y->fl.last_t ||
      x->fl.first_v != y->fl.first_v || x->fl.last_v != y->fl.last_v)
    return 0;
  if (!x->qs != !y->qs || (x->qs && !vg_ddsketch_equal(x->qs, y->qs)))
    return 0;
  if (!x->hll != !y->hll || (x->hll && !vg_hll_equal(x->hll, y->hll)))
    return 0;
  return 1;
}

static inline int st_rm(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

static inline void st_rmtree(const char *dir) {
  nftw(dir, st_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The daemon's writer, as the tests run it: commits a's dirty windows
 * (provisional ones to `open`, final ones sealed and let go), the new
 * fingerprints of dedupe sources and the positions of partitions
 * [0, nparts) of topic as epoch `epoch`, then cleans and evicts the final
 * windows. vg_store_commit's code (err says why);
 * *evicted (may be NULL) counts the windows evicted from memory. */
static inline int st_writer_commit(struct vg_agg *a, struct vg_store *st, uint64_t epoch,
                                   const char *topic, uint32_t nparts, size_t *evicted,
                                   char *err, size_t errsize) {
  struct vg_windows *ww = vg_agg_writer_windows(a);
  uint32_t nd = vg_windows_ndirty(ww);
  const struct vg_wentry **open = malloc((nd + 1) * sizeof *open);
  const struct vg_wentry **sealed = malloc((nd + 1) * sizeof *sealed);
  struct vg_store_wkey *ev = malloc((nd + 1) * sizeof *ev);
  struct vg_store_pos *pos = malloc((nparts + 1) * sizeof *pos);
  uint32_t nf = vg_windows_nfpdirty(ww);
  struct vg_fprow *fps = malloc((nf + 1) * sizeof *fps);
  int rc = -ENOMEM;
  if (open && sealed && ev && pos && fps) {
    for (uint32_t i = 0; i < nf; i++)
      fps[i] = vg_windows_fprow(ww, i);
    size_t no = 0, ns = 0;
    for (uint32_t i = 0; i < nd; i++) {
      const struct vg_wentry *w = vg_windows_dirty_at(ww, i);
      if (w->final) {
        sealed[ns] = w;
        ev[ns++] = (struct vg_store_wkey){w->series, w->res, w->start};
      } else {
        open[no++] = w;
      }
    }
    for (uint32_t p = 0; p < nparts; p++) {
      struct vg_part_pos pp = vg_agg_position(a, p);
      pos[p] = (struct vg_store_pos){topic, p, pp.next_offset, pp.max_event_ns,
                                     pp.last_active_ns};
    }
    struct vg_store_epoch ep = {.epoch = epoch,
                                .open = open,
                                .nopen = no,
                                .sealed = sealed,
                                .nsealed = ns,
                                .evict = ev,
                                .nevict = ns,
                                .pos = pos,
                                .npos = nparts,
                                .watermark_ns = vg_agg_watermark(a),
                                .fps = fps,
                                .nfps = nf};
    rc = vg_store_commit(st, &ep, err, errsize);
  }
  free(fps);
  free(open);
  free(sealed);
  free(ev);
  free(pos);
  if (rc)
    return rc;
  vg_windows_clean(ww);
  uint32_t n = vg_windows_evict_final(ww);
  if (evicted)
    *evicted += n;
  return 0;
}

/* The seed of a randomized test: $VIGIE_TEST_SEED, or else the time, printed
 * so that a failing run can be replayed. */
static inline uint64_t st_seed(void) {
  const char *seed = getenv("VIGIE_TEST_SEED");
  uint64_t rng = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
  print_message("seed %llu (VIGIE_TEST_SEED replays it)\n", (unsigned long long)rng);
  return rng;
}

/* fork() with a pipe for the child's 8-byte reports: the child (0 returned)
 * gets the write end in *fd, the parent the child's pid and the read end. */
static inline pid_t st_fork_reporter(int *fd) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  close(fds[pid == 0 ? 0 : 1]);
  *fd = fds[pid == 0 ? 1 : 0];
  return pid;
}

/* Waits for the child pid and returns its wait status. With kill_after_ns
 * > 0 the child is first sent SIGKILL after a random pause below
 * kill_after_ns; with must_die it must have died of that signal. */
static inline int st_reap(pid_t pid, uint64_t *rng, long kill_after_ns, int must_die) {
  if (kill_after_ns > 0) {
    struct timespec ts = {0, (long)(st_rng(rng) % (uint64_t)kill_after_ns)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (must_die)
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  return status;
}

/* Windows read from the store compared with a reference engine's: exact
 * counts, min and max (and revisions, with `revisions`), sums within tol. */
struct st_ref_ctx {
  const struct vg_windows *ref;
  size_t n, bad;
  double tol;
  int revisions;
};

static inline int st_against_reference(const struct vg_wentry *w, void *ctx) {
  struct st_ref_ctx *c = ctx;
  const struct vg_wentry *m =
      vg_windows_get(c->ref, w->series, (enum vg_res)w->res, w->start);
  c->n++;
  if (!m || (c->revisions && m->revision != w->revision) ||
      m->acc.st.count != w->acc.st.count || m->acc.st.min != w->acc.st.min ||
      m->acc.st.max != w->acc.st.max ||
      vg_rel_diff(vg_stats_sum(&m->acc.st), vg_stats_sum(&w->acc.st)) > c->tol) {
    if (c->bad++ < 5)
      print_message("window series %llu res %u start %lld: rev %u/%u count %llu/%llu\n",
                    (unsigned long long)w->series, w->res, (long long)w->start,
                    m ? m->revision : 0, w->revision,
                    m ? (unsigned long long)m->acc.st.count : 0ULL,
                    (unsigned long long)w->acc.st.count);
  }
  return 0;
}

/* Reads the windows of series 1..nser at every resolution, starts in
 * [from_s, to_s), through cb; every read must succeed. */
static inline void st_read_series(struct vg_store_reader *r, uint64_t nser,
                                  int64_t from_s, int64_t to_s,
                                  int (*cb)(const struct vg_wentry *, void *),
                                  void *ctx) {
  char err[256];
  for (uint64_t id = 1; id <= nser; id++)
    for (uint8_t res = 0; res < 3; res++)
      assert_int_equal(
          vg_store_read_range(r, id, res, from_s, to_s, cb, ctx, err, sizeof err), 0);
}

/* Options of an engine of one worker over nparts partitions as the store
 * tests run it: minute base windows, 10 s out of order, windows idle after
 * idle_ns, lateness_s of lateness and ten years of retention. */
static inline struct vg_agg_opts st_agg_opts(uint32_t nparts, int64_t idle_ns,
                                             int64_t lateness_s) {
  return (struct vg_agg_opts){
      .nworkers = 1,
      .nparts = nparts,
      .base_s = 60,
      .ooo_ns = 10 * 1000000000LL,
      .idle_ns = idle_ns,
      .win = {.lateness_s = lateness_s,
              .retention_s = {3650LL * 86400, 3650LL * 86400, 3650LL * 86400},
              .acc = VG_ACC_OPTS_DEFAULT}};
}

#endif
