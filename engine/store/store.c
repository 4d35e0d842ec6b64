/*
 * The LMDB store (include/vigie/store.h): one environment with nine named
 * databases, the per-epoch commit that writes everything an epoch changed in
 * one write transaction (and replays it after growing the map when LMDB
 * says the map is full), the reload of open windows and positions at start,
 * bounded retention passes, and read-only snapshots for readers in other
 * threads or processes.
 *
 * Segment rewrites are the heavy part of a write transaction (a decode and
 * an encode of up to a year of windows each), and a late backfill can
 * revise windows of thousands of spans long past in one epoch: every write
 * transaction rewrites at most seal_max segments (seal_room). A commit whose
 * windows reach more flush boundaries than that leaves the rest pending
 * (readers see pending rows) and queues their spans (`deferred`); the next
 * commits flush the queue first, oldest first, within the same budget. The
 * queue lives in memory only: after a restart, vg_store_flush finds those
 * spans by their pending rows (a row at its flush boundary is due).
 *
 * Growing the map (mdb_env_set_mapsize) is only allowed while no
 * transaction of this process is active, so readers of this process
 * register in a counter under a mutex and a growing writer waits for them
 * to end (new readers wait for the growth). Readers in other processes see
 * MDB_MAP_RESIZED on their next begin and adopt the new size themselves.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <lmdb.h>

#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/log.h"
#include "vigie/store.h"
#include "store/block.h"
#include "common/bytes.h"

#define DEFAULT_MAP (64ULL << 20)
#define DEFAULT_MAP_MAX (1ULL << 40)
#define DEFAULT_SEAL_MAX 1024
#define WKEY_LEN 17
#define OPEN_VERSION 1
#define OPEN_HDR 14 /* u8 version, u8 flags, u32 revision, i64 end */
#define SERIES_VERSION 1
#define POS_VERSION 1
#define EMIT_VERSION 1
#define DUP_VERSION 1
#define DUP_KEY_LEN 20 /* i64 end, u64 series, u32 first */
#define DUP_HAS_KEYS 1

struct okey {
  uint64_t series;
  int64_t start;
  uint8_t res;
  const struct vg_wentry *w;
};

struct vg_store {
  MDB_env *env;
  MDB_dbi meta, series, series_id, open, seg, pos, emit, blk, dup;
  int has_blk; /* 0: a read-only look at a store of format 1 (no blocks yet) */
  int has_dup; /* 0: a read-only look at a store written before dedupe */
  struct vg_store_opts o;
  char *path;
  size_t map_size;
  pthread_mutex_t lock; /* guards readers/growing */
  pthread_cond_t cond;
  unsigned readers;     /* active reader snapshots of this process */
  int growing;
  struct vg_sbuf scratch; /* the writer's encoding buffer */
  struct blk be;       /* the writer's block being edited */
  struct vg_sbuf bscratch; /* a block's encoding */
  struct vg_wentry *fw; /* flush_day's windows */
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
};

struct vg_store_reader {
  struct vg_store *st;
  MDB_txn *txn;
};

static int migrate_v1(struct vg_store *st, MDB_txn *txn, char *errstr, size_t size);

/* LMDB and errno codes to ours. */
static int map_err(int rc) {
  switch (rc) {
  case 0:
    return 0;
  case MDB_MAP_FULL:
    return VG_EFULL;
  case MDB_NOTFOUND:
    return VG_ENOTFOUND;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
    return VG_ECORRUPT;
  case MDB_VERSION_MISMATCH:
  case MDB_INVALID:
    return VG_EVERSION;
  default:
    return rc > 0 ? -rc : -EIO; /* errno from the OS, or another MDB_ code */
  }
}

static int fail_msg(int rc, char *errstr, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_msg(int rc, char *errstr, size_t size, const char *fmt, ...) {
  if (size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, size, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static void wkey(uint8_t k[WKEY_LEN], uint64_t series, uint8_t res, int64_t t) {
  be64_put(k, series);
  k[8] = res;
  be64_put(k + 9, i64_key(t));
}

static void wkey_get(const uint8_t k[WKEY_LEN], uint64_t *series, uint8_t *res,
                     int64_t *t) {
  *series = be64_get(k);
  *res = k[8];
  *t = i64_unkey(be64_get(k + 9));
}

static const char *res_label(uint8_t res) {
  return res == VG_RES_BASE ? "base" : res == VG_RES_HOUR ? "1h" : res == VG_RES_DAY ? "1d" : "?";
}

static int meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v) {
  MDB_val k = {strlen(name), (void *)name}, d;
  int rc = mdb_get(txn, dbi, &k, &d);
  if (rc)
    return rc;
  if (d.mv_size != 8)
    return MDB_CORRUPTED;
  struct vg_rbuf r = {d.mv_data, (const uint8_t *)d.mv_data + 8, 0};
  *v = rb_u64le(&r);
  return 0;
}

/* A key that older stores lack: 0 when absent. */
static int meta_get_opt(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v) {
  int rc = meta_get_u64(txn, dbi, name, v);
  if (rc == MDB_NOTFOUND) {
    *v = 0;
    rc = 0;
  }
  return rc;
}

static int meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (8 * i));
  MDB_val k = {strlen(name), (void *)name}, d = {8, b};
  return mdb_put(txn, dbi, &k, &d, 0);
}

static int open_dbis(struct vg_store *st, MDB_txn *txn, unsigned flags) {
  int rc;
  if ((rc = mdb_dbi_open(txn, "meta", flags, &st->meta)) ||
      (rc = mdb_dbi_open(txn, "series", flags, &st->series)) ||
      (rc = mdb_dbi_open(txn, "series_id", flags, &st->series_id)) ||
      (rc = mdb_dbi_open(txn, "open", flags, &st->open)) ||
      (rc = mdb_dbi_open(txn, "seg", flags, &st->seg)) ||
      (rc = mdb_dbi_open(txn, "pos", flags, &st->pos)) ||
      (rc = mdb_dbi_open(txn, "emit", flags, &st->emit)))
    return rc;
  return 0;
}

int vg_store_open(const struct vg_store_opts *opts, struct vg_store **out, char *errstr,
                  size_t errstr_size) {
  int rc;
  MDB_txn *txn = NULL;
  struct vg_store *st = calloc(1, sizeof *st);
  if (!st)
    return fail_msg(-ENOMEM, errstr, errstr_size, "out of memory opening the store");
  st->o = *opts;
  st->path = strdup(opts->path);
  st->o.path = st->path;
  if (!st->path) {
    free(st);
    return fail_msg(-ENOMEM, errstr, errstr_size, "out of memory opening the store");
  }
  if (!st->o.seg_codec)
    st->o.seg_codec = VG_SEG_DEFAULT_CODEC;
  if (!st->o.map_max)
    st->o.map_max = DEFAULT_MAP_MAX;
  if (!st->o.seal_max)
    st->o.seal_max = DEFAULT_SEAL_MAX;
  st->map_size = opts->map_size ? opts->map_size : DEFAULT_MAP;
  pthread_mutex_init(&st->lock, NULL);
  pthread_cond_init(&st->cond, NULL);
  if (!opts->readonly && mkdir(opts->path, 0750) != 0 && errno != EEXIST) {
    rc = fail_msg(-errno, errstr, errstr_size, "cannot create the store directory '%s': %s",
                  opts->path, strerror(errno));
    goto fail;
  }
  unsigned flags = MDB_NOTLS;
  if (opts->readonly)
    flags |= MDB_RDONLY;
  else if (opts->durability == VG_STORE_NOMETASYNC)
    flags |= MDB_NOMETASYNC;
  else if (opts->durability == VG_STORE_NOSYNC)
    flags |= MDB_NOSYNC;
  if ((rc = mdb_env_create(&st->env)) || (rc = mdb_env_set_maxdbs(st->env, 10)) ||
      (rc = mdb_env_set_maxreaders(st->env, opts->max_readers ? opts->max_readers : 126)) ||
      (rc = mdb_env_set_mapsize(st->env, st->map_size)) ||
      (rc = mdb_env_open(st->env, opts->path, flags, 0640))) {
    rc = fail_msg(map_err(rc), errstr, errstr_size, "cannot open the store '%s': %s",
                  opts->path, mdb_strerror(rc));
    goto fail;
  }
  MDB_envinfo info;
  mdb_env_info(st->env, &info);
  st->map_size = info.me_mapsize; /* an existing, larger store keeps its size */
  int stale = 0;
  mdb_reader_check(st->env, &stale); /* slots left by crashed processes */
  if ((rc = mdb_txn_begin(st->env, NULL, opts->readonly ? MDB_RDONLY : 0, &txn))) {
    rc = fail_msg(map_err(rc), errstr, errstr_size, "cannot begin a transaction on '%s': %s",
                  opts->path, mdb_strerror(rc));
    goto fail;
  }
  if ((rc = open_dbis(st, txn, opts->readonly ? 0 : MDB_CREATE))) {
    rc = fail_msg(rc == MDB_NOTFOUND ? VG_ENOTFOUND : map_err(rc), errstr, errstr_size,
                  "cannot open the databases of the store '%s': %s%s", opts->path,
                  mdb_strerror(rc), rc == MDB_NOTFOUND ? " (not a Vigie store yet)" : "");
    goto fail;
  }
  /* `blk` came with format 2: a read-only look at a store of format 1
   * finds none */
  rc = mdb_dbi_open(txn, "blk", opts->readonly ? 0 : MDB_CREATE, &st->blk);
  if (rc == 0)
    st->has_blk = 1;
  else if (rc != MDB_NOTFOUND || !opts->readonly) {
    rc = fail_msg(map_err(rc), errstr, errstr_size,
                  "cannot open the databases of the store '%s': %s", opts->path,
                  mdb_strerror(rc));
    goto fail;
  }
  /* `dup` came with dedupe, without a format change: a writer creates it,
   * a reader of an older store finds none (no fingerprints) */
  rc = mdb_dbi_open(txn, "dup", opts->readonly ? 0 : MDB_CREATE, &st->dup);
  if (rc == 0)
    st->has_dup = 1;
  else if (rc != MDB_NOTFOUND || !opts->readonly) {
    rc = fail_msg(map_err(rc), errstr, errstr_size,
                  "cannot open the databases of the store '%s': %s", opts->path,
                  mdb_strerror(rc));
    goto fail;
  }
  uint64_t format;
  rc = meta_get_u64(txn, st->meta, "format", &format);
  if (rc == 0 && format == 1 && !opts->readonly) {
    /* format 1 kept base windows in `open`, one row each: pack them */
    if ((rc = migrate_v1(st, txn, errstr, errstr_size)))
      goto fail;
    if ((rc = meta_put_u64(txn, st->meta, "format", VG_STORE_FORMAT))) {
      rc = fail_msg(map_err(rc), errstr, errstr_size, "cannot upgrade the store '%s': %s",
                    opts->path, mdb_strerror(rc));
      goto fail;
    }
    format = VG_STORE_FORMAT;
  }
  if (rc == MDB_NOTFOUND && !opts->readonly) {
    if ((rc = meta_put_u64(txn, st->meta, "format", VG_STORE_FORMAT)) ||
        (rc = meta_put_u64(txn, st->meta, "epoch", 0)) ||
        (rc = meta_put_u64(txn, st->meta, "watermark", (uint64_t)INT64_MIN)) ||
        (rc = meta_put_u64(txn, st->meta, "emit_seq", 0))) {
      rc = fail_msg(map_err(rc), errstr, errstr_size, "cannot initialize the store '%s': %s",
                    opts->path, mdb_strerror(rc));
      goto fail;
    }
  } else if (rc) {
    rc = fail_msg(map_err(rc), errstr, errstr_size,
                  "cannot read the format version of the store '%s': %s", opts->path,
                  mdb_strerror(rc));
    goto fail;
  } else if (format != VG_STORE_FORMAT && !(format == 1 && opts->readonly)) {
    rc = fail_msg(VG_EVERSION, errstr, errstr_size,
                  "store '%s' has format version %" PRIu64 ", this build knows %d",
                  opts->path, format, VG_STORE_FORMAT);
    goto fail;
  }
  rc = mdb_txn_commit(txn); /* also for a read txn: makes the DBI handles global */
  txn = NULL;
  if (rc) {
    rc = fail_msg(map_err(rc), errstr, errstr_size, "cannot initialize the store '%s': %s",
                  opts->path, mdb_strerror(rc));
    goto fail;
  }
  *out = st;
  return 0;
fail:
  if (txn)
    mdb_txn_abort(txn);
  vg_store_close(st);
  return rc;
}

void vg_store_close(struct vg_store *st) {
  if (!st)
    return;
  assert(st->readers == 0);
  if (st->env)
    mdb_env_close(st->env);
  free(st->scratch.p);
  free(st->bscratch.p);
  blk_free(&st->be);
  free(st->fw);
  free(st->okeys);
  free(st->skeys);
  free(st->tkeys);
  free(st->deferred);
  free(st->path);
  pthread_cond_destroy(&st->cond);
  pthread_mutex_destroy(&st->lock);
  free(st);
}

