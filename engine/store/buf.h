/*
 * Private helpers of the store's encodings: a growable byte buffer that
 * remembers an allocation failure (callers check it once at the end), a
 * bounded reader that sets a flag instead of reading past its end, LEB128
 * varints with zigzag for signed values, and big-endian keys.
 */
#ifndef VIGIE_STORE_BUF_H
#define VIGIE_STORE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sbuf {
  uint8_t *p;
  size_t len, cap;
  int err; /* an allocation failed: contents are incomplete */
};

static inline int sbuf_reserve(struct sbuf *b, size_t more) {
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

static inline void sbuf_put(struct sbuf *b, const void *src, size_t n) {
  if (n == 0 || sbuf_reserve(b, n))
    return;
  memcpy(b->p + b->len, src, n);
  b->len += n;
}

static inline void sbuf_u8(struct sbuf *b, uint8_t v) {
  sbuf_put(b, &v, 1);
}

static inline void sbuf_u32le(struct sbuf *b, uint32_t v) {
  uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  sbuf_put(b, t, 4);
}

static inline void sbuf_u64le(struct sbuf *b, uint64_t v) {
  uint8_t t[8];
  for (int i = 0; i < 8; i++)
    t[i] = (uint8_t)(v >> (8 * i));
  sbuf_put(b, t, 8);
}

static inline void sbuf_varint(struct sbuf *b, uint64_t v) {
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

static inline void sbuf_svarint(struct sbuf *b, int64_t v) {
  sbuf_varint(b, zigzag(v));
}

struct rbuf {
  const uint8_t *p, *end;
  int err; /* ran past the end or met a malformed varint */
};

static inline uint8_t rb_u8(struct rbuf *r) {
  if (r->err || r->p == r->end) {
    r->err = 1;
    return 0;
  }
  return *r->p++;
}

static inline uint64_t rb_u64le(struct rbuf *r) {
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

static inline uint32_t rb_u32le(struct rbuf *r) {
  if (r->err || r->end - r->p < 4) {
    r->err = 1;
    return 0;
  }
  uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
               (uint32_t)r->p[3] << 24;
  r->p += 4;
  return v;
}

static inline uint64_t rb_varint(struct rbuf *r) {
  if (!r->err && r->end - r->p >= 10) {
    /* fast path: a whole varint fits, no bound check per byte */
    const uint8_t *p = r->p;
    uint64_t v = 0;
    for (int shift = 0; shift < 63; shift += 7) {
      uint8_t c = *p++;
      v |= (uint64_t)(c & 0x7f) << shift;
      if (!(c & 0x80)) {
        r->p = p;
        return v;
      }
    }
    uint8_t c = *p++; /* the 10th byte holds bit 63 only */
    if (c > 1) {
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
    if (!(c & 0x80))
      return v;
  }
  r->err = 1;
  return 0;
}

static inline int64_t rb_svarint(struct rbuf *r) {
  return unzigzag(rb_varint(r));
}

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
