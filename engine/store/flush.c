/*
 * Sealing: sealed windows wait in `open` rows and blocks (pending) and are
 * written into their segment in batches, a segment rewritten once per
 * batch: when a window reaches its flush boundary, when the epoch asks, or
 * when vg_store_flush finds a span over or due. Each write transaction
 * rewrites at most seal_max segments; the spans a commit had no budget for
 * wait in the deferred queue.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "vigie/calendar.h"

int vg__seal_group(struct vg_store *st, MDB_txn *txn, const struct vg_wentry *w, size_t n,
                   char *errstr, size_t size) {
  if (st->seals_left)
    st->seals_left--;
  st->seals++;
  struct vg_seg_key sk = {w[0].series, w[0].res, vg_seg_span(w[0].res, w[0].start)};
  uint8_t k[WKEY_LEN];
  wkey(k, sk.series, sk.res, sk.span_start);
  MDB_val key = {WKEY_LEN, k}, val;
  struct vg_segment old = {0};
  const struct vg_wentry **merged = NULL;
  uint8_t *enc = NULL;
  size_t elen, m = 0;
  int rc = vg__store_err(mdb_get(txn, st->seg, &key, &val));
  if (rc == 0) {
    char msg[256];
    rc = vg_seg_decode(val.mv_data, val.mv_size, &sk, &old, msg, sizeof msg);
    if (rc) {
      char who[300];
      vg__name_series(txn, st, sk.series, who, sizeof who);
      rc = vg__store_fail(rc, errstr, size, "cannot seal windows of %s: %s", who, msg);
      goto done;
    }
  } else if (rc != VG_ENOTFOUND) {
    rc = vg__store_fail(rc, errstr, size, "cannot read a segment: %s", vg_strerror(rc));
    goto done;
  }
  merged = malloc((old.n + n) * sizeof *merged);
  if (!merged) {
    rc = vg__store_fail(-ENOMEM, errstr, size, "out of memory sealing windows");
    goto done;
  }
  size_t i = 0, j = 0;
  while (i < old.n || j < n) {
    if (j < n && j + 1 < n && w[j + 1].start == w[j].start) {
      j++; /* the same window twice in one epoch: the later one wins */
      continue;
    }
    if (j == n || (i < old.n && old.w[i].start < w[j].start)) {
      merged[m++] = &old.w[i++];
    } else {
      if (i < old.n && old.w[i].start == w[j].start)
        i++; /* a revision replaces the stored window */
      merged[m++] = &w[j++];
    }
  }
  rc = vg_seg_encode(&sk, merged, m, st->o.seg_codec, &enc, &elen);
  if (rc) {
    rc = vg__store_fail(rc, errstr, size,
                        "cannot encode the segment of series %" PRIu64 ": %s", sk.series,
                        vg_strerror(rc));
    goto done;
  }
  val = (MDB_val){elen, enc};
  rc = vg__store_err(mdb_put(txn, st->seg, &key, &val, 0));
done:
  free(enc);
  free(merged);
  vg_segment_release(&old);
  return rc;
}

/* Writes the pending rows of one span of (series, res) into its segment:
 * rows the writer still keeps stay open (pending cleared), the others go. */
int vg__flush_group(struct vg_store *st, MDB_txn *txn, uint64_t series, uint8_t res,
                    int64_t span, char *errstr, size_t size) {
  struct vg__scan sc;
  struct vg_wentry *w = NULL;
  size_t n = 0, cap = 0;
  uint8_t k[WKEY_LEN];
  MDB_val key, val;
  int rc =
      vg__scan_open(&sc, txn, st->open, series, res, span, span + vg_seg_span_len(res));
  if (rc)
    goto done;
  while ((rc = vg__scan_next(&sc)) == 1) {
    const MDB_val *v = &sc.val;
    if (v->mv_size < OPEN_HDR || !(((const uint8_t *)v->mv_data)[1] & OPEN_PENDING))
      continue;
    if (VG_GROW(w, n + 1, cap)) {
      rc = vg__store_fail(-ENOMEM, errstr, size, "out of memory sealing windows");
      goto done;
    }
    rc = vg__open_get(&sc.key, v, &w[n], errstr, size);
    if (rc)
      goto done;
    n++;
  }
  if (rc || n == 0)
    goto done;
  rc = vg__seal_group(st, txn, w, n, errstr, size);
  if (rc)
    goto done;
  /* the rows: kept ones lose the pending flag, the others are deleted */
  for (size_t i = 0; i < n; i++) {
    wkey(k, series, res, w[i].start);
    key = (MDB_val){WKEY_LEN, k};
    rc = vg__store_err(mdb_cursor_get(sc.cur, &key, &val, MDB_SET_KEY));
    if (rc)
      goto done;
    if (((const uint8_t *)val.mv_data)[1] & OPEN_KEEP)
      rc = vg__open_clear(sc.cur, &st->scratch, &key, &val, OPEN_PENDING);
    else
      rc = vg__store_err(mdb_cursor_del(sc.cur, 0));
    if (rc)
      goto done;
  }
done:
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&w[i].acc);
  free(w);
  vg__scan_close(&sc);
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