/* Grows the map (doubling) once no reader of this process is active. */
static int grow(struct vg_store *st) {
  if (st->map_size >= st->o.map_max)
    return VG_EFULL;
  size_t next = st->map_size * 2;
  if (next > st->o.map_max)
    next = st->o.map_max;
  pthread_mutex_lock(&st->lock);
  st->growing = 1;
  while (st->readers)
    pthread_cond_wait(&st->cond, &st->lock);
  int rc = mdb_env_set_mapsize(st->env, next);
  if (rc == 0)
    st->map_size = next;
  st->growing = 0;
  pthread_cond_broadcast(&st->cond);
  pthread_mutex_unlock(&st->lock);
  return rc ? map_err(rc) : 0;
}

/* LMDB reports a short write as EIO, and a disk that fills up (or a file
 * size limit) mid-write gives a short write: tell them apart from a real
 * I/O error by looking at the space left and the limit. */
static int diagnose_eio(const struct vg_store *st) {
  char file[4096];
  struct stat sb;
  struct statvfs vfs;
  struct rlimit rl;
  snprintf(file, sizeof file, "%s/data.mdb", st->path);
  if (stat(file, &sb) == 0 && getrlimit(RLIMIT_FSIZE, &rl) == 0 &&
      rl.rlim_cur != RLIM_INFINITY && (uint64_t)sb.st_size + (4u << 20) >= rl.rlim_cur)
    return -EFBIG;
  if (statvfs(st->path, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < (64u << 20))
    return -ENOSPC;
  return -EIO;
}

/* --- the epoch commit ---------------------------------------------------- */

/* A window's key next to its pointer, so sorting a million open windows
 * compares contiguous keys instead of chasing a pointer per comparison. */

static int cmp_okey(const void *a, const void *b) {
  const struct okey *x = a, *y = b;
  if (x->series != y->series)
    return x->series < y->series ? -1 : 1;
  if (x->res != y->res)
    return x->res < y->res ? -1 : 1;
  return (x->start > y->start) - (x->start < y->start);
}

/* 1 when key is among the n sorted keys of v (binary search). */
static int in_okeys(const struct okey *v, size_t n, const struct okey *key) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = cmp_okey(&v[mid], key);
    if (c == 0)
      return 1;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

static inline int okey_lt(const struct okey *x, const struct okey *y) {
  if (x->series != y->series)
    return x->series < y->series;
  if (x->res != y->res)
    return x->res < y->res;
  return x->start < y->start;
}

/* Sorts the keys of an epoch (hundreds of thousands): a quicksort with the
 * comparison inlined instead of qsort's merge sort with a call per
 * comparison and a temporary copy. Series ids are keyed hashes, so bad
 * pivots are unlikely; past a depth limit the rest goes to qsort. */
static void sort_okeys_depth(struct okey *a, size_t n, int depth) {
  while (n > 16) {
    if (depth-- == 0) {
      qsort(a, n, sizeof *a, cmp_okey);
      return;
    }
    /* median of three as the pivot, moved to the end */
    struct okey *lo = a, *mid = a + n / 2, *hi = a + n - 1, t;
    if (okey_lt(mid, lo))
      t = *mid, *mid = *lo, *lo = t;
    if (okey_lt(hi, mid)) {
      t = *hi, *hi = *mid, *mid = t;
      if (okey_lt(mid, lo))
        t = *mid, *mid = *lo, *lo = t;
    }
    t = *mid, *mid = *hi, *hi = t;
    struct okey pivot = *hi;
    size_t i = 0;
    for (size_t j = 0; j + 1 < n; j++)
      if (okey_lt(&a[j], &pivot)) {
        t = a[i], a[i] = a[j], a[j] = t;
        i++;
      }
    t = a[i], a[i] = a[n - 1], a[n - 1] = t;
    /* recurse into the smaller side, loop on the larger */
    if (i < n - i - 1) {
      sort_okeys_depth(a, i, depth);
      a += i + 1;
      n -= i + 1;
    } else {
      sort_okeys_depth(a + i + 1, n - i - 1, depth);
      n = i;
    }
  }
  for (size_t i = 1; i < n; i++) {
    struct okey x = a[i];
    size_t j = i;
    for (; j > 0 && okey_lt(&x, &a[j - 1]); j--)
      a[j] = a[j - 1];
    a[j] = x;
  }
}

static void sort_small(struct okey *a, size_t n) {
  int depth = 0;
  for (size_t m = n; m > 1; m >>= 1)
    depth += 2;
  if (n > 1)
    sort_okeys_depth(a, n, depth);
}

/* Big epochs: one counting pass and one scatter by the top 16 bits of the
 * series id (keyed hashes, so the buckets are even), then each bucket --
 * a series or two, in cache -- sorted on its own. tmp holds n keys. */
static void sort_okeys(struct okey *a, size_t n, struct okey *tmp) {
  enum { BITS = 16, NB = 1 << BITS };
  if (n < 4096 || !tmp) {
    sort_small(a, n);
    return;
  }
  static _Thread_local uint32_t count[NB + 1];
  memset(count, 0, sizeof count);
  for (size_t i = 0; i < n; i++)
    count[(a[i].series >> (64 - BITS)) + 1]++;
  for (size_t b = 1; b <= NB; b++)
    count[b] += count[b - 1];
  for (size_t i = 0; i < n; i++)
    tmp[count[a[i].series >> (64 - BITS)]++] = a[i];
  /* count[b] is now the end of bucket b */
  size_t start = 0;
  for (size_t b = 0; b < NB; b++) {
    size_t end = count[b];
    sort_small(tmp + start, end - start);
    start = end;
  }
  memcpy(a, tmp, n * sizeof *a);
#ifndef NDEBUG
  for (size_t i = 1; i < n; i++)
    assert(!okey_lt(&a[i], &a[i - 1]));
#endif
}

/* Writes the open row of w, encoded in the scratch buffer b, with the
 * flags `set` added to the window's own and the flags `keep` carried over
 * from the row it replaces (cur is a cursor on the open table). */
static int put_open(MDB_cursor *cur, struct vg_sbuf *b, const struct vg_wentry *w,
                    uint8_t set, uint8_t keep, int next_hint, int absent) {
  uint8_t k[WKEY_LEN];
  wkey(k, w->series, w->res, w->start);
  MDB_val key, old;
  int rc = MDB_NOTFOUND;
  if (absent) {
    /* the caller knows there is no row: no flags to carry, no lookup (a
     * fresh window is most of what a busy epoch writes) */
  } else if (next_hint) {
    /* windows come in key order and usually exist: the row after the
     * cursor is often the one wanted, which spares a search from the root */
    rc = mdb_cursor_get(cur, &key, &old, MDB_NEXT);
    if (rc == 0 && (key.mv_size != WKEY_LEN || memcmp(key.mv_data, k, WKEY_LEN) != 0))
      rc = MDB_NOTFOUND;
  }
  if (rc) {
    key = (MDB_val){WKEY_LEN, k};
    rc = mdb_cursor_get(cur, &key, &old, MDB_SET_KEY);
  }
  if (rc && rc != MDB_NOTFOUND)
    return rc;
  uint8_t carried = rc == 0 && old.mv_size >= OPEN_HDR ? ((const uint8_t *)old.mv_data)[1] & keep : 0;
  unsigned put_flags = rc == 0 ? MDB_CURRENT : 0;
  size_t cap = vg_acc_encoded_size(&w->acc), used; /* an upper bound */
  b->len = 0;
  if (sbuf_reserve(b, OPEN_HDR + cap))
    return ENOMEM;
  uint8_t *p = b->p;
  p[0] = OPEN_VERSION;
  p[1] = (uint8_t)((w->final ? OPEN_FINAL : 0) | (w->emit ? OPEN_EMIT : 0) | set | carried);
  for (int i = 0; i < 4; i++)
    p[2 + i] = (uint8_t)(w->revision >> (8 * i));
  for (int i = 0; i < 8; i++)
    p[6 + i] = (uint8_t)((uint64_t)w->end >> (8 * i));
  if (vg_acc_encode(&w->acc, p + OPEN_HDR, cap, &used) != 0)
    return MDB_BAD_VALSIZE; /* cannot happen: cap is the encoder's bound */
  MDB_val val = {OPEN_HDR + used, p};
  key = (MDB_val){WKEY_LEN, k};
  return mdb_cursor_put(cur, &key, &val, put_flags);
}

/* Decodes an open row into *w (holding nothing). */
static int get_open(const MDB_val *key, const MDB_val *val, struct vg_wentry *w,
                    char *errstr, size_t size) {
  memset(w, 0, sizeof *w);
  vg_acc_init(&w->acc);
  wkey_get(key->mv_data, &w->series, &w->res, &w->start);
  const uint8_t *p = val->mv_data;
  int rc;
  if (key->mv_size != WKEY_LEN || val->mv_size < OPEN_HDR) {
    rc = VG_ECORRUPT;
    goto fail;
  }
  if (p[0] != OPEN_VERSION) {
    rc = VG_EVERSION;
    goto fail;
  }
  w->final = p[1] & OPEN_FINAL;
  w->emit = (p[1] & OPEN_EMIT) ? 1 : 0;
  struct vg_rbuf r = {p + 2, p + OPEN_HDR, 0};
  w->revision = rb_u32le(&r);
  w->end = (int64_t)rb_u64le(&r);
  size_t used;
  rc = vg_acc_decode(&w->acc, p + OPEN_HDR, val->mv_size - OPEN_HDR, &used);
  if (rc == 0 && (used != val->mv_size - OPEN_HDR || w->end <= w->start)) {
    vg_acc_release(&w->acc);
    rc = VG_ECORRUPT;
  }
  if (rc == VG_EDECODE)
    rc = VG_ECORRUPT;
  if (rc)
    goto fail;
  return 0;
fail:
  vg_acc_init(&w->acc);
  char when[40];
  time_t tt = (time_t)w->start;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(when, sizeof when, "@%" PRId64, w->start);
  return fail_msg(rc, errstr, size,
                  "%s open window of series %" PRIu64 " at resolution %s starting at %s: %s",
                  rc == VG_EVERSION ? "unsupported" : "corrupt", w->series, res_label(w->res),
                  when, rc == -ENOMEM ? "out of memory" : "bad row");
}

/* Prefix of an error message about a series: its canonical key when the
 * dictionary has it. */
static void name_series(MDB_txn *txn, const struct vg_store *st, uint64_t id, char *buf,
                        size_t size) {
  uint8_t k[8];
  be64_put(k, id);
  MDB_val key = {8, k}, val;
  if (mdb_get(txn, st->series_id, &key, &val) == 0)
    snprintf(buf, size, "series %.*s (id %" PRIu64 ")", (int)(val.mv_size > 200 ? 200 : val.mv_size),
             (const char *)val.mv_data, id);
  else
    snprintf(buf, size, "series id %" PRIu64, id);
}

/* Room for one more window in *v (n used, *cap held; doubling). 0 or
 * -ENOMEM. */
static int room_for_window(struct vg_wentry **v, size_t *cap, size_t n) {
  if (n < *cap)
    return 0;
  size_t nc = *cap ? 2 * *cap : 64;
  struct vg_wentry *p = realloc(*v, nc * sizeof *p);
  if (!p)
    return -ENOMEM;
  *v = p;
  *cap = nc;
  return 0;
}

/* Fetches the 152-byte window w into the cache ahead of its use: the
 * commit walks windows in key order, scattered over the writer's table. */
static inline void prefetch_window(const struct vg_wentry *w) {
  const char *p = (const char *)w;
  __builtin_prefetch(p);
  __builtin_prefetch(p + 64);
  __builtin_prefetch(p + 128);
}

/* Merges the sealed windows w[0..n) (one segment's, sorted) into their
 * segment: one decode and one encode of the segment. */
static int seal_group(struct vg_store *st, MDB_txn *txn, const struct vg_wentry *const *w,
                      size_t n, char *errstr, size_t size) {
  if (st->seals_left)
    st->seals_left--;
  st->seals++;
  struct vg_seg_key sk = {w[0]->series, w[0]->res, vg_seg_span(w[0]->res, w[0]->start)};
  uint8_t k[WKEY_LEN];
  wkey(k, sk.series, sk.res, sk.span_start);
  MDB_val key = {WKEY_LEN, k}, val;
  struct vg_segment old = {0};
  const struct vg_wentry **merged = NULL;
  uint8_t *enc = NULL;
  size_t elen, m = 0;
  int rc = mdb_get(txn, st->seg, &key, &val);
  if (rc == 0) {
    char msg[256];
    rc = vg_seg_decode(val.mv_data, val.mv_size, &sk, &old, msg, sizeof msg);
    if (rc) {
      char who[300];
      name_series(txn, st, sk.series, who, sizeof who);
      rc = fail_msg(rc, errstr, size, "cannot seal windows of %s: %s", who, msg);
      goto fail;
    }
  } else if (rc != MDB_NOTFOUND) {
    rc = fail_msg(map_err(rc), errstr, size, "cannot read a segment: %s", mdb_strerror(rc));
    goto fail;
  }
  merged = malloc((old.n + n) * sizeof *merged);
  if (!merged) {
    rc = fail_msg(-ENOMEM, errstr, size, "out of memory sealing windows");
    goto fail;
  }
  size_t i = 0, j = 0;
  while (i < old.n || j < n) {
    if (j < n && j + 1 < n && w[j + 1]->start == w[j]->start) {
      j++; /* the same window twice in one epoch: the later one wins */
      continue;
    }
    if (j == n || (i < old.n && old.w[i].start < w[j]->start)) {
      merged[m++] = &old.w[i++];
    } else {
      if (i < old.n && old.w[i].start == w[j]->start)
        i++; /* a revision replaces the stored window */
      merged[m++] = w[j++];
    }
  }
  rc = vg_seg_encode(&sk, merged, m, st->o.seg_codec, &enc, &elen);
  if (rc) {
    rc = fail_msg(rc, errstr, size, "cannot encode the segment of series %" PRIu64 ": %s",
                  sk.series, vg_strerror(rc));
    goto fail;
  }
  val = (MDB_val){elen, enc};
  rc = mdb_put(txn, st->seg, &key, &val, 0); /* MDB_MAP_FULL travels up as is */
fail:
  free(enc);
  free(merged);
  vg_segment_release(&old);
  return rc;
}

/* Writes the pending rows of one span of (series, res) into its segment:
 * rows the writer still keeps stay open (pending cleared), the others go. */
static int flush_group(struct vg_store *st, MDB_txn *txn, uint64_t series, uint8_t res,
                       int64_t span, char *errstr, size_t size) {
  MDB_cursor *cur = NULL;
  struct vg_wentry *w = NULL;
  const struct vg_wentry **p = NULL;
  size_t n = 0, cap = 0;
  int64_t end = span + vg_seg_span_len(res);
  uint8_t k[WKEY_LEN];
  MDB_val key, val;
  int rc = mdb_cursor_open(txn, st->open, &cur);
  if (rc)
    goto fail;
  wkey(k, series, res, span);
  key = (MDB_val){WKEY_LEN, k};
  for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    uint64_t s2;
    uint8_t r2;
    int64_t t;
    wkey_get(key.mv_data, &s2, &r2, &t);
    if (s2 != series || r2 != res || t >= end)
      break;
    if (val.mv_size < OPEN_HDR || !(((const uint8_t *)val.mv_data)[1] & OPEN_PENDING))
      continue;
    if (room_for_window(&w, &cap, n)) {
      rc = fail_msg(-ENOMEM, errstr, size, "out of memory sealing windows");
      goto fail;
    }
    if ((rc = get_open(&key, &val, &w[n], errstr, size)))
      goto fail;
    n++;
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    goto fail;
  rc = 0;
  if (n == 0)
    goto fail;
  p = malloc(n * sizeof *p);
  if (!p) {
    rc = fail_msg(-ENOMEM, errstr, size, "out of memory sealing windows");
    goto fail;
  }
  for (size_t i = 0; i < n; i++)
    p[i] = &w[i];
  if ((rc = seal_group(st, txn, p, n, errstr, size)))
    goto fail;
  /* the rows: kept ones lose the pending flag, the others are deleted */
  for (size_t i = 0; i < n; i++) {
    wkey(k, series, res, w[i].start);
    key = (MDB_val){WKEY_LEN, k};
    if ((rc = mdb_cursor_get(cur, &key, &val, MDB_SET_KEY)))
      goto fail;
    if (((const uint8_t *)val.mv_data)[1] & OPEN_KEEP) {
      st->scratch.len = 0;
      sbuf_put(&st->scratch, val.mv_data, val.mv_size);
      if (st->scratch.err) {
        rc = ENOMEM;
        goto fail;
      }
      st->scratch.p[1] &= (uint8_t)~OPEN_PENDING;
      MDB_val nv = {val.mv_size, st->scratch.p};
      rc = mdb_cursor_put(cur, &key, &nv, MDB_CURRENT);
    } else {
      rc = mdb_cursor_del(cur, 0);
    }
    if (rc)
      goto fail;
  }
fail:
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&w[i].acc);
  free(w);
  free(p);
  if (cur)
    mdb_cursor_close(cur);
  return rc;
}

