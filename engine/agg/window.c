/*
 * Open windows with status, revisions and retention (include/vigie/window.h).
 *
 * Every base delta is merged into the resolutions the worker chose for it --
 * base, hour, day, or the coarser ones only once its base window is retired
 * -- so the coarse windows are exact merges of the readings they were given.
 * Finalization is a scan of the table when the watermark passes the
 * earliest pending end; eviction is a batch compaction. Both are per epoch,
 * not per event.
 *
 * The fingerprint sets of dedupe sources (dedupe.h) sit beside the base
 * windows in a table of their own, so that windows of other sources carry
 * nothing for them: every compaction of the windows drops the sets whose
 * window left, and each clean drops the sets idle for a while (they are
 * in the store, and loaded again at their next lookup).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/window.h"

static const char *const reject_names[VG_AGG_REJECT_MAX] = {
    [VG_AGG_ACCEPTED] = "accepted",
    [VG_AGG_REJECT_RETENTION] = "older than the retention horizon",
    [VG_AGG_REJECT_NONFINITE] = "value is not a finite number",
};

const char *vg_agg_reject_name(enum vg_agg_reject r) {
  return (unsigned)r < VG_AGG_REJECT_MAX ? reject_names[r] : "unknown";
}

int vg_windows_init(struct vg_windows *w, const struct vg_tz *tz, int64_t base_s,
                    const struct vg_window_opts *opts) {
  int rc = vg_calendar_init(&w->cal, tz, base_s);
  if (rc)
    return rc;
  w->opts = *opts;
  vg_wtable_init(&w->t);
  w->watermark_ns = INT64_MIN;
  w->c = (struct vg_window_counters){0};
  w->min_open_end = INT64_MAX;
  for (int r = 0; r < 3; r++)
    w->min_end[r] = INT64_MAX;
  w->pending_emit = 0;
  w->dirty = NULL;
  w->ndirty = w->capdirty = 0;
  w->load = NULL;
  w->load_ctx = NULL;
  w->coarse_mask = (1u << 15) - 1;
  w->coarse = calloc((size_t)w->coarse_mask + 1, sizeof *w->coarse); /* optional */
  w->gen = 1; /* the zeroed cache entries are stale */
  w->fps = NULL;
  w->fpload = NULL;
  w->fpload_ctx = NULL;
  return 0;
}

void vg_windows_release(struct vg_windows *w) {
  vg_wtable_release(&w->t);
  free(w->dirty);
  w->dirty = NULL;
  w->ndirty = w->capdirty = 0;
  free(w->coarse);
  w->coarse = NULL;
  if (w->fps) {
    vg_fpsets_release(w->fps);
    free(w->fps);
    w->fps = NULL;
  }
}

static int passed(const struct vg_windows *w, int64_t end);
static int reserve_dirty(struct vg_windows *w);

int vg_windows_set_loader(struct vg_windows *w, vg_window_loader load, void *ctx) {
  w->load = load;
  w->load_ctx = ctx;
  return reserve_dirty(w);
}

/* The dirty list has room for every entry of the table, reserved when an
 * entry is inserted, so that marking a window dirty cannot fail. */
static int reserve_dirty(struct vg_windows *w) {
  if (!w->load || w->capdirty >= w->t.n)
    return 0;
  uint32_t cap = w->t.cap > w->t.n ? w->t.cap : w->t.n;
  uint32_t *d = realloc(w->dirty, (size_t)cap * sizeof *d);
  if (!d)
    return -ENOMEM;
  w->dirty = d;
  w->capdirty = cap;
  return 0;
}

static void mark_dirty(struct vg_windows *w, struct vg_wentry *e) {
  if (e->dirty)
    return;
  assert(w->ndirty < w->capdirty);
  w->dirty[w->ndirty++] = (uint32_t)(e - w->t.e);
  e->dirty = 1;
}

struct fp_idle_ctx {
  uint32_t gen; /* the table's, after this clean */
  int64_t wm_s; /* the watermark, seconds (INT64_MIN: none yet) */
};

/* Not used since the previous clean, and either its window is behind the
 * watermark (what comes now is late or a copy) or it has been idle long. */
static int fp_idle(const struct vg_fpent *f, void *ctx) {
  const struct fp_idle_ctx *c = ctx;
  uint32_t idle = c->gen - f->used; /* 1: used in the epoch just committed */
  return idle >= 2 && (f->end <= c->wm_s || idle >= VG_FP_IDLE_CLEANS);
}

