/*
 * The epoch commit (store.h, "Exactly-once"): everything an epoch changed
 * -- open windows, sealed windows, evictions, fingerprints, new series,
 * partition positions, emit records, the watermark and the epoch number --
 * in one write transaction, replayed whole in a grown map when the map is
 * full; and blobs, written alone.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "store/store_internal.h"

static int put_series(struct vg_store *st, MDB_txn *txn, const struct vg_store_series *s,
                      char *errstr, size_t size) {
  if (s->key_len == 0 || s->key_len > 511)
    return vg__store_fail(
        VG_ECONFIG, errstr, size,
        "series key of id %" PRIu64 " is empty or longer than 511 bytes", s->id);
  MDB_val key = {s->key_len, (void *)s->key}, val;
  int rc = vg__store_err(mdb_get(txn, st->series, &key, &val));
  if (rc == 0) {
    struct vg_rbuf r = {val.mv_data, (const uint8_t *)val.mv_data + val.mv_size, 0};
    rb_u8(&r);
    uint64_t id = rb_u64le(&r);
    if (r.err)
      return vg__store_fail(VG_ECORRUPT, errstr, size,
                            "corrupt dictionary entry of series %.*s", (int)s->key_len,
                            s->key);
    if (id != s->id)
      return vg__store_fail(VG_ECONFIG, errstr, size,
                            "series %.*s is already known as id %" PRIu64
                            ", not %" PRIu64,
                            (int)s->key_len, s->key, id, s->id);
    return 0;
  }
  if (rc != VG_ENOTFOUND)
    return rc;
  uint8_t ik[8];
  be64_put(ik, s->id);
  MDB_val idkey = {8, ik};
  rc = vg__store_err(mdb_get(txn, st->series_id, &idkey, &val));
  if (rc == 0)
    return vg__store_fail(
        VG_ECONFIG, errstr, size,
        "series id %" PRIu64 " of %.*s already names %.*s (hash collision)", s->id,
        (int)s->key_len, s->key, (int)(val.mv_size > 200 ? 200 : val.mv_size),
        (const char *)val.mv_data);
  if (rc != VG_ENOTFOUND)
    return rc;
  uint8_t v[17];
  v[0] = SERIES_VERSION;
  for (int i = 0; i < 8; i++) {
    v[1 + i] = (uint8_t)(s->id >> (8 * i));
    v[9 + i] = (uint8_t)((uint64_t)s->first_seen_ns >> (8 * i));
  }
  val = (MDB_val){sizeof v, v};
  rc = vg__store_err(mdb_put(txn, st->series, &key, &val, 0));
  if (rc)
    return rc;
  val = (MDB_val){s->key_len, (void *)s->key};
  return vg__store_err(mdb_put(txn, st->series_id, &idkey, &val, 0));
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

/* The meta row "x:name" of a blob. */
static int put_blob(struct vg_store *st, MDB_txn *txn, const char *name, const void *data,
                    size_t len) {
  char k[128];
  int n = snprintf(k, sizeof k, "x:%s", name);
  assert(n > 0 && (size_t)n < sizeof k);
  MDB_val key = {(size_t)n, k}, val = {len, (void *)data};
  return vg__store_err(mdb_put(txn, st->meta, &key, &val, 0));
}

/* One attempt at an epoch: its windows in key order (skeys: the sealed
 * ones), and the deferred queue as it was before the first attempt. */
struct commit_pass {
  const struct vg_store_epoch *ep;
  const struct okey *skeys, *open;
  size_t dhead, ndef;
  char *errstr;
  size_t size;
};

/* The rows of `open` an epoch changes: its hourly and daily windows, kept
 * and sealed, and their evictions (base windows go into blocks). */