/* Seconds between the flushes of a resolution's pending windows: a sealed
 * window that reaches a multiple of it flushes its span (0: every time). */
static int64_t flush_every(const struct vg_store *st, uint8_t res) {
  static const int64_t dflt[3] = {86400, 86400, 0};
  if (res > 2)
    return 0;
  return st->o.seal_every_s[res] ? st->o.seal_every_s[res] : dflt[res];
}

static int64_t floor_div64(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b < 0) ? q - 1 : q;
}

static int put_series(struct vg_store *st, MDB_txn *txn, const struct vg_store_series *s,
                      char *errstr, size_t size) {
  if (s->key_len == 0 || s->key_len > 511)
    return fail_msg(VG_ECONFIG, errstr, size,
                    "series key of id %" PRIu64 " is empty or longer than 511 bytes", s->id);
  MDB_val key = {s->key_len, (void *)s->key}, val;
  int rc = mdb_get(txn, st->series, &key, &val);
  if (rc == 0) {
    struct vg_rbuf r = {val.mv_data, (const uint8_t *)val.mv_data + val.mv_size, 0};
    rb_u8(&r);
    uint64_t id = rb_u64le(&r);
    if (r.err)
      return fail_msg(VG_ECORRUPT, errstr, size, "corrupt dictionary entry of series %.*s",
                      (int)s->key_len, s->key);
    if (id != s->id)
      return fail_msg(VG_ECONFIG, errstr, size,
                      "series %.*s is already known as id %" PRIu64 ", not %" PRIu64,
                      (int)s->key_len, s->key, id, s->id);
    return 0;
  }
  if (rc != MDB_NOTFOUND)
    return rc;
  uint8_t ik[8];
  be64_put(ik, s->id);
  MDB_val idkey = {8, ik};
  rc = mdb_get(txn, st->series_id, &idkey, &val);
  if (rc == 0)
    return fail_msg(VG_ECONFIG, errstr, size,
                    "series id %" PRIu64 " of %.*s already names %.*s (hash collision)", s->id,
                    (int)s->key_len, s->key, (int)(val.mv_size > 200 ? 200 : val.mv_size),
                    (const char *)val.mv_data);
  if (rc != MDB_NOTFOUND)
    return rc;
  uint8_t v[17];
  v[0] = SERIES_VERSION;
  for (int i = 0; i < 8; i++) {
    v[1 + i] = (uint8_t)(s->id >> (8 * i));
    v[9 + i] = (uint8_t)((uint64_t)s->first_seen_ns >> (8 * i));
  }
  val = (MDB_val){sizeof v, v};
  if ((rc = mdb_put(txn, st->series, &key, &val, 0)))
    return rc;
  val = (MDB_val){s->key_len, (void *)s->key};
  return mdb_put(txn, st->series_id, &idkey, &val, 0);
}

static int put_pos(struct vg_store *st, MDB_txn *txn, const struct vg_store_pos *p) {
  size_t tl = strlen(p->topic);
  if (tl == 0 || tl > 255)
    return MDB_BAD_VALSIZE;
  uint8_t k[256 + 5], v[25];
  memcpy(k, p->topic, tl);
  k[tl] = 0;
  for (int i = 0; i < 4; i++)
    k[tl + 1 + i] = (uint8_t)(p->partition >> (24 - 8 * i));
  v[0] = POS_VERSION;
  for (int i = 0; i < 8; i++) {
    v[1 + i] = (uint8_t)((uint64_t)p->next_offset >> (8 * i));
    v[9 + i] = (uint8_t)((uint64_t)p->max_event_ns >> (8 * i));
    v[17 + i] = (uint8_t)((uint64_t)p->last_active_ns >> (8 * i));
  }
  MDB_val key = {tl + 5, k}, val = {sizeof v, v};
  return mdb_put(txn, st->pos, &key, &val, 0);
}

static int get_pos(const MDB_val *key, const MDB_val *val, struct vg_store_pos *p,
                   char *topic) {
  const uint8_t *k = key->mv_data, *v = val->mv_data;
  if (key->mv_size < 6 || key->mv_size > 260 || k[key->mv_size - 5] != 0 ||
      val->mv_size != 25)
    return VG_ECORRUPT;
  if (v[0] != POS_VERSION)
    return VG_EVERSION;
  size_t tl = key->mv_size - 5;
  memcpy(topic, k, tl);
  topic[tl] = 0;
  p->topic = topic;
  p->partition = (uint32_t)k[tl + 1] << 24 | (uint32_t)k[tl + 2] << 16 |
                 (uint32_t)k[tl + 3] << 8 | k[tl + 4];
  struct vg_rbuf r = {v + 1, v + 25, 0};
  p->next_offset = (int64_t)rb_u64le(&r);
  p->max_event_ns = (int64_t)rb_u64le(&r);
  p->last_active_ns = (int64_t)rb_u64le(&r);
  return 0;
}

/* --- fingerprints of dedupe sources (dup) ----------------------------------- */

static void dup_key(uint8_t k[DUP_KEY_LEN], int64_t end, uint64_t series, uint32_t first) {
  be64_put(k, i64_key(end));
  be64_put(k + 8, series);
  for (int i = 0; i < 4; i++)
    k[16 + i] = (uint8_t)(first >> (24 - 8 * i));
}

/* One row: the window's fingerprints first .. first + n - 1. Times alone
 * when none of them has a distinct key (most sources): 8 bytes each. */
static int put_fps(struct vg_store *st, MDB_txn *txn, const struct vg_fprow *r) {
  int keys = 0;
  for (uint32_t i = 0; i < r->n && !keys; i++)
    keys = r->fp[i].key != 0;
  size_t each = keys ? 16 : 8;
  st->scratch.len = 0;
  if (sbuf_reserve(&st->scratch, 2 + each * r->n))
    return ENOMEM;
  uint8_t *p = st->scratch.p;
  p[0] = DUP_VERSION;
  p[1] = keys ? DUP_HAS_KEYS : 0;
  uint8_t *q = p + 2;
  for (uint32_t i = 0; i < r->n; i++) {
    for (int b = 0; b < 8; b++)
      *q++ = (uint8_t)((uint64_t)r->fp[i].t >> (8 * b));
    if (keys)
      for (int b = 0; b < 8; b++)
        *q++ = (uint8_t)(r->fp[i].key >> (8 * b));
  }
  uint8_t k[DUP_KEY_LEN];
  dup_key(k, r->end, r->series, r->first);
  MDB_val key = {DUP_KEY_LEN, k}, val = {(size_t)(q - p), p};
  return mdb_put(txn, st->dup, &key, &val, 0);
}

int vg_store_fp_loader(void *store, uint64_t series, int64_t start, int64_t end,
                       struct vg_fpset *out) {
  struct vg_store *st = store;
  struct vg_store_reader *r = NULL;
  MDB_cursor *cur = NULL;
  uint8_t k[DUP_KEY_LEN];
  MDB_val key, val;
  (void)start;
  if (!st->has_dup)
    return 0;
  int rc = vg_store_reader_begin(st, &r);
  if (rc)
    return rc;
  if ((rc = mdb_cursor_open(r->txn, st->dup, &cur))) {
    rc = map_err(rc);
    goto done;
  }
  dup_key(k, end, series, 0);
  key = (MDB_val){DUP_KEY_LEN, k};
  for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    if (key.mv_size != DUP_KEY_LEN || memcmp(key.mv_data, k, 16) != 0)
      break;
    const uint8_t *kk = key.mv_data, *v = val.mv_data;
    uint32_t first = (uint32_t)kk[16] << 24 | (uint32_t)kk[17] << 16 |
                     (uint32_t)kk[18] << 8 | kk[19];
    size_t each = val.mv_size >= 2 && (v[1] & DUP_HAS_KEYS) ? 16 : 8;
    if (val.mv_size < 2 || v[0] != DUP_VERSION || (val.mv_size - 2) % each != 0 ||
        first != out->n) {
      rc = val.mv_size >= 2 && v[0] != DUP_VERSION ? VG_EVERSION : VG_ECORRUPT;
      VG_LOG_ERROR("cannot load the fingerprints of a base window",
                   "series=%" PRIu64 " end=%" PRId64 " error=\"%s row\"", series, end,
                   rc == VG_EVERSION ? "unsupported" : "corrupt");
      goto done;
    }
    struct vg_rbuf b = {v + 2, v + val.mv_size, 0};
    for (size_t i = 0; i < (val.mv_size - 2) / each; i++) {
      struct vg_fp fp;
      fp.t = (int64_t)rb_u64le(&b);
      fp.key = each == 16 ? rb_u64le(&b) : 0;
      if ((rc = vg_fpset_add(out, fp)) < 0)
        goto done;
    }
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    rc = map_err(rc);
    goto done;
  }
  rc = out->n > 0;
