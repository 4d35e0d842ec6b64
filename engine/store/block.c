/*
 * The rows of the store's `blk` table (store/block.h): their encoding, and
 * their writing -- an epoch's base windows into their blocks, evictions, and
 * flushing a day of blocks into its segment.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/block.h"
#include "store/store_internal.h"
#include "vigie/acc.h"
#include "vigie/error.h"

int64_t blk_hour(int64_t start) {
  int64_t q = start / BLK_SPAN;
  if (start % BLK_SPAN < 0)
    q--;
  return q * BLK_SPAN;
}

void blk_reset(struct blk *b, int64_t hour) {
  b->hour = hour;
  b->n = 0;
  b->arena.len = 0;
  b->arena.err = 0;
}

void blk_free(struct blk *b) {
  free(b->e);
  free(b->arena.p);
  memset(b, 0, sizeof *b);
}

int blk_parse(struct blk *b, int64_t hour, const void *p, size_t len) {
  blk_reset(b, hour);
  struct vg_rbuf r = {p, (const uint8_t *)p + len, 0};
  uint8_t version = rb_u8(&r);
  if (r.err)
    return VG_ECORRUPT;
  if (version != BLK_VERSION)
    return VG_EVERSION;
  uint64_t n = rb_varint(&r);
  /* starts are distinct seconds of one hour */
  if (r.err || n == 0 || n > BLK_SPAN)
    return VG_ECORRUPT;
  if (VG_GROW(b->e, (size_t)n, b->cap) || sbuf_reserve(&b->arena, len))
    return -ENOMEM;
  int64_t prev = -1;
  for (uint64_t i = 0; i < n; i++) {
    struct blk_ent *e = &b->e[i];
    uint64_t off = rb_varint(&r), d = rb_varint(&r);
    e->flags = rb_u8(&r);
    uint64_t rev = rb_varint(&r), alen = rb_varint(&r);
    if (r.err || off >= BLK_SPAN || (int64_t)off <= prev || d == 0 ||
        d > (uint64_t)INT64_MAX - (uint64_t)(hour + (int64_t)off) ||
        (e->flags & ~OPEN_FLAGS_KNOWN) || rev > UINT32_MAX ||
        alen > (uint64_t)(r.end - r.p) || alen == 0)
      return VG_ECORRUPT;
    prev = (int64_t)off;
    e->start = hour + (int64_t)off;
    e->end = e->start + (int64_t)d;
    e->revision = (uint32_t)rev;
    e->off = (uint32_t)b->arena.len;
    e->len = (uint32_t)alen;
    sbuf_put(&b->arena, r.p, (size_t)alen);
    r.p += alen;
  }
  if (r.p != r.end)
    return VG_ECORRUPT;
  b->n = (size_t)n;
  return 0;
}

long blk_find(const struct blk *b, int64_t start) {
  size_t lo = 0, hi = b->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (b->e[mid].start < start)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < b->n && b->e[lo].start == start ? (long)lo : -1;
}

int blk_upsert(struct blk *b, const struct vg_wentry *w, uint8_t flags) {
  size_t cap = vg_acc_encoded_size(&w->acc), used;
  if (sbuf_reserve(&b->arena, cap) || VG_GROW(b->e, b->n + 1, b->cap))
    return -ENOMEM;
  if (vg_acc_encode(&w->acc, b->arena.p + b->arena.len, cap, &used) != 0)
    return -ENOMEM; /* cannot happen: cap is the encoder's bound */
  /* windows usually come in order: try the end first */
  size_t i = b->n;
  if (i > 0 && b->e[i - 1].start >= w->start) {
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (b->e[mid].start < w->start)
        lo = mid + 1;
      else
        hi = mid;
    }
    i = lo;
  }
  if (i == b->n || b->e[i].start != w->start) {
    memmove(&b->e[i + 1], &b->e[i], (b->n - i) * sizeof *b->e);
    b->n++;
  }
  b->e[i] = (struct blk_ent){.start = w->start,
                             .end = w->end,
                             .revision = w->revision,
                             .flags = flags,
                             .off = (uint32_t)b->arena.len,
                             .len = (uint32_t)used};
  b->arena.len += used;
  return 0;
}

void blk_remove(struct blk *b, size_t i) {
  memmove(&b->e[i], &b->e[i + 1], (b->n - i - 1) * sizeof *b->e);
  b->n--;
}