void vg_windows_clean(struct vg_windows *w) {
  for (uint32_t i = 0; i < w->ndirty; i++) {
    w->t.e[w->dirty[i]].dirty = 0;
    w->t.e[w->dirty[i]].stored = 1;
  }
  w->ndirty = 0;
  struct vg_fpsets *t = w->fps;
  if (!t)
    return;
  for (uint32_t i = 0; i < t->ndirty; i++) {
    struct vg_fpent *f = &t->e[t->dirty[i]];
    f->saved = f->s.n;
    f->dirty = 0;
  }
  t->ndirty = 0;
  t->gen++;
  /* what is idle is in the store and can leave */
  if (w->fpload && t->n) {
    struct fp_idle_ctx c = {t->gen, w->watermark_ns == INT64_MIN
                                        ? INT64_MIN
                                        : vg_floor_div(w->watermark_ns, 1000000000)};
    vg_fpsets_drop(t, fp_idle, &c);
  }
}

static int fp_window_gone(const struct vg_fpent *f, void *ctx) {
  const struct vg_windows *w = ctx;
  return !vg_wtable_find(&w->t, f->series, VG_RES_BASE, f->start);
}

/* After a compaction of the windows: the sets of base windows that left. */
static void fp_follow_windows(struct vg_windows *w) {
  if (w->fps && w->fps->n)
    vg_fpsets_drop(w->fps, fp_window_gone, w);
}

static inline void note_end(struct vg_windows *w, const struct vg_wentry *e) {
  if (e->end < w->min_end[e->res])
    w->min_end[e->res] = e->end;
}

/* After a compaction that moved entries: the cached indices are stale. At
 * the wrap of the generation the cache is emptied, so that no entry filled
 * 2^32 compactions ago looks current. */
static void entries_moved(struct vg_windows *w) {
  if (++w->gen == 0) {
    if (w->coarse)
      memset(w->coarse, 0, ((size_t)w->coarse_mask + 1) * sizeof *w->coarse);
    w->gen = 1;
  }
}

/* A compaction of the windows (vg_wtable_compact) that drops those for
 * which drop(entry, ctx) is non-zero, and on the same pass rebuilds what
 * the survivors' new places change -- the dirty list and the lowest ends --
 * instead of more passes over a table of millions of windows after it
 * (they were a tenth of a memory-limited drain's CPU: that drain compacts
 * after every commit). Returns the windows dropped. */
struct compact_pass {
  struct vg_windows *w;
  int (*drop)(const struct vg_wentry *, void *);
  void *ctx;
  uint32_t kept;
  int64_t min_open;
};

static int compact_visit(const struct vg_wentry *e, void *ctx) {
  struct compact_pass *cp = ctx;
  if (cp->drop(e, cp->ctx))
    return 1;
  struct vg_windows *w = cp->w;
  if (e->dirty)
    w->dirty[w->ndirty++] = cp->kept; /* set only with a loader, which has the list */
  note_end(w, e);
  if (!e->final && e->end < cp->min_open)
    cp->min_open = e->end;
  cp->kept++;
  return 0;
}

static uint32_t compact(struct vg_windows *w,
                        int (*drop)(const struct vg_wentry *, void *), void *ctx) {
  uint32_t before = w->t.n;
  struct compact_pass cp = {w, drop, ctx, 0, INT64_MAX};
  w->ndirty = 0;
  for (int r = 0; r < 3; r++)
    w->min_end[r] = INT64_MAX;
  vg_wtable_compact(&w->t, compact_visit, &cp);
  w->min_open_end = cp.min_open;
  if (w->t.n != before) {
    entries_moved(w);
    fp_follow_windows(w);
  }
  return before - w->t.n;
}

static int final_and_clean(const struct vg_wentry *e, void *ctx) {
  (void)ctx;
  return e->final && !e->dirty && !e->emit;
}

uint32_t vg_windows_evict_final(struct vg_windows *w) {
  return compact(w, final_and_clean, NULL);
}

