/*
 * The rows of the store's small tables (store.h names their layout): meta's
 * u64 values, the `open` rows of hourly and daily windows, partition
 * positions, and the name of a series in error messages.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store/store_internal.h"

int vg__meta_get(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v) {
  MDB_val k = {strlen(name), (void *)name}, d;
  int rc = vg__store_err(mdb_get(txn, dbi, &k, &d));
  if (rc)
    return rc;
  if (d.mv_size != 8)
    return VG_ECORRUPT;
  struct vg_rbuf r = {d.mv_data, (const uint8_t *)d.mv_data + 8, 0};
  *v = rb_u64le(&r);
  return 0;
}

/* A key that older stores lack: 0 when absent. */
int vg__meta_get_opt(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v) {
  int rc = vg__meta_get(txn, dbi, name, v);
  if (rc == VG_ENOTFOUND) {
    *v = 0;
    rc = 0;
  }
  return rc;
}

int vg__meta_put(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (8 * i));
  MDB_val k = {strlen(name), (void *)name}, d = {8, b};
  return vg__store_err(mdb_put(txn, dbi, &k, &d, 0));
}

int vg__open_put(MDB_cursor *cur, struct vg_sbuf *b, const struct vg_wentry *w,
                 uint8_t set, uint8_t keep, int next_hint, int absent) {
  uint8_t k[WKEY_LEN];
  wkey(k, w->series, w->res, w->start);
  MDB_val key, old;
  int mrc = MDB_NOTFOUND; /* LMDB's, until the put */
  if (absent) {
    /* the caller knows there is no row: no flags to carry, no lookup (a
     * fresh window is most of what a busy epoch writes) */
  } else if (next_hint) {
    /* windows come in key order and usually exist: the row after the
     * cursor is often the one wanted, which spares a search from the root */
    mrc = mdb_cursor_get(cur, &key, &old, MDB_NEXT);
    if (mrc == 0 && (key.mv_size != WKEY_LEN || memcmp(key.mv_data, k, WKEY_LEN) != 0))
      mrc = MDB_NOTFOUND;
  }
  if (mrc) {
    key = (MDB_val){WKEY_LEN, k};
    mrc = mdb_cursor_get(cur, &key, &old, MDB_SET_KEY);
  }
  if (mrc && mrc != MDB_NOTFOUND)
    return vg__store_err(mrc);
  uint8_t carried =
      mrc == 0 && old.mv_size >= OPEN_HDR ? ((const uint8_t *)old.mv_data)[1] & keep : 0;
  unsigned put_flags = mrc == 0 ? MDB_CURRENT : 0;
  size_t cap = vg_acc_encoded_size(&w->acc), used; /* an upper bound */
  b->len = 0;
  if (sbuf_reserve(b, OPEN_HDR + cap))
    return -ENOMEM;
  uint8_t *p = b->p;
  p[0] = OPEN_VERSION;
  p[1] =
      (uint8_t)((w->final ? OPEN_FINAL : 0) | (w->emit ? OPEN_EMIT : 0) | set | carried);
  for (int i = 0; i < 4; i++)
    p[2 + i] = (uint8_t)(w->revision >> (8 * i));
  for (int i = 0; i < 8; i++)
    p[6 + i] = (uint8_t)((uint64_t)w->end >> (8 * i));
  if (vg_acc_encode(&w->acc, p + OPEN_HDR, cap, &used) != 0)
    return VG_EFULL; /* cannot happen: cap is the encoder's bound */
  MDB_val val = {OPEN_HDR + used, p};
  key = (MDB_val){WKEY_LEN, k};
  return vg__store_err(mdb_cursor_put(cur, &key, &val, put_flags));
}

int vg__open_get(const MDB_val *key, const MDB_val *val, struct vg_wentry *w,
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
  char when[VG_FMT_ISO_MAX];
  vg__store_when(w->start, when);
  return vg__store_fail(rc, errstr, size,
                        "%s open window of series %" PRIu64
                        " at resolution %s starting at %s: %s",
                        rc == VG_EVERSION ? "unsupported" : "corrupt", w->series,
                        vg_res_name((enum vg_res)w->res), when,
                        rc == -ENOMEM ? "out of memory" : "bad row");
}