int blk_encode(const struct blk *b, struct vg_sbuf *out) {
  out->len = 0;
  out->err = 0;
  size_t need = 11;
  for (size_t i = 0; i < b->n; i++)
    need += 40 + b->e[i].len;
  if (sbuf_reserve(out, need))
    return -ENOMEM;
  sbuf_u8(out, BLK_VERSION);
  sbuf_varint(out, b->n);
  for (size_t i = 0; i < b->n; i++) {
    const struct blk_ent *e = &b->e[i];
    sbuf_varint(out, (uint64_t)(e->start - b->hour));
    sbuf_varint(out, (uint64_t)(e->end - e->start));
    sbuf_u8(out, e->flags);
    sbuf_varint(out, e->revision);
    sbuf_varint(out, e->len);
    sbuf_put(out, b->arena.p + e->off, e->len);
  }
  return out->err ? -ENOMEM : 0;
}

int blk_get(const struct blk *b, size_t i, uint64_t series, uint8_t res,
            struct vg_wentry *w) {
  const struct blk_ent *e = &b->e[i];
  memset(w, 0, sizeof *w);
  vg_acc_init(&w->acc);
  w->series = series;
  w->res = res;
  w->start = e->start;
  w->end = e->end;
  w->final = e->flags & OPEN_FINAL;
  w->emit = (e->flags & OPEN_EMIT) ? 1 : 0;
  w->revision = e->revision;
  size_t used;
  int rc = vg_acc_decode(&w->acc, b->arena.p + e->off, e->len, &used);
  if (rc == 0 && used != e->len) {
    vg_acc_release(&w->acc);
    rc = VG_ECORRUPT;
  }
  if (rc == VG_EDECODE)
    rc = VG_ECORRUPT;
  if (rc)
    vg_acc_init(&w->acc);
  return rc;
}

/* --- writing blocks ------------------------------------------------------ */

static uint8_t wflags(const struct vg_wentry *w) {
  return (uint8_t)((w->final ? OPEN_FINAL : 0) | (w->emit ? OPEN_EMIT : 0));
}

int vg__blk_fail(int rc, char *errstr, size_t size, uint64_t series, int64_t hour) {
  if (rc == -ENOMEM)
    return vg__store_fail(rc, errstr, size,
                          "out of memory reading the windows of series %" PRIu64, series);
  char when[VG_FMT_ISO_MAX];
  vg__store_when(hour, when);
  return vg__store_fail(rc, errstr, size,
                        "%s block of open base windows of series %" PRIu64
                        " for the hour starting "
                        "at %s",
                        rc == VG_EVERSION ? "unsupported" : "corrupt", series, when);
}

/* Writes b back at key k (or deletes the row when b is empty); the cursor
 * stands on the row when found. */
int vg__blk_put(struct vg_store *st, MDB_cursor *cur, const uint8_t k[WKEY_LEN],
                const struct blk *b, int found) {
  MDB_val key = {WKEY_LEN, (void *)k}, val;
  if (b->n == 0)
    return found ? vg__store_err(mdb_cursor_del(cur, 0)) : 0;
  if (blk_encode(b, &st->bscratch))
    return -ENOMEM;
  val = (MDB_val){st->bscratch.len, st->bscratch.p};
  return vg__store_err(mdb_cursor_put(cur, &key, &val, found ? MDB_CURRENT : 0));
}

/* Reads the block of (series, hour) into b through cur: 1 found (the cursor
 * stands on it), 0 absent (b empty), or an error with a message. */
int vg__blk_load(MDB_cursor *cur, struct blk *b, uint8_t k[WKEY_LEN], uint64_t series,
                 int64_t hour, char *errstr, size_t size) {
  wkey(k, series, VG_RES_BASE, hour);
  MDB_val key = {WKEY_LEN, k}, val;
  int rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_SET_KEY));
  if (rc == VG_ENOTFOUND) {
    blk_reset(b, hour);
    return 0;
  }
  if (rc)
    return rc;
  rc = blk_parse(b, hour, val.mv_data, val.mv_size);
  if (rc)
    return vg__blk_fail(rc, errstr, size, series, hour);
  return 1;
}

/* Writes the pending base windows of one day of a series into its segment
 * (one decode and one encode of the segment) in two passes over its
 * blocks: the windows first, then the blocks -- kept windows stay in their
 * block (pending cleared), the others leave it. */
