/*
 * First and last value by event time.
 *
 * "first" is the value with the smallest event time, "last" the one with the
 * largest. Ties (several values at the same event time) are broken by the
 * value itself in IEEE total order -- first keeps the smallest, last the
 * largest -- so the result does not depend on arrival order and merge is
 * associative and commutative, exactly. Values must be finite (asserted).
 *
 * Plain data (32 bytes), no allocation; not thread-safe.
 *
 * Binary encoding: little-endian: u8 tag 'F' (0x46), u8 version (1),
 * u8 flags (bit 0: non-empty), and when non-empty:
 *   i64 first_t, f64 first_v, i64 last_t, f64 last_v.
 */
#ifndef VIGIE_FIRSTLAST_H
#define VIGIE_FIRSTLAST_H

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VG_FIRSTLAST_TAG         0x46
#define VG_FIRSTLAST_VERSION     1
#define VG_FIRSTLAST_MAX_ENCODED 35

struct vg_firstlast {
  int64_t first_t; /* INT64_MAX when empty */
  double first_v;
  int64_t last_t; /* INT64_MIN when empty */
  double last_v;
};

static inline void vg_firstlast_init(struct vg_firstlast *f) {
  *f = (struct vg_firstlast){.first_t = INT64_MAX, .last_t = INT64_MIN};
}

static inline int vg_firstlast_empty(const struct vg_firstlast *f) {
  return f->last_t == INT64_MIN;
}

/* A key whose unsigned order is the IEEE-754 total order of doubles. */
static inline uint64_t vg__f64_order_key(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return (b & 0x8000000000000000ULL) ? ~b : (b | 0x8000000000000000ULL);
}

static inline void vg_firstlast_add(struct vg_firstlast *f, int64_t t, double v) {
  assert(isfinite(v));
  if (t < f->first_t ||
      (t == f->first_t && vg__f64_order_key(v) < vg__f64_order_key(f->first_v))) {
    f->first_t = t;
    f->first_v = v;
  }
  if (t > f->last_t ||
      (t == f->last_t && vg__f64_order_key(v) > vg__f64_order_key(f->last_v))) {
    f->last_t = t;
    f->last_v = v;
  }
}

static inline void vg_firstlast_merge(struct vg_firstlast *dst,
                                      const struct vg_firstlast *src) {
  if (vg_firstlast_empty(src))
    return;
  vg_firstlast_add(dst, src->first_t, src->first_v);
  vg_firstlast_add(dst, src->last_t, src->last_v);
}

/* Returns 0 or VG_EFULL; *len gets the size written. */
int vg_firstlast_encode(const struct vg_firstlast *f, uint8_t *buf, size_t cap,
                        size_t *len);
/* Returns 0, VG_EDECODE or VG_EVERSION; *used gets the bytes consumed. */
int vg_firstlast_decode(struct vg_firstlast *f, const uint8_t *buf, size_t len,
                        size_t *used);

#endif
