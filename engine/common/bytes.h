/*
 * The engine's byte encodings, private to the engine (agg's accumulator
 * encodings, store's rows, blocks and segments): one set of helpers for
 * little-endian fixed-width fields, LEB128 varints (zigzag for signed
 * values) and big-endian keys.
 *
 * - struct vg_sbuf: a growable writer that remembers an allocation failure;
 * - struct vg_wbuf: a bounded writer over the caller's memory;
 * - struct vg_rbuf: a bounded reader.
 * A cursor that runs out of memory, room or input sets its err flag and
 * stops moving; callers check the flag once at the end.
 *
 * A varint has exactly one encoding: the reader rejects overlong ones (more
 * than 10 bytes or bits beyond 64) and non-minimal ones (a last byte of 0
 * after the first), and the writers never produce them.
 */
#ifndef VIGIE_COMMON_BYTES_H
#define VIGIE_COMMON_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --- the growable writer ------------------------------------------------- */

struct vg_sbuf {
  uint8_t *p;
  size_t len, cap;
  int err; /* an allocation failed: contents are incomplete */
};

/* Room for more bytes past len. 0, or -1 (and err set) without memory. */
static inline int sbuf_reserve(struct vg_sbuf *b, size_t more) {
  if (b->err)
    return -1;
  if (b->cap - b->len >= more)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < more)
    cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    b->err = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

static inline void sbuf_put(struct vg_sbuf *b, const void *src, size_t n) {
  if (n == 0 || sbuf_reserve(b, n))
    return;
  memcpy(b->p + b->len, src, n);
  b->len += n;
}

static inline void sbuf_u8(struct vg_sbuf *b, uint8_t v) {
  sbuf_put(b, &v, 1);
}

static inline void sbuf_u32le(struct vg_sbuf *b, uint32_t v) {
  uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  sbuf_put(b, t, 4);
}

static inline void sbuf_u64le(struct vg_sbuf *b, uint64_t v) {
  uint8_t t[8];
  for (int i = 0; i < 8; i++)
    t[i] = (uint8_t)(v >> (8 * i));
  sbuf_put(b, t, 8);
}

static inline void sbuf_varint(struct vg_sbuf *b, uint64_t v) {
  uint8_t t[10];
  size_t n = 0;
  while (v >= 0x80) {
    t[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  t[n++] = (uint8_t)v;
  sbuf_put(b, t, n);
}

static inline uint64_t zigzag(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline void sbuf_svarint(struct vg_sbuf *b, int64_t v) {
  sbuf_varint(b, zigzag(v));
}

/* --- the bounded writer -------------------------------------------------- */

struct vg_wbuf {
  uint8_t *p, *end;
  int err; /* ran out of room */
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

/* The length of v's varint. */
static inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* --- the reader ---------------------------------------------------------- */

struct vg_rbuf {
  const uint8_t *p, *end;
  int err; /* ran past the end or met a malformed varint */
};

static inline uint8_t rb_u8(struct vg_rbuf *r) {
  if (r->err || r->p == r->end) {
    r->err = 1;
    return 0;
  }
  return *r->p++;
}

static inline uint32_t rb_u32le(struct vg_rbuf *r) {
  if (r->err || r->end - r->p < 4) {
    r->err = 1;
    return 0;
  }
  uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
               (uint32_t)r->p[3] << 24;
  r->p += 4;
  return v;
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

static inline uint64_t rb_varint(struct vg_rbuf *r) {
  if (!r->err && r->end - r->p >= 10) {
    /* fast path: a whole varint fits, no bound check per byte */
    const uint8_t *p = r->p;
    uint64_t v = 0;
    for (int shift = 0; shift < 63; shift += 7) {
      uint8_t c = *p++;
      v |= (uint64_t)(c & 0x7f) << shift;
      if (!(c & 0x80)) {
        if (c == 0 && shift > 0) { /* non-minimal */
          r->err = 1;
          return 0;
        }
        r->p = p;
        return v;
      }
    }
    uint8_t c = *p++; /* the 10th byte holds bit 63 only (0: non-minimal) */
    if (c != 1) {
      r->err = 1;
      return 0;
    }
    r->p = p;
    return v | (uint64_t)c << 63;
  }
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t c = rb_u8(r);
    if (r->err)
      return 0;
    if (shift == 63 && c > 1)
      break; /* would overflow 64 bits */
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      if (c == 0 && shift > 0)
        break; /* non-minimal */
      return v;
    }
  }
  r->err = 1;
  return 0;
}

static inline int64_t rb_svarint(struct vg_rbuf *r) {
  return unzigzag(rb_varint(r));
}

/* --- big-endian keys ----------------------------------------------------- */

static inline void be64_put(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t be64_get(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

/* Signed times in keys: flipping the sign bit makes unsigned big-endian
 * order equal to signed order. */
static inline uint64_t i64_key(int64_t v) {
  return (uint64_t)v ^ 0x8000000000000000ULL;
}

static inline int64_t i64_unkey(uint64_t v) {
  return (int64_t)(v ^ 0x8000000000000000ULL);
}

#endif
