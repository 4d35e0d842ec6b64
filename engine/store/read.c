/*
 * Reading the store: the writer's reload at start (vg_store_load), and
 * snapshots for readers in any thread or process -- ranges of windows,
 * the window a revision starts from, the series dictionary, positions,
 * blobs, meta and statistics.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "vigie/log.h"

/* What vg_store_load carries through its walks of the tables. */
struct load {
  int (*on_window)(const struct vg_wentry *w, void *ctx);
  int (*on_pos)(const struct vg_store_pos *p, void *ctx);
  void *ctx;
  struct vg_store_state s;
  struct blk lb;
  char *errstr;
  size_t errstr_size;
};

static int load_fail(int rc, struct load *ld) {
  return vg__store_fail(rc, ld->errstr, ld->errstr_size, "cannot load the store: %s",
                        vg_strerror(rc));
}

/* Gives a decoded open window to vg_store_load's caller, then releases it. */
static int hand_window(struct load *ld, struct vg_wentry *w) {
  ld->s.nopen++;
  int rc = ld->on_window ? ld->on_window(w, ld->ctx) : 0;
  vg_acc_release(&w->acc);
  return rc;
}

/* Calls row for each row of table dbi, in key order. 0, row's error (worded
 * by row or the caller's callback), or LMDB's, worded here. */
static int load_table(MDB_txn *txn, MDB_dbi dbi,
                      int (*row)(struct load *ld, const MDB_val *key, const MDB_val *val),
                      struct load *ld) {
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  MDB_cursor_op op = MDB_FIRST;
  int rc = vg__store_err(mdb_cursor_open(txn, dbi, &cur));
  while (rc == 0) {
    rc = vg__store_err(mdb_cursor_get(cur, &key, &val, op));
    op = MDB_NEXT;
    if (rc == VG_ENOTFOUND) {
      rc = 0;
      break;
    }
    if (rc)
      break;
    rc = row(ld, &key, &val);
    if (rc)
      goto done;
  }
  if (rc)
    load_fail(rc, ld);
done:
  if (cur)
    mdb_cursor_close(cur);
  return rc;
}

/* A row of `open`: a window the writer keeps. */
static int load_open_row(struct load *ld, const MDB_val *key, const MDB_val *val) {
  struct vg_wentry w;
  if (val->mv_size >= OPEN_HDR && !(((const uint8_t *)val->mv_data)[1] & OPEN_KEEP))
    return 0; /* only waiting for its segment: not the writer's state */
  int rc = vg__open_get(key, val, &w, ld->errstr, ld->errstr_size);
  if (rc)
    return rc;
  return hand_window(ld, &w);
}

/* A block of base windows: those the writer keeps. */
static int load_blk_row(struct load *ld, const MDB_val *key, const MDB_val *val) {
  uint64_t series;
  uint8_t res;
  int64_t hour;
  if (key->mv_size != WKEY_LEN)
    return vg__store_fail(VG_ECORRUPT, ld->errstr, ld->errstr_size,
                          "corrupt key in the block table");
  wkey_get(key->mv_data, &series, &res, &hour);
  int rc = blk_parse(&ld->lb, hour, val->mv_data, val->mv_size);
  if (rc)
    return vg__blk_fail(rc, ld->errstr, ld->errstr_size, series, hour);
  for (size_t i = 0; i < ld->lb.n; i++) {
    if (!(ld->lb.e[i].flags & OPEN_KEEP))
      continue; /* only waiting for its segment: not the writer's state */
    struct vg_wentry w;
    rc = blk_get(&ld->lb, i, series, res, &w);
    if (rc)
      return vg__blk_fail(rc, ld->errstr, ld->errstr_size, series, hour);
    rc = hand_window(ld, &w);
    if (rc)
      return rc;
  }
  return 0;
}

/* A partition's position. */
static int load_pos_row(struct load *ld, const MDB_val *key, const MDB_val *val) {
  struct vg_store_pos p;
  char topic[256];
  int rc = vg__pos_get(key, val, &p, topic);
  if (rc) {
    vg__store_fail(rc, ld->errstr, ld->errstr_size,
                   "corrupt or unsupported partition position row");
    return rc;
  }
  ld->s.npos++;
  return ld->on_pos ? ld->on_pos(&p, ld->ctx) : 0;
}

