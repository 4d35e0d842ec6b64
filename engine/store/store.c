/*
 * The LMDB store (include/vigie/store.h): one environment with nine named
 * databases, written by one thread in write transactions that each do a
 * bounded amount of work, read by snapshots in other threads or processes.
 * The files of engine/store/ and what each owns are listed in
 * store_internal.h; this one opens and closes the store, migrates a store of
 * format 1, grows the map, and holds the one write-transaction helper and
 * the one translation of LMDB's codes.
 *
 * Segment rewrites are the heavy part of a write transaction (a decode and
 * an encode of up to a year of windows each), and a late backfill can
 * revise windows of thousands of spans long past in one epoch: every write
 * transaction rewrites at most seal_max segments (vg__seal_room). A commit
 * whose windows reach more flush boundaries than that leaves the rest
 * pending (readers see pending rows) and queues their spans (`deferred`);
 * the next commits flush the queue first, oldest first, within the same
 * budget. The queue lives in memory only: after a restart, vg_store_flush
 * finds those spans by their pending rows (a row at its flush boundary is
 * due).
 *
 * The writer maps the file writable (MDB_WRITEMAP): a transaction's pages
 * are written in place in the file's own pages, not in heap copies that
 * the commit then writes out (at 20 M events the copies took hundreds of
 * MiB of anonymous memory and a tenth of the process's CPU time in
 * writev). The map's whole size is given disk blocks when it is set
 * (reserve_map): a page of a sparse file the disk has no block for would
 * fault with SIGBUS when written, where a full disk must fail a commit.
 *
 * Growing the map (mdb_env_set_mapsize) is only allowed while no
 * transaction of this process is active, so readers of this process
 * register in a counter under a mutex and a growing writer waits for them
 * to end (new readers wait for the growth). Readers in other processes see
 * MDB_MAP_RESIZED on their next begin and adopt the new size themselves.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/atomic.h"
#include "store/store_internal.h"
#include "vigie/calendar.h"
#include "vigie/log.h"

static int migrate_v1(struct vg_store *st, MDB_txn *txn, char *errstr, size_t size);

/* The writer's map (see the top of this file). Not under ThreadSanitizer:
 * LMDB keeps readers' snapshots apart from the pages the writer writes with
 * its reader table, which the sanitizer cannot see, so every reuse of a
 * freed page would look like a race (through pwrite, the writes are not
 * memory accesses). */
#ifdef VG_TSAN
#define WRITE_MAP 0
#else
#define WRITE_MAP MDB_WRITEMAP
#endif

/* Gives the first `bytes` of the data file disk blocks (extending the file
 * when shorter), before the map covers them: 0, or -ENOSPC, -EFBIG, -EDQUOT
 * (nothing mapped changed). A file system without fallocate keeps a sparse
 * file, said once. */
static int reserve_map(struct vg_store *st, size_t bytes) {
  mdb_filehandle_t fd;
  if (st->sparse || mdb_env_get_fd(st->env, &fd))
    return 0;
  if (fallocate(fd, 0, 0, (off_t)bytes) == 0)
    return 0;
  if (errno == EOPNOTSUPP || errno == ENOSYS) {
    st->sparse = 1;
    VG_LOG_WARN("the file system cannot reserve the store's disk space: a disk that "
                "fills up will stop vigied with SIGBUS (nothing committed is lost)",
                "path=\"%s\"", st->path);
    return 0;
  }
  return -errno;
}

int vg__store_err(int mdb_rc) {
  switch (mdb_rc) {
  case 0: return 0;
  case MDB_MAP_FULL: return VG__EMAPFULL;
  case MDB_NOTFOUND: return VG_ENOTFOUND;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND: return VG_ECORRUPT;
  case MDB_VERSION_MISMATCH:
  case MDB_INVALID: return VG_EVERSION;
  default:
    if (mdb_rc > 0)
      return -mdb_rc; /* errno from the OS */
    /* another MDB_ code (MDB_TXN_FULL, MDB_BAD_VALSIZE...): its name is
     * lost in -EIO, so say it here */
    VG_LOG_WARN("LMDB call failed", "error=\"%s\"", mdb_strerror(mdb_rc));
    return -EIO;
  }
}

