/*
 * Private helpers of the aggregation encodings: a bounded writer and reader
 * of little-endian fixed-width fields and LEB128 varints. A cursor that runs
 * out of room or input sets its error flag and stops moving; callers check
 * the flag once at the end.
 */
#ifndef VIGIE_AGG_BYTES_H
#define VIGIE_AGG_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct vg_wbuf {
  uint8_t *p, *end;
  int err;
};

struct vg_rbuf {
  const uint8_t *p, *end;
  int err;
};

static inline void wb_u8(struct vg_wbuf *w, uint8_t v) {
  if (w->err || w->p == w->end) {
    w->err = 1;
    return;
  }
  *w->p++ = v;
}

static inline void wb_u64le(struct vg_wbuf *w, uint64_t v) {
  if (w->err || w->end - w->p < 8) {
    w->err = 1;
    return;
  }
  for (int i = 0; i < 8; i++)
    *w->p++ = (uint8_t)(v >> (8 * i));
}

static inline void wb_f64(struct vg_wbuf *w, double d) {
  uint64_t v;
  memcpy(&v, &d, 8);
  wb_u64le(w, v);
}

static inline void wb_varint(struct vg_wbuf *w, uint64_t v) {
  while (v >= 0x80) {
    wb_u8(w, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  wb_u8(w, (uint8_t)v);
}

static inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static inline uint64_t zigzag(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline uint8_t rb_u8(struct vg_rbuf *r) {
  if (r->err || r->p == r->end) {
    r->err = 1;
    return 0;
  }
  return *r->p++;
}

static inline uint64_t rb_u64le(struct vg_rbuf *r) {
  if (r->err || r->end - r->p < 8) {
    r->err = 1;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)r->p[i] << (8 * i);
  r->p += 8;
  return v;
}

static inline double rb_f64(struct vg_rbuf *r) {
  uint64_t v = rb_u64le(r);
  double d;
  memcpy(&d, &v, 8);
  return d;
}

/* Rejects overlong encodings (more than 10 bytes or bits beyond 64) and
 * non-minimal ones, so every value has exactly one encoding. */
static inline uint64_t rb_varint(struct vg_rbuf *r) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b = rb_u8(r);
    if (r->err)
      return 0;
    if (shift == 63 && b > 1) {
      r->err = 1;
      return 0;
    }
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (b == 0 && shift > 0) { /* non-minimal */
        r->err = 1;
        return 0;
      }
      return v;
    }
  }
  r->err = 1;
  return 0;
}

#endif
