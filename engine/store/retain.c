/*
 * Retention (vg_store_retain): segments whose span ended retention_s of
 * event time before the watermark leave the store, and so do the
 * fingerprints of dedupe sources past dedupe_retention_s -- in bounded
 * write transactions, resuming where the last call stopped.
 */
#include <string.h>

#include "store/store_internal.h"

/* What one transaction of retention needs and gives back: the resume point
 * is the writer's only once the transaction committed. */
struct retain_pass {
  int64_t wm_s;
  size_t max_deletes;
  size_t deleted;
  int done;
  uint64_t series; /* where the pass resumes: next (series, res) to look at */
  uint8_t res;
};

/* One transaction of retention work over the segments, from rp->series and
 * rp->res. rp->done is set when the whole key space was walked. */
static int retain_txn(struct vg_store *st, MDB_txn *txn, void *arg) {
  struct retain_pass *rp = arg;
  MDB_cursor *cur = NULL;
  size_t work = 0, dels = 0, max_deletes = rp->max_deletes;
  rp->series = st->ret_series;
  rp->res = st->ret_res;
  rp->deleted = 0;
  rp->done = 0;
  int rc = vg__store_err(mdb_cursor_open(txn, st->seg, &cur));
  if (rc)
    return rc;
  while (dels < max_deletes && work < 4 * max_deletes) {
    uint8_t k[WKEY_LEN];
    wkey(k, rp->series, rp->res, INT64_MIN);
    MDB_val key = {WKEY_LEN, k}, val;
    work++;
    rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE));
    if (rc == VG_ENOTFOUND) {
      rp->done = 1;
      rp->series = 0;
      rp->res = 0;
      rc = 0;
      break;
    }
    if (rc)
      goto done;
    uint64_t series;
    uint8_t res;
    int64_t span;
    wkey_get(key.mv_data, &series, &res, &span);
    int64_t keep = res < 3 ? st->o.retention_s[res] : 0;
    int64_t len = vg_seg_span_len(res);
    /* delete expired spans of this (series, res), oldest first */
    while (keep > 0 && len > 0 && span + len <= rp->wm_s - keep && dels < max_deletes) {
      rc = vg__store_err(mdb_cursor_del(cur, 0));
      if (rc)
        goto done;
      dels++;
      work++;
      /* after a delete: the next row */
      rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_NEXT));
      if (rc == VG_ENOTFOUND || (rc == 0 && key.mv_size != WKEY_LEN))
        break;
      if (rc)
        goto done;
      uint64_t s2;
      uint8_t r2;
      wkey_get(key.mv_data, &s2, &r2, &span);
      if (s2 != series || r2 != res)
        break;
    }
    rc = 0;
    if (dels >= max_deletes) {
      rp->series = series; /* this (series, res) may have more */
      rp->res = res;
      break;
    }
    /* next (series, res) */
    if (res < 255) {
      rp->series = series;
      rp->res = (uint8_t)(res + 1);
    } else if (series < UINT64_MAX) {
      rp->series = series + 1;
      rp->res = 0;
    } else {
      rp->done = 1;
      rp->series = 0;
      rp->res = 0;
      break;
    }
  }
  if (dels > 0) {
    /* rows left the store without an epoch or an emit record: readers that
     * derive validators (ETags) from the meta see it here */
    uint64_t gen;
    rc = vg__meta_get_opt(txn, st->meta, "retain_gen", &gen);
    if (rc)
      goto done;
    rc = vg__meta_put(txn, st->meta, "retain_gen", gen + 1);
    if (rc)
      goto done;
  }
  rp->deleted = dels;
done:
  mdb_cursor_close(cur);
  return rc;
}

struct dup_pass {
  int64_t horizon_s;
  size_t max_deletes;
  int done;
};

static int retain_dup_txn(struct vg_store *st, MDB_txn *txn, void *arg) {
  struct dup_pass *dp = arg;
  return vg__dup_retain(st, txn, dp->horizon_s, dp->max_deletes, &dp->done);
}

int vg_store_retain(struct vg_store *st, int64_t watermark_ns, size_t max_deletes,
                    size_t max_txns, size_t *deleted, int *more, char *errstr,
                    size_t errstr_size) {
  size_t d = 0;
  int done = 1, rc = 0;
  if (st->o.readonly)
    return vg__store_readonly("apply retention", errstr, errstr_size);
  /* whole seconds, rounded down as vg_store_flush does */
  int64_t wm_s = vg__wm_seconds(watermark_ns);
  struct dup_pass dp = {.done = 1};
  if (wm_s != INT64_MIN && max_deletes > 0 && st->has_dup &&
      st->o.dedupe_retention_s > 0) {
    dp.horizon_s = wm_s - st->o.dedupe_retention_s;
    dp.max_deletes = max_deletes;
    int full = 0;
    rc = vg__store_write(st, retain_dup_txn, &dp, &full);
    if (rc)
      return vg__store_fail(rc, errstr, errstr_size,
                            "retention of fingerprints failed: %s",
                            full ? "the store map is full" : vg_strerror(rc));
  }
  for (size_t t = 0; wm_s != INT64_MIN && max_deletes > 0 && t < max_txns; t++) {
    struct retain_pass rp = {.wm_s = wm_s, .max_deletes = max_deletes};
    int full = 0;
    rc = vg__store_write(st, retain_txn, &rp, &full);
    if (rc) {
      vg__store_fail(rc, errstr, errstr_size, "retention pass failed: %s",
                     full ? "the store map is full" : vg_strerror(rc));
      done = 0;
      break;
    }
    st->ret_series = rp.series;
    st->ret_res = rp.res;
    d += rp.deleted;
    done = rp.done;
    if (done)
      break;
  }
  if (deleted)
    *deleted = d;
  if (more)
    *more = !done || !dp.done;
  return rc;
}