int vg__store_fail(int rc, char *errstr, size_t size, const char *fmt, ...) {
  if (size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, size, fmt, ap);
    va_end(ap);
  }
  return rc;
}

int vg__store_readonly(const char *what, char *errstr, size_t size) {
  return vg__store_fail(VG_ECONFIG, errstr, size, "cannot %s: the store is read-only",
                        what);
}

void vg__store_when(int64_t t, char buf[VG_FMT_ISO_MAX]) {
  if (t < -VG_SEG_TIME_MAX || t > VG_SEG_TIME_MAX)
    snprintf(buf, VG_FMT_ISO_MAX, "@%" PRId64, t);
  else
    vg_fmt_utc(t, buf);
}

int64_t vg__wm_seconds(int64_t watermark_ns) {
  if (watermark_ns == INT64_MIN || watermark_ns == INT64_MAX)
    return watermark_ns;
  return vg_floor_div(watermark_ns, 1000000000);
}

static int open_dbis(struct vg_store *st, MDB_txn *txn, unsigned flags) {
  const struct {
    const char *name;
    MDB_dbi *dbi;
  } t[] = {{"meta", &st->meta}, {"series", &st->series}, {"series_id", &st->series_id},
           {"open", &st->open}, {"seg", &st->seg},       {"pos", &st->pos},
           {"emit", &st->emit}};
  for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
    int rc = mdb_dbi_open(txn, t[i].name, flags, t[i].dbi);
    if (rc)
      return rc;
  }
  return 0;
}

/* Opens (creating when needed) one environment at opts->path; a new one
 * records opts->shards when above 1. */
