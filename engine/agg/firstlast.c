/*
 * First/last by event time (include/vigie/firstlast.h): the binary encoding.
 * Adding and merging are inline in the header (per-event hot path).
 */
#include "vigie/error.h"
#include "vigie/firstlast.h"
#include "common/bytes.h"

int vg_firstlast_encode(const struct vg_firstlast *f, uint8_t *buf, size_t cap,
                        size_t *len) {
  struct vg_wbuf w = {buf, buf + cap, 0};
  int full = !vg_firstlast_empty(f);
  wb_u8(&w, VG_FIRSTLAST_TAG);
  wb_u8(&w, VG_FIRSTLAST_VERSION);
  wb_u8(&w, (uint8_t)full);
  if (full) {
    wb_u64le(&w, (uint64_t)f->first_t);
    wb_f64(&w, f->first_v);
    wb_u64le(&w, (uint64_t)f->last_t);
    wb_f64(&w, f->last_v);
  }
  if (w.err)
    return VG_EFULL;
  *len = (size_t)(w.p - buf);
  return 0;
}

int vg_firstlast_decode(struct vg_firstlast *f, const uint8_t *buf, size_t len,
                        size_t *used) {
  struct vg_rbuf r = {buf, buf + len, 0};
  if (rb_u8(&r) != VG_FIRSTLAST_TAG || r.err)
    return VG_EDECODE;
  uint8_t version = rb_u8(&r);
  if (r.err)
    return VG_EDECODE;
  if (version != VG_FIRSTLAST_VERSION)
    return VG_EVERSION;
  uint8_t flags = rb_u8(&r);
  if (r.err || flags > 1)
    return VG_EDECODE;
  struct vg_firstlast t;
  vg_firstlast_init(&t);
  if (flags) {
    t.first_t = (int64_t)rb_u64le(&r);
    t.first_v = rb_f64(&r);
    t.last_t = (int64_t)rb_u64le(&r);
    t.last_v = rb_f64(&r);
    if (r.err || !isfinite(t.first_v) || !isfinite(t.last_v) || t.first_t > t.last_t ||
        t.last_t == INT64_MIN ||
        (t.first_t == t.last_t &&
         vg__f64_order_key(t.first_v) > vg__f64_order_key(t.last_v)))
      return VG_EDECODE; /* first must come before last in (time, value) order */
  }
  *f = t;
  *used = (size_t)(r.p - buf);
  return 0;
}