done:
  if (rc < 0)
    vg_fpset_release(out);
  if (cur)
    mdb_cursor_close(cur);
  vg_store_reader_end(r);
  return rc;
}

/* One transaction deleting fingerprint rows of windows that ended at or
 * before horizon_s, from the front, at most max_deletes; *done when none
 * is left. */
static int retain_dup_txn(struct vg_store *st, int64_t horizon_s, size_t max_deletes,
                          int *done) {
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  size_t dels = 0;
  *done = 0;
  int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (rc)
    goto fail;
  if ((rc = mdb_cursor_open(txn, st->dup, &cur)))
    goto fail;
  /* after a delete, MDB_NEXT gives the row that followed it */
  for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    if (key.mv_size != DUP_KEY_LEN || i64_unkey(be64_get(key.mv_data)) > horizon_s) {
      *done = 1;
      break;
    }
    if (dels == max_deletes)
      break;
    if ((rc = mdb_cursor_del(cur, 0)))
      goto fail;
    dels++;
  }
  if (rc == MDB_NOTFOUND) {
    *done = 1;
    rc = 0;
  }
  if (rc)
    goto fail;
  mdb_cursor_close(cur);
  cur = NULL;
  if (dels == 0) {
    mdb_txn_abort(txn);
    return 0;
  }
  rc = mdb_txn_commit(txn);
  txn = NULL;
fail:
  if (cur)
    mdb_cursor_close(cur);
  if (txn)
    mdb_txn_abort(txn);
  return rc;
}

/* --- blocks: the base windows outside their segment (store/block.h) ------- */

static uint8_t wflags(const struct vg_wentry *w) {
  return (uint8_t)((w->final ? OPEN_FINAL : 0) | (w->emit ? OPEN_EMIT : 0));
}

static int blk_fail(int rc, char *errstr, size_t size, uint64_t series, int64_t hour) {
  if (rc == -ENOMEM)
    return fail_msg(rc, errstr, size, "out of memory reading the windows of series %" PRIu64,
                    series);
  char when[40];
  time_t tt = (time_t)hour;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(when, sizeof when, "@%" PRId64, hour);
  return fail_msg(rc, errstr, size,
                  "%s block of open base windows of series %" PRIu64 " for the hour starting "
                  "at %s",
                  rc == VG_EVERSION ? "unsupported" : "corrupt", series, when);
}

/* Writes b back at key k (or deletes the row when b is empty); the cursor
 * stands on the row when found. */
static int blk_put(struct vg_store *st, MDB_cursor *cur, const uint8_t k[WKEY_LEN],
                   const struct blk *b, int found) {
  MDB_val key = {WKEY_LEN, (void *)k}, val;
  if (b->n == 0)
    return found ? mdb_cursor_del(cur, 0) : 0;
  if (blk_encode(b, &st->bscratch))
    return ENOMEM;
  val = (MDB_val){st->bscratch.len, st->bscratch.p};
  return mdb_cursor_put(cur, &key, &val, found ? MDB_CURRENT : 0);
}

/* Reads the block of (series, hour) into b through cur: 1 found (the cursor
 * stands on it), 0 absent (b empty), or an error with a message. */
static int blk_load(MDB_cursor *cur, struct blk *b, uint8_t k[WKEY_LEN], uint64_t series,
                    int64_t hour, char *errstr, size_t size) {
  wkey(k, series, VG_RES_BASE, hour);
  MDB_val key = {WKEY_LEN, k}, val;
  int rc = mdb_cursor_get(cur, &key, &val, MDB_SET_KEY);
  if (rc == MDB_NOTFOUND) {
    blk_reset(b, hour);
    return 0;
  }
  if (rc)
    return rc;
  if ((rc = blk_parse(b, hour, val.mv_data, val.mv_size)))
    return blk_fail(rc, errstr, size, series, hour);
  return 1;
}

/* Writes the pending base windows of one day of a series into its segment
 * (one decode and one encode of the segment): kept ones stay in their
 * block (pending cleared), the others leave it. */
static int flush_day(struct vg_store *st, MDB_txn *txn, uint64_t series, int64_t day,
                     char *errstr, size_t size) {
  MDB_cursor *cur = NULL;
  struct blk *b = &st->be;
  const struct vg_wentry **p = NULL;
  size_t n = 0;
  int64_t end = day + vg_seg_span_len(VG_RES_BASE);
  uint8_t k[WKEY_LEN];
  MDB_val key, val;
  int rc = mdb_cursor_open(txn, st->blk, &cur);
  if (rc)
    goto fail;
  for (int pass = 0; pass < 2; pass++) {
    wkey(k, series, VG_RES_BASE, day);
    key = (MDB_val){WKEY_LEN, k};
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE)) {
      uint64_t s2;
      uint8_t r2;
      int64_t hour;
      wkey_get(key.mv_data, &s2, &r2, &hour);
      if (s2 != series || r2 != VG_RES_BASE || hour >= end)
        break;
      if ((rc = blk_parse(b, hour, val.mv_data, val.mv_size))) {
        rc = blk_fail(rc, errstr, size, series, hour);
        goto fail;
      }
      int changed = 0;
      for (size_t i = 0; i < b->n; i++) {
        if (!(b->e[i].flags & OPEN_PENDING))
          continue;
        if (pass == 0) {
          if (room_for_window(&st->fw, &st->cap_fw, n)) {
            rc = fail_msg(-ENOMEM, errstr, size, "out of memory sealing windows");
            goto fail;
          }
          if ((rc = blk_get(b, i, series, VG_RES_BASE, &st->fw[n]))) {
            rc = blk_fail(rc, errstr, size, series, hour);
            goto fail;
          }
          n++;
        } else if (b->e[i].flags & OPEN_KEEP) {
          b->e[i].flags &= (uint8_t)~OPEN_PENDING;
          changed = 1;
        } else {
          blk_remove(b, i--);
          changed = 1;
        }
      }
      if (changed) {
        uint8_t kk[WKEY_LEN];
        memcpy(kk, key.mv_data, WKEY_LEN);
        if ((rc = blk_put(st, cur, kk, b, 1)))
          goto fail;
      }
      wkey(k, series, VG_RES_BASE, hour + 1); /* the next block */
      key = (MDB_val){WKEY_LEN, k};
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      goto fail;
    rc = 0;
    if (pass == 0) {
      if (n == 0)
        goto fail;
      p = malloc(n * sizeof *p);
      if (!p) {
        rc = fail_msg(-ENOMEM, errstr, size, "out of memory sealing windows");
        goto fail;
      }
      for (size_t i = 0; i < n; i++)
        p[i] = &st->fw[i];
      if ((rc = seal_group(st, txn, p, n, errstr, size)))
        goto fail;
    }
  }
fail:
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&st->fw[i].acc);
  free(p);
  if (cur)
    mdb_cursor_close(cur);
  return rc;
}

/* 1 when the sealed window [start, end) of (series, res) reaches a flush
 * boundary of its resolution: each series has its own phase within the
 * period, so the series do not all rewrite their segments in the same
 * epoch. */
static int due_at(const struct vg_store *st, uint64_t series, uint8_t res, int64_t start,
                  int64_t end) {
  int64_t every = flush_every(st, res);
  int64_t phase = every ? (int64_t)((series * 0x9e3779b97f4a7c15ULL) >> 33) % every : 0;
  return every == 0 ||
         floor_div64(end + phase, every) > floor_div64(start + phase, every);
}

static int at_boundary(const struct vg_store *st, const struct vg_wentry *w) {
  return due_at(st, w->series, w->res, w->start, w->end);
}

/* 1 when the write transaction may rewrite one more segment. */
static int seal_room(const struct vg_store *st) {
  return st->seals_left > 0;
}

/* Queues a span due for its segment that the transaction has no budget
 * for. Best effort: without memory it stays pending, and vg_store_flush
 * finds it by its rows. */
static void defer_span(struct vg_store *st, uint64_t series, uint8_t res, int64_t span) {
  if (st->ndef == st->capdef) {
    size_t nc = st->capdef ? st->capdef * 2 : 256;
    struct vg_store_wkey *d = realloc(st->deferred, nc * sizeof *d);
    if (!d)
      return;
    st->deferred = d;
    st->capdef = nc;
  }
  st->deferred[st->ndef++] = (struct vg_store_wkey){series, res, span};
}

/* Writes queued spans, oldest first, while the budget lasts. */
static int flush_deferred(struct vg_store *st, MDB_txn *txn, char *errstr, size_t size) {
  while (st->dhead < st->ndef && seal_room(st)) {
    const struct vg_store_wkey *k = &st->deferred[st->dhead++];
    int rc = k->res == VG_RES_BASE
                 ? flush_day(st, txn, k->series, k->start, errstr, size)
                 : flush_group(st, txn, k->series, k->res, k->start, errstr, size);
    if (rc)
      return rc;
  }
  return 0;
}

/* The epoch's base windows, in blocks: one read and one write per (series,
 * hour) touched, with the same flags as `open` rows; then the days that
 * reached a flush boundary (every day with sealed windows when the epoch
 * says flush) go into their segments. open and skeys (the sealed
 * windows) are in key order. */
static int commit_blocks(struct vg_store *st, MDB_txn *txn, const struct vg_store_epoch *ep,
                         const struct okey *skeys, const struct okey *open,
                         char *errstr, size_t size) {
  MDB_cursor *cur = NULL;
  struct blk *b = &st->be;
  size_t io = 0, is = 0, no = ep->nopen, ns = ep->nsealed;
  uint64_t day_series = 0;
  int64_t day = 0;
  int have_day = 0, boundary = 0, day_sealed = 0;
  uint8_t k[WKEY_LEN];
  int rc = mdb_cursor_open(txn, st->blk, &cur);
  if (rc)
    return rc;
  for (;;) {
    while (io < no && open[io].res != VG_RES_BASE)
      io++;
    while (is < ns && skeys[is].res != VG_RES_BASE)
      is++;
    int more = io < no || is < ns;
    uint64_t series = 0;
    int64_t hour = 0;
    if (more) {
      if (is == ns || (io < no && (open[io].series < skeys[is].series ||
                                   (open[io].series == skeys[is].series &&
                                    open[io].start <= skeys[is].start)))) {
        series = open[io].series;
        hour = blk_hour(open[io].start);
      } else {
        series = skeys[is].series;
        hour = blk_hour(skeys[is].start);
      }
    }
    /* a day of a series is complete: flush it when asked, or queue it
     * when the transaction's budget is spent */
    if (have_day && (!more || series != day_series || vg_seg_span(VG_RES_BASE, hour) != day)) {
      if (day_sealed && (boundary || ep->flush)) {
        if (!ep->flush && !seal_room(st))
          defer_span(st, day_series, VG_RES_BASE, day);
        else if ((rc = flush_day(st, txn, day_series, day, errstr, size)))
          goto fail;
      }
      have_day = boundary = day_sealed = 0;
    }
    if (!more)
      break;
    if (!have_day) {
      have_day = 1;
      day_series = series;
      day = vg_seg_span(VG_RES_BASE, hour);
    }
    int found = blk_load(cur, b, k, series, hour, errstr, size);
    if (found < 0) {
      rc = found;
      goto fail;
    }
    size_t io0 = io; /* this hour's open windows: open[io0..io) after the loop */
    for (; io < no && open[io].series == series && open[io].res == VG_RES_BASE &&
           blk_hour(open[io].start) == hour;
         io++) {
      if (io + 8 < no)
        prefetch_window(open[io + 8].w);
      const struct vg_wentry *w = open[io].w;
      long at = found ? blk_find(b, w->start) : -1;
      uint8_t carried = at >= 0 ? b->e[at].flags & OPEN_PENDING : 0;
      if (blk_upsert(b, w, wflags(w) | OPEN_KEEP | carried)) {
        rc = ENOMEM;
        goto fail;
      }
    }
    for (; is < ns && skeys[is].series == series && skeys[is].res == VG_RES_BASE &&
           blk_hour(skeys[is].start) == hour;
         is++) {
      if (is + 8 < ns)
        prefetch_window(skeys[is + 8].w);
      const struct vg_wentry *w = skeys[is].w;
      long at = blk_find(b, w->start);
      /* a final window is never the writer's state to restore: it stays
       * kept only when this epoch also lists it open (store.h) */
      uint8_t carried = at >= 0 && in_okeys(open + io0, io - io0, &skeys[is])
                            ? b->e[at].flags & OPEN_KEEP
                            : 0;
      if (blk_upsert(b, w, wflags(w) | OPEN_PENDING | carried)) {
        rc = ENOMEM;
        goto fail;
      }
      day_sealed = 1;
      boundary |= at_boundary(st, w);
    }
    if ((rc = blk_put(st, cur, k, b, found)))
      goto fail;
  }
fail:
  mdb_cursor_close(cur);
  return rc;
}