int vg__flush_day(struct vg_store *st, MDB_txn *txn, uint64_t series, int64_t day,
                  char *errstr, size_t size) {
  MDB_cursor *cur = NULL;
  struct blk *b = &st->be;
  size_t n = 0;
  int64_t end = day + vg_seg_span_len(VG_RES_BASE);
  uint8_t k[WKEY_LEN];
  MDB_val key, val;
  int rc = vg__store_err(mdb_cursor_open(txn, st->blk, &cur));
  if (rc)
    goto done;
  for (int pass = 0; pass < 2; pass++) {
    wkey(k, series, VG_RES_BASE, day);
    key = (MDB_val){WKEY_LEN, k};
    for (rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE)); rc == 0;
         rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE))) {
      uint64_t s2;
      uint8_t r2;
      int64_t hour;
      wkey_get(key.mv_data, &s2, &r2, &hour);
      if (s2 != series || r2 != VG_RES_BASE || hour >= end)
        break;
      rc = blk_parse(b, hour, val.mv_data, val.mv_size);
      if (rc) {
        rc = vg__blk_fail(rc, errstr, size, series, hour);
        goto done;
      }
      int changed = 0;
      for (size_t i = 0; i < b->n; i++) {
        if (!(b->e[i].flags & OPEN_PENDING))
          continue;
        if (pass == 0) {
          if (VG_GROW(st->fw, n + 1, st->cap_fw)) {
            rc = vg__store_fail(-ENOMEM, errstr, size, "out of memory sealing windows");
            goto done;
          }
          rc = blk_get(b, i, series, VG_RES_BASE, &st->fw[n]);
          if (rc) {
            rc = vg__blk_fail(rc, errstr, size, series, hour);
            goto done;
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
        rc = vg__blk_put(st, cur, kk, b, 1);
        if (rc)
          goto done;
      }
      wkey(k, series, VG_RES_BASE, hour + 1); /* the next block */
      key = (MDB_val){WKEY_LEN, k};
    }
    if (rc != 0 && rc != VG_ENOTFOUND)
      goto done;
    rc = 0;
    if (pass == 0) {
      if (n == 0)
        goto done;
      rc = vg__seal_group(st, txn, st->fw, n, errstr, size);
      if (rc)
        goto done;
    }
  }
done:
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&st->fw[i].acc);
  if (cur)
    mdb_cursor_close(cur);
  return rc;
}

/* The epoch's base windows, in blocks: one read and one write per (series,
 * hour) touched, with the same flags as `open` rows; then the days that
 * reached a flush boundary (every day with sealed windows when the epoch
 * says flush) go into their segments. open and skeys (the sealed
 * windows) are in key order. */
int vg__commit_blocks(struct vg_store *st, MDB_txn *txn, const struct vg_store_epoch *ep,
                      const struct okey *skeys, const struct okey *open, char *errstr,
                      size_t size) {
  MDB_cursor *cur = NULL;
  struct blk *b = &st->be;
  size_t io = 0, is = 0, no = ep->nopen, ns = ep->nsealed;
  uint64_t day_series = 0;
  int64_t day = 0;
  int have_day = 0, boundary = 0, day_sealed = 0;
  uint8_t k[WKEY_LEN];
  int rc = vg__store_err(mdb_cursor_open(txn, st->blk, &cur));
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
    if (have_day &&
        (!more || series != day_series || vg_seg_span(VG_RES_BASE, hour) != day)) {
      if (day_sealed && (boundary || ep->flush)) {
        if (!ep->flush && !vg__seal_room(st))
          vg__defer_span(st, day_series, VG_RES_BASE, day);
        else {
          rc = vg__flush_day(st, txn, day_series, day, errstr, size);
          if (rc)
            goto done;
        }
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
    int found = vg__blk_load(cur, b, k, series, hour, errstr, size);
    if (found < 0) {
      rc = found;
      goto done;
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
        rc = -ENOMEM;
        goto done;
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
      uint8_t carried = at >= 0 && vg__okey_find(open + io0, io - io0, &skeys[is])
                            ? b->e[at].flags & OPEN_KEEP
                            : 0;
      if (blk_upsert(b, w, wflags(w) | OPEN_PENDING | carried)) {
        rc = -ENOMEM;
        goto done;
      }
      day_sealed = 1;
      boundary |= vg__at_boundary(st, w);
    }
    rc = vg__blk_put(st, cur, k, b, found);
    if (rc)
      goto done;
  }
done:
  mdb_cursor_close(cur);
  return rc;
}

/* Evicts the base window (series, start): a pending one stays in its block
 * (no longer kept), another leaves it. */
int vg__evict_base(struct vg_store *st, MDB_txn *txn, const struct vg_store_wkey *e,
                   char *errstr, size_t size) {
  MDB_cursor *cur = NULL;
  uint8_t k[WKEY_LEN];
  int rc = vg__store_err(mdb_cursor_open(txn, st->blk, &cur));
  if (rc)
    return rc;
  int found = vg__blk_load(cur, &st->be, k, e->series, blk_hour(e->start), errstr, size);
  long at = found > 0 ? blk_find(&st->be, e->start) : -1;
  rc = found < 0 ? found : 0;
  if (at >= 0) {
    if (st->be.e[at].flags & OPEN_PENDING)
      st->be.e[at].flags &= (uint8_t)~OPEN_KEEP;
    else
      blk_remove(&st->be, (size_t)at);
    rc = vg__blk_put(st, cur, k, &st->be, 1);
  }
  mdb_cursor_close(cur);
  return rc;
}
