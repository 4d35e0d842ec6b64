/*
 * The open windows of every series at every resolution, with their status:
 * what the single writer keeps between epochs (in memory here; the store
 * module persists it).
 *
 * Deltas arrive per (series, base window) -- the workers' epoch tables --
 * each with the set of resolutions its readings go into, decided once by
 * the worker (worker.h, "Late readings"): the writer merges a delta into
 * exactly those windows -- its base window, its clock hour and its local
 * day (calendar.h), by the same exact merge -- and never re-decides or
 * rejects anything. A window is provisional until the global watermark
 * passes end + lateness; it then becomes final and is emitted once. A delta
 * for a final window still counts: the window is marked for re-emission,
 * and its revision goes up by one per emission, however many deltas
 * changed it in between (a backfill of 60 minutes into one final hour is
 * one revision, not 60). Windows of a resolution whose end passes that
 * resolution's retention horizon (global watermark - retention, when the
 * retention is not 0 = forever) are evicted from memory after emission; that
 * only decides what memory holds (the store holds the rest).
 *
 * Not thread-safe: owned by the writer thread.
 */
#ifndef VIGIE_WINDOW_H
#define VIGIE_WINDOW_H

#include <stdint.h>

#include "vigie/acc.h"
#include "vigie/calendar.h"
#include "vigie/dedupe.h"
#include "vigie/wtable.h"

/* Why events were not aggregated (counters are indexed by it). Running out
 * of memory is not a reason: it is an error (-ENOMEM), fatal to the epoch. */
enum vg_agg_reject {
  VG_AGG_ACCEPTED = 0,
  VG_AGG_REJECT_RETENTION, /* no resolution retains its time any more */
  VG_AGG_REJECT_NONFINITE, /* value is NaN or infinite */
  VG_AGG_REJECT_MAX
};

/* The resolutions a reading (a delta) goes into: a set of these bits. */
#define VG_INTO_BASE (1u << VG_RES_BASE)
#define VG_INTO_HOUR (1u << VG_RES_HOUR)
#define VG_INTO_DAY  (1u << VG_RES_DAY)
#define VG_INTO_ALL  (VG_INTO_BASE | VG_INTO_HOUR | VG_INTO_DAY)

/* A static name of a rejection reason ("retention", ...). */
const char *vg_agg_reject_name(enum vg_agg_reject r);

struct vg_window_opts {
  int64_t lateness_s; /* a window is final once watermark > end + lateness */
  /* per resolution (enum vg_res), seconds of event time a window is kept
   * behind the watermark: 0 = forever, else at least lateness_s. The
   * workers decide with it which resolutions a reading goes into (worker.h);
   * the writer evicts from memory the windows past it. */
  int64_t retention_s[3];
  struct vg_acc_opts acc;
};

struct vg_window_counters {
  /* readings merged: the workers accepted them and they were no duplicate
   * (what vigie_events_total counts) */
  uint64_t aggregated;
  uint64_t rejected[VG_AGG_REJECT_MAX]; /* readings, per reason */
  uint64_t finalized;                   /* windows that went final */
  uint64_t revisions;                   /* re-emissions of changed final windows */
  uint64_t evicted;                     /* windows dropped past retention */
  /* dedupe sources (worker.h "Duplicates"): readings dropped as copies of
   * one already counted; readings aggregated with their fingerprint not
   * kept because their base window holds dedupe_max already (a later copy
   * of them would count); readings aggregated unchecked, their base window
   * past the dedupe horizon. Counted once the writer merged their epoch. */
  uint64_t duplicates;
  uint64_t dedupe_full;
  uint64_t dedupe_past;
};

/* Fills *out (its accumulator empty on entry) with the stored state of a
 * window that is no longer in memory: returns 1 when found, 0 when the store
 * has none, or a negative error. */
typedef int (*vg_window_loader)(void *ctx, uint64_t series, uint8_t res, int64_t start,
                                struct vg_wentry *out);

/* Fills *out (empty on entry; on error left empty) with the fingerprints the
 * store holds for base window [start, end) of series (dedupe.h): returns 1
 * when it has some, 0 when none, or a negative error. */