static int open_one(const struct vg_store_opts *opts, struct vg_store **out, char *errstr,
                    size_t errstr_size) {
  int rc, mrc; /* ours, and what an LMDB call returned (for its message) */
  MDB_txn *txn = NULL;
  struct vg_store *st = calloc(1, sizeof *st);
  if (!st)
    return vg__store_fail(-ENOMEM, errstr, errstr_size,
                          "out of memory opening the store");
  st->o = *opts;
  st->path = strdup(opts->path);
  st->o.path = st->path;
  if (!st->path) {
    free(st);
    return vg__store_fail(-ENOMEM, errstr, errstr_size,
                          "out of memory opening the store");
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
    rc = vg__store_fail(-errno, errstr, errstr_size,
                        "cannot create the store directory '%s': %s", opts->path,
                        strerror(errno));
    goto fail;
  }
  unsigned flags = MDB_NOTLS;
  if (opts->readonly)
    flags |= MDB_RDONLY;
  else
    flags |= WRITE_MAP | (opts->durability == VG_STORE_NOMETASYNC ? MDB_NOMETASYNC
                          : opts->durability == VG_STORE_NOSYNC   ? MDB_NOSYNC
                                                                  : 0);
  mrc = mdb_env_create(&st->env);
  if (!mrc)
    mrc = mdb_env_set_maxdbs(st->env, 12);
  if (!mrc)
    mrc = mdb_env_set_maxreaders(st->env, opts->max_readers ? opts->max_readers : 126);
  if (!mrc)
    mrc = mdb_env_set_mapsize(st->env, st->map_size);
  if (!mrc)
    mrc = mdb_env_open(st->env, opts->path, flags, 0640);
  if (mrc) {
    rc = vg__store_fail(vg__store_err(mrc), errstr, errstr_size,
                        "cannot open the store '%s': %s", opts->path, mdb_strerror(mrc));
    goto fail;
  }
  MDB_envinfo info;
  mdb_env_info(st->env, &info);
  st->map_size = info.me_mapsize; /* an existing, larger store keeps its size */
  if (!opts->readonly && (rc = reserve_map(st, st->map_size)) != 0) {
    vg__store_fail(
        rc, errstr, errstr_size,
        "cannot reserve %zu bytes of disk for the store '%s': %s (disk full or "
        "file size limit)",
        st->map_size, opts->path, vg_strerror(rc));
    goto fail;
  }
  int stale = 0;
  mdb_reader_check(st->env, &stale); /* slots left by crashed processes */
  mrc = mdb_txn_begin(st->env, NULL, opts->readonly ? MDB_RDONLY : 0, &txn);
  if (mrc) {
    rc = vg__store_fail(vg__store_err(mrc), errstr, errstr_size,
                        "cannot begin a transaction on '%s': %s", opts->path,
                        mdb_strerror(mrc));
    goto fail;
  }
  mrc = open_dbis(st, txn, opts->readonly ? 0 : MDB_CREATE);
  if (mrc) {
    rc = vg__store_fail(vg__store_err(mrc), errstr, errstr_size,
                        "cannot open the databases of the store '%s': %s%s", opts->path,
                        mdb_strerror(mrc),
                        mrc == MDB_NOTFOUND ? " (not a Vigie store yet)" : "");
    goto fail;
  }
  /* `blk` came with format 2: a read-only look at a store of format 1
   * finds none */
  mrc = mdb_dbi_open(txn, "blk", opts->readonly ? 0 : MDB_CREATE, &st->blk);
  if (mrc == 0)
    st->has_blk = 1;
  else if (mrc != MDB_NOTFOUND || !opts->readonly) {
    rc = vg__store_fail(vg__store_err(mrc), errstr, errstr_size,
                        "cannot open the databases of the store '%s': %s", opts->path,
                        mdb_strerror(mrc));
    goto fail;
  }
  /* `dup` came with dedupe, without a format change: a writer creates it,
   * a reader of an older store finds none (no fingerprints) */
  mrc = mdb_dbi_open(txn, "dup", opts->readonly ? 0 : MDB_CREATE, &st->dup);
  if (mrc == 0)
    st->has_dup = 1;
  else if (mrc != MDB_NOTFOUND || !opts->readonly) {
    rc = vg__store_fail(vg__store_err(mrc), errstr, errstr_size,
                        "cannot open the databases of the store '%s': %s", opts->path,
                        mdb_strerror(mrc));
    goto fail;
  }
  /* `ind` came with indicators, without a format change, like `dup` */
  mrc = mdb_dbi_open(txn, "ind", opts->readonly ? 0 : MDB_CREATE, &st->ind);
  if (mrc == 0)
    st->has_ind = 1;
  else if (mrc != MDB_NOTFOUND || !opts->readonly) {
    rc = vg__store_fail(vg__store_err(mrc), errstr, errstr_size,
                        "cannot open the databases of the store '%s': %s", opts->path,
                        mdb_strerror(mrc));
    goto fail;
  }
  uint64_t format;
  rc = vg__meta_get(txn, st->meta, "format", &format);
  if (rc == 0 && format == 1 && !opts->readonly) {
    /* format 1 kept base windows in `open`, one row each: pack them */
    rc = migrate_v1(st, txn, errstr, errstr_size);
    if (rc)
      goto fail;
    rc = vg__meta_put(txn, st->meta, "format", VG_STORE_FORMAT);
    if (rc) {
      rc = vg__store_fail(rc, errstr, errstr_size, "cannot upgrade the store '%s': %s",
                          opts->path, vg_strerror(rc));
      goto fail;
    }
    format = VG_STORE_FORMAT;
  }
  if (rc == VG_ENOTFOUND && !opts->readonly) {
    rc = vg__meta_put(txn, st->meta, "format", VG_STORE_FORMAT);
    if (!rc)
      rc = vg__meta_put(txn, st->meta, "epoch", 0);
    if (!rc)
      rc = vg__meta_put(txn, st->meta, "watermark", (uint64_t)INT64_MIN);
    if (!rc)
      rc = vg__meta_put(txn, st->meta, "emit_seq", 0);
    unsigned n = opts->shards ? opts->shards : opts->new_shards;
    if (!rc && n > 1)
      rc = vg__meta_put(txn, st->meta, "shards", n);
    st->created = 1;
    if (rc) {
      rc = vg__store_fail(rc, errstr, errstr_size, "cannot initialize the store '%s': %s",
                          opts->path, vg_strerror(rc));
      goto fail;
    }
  } else if (rc) {
    rc = vg__store_fail(rc, errstr, errstr_size,
                        "cannot read the format version of the store '%s': %s",
                        opts->path, vg_strerror(rc));
    goto fail;
  } else if (format != VG_STORE_FORMAT && !(format == 1 && opts->readonly)) {
    rc = vg__store_fail(VG_EVERSION, errstr, errstr_size,
                        "store '%s' has format version %" PRIu64 ", this build knows %d",
                        opts->path, format, VG_STORE_FORMAT);
    goto fail;
  }
  mrc = mdb_txn_commit(txn); /* also for a read txn: makes the DBI handles global */
  txn = NULL;
  if (mrc) {
    rc = vg__store_fail(vg__store_err(mrc), errstr, errstr_size,
                        "cannot initialize the store '%s': %s", opts->path,
                        mdb_strerror(mrc));
    goto fail;
  }
  *out = st;
  return 0;
fail:
  if (txn)
    mdb_txn_abort(txn);
  vg_store_close(st);
  return rc == VG__EMAPFULL ? VG_EFULL : rc; /* the migration met a full map */
}

