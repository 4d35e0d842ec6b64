/*
 * The delta format (include/vigie/delta.h, docs/deltas.md).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/delta.h"
#include "vigie/error.h"
#include "vigie/window.h"
#include "common/bytes.h"

#define MAGIC0 0x56 /* 'V' */
#define MAGIC1 0x44 /* 'D' */

/* The caller's buffer as the byte helpers' growable writer. */
static struct vg_sbuf *sb(struct vg_delta_buf *b) {
  _Static_assert(sizeof(struct vg_sbuf) == sizeof(struct vg_delta_buf), "same layout");
  return (struct vg_sbuf *)(void *)b;
}

void vg_delta_begin(struct vg_delta_buf *b, enum vg_delta_kind kind) {
  b->len = 0;
  b->err = 0;
  uint8_t head[4] = {MAGIC0, MAGIC1, VG_DELTA_VERSION, (uint8_t)kind};
  sbuf_put(sb(b), head, sizeof head);
}

void vg_delta_series(struct vg_delta_buf *b, uint64_t id, const char *key, size_t len) {
  sbuf_u8(sb(b), 'S');
  sbuf_u64le(sb(b), id);
  sbuf_varint(sb(b), len);
  sbuf_put(sb(b), key, len);
}

static void window(struct vg_delta_buf *b, uint64_t series, int64_t start, int64_t end,
                   unsigned skipped) {
  sbuf_u64le(sb(b), series);
  sbuf_svarint(sb(b), start);
  sbuf_varint(sb(b), (uint64_t)(end - start));
  sbuf_u8(sb(b), (uint8_t)skipped);
}

void vg_delta_entry(struct vg_delta_buf *b, uint64_t series, int64_t start, int64_t end,
                    unsigned skipped, const struct vg_acc *acc) {
  sbuf_u8(sb(b), 'E');
  window(b, series, start, end, skipped);
  /* encoded past room for its length (a bound is all acc.h gives), then
   * moved down behind the length's varint */
  size_t bound = vg_acc_encoded_size(acc), len = 0;
  if (sbuf_reserve(sb(b), 10 + bound))
    return;
  uint8_t *at = b->p + b->len + 10;
  if (vg_acc_encode(acc, at, bound, &len) != 0) {
    b->err = 1;
    return;
  }
  sbuf_varint(sb(b), len);
  memmove(b->p + b->len, at, len);
  b->len += len;
}

void vg_delta_kept(struct vg_delta_buf *b, uint64_t series, int64_t start, int64_t end,
                   unsigned skipped, uint32_t dedupe_max,
                   const struct vg_delta_reading *r, size_t n) {
  sbuf_u8(sb(b), 'K');
  window(b, series, start, end, skipped);
  sbuf_varint(sb(b), dedupe_max);
  sbuf_varint(sb(b), n);
  for (size_t i = 0; i < n; i++) {
    uint64_t v;
    memcpy(&v, &r[i].v, 8);
    sbuf_svarint(sb(b), r[i].t);
    sbuf_u64le(sb(b), v);
    sbuf_u8(sb(b), r[i].has_key ? 1 : 0);
    if (r[i].has_key)
      sbuf_u64le(sb(b), r[i].key);
  }
}

void vg_delta_marks(struct vg_delta_buf *b, size_t n) {
  sbuf_varint(sb(b), n);
}

void vg_delta_mark(struct vg_delta_buf *b, const struct vg_delta_mark *m) {
  sbuf_varint(sb(b), m->topic_len);
  sbuf_put(sb(b), m->topic, m->topic_len);
  sbuf_varint(sb(b), (uint64_t)(uint32_t)m->partition);
  sbuf_svarint(sb(b), m->next_offset);
  sbuf_svarint(sb(b), m->max_event_ns);
  sbuf_svarint(sb(b), m->last_active_ns);
}

void vg_delta_buf_release(struct vg_delta_buf *b) {
  free(b->p);
  *b = (struct vg_delta_buf){0};
}

