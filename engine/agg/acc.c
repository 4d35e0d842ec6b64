/*
 * The per-(series, window) accumulator (include/vigie/acc.h): sketch
 * allocation on first use, merge, equality for tests and the framed
 * encoding that bundles the component encodings.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/acc.h"
#include "vigie/error.h"
#include "common/bytes.h"

void vg_acc_release(struct vg_acc *a) {
  vg_ddsketch_free(a->qs);
  vg_hll_free(a->hll);
  vg_acc_init(a);
}

int vg__acc_add_sketches(struct vg_acc *a, const struct vg_acc_opts *o, double v,
                         int has_key, uint64_t key_hash) {
  if (o->quantiles) {
    if (!a->qs)
      a->qs = vg_ddsketch_new(o->alpha, o->max_bins);
    if (!a->qs)
      return -ENOMEM;
    int rc = vg_ddsketch_add(a->qs, v);
    if (rc)
      return rc;
  }
  if (o->distinct && has_key) {
    if (!a->hll)
      a->hll = vg_hll_new(o->hll_p);
    if (!a->hll)
      return -ENOMEM;
    return vg_hll_add(a->hll, key_hash);
  }
  return 0;
}

int vg_acc_merge(struct vg_acc *dst, const struct vg_acc *src,
                 const struct vg_acc_opts *o) {
  if (src->qs) {
    if (!dst->qs)
      dst->qs = vg_ddsketch_new(src->qs->alpha, src->qs->max_bins);
    if (!dst->qs)
      return -ENOMEM;
    int rc = vg_ddsketch_merge(dst->qs, src->qs);
    if (rc)
      return rc;
  }
  if (src->hll) {
    if (!dst->hll)
      dst->hll = vg_hll_new(src->hll->p);
    if (!dst->hll)
      return -ENOMEM;
    int rc = vg_hll_merge(dst->hll, src->hll);
    if (rc)
      return rc;
  }
  vg_stats_merge(&dst->st, &src->st);
  vg_firstlast_merge(&dst->fl, &src->fl);
  return 0;
}

double vg_rel_diff(double x, double y) {
  double m = fmax(fabs(x), fabs(y));
  return m == 0 ? 0 : fabs(x - y) / m;
}

int vg_acc_equal(const struct vg_acc *a, const struct vg_acc *b, double rel_tol) {
  const struct vg_stats *s = &a->st, *t = &b->st;
  if (s->count != t->count)
    return 0;
  if (s->count && (s->min != t->min || s->max != t->max ||
                   vg_rel_diff(vg_stats_sum(s), vg_stats_sum(t)) > rel_tol ||
                   vg_rel_diff(vg_stats_mean(s), vg_stats_mean(t)) > rel_tol ||
                   vg_rel_diff(vg_stats_m2(s), vg_stats_m2(t)) > rel_tol))
    return 0;
  if (memcmp(&a->fl, &b->fl, sizeof a->fl) != 0)
    return 0;
  if (!a->qs != !b->qs || (a->qs && !vg_ddsketch_equal(a->qs, b->qs)))
    return 0;
  if (!a->hll != !b->hll || (a->hll && !vg_hll_equal(a->hll, b->hll)))
    return 0;
  return 1;
}

size_t vg_acc_bytes(const struct vg_acc *a) {
  return sizeof *a + (a->qs ? vg_ddsketch_bytes(a->qs) : 0) +
         (a->hll ? vg_hll_bytes(a->hll) : 0);
}

size_t vg_acc_encoded_size(const struct vg_acc *a) {
  return 3 + VG_STATS_MAX_ENCODED + VG_FIRSTLAST_MAX_ENCODED +
         (a->qs ? vg_ddsketch_encoded_size(a->qs) : 0) +
         (a->hll ? vg_hll_encoded_size(a->hll) : 0);
}

/* The short form's flag: one reading, no sketch (see acc.h). */
#define ACC_SINGLE 4

/* 1 when a holds exactly what adding its one reading to an empty
 * accumulator gives, bit for bit (so the short form loses nothing). */
static int is_single(const struct vg_acc *a) {
  if (a->st.count != 1 || a->qs || a->hll || a->fl.first_t != a->fl.last_t ||
      !isfinite(a->fl.first_v))
    return 0;
  struct vg_stats s;
  struct vg_firstlast f;
  vg_stats_init(&s);
  vg_stats_add(&s, a->fl.first_v);
  vg_firstlast_init(&f);
  vg_firstlast_add(&f, a->fl.first_t, a->fl.first_v);
  return memcmp(&s, &a->st, sizeof s) == 0 && memcmp(&f, &a->fl, sizeof f) == 0;
}

