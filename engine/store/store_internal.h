/*
 * Private to the store (include/vigie/store.h is its contract): the
 * struct behind vg_store, the keys and rows of its tables, and the vg__
 * functions its files share. The files, by concern:
 *
 *   store.c   open, close, the format 1 migration, map growth, the one
 *             write-transaction helper with its map-full rule, and the
 *             translation of LMDB's codes into ours
 *   rows.c    the rows of meta, open and pos, and naming a series
 *   sort.c    the order of an epoch's windows
 *   commit.c  the epoch commit and blobs
 *   block.c   the rows of `blk` (block.h) and their writing: an epoch's
 *             base windows, evictions, a day's flush into its segment
 *   flush.c   sealing: segments rewritten from pending windows, the flush
 *             boundaries, the budget of a transaction, vg_store_flush
 *   retain.c  retention of segments
 *   dup.c     the fingerprints of dedupe sources (`dup`)
 *   emit.c    the emit log
 *   read.c    the reload at start and the readers
 *
 * Errors: every function here returns 0 or a negative VG code / -errno
 * (vigie/error.h); LMDB's codes are translated by vg__store_err where an
 * LMDB call returns, nowhere else. Inside a write transaction a full map is
 * VG__EMAPFULL, which vg__store_write answers by growing the map; it never
 * leaves the store.
 *
 * Threads: the writer's state (scratch buffers, the block being edited,
 * the resume points, the deferred queue) belongs to the one thread that
 * writes; readers and growth meet under st->lock.
 */
#ifndef VIGIE_STORE_INTERNAL_H
#define VIGIE_STORE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "common/bytes.h"
#include "store/block.h"
#include "vigie/array.h"
#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/store.h"

#define DEFAULT_MAP      (64ULL << 20)
#define DEFAULT_MAP_MAX  (1ULL << 40)
#define DEFAULT_SEAL_MAX 1024
#define WKEY_LEN         17
#define OPEN_VERSION     1
#define OPEN_HDR         14 /* u8 version, u8 flags, u32 revision, i64 end */
#define SERIES_VERSION   1
#define POS_VERSION      1
#define POS_KEY_MAX      (255 + 5) /* topic, 0, u32 partition */
#define EMIT_VERSION     1
#define DUP_VERSION      1
#define DUP_KEY_LEN      20 /* i64 end, u64 series, u32 first */
#define DUP_HAS_KEYS     1

/* The map is full, inside a write transaction (MDB_MAP_FULL): below the
 * project's codes and above LMDB's, and never returned by a vg_store_
 * function (vg__store_write grows the map, or gives VG_EFULL). */
#define VG__EMAPFULL (VG_ERR_BASE - 1)

/* A window's key next to its pointer, so sorting a million open windows
 * compares contiguous keys instead of chasing a pointer per comparison. */
struct okey {
  uint64_t series;
  int64_t start;
  uint8_t res;
  const struct vg_wentry *w;
};

