/*
 * The rows of the store's `blk` table (store/block.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/block.h"
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

static int reserve(struct blk *b, size_t n) {
  if (n <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap * 2 : 64;
  while (cap < n)
    cap *= 2;
  struct blk_ent *e = realloc(b->e, cap * sizeof *e);
  if (!e)
    return -ENOMEM;
  b->e = e;
  b->cap = cap;
  return 0;
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
  if (reserve(b, (size_t)n) || sbuf_reserve(&b->arena, len))
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
  if (sbuf_reserve(&b->arena, cap) || reserve(b, b->n + 1))
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
