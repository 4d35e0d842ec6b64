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
      memcmp(&(double){vg_stats_m2(&x->st)}, &(double){vg_stats_m2(&y->st)}, 8) || x->fl.first_t != y->fl.first_t ||
      x->fl.last_t != y->fl.last_t || x->fl.first_v != y->fl.first_v ||
      x->fl.last_v != y->fl.last_v)
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
    struct vg_store_epoch ep = {.epoch = epoch, .open = open, .nopen = no, .sealed = sealed,
                                .nsealed = ns, .evict = ev, .nevict = ns, .pos = pos,
                                .npos = nparts, .watermark_ns = vg_agg_watermark(a),
                                .fps = fps, .nfps = nf};
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

#endif
