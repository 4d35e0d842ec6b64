/*
 * Scalar accumulator (include/vigie/stats.h): the out-of-line merge and the
 * binary encoding. Adding a value is inline in the header because it is the
 * per-event hot path.
 */
#include <errno.h>
#include <string.h>

#include "vigie/error.h"
#include "vigie/stats.h"
#include "common/bytes.h"

/* A total order on states, so merge can pick which operand is the base and
 * give bitwise the same result whatever the argument order. */
static int before(const struct vg_stats *a, const struct vg_stats *b) {
  if (a->count != b->count)
    return a->count < b->count;
  return memcmp(a, b, sizeof *a) < 0;
}

void vg_stats_merge(struct vg_stats *dst, const struct vg_stats *src) {
  if (src->count == 0)
    return;
  if (dst->count == 0) {
    *dst = *src;
    return;
  }
  struct vg_stats a = *dst, b = *src;
  if (before(&b, &a)) {
    a = *src;
    b = *dst;
  }
  double na = (double)a.count, nb = (double)b.count;
  double n = na + nb;
  /* delta of the means, from the double-double parts */
  double d = (b.mean - a.mean) + (b.mean_lo - a.mean_lo);
  struct vg_stats r = a;
  r.count = a.count + b.count;
  vg__dd_add(&r.mean, &r.mean_lo, d * (nb / n));
  vg__neumaier_add(&r.m2, &r.m2_c, b.m2);
  vg__neumaier_add(&r.m2, &r.m2_c, d * d * (na * nb / n));
  r.m2_c += b.m2_c;
  vg__neumaier_add(&r.sum, &r.comp, b.sum);
  r.comp += b.comp;
  r.min = a.min < b.min ? a.min : b.min;
  r.max = a.max > b.max ? a.max : b.max;
  *dst = r;
}

int vg_stats_encode(const struct vg_stats *s, uint8_t *buf, size_t cap, size_t *len) {
  struct vg_wbuf w = {buf, buf + cap, 0};
  wb_u8(&w, VG_STATS_TAG);
  wb_u8(&w, VG_STATS_VERSION);
  wb_varint(&w, s->count);
  if (s->count) {
    wb_f64(&w, s->sum);
    wb_f64(&w, s->comp);
    wb_f64(&w, s->min);
    wb_f64(&w, s->max);
    wb_f64(&w, s->mean);
    wb_f64(&w, s->mean_lo);
    wb_f64(&w, s->m2);
    wb_f64(&w, s->m2_c);
  }
  if (w.err)
    return VG_EFULL;
  *len = (size_t)(w.p - buf);
  return 0;
}

int vg_stats_decode(struct vg_stats *s, const uint8_t *buf, size_t len, size_t *used) {
  struct vg_rbuf r = {buf, buf + len, 0};
  if (rb_u8(&r) != VG_STATS_TAG || r.err)
    return VG_EDECODE;
  uint8_t version = rb_u8(&r);
  if (r.err)
    return VG_EDECODE;
  if (version != VG_STATS_VERSION)
    return VG_EVERSION;
  struct vg_stats t;
  vg_stats_init(&t);
  t.count = rb_varint(&r);
  if (t.count) {
    t.sum = rb_f64(&r);
    t.comp = rb_f64(&r);
    t.min = rb_f64(&r);
    t.max = rb_f64(&r);
    t.mean = rb_f64(&r);
    t.mean_lo = rb_f64(&r);
    t.m2 = rb_f64(&r);
    t.m2_c = rb_f64(&r);
  }
  if (r.err)
    return VG_EDECODE;
  /* the invariants every later add/merge relies on */
  if (t.count &&
      (!isfinite(t.sum) || !isfinite(t.comp) || !isfinite(t.min) || !isfinite(t.max) ||
       !isfinite(t.mean) || !isfinite(t.mean_lo) || !isfinite(t.m2) ||
       !isfinite(t.m2_c) || t.min > t.max || vg_stats_m2(&t) < 0))
    return VG_EDECODE;
  *s = t;
  *used = (size_t)(r.p - buf);
  return 0;
}