/* 1 when the sealed window [start, end) of (series, res) reaches a flush
 * boundary of its resolution: each series has its own phase within the
 * period, so the series do not all rewrite their segments in the same
 * epoch. */
int vg__due_at(const struct vg_store *st, uint64_t series, uint8_t res, int64_t start,
               int64_t end) {
  int64_t every = flush_every(st, res);
  int64_t phase = every ? (int64_t)((series * 0x9e3779b97f4a7c15ULL) >> 33) % every : 0;
  return every == 0 ||
         vg_floor_div(end + phase, every) > vg_floor_div(start + phase, every);
}

int vg__at_boundary(const struct vg_store *st, const struct vg_wentry *w) {
  return vg__due_at(st, w->series, w->res, w->start, w->end);
}

/* 1 when the write transaction may rewrite one more segment. */
int vg__seal_room(const struct vg_store *st) {
  return st->seals_left > 0;
}

/* Queues a span due for its segment that the transaction has no budget
 * for. Best effort: without memory it stays pending, and vg_store_flush
 * finds it by its rows. */
void vg__defer_span(struct vg_store *st, uint64_t series, uint8_t res, int64_t span) {
  if (VG_GROW(st->deferred, st->ndef + 1, st->capdef))
    return;
  st->deferred[st->ndef++] = (struct vg_store_wkey){series, res, span};
}

/* Writes queued spans, oldest first, while the budget lasts. */
int vg__flush_deferred(struct vg_store *st, MDB_txn *txn, char *errstr, size_t size) {
  while (st->dhead < st->ndef && vg__seal_room(st)) {
    const struct vg_store_wkey *k = &st->deferred[st->dhead++];
    int rc = k->res == VG_RES_BASE
                 ? vg__flush_day(st, txn, k->series, k->start, errstr, size)
                 : vg__flush_group(st, txn, k->series, k->res, k->start, errstr, size);
    if (rc)
      return rc;
  }
  return 0;
}

/* What one transaction of a flush pass needs and gives back: the resume
 * point is the writer's only once the transaction committed. */
struct flush_pass {
  int blk;
  int64_t wm_s;
  size_t max_rows;
  size_t flushed;
  int done, resume;
  uint8_t resume_key[WKEY_LEN];
  char *errstr;
  size_t size;
};

/* One transaction of a flush pass over `open` (blk 0) or over blocks (blk
 * 1), resuming where the last one stopped: a span that holds pending
 * windows goes into its segment -- an `open` row's span, or a block's day
 * -- when its end is at or before wm_s or when one of them reached its
 * flush boundary (commits flush those themselves, unless they had no
 * budget left and the process stopped before a later commit did). Visiting
 * a row or a block counts as one row; at most seal_max segments per
 * transaction. fp->done is set when the table was walked to its end. */