struct vg_store {
  MDB_env *env;
  MDB_dbi meta, series, series_id, open, seg, pos, emit, blk, dup, ind;
  int has_ind; /* 0: a read-only look at a store written before indicators */
  int has_blk; /* 0: a read-only look at a store of format 1 (no blocks yet) */
  int has_dup; /* 0: a read-only look at a store written before dedupe */
  struct vg_store_opts o;
  char *path;
  size_t map_size;
  pthread_mutex_t lock; /* guards readers/growing */
  pthread_cond_t cond;
  unsigned readers; /* active reader snapshots of this process */
  int growing;
  int sparse;              /* the file system cannot reserve disk blocks (reserve_map) */
  struct vg_sbuf scratch;  /* the writer's encoding buffer */
  struct blk be;           /* the writer's block being edited */
  struct vg_sbuf bscratch; /* a block's encoding */
  struct vg_wentry *fw;    /* vg__flush_day's windows */
  size_t cap_fw;
  /* the writer's sort buffers, kept between commits: an epoch of a million
   * windows would otherwise fault in tens of fresh megabytes every time */
  struct okey *okeys, *skeys, *tkeys; /* tkeys: the sort's scratch */
  size_t cap_okeys, cap_skeys, cap_tkeys;
  /* vg_store_flush resumes at this key of `open` */
  uint8_t flush_key[WKEY_LEN];
  int flush_resume;
  /* and at this key of `blk` */
  uint8_t bflush_key[WKEY_LEN];
  int bflush_resume;
  int flush_on_blk; /* vg_store_flush's current pass is over blocks */
  /* the passes (1: `open`, 2: blocks) walked to their end since the last
   * full round, which may take several calls */
  int flush_walked;
  /* retention resumes here between calls: next (series, res) to look at */
  uint64_t ret_series;
  uint8_t ret_res;
  /* segment rewrites left to the current write transaction, and in all */
  size_t seals_left;
  uint64_t seals;
  /* spans due for their segment that a commit had no budget for: a FIFO
   * of (series, res, span start), [dhead, ndef) in use */
  struct vg_store_wkey *deferred;
  size_t dhead, ndef, capdef;
  /* the store vg_store_open returned (shard 0) holds its shards, shard[0]
   * being itself; a shard of its own (or a store of one shard): 1, NULL */
  unsigned nshards;
  struct vg_store **shard;
  int created; /* vg_store_open initialized it (it had no format yet) */
};

/* A snapshot: of one shard, or of every shard of a store (n > 1: sub[k]
 * is shard k's snapshot, sub[0] this one, whose txn is shard 0's). */
struct vg_store_reader {
  struct vg_store *st;
  MDB_txn *txn;
  unsigned n;
  struct vg_store_reader **sub;
};

/* The snapshot of shard k that holds series (r itself with one shard). */
static inline struct vg_store_reader *vg__route(struct vg_store_reader *r,
                                                uint64_t series) {
  return r->n > 1 ? r->sub[vg_store_shard_of(series, r->n)] : r;
}

/* The shard of st that holds series (st itself with one shard). */
static inline struct vg_store *vg__route_store(struct vg_store *st, uint64_t series) {
  return st->nshards > 1 ? st->shard[vg_store_shard_of(series, st->nshards)] : st;
}

/* --- keys ------------------------------------------------------------------ */

/* The key of `open`, `blk` and `seg`: (u64 series, u8 res, i64 time). */
static inline void wkey(uint8_t k[WKEY_LEN], uint64_t series, uint8_t res, int64_t t) {
  be64_put(k, series);
  k[8] = res;
  be64_put(k + 9, i64_key(t));
}

static inline void wkey_get(const uint8_t k[WKEY_LEN], uint64_t *series, uint8_t *res,
                            int64_t *t) {
  *series = be64_get(k);
  *res = k[8];
  *t = i64_unkey(be64_get(k + 9));
}

/* Fetches the 152-byte window w into the cache ahead of its use: the
 * commit walks windows in key order, scattered over the writer's table. */
static inline void prefetch_window(const struct vg_wentry *w) {
  const char *p = (const char *)w;
  __builtin_prefetch(p);
  __builtin_prefetch(p + 64);
  __builtin_prefetch(p + 128);
}

/* --- store.c --------------------------------------------------------------- */

/* LMDB's codes (and the errno values its calls return) to ours: the one
 * place they are translated. */
int vg__store_err(int mdb_rc);
/* A writer's call on a store opened read-only: VG_ECONFIG, with "cannot
 * <what>: the store is read-only" in errstr. */