int vg_acc_encode(const struct vg_acc *a, uint8_t *buf, size_t cap, size_t *len) {
  struct vg_wbuf w = {buf, buf + cap, 0};
  wb_u8(&w, VG_ACC_TAG);
  wb_u8(&w, VG_ACC_VERSION);
  if (is_single(a)) {
    wb_u8(&w, ACC_SINGLE);
    wb_f64(&w, a->fl.first_v);
    wb_u64le(&w, (uint64_t)a->fl.first_t);
    if (w.err)
      return VG_EFULL;
    *len = (size_t)(w.p - buf);
    return 0;
  }
  wb_u8(&w, (uint8_t)((a->qs ? 1 : 0) | (a->hll ? 2 : 0)));
  if (w.err)
    return VG_EFULL;
  size_t n;
  int rc = vg_stats_encode(&a->st, w.p, (size_t)(w.end - w.p), &n);
  if (rc)
    return rc;
  w.p += n;
  rc = vg_firstlast_encode(&a->fl, w.p, (size_t)(w.end - w.p), &n);
  if (rc)
    return rc;
  w.p += n;
  if (a->qs) {
    rc = vg_ddsketch_encode(a->qs, w.p, (size_t)(w.end - w.p), &n);
    if (rc)
      return rc;
    w.p += n;
  }
  if (a->hll) {
    rc = vg_hll_encode(a->hll, w.p, (size_t)(w.end - w.p), &n);
    if (rc)
      return rc;
    w.p += n;
  }
  *len = (size_t)(w.p - buf);
  return 0;
}

int vg_acc_decode(struct vg_acc *a, const uint8_t *buf, size_t len, size_t *used) {
  struct vg_rbuf r = {buf, buf + len, 0};
  vg_acc_init(a);
  if (rb_u8(&r) != VG_ACC_TAG || r.err)
    return VG_EDECODE;
  uint8_t version = rb_u8(&r);
  if (r.err)
    return VG_EDECODE;
  if (version != VG_ACC_VERSION)
    return VG_EVERSION;
  uint8_t flags = rb_u8(&r);
  if (r.err || (flags > 3 && flags != ACC_SINGLE))
    return VG_EDECODE;
  if (flags == ACC_SINGLE) {
    double v = rb_f64(&r);
    int64_t t = (int64_t)rb_u64le(&r);
    if (r.err || !isfinite(v) || t == INT64_MAX || t == INT64_MIN)
      return VG_EDECODE;
    vg_stats_add(&a->st, v);
    vg_firstlast_add(&a->fl, t, v);
    *used = (size_t)(r.p - buf);
    return 0;
  }
  size_t n;
  int rc = vg_stats_decode(&a->st, r.p, (size_t)(r.end - r.p), &n);
  if (rc)
    return rc;
  r.p += n;
  rc = vg_firstlast_decode(&a->fl, r.p, (size_t)(r.end - r.p), &n);
  if (rc)
    return rc;
  r.p += n;
  if (!vg_firstlast_empty(&a->fl) != (a->st.count != 0))
    return VG_EDECODE;
  /* the long form of one reading (what stores written before the short
   * form hold) is read as it is; encoding it again gives the short form */
  if (flags & 1) {
    struct vg_ddsketch *qs = malloc(sizeof *qs);
    if (!qs)
      return -ENOMEM;
    rc = vg_ddsketch_decode(qs, r.p, (size_t)(r.end - r.p), &n);
    if (rc) {
      free(qs);
      return rc;
    }
    a->qs = qs;
    r.p += n;
    if (qs->count != a->st.count) {
      vg_acc_release(a);
      return VG_EDECODE;
    }
  }
  if (flags & 2) {
    struct vg_hll *h = malloc(sizeof *h);
    if (!h) {
      vg_acc_release(a);
      return -ENOMEM;
    }
    rc = vg_hll_decode(h, r.p, (size_t)(r.end - r.p), &n);
    if (rc) {
      free(h);
      vg_acc_release(a);
      return rc;
    }
    a->hll = h;
    r.p += n;
  }
  *used = (size_t)(r.p - buf);
  return 0;
}