/* Evicts the base window (series, start): a pending one stays in its block
 * (no longer kept), another leaves it. */
static int evict_base(struct vg_store *st, MDB_txn *txn, const struct vg_store_wkey *e,
                      char *errstr, size_t size) {
  MDB_cursor *cur = NULL;
  uint8_t k[WKEY_LEN];
  int rc = mdb_cursor_open(txn, st->blk, &cur);
  if (rc)
    return rc;
  int found = blk_load(cur, &st->be, k, e->series, blk_hour(e->start), errstr, size);
  long at = found > 0 ? blk_find(&st->be, e->start) : -1;
  rc = found < 0 ? found : 0;
  if (at >= 0) {
    if (st->be.e[at].flags & OPEN_PENDING)
      st->be.e[at].flags &= (uint8_t)~OPEN_KEEP;
    else
      blk_remove(&st->be, (size_t)at);
    rc = blk_put(st, cur, k, &st->be, 1);
  }
  mdb_cursor_close(cur);
  return rc;
}

/* Format 1 kept base windows in `open`, one row each: moves them into
 * blocks (in the transaction that opens the store). */
static int migrate_v1(struct vg_store *st, MDB_txn *txn, char *errstr, size_t size) {
  MDB_cursor *oc = NULL, *bc = NULL;
  struct blk *b = &st->be;
  uint8_t k[WKEY_LEN], bk[WKEY_LEN];
  MDB_val key, val;
  uint64_t bseries = 0;
  int have = 0, found = 0;
  size_t moved = 0;
  int rc;
  if ((rc = mdb_cursor_open(txn, st->open, &oc)) || (rc = mdb_cursor_open(txn, st->blk, &bc)))
    goto lmdb_fail;
  wkey(k, 0, VG_RES_BASE, INT64_MIN);
  key = (MDB_val){WKEY_LEN, k};
  for (rc = mdb_cursor_get(oc, &key, &val, MDB_SET_RANGE); rc == 0;) {
    struct vg_wentry w;
    if (key.mv_size != WKEY_LEN || ((const uint8_t *)key.mv_data)[8] != VG_RES_BASE) {
      rc = mdb_cursor_get(oc, &key, &val, MDB_NEXT);
      continue;
    }
    if ((rc = get_open(&key, &val, &w, errstr, size)))
      goto fail;
    uint8_t flags = ((const uint8_t *)val.mv_data)[1] & OPEN_FLAGS_KNOWN;
    int64_t hour = blk_hour(w.start);
    if (have && (bseries != w.series || b->hour != hour)) {
      if ((rc = blk_put(st, bc, bk, b, found)))
        goto lmdb_fail;
      have = 0;
    }
    if (!have) {
      found = blk_load(bc, b, bk, w.series, hour, errstr, size);
      if (found < 0) {
        rc = found;
        vg_acc_release(&w.acc);
        goto fail;
      }
      bseries = w.series;
      have = 1;
    }
    rc = blk_upsert(b, &w, flags) ? ENOMEM : 0;
    vg_acc_release(&w.acc);
    if (rc || (rc = mdb_cursor_del(oc, 0)))
      goto lmdb_fail;
    moved++;
    rc = mdb_cursor_get(oc, &key, &val, MDB_NEXT); /* after a delete: the next row */
  }
  if (rc != MDB_NOTFOUND)
    goto lmdb_fail;
  rc = have ? blk_put(st, bc, bk, b, found) : 0;
  if (rc)
    goto lmdb_fail;
  if (moved)
    VG_LOG_INFO("store upgraded to format 2", "base_windows_packed=%zu", moved);
  goto fail;
lmdb_fail:
  rc = fail_msg(map_err(rc), errstr, size, "cannot upgrade the store to format 2: %s",
                mdb_strerror(rc));
fail:
  if (oc)
    mdb_cursor_close(oc);
  if (bc)
    mdb_cursor_close(bc);
  return rc;
}

/* One attempt: everything of the epoch in one write transaction. Returns
 * 0, an LMDB code (MDB_MAP_FULL asks for growth) or one of ours. */
static int commit_once(struct vg_store *st, const struct vg_store_epoch *ep,
                       const struct okey *skeys, const struct okey *open, char *errstr,
                       size_t size) {
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (rc)
    goto fail;
  /* spans earlier commits had no budget for come first */
  st->seals_left = st->o.seal_max;
  if ((rc = flush_deferred(st, txn, errstr, size)))
    goto fail;
  if ((rc = mdb_cursor_open(txn, st->open, &cur)))
    goto fail;
  /* base windows go into blocks */
  if ((rc = commit_blocks(st, txn, ep, skeys, open, errstr, size)))
    goto fail;
  for (size_t i = 0; i < ep->nopen; i++) {
    if (open[i].res == VG_RES_BASE)
      continue;
    /* the windows sit in the caller's order, not in key order: fetch
     * ahead to overlap the cache misses */
    if (i + 16 < ep->nopen)
      prefetch_window(open[i + 16].w);
    if ((rc = put_open(cur, &st->scratch, open[i].w, OPEN_KEEP, OPEN_PENDING, i > 0,
                       !open[i].w->stored)))
      goto fail;
  }
  /* sealed windows wait in `open` (pending) and are written into their
   * segment in batches: a segment is rewritten once per batch, not once
   * per window */
  int boundary = 0; /* a window of the current span reached a flush boundary */
  size_t j = 0;     /* walks `open` (same key order) to see which sealed ones it has */
  for (size_t i = 0; i < ep->nsealed; i++) {
    if (skeys[i].res == VG_RES_BASE)
      continue;
    const struct vg_wentry *w = skeys[i].w;
    int64_t span = vg_seg_span(w->res, w->start);
    struct okey probe = {w->series, w->start, w->res, w};
    while (j < ep->nopen && cmp_okey(&open[j], &probe) < 0)
      j++;
    int in_open = j < ep->nopen && cmp_okey(&open[j], &probe) == 0;
    /* a final window is never the writer's state to restore: kept only
     * when this epoch also lists it open */
    if ((rc = put_open(cur, &st->scratch, w, OPEN_PENDING, in_open ? OPEN_KEEP : 0, 0,
                       !w->stored && !in_open)))
      goto fail;
    boundary |= at_boundary(st, w);
    int last_of_span = i + 1 == ep->nsealed || skeys[i + 1].series != w->series ||
                       skeys[i + 1].res != w->res ||
                       vg_seg_span(w->res, skeys[i + 1].start) != span;
    if (!last_of_span)
      continue;
    if (boundary && !ep->flush && !seal_room(st))
      defer_span(st, w->series, w->res, span);
    else if ((boundary || ep->flush) &&
             (rc = flush_group(st, txn, w->series, w->res, span, errstr, size)))
      goto fail;
    boundary = 0;
  }
  for (size_t i = 0; i < ep->nevict; i++) {
    if (ep->evict[i].res == VG_RES_BASE) {
      if ((rc = evict_base(st, txn, &ep->evict[i], errstr, size)))
        goto fail;
      continue;
    }
    uint8_t k[WKEY_LEN];
    wkey(k, ep->evict[i].series, ep->evict[i].res, ep->evict[i].start);
    MDB_val key = {WKEY_LEN, k}, val;
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND)
      continue;
    if (rc)
      goto fail;
    if (val.mv_size >= OPEN_HDR && (((const uint8_t *)val.mv_data)[1] & OPEN_PENDING)) {
      /* not in its segment yet: it stays until flushed, no longer kept */
      st->scratch.len = 0;
      sbuf_put(&st->scratch, val.mv_data, val.mv_size);
      if (st->scratch.err) {
        rc = ENOMEM;
        goto fail;
      }
      st->scratch.p[1] &= (uint8_t)~OPEN_KEEP;
      MDB_val nv = {val.mv_size, st->scratch.p};
      rc = mdb_cursor_put(cur, &key, &nv, MDB_CURRENT);
    } else {
      rc = mdb_cursor_del(cur, 0);
    }
    if (rc)
      goto fail;
  }
  mdb_cursor_close(cur);
  cur = NULL;
  for (size_t i = 0; i < ep->nfps; i++)
    if (ep->fps[i].n && (rc = put_fps(st, txn, &ep->fps[i])))
      goto fail;
  for (size_t i = 0; i < ep->nseries; i++)
    if ((rc = put_series(st, txn, &ep->series[i], errstr, size)))
      goto fail;
  for (size_t i = 0; i < ep->npos; i++)
    if ((rc = put_pos(st, txn, &ep->pos[i])))
      goto fail;
  uint64_t seq;
  if ((rc = meta_get_u64(txn, st->meta, "emit_seq", &seq)))
    goto fail;
  for (size_t i = 0; i < ep->nemit; i++) {
    const struct vg_store_emit *e = &ep->emit[i];
    uint8_t k[8], v[27];
    be64_put(k, seq++);
    v[0] = EMIT_VERSION;
    for (int b = 0; b < 8; b++) {
      v[1 + b] = (uint8_t)(e->series >> (8 * b));
      v[10 + b] = (uint8_t)((uint64_t)e->start >> (8 * b));
    }
    v[9] = e->res;
    for (int b = 0; b < 4; b++)
      v[18 + b] = (uint8_t)(e->revision >> (8 * b));
    memset(v + 22, 0, 5); /* reserved */
    MDB_val key = {8, k}, val = {sizeof v, v};
    if ((rc = mdb_put(txn, st->emit, &key, &val, MDB_APPEND)))
      goto fail;
  }
  if ((rc = meta_put_u64(txn, st->meta, "emit_seq", seq)) ||
      (rc = meta_put_u64(txn, st->meta, "watermark", (uint64_t)ep->watermark_ns)) ||
      (rc = meta_put_u64(txn, st->meta, "epoch", ep->epoch)))
    goto fail;
  if (ep->rollup_seq && (rc = meta_put_u64(txn, st->meta, "rollup_seq", ep->rollup_seq)))
    goto fail;
  for (size_t i = 0; i < ep->nblobs; i++) {
    char name[128];
    int n = snprintf(name, sizeof name, "x:%s", ep->blobs[i].name);
    MDB_val key = {(size_t)n, name}, val = {ep->blobs[i].len, (void *)ep->blobs[i].data};
    assert(n > 0 && (size_t)n < sizeof name);
    if ((rc = mdb_put(txn, st->meta, &key, &val, 0)))
      goto fail;
  }
  rc = mdb_txn_commit(txn);
  txn = NULL;
fail:
  if (cur)
    mdb_cursor_close(cur);
  if (txn)
    mdb_txn_abort(txn);
  return rc;
}

/* Room for n keys in *v (kept between commits, grown by half again). 0 or
 * -ENOMEM. */
static int reserve_keys(struct okey **v, size_t *cap, size_t n) {
  if (n <= *cap)
    return 0;
  size_t nc = n + n / 2;
  struct okey *p = realloc(*v, nc * sizeof *p);
  if (!p)
    return -ENOMEM;
  *v = p;
  *cap = nc;
  return 0;
}