typedef int (*vg_fpset_loader)(void *ctx, uint64_t series, int64_t start, int64_t end,
                               struct vg_fpset *out);

/* The hour and day windows a series merged into last, as entry indices (see
 * vg_windows_merge). */
struct vg_wcoarse {
  uint64_t series;
  uint32_t gen;   /* the table's compaction count when filled */
  uint32_t at[2]; /* hour, day */
};

struct vg_windows {
  struct vg_calendar cal;
  struct vg_window_opts opts;
  struct vg_wtable t;
  int64_t watermark_ns;
  struct vg_window_counters c;
  /* what the next advance has to look at, so an advance that changes
   * nothing costs nothing: the earliest end of a provisional window, the
   * earliest end of any window per resolution, and whether a revision
   * awaits emission */
  int64_t min_open_end, min_end[3];
  int pending_emit;
  /* persistence (vg_windows_set_loader): the indices of dirty entries, and
   * where to find final windows that were evicted after being sealed */
  uint32_t *dirty;
  uint32_t ndirty, capdirty;
  vg_window_loader load;
  void *load_ctx;
  /* a small direct-mapped cache by series of its coarse windows: a base
   * delta's hour and day are nearly always the previous delta's of its
   * series, and finding them through the table's index costs two cache
   * misses per delta once it holds millions of windows. gen counts the
   * compactions, which move entries. NULL if it could not be allocated. */
  struct vg_wcoarse *coarse;
  uint32_t coarse_mask, gen;
  /* dedupe (dedupe.h): the fingerprint sets of base windows, allocated at
   * the first dedupe delta (a deployment without dedupe sources pays
   * nothing), and where a set the table does not hold is loaded from */
  struct vg_fpsets *fps;
  vg_fpset_loader fpload;
  void *fpload_ctx;
};

/* tz is borrowed. Returns 0 or VG_ECONFIG (base_s must divide an hour). */
int vg_windows_init(struct vg_windows *w, const struct vg_tz *tz, int64_t base_s,
                    const struct vg_window_opts *opts);
void vg_windows_release(struct vg_windows *w);

/* Merges the delta of one base window [start, end) of a series into the
 * windows of the resolutions in `into` (VG_INTO_* bits, not empty: the
 * worker's decision) among its base window, its hour and its day; windows
 * not in memory but past their lateness are loaded first (the loader). A
 * final window that changes is marked for re-emission (its revision goes up
 * at most once per emission). Returns 0 (VG_AGG_ACCEPTED) or -ENOMEM, fatal
 * to the epoch (some windows may hold part of the delta). *revised (may be
 * NULL) tells whether a final window changed. */
int vg_windows_merge(struct vg_windows *w, uint64_t series, int64_t start, int64_t end,
                     unsigned into, const struct vg_acc *delta, int *revised);

/* Moves the watermark to watermark_ns (never back), finalizes windows, calls
 * emit(window, ctx) for each window that went final or was revised since the
 * last call (emit may be NULL; a revised window comes with its revision
 * bumped by one), then evicts windows past their resolution's retention
 * horizon. Returns the number of windows emitted. */
size_t vg_windows_advance(struct vg_windows *w, int64_t watermark_ns,
                          void (*emit)(const struct vg_wentry *, void *), void *ctx);

/* ---- persistence (the daemon's writer; see docs/architecture.md "Exactly once") ----
 *
 * Every window a merge or a finalization changes is marked dirty; the writer
 * commits the dirty ones (provisional ones to the store's open table, final
 * ones sealed into segments), then calls vg_windows_clean and
 * vg_windows_evict_final: a final, clean window leaves memory, since the store
 * holds it. A later delta for it (a revision) finds it through the loader,
 * merges into the stored state and bumps its revision. Without a loader,
 * final windows stay in memory until their retention horizon (forever for a
 * resolution kept forever). */
