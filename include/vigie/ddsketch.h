/*
 * Relative-error quantile sketch (DDSketch-style logarithmic buckets).
 *
 * A value x > 0 goes to bucket i = ceil(log_gamma(x)) with
 * gamma = (1 + alpha) / (1 - alpha); the bucket's representative
 * 2 gamma^i / (gamma + 1) is within alpha relative of every value in it, so a
 * quantile answer is within alpha (default 1 %) relative of the exact value
 * of that rank. Negative values use a mirrored store, |x| < VG_DDSKETCH_MIN
 * counts as zero. Quantile q answers the value of rank floor(q * (n - 1)) in
 * sorted order (the "lower" quantile).
 *
 * Bounded memory: each store keeps at most max_bins buckets (default 2048,
 * i.e. 8 decades of range at 1 %); buckets below (highest index seen -
 * max_bins + 1) fold into that lowest kept bucket, so only the smallest
 * magnitudes lose accuracy. Merge adds bucket counts; because folding only
 * depends on the highest index seen, merging the sketches of any split of an
 * input gives exactly the buckets of the whole input. Both sketches of a merge
 * must share alpha and max_bins (asserted).
 *
 * Memory: sizeof(struct vg_ddsketch) + 2, 4 or 8 bytes (by total count:
 * below 65 536, below 2^32, above) per bucket spanned in each store, at most
 * max_bins buckets per store (vg_ddsketch_bytes). Not thread-safe; one owner
 * at a time.
 *
 * Binary encoding, little-endian, versioned:
 *   u8 tag 'D' (0x44), u8 version (1), f64 alpha, varint max_bins,
 *   varint zero_count, then for the positive then the negative store:
 *   varint nbins, and when nbins > 0: zigzag varint index of the first bucket
 *   and nbins varint counts.
 */
#ifndef VIGIE_DDSKETCH_H
#define VIGIE_DDSKETCH_H

#include <stddef.h>
#include <stdint.h>

#define VG_DDSKETCH_TAG            0x44
#define VG_DDSKETCH_VERSION        1
#define VG_DDSKETCH_ALPHA          0.01
#define VG_DDSKETCH_MAX_BINS       2048
#define VG_DDSKETCH_MAX_BINS_LIMIT 65536 /* decoders refuse more */
#define VG_DDSKETCH_MIN            1e-9  /* smaller magnitudes count as 0 */

struct vg_ddstore {
  void *bins; /* counter k (1 << wshift bytes each) counts bucket offset + k */
  int32_t offset;
  uint32_t len;   /* buckets in use, from offset */
  uint32_t cap;   /* allocated */
  int32_t floor;  /* lowest index kept (INT32_MIN until max_bins is reached) */
  int32_t hi;     /* highest index seen (INT32_MIN when empty) */
  uint8_t wshift; /* counters are 1 << wshift bytes, wshift 1, 2 or 3 (2, 4, 8 bytes) */
};

struct vg_ddsketch {
  double alpha;
  double gamma;
  double inv_log_gamma; /* 1 / ln(gamma) */
  uint32_t max_bins;
  uint64_t count;
  uint64_t zero_count;
  struct vg_ddstore pos, neg;
};

/* Initializes an empty sketch; allocates nothing until the first add.
 * alpha in (0, 1), max_bins in [16, VG_DDSKETCH_MAX_BINS_LIMIT] (asserted). */
void vg_ddsketch_init(struct vg_ddsketch *sk, double alpha, uint32_t max_bins);
/* Frees the buckets; sk can be initialized again. */
void vg_ddsketch_release(struct vg_ddsketch *sk);
/* Allocates and initializes a sketch; NULL on out of memory. */
struct vg_ddsketch *vg_ddsketch_new(double alpha, uint32_t max_bins);
/* Releases and frees sk; NULL is a no-op. */
void vg_ddsketch_free(struct vg_ddsketch *sk);

/* Adds a finite value (asserted). Returns 0 or -ENOMEM (sk unchanged). */
int vg_ddsketch_add(struct vg_ddsketch *sk, double x);
/* dst := dst (+) src. Returns 0 or -ENOMEM (dst then holds a partial merge
 * and must be discarded). */
int vg_ddsketch_merge(struct vg_ddsketch *dst, const struct vg_ddsketch *src);
/* Value at quantile q in [0, 1]; NaN when empty. */
double vg_ddsketch_quantile(const struct vg_ddsketch *sk, double q);
/* Bucket index of a value (for tests): the one vg_ddsketch_add uses. */
int32_t vg_ddsketch_index(const struct vg_ddsketch *sk, double absx);
/* Heap and struct bytes held by the sketch. */
size_t vg_ddsketch_bytes(const struct vg_ddsketch *sk);
/* 1 when both sketches hold the same buckets and counts. */
int vg_ddsketch_equal(const struct vg_ddsketch *a, const struct vg_ddsketch *b);

/* Exact size of the encoding. */
size_t vg_ddsketch_encoded_size(const struct vg_ddsketch *sk);
/* Returns 0 or VG_EFULL; *len gets the size written. */
int vg_ddsketch_encode(const struct vg_ddsketch *sk, uint8_t *buf, size_t cap,
                       size_t *len);
/* Decodes into sk, which must not hold a sketch (it is initialized here; on
 * success the caller releases it). Returns 0, VG_EDECODE, VG_EVERSION or
 * -ENOMEM; on error sk holds nothing. *used gets the bytes consumed. */
int vg_ddsketch_decode(struct vg_ddsketch *sk, const uint8_t *buf, size_t len,
                       size_t *used);

#endif