int vg_windows_restore(struct vg_windows *w, const struct vg_wentry *src) {
  if (vg_wtable_find(&w->t, src->series, src->res, src->start))
    return -EEXIST;
  struct vg_wentry *e;
  int rc = vg_wtable_get(&w->t, src->series, src->res, src->start, src->end, &e);
  if (rc == 0)
    rc = reserve_dirty(w);
  if (rc == 0)
    rc = vg_acc_merge(&e->acc, &src->acc, &w->opts.acc);
  if (rc)
    return rc;
  e->final = src->final;
  e->revision = src->revision;
  e->stored = 1;
  if (!e->final && e->end < w->min_open_end)
    w->min_open_end = e->end;
  note_end(w, e);
  return 0;
}

/* A window not in memory that is already final may be in the store: load it
 * so that the delta revises the stored state instead of replacing it. */
static int get_window(struct vg_windows *w, uint64_t series, uint8_t res,
                      struct vg_span s, struct vg_wentry **out) {
  struct vg_wentry *e = vg_wtable_find(&w->t, series, res, s.start);
  if (e) {
    *out = e;
    return 0;
  }
  int rc = vg_wtable_get(&w->t, series, res, s.start, s.end, &e);
  if (rc == 0)
    rc = reserve_dirty(w);
  if (rc)
    return rc;
  if (w->load && passed(w, s.end)) {
    rc = w->load(w->load_ctx, series, res, s.start, e);
    if (rc < 0)
      return rc;
    if (rc == 1) {
      e->final = 1; /* it was sealed; its revision came with it */
      e->stored = 1;
    }
  }
  *out = e;
  return 0;
}

/* The horizon of resolution res in seconds: its windows ending at or before
 * it are out of memory (INT64_MIN: none, the resolution is kept forever). */
static int64_t horizon_s(const struct vg_windows *w, int res) {
  if (w->watermark_ns == INT64_MIN || w->opts.retention_s[res] == 0)
    return INT64_MIN;
  return vg_floor_div(w->watermark_ns, 1000000000) - w->opts.retention_s[res];
}

int vg_windows_merge(struct vg_windows *w, uint64_t series, int64_t start, int64_t end,
                     unsigned into, const struct vg_acc *delta, int *revised) {
  /* the worker decided where the delta goes; nothing is rejected here */
  assert(into != 0 && (into & ~VG_INTO_ALL) == 0);
  int rev = 0;
  if (revised)
    *revised = 0;
  if (delta->st.count == 0) /* nothing to merge: no empty windows */
    return 0;
  struct vg_wcoarse *c = w->coarse ? &w->coarse[series & w->coarse_mask] : NULL;
  if (c && (c->series != series || c->gen != w->gen))
    *c = (struct vg_wcoarse){series, w->gen, {UINT32_MAX, UINT32_MAX}};
  for (int r = 0; r < 3; r++) {
    if (!(into & (1u << r)))
      continue;
    struct vg_wentry *e = NULL;
    if (r > 0 && c && c->at[r - 1] < w->t.n) {
      /* entries move only in compactions (gen); only windows with the
       * calendar's own span are cached, and those tile time: the one
       * holding start is start's */
      struct vg_wentry *x = &w->t.e[c->at[r - 1]];
      if (x->series == series && x->res == r && x->start <= start && start < x->end)
        e = x;
    }
    int rc = 0;
    if (!e) {
      struct vg_span s = r == 0   ? (struct vg_span){start, end}
                         : r == 1 ? vg_calendar_hour(&w->cal, start)
                                  : vg_calendar_day(&w->cal, start);
      rc = get_window(w, series, (uint8_t)r, s, &e);
      /* a window from the store may have another span (the time zone or
       * its rules changed since): found by its start, never cached */
      if (rc == 0 && r > 0 && c && e->start == s.start && e->end == s.end)
        c->at[r - 1] = (uint32_t)(e - w->t.e);
    }
    if (rc == 0)
      rc = vg_acc_merge(&e->acc, delta, &w->opts.acc);
    if (rc == 0 && w->load)
      mark_dirty(w, e);
    if (rc)
      return rc;
    if (e->final) {
      /* one revision per emission: a window already waiting to be
       * re-emitted carries this change in the same revision */
      if (!e->emit) {
        e->revision++;
        e->emit = 1;
        w->c.revisions++;
        w->pending_emit = 1;
      }
      rev = 1;
    } else if (e->end < w->min_open_end) {
      w->min_open_end = e->end;
    }
    note_end(w, e);
  }
  if (revised)
    *revised = rev;
  return 0;
}