int vg_store_commit(struct vg_store *st, const struct vg_store_epoch *ep, char *errstr,
                    size_t errstr_size) {
  if (st->o.readonly)
    return fail_msg(VG_ECONFIG, errstr, errstr_size, "cannot commit: the store is read-only");
  int rc = -ENOMEM;
  if (reserve_keys(&st->okeys, &st->cap_okeys, ep->nopen) ||
      reserve_keys(&st->skeys, &st->cap_skeys, ep->nsealed))
    return fail_msg(rc, errstr, errstr_size, "out of memory committing epoch %" PRIu64,
                    ep->epoch);
  /* the sort's scratch: without it the sort is slower, not wrong */
  (void)reserve_keys(&st->tkeys, &st->cap_tkeys,
                     ep->nopen > ep->nsealed ? ep->nopen : ep->nsealed);
  struct okey *open = st->okeys;
  /* key order: segments are grouped, and B-tree puts stay local; the keys
   * are copied next to the pointers so that sorting does not chase them */
  for (size_t i = 0; i < ep->nopen; i++) {
    const struct vg_wentry *w = ep->open[i];
    open[i] = (struct okey){w->series, w->start, w->res, w};
  }
  sort_okeys(open, ep->nopen, st->cap_tkeys >= ep->nopen ? st->tkeys : NULL);
  for (size_t i = 0; i < ep->nsealed; i++) {
    const struct vg_wentry *w = ep->sealed[i];
    st->skeys[i] = (struct okey){w->series, w->start, w->res, w};
  }
  sort_okeys(st->skeys, ep->nsealed, st->cap_tkeys >= ep->nsealed ? st->tkeys : NULL);
  /* the queue of deferred spans: compacted between transactions, and put
   * back as it was when one aborts */
  if (st->dhead == st->ndef) {
    st->dhead = st->ndef = 0;
  } else if (st->dhead >= st->capdef / 2) {
    memmove(st->deferred, st->deferred + st->dhead,
            (st->ndef - st->dhead) * sizeof *st->deferred);
    st->ndef -= st->dhead;
    st->dhead = 0;
  }
  size_t dhead = st->dhead, ndef = st->ndef;
  for (;;) {
    if (errstr_size)
      errstr[0] = 0;
    st->dhead = dhead;
    st->ndef = ndef;
    rc = commit_once(st, ep, st->skeys, open, errstr, errstr_size);
    if (rc != MDB_MAP_FULL)
      break;
    int g = grow(st); /* the transaction was aborted: replay the epoch */
    if (g) {
      rc = fail_msg(g, errstr, errstr_size,
                    "cannot commit epoch %" PRIu64 ": the store map is full at %zu bytes "
                    "(map_max %zu); nothing of this epoch was written",
                    ep->epoch, st->map_size, st->o.map_max);
      goto fail;
    }
  }
  if (rc > 0 || (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)) {
    int lmdb = rc;
    rc = map_err(rc);
    if (rc == -EIO)
      rc = diagnose_eio(st);
    fail_msg(rc, errstr, errstr_size,
             "cannot commit epoch %" PRIu64 ": %s; nothing of this epoch was written%s",
             ep->epoch, rc == -EIO ? mdb_strerror(lmdb) : strerror(-rc),
             rc == -ENOSPC || rc == -EFBIG || rc == -EDQUOT
                 ? " (disk full or file size limit: retry the same epoch when space returns)"
                 : "");
  } else if (rc && errstr_size && !errstr[0]) {
    fail_msg(rc, errstr, errstr_size,
             "cannot commit epoch %" PRIu64 ": %s; nothing of this epoch was written",
             ep->epoch, vg_strerror(rc));
  }
fail:
  if (rc) { /* nothing of the epoch was written: nor taken from the queue */
    st->dhead = dhead;
    st->ndef = ndef;
  }
  return rc;
}

static int put_blob_once(struct vg_store *st, const char *name, const void *data, size_t len) {
  MDB_txn *txn;
  char k[128];
  int n = snprintf(k, sizeof k, "x:%s", name);
  assert(n > 0 && (size_t)n < sizeof k);
  int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (rc)
    return rc;
  MDB_val key = {(size_t)n, k}, val = {len, (void *)data};
  if ((rc = mdb_put(txn, st->meta, &key, &val, 0))) {
    mdb_txn_abort(txn);
    return rc;
  }
  return mdb_txn_commit(txn);
}

int vg_store_put_blob(struct vg_store *st, const char *name, const void *data, size_t len,
                      char *errstr, size_t errstr_size) {
  if (st->o.readonly)
    return fail_msg(VG_ECONFIG, errstr, errstr_size, "cannot write: the store is read-only");
  int rc;
  while ((rc = put_blob_once(st, name, data, len)) == MDB_MAP_FULL)
    if ((rc = grow(st)))
      break;
  if (rc)
    return fail_msg(rc > 0 ? map_err(rc) : rc, errstr, errstr_size, "cannot write %s: %s",
                    name, rc > 0 ? mdb_strerror(rc) : vg_strerror(rc));
  return 0;
}

/* --- load ---------------------------------------------------------------- */

/* Gives a decoded open window to vg_store_load's caller, then releases it. */
static int hand_window(struct vg_wentry *w, int (*on_window)(const struct vg_wentry *, void *),
                       void *ctx, struct vg_store_state *s) {
  s->nopen++;
  int rc = on_window ? on_window(w, ctx) : 0;
  vg_acc_release(&w->acc);
  return rc;
}

int vg_store_load(struct vg_store *st,
                  int (*on_window)(const struct vg_wentry *w, void *ctx),
                  int (*on_pos)(const struct vg_store_pos *p, void *ctx), void *ctx,
                  struct vg_store_state *state, char *errstr, size_t errstr_size) {
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  struct vg_store_state s = {0};
  struct blk lb = {0};
  uint64_t wm;
  int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
  if (rc)
    goto lmdb_fail;
  if ((rc = meta_get_u64(txn, st->meta, "epoch", &s.epoch)) ||
      (rc = meta_get_u64(txn, st->meta, "watermark", &wm)) ||
      (rc = meta_get_u64(txn, st->meta, "emit_seq", &s.emit_seq)) ||
      (rc = meta_get_opt(txn, st->meta, "rollup_seq", &s.rollup_seq)) ||
      (rc = meta_get_opt(txn, st->meta, "retain_gen", &s.retain_gen)))
    goto lmdb_fail;
  s.watermark_ns = (int64_t)wm;
  if ((rc = mdb_cursor_open(txn, st->open, &cur)))
    goto lmdb_fail;
  for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    struct vg_wentry w;
    if (val.mv_size >= OPEN_HDR && !(((const uint8_t *)val.mv_data)[1] & OPEN_KEEP))
      continue; /* only waiting for its segment: not the writer's state */
    if ((rc = get_open(&key, &val, &w, errstr, errstr_size)))
      goto fail;
    if ((rc = hand_window(&w, on_window, ctx, &s)))
      goto fail;
  }
  if (rc != MDB_NOTFOUND)
    goto lmdb_fail;
  mdb_cursor_close(cur);
  cur = NULL;
  if (st->has_blk) {
    if ((rc = mdb_cursor_open(txn, st->blk, &cur)))
      goto lmdb_fail;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
      uint64_t series;
      uint8_t res;
      int64_t hour;
      if (key.mv_size != WKEY_LEN) {
        rc = fail_msg(VG_ECORRUPT, errstr, errstr_size, "corrupt key in the block table");
        goto fail;
      }
      wkey_get(key.mv_data, &series, &res, &hour);
      if ((rc = blk_parse(&lb, hour, val.mv_data, val.mv_size))) {
        rc = blk_fail(rc, errstr, errstr_size, series, hour);
        goto fail;
      }
      for (size_t i = 0; i < lb.n; i++) {
        if (!(lb.e[i].flags & OPEN_KEEP))
          continue; /* only waiting for its segment: not the writer's state */
        struct vg_wentry w;
        if ((rc = blk_get(&lb, i, series, res, &w))) {
          rc = blk_fail(rc, errstr, errstr_size, series, hour);
          goto fail;
        }
        if ((rc = hand_window(&w, on_window, ctx, &s)))
          goto fail;
      }
    }
    if (rc != MDB_NOTFOUND)
      goto lmdb_fail;
    mdb_cursor_close(cur);
  }
  if ((rc = mdb_cursor_open(txn, st->pos, &cur)))
    goto lmdb_fail;
  for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    struct vg_store_pos p;
    char topic[256];
    if ((rc = get_pos(&key, &val, &p, topic))) {
      fail_msg(rc, errstr, errstr_size, "corrupt or unsupported partition position row");
      goto fail;
    }
    s.npos++;
    if (on_pos && (rc = on_pos(&p, ctx)))
      goto fail;
  }
  if (rc != MDB_NOTFOUND)
    goto lmdb_fail;
  rc = 0;
  if (state)
    *state = s;
  goto fail;
lmdb_fail:
  rc = fail_msg(map_err(rc), errstr, errstr_size, "cannot load the store: %s", mdb_strerror(rc));
fail:
  blk_free(&lb);
  if (cur)
    mdb_cursor_close(cur);
  if (txn)
    mdb_txn_abort(txn);
  return rc;
}

/* --- retention ----------------------------------------------------------- */

/* One transaction of retention work, resuming at st->ret_series/ret_res.
 * *done is set when the whole key space was walked. */
static int retain_txn(struct vg_store *st, int64_t wm_s, size_t max_deletes,
                      size_t *deleted, int *done) {
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  size_t work = 0, dels = 0;
  /* where this pass resumes when its transaction does not commit */
  uint64_t from_series = st->ret_series;
  uint8_t from_res = st->ret_res;
  *done = 0;
  int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (rc)
    goto fail;
  if ((rc = mdb_cursor_open(txn, st->seg, &cur)))
    goto fail;
  while (dels < max_deletes && work < 4 * max_deletes) {
    uint8_t k[WKEY_LEN];
    wkey(k, st->ret_series, st->ret_res, INT64_MIN);
    MDB_val key = {WKEY_LEN, k}, val;
    work++;
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) {
      *done = 1;
      st->ret_series = 0;
      st->ret_res = 0;
      rc = 0;
      break;
    }
    if (rc)
      goto fail;
    uint64_t series;
    uint8_t res;
    int64_t span;
    wkey_get(key.mv_data, &series, &res, &span);
    int64_t keep = res < 3 ? st->o.retention_s[res] : 0;
    int64_t len = vg_seg_span_len(res);
    /* delete expired spans of this (series, res), oldest first */
    while (keep > 0 && len > 0 && span + len <= wm_s - keep && dels < max_deletes) {
      if ((rc = mdb_cursor_del(cur, 0)))
        goto fail;
      dels++;
      work++;
      rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT); /* after a delete: the next row */
      if (rc == MDB_NOTFOUND || (rc == 0 && key.mv_size != WKEY_LEN))
        break;
      if (rc)
        goto fail;
      uint64_t s2;
      uint8_t r2;
      wkey_get(key.mv_data, &s2, &r2, &span);
      if (s2 != series || r2 != res)
        break;
    }
    if (dels >= max_deletes) {
      st->ret_series = series; /* this (series, res) may have more */
      st->ret_res = res;
      break;
    }
    /* next (series, res) */
    if (res < 255) {
      st->ret_series = series;
      st->ret_res = (uint8_t)(res + 1);
    } else if (series < UINT64_MAX) {
      st->ret_series = series + 1;
      st->ret_res = 0;
    } else {
      *done = 1;
      st->ret_series = 0;
      st->ret_res = 0;
      break;
    }
  }
  rc = 0;
  mdb_cursor_close(cur);
  cur = NULL;
  if (dels > 0) {
    /* rows left the store without an epoch or an emit record: readers that
     * derive validators (ETags) from the meta see it here */
    uint64_t gen;
    if ((rc = meta_get_opt(txn, st->meta, "retain_gen", &gen)) ||
        (rc = meta_put_u64(txn, st->meta, "retain_gen", gen + 1)))
      goto fail;
  }
  rc = mdb_txn_commit(txn);
  txn = NULL;
  *deleted += dels;
fail:
  if (cur)
    mdb_cursor_close(cur);
  if (txn)
    mdb_txn_abort(txn);
  if (rc) {
    st->ret_series = from_series;
    st->ret_res = from_res;
    *done = 0;
  }
  return rc;
}

int vg_store_retain(struct vg_store *st, int64_t watermark_ns, size_t max_deletes,
                    size_t max_txns, size_t *deleted, int *more, char *errstr,
                    size_t errstr_size) {
  size_t d = 0;
  int done = 1, rc = 0;
  if (st->o.readonly)
    return fail_msg(VG_ECONFIG, errstr, errstr_size, "cannot apply retention: read-only");
  int dup_done = 1;
  if (watermark_ns != INT64_MIN && max_deletes > 0 && st->has_dup &&
      st->o.dedupe_retention_s > 0) {
    int64_t horizon = floor_div64(watermark_ns, 1000000000) - st->o.dedupe_retention_s;
    while ((rc = retain_dup_txn(st, horizon, max_deletes, &dup_done)) == MDB_MAP_FULL &&
           grow(st) == 0)
      ;
    if (rc)
      return fail_msg(map_err(rc), errstr, errstr_size,
                      "retention of fingerprints failed: %s", mdb_strerror(rc));
  }
  if (watermark_ns != INT64_MIN && max_deletes > 0) {
    int64_t wm_s = watermark_ns / 1000000000;
    for (size_t t = 0; t < max_txns; t++) {
      rc = retain_txn(st, wm_s, max_deletes, &d, &done);
      if (rc == MDB_MAP_FULL && grow(st) == 0)
        continue;
      if (rc) {
        rc = fail_msg(map_err(rc), errstr, errstr_size, "retention pass failed: %s",
                      mdb_strerror(rc));
        break;
      }
      if (done)
        break;
    }
  }
  if (deleted)
    *deleted = d;
  if (more)
    *more = !done || !dup_done;
  return rc;
}

/* --- flushing pending sealed windows -------------------------------------- */