/* ---- reading ---------------------------------------------------------------- */

struct reader {
  struct vg_rbuf r;
  const uint8_t *base;
  int64_t base_s;
  char *errstr;
  size_t errstr_size;
};

static int bad(struct reader *x, const char *what) {
  return vg_errstr_rc(VG_EDECODE, x->errstr, x->errstr_size, "delta record, byte %zu: %s",
                      (size_t)(x->r.p - x->base), what);
}

/* A window's fields; 0 or VG_EDECODE. kept: a dedupe delta (its base
 * resolution must be among those it goes into). */
static int read_window(struct reader *x, uint64_t *series, int64_t *start, int64_t *end,
                       unsigned *skipped, int kept) {
  *series = rb_u64le(&x->r);
  *start = rb_svarint(&x->r);
  uint64_t len = rb_varint(&x->r);
  *skipped = rb_u8(&x->r);
  if (x->r.err)
    return bad(x, "truncated window");
  if (len != (uint64_t)x->base_s)
    return bad(x, "a window that is not this store's base window (windows.base differs "
                  "between the ingest and store instances?)");
  if (*start % x->base_s != 0 || *start < -(INT64_C(1) << 40) ||
      *start > (INT64_C(1) << 40))
    return bad(x, "a window start out of range or not on the base window's grid");
  if (*skipped & ~(unsigned)VG_INTO_ALL || *skipped == VG_INTO_ALL ||
      (kept && (*skipped & VG_INTO_BASE)))
    return bad(x, "invalid skipped resolutions");
  *end = *start + x->base_s;
  return 0;
}

/* A decoded accumulator's sketches agree with the store's options. */
static int acc_fits(const struct vg_acc *a, const struct vg_acc_opts *o) {
  if (a->qs && (a->qs->alpha != o->alpha || a->qs->max_bins != o->max_bins))
    return 0;
  if (a->hll && a->hll->p != o->hll_p)
    return 0;
  return 1;
}

static int read_deltas(struct reader *x, const struct vg_acc_opts *o,
                       const struct vg_delta_visitor *v, void *ctx) {
  struct vg_delta_reading *rs = NULL;
  size_t caprs = 0;
  int rc = 0;
  while (rc == 0 && x->r.p < x->r.end) {
    uint8_t tag = rb_u8(&x->r);
    uint64_t series;
    int64_t start, end;
    unsigned skipped;
    if (tag == 'S') {
      uint64_t id = rb_u64le(&x->r);
      uint64_t len = rb_varint(&x->r);
      if (x->r.err || len == 0 || len > (uint64_t)(x->r.end - x->r.p)) {
        rc = bad(x, "truncated series key");
        break;
      }
      const char *key = (const char *)x->r.p;
      x->r.p += len;
      rc = v->series ? v->series(ctx, id, key, (size_t)len) : 0;
    } else if (tag == 'E') {
      if ((rc = read_window(x, &series, &start, &end, &skipped, 0)) != 0)
        break;
      uint64_t len = rb_varint(&x->r);
      if (x->r.err || len > (uint64_t)(x->r.end - x->r.p)) {
        rc = bad(x, "truncated accumulator");
        break;
      }
      struct vg_acc acc;
      size_t used = 0;
      rc = vg_acc_decode(&acc, x->r.p, (size_t)len, &used);
      if (rc == -ENOMEM)
        break;
      if (rc || used != len) {
        if (rc == 0)
          vg_acc_release(&acc);
        rc = bad(x, "invalid accumulator");
        break;
      }
      if (!acc_fits(&acc, o) || acc.st.count == 0) {
        vg_acc_release(&acc);
        rc = bad(x, "an accumulator that is empty or whose sketch parameters are not "
                    "this store's");
        break;
      }
      x->r.p += len;
      rc = v->entry ? v->entry(ctx, series, start, end, skipped, &acc) : 0;
      vg_acc_release(&acc);
    } else if (tag == 'K') {
      if ((rc = read_window(x, &series, &start, &end, &skipped, 1)) != 0)
        break;
      uint64_t max = rb_varint(&x->r), n = rb_varint(&x->r);
      /* a reading takes at least 10 bytes */
      if (x->r.err || max == 0 || max > UINT32_MAX || n == 0 ||
          n > (uint64_t)(x->r.end - x->r.p) / 10) {
        rc = bad(x, "truncated dedupe delta");
        break;
      }
      if (n > caprs) {
        struct vg_delta_reading *nr = realloc(rs, (size_t)n * sizeof *nr);
        if (!nr) {
          rc = -ENOMEM;
          break;
        }
        rs = nr;
        caprs = (size_t)n;
      }
      for (uint64_t i = 0; i < n; i++) {
        rs[i].t = rb_svarint(&x->r);
        uint64_t bits = rb_u64le(&x->r);
        memcpy(&rs[i].v, &bits, 8);
        uint8_t has = rb_u8(&x->r);
        rs[i].has_key = has == 1;
        rs[i].key = has == 1 ? rb_u64le(&x->r) : 0;
        int64_t t_s = vg_floor_div(rs[i].t, 1000000000);
        if (has > 1 || !isfinite(rs[i].v) || t_s < start || t_s >= end)
          x->r.err = 1;
      }
      if (x->r.err) {
        rc = bad(x, "an invalid dedupe reading (outside its window, not finite, or "
                    "truncated)");
        break;
      }
      rc = v->kept
               ? v->kept(ctx, series, start, end, skipped, (uint32_t)max, rs, (size_t)n)
               : 0;
    } else {
      rc = bad(x, "unknown item");
    }
  }
  free(rs);
  return rc;
}