static int flush_txn(struct vg_store *st, MDB_txn *txn, void *arg) {
  struct flush_pass *fp = arg;
  MDB_cursor *cur = NULL;
  MDB_val key, val;
  uint8_t k[WKEY_LEN];
  int blk = fp->blk;
  int64_t wm_s = fp->wm_s;
  size_t rows = 0;
  fp->flushed = 0;
  fp->done = 0;
  st->seals_left = st->o.seal_max;
  int rc = vg__store_err(mdb_cursor_open(txn, blk ? st->blk : st->open, &cur));
  if (rc)
    return rc;
  if (blk ? st->bflush_resume : st->flush_resume) {
    memcpy(k, blk ? st->bflush_key : st->flush_key, WKEY_LEN);
    key = (MDB_val){WKEY_LEN, k};
    rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE));
  } else {
    rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_FIRST));
  }
  while (rc == 0 && rows < fp->max_rows) {
    rows++;
    uint64_t series;
    uint8_t res;
    int64_t start;
    if (key.mv_size != WKEY_LEN) {
      rc = vg__store_fail(VG_ECORRUPT, fp->errstr, fp->size,
                          "corrupt key in the %s table", blk ? "block" : "open");
      goto done;
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
        pending = over || vg__due_at(st, series, res, start, end);
      }
    } else {
      rc = blk_parse(&st->be, start, val.mv_data, val.mv_size);
      if (rc) {
        rc = vg__blk_fail(rc, fp->errstr, fp->size, series, start);
        goto done;
      }
      for (size_t i = 0; i < st->be.n && !pending; i++)
        pending =
            (st->be.e[i].flags & OPEN_PENDING) &&
            (over || vg__due_at(st, series, res, st->be.e[i].start, st->be.e[i].end));
    }
    if (pending && !vg__seal_room(st))
      break; /* the next transaction resumes at this row */
    if (pending) {
      rc = blk ? vg__flush_day(st, txn, series, span, fp->errstr, fp->size)
               : vg__flush_group(st, txn, series, res, span, fp->errstr, fp->size);
      if (rc)
        goto done;
      fp->flushed++;
      wkey(k, series, res, span + len); /* past this span */
      key = (MDB_val){WKEY_LEN, k};
      rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE));
      continue;
    }
    rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_NEXT));
  }
  if (rc == VG_ENOTFOUND) {
    fp->done = 1;
    fp->resume = 0;
    rc = 0;
  } else if (rc == 0) {
    memcpy(fp->resume_key, key.mv_data, WKEY_LEN);
    fp->resume = 1;
  }
done:
  mdb_cursor_close(cur);
  return rc;
}

int vg_store_flush(struct vg_store *st, int64_t watermark_ns, size_t max_rows,
                   size_t max_txns, size_t *flushed, int *more, char *errstr,
                   size_t errstr_size) {
  size_t f = 0;
  int done = 0, rc = 0;
  if (st->o.readonly)
    return vg__store_readonly("flush", errstr, errstr_size);
  int64_t wm_s = vg__wm_seconds(watermark_ns);
  if (errstr_size)
    errstr[0] = 0;
  /* a pass over `open`, then one over blocks, and so on; each resumes
   * where the previous call stopped, and a round is done once each was
   * walked to its end (in this call or earlier ones) */
  int all = st->has_blk ? 3 : 1;
  for (size_t t = 0; t < max_txns && !done && max_rows > 0 && wm_s != INT64_MIN; t++) {
    struct flush_pass fp = {.blk = st->flush_on_blk,
                            .wm_s = wm_s,
                            .max_rows = max_rows,
                            .errstr = errstr,
                            .size = errstr_size};
    int full = 0;
    rc = vg__store_write(st, flush_txn, &fp, &full);
    if (rc) {
      if (full || !errstr_size || !errstr[0])
        vg__store_fail(rc, errstr, errstr_size, "cannot flush sealed windows: %s",
                       full ? "the store map is full" : vg_strerror(rc));
      break;
    }
    f += fp.flushed;
    memcpy(fp.blk ? st->bflush_key : st->flush_key, fp.resume_key, WKEY_LEN);
    *(fp.blk ? &st->bflush_resume : &st->flush_resume) = fp.resume;
    if (fp.done) {
      st->flush_walked |= fp.blk ? 2 : 1;
      st->flush_on_blk = st->has_blk && !fp.blk;
    }
    if (st->flush_walked == all) {
      done = 1;
      st->flush_walked = 0;
    }
  }
  if (flushed)
    *flushed = f;
  if (more)
    *more = !done;
  return rc;
}
