/*
 * The fingerprints of dedupe sources (`dup`, store.h): written by the
 * epoch commit, loaded when a base window is revised, deleted from the
 * front by retention.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "store/store_internal.h"
#include "vigie/log.h"

static void dup_key(uint8_t k[DUP_KEY_LEN], int64_t end, uint64_t series,
                    uint32_t first) {
  be64_put(k, i64_key(end));
  be64_put(k + 8, series);
  for (int i = 0; i < 4; i++)
    k[16 + i] = (uint8_t)(first >> (24 - 8 * i));
}

/* One row: the window's fingerprints first .. first + n - 1. Times alone
 * when none of them has a distinct key (most sources): 8 bytes each. */
int vg__dup_put(struct vg_store *st, MDB_txn *txn, const struct vg_fprow *r) {
  int keys = 0;
  for (uint32_t i = 0; i < r->n && !keys; i++)
    keys = r->fp[i].key != 0;
  size_t each = keys ? 16 : 8;
  st->scratch.len = 0;
  if (sbuf_reserve(&st->scratch, 2 + each * r->n))
    return -ENOMEM;
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
  return vg__store_err(mdb_put(txn, st->dup, &key, &val, 0));
}

int vg_store_fp_loader(void *store, uint64_t series, int64_t start, int64_t end,
                       struct vg_fpset *out) {
  struct vg_store *st = vg__route_store(store, series);
  struct vg_store_reader *r = NULL;
  MDB_cursor *cur = NULL;
  uint8_t k[DUP_KEY_LEN];
  MDB_val key, val;
  (void)start;
  if (!st->has_dup)
    return 0;
  int rc = vg__reader_one(st, &r);
  if (rc)
    return rc;
  rc = vg__store_err(mdb_cursor_open(r->txn, st->dup, &cur));
  if (rc)
    goto done;
  dup_key(k, end, series, 0);
  key = (MDB_val){DUP_KEY_LEN, k};
  for (rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE)); rc == 0;
       rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_NEXT))) {
    if (key.mv_size != DUP_KEY_LEN || memcmp(key.mv_data, k, 16) != 0)
      break;
    const uint8_t *kk = key.mv_data, *v = val.mv_data;
    uint32_t first =
        (uint32_t)kk[16] << 24 | (uint32_t)kk[17] << 16 | (uint32_t)kk[18] << 8 | kk[19];
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
      rc = vg_fpset_add(out, fp);
      if (rc < 0)
        goto done;
    }
  }
  if (rc != 0 && rc != VG_ENOTFOUND)
    goto done;
  rc = out->n > 0;
done:
  if (rc < 0)
    vg_fpset_release(out);
  if (cur)
    mdb_cursor_close(cur);
  vg_store_reader_end(r);
  return rc;
}

int vg__dup_retain(struct vg_store *st, MDB_txn *txn, int64_t horizon_s,
                   size_t max_deletes, int *done) {
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  size_t dels = 0;
  *done = 0;
  int rc = vg__store_err(mdb_cursor_open(txn, st->dup, &cur));
  if (rc)
    return rc;
  /* after a delete, MDB_NEXT gives the row that followed it */
  for (rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_FIRST)); rc == 0;
       rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_NEXT))) {
    if (key.mv_size != DUP_KEY_LEN || i64_unkey(be64_get(key.mv_data)) > horizon_s) {
      *done = 1;
      break;
    }
    if (dels == max_deletes)
      break;
    rc = vg__store_err(mdb_cursor_del(cur, 0));
    if (rc)
      break;
    dels++;
  }
  if (rc == VG_ENOTFOUND) {
    *done = 1;
    rc = 0;
  }
  mdb_cursor_close(cur);
  return rc;
}