int vg_store_load(struct vg_store *st,
                  int (*on_window)(const struct vg_wentry *w, void *ctx),
                  int (*on_pos)(const struct vg_store_pos *p, void *ctx), void *ctx,
                  struct vg_store_state *state, char *errstr, size_t errstr_size) {
  struct load ld = {.on_window = on_window,
                    .on_pos = on_pos,
                    .ctx = ctx,
                    .errstr = errstr,
                    .errstr_size = errstr_size};
  MDB_txn *txn = NULL;
  int rc = vg__store_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn));
  if (!rc)
    rc = vg__meta_state(st, txn, &ld.s);
  if (rc) {
    load_fail(rc, &ld);
    goto done;
  }
  rc = load_table(txn, st->open, load_open_row, &ld);
  if (!rc && st->has_blk)
    rc = load_table(txn, st->blk, load_blk_row, &ld);
  if (!rc)
    rc = load_table(txn, st->pos, load_pos_row, &ld);
  if (!rc && state)
    *state = ld.s;
done:
  blk_free(&ld.lb);
  if (txn)
    mdb_txn_abort(txn);
  return rc;
}

int vg_store_reader_check(struct vg_store *st, int *dead) {
  int rc = 0, all = 0;
  for (unsigned k = 0; k < vg_store_shards(st) && rc == 0; k++) {
    int n = 0;
    rc = vg__store_err(mdb_reader_check(vg_store_shard(st, k)->env, &n));
    all += n;
  }
  if (dead)
    *dead = all;
  return rc;
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
  *n = 0;
  for (unsigned k = 0; k < vg_store_shards(st); k++) {
    MDB_env *env = vg_store_shard(st, k)->env;
    MDB_envinfo info;
    int rc = vg__store_err(mdb_env_info(env, &info));
    if (rc)
      return rc;
    struct stale_ctx c = {info.me_last_txnid, max_lag, 0};
    int n_or_err = mdb_reader_list(env, stale_line, &c); /* -1 on failure */
    *n += c.n;
    if (n_or_err < 0)
      return -EIO;
  }
  return 0;
}

static int stat_one(struct vg_store *st, struct vg_store_stat *out);

int vg_store_stat(struct vg_store *st, struct vg_store_stat *out) {
  int rc = stat_one(st, out);
  for (unsigned k = 1; k < vg_store_shards(st) && rc == 0; k++) {
    struct vg_store_stat s;
    rc = stat_one(st->shard[k], &s);
    out->used_bytes += s.used_bytes;
    out->map_bytes += s.map_bytes;
    out->segments += s.segments;
    out->open_windows += s.open_windows;
    out->series += s.series;
    out->emit_records += s.emit_records;
    out->segment_writes += s.segment_writes;
    out->dedupe_rows += s.dedupe_rows;
    out->dedupe_bytes += s.dedupe_bytes;
  }
  return rc;
}

static int stat_one(struct vg_store *st, struct vg_store_stat *out) {
  MDB_envinfo info;
  MDB_stat ms;
  struct vg_store_reader *r = NULL;
  /* a registered reader: the map cannot be resized under the env info and
   * the snapshot (any thread calls this: the daemon's /metrics does) */
  int rc = vg__reader_one(st, &r);
  if (rc)
    return rc;
  rc = vg__store_err(mdb_env_info(st->env, &info));
  if (!rc)
    rc = vg__store_err(mdb_env_stat(st->env, &ms));
  if (rc) {
    vg_store_reader_end(r);
    return rc;
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
    for (rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_FIRST)); rc == 0;
         rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_NEXT))) {
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
    for (rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_FIRST)); rc == 0;
         rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_NEXT))) {
      out->dedupe_rows++;
      out->dedupe_bytes += key.mv_size + val.mv_size;
    }
    mdb_cursor_close(cur);
  }
  vg_store_reader_end(r);
  return 0;
}

int vg__reader_one(struct vg_store *st, struct vg_store_reader **out) {
  struct vg_store_reader *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->st = st;
  pthread_mutex_lock(&st->lock);
  while (st->growing)
    pthread_cond_wait(&st->cond, &st->lock);
  st->readers++;
  pthread_mutex_unlock(&st->lock);
  int mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn);
  if (mrc == MDB_MAP_RESIZED) {
    /* another process grew the map: adopt its size (no txn of ours is
     * active while we hold every reader slot of this process) */
    pthread_mutex_lock(&st->lock);
    st->readers--;
    st->growing = 1;
    while (st->readers)
      pthread_cond_wait(&st->cond, &st->lock);
    mrc = mdb_env_set_mapsize(st->env, 0);
    st->growing = 0;
    st->readers++;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->lock);
    if (mrc == 0)
      mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn);
  }
  if (mrc) {
    r->txn = NULL;
    vg_store_reader_end(r);
    return vg__store_err(mrc);
  }
  *out = r;
  return 0;
}