static int commit_open(struct vg_store *st, MDB_txn *txn, const struct commit_pass *cp) {
  const struct vg_store_epoch *ep = cp->ep;
  const struct okey *skeys = cp->skeys, *open = cp->open;
  MDB_cursor *cur = NULL;
  int rc = vg__store_err(mdb_cursor_open(txn, st->open, &cur));
  if (rc)
    return rc;
  for (size_t i = 0; i < ep->nopen; i++) {
    if (open[i].res == VG_RES_BASE)
      continue;
    /* the windows sit in the caller's order, not in key order: fetch
     * ahead to overlap the cache misses */
    if (i + 16 < ep->nopen)
      prefetch_window(open[i + 16].w);
    rc = vg__open_put(cur, &st->scratch, open[i].w, OPEN_KEEP, OPEN_PENDING, i > 0,
                      !open[i].w->stored);
    if (rc)
      goto done;
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
    while (j < ep->nopen && vg__okey_cmp(&open[j], &probe) < 0)
      j++;
    int in_open = j < ep->nopen && vg__okey_cmp(&open[j], &probe) == 0;
    /* a final window is never the writer's state to restore: kept only
     * when this epoch also lists it open */
    rc = vg__open_put(cur, &st->scratch, w, OPEN_PENDING, in_open ? OPEN_KEEP : 0, 0,
                      !w->stored && !in_open);
    if (rc)
      goto done;
    boundary |= vg__at_boundary(st, w);
    int last_of_span = i + 1 == ep->nsealed || skeys[i + 1].series != w->series ||
                       skeys[i + 1].res != w->res ||
                       vg_seg_span(w->res, skeys[i + 1].start) != span;
    if (!last_of_span)
      continue;
    if (boundary && !ep->flush && !vg__seal_room(st))
      vg__defer_span(st, w->series, w->res, span);
    else if (boundary || ep->flush) {
      rc = vg__flush_group(st, txn, w->series, w->res, span, cp->errstr, cp->size);
      if (rc)
        goto done;
    }
    boundary = 0;
  }
  for (size_t i = 0; i < ep->nevict; i++) {
    if (ep->evict[i].res == VG_RES_BASE) {
      rc = vg__evict_base(st, txn, &ep->evict[i], cp->errstr, cp->size);
      if (rc)
        goto done;
      continue;
    }
    uint8_t k[WKEY_LEN];
    wkey(k, ep->evict[i].series, ep->evict[i].res, ep->evict[i].start);
    MDB_val key = {WKEY_LEN, k}, val;
    rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_SET_KEY));
    if (rc == VG_ENOTFOUND) {
      rc = 0;
      continue;
    }
    if (rc)
      goto done;
    if (val.mv_size >= OPEN_HDR && (((const uint8_t *)val.mv_data)[1] & OPEN_PENDING))
      /* not in its segment yet: it stays until flushed, no longer kept */
      rc = vg__open_clear(cur, &st->scratch, &key, &val, OPEN_KEEP);
    else
      rc = vg__store_err(mdb_cursor_del(cur, 0));
    if (rc)
      goto done;
  }
done:
  mdb_cursor_close(cur);
  return rc;
}

/* Everything of the epoch in the write transaction txn. */
static int commit_txn(struct vg_store *st, MDB_txn *txn, void *arg) {
  const struct commit_pass *cp = arg;
  const struct vg_store_epoch *ep = cp->ep;
  int rc;
  if (cp->size)
    cp->errstr[0] = 0;
  /* the deferred queue as it was: an aborted attempt took nothing from it */
  st->dhead = cp->dhead;
  st->ndef = cp->ndef;
  /* spans earlier commits had no budget for come first */
  st->seals_left = st->o.seal_max;
  rc = vg__flush_deferred(st, txn, cp->errstr, cp->size);
  if (rc)
    return rc;
  rc = vg__commit_blocks(st, txn, ep, cp->skeys, cp->open, cp->errstr, cp->size);
  if (rc)
    return rc;
  rc = commit_open(st, txn, cp);
  if (rc)
    return rc;
  for (size_t i = 0; i < ep->nfps; i++) {
    if (!ep->fps[i].n)
      continue;
    rc = vg__dup_put(st, txn, &ep->fps[i]);
    if (rc)
      return rc;
  }
  for (size_t i = 0; i < ep->nseries; i++) {
    rc = put_series(st, txn, &ep->series[i], cp->errstr, cp->size);
    if (rc)
      return rc;
  }
  for (size_t i = 0; i < ep->npos; i++) {
    rc = vg__pos_put(st, txn, &ep->pos[i]);
    if (rc)
      return rc;
  }
  rc = vg__emit_put(st, txn, ep);
  if (rc)
    return rc;
  rc = vg__ind_put(st, txn, ep);
  if (rc)
    return rc;
  rc = vg__meta_put(txn, st->meta, "watermark", (uint64_t)ep->watermark_ns);
  if (rc)
    return rc;
  rc = vg__meta_put(txn, st->meta, "epoch", ep->epoch);
  if (rc)
    return rc;
  if (ep->nopen || ep->nsealed ||
      ep->nind) { /* rows changed: what the API's ETags follow */
    rc = vg__meta_put(txn, st->meta, "data_epoch", ep->epoch);
    if (rc)
      return rc;
  }
  if (ep->rollup_seq) {
    rc = vg__meta_put(txn, st->meta, "rollup_seq", ep->rollup_seq);
    if (rc)
      return rc;
  }
  for (size_t i = 0; i < ep->nblobs; i++) {
    rc = put_blob(st, txn, ep->blobs[i].name, ep->blobs[i].data, ep->blobs[i].len);
    if (rc)
      return rc;
  }
  return 0;
}