void vg__name_series(MDB_txn *txn, const struct vg_store *st, uint64_t id, char *buf,
                     size_t size) {
  uint8_t k[8];
  be64_put(k, id);
  MDB_val key = {8, k}, val;
  if (mdb_get(txn, st->series_id, &key, &val) == 0)
    snprintf(buf, size, "series %.*s (id %" PRIu64 ")",
             (int)(val.mv_size > 200 ? 200 : val.mv_size), (const char *)val.mv_data, id);
  else
    snprintf(buf, size, "series id %" PRIu64, id);
}

size_t vg__pos_key(uint8_t k[POS_KEY_MAX], const char *topic, uint32_t partition) {
  size_t tl = strlen(topic);
  if (tl == 0 || tl > 255)
    return 0;
  memcpy(k, topic, tl);
  k[tl] = 0;
  for (int i = 0; i < 4; i++)
    k[tl + 1 + i] = (uint8_t)(partition >> (24 - 8 * i));
  return tl + 5;
}

int vg__pos_put(struct vg_store *st, MDB_txn *txn, const struct vg_store_pos *p) {
  uint8_t k[POS_KEY_MAX], v[25];
  size_t kl = vg__pos_key(k, p->topic, p->partition);
  if (kl == 0)
    return VG_ECONFIG; /* the engine names its topics: cannot happen */
  v[0] = POS_VERSION;
  for (int i = 0; i < 8; i++) {
    v[1 + i] = (uint8_t)((uint64_t)p->next_offset >> (8 * i));
    v[9 + i] = (uint8_t)((uint64_t)p->max_event_ns >> (8 * i));
    v[17 + i] = (uint8_t)((uint64_t)p->last_active_ns >> (8 * i));
  }
  MDB_val key = {kl, k}, val = {sizeof v, v};
  return vg__store_err(mdb_put(txn, st->pos, &key, &val, 0));
}

int vg__pos_get(const MDB_val *key, const MDB_val *val, struct vg_store_pos *p,
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

int vg__open_clear(MDB_cursor *cur, struct vg_sbuf *b, const MDB_val *key,
                   const MDB_val *val, uint8_t clear) {
  b->len = 0;
  sbuf_put(b, val->mv_data, val->mv_size);
  if (b->err)
    return -ENOMEM;
  b->p[1] &= (uint8_t)~clear;
  MDB_val nv = {val->mv_size, b->p};
  return vg__store_err(mdb_cursor_put(cur, (MDB_val *)key, &nv, MDB_CURRENT));
}

int vg__meta_state(const struct vg_store *st, MDB_txn *txn, struct vg_store_state *out) {
  uint64_t wm;
  memset(out, 0, sizeof *out);
  int rc = vg__meta_get(txn, st->meta, "epoch", &out->epoch);
  if (!rc)
    rc = vg__meta_get(txn, st->meta, "watermark", &wm);
  if (!rc)
    rc = vg__meta_get(txn, st->meta, "emit_seq", &out->emit_seq);
  if (!rc)
    rc = vg__meta_get_opt(txn, st->meta, "rollup_seq", &out->rollup_seq);
  if (!rc)
    rc = vg__meta_get_opt(txn, st->meta, "retain_gen", &out->retain_gen);
  if (!rc)
    rc = vg__meta_get_opt(txn, st->meta, "data_epoch", &out->data_epoch);
  if (rc)
    return rc;
  out->watermark_ns = (int64_t)wm;
  return 0;
}

int vg__scan_open(struct vg__scan *sc, MDB_txn *txn, MDB_dbi dbi, uint64_t series,
                  uint8_t res, int64_t from, int64_t to) {
  *sc = (struct vg__scan){.series = series, .res = res, .to = to, .op = MDB_SET_RANGE};
  wkey(sc->k, series, res, from);
  sc->key = (MDB_val){WKEY_LEN, sc->k};
  return vg__store_err(mdb_cursor_open(txn, dbi, &sc->cur));
}

int vg__scan_next(struct vg__scan *sc) {
  int rc = vg__store_err(mdb_cursor_get(sc->cur, &sc->key, &sc->val, sc->op));
  sc->op = MDB_NEXT;
  if (rc == VG_ENOTFOUND)
    return 0;
  if (rc)
    return rc;
  if (sc->key.mv_size != WKEY_LEN)
    return 0;
  uint64_t s;
  uint8_t r;
  wkey_get(sc->key.mv_data, &s, &r, &sc->t);
  return s == sc->series && r == sc->res && sc->t < sc->to;
}

void vg__scan_close(struct vg__scan *sc) {
  if (sc->cur)
    mdb_cursor_close(sc->cur);
  sc->cur = NULL;
}