/* 0 or -ENOMEM. */
int vg_windows_set_loader(struct vg_windows *w, vg_window_loader load, void *ctx);
/* The dirty windows: pointers valid until the next merge, restore or
 * eviction. */
static inline uint32_t vg_windows_ndirty(const struct vg_windows *w) {
  return w->ndirty;
}
static inline const struct vg_wentry *vg_windows_dirty_at(const struct vg_windows *w,
                                                          uint32_t i) {
  return &w->t.e[w->dirty[i]];
}
/* The store committed every dirty window (and the new fingerprints of
 * every set listed by vg_windows_fprow): clear the marks, and let the idle
 * sets leave memory (with a fingerprint loader; "duplicates" below). */
void vg_windows_clean(struct vg_windows *w);
/* Drops final windows that are clean and emitted. Returns how many. */
uint32_t vg_windows_evict_final(struct vg_windows *w);
/* Puts back a window reloaded from the store at start (clean). 0, -EEXIST
 * or -ENOMEM. */
int vg_windows_restore(struct vg_windows *w, const struct vg_wentry *src);

/* ---- duplicates (dedupe.h; worker.h "Duplicates") ----
 *
 * Each base window that a dedupe delta reached has a fingerprint set,
 * kept while the window is in memory -- and, with a fingerprint loader,
 * only while it is in use: at each clean, a set not looked up since the
 * previous clean leaves memory once the watermark has passed its window's
 * end (only late readings and copies come after that), or after
 * VG_FP_IDLE_CLEANS cleans anyway; it is loaded again from the store at its
 * next lookup (a re-sent copy, a late reading). A sensor's window gets its
 * reading and no more, a mobility counter's hundreds during its minute: so
 * memory holds the sets of the windows being filled. A set whose base
 * window leaves memory leaves with it. The
 * writer persists the new fingerprints of each set in the same transaction
 * as the windows (vg_windows_fprow), then vg_windows_clean marks them
 * saved. */
#define VG_FP_IDLE_CLEANS 8

/* Where the fingerprints of a base window that the table does not hold are
 * loaded from: asked only for a window the store may hold (its `stored`
 * bit); without a loader such a set starts empty and sets stay in memory
 * as long as their windows. */
void vg_windows_set_fp_loader(struct vg_windows *w, vg_fpset_loader load, void *ctx);
/* The fingerprint set of base window [start, end) of series, from the
 * table, else from the loader (after loading the window itself when it is
 * final and out of memory, as vg_windows_merge would), else empty; listed
 * dirty (vg_windows_fprow). The caller checks readings against it and adds
 * the new ones. The pointer is valid until the next call, merge, clean or
 * eviction. 0 or a negative error (-ENOMEM, a loader's), fatal to the
 * epoch like a merge's. */
int vg_windows_fpset(struct vg_windows *w, uint64_t series, int64_t start, int64_t end,
                     struct vg_fpset **out);
/* The sets looked up since the last clean, and the fingerprints of the
 * i-th of them not in the store yet (row.n may be 0: nothing to write).
 * Pointers valid until the next merge, lookup, clean or eviction. */
static inline uint32_t vg_windows_nfpdirty(const struct vg_windows *w) {
  return w->fps ? w->fps->ndirty : 0;
}
static inline struct vg_fprow vg_windows_fprow(const struct vg_windows *w, uint32_t i) {
  const struct vg_fpent *f = &w->fps->e[w->fps->dirty[i]];
  return (struct vg_fprow){f->series, f->start,          f->end,
                           f->saved,  f->s.n - f->saved, vg_fpset_v(&f->s) + f->saved};
}
/* Bytes held by the fingerprint sets; *nsets and *nfps (may be NULL) get
 * their numbers. */
size_t vg_windows_fp_bytes(const struct vg_windows *w, uint32_t *nsets, uint64_t *nfps);

/* The window of (series, res, start), or NULL. */
static inline const struct vg_wentry *vg_windows_get(const struct vg_windows *w,
                                                     uint64_t series, enum vg_res res,
                                                     int64_t start) {
  return vg_wtable_find(&w->t, series, (uint8_t)res, start);
}

#endif