/* One transaction of a flush pass over `open` (blk 0) or over blocks (blk
 * 1), resuming where the last one stopped: a span that holds pending
 * windows goes into its segment -- an `open` row's span, or a block's day
 * -- when its end is at or before wm_s or when one of them reached its
 * flush boundary (commits flush those themselves, unless they had no
 * budget left and the process stopped before a later commit did). Visiting
 * a row or a block counts as one row; at most seal_max segments per
 * transaction. *done is set when the table was walked to its end. */
static int flush_txn(struct vg_store *st, int blk, int64_t wm_s, size_t max_rows,
                     size_t *flushed, int *done, char *errstr, size_t size) {
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  uint8_t k[WKEY_LEN];
  uint8_t *resume_key = blk ? st->bflush_key : st->flush_key;
  int *resume = blk ? &st->bflush_resume : &st->flush_resume;
  size_t rows = 0, nflushed = 0;
  *done = 0;
  int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (rc)
    goto fail;
  st->seals_left = st->o.seal_max;
  if ((rc = mdb_cursor_open(txn, blk ? st->blk : st->open, &cur)))
    goto fail;
  if (*resume) {
    memcpy(k, resume_key, WKEY_LEN);
    key = (MDB_val){WKEY_LEN, k};
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
  } else {
    rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
  }
  while (rc == 0 && rows < max_rows) {
    rows++;
    uint64_t series;
    uint8_t res;
    int64_t start;
    if (key.mv_size != WKEY_LEN) {
      rc = fail_msg(VG_ECORRUPT, errstr, size, "corrupt key in the %s table",
                    blk ? "block" : "open");
      goto fail;
    }
    wkey_get(key.mv_data, &series, &res, &start);
    int64_t len = vg_seg_span_len(res);
    int64_t span = len ? vg_seg_span(res, start) : 0;
    int over = len && (wm_s == INT64_MAX || span + len <= wm_s);
    int pending = 0;
    if (!len) {
      /* no segment for this resolution */
    } else if (!blk) {
      if (val.mv_size >= OPEN_HDR && (((const uint8_t *)val.mv_data)[1] & OPEN_PENDING)) {
        struct vg_rbuf r = {(const uint8_t *)val.mv_data + 6,
                         (const uint8_t *)val.mv_data + OPEN_HDR, 0};
        int64_t end = (int64_t)rb_u64le(&r);
        pending = over || due_at(st, series, res, start, end);
      }
    } else {
      if ((rc = blk_parse(&st->be, start, val.mv_data, val.mv_size))) {
        rc = blk_fail(rc, errstr, size, series, start);
        goto fail;
      }
      for (size_t i = 0; i < st->be.n && !pending; i++)
        pending = (st->be.e[i].flags & OPEN_PENDING) &&
                  (over || due_at(st, series, res, st->be.e[i].start, st->be.e[i].end));
    }
    if (pending && !seal_room(st))
      break; /* the next transaction resumes at this row */
    if (pending) {
      rc = blk ? flush_day(st, txn, series, span, errstr, size)
               : flush_group(st, txn, series, res, span, errstr, size);
      if (rc)
        goto fail;
      nflushed++;
      wkey(k, series, res, span + len); /* past this span */
      key = (MDB_val){WKEY_LEN, k};
      rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
      continue;
    }
    rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
  }
  if (rc == MDB_NOTFOUND) {
    *done = 1;
    *resume = 0;
  } else if (rc) {
    goto fail;
  } else {
    memcpy(resume_key, key.mv_data, WKEY_LEN);
    *resume = 1;
  }
  mdb_cursor_close(cur);
  cur = NULL;
  rc = mdb_txn_commit(txn);
  txn = NULL;
  if (rc == 0)
    *flushed += nflushed;
fail:
  if (cur)
    mdb_cursor_close(cur);
  if (txn)
    mdb_txn_abort(txn);
  return rc;
}

int vg_store_flush(struct vg_store *st, int64_t watermark_ns, size_t max_rows,
                   size_t max_txns, size_t *flushed, int *more, char *errstr,
                   size_t errstr_size) {
  size_t f = 0;
  int done = 0, rc = 0;
  if (st->o.readonly)
    return fail_msg(VG_ECONFIG, errstr, errstr_size, "cannot flush: the store is read-only");
  int64_t wm_s = watermark_ns == INT64_MAX ? INT64_MAX
                 : watermark_ns == INT64_MIN ? INT64_MIN
                                             : floor_div64(watermark_ns, 1000000000);
  if (errstr_size)
    errstr[0] = 0;
  /* a pass over `open`, then one over blocks, and so on; each resumes
   * where the previous call stopped, and a round is done once each was
   * walked to its end (in this call or earlier ones) */
  int all = st->has_blk ? 3 : 1;
  for (size_t t = 0; t < max_txns && !done && max_rows > 0 && wm_s != INT64_MIN; t++) {
    int d = 0;
    rc = flush_txn(st, st->flush_on_blk, wm_s, max_rows, &f, &d, errstr, errstr_size);
    if (rc == 0 && d) {
      st->flush_walked |= st->flush_on_blk ? 2 : 1;
      st->flush_on_blk = st->has_blk && !st->flush_on_blk;
    }
    if (st->flush_walked == all) {
      done = 1;
      st->flush_walked = 0;
    }
    if (rc == MDB_MAP_FULL && grow(st) == 0) {
      t--; /* the same batch again in the bigger map */
      continue;
    }
    if (rc > 0 || (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)) {
      int lmdb = rc;
      rc = fail_msg(map_err(rc), errstr, errstr_size, "cannot flush sealed windows: %s",
                    mdb_strerror(lmdb));
    }
    if (rc)
      break;
  }
  if (flushed)
    *flushed = f;
  if (more)
    *more = !done;
  return rc;
}

/* --- emit log ---------------------------------------------------------------- */

int vg_store_trim_emit(struct vg_store *st, uint64_t below, size_t max_deletes,
                       size_t *deleted, char *errstr, size_t errstr_size) {
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  size_t n = 0;
  if (st->o.readonly)
    return fail_msg(VG_ECONFIG, errstr, errstr_size, "cannot trim: the store is read-only");
  int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
  if (rc)
    goto fail;
  if ((rc = mdb_cursor_open(txn, st->emit, &cur)))
    goto fail;
  for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && n < max_deletes;
       rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    if (key.mv_size != 8 || be64_get(key.mv_data) >= below)
      break;
    if ((rc = mdb_cursor_del(cur, 0)))
      goto fail;
    n++;
  }
  if (rc && rc != MDB_NOTFOUND)
    goto fail;
  mdb_cursor_close(cur);
  cur = NULL;
  rc = mdb_txn_commit(txn);
  txn = NULL;
fail:
  if (cur)
    mdb_cursor_close(cur);
  if (txn)
    mdb_txn_abort(txn);
  if (deleted)
    *deleted = rc ? 0 : n;
  if (rc)
    return fail_msg(map_err(rc), errstr, errstr_size, "cannot trim the emit log: %s",
                    mdb_strerror(rc));
  return 0;
}

/* --- readers ------------------------------------------------------------- */

int vg_store_reader_check(struct vg_store *st, int *dead) {
  int n = 0;
  int rc = mdb_reader_check(st->env, &n);
  if (dead)
    *dead = n;
  return map_err(rc);
}

struct stale_ctx {
  uint64_t last, max_lag;
  int n;
};

static int stale_line(const char *msg, void *ctx) {
  struct stale_ctx *c = ctx;
  unsigned long pid;
  char thr[64];
  char txn[32];
  /* "    pid     thread     txnid" lines; the header and empty slots ("-") skip */
  if (sscanf(msg, "%lu %63s %31s", &pid, thr, txn) == 3 && txn[0] != '-') {
    uint64_t id = strtoull(txn, NULL, 10);
    if (c->last > id && c->last - id > c->max_lag)
      c->n++;
  }
  return 0;
}

int vg_store_stale_readers(struct vg_store *st, uint64_t max_lag, int *n) {
  MDB_envinfo info;
  int rc = mdb_env_info(st->env, &info);
  if (rc)
    return map_err(rc);
  struct stale_ctx c = {info.me_last_txnid, max_lag, 0};
  rc = mdb_reader_list(st->env, stale_line, &c);
  *n = c.n;
  return rc < 0 ? -EIO : 0;
}

int vg_store_stat(struct vg_store *st, struct vg_store_stat *out) {
  MDB_envinfo info;
  MDB_stat ms;
  struct vg_store_reader *r = NULL;
  /* a registered reader: the map cannot be resized under the env info and
   * the snapshot (any thread calls this: the daemon's /metrics does) */
  int rc = vg_store_reader_begin(st, &r);
  if (rc)
    return rc;
  if ((rc = mdb_env_info(st->env, &info)) || (rc = mdb_env_stat(st->env, &ms))) {
    vg_store_reader_end(r);
    return map_err(rc);
  }
  MDB_txn *txn = r->txn;
  memset(out, 0, sizeof *out);
  out->segment_writes = st->seals;
  out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
  out->map_bytes = info.me_mapsize;
  MDB_stat s;
  if (mdb_stat(txn, st->seg, &s) == 0)
    out->segments = s.ms_entries;
  if (mdb_stat(txn, st->open, &s) == 0)
    out->open_windows = s.ms_entries;
  MDB_cursor *cur;
  if (st->has_blk && mdb_cursor_open(txn, st->blk, &cur) == 0) {
    /* a block's window count is its second field: no decoding */
    MDB_val key, val;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
      struct vg_rbuf rb = {val.mv_data, (const uint8_t *)val.mv_data + val.mv_size, 0};
      rb_u8(&rb);
      uint64_t n = rb_varint(&rb);
      if (!rb.err)
        out->open_windows += n;
    }
    mdb_cursor_close(cur);
  }
  if (mdb_stat(txn, st->series, &s) == 0)
    out->series = s.ms_entries;
  if (mdb_stat(txn, st->emit, &s) == 0)
    out->emit_records = s.ms_entries;
  if (st->has_dup && mdb_cursor_open(txn, st->dup, &cur) == 0) {
    MDB_val key, val;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
      out->dedupe_rows++;
      out->dedupe_bytes += key.mv_size + val.mv_size;
    }
    mdb_cursor_close(cur);
  }
  vg_store_reader_end(r);
  return 0;
}

int vg_store_reader_begin(struct vg_store *st, struct vg_store_reader **out) {
  struct vg_store_reader *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->st = st;
  pthread_mutex_lock(&st->lock);
  while (st->growing)
    pthread_cond_wait(&st->cond, &st->lock);
  st->readers++;
  pthread_mutex_unlock(&st->lock);
  int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn);
  if (rc == MDB_MAP_RESIZED) {
    /* another process grew the map: adopt its size (no txn of ours is
     * active while we hold every reader slot of this process) */
    pthread_mutex_lock(&st->lock);
    st->readers--;
    st->growing = 1;
    while (st->readers)
      pthread_cond_wait(&st->cond, &st->lock);
    rc = mdb_env_set_mapsize(st->env, 0);
    st->growing = 0;
    st->readers++;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->lock);
    if (rc == 0)
      rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn);
  }
  if (rc) {
    r->txn = NULL;
    vg_store_reader_end(r);
    return map_err(rc);
  }
  *out = r;
  return 0;
}

void vg_store_reader_end(struct vg_store_reader *r) {
  if (!r)
    return;
  if (r->txn)
    mdb_txn_abort(r->txn);
  struct vg_store *st = r->st;
  pthread_mutex_lock(&st->lock);
  st->readers--;
  if (st->readers == 0)
    pthread_cond_broadcast(&st->cond);
  pthread_mutex_unlock(&st->lock);
  free(r);
}

static int cmp_start(const void *a, const void *b) {
  const struct vg_wentry *x = a, *y = b;
  return (x->start > y->start) - (x->start < y->start);
}