static int read_marks(struct reader *x, const struct vg_delta_visitor *v, void *ctx) {
  uint64_t n = rb_varint(&x->r);
  /* a mark takes at least 5 bytes */
  if (x->r.err || n > (uint64_t)(x->r.end - x->r.p) / 5)
    return bad(x, "truncated watermarks");
  for (uint64_t i = 0; i < n; i++) {
    struct vg_delta_mark m;
    uint64_t len = rb_varint(&x->r);
    if (x->r.err || len == 0 || len > 249 || len > (uint64_t)(x->r.end - x->r.p))
      return bad(x, "truncated topic name");
    m.topic = (const char *)x->r.p;
    m.topic_len = (size_t)len;
    x->r.p += len;
    uint64_t part = rb_varint(&x->r);
    m.next_offset = rb_svarint(&x->r);
    m.max_event_ns = rb_svarint(&x->r);
    m.last_active_ns = rb_svarint(&x->r);
    if (x->r.err || part > INT32_MAX || m.next_offset < -1)
      return bad(x, "an invalid watermark");
    m.partition = (int32_t)part;
    int rc = v->mark ? v->mark(ctx, &m) : 0;
    if (rc)
      return rc;
  }
  if (x->r.p != x->r.end)
    return bad(x, "bytes after the watermarks");
  return 0;
}

int vg_delta_read(const uint8_t *p, size_t len, int64_t base_s,
                  const struct vg_acc_opts *o, const struct vg_delta_visitor *v,
                  void *ctx, char *errstr, size_t errstr_size) {
  struct reader x = {{p, p + len, 0}, p, base_s, errstr, errstr_size};
  if (len < 4 || p[0] != MAGIC0 || p[1] != MAGIC1)
    return bad(&x, "not a delta record (no \"VD\" magic)");
  if (p[2] != VG_DELTA_VERSION)
    return vg_errstr_rc(VG_EVERSION, errstr, errstr_size,
                        "delta record of version %u; this store reads version %u",
                        (unsigned)p[2], (unsigned)VG_DELTA_VERSION);
  x.r.p += 4;
  if (p[3] == VG_DELTA_DELTAS)
    return read_deltas(&x, o, v, ctx);
  if (p[3] == VG_DELTA_WATERMARKS)
    return read_marks(&x, v, ctx);
  return bad(&x, "unknown record kind");
}