int vg_store_reader_begin(struct vg_store *st, struct vg_store_reader **out) {
  unsigned n = vg_store_shards(st);
  struct vg_store_reader *r;
  int rc = vg__reader_one(st, &r);
  if (rc || n == 1) {
    *out = rc ? NULL : r;
    return rc;
  }
  r->sub = calloc(n, sizeof *r->sub);
  if (!r->sub) {
    vg_store_reader_end(r);
    return -ENOMEM;
  }
  r->n = n;
  r->sub[0] = r;
  for (unsigned k = 1; k < n && rc == 0; k++)
    rc = vg__reader_one(st->shard[k], &r->sub[k]);
  if (rc) {
    vg_store_reader_end(r);
    return rc;
  }
  *out = r;
  return 0;
}

void vg_store_reader_end(struct vg_store_reader *r) {
  if (!r)
    return;
  for (unsigned k = 1; r->sub && k < r->n; k++)
    vg_store_reader_end(r->sub[k]);
  free(r->sub);
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

/* The open windows of a range, in time order per source. */
struct open_set {
  struct vg_wentry *v;
  size_t n, cap;
};

/* Room for one more window in o: its slot, or NULL (the error in errstr). */
static struct vg_wentry *open_slot(struct open_set *o, char *errstr, size_t errstr_size) {
  if (VG_GROW(o->v, o->n + 1, o->cap)) {
    vg__store_fail(-ENOMEM, errstr, errstr_size, "out of memory reading a range");
    return NULL;
  }
  return &o->v[o->n];
}

/* The message of a range read that failed in LMDB: rc. */
static int read_fail(int rc, uint64_t series, char *errstr, size_t errstr_size) {
  return vg__store_fail(rc, errstr, errstr_size, "cannot read series %" PRIu64 ": %s",
                        series, vg_strerror(rc));
}

/* Adds to o the open windows of [from_s, to_s): base windows from their
 * blocks, then rows of `open` (a store of format 1 may hold both: then the
 * whole set is sorted by start). 0 or an error, worded in errstr. */
static int read_open(struct vg_store_reader *r, uint64_t series, uint8_t res,
                     int64_t from_s, int64_t to_s, struct open_set *o, char *errstr,
                     size_t errstr_size) {
  struct vg_store *st = r->st;
  struct vg__scan sc = {0};
  struct blk lb = {0};
  size_t nblk = 0;
  int rc = 0;
  if (res == VG_RES_BASE && st->has_blk) {
    rc = vg__scan_open(&sc, r->txn, st->blk, series, res, blk_hour(from_s), to_s);
    if (rc)
      goto fail;
    while ((rc = vg__scan_next(&sc)) == 1) {
      rc = blk_parse(&lb, sc.t, sc.val.mv_data, sc.val.mv_size);
      if (rc) {
        rc = vg__blk_fail(rc, errstr, errstr_size, series, sc.t);
        goto done;
      }
      for (size_t i = 0; i < lb.n; i++) {
        if (lb.e[i].start < from_s || lb.e[i].start >= to_s)
          continue;
        struct vg_wentry *w = open_slot(o, errstr, errstr_size);
        if (!w) {
          rc = -ENOMEM;
          goto done;
        }
        rc = blk_get(&lb, i, series, res, w);
        if (rc) {
          rc = vg__blk_fail(rc, errstr, errstr_size, series, sc.t);
          goto done;
        }
        o->n++;
      }
    }
    if (rc)
      goto fail;
    vg__scan_close(&sc);
    nblk = o->n;
  }
  rc = vg__scan_open(&sc, r->txn, st->open, series, res, from_s, to_s);
  if (rc)
    goto fail;
  while ((rc = vg__scan_next(&sc)) == 1) {
    struct vg_wentry *w = open_slot(o, errstr, errstr_size);
    if (!w) {
      rc = -ENOMEM;
      goto done;
    }
    rc = vg__open_get(&sc.key, &sc.val, w, errstr, errstr_size);
    if (rc)
      goto done;
    o->n++;
  }
  if (rc)
    goto fail;
  if (nblk && o->n > nblk) /* blocks and rows of a store of format 1: in time order */
    qsort(o->v, o->n, sizeof *o->v, cmp_start);
  goto done;
fail:
  read_fail(rc, series, errstr, errstr_size);
done:
  vg__scan_close(&sc);
  blk_free(&lb);
  return rc;
}

int vg_store_read_range(struct vg_store_reader *r, uint64_t series, uint8_t res,
                        int64_t from_s, int64_t to_s,
                        int (*cb)(const struct vg_wentry *w, void *ctx), void *ctx,
                        char *errstr, size_t errstr_size) {
  r = vg__route(r, series);
  struct vg_store *st = r->st;
  struct open_set open = {0};
  struct vg__scan sc = {0};
  struct vg_segment seg = {0};
  size_t j = 0;
  int rc;
  if (vg_seg_span_len(res) == 0 || from_s >= to_s)
    return 0;
  /* the open windows of the range first (usually few), to interleave */
  rc = read_open(r, series, res, from_s, to_s, &open, errstr, errstr_size);
  if (rc)
    goto done;
  /* then the sealed windows of each segment, the open ones in between */
  rc = vg__scan_open(&sc, r->txn, st->seg, series, res, vg_seg_span(res, from_s), to_s);
  while (rc == 0 && (rc = vg__scan_next(&sc)) == 1) {
    struct vg_seg_key sk = {series, res, sc.t};
    char msg[256];
    rc = vg_seg_decode(sc.val.mv_data, sc.val.mv_size, &sk, &seg, msg, sizeof msg);
    if (rc) {
      char who[300];
      vg__name_series(r->txn, st, series, who, sizeof who);
      rc = vg__store_fail(rc, errstr, errstr_size, "cannot read %s: %s", who, msg);
      goto done;
    }
    for (size_t i = 0; i < seg.n; i++) {
      const struct vg_wentry *w = &seg.w[i];
      if (w->start < from_s || w->start >= to_s)
        continue;
      while (j < open.n && open.v[j].start < w->start) {
        rc = cb(&open.v[j++], ctx);
        if (rc)
          goto done;
      }
      if (j < open.n && open.v[j].start == w->start) {
        rc = cb(&open.v[j++], ctx);
        if (rc)
          goto done;
        continue;
      }
      rc = cb(w, ctx);
      if (rc)
        goto done;
    }
    vg_segment_release(&seg);
  }
  if (rc) {
    read_fail(rc, series, errstr, errstr_size);
    goto done;
  }
  while (j < open.n) {
    rc = cb(&open.v[j++], ctx);
    if (rc)
      goto done;
  }
done:
  vg__scan_close(&sc);
  vg_segment_release(&seg);
  for (size_t i = 0; i < open.n; i++)
    vg_acc_release(&open.v[i].acc);
  free(open.v);
  return rc;
}

int vg_store_window_loader(void *store, uint64_t series, uint8_t res, int64_t start,
                           struct vg_wentry *out) {
  struct vg_store *st = vg__route_store(store, series);
  struct vg_store_reader *r = NULL;
  struct vg_segment seg = {0};
  uint8_t k[WKEY_LEN];
  MDB_val key, val;
  char msg[512];
  int rc = vg__reader_one(st, &r);
  if (rc)
    return rc;
  /* a block entry or an open row (pending or kept) holds the
   * full-precision state */
  if (res == VG_RES_BASE && st->has_blk) {
    struct blk lb = {0};
    int64_t hour = blk_hour(start);
    wkey(k, series, res, hour);
    key = (MDB_val){WKEY_LEN, k};
    rc = vg__store_err(mdb_get(r->txn, st->blk, &key, &val));
    if (rc == 0) {
      rc = blk_parse(&lb, hour, val.mv_data, val.mv_size);
      long at = rc == 0 ? blk_find(&lb, start) : -1;
      if (at >= 0) {
        rc = blk_get(&lb, (size_t)at, series, res, out);
        if (rc == 0)
          rc = 1;
      }
      if (rc < 0)
        VG_LOG_ERROR("cannot load a window to revise it",
                     "series=%" PRIu64 " error=\"corrupt block of open base windows\"",
                     series);
      blk_free(&lb);
      if (rc != 0)
        goto done;
    } else if (rc != VG_ENOTFOUND) {
      goto done;
    }
  }
  wkey(k, series, res, start);
  key = (MDB_val){WKEY_LEN, k};
  rc = vg__store_err(mdb_get(r->txn, st->open, &key, &val));
  if (rc == 0) {
    rc = vg__open_get(&key, &val, out, msg, sizeof msg);
    if (rc == 0)
      rc = 1;
    goto done;
  }
  if (rc != VG_ENOTFOUND) {
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
  rc = vg__store_err(mdb_get(r->txn, st->seg, &key, &val));
  if (rc == VG_ENOTFOUND) {
    rc = 0;
    goto done;
  }
  if (rc) {
    goto done;
  }
  rc = vg_seg_decode(val.mv_data, val.mv_size, &sk, &seg, msg, sizeof msg);
  if (rc) {
    char who[300];
    vg__name_series(r->txn, st, series, who, sizeof who);
    VG_LOG_ERROR("cannot load a window to revise it", "series=\"%s\" error=\"%s\"", who,
                 msg);
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
  /* the reader does not know the ids' hash key: each shard is asked */
  for (unsigned s = 1; s < r->n; s++) {
    int rc = vg_store_series_id(r->sub[s], key, key_len, id);
    if (rc != VG_ENOTFOUND)
      return rc;
  }
  MDB_val k = {key_len, (void *)key}, v;
  int rc = vg__store_err(mdb_get(r->txn, r->st->series, &k, &v));
  if (rc)
    return rc;
  struct vg_rbuf b = {v.mv_data, (const uint8_t *)v.mv_data + v.mv_size, 0};
  if (rb_u8(&b) != SERIES_VERSION)
    return VG_EVERSION;
  *id = rb_u64le(&b);
  return b.err ? VG_ECORRUPT : 0;
}

int vg_store_series_key(struct vg_store_reader *r, uint64_t id, char *buf, size_t size,
                        size_t *len) {
  r = vg__route(r, id);
  uint8_t ik[8];
  be64_put(ik, id);
  MDB_val k = {8, ik}, v;
  int rc = vg__store_err(mdb_get(r->txn, r->st->series_id, &k, &v));
  if (rc)
    return rc;
  if (size) {
    size_t n = v.mv_size < size - 1 ? v.mv_size : size - 1;
    memcpy(buf, v.mv_data, n);
    buf[n] = 0;
  }
  if (len)
    *len = v.mv_size;
  return 0;
}

static int series_row(const MDB_val *k, const MDB_val *v, struct vg_store_series *s) {
  struct vg_rbuf b = {v->mv_data, (const uint8_t *)v->mv_data + v->mv_size, 0};
  if (rb_u8(&b) != SERIES_VERSION)
    return VG_EVERSION;
  *s = (struct vg_store_series){.key = k->mv_data, .key_len = k->mv_size};
  s->id = rb_u64le(&b);
  s->first_seen_ns = (int64_t)rb_u64le(&b);
  return b.err ? VG_ECORRUPT : 0;
}

/* Byte order of two keys, shorter first on a common prefix (LMDB's). */
static int key_cmp(const MDB_val *a, const MDB_val *b) {
  size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
  int c = memcmp(a->mv_data, b->mv_data, n);
  return c ? c : (a->mv_size > b->mv_size) - (a->mv_size < b->mv_size);
}

int vg__kmerge_open(struct vg__kmerge *m, struct vg_store_reader *r, size_t table,
                    const MDB_val *from) {
  *m = (struct vg__kmerge){.n = r->n > 1 ? r->n : 1, .best = -1};
  int rc = 0;
  for (unsigned i = 0; i < m->n && rc == 0; i++) {
    struct vg_store_reader *s = r->n > 1 ? r->sub[i] : r;
    MDB_dbi dbi = *(const MDB_dbi *)((const char *)s->st + table);
    rc = vg__store_err(mdb_cursor_open(s->txn, dbi, &m->cur[i]));
    if (rc)
      break;
    if (from)
      m->k[i] = *from;
    rc = vg__store_err(
        mdb_cursor_get(m->cur[i], &m->k[i], &m->v[i], from ? MDB_SET_RANGE : MDB_FIRST));
    m->live[i] = rc == 0;
    rc = rc == VG_ENOTFOUND ? 0 : rc;
  }
  if (rc)
    vg__kmerge_close(m);
  return rc;
}

int vg__kmerge_next(struct vg__kmerge *m, MDB_val *k, MDB_val *v) {
  if (m->best >= 0) {
    unsigned b = (unsigned)m->best;
    int rc = vg__store_err(mdb_cursor_get(m->cur[b], &m->k[b], &m->v[b], MDB_NEXT));
    m->live[b] = rc == 0;
    if (rc && rc != VG_ENOTFOUND)
      return rc;
  }
  m->best = -1;
  for (unsigned i = 0; i < m->n; i++)
    if (m->live[i] && (m->best < 0 || key_cmp(&m->k[i], &m->k[m->best]) < 0))
      m->best = (int)i;
  if (m->best < 0)
    return 0;
  *k = m->k[m->best];
  *v = m->v[m->best];
  return 1;
}

void vg__kmerge_close(struct vg__kmerge *m) {
  for (unsigned i = 0; i < m->n; i++)
    if (m->cur[i])
      mdb_cursor_close(m->cur[i]);
  *m = (struct vg__kmerge){.best = -1};
}

/* The dictionaries of every shard in key order. */
int vg_store_series_each(struct vg_store_reader *r,
                         int (*cb)(const struct vg_store_series *s, void *ctx),
                         void *ctx) {
  struct vg__kmerge m;
  MDB_val k, v;
  int rc = vg__kmerge_open(&m, r, offsetof(struct vg_store, series), NULL);
  while (rc == 0 && (rc = vg__kmerge_next(&m, &k, &v)) == 1) {
    struct vg_store_series s;
    rc = series_row(&k, &v, &s);
    if (rc == 0)
      rc = cb(&s, ctx);
  }
  vg__kmerge_close(&m);
  return rc;
}

static int position_one(struct vg_store_reader *r, const char *topic, uint32_t partition,
                        struct vg_store_pos *out);

int vg_store_position(struct vg_store_reader *r, const char *topic, uint32_t partition,
                      struct vg_store_pos *out) {
  /* the lowest over the shards: where a restart reads from (a shard
   * without it has read nothing of the partition) */
  int rc = position_one(r, topic, partition, out);
  for (unsigned i = 1; i < r->n && rc == 0; i++) {
    struct vg_store_pos p;
    rc = position_one(r->sub[i], topic, partition, &p);
    if (rc == 0 && p.next_offset < out->next_offset)
      *out = p;
  }
  return rc;
}

static int position_one(struct vg_store_reader *r, const char *topic, uint32_t partition,
                        struct vg_store_pos *out) {
  uint8_t k[POS_KEY_MAX];
  size_t kl = vg__pos_key(k, topic, partition);
  if (kl == 0)
    return VG_ENOTFOUND;
  MDB_val key = {kl, k}, val;
  int rc = vg__store_err(mdb_get(r->txn, r->st->pos, &key, &val));
  if (rc)
    return rc;
  char tmp[256];
  rc = vg__pos_get(&key, &val, out, tmp);
  out->topic = topic;
  return rc;
}

struct vg_store_reader *vg__reader_lowest(struct vg_store_reader *r) {
  struct vg_store_reader *low = r;
  uint64_t at = UINT64_MAX;
  for (unsigned i = 0; i < r->n; i++) {
    uint64_t e;
    if (vg__meta_get(r->sub[i]->txn, r->sub[i]->st->meta, "epoch", &e) == 0 && e < at) {
      at = e;
      low = r->sub[i];
    }
  }
  return low;
}

int vg_store_reader_blob(struct vg_store_reader *r, const char *name, void **data,
                         size_t *len) {
  r = vg__reader_lowest(r);
  char k[128];
  int n = snprintf(k, sizeof k, "x:%s", name);
  if (n <= 0 || (size_t)n >= sizeof k)
    return VG_ENOTFOUND;
  MDB_val key = {(size_t)n, k}, val;
  int rc = vg__store_err(mdb_get(r->txn, r->st->meta, &key, &val));
  if (rc)
    return rc;
  *data = malloc(val.mv_size ? val.mv_size : 1);
  if (!*data)
    return -ENOMEM;
  memcpy(*data, val.mv_data, val.mv_size);
  *len = val.mv_size;
  return 0;
}

int vg_store_reader_meta(struct vg_store_reader *r, struct vg_store_state *out) {
  int rc = vg__meta_state(r->st, r->txn, out);
  for (unsigned i = 1; i < r->n && rc == 0; i++) {
    struct vg_store_state m;
    rc = vg__meta_state(r->sub[i]->st, r->sub[i]->txn, &m);
#define LOWER(f) out->f = m.f < out->f ? m.f : out->f
    LOWER(epoch);
    LOWER(watermark_ns);
    LOWER(emit_seq);
    LOWER(rollup_seq);
#undef LOWER
    out->retain_gen += m.retain_gen;
    if (m.data_epoch > out->data_epoch) /* a change in any shard */
      out->data_epoch = m.data_epoch;
  }
  return rc;
}