/* The shard count shard 0 records (absent: 1), into *n. */
static int stored_shards(struct vg_store *st, uint64_t *n) {
  MDB_txn *txn;
  int rc = vg__store_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn));
  if (rc)
    return rc;
  *n = 0;
  rc = vg__meta_get_opt(txn, st->meta, "shards", n);
  mdb_txn_abort(txn);
  if (*n == 0)
    *n = 1;
  return rc;
}

int vg_store_open(const struct vg_store_opts *opts, struct vg_store **out, char *errstr,
                  size_t errstr_size) {
  if (opts->shards > VG_STORE_MAX_SHARDS || opts->new_shards > VG_STORE_MAX_SHARDS)
    return vg__store_fail(VG_ECONFIG, errstr, errstr_size,
                          "store '%s': %u shards asked, at most %d", opts->path,
                          opts->shards, VG_STORE_MAX_SHARDS);
  struct vg_store *st;
  int rc = open_one(opts, &st, errstr, errstr_size);
  if (rc)
    return rc;
  uint64_t n;
  rc = stored_shards(st, &n);
  if (rc) {
    rc = vg__store_fail(rc, errstr, errstr_size,
                        "cannot read the shard count of the store '%s': %s", opts->path,
                        vg_strerror(rc));
    goto fail;
  }
  if (n > VG_STORE_MAX_SHARDS) {
    rc = vg__store_fail(VG_ECORRUPT, errstr, errstr_size,
                        "store '%s' records %" PRIu64 " shards, at most %d", opts->path,
                        n, VG_STORE_MAX_SHARDS);
    goto fail;
  }
  if (opts->shards && opts->shards != n) {
    rc = vg__store_fail(
        VG_ECONFIG, errstr, errstr_size,
        "store '%s' holds %" PRIu64 " shard%s, the configuration asks for "
        "%u: stop vigied and run `vigieq --data-dir %s reshard --shards %u`",
        opts->path, n, n == 1 ? "" : "s", opts->shards, opts->path, opts->shards);
    goto fail;
  }
  if (n > 1) {
    st->shard = calloc(n, sizeof *st->shard);
    if (!st->shard) {
      rc =
          vg__store_fail(-ENOMEM, errstr, errstr_size, "out of memory opening the store");
      goto fail;
    }
    st->shard[0] = st;
    st->nshards = (unsigned)n;
    for (unsigned k = 1; k < n; k++) {
      char path[4096];
      struct vg_store_opts so = *opts;
      so.shards = so.new_shards = 0;
      so.path = path;
      snprintf(path, sizeof path, "%s/shard-%u", opts->path, k);
      rc = open_one(&so, &st->shard[k], errstr, errstr_size);
      if (rc)
        goto fail;
    }
  }
  *out = st;
  return 0;
fail:
  vg_store_close(st);
  return rc;
}

unsigned vg_store_shards(const struct vg_store *st) {
  return st->nshards > 1 ? st->nshards : 1;
}

struct vg_store *vg_store_shard(struct vg_store *st, unsigned k) {
  assert(k < vg_store_shards(st));
  return k == 0 ? st : st->shard[k];
}