int vg__store_readonly(const char *what, char *errstr, size_t size);
/* Writes a message into errstr (when size > 0) and returns rc. */
int vg__store_fail(int rc, char *errstr, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* One write transaction: body runs in a fresh write transaction, committed
 * when body returns 0 and aborted otherwise. When the map is full (body or
 * the commit gives VG__EMAPFULL) the map grows and body runs again in a new
 * transaction, as often as the map can grow, the retries counting against
 * no budget of the caller; once it cannot (map_max), *full is set (when not
 * NULL) and the growth's error returns (VG_EFULL at map_max). Otherwise 0
 * or body's error. body must leave no state of its own changed when it
 * fails: it may run again. */
int vg__store_write(struct vg_store *st,
                    int (*body)(struct vg_store *st, MDB_txn *txn, void *arg), void *arg,
                    int *full);
/* A watermark (ns) in whole seconds of event time, rounded down, the one
 * rule of retention and flushing; INT64_MIN and INT64_MAX stay as they are. */
int64_t vg__wm_seconds(int64_t watermark_ns);
/* Instant t (seconds) for a message about stored data: as vg_fmt_utc
 * writes it, or "@t" beyond +-VG_SEG_TIME_MAX (a corrupt key's time, which
 * no calendar needs to handle). */
void vg__store_when(int64_t t, char buf[VG_FMT_ISO_MAX]);

/* --- read.c --------------------------------------------------------------- */

/* A snapshot of this one environment, whatever shards it holds. */
int vg__reader_one(struct vg_store *st, struct vg_store_reader **out);
/* The snapshot of r's shards at the lowest epoch (the first of them). */
struct vg_store_reader *vg__reader_lowest(struct vg_store_reader *r);

/* --- rows.c ---------------------------------------------------------------- */

int vg__meta_get(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v);
/* A key that older stores lack: 0 when absent. */
int vg__meta_get_opt(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v);
int vg__meta_put(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v);
/* The meta of a snapshot (vg_store_reader_meta, vg_store_load). */
int vg__meta_state(const struct vg_store *st, MDB_txn *txn, struct vg_store_state *out);
/* Writes the open row of w, encoded in the scratch buffer b, with the
 * flags `set` added to the window's own and the flags `keep` carried over
 * from the row it replaces (cur is a cursor on the open table). */
int vg__open_put(MDB_cursor *cur, struct vg_sbuf *b, const struct vg_wentry *w,
                 uint8_t set, uint8_t keep, int next_hint, int absent);
/* Decodes an open row into *w (holding nothing on failure). */
int vg__open_get(const MDB_val *key, const MDB_val *val, struct vg_wentry *w,
                 char *errstr, size_t size);
/* Rewrites the row under cur (its value val) with flags clear cleared. */
int vg__open_clear(MDB_cursor *cur, struct vg_sbuf *b, const MDB_val *key,
                   const MDB_val *val, uint8_t clear);
/* A walk over the rows of one series and resolution in a table keyed by
 * wkey (open, blk, seg), in key order, from time `from` to before `to` (the
 * key's time: a window's start, an hour, a span). */
struct vg__scan {
  MDB_cursor *cur;
  MDB_val key, val; /* the current row */
  int64_t t;        /* its time */
  uint64_t series;
  uint8_t res;
  int64_t to;
  MDB_cursor_op op;
  uint8_t k[WKEY_LEN];
};
/* Opens a cursor on dbi for the walk. 0 or an error (VG_*). */
int vg__scan_open(struct vg__scan *sc, MDB_txn *txn, MDB_dbi dbi, uint64_t series,
                  uint8_t res, int64_t from, int64_t to);
/* Moves to the next row of the range: 1, 0 past its last row, or an error
 * (VG_*). */
int vg__scan_next(struct vg__scan *sc);
/* Closes the walk's cursor (none open: nothing). */
void vg__scan_close(struct vg__scan *sc);
/* A table that every shard keeps, read as one: a cursor on each shard of a
 * reader (the reader itself with one shard) and the smallest key next, in
 * LMDB's byte order. table is the table's field in struct vg_store
 * (offsetof). */
struct vg__kmerge {
  unsigned n;
  int best; /* the shard of the row last given (advanced by the next call), or -1 */
  MDB_cursor *cur[VG_STORE_MAX_SHARDS];
  MDB_val k[VG_STORE_MAX_SHARDS], v[VG_STORE_MAX_SHARDS];
  int live[VG_STORE_MAX_SHARDS];
};
/* Opens the merge at the first key at or after from (NULL: the first row).
 * 0 or an error (VG_*; nothing left open). */
/* ind.c: the epoch's indicator rows (shard 0). */
int vg__ind_put(struct vg_store *st, MDB_txn *txn, const struct vg_store_epoch *ep);

int vg__kmerge_open(struct vg__kmerge *m, struct vg_store_reader *r, size_t table,
                    const MDB_val *from);
/* The next row: 1 (k and v valid until the next call), 0 past the last, or
 * an error (VG_*). */
int vg__kmerge_next(struct vg__kmerge *m, MDB_val *k, MDB_val *v);
void vg__kmerge_close(struct vg__kmerge *m);
/* Prefix of an error message about a series: its canonical key when the
 * dictionary has it. */
void vg__name_series(MDB_txn *txn, const struct vg_store *st, uint64_t id, char *buf,
                     size_t size);
/* The key of `pos` for (topic, partition) into k; its length, or 0 when the
 * topic is empty or longer than 255 bytes. */
size_t vg__pos_key(uint8_t k[POS_KEY_MAX], const char *topic, uint32_t partition);
int vg__pos_put(struct vg_store *st, MDB_txn *txn, const struct vg_store_pos *p);
int vg__pos_get(const MDB_val *key, const MDB_val *val, struct vg_store_pos *p,
                char *topic);

/* --- sort.c ---------------------------------------------------------------- */

int vg__okey_cmp(const void *a, const void *b);
/* 1 when key is among the n sorted keys of v (binary search). */
int vg__okey_find(const struct okey *v, size_t n, const struct okey *key);
/* Sorts a[0..n) in key order; tmp (n keys, or NULL) speeds up big epochs. */
void vg__okey_sort(struct okey *a, size_t n, struct okey *tmp);

/* --- block.c (writing blocks) ---------------------------------------------- */

/* A message about the block of (series, hour) that failed with rc. */
int vg__blk_fail(int rc, char *errstr, size_t size, uint64_t series, int64_t hour);
int vg__blk_put(struct vg_store *st, MDB_cursor *cur, const uint8_t k[WKEY_LEN],
                const struct blk *b, int found);
int vg__blk_load(MDB_cursor *cur, struct blk *b, uint8_t k[WKEY_LEN], uint64_t series,
                 int64_t hour, char *errstr, size_t size);
int vg__flush_day(struct vg_store *st, MDB_txn *txn, uint64_t series, int64_t day,
                  char *errstr, size_t size);
int vg__commit_blocks(struct vg_store *st, MDB_txn *txn, const struct vg_store_epoch *ep,
                      const struct okey *skeys, const struct okey *open, char *errstr,
                      size_t size);
int vg__evict_base(struct vg_store *st, MDB_txn *txn, const struct vg_store_wkey *e,
                   char *errstr, size_t size);

/* --- flush.c --------------------------------------------------------------- */

/* Merges the sealed windows w[0..n) (one segment's, in start order; of
 * the same start, the last wins) into their segment: one decode and one
 * encode of the segment. */
int vg__seal_group(struct vg_store *st, MDB_txn *txn, const struct vg_wentry *w, size_t n,
                   char *errstr, size_t size);
int vg__flush_group(struct vg_store *st, MDB_txn *txn, uint64_t series, uint8_t res,
                    int64_t span, char *errstr, size_t size);
int vg__due_at(const struct vg_store *st, uint64_t series, uint8_t res, int64_t start,
               int64_t end);
int vg__at_boundary(const struct vg_store *st, const struct vg_wentry *w);
int vg__seal_room(const struct vg_store *st);
void vg__defer_span(struct vg_store *st, uint64_t series, uint8_t res, int64_t span);
int vg__flush_deferred(struct vg_store *st, MDB_txn *txn, char *errstr, size_t size);

/* --- dup.c, emit.c --------------------------------------------------------- */

int vg__dup_put(struct vg_store *st, MDB_txn *txn, const struct vg_fprow *r);
/* Deletes fingerprint rows of windows that ended at or before horizon_s,
 * from the front, at most max_deletes, in txn; *done when none is left. */
int vg__dup_retain(struct vg_store *st, MDB_txn *txn, int64_t horizon_s,
                   size_t max_deletes, int *done);
/* Appends the epoch's emit records and advances meta "emit_seq". */
int vg__emit_put(struct vg_store *st, MDB_txn *txn, const struct vg_store_epoch *ep);

#endif
