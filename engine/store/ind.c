/*
 * Indicator rows (`ind`, store.h): the dataset `indicateurs` as
 * publication computed it, written by the epoch commit of shard 0 and read
 * by any reader. One row per (indicator, series) key and period start.
 */
#include <stddef.h>
#include <string.h>

#include "store/store_internal.h"

#define IND_VERSION 1
#define IND_KEY_LEN 16
#define IND_FIXED   (1 + 8 + 8 + 8 + 8 + 4 + 1) /* before the two strings */
#define IND_STR_MAX 0xffff

static void ind_key(uint8_t k[IND_KEY_LEN], uint64_t key, int64_t start) {
  be64_put(k, key);
  be64_put(k + 8, i64_key(start));
}

int vg__ind_put(struct vg_store *st, MDB_txn *txn, const struct vg_store_epoch *ep) {
  if (ep->nind == 0)
    return 0;
  for (size_t i = 0; i < ep->nind; i++) {
    const struct vg_store_ind *r = &ep->ind[i];
    size_t li = strlen(r->indicator), ls = strlen(r->series);
    if (li > IND_STR_MAX || ls > IND_STR_MAX)
      return VG_ECONFIG;
    size_t n = IND_FIXED + 2 + li + 2 + ls;
    st->scratch.len = 0;
    if (sbuf_reserve(&st->scratch, n) != 0)
      return -ENOMEM;
    uint8_t *v = st->scratch.p;
    struct vg_wbuf w = {v, v + n, 0};
    wb_u8(&w, IND_VERSION);
    wb_u64le(&w, (uint64_t)r->end);
    wb_f64(&w, r->value);
    wb_f64(&w, r->coverage);
    wb_f64(&w, r->previous);
    for (int b = 0; b < 4; b++)
      wb_u8(&w, (uint8_t)(r->revision >> (8 * b)));
    wb_u8(&w, r->final ? 1 : 0);
    wb_u8(&w, (uint8_t)li);
    wb_u8(&w, (uint8_t)(li >> 8));
    for (size_t b = 0; b < li; b++)
      wb_u8(&w, (uint8_t)r->indicator[b]);
    wb_u8(&w, (uint8_t)ls);
    wb_u8(&w, (uint8_t)(ls >> 8));
    for (size_t b = 0; b < ls; b++)
      wb_u8(&w, (uint8_t)r->series[b]);
    if (w.err)
      return VG_ECORRUPT;
    uint8_t k[IND_KEY_LEN];
    ind_key(k, r->key, r->start);
    MDB_val key = {sizeof k, k}, val = {n, v};
    int rc = vg__store_err(mdb_put(txn, st->ind, &key, &val, 0));
    if (rc)
      return rc;
  }
  return 0;
}

/* Decodes a row; its strings are copied into buf (two NUL-terminated). */
static int ind_row(const MDB_val *key, const MDB_val *val, struct vg_store_ind *r,
                   char *buf, size_t size) {
  const uint8_t *v = val->mv_data;
  if (key->mv_size != IND_KEY_LEN || val->mv_size < IND_FIXED + 4)
    return VG_ECORRUPT;
  if (v[0] != IND_VERSION)
    return VG_EVERSION;
  struct vg_rbuf b = {v + 1, v + val->mv_size, 0};
  r->key = be64_get(key->mv_data);
  r->start = i64_unkey(be64_get((const uint8_t *)key->mv_data + 8));
  r->end = (int64_t)rb_u64le(&b);
  uint64_t bits;
  bits = rb_u64le(&b);
  memcpy(&r->value, &bits, 8);
  bits = rb_u64le(&b);
  memcpy(&r->coverage, &bits, 8);
  bits = rb_u64le(&b);
  memcpy(&r->previous, &bits, 8);
  r->revision = rb_u32le(&b);
  r->final = rb_u8(&b) & 1;
  size_t off = 0;
  for (int s = 0; s < 2; s++) {
    size_t n = rb_u8(&b);
    n |= (size_t)rb_u8(&b) << 8;
    if (b.err || (size_t)(b.end - b.p) < n || off + n + 1 > size)
      return VG_ECORRUPT;
    memcpy(buf + off, b.p, n);
    buf[off + n] = 0;
    b.p += n;
    if (s == 0)
      r->indicator = buf + off;
    else
      r->series = buf + off;
    off += n + 1;
  }
  return b.err || b.p != b.end ? VG_ECORRUPT : 0;
}

int vg_store_read_ind(struct vg_store_reader *r, uint64_t key, int64_t from_s,
                      int64_t to_s, int (*cb)(const struct vg_store_ind *row, void *ctx),
                      void *ctx) {
  struct vg_store_reader *r0 = r->n > 1 ? r->sub[0] : r;
  struct vg_store *st = r0->st;
  if (!st->has_ind)
    return 0;
  MDB_cursor *cur;
  int rc = vg__store_err(mdb_cursor_open(r0->txn, st->ind, &cur));
  if (rc)
    return rc;
  uint8_t k[IND_KEY_LEN];
  ind_key(k, key, key ? from_s : INT64_MIN);
  MDB_val mk = {sizeof k, k}, mv;
  char buf[2 * IND_STR_MAX + 2];
  for (rc = vg__store_err(mdb_cursor_get(cur, &mk, &mv, MDB_SET_RANGE)); rc == 0;
       rc = vg__store_err(mdb_cursor_get(cur, &mk, &mv, MDB_NEXT))) {
    struct vg_store_ind row;
    rc = ind_row(&mk, &mv, &row, buf, sizeof buf);
    if (rc)
      break;
    if (key && row.key != key)
      break;
    if (row.start < from_s)
      continue;
    if (row.start >= to_s) {
      if (key)
        break;
      continue;
    }
    rc = cb(&row, ctx);
    if (rc)
      break;
  }
  mdb_cursor_close(cur);
  return rc == VG_ENOTFOUND ? 0 : rc;
}