void vg_store_close(struct vg_store *st) {
  if (!st)
    return;
  for (unsigned k = 1; st->shard && k < st->nshards; k++)
    vg_store_close(st->shard[k]);
  free(st->shard);
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
  int rc = reserve_map(st, next);
  if (rc)
    return rc;
  pthread_mutex_lock(&st->lock);
  st->growing = 1;
  while (st->readers)
    pthread_cond_wait(&st->cond, &st->lock);
  rc = vg__store_err(mdb_env_set_mapsize(st->env, next));
  if (rc == 0)
    st->map_size = next;
  st->growing = 0;
  pthread_cond_broadcast(&st->cond);
  pthread_mutex_unlock(&st->lock);
  return rc;
}

int vg__store_write(struct vg_store *st,
                    int (*body)(struct vg_store *st, MDB_txn *txn, void *arg), void *arg,
                    int *full) {
  /* The rule of the former three loops that is right: a transaction the
   * map had no room for is replayed whole in the grown map, and the replay
   * is not a new unit of work (vg_store_flush's rule; retention counted it
   * against its transactions and could return MDB_MAP_FULL as is, and a
   * blob gave up on the growth's error, the commit on VG_EFULL). */
  for (;;) {
    MDB_txn *txn = NULL;
    int rc = vg__store_err(mdb_txn_begin(st->env, NULL, 0, &txn));
    if (rc == 0) {
      rc = body(st, txn, arg);
      if (rc == 0)
        rc = vg__store_err(mdb_txn_commit(txn));
      else
        mdb_txn_abort(txn);
    }
    if (rc != VG__EMAPFULL)
      return rc;
    int g = grow(st); /* the transaction was aborted: replay it */
    if (g) {
      if (full && (g == VG_EFULL || g == VG__EMAPFULL))
        *full = 1;
      return g == VG__EMAPFULL ? VG_EFULL : g;
    }
  }
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
  int rc = vg__store_err(mdb_cursor_open(txn, st->open, &oc));
  if (rc)
    goto fail;
  rc = vg__store_err(mdb_cursor_open(txn, st->blk, &bc));
  if (rc)
    goto fail;
  wkey(k, 0, VG_RES_BASE, INT64_MIN);
  key = (MDB_val){WKEY_LEN, k};
  for (rc = vg__store_err(mdb_cursor_get(oc, &key, &val, MDB_SET_RANGE)); rc == 0;) {
    struct vg_wentry w;
    if (key.mv_size != WKEY_LEN || ((const uint8_t *)key.mv_data)[8] != VG_RES_BASE) {
      rc = vg__store_err(mdb_cursor_get(oc, &key, &val, MDB_NEXT));
      continue;
    }
    rc = vg__open_get(&key, &val, &w, errstr, size);
    if (rc)
      goto done;
    uint8_t flags = ((const uint8_t *)val.mv_data)[1] & OPEN_FLAGS_KNOWN;
    int64_t hour = blk_hour(w.start);
    if (have && (bseries != w.series || b->hour != hour)) {
      rc = vg__blk_put(st, bc, bk, b, found);
      if (rc) {
        vg_acc_release(&w.acc);
        goto fail;
      }
      have = 0;
    }
    if (!have) {
      found = vg__blk_load(bc, b, bk, w.series, hour, errstr, size);
      if (found < 0) {
        rc = found;
        vg_acc_release(&w.acc);
        goto done;
      }
      bseries = w.series;
      have = 1;
    }
    rc = blk_upsert(b, &w, flags) ? -ENOMEM : 0;
    vg_acc_release(&w.acc);
    if (rc)
      goto fail;
    rc = vg__store_err(mdb_cursor_del(oc, 0));
    if (rc)
      goto fail;
    moved++;
    /* after a delete: the next row */
    rc = vg__store_err(mdb_cursor_get(oc, &key, &val, MDB_NEXT));
  }
  if (rc != VG_ENOTFOUND)
    goto fail;
  rc = have ? vg__blk_put(st, bc, bk, b, found) : 0;
  if (rc)
    goto fail;
  if (moved)
    VG_LOG_INFO("store upgraded to format 2", "base_windows_packed=%zu", moved);
  goto done;
fail:
  vg__store_fail(rc, errstr, size, "cannot upgrade the store to format 2: %s",
                 vg_strerror(rc));
done:
  if (oc)
    mdb_cursor_close(oc);
  if (bc)
    mdb_cursor_close(bc);
  return rc;
}
