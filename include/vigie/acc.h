/*
 * The accumulator of one (series, window): scalar statistics (stats.h),
 * first/last (firstlast.h) and, when the source asks for them, a quantile
 * sketch (ddsketch.h) and a distinct-count sketch (hll.h), allocated on first
 * use. What is kept is decided by a struct vg_acc_opts shared by every
 * accumulator of a table; merge requires equal options (sketch parameters are
 * asserted).
 *
 * 120 bytes without sketches. An accumulator owns its sketches:
 * vg_acc_release frees them. Not thread-safe; one owner at a time.
 *
 * Binary encoding, little-endian, versioned: u8 tag 'A' (0x41), u8 version
 * (1), u8 flags (bit 0: quantile sketch follows, bit 1: HLL follows), then
 * the encodings of stats, first/last, [ddsketch], [hll] back to back. A
 * decoder checks that they agree (same count, first/last empty iff count 0).
 * Flags 4 (alone) is the short form of an accumulator holding exactly one
 * reading and no sketch -- a sensor that reports once per base window makes
 * most windows so: f64 value, i64 time (ns), 19 bytes instead of about 110;
 * the decoder rebuilds the state by adding that reading to an empty
 * accumulator. Such an accumulator is always written in the short form;
 * its long form (what stores written before the short form hold) is still
 * read, so an upgraded store loads. Otherwise encodings are canonical.
 */
#ifndef VIGIE_ACC_H
#define VIGIE_ACC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "vigie/ddsketch.h"
#include "vigie/firstlast.h"
#include "vigie/hll.h"
#include "vigie/stats.h"

#define VG_ACC_TAG     0x41
#define VG_ACC_VERSION 1

struct vg_acc_opts {
  int quantiles;     /* keep a quantile sketch */
  int distinct;      /* keep an HLL for events that carry a distinct key */
  double alpha;      /* quantile relative error (VG_DDSKETCH_ALPHA) */
  uint32_t max_bins; /* quantile sketch bound (VG_DDSKETCH_MAX_BINS) */
  unsigned hll_p;    /* HLL precision (VG_HLL_P) */
};

#define VG_ACC_OPTS_DEFAULT                                                              \
  ((struct vg_acc_opts){0, 0, VG_DDSKETCH_ALPHA, VG_DDSKETCH_MAX_BINS, VG_HLL_P})

struct vg_acc {
  struct vg_stats st;
  struct vg_firstlast fl;
  struct vg_ddsketch *qs; /* NULL unless opts.quantiles and non-empty */
  struct vg_hll *hll;     /* NULL unless opts.distinct and a key was seen */
};

static inline void vg_acc_init(struct vg_acc *a) {
  vg_stats_init(&a->st);
  vg_firstlast_init(&a->fl);
  a->qs = NULL;
  a->hll = NULL;
}

void vg_acc_release(struct vg_acc *a);

/* Slow path of vg_acc_add: the sketches. */
int vg__acc_add_sketches(struct vg_acc *a, const struct vg_acc_opts *o, double v,
                         int has_key, uint64_t key_hash);

/* Adds one event (time t in any unit, finite value v, optional key hash).
 * Returns 0 or -ENOMEM (then nothing was added). */
static inline int vg_acc_add(struct vg_acc *a, const struct vg_acc_opts *o, int64_t t,
                             double v, int has_key, uint64_t key_hash) {
  if (o->quantiles || (o->distinct && has_key)) {
    int rc = vg__acc_add_sketches(a, o, v, has_key, key_hash);
    if (rc)
      return rc;
  }
  vg_stats_add(&a->st, v);
  vg_firstlast_add(&a->fl, t, v);
  return 0;
}

/* dst := dst (+) src. Returns 0 or -ENOMEM (dst must then be discarded). */
int vg_acc_merge(struct vg_acc *dst, const struct vg_acc *src,
                 const struct vg_acc_opts *o);
/* 1 when both hold the same state: exact for count/min/max/first/last and the
 * sketches, within rel_tol relative for sum/mean/M2. */
int vg_acc_equal(const struct vg_acc *a, const struct vg_acc *b, double rel_tol);
/* Heap and struct bytes held. */
size_t vg_acc_bytes(const struct vg_acc *a);

size_t vg_acc_encoded_size(const struct vg_acc *a);
int vg_acc_encode(const struct vg_acc *a, uint8_t *buf, size_t cap, size_t *len);
/* Decodes into *a (not holding anything). 0, VG_EDECODE, VG_EVERSION or
 * -ENOMEM; on error *a holds nothing. */
int vg_acc_decode(struct vg_acc *a, const uint8_t *buf, size_t len, size_t *used);

/* Relative difference |x - y| / max(|x|, |y|), 0 when both are 0. */
double vg_rel_diff(double x, double y);

#endif
