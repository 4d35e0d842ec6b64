/*
 * The emit log (`emit`, store.h): what went final or was revised, in
 * sequence, appended by the epoch commit, read by publication, trimmed
 * below what every reader has taken.
 */
#include <stddef.h>
#include <string.h>

#include "store/store_internal.h"

#define EMIT_LEN                                                                         \
  27 /* u8 version, u64 series, u8 res, i64 start, u32 revision, 5 reserved */

int vg__emit_put(struct vg_store *st, MDB_txn *txn, const struct vg_store_epoch *ep) {
  uint64_t seq;
  int rc = vg__meta_get(txn, st->meta, "emit_seq", &seq);
  if (rc)
    return rc;
  for (size_t i = 0; i < ep->nemit; i++) {
    const struct vg_store_emit *e = &ep->emit[i];
    uint8_t k[8], v[EMIT_LEN];
    if (ep->emit_next) {
      if (e->seq < seq || e->seq >= ep->emit_next)
        return VG_ECONFIG; /* out of order: LMDB would refuse the append */
      seq = e->seq;
    }
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
    rc = vg__store_err(mdb_put(txn, st->emit, &key, &val, MDB_APPEND));
    if (rc)
      return rc;
  }
  if (ep->emit_next > seq)
    seq = ep->emit_next;
  return vg__meta_put(txn, st->meta, "emit_seq", seq);
}

struct trim_pass {
  uint64_t below;
  size_t max_deletes, deleted;
};

static int trim_txn(struct vg_store *st, MDB_txn *txn, void *arg) {
  struct trim_pass *tp = arg;
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  tp->deleted = 0;
  int rc = vg__store_err(mdb_cursor_open(txn, st->emit, &cur));
  if (rc)
    return rc;
  for (rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_FIRST));
       rc == 0 && tp->deleted < tp->max_deletes;
       rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_NEXT))) {
    if (key.mv_size != 8 || be64_get(key.mv_data) >= tp->below)
      break;
    rc = vg__store_err(mdb_cursor_del(cur, 0));
    if (rc)
      break;
    tp->deleted++;
  }
  mdb_cursor_close(cur);
  return rc == VG_ENOTFOUND ? 0 : rc;
}

int vg_store_trim_emit(struct vg_store *st, uint64_t below, size_t max_deletes,
                       size_t *deleted, char *errstr, size_t errstr_size) {
  if (st->o.readonly)
    return vg__store_readonly("trim", errstr, errstr_size);
  struct trim_pass tp = {.below = below, .max_deletes = max_deletes};
  int full = 0;
  int rc = vg__store_write(st, trim_txn, &tp, &full);
  if (deleted)
    *deleted = rc ? 0 : tp.deleted;
  if (rc)
    return vg__store_fail(rc, errstr, errstr_size, "cannot trim the emit log: %s",
                          full ? "the store map is full" : vg_strerror(rc));
  return 0;
}

static int emit_row(const MDB_val *key, const MDB_val *val, struct vg_store_emit *e) {
  const uint8_t *v = val->mv_data;
  if (key->mv_size != 8 || val->mv_size != EMIT_LEN)
    return VG_ECORRUPT;
  if (v[0] != EMIT_VERSION)
    return VG_EVERSION;
  struct vg_rbuf b = {v + 1, v + EMIT_LEN, 0};
  e->seq = be64_get(key->mv_data);
  e->series = rb_u64le(&b);
  e->res = rb_u8(&b);
  e->start = (int64_t)rb_u64le(&b);
  e->revision = rb_u32le(&b);
  return 0;
}

/* The logs of every shard merged by sequence; with several shards, up to
 * the lowest emit sequence of the shards (store.h, "Shards"). */
int vg_store_read_emit(struct vg_store_reader *r, uint64_t from,
                       int (*cb)(const struct vg_store_emit *e, void *ctx), void *ctx) {
  uint64_t below = UINT64_MAX;
  if (r->n > 1) {
    struct vg_store_state st;
    int rc = vg_store_reader_meta(r, &st);
    if (rc)
      return rc;
    below = st.emit_seq;
  }
  uint8_t k[8];
  be64_put(k, from);
  MDB_val key = {8, k}, val;
  struct vg__kmerge m;
  int rc = vg__kmerge_open(&m, r, offsetof(struct vg_store, emit), &key);
  while (rc == 0 && (rc = vg__kmerge_next(&m, &key, &val)) == 1) {
    struct vg_store_emit e;
    rc = emit_row(&key, &val, &e);
    if (rc == 0 && e.seq >= below)
      break;
    if (rc == 0)
      rc = cb(&e, ctx); /* the callback's own value, as the header says */
  }
  vg__kmerge_close(&m);
  return rc;
}