int vg_store_read_range(struct vg_store_reader *r, uint64_t series, uint8_t res,
                        int64_t from_s, int64_t to_s,
                        int (*cb)(const struct vg_wentry *w, void *ctx), void *ctx,
                        char *errstr, size_t errstr_size) {
  struct vg_store *st = r->st;
  MDB_cursor *cur = NULL;
  struct vg_wentry *open = NULL;
  size_t nopen = 0, capopen = 0, j = 0;
  struct vg_segment seg = {0};
  MDB_val key, val;
  uint8_t k[WKEY_LEN];
  int rc;
  struct blk lb = {0};
  size_t nblk = 0;
  if (vg_seg_span_len(res) == 0 || from_s >= to_s)
    return 0;
  /* the open windows of the range first (usually few), to interleave:
   * base windows from their blocks, then rows of `open` */
  if (res == VG_RES_BASE && st->has_blk) {
    if ((rc = mdb_cursor_open(r->txn, st->blk, &cur)))
      goto lmdb_fail;
    wkey(k, series, res, blk_hour(from_s));
    key = (MDB_val){WKEY_LEN, k};
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
      uint64_t s;
      uint8_t rs;
      int64_t hour;
      wkey_get(key.mv_data, &s, &rs, &hour);
      if (key.mv_size != WKEY_LEN || s != series || rs != res || hour >= to_s)
        break;
      if ((rc = blk_parse(&lb, hour, val.mv_data, val.mv_size))) {
        rc = blk_fail(rc, errstr, errstr_size, series, hour);
        goto fail;
      }
      for (size_t i = 0; i < lb.n; i++) {
        if (lb.e[i].start < from_s || lb.e[i].start >= to_s)
          continue;
        if (room_for_window(&open, &capopen, nopen)) {
          rc = fail_msg(-ENOMEM, errstr, errstr_size, "out of memory reading a range");
          goto fail;
        }
        if ((rc = blk_get(&lb, i, series, res, &open[nopen]))) {
          rc = blk_fail(rc, errstr, errstr_size, series, hour);
          goto fail;
        }
        nopen++;
      }
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      goto lmdb_fail;
    mdb_cursor_close(cur);
    cur = NULL;
    nblk = nopen;
  }
  if ((rc = mdb_cursor_open(r->txn, st->open, &cur)))
    goto lmdb_fail;
  wkey(k, series, res, from_s);
  key = (MDB_val){WKEY_LEN, k};
  for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    uint64_t s;
    uint8_t rs;
    int64_t t;
    wkey_get(key.mv_data, &s, &rs, &t);
    if (s != series || rs != res || t >= to_s)
      break;
    if (room_for_window(&open, &capopen, nopen)) {
      rc = fail_msg(-ENOMEM, errstr, errstr_size, "out of memory reading a range");
      goto fail;
    }
    if ((rc = get_open(&key, &val, &open[nopen], errstr, errstr_size)))
      goto fail;
    nopen++;
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    goto lmdb_fail;
  mdb_cursor_close(cur);
  cur = NULL;
  if (nblk && nopen > nblk) /* blocks and rows of a store of format 1: in time order */
    qsort(open, nopen, sizeof *open, cmp_start);
  if ((rc = mdb_cursor_open(r->txn, st->seg, &cur)))
    goto lmdb_fail;
  wkey(k, series, res, vg_seg_span(res, from_s));
  key = (MDB_val){WKEY_LEN, k};
  for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    uint64_t s;
    uint8_t rs;
    int64_t span;
    wkey_get(key.mv_data, &s, &rs, &span);
    if (s != series || rs != res || span >= to_s)
      break;
    struct vg_seg_key sk = {series, res, span};
    char msg[256];
    rc = vg_seg_decode(val.mv_data, val.mv_size, &sk, &seg, msg, sizeof msg);
    if (rc) {
      char who[300];
      name_series(r->txn, st, series, who, sizeof who);
      rc = fail_msg(rc, errstr, errstr_size, "cannot read %s: %s", who, msg);
      goto fail;
    }
    for (size_t i = 0; i < seg.n; i++) {
      const struct vg_wentry *w = &seg.w[i];
      if (w->start < from_s || w->start >= to_s)
        continue;
      while (j < nopen && open[j].start < w->start)
        if ((rc = cb(&open[j++], ctx)))
          goto fail;
      if (j < nopen && open[j].start == w->start) {
        if ((rc = cb(&open[j++], ctx)))
          goto fail;
        continue;
      }
      if ((rc = cb(w, ctx)))
        goto fail;
    }
    vg_segment_release(&seg);
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    goto lmdb_fail;
  while (j < nopen)
    if ((rc = cb(&open[j++], ctx)))
      goto fail;
  rc = 0;
  goto fail;
lmdb_fail:
  rc = fail_msg(map_err(rc), errstr, errstr_size, "cannot read series %" PRIu64 ": %s",
                series, mdb_strerror(rc));
fail:
  blk_free(&lb);
  vg_segment_release(&seg);
  for (size_t i = 0; i < nopen; i++)
    vg_acc_release(&open[i].acc);
  free(open);
  if (cur)
    mdb_cursor_close(cur);
  return rc;
}

int vg_store_window_loader(void *store, uint64_t series, uint8_t res, int64_t start,
                           struct vg_wentry *out) {
  struct vg_store *st = store;
  struct vg_store_reader *r = NULL;
  struct vg_segment seg = {0};
  uint8_t k[WKEY_LEN];
  MDB_val key, val;
  char msg[512];
  int rc = vg_store_reader_begin(st, &r);
  if (rc)
    return rc;
  /* a block entry or an open row (pending or kept) holds the
   * full-precision state */
  if (res == VG_RES_BASE && st->has_blk) {
    struct blk lb = {0};
    int64_t hour = blk_hour(start);
    wkey(k, series, res, hour);
    key = (MDB_val){WKEY_LEN, k};
    rc = mdb_get(r->txn, st->blk, &key, &val);
    if (rc == 0) {
      rc = blk_parse(&lb, hour, val.mv_data, val.mv_size);
      long at = rc == 0 ? blk_find(&lb, start) : -1;
      if (at >= 0 && (rc = blk_get(&lb, (size_t)at, series, res, out)) == 0)
        rc = 1;
      if (rc < 0)
        VG_LOG_ERROR("cannot load a window to revise it", "series=%" PRIu64
                     " error=\"corrupt block of open base windows\"", series);
      blk_free(&lb);
      if (rc != 0)
        goto done;
    } else if (rc != MDB_NOTFOUND) {
      rc = map_err(rc);
      goto done;
    }
  }
  wkey(k, series, res, start);
  key = (MDB_val){WKEY_LEN, k};
  rc = mdb_get(r->txn, st->open, &key, &val);
  if (rc == 0) {
    rc = get_open(&key, &val, out, msg, sizeof msg);
    if (rc == 0)
      rc = 1;
    goto done;
  }
  if (rc != MDB_NOTFOUND) {
    rc = map_err(rc);
    goto done;
  }
  int64_t len = vg_seg_span_len(res);
  if (len == 0) {
    rc = 0;
    goto done;
  }
  struct vg_seg_key sk = {series, res, vg_seg_span(res, start)};
  wkey(k, series, res, sk.span_start);
  key = (MDB_val){WKEY_LEN, k};
  rc = mdb_get(r->txn, st->seg, &key, &val);
  if (rc == MDB_NOTFOUND) {
    rc = 0;
    goto done;
  }
  if (rc) {
    rc = map_err(rc);
    goto done;
  }
  rc = vg_seg_decode(val.mv_data, val.mv_size, &sk, &seg, msg, sizeof msg);
  if (rc) {
    char who[300];
    name_series(r->txn, st, series, who, sizeof who);
    VG_LOG_ERROR("cannot load a window to revise it", "series=\"%s\" error=\"%s\"", who, msg);
    goto done;
  }
  rc = 0;
  for (size_t i = 0; i < seg.n; i++)
    if (seg.w[i].start == start) {
      *out = seg.w[i];
      vg_acc_init(&seg.w[i].acc); /* the sketches now belong to *out */
      rc = 1;
      break;
    }
done:
  vg_segment_release(&seg);
  vg_store_reader_end(r);
  return rc;
}

int vg_store_series_id(struct vg_store_reader *r, const char *key, size_t key_len,
                       uint64_t *id) {
  if (key_len == 0 || key_len > 511)
    return VG_ENOTFOUND;
  MDB_val k = {key_len, (void *)key}, v;
  int rc = mdb_get(r->txn, r->st->series, &k, &v);
  if (rc)
    return map_err(rc);
  struct vg_rbuf b = {v.mv_data, (const uint8_t *)v.mv_data + v.mv_size, 0};
  if (rb_u8(&b) != SERIES_VERSION)
    return VG_EVERSION;
  *id = rb_u64le(&b);
  return b.err ? VG_ECORRUPT : 0;
}

int vg_store_series_key(struct vg_store_reader *r, uint64_t id, char *buf, size_t size,
                        size_t *len) {
  uint8_t ik[8];
  be64_put(ik, id);
  MDB_val k = {8, ik}, v;
  int rc = mdb_get(r->txn, r->st->series_id, &k, &v);
  if (rc)
    return map_err(rc);
  if (size) {
    size_t n = v.mv_size < size - 1 ? v.mv_size : size - 1;
    memcpy(buf, v.mv_data, n);
    buf[n] = 0;
  }
  if (len)
    *len = v.mv_size;
  return 0;
}

int vg_store_series_each(struct vg_store_reader *r,
                         int (*cb)(const struct vg_store_series *s, void *ctx), void *ctx) {
  MDB_cursor *cur = NULL;
  MDB_val k, v;
  int rc = mdb_cursor_open(r->txn, r->st->series, &cur);
  if (rc)
    return map_err(rc);
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    struct vg_rbuf b = {v.mv_data, (const uint8_t *)v.mv_data + v.mv_size, 0};
    if (rb_u8(&b) != SERIES_VERSION) {
      rc = VG_EVERSION;
      goto fail;
    }
    struct vg_store_series s = {.key = k.mv_data, .key_len = k.mv_size};
    s.id = rb_u64le(&b);
    s.first_seen_ns = (int64_t)rb_u64le(&b);
    if (b.err) {
      rc = VG_ECORRUPT;
      goto fail;
    }
    if ((rc = cb(&s, ctx)))
      goto fail;
  }
  rc = rc == MDB_NOTFOUND ? 0 : map_err(rc);
fail:
  mdb_cursor_close(cur);
  return rc;
}

int vg_store_position(struct vg_store_reader *r, const char *topic, uint32_t partition,
                      struct vg_store_pos *out) {
  size_t tl = strlen(topic);
  if (tl == 0 || tl > 255)
    return VG_ENOTFOUND;
  uint8_t k[261];
  memcpy(k, topic, tl);
  k[tl] = 0;
  for (int i = 0; i < 4; i++)
    k[tl + 1 + i] = (uint8_t)(partition >> (24 - 8 * i));
  MDB_val key = {tl + 5, k}, val;
  int rc = mdb_get(r->txn, r->st->pos, &key, &val);
  if (rc)
    return map_err(rc);
  char tmp[256];
  rc = get_pos(&key, &val, out, tmp);
  out->topic = topic;
  return rc;
}

int vg_store_read_emit(struct vg_store_reader *r, uint64_t from,
                       int (*cb)(const struct vg_store_emit *e, void *ctx), void *ctx) {
  MDB_cursor *cur;
  uint8_t k[8];
  be64_put(k, from);
  MDB_val key = {8, k}, val;
  int cbrc = 0;
  int rc = mdb_cursor_open(r->txn, r->st->emit, &cur);
  if (rc)
    return map_err(rc);
  for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
    const uint8_t *v = val.mv_data;
    if (key.mv_size != 8 || val.mv_size != 27) {
      rc = VG_ECORRUPT;
      break;
    }
    if (v[0] != EMIT_VERSION) {
      rc = VG_EVERSION;
      break;
    }
    struct vg_rbuf b = {v + 1, v + 27, 0};
    struct vg_store_emit e;
    e.seq = be64_get(key.mv_data);
    e.series = rb_u64le(&b);
    e.res = rb_u8(&b);
    e.start = (int64_t)rb_u64le(&b);
    e.revision = rb_u32le(&b);
    if ((cbrc = cb(&e, ctx)))
      break;
  }
  mdb_cursor_close(cur);
  if (cbrc)
    return cbrc; /* the callback's own value, as the header says */
  return rc == MDB_NOTFOUND ? 0 : rc > 0 ? map_err(rc) : rc;
}

int vg_store_reader_blob(struct vg_store_reader *r, const char *name, void **data,
                         size_t *len) {
  char k[128];
  int n = snprintf(k, sizeof k, "x:%s", name);
  if (n <= 0 || (size_t)n >= sizeof k)
    return VG_ENOTFOUND;
  MDB_val key = {(size_t)n, k}, val;
  int rc = mdb_get(r->txn, r->st->meta, &key, &val);
  if (rc == MDB_NOTFOUND)
    return VG_ENOTFOUND;
  if (rc)
    return map_err(rc);
  if (!(*data = malloc(val.mv_size ? val.mv_size : 1)))
    return -ENOMEM;
  memcpy(*data, val.mv_data, val.mv_size);
  *len = val.mv_size;
  return 0;
}

int vg_store_reader_meta(struct vg_store_reader *r, struct vg_store_state *out) {
  uint64_t wm;
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = meta_get_u64(r->txn, r->st->meta, "epoch", &out->epoch)) ||
      (rc = meta_get_u64(r->txn, r->st->meta, "watermark", &wm)) ||
      (rc = meta_get_u64(r->txn, r->st->meta, "emit_seq", &out->emit_seq)) ||
      (rc = meta_get_opt(r->txn, r->st->meta, "rollup_seq", &out->rollup_seq)) ||
      (rc = meta_get_opt(r->txn, r->st->meta, "retain_gen", &out->retain_gen)))
    return map_err(rc);
  out->watermark_ns = (int64_t)wm;
  return 0;
}