int vg_store_commit(struct vg_store *st, const struct vg_store_epoch *ep, char *errstr,
                    size_t errstr_size) {
  if (st->o.readonly)
    return vg__store_readonly("commit", errstr, errstr_size);
  /* the key arrays are kept between commits */
  if (VG_GROW(st->okeys, ep->nopen, st->cap_okeys) ||
      VG_GROW(st->skeys, ep->nsealed, st->cap_skeys))
    return vg__store_fail(-ENOMEM, errstr, errstr_size,
                          "out of memory committing epoch %" PRIu64, ep->epoch);
  /* the sort's scratch: without it the sort is slower, not wrong */
  size_t nt = ep->nopen > ep->nsealed ? ep->nopen : ep->nsealed;
  (void)VG_GROW(st->tkeys, nt, st->cap_tkeys);
  struct okey *open = st->okeys;
  /* key order: segments are grouped, and B-tree puts stay local; the keys
   * are copied next to the pointers so that sorting does not chase them */
  for (size_t i = 0; i < ep->nopen; i++) {
    const struct vg_wentry *w = ep->open[i];
    open[i] = (struct okey){w->series, w->start, w->res, w};
  }
  vg__okey_sort(open, ep->nopen, st->cap_tkeys >= ep->nopen ? st->tkeys : NULL);
  for (size_t i = 0; i < ep->nsealed; i++) {
    const struct vg_wentry *w = ep->sealed[i];
    st->skeys[i] = (struct okey){w->series, w->start, w->res, w};
  }
  vg__okey_sort(st->skeys, ep->nsealed, st->cap_tkeys >= ep->nsealed ? st->tkeys : NULL);
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
  struct commit_pass cp = {ep, st->skeys, open, st->dhead, st->ndef, errstr, errstr_size};
  int full = 0;
  int rc = vg__store_write(st, commit_txn, &cp, &full);
  if (rc == 0)
    return 0;
  /* nothing of the epoch was written: nor taken from the queue */
  st->dhead = cp.dhead;
  st->ndef = cp.ndef;
  if (full)
    return vg__store_fail(rc, errstr, errstr_size,
                          "cannot commit epoch %" PRIu64 ": the store map is full at %zu "
                          "bytes (map_max %zu); nothing of this epoch was written",
                          ep->epoch, st->map_size, st->o.map_max);
  if (rc == -EIO)
    rc = diagnose_eio(st);
  if (errstr_size && !errstr[0])
    vg__store_fail(
        rc, errstr, errstr_size,
        "cannot commit epoch %" PRIu64 ": %s; nothing of this epoch was written%s",
        ep->epoch, vg_strerror(rc),
        rc == -ENOSPC || rc == -EFBIG || rc == -EDQUOT
            ? " (disk full or file size limit: retry the same epoch when space "
              "returns)"
            : "");
  return rc;
}

static int put_blob_txn(struct vg_store *st, MDB_txn *txn, void *arg) {
  const struct vg_store_blob *b = arg;
  return put_blob(st, txn, b->name, b->data, b->len);
}

int vg_store_put_blob(struct vg_store *st, const char *name, const void *data, size_t len,
                      char *errstr, size_t errstr_size) {
  if (st->o.readonly)
    return vg__store_readonly("write", errstr, errstr_size);
  struct vg_store_blob b = {.name = name, .data = data, .len = len};
  int rc = vg__store_write(st, put_blob_txn, &b, NULL);
  if (rc)
    return vg__store_fail(rc, errstr, errstr_size, "cannot write %s: %s", name,
                          vg_strerror(rc));
  return 0;
}