struct horizon {
  int64_t h[3];
  int keep_dirty;
};

/* Past the horizon of its resolution, and (when persisting) committed: a
 * window whose change is not in the store yet stays until it is. */
static int past_horizon(const struct vg_wentry *e, void *ctx) {
  const struct horizon *hz = ctx;
  return e->end <= hz->h[e->res] && !(hz->keep_dirty && (e->dirty || e->emit));
}

/* watermark > end + lateness, compared in seconds so that no product can
 * overflow: wm > X * 1e9 <=> floor((wm - 1) / 1e9) >= X for an integer X */
static int passed(const struct vg_windows *w, int64_t end) {
  return w->watermark_ns != INT64_MIN && end != INT64_MAX &&
         vg_floor_div(w->watermark_ns - 1, 1000000000) >= end + w->opts.lateness_s;
}

size_t vg_windows_advance(struct vg_windows *w, int64_t watermark_ns,
                          void (*emit)(const struct vg_wentry *, void *), void *ctx) {
  if (watermark_ns > w->watermark_ns)
    w->watermark_ns = watermark_ns;
  size_t emitted = 0;
  if (passed(w, w->min_open_end) || w->pending_emit) {
    int64_t min_open = INT64_MAX;
    for (uint32_t k = 0; k < w->t.n; k++) {
      struct vg_wentry *e = &w->t.e[k];
      if (!e->final) {
        if (passed(w, e->end)) {
          e->final = 1;
          e->emit = 1;
          w->c.finalized++;
          if (w->load)
            mark_dirty(w, e);
        } else if (e->end < min_open) {
          min_open = e->end;
        }
      }
      if (e->emit) {
        e->emit = 0;
        emitted++;
        if (emit)
          emit(e, ctx);
      }
    }
    w->min_open_end = min_open;
    w->pending_emit = 0;
  }
  struct horizon hz = {{horizon_s(w, 0), horizon_s(w, 1), horizon_s(w, 2)},
                       w->load != NULL};
  int due = 0;
  for (int r = 0; r < 3; r++)
    due |= hz.h[r] != INT64_MIN && w->min_end[r] <= hz.h[r];
  if (due)
    w->c.evicted += compact(w, past_horizon, &hz);
  return emitted;
}

/* ---- duplicates ---------------------------------------------------------- */

void vg_windows_set_fp_loader(struct vg_windows *w, vg_fpset_loader load, void *ctx) {
  w->fpload = load;
  w->fpload_ctx = ctx;
}

int vg_windows_fpset(struct vg_windows *w, uint64_t series, int64_t start, int64_t end,
                     struct vg_fpset **out) {
  if (!w->fps) {
    w->fps = malloc(sizeof *w->fps);
    if (!w->fps)
      return -ENOMEM;
    vg_fpsets_init(w->fps);
  }
  struct vg_fpent *f = vg_fpsets_find(w->fps, series, start);
  if (f) {
    *out = &f->s;
    return vg_fpsets_touch(w->fps, f);
  }
  /* the window first: a final one out of memory is loaded, and whether the
   * store may hold it tells whether it may hold fingerprints of it (a
   * window never committed has none: no lookup) */
  struct vg_wentry *e;
  int rc = get_window(w, series, VG_RES_BASE, (struct vg_span){start, end}, &e);
  if (rc)
    return rc;
  int stored = e->stored;
  rc = vg_fpsets_insert(w->fps, series, start, end, &f);
  if (rc)
    return rc;
  if (stored && w->fpload) {
    rc = w->fpload(w->fpload_ctx, series, start, end, &f->s);
    if (rc < 0)
      return rc; /* the set stays empty; fatal to the epoch anyway */
    f->saved = f->s.n;
  }
  *out = &f->s;
  return 0;
}

size_t vg_windows_fp_bytes(const struct vg_windows *w, uint32_t *nsets, uint64_t *nfps) {
  uint64_t n = 0;
  if (w->fps)
    for (uint32_t k = 0; k < w->fps->n; k++)
      n += w->fps->e[k].s.n;
  if (nsets)
    *nsets = w->fps ? w->fps->n : 0;
  if (nfps)
    *nfps = n;
  return w->fps ? vg_fpsets_bytes(w->fps) : 0;
}
