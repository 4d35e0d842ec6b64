/*
 * HyperLogLog distinct count.
 *
 * 2^p registers (default p = 14: 16 384 registers, standard error
 * 1.04 / sqrt(m) = 0.81 %, so within 2 % at 1 M distinct keys with a wide
 * margin). Estimation uses Ertl's improved raw estimator ("New cardinality
 * estimation algorithms for HyperLogLog sketches", 2017), which needs neither
 * empirical bias tables nor a linear-counting switch-over.
 *
 * Inputs are 64-bit hashes of the distinct key (e.g. vg_fnv1a64 of its bytes);
 * they are re-mixed here so a weak hash is fine. Small sets use a sparse
 * representation (sorted (register, rank) pairs, 4 bytes each) that turns
 * dense (one byte per register) when it would exceed m / 16 entries; both
 * hold the same registers, so the estimate does not depend on it.
 * Merge takes the register-wise maximum: exact and order-independent. Both
 * sketches of a merge must share p (asserted). Not thread-safe.
 *
 * Binary encoding, little-endian, versioned:
 *   u8 tag 'H' (0x48), u8 version (1), u8 p, u8 representation (0 sparse,
 *   1 dense); sparse: varint n, then n varints, each the difference to the
 *   previous entry (register << 8 | rank), strictly increasing register;
 *   dense: m bytes, the rank of each register.
 */
#ifndef VIGIE_HLL_H
#define VIGIE_HLL_H

#include <stddef.h>
#include <stdint.h>

#define VG_HLL_TAG     0x48
#define VG_HLL_VERSION 1
#define VG_HLL_P       14
#define VG_HLL_P_MIN   4
#define VG_HLL_P_MAX   18

struct vg_hll {
  uint8_t p;
  uint8_t dense;
  uint32_t nsparse; /* entries in sparse (may hold duplicates until compacted) */
  uint32_t sorted;  /* sparse[0..sorted) is sorted and deduplicated */
  uint32_t cap;     /* allocated entries of sparse */
  uint32_t *sparse; /* register << 8 | rank */
  uint8_t *regs;    /* dense: 2^p ranks */
};

/* Initializes an empty sparse sketch; p in [VG_HLL_P_MIN, VG_HLL_P_MAX]. */
void vg_hll_init(struct vg_hll *h, unsigned p);
void vg_hll_release(struct vg_hll *h);
struct vg_hll *vg_hll_new(unsigned p);
void vg_hll_free(struct vg_hll *h);

/* Adds a key hash. Returns 0 or -ENOMEM (h unchanged). */
int vg_hll_add(struct vg_hll *h, uint64_t hash);
/* dst := dst (+) src. Returns 0 or -ENOMEM (dst then holds a partial merge
 * and must be discarded). */
int vg_hll_merge(struct vg_hll *dst, const struct vg_hll *src);
/* Estimated number of distinct keys. Reads h only (a sketch shared by
 * readers, like a window the store handed over, may be estimated as is):
 * an uncompacted sparse list is sorted in scratch memory, so NaN when that
 * memory cannot be had. The same for either representation of the same
 * registers. */
double vg_hll_estimate(const struct vg_hll *h);
/* Rank of register i (0..2^p-1); 0 when never hit. */
unsigned vg_hll_register(struct vg_hll *h, uint32_t i);
/* 1 when both hold the same registers (whatever the representation). */
int vg_hll_equal(struct vg_hll *a, struct vg_hll *b);
size_t vg_hll_bytes(const struct vg_hll *h);

/* Exact encoded size (compacts the sparse list). */
size_t vg_hll_encoded_size(struct vg_hll *h);
int vg_hll_encode(struct vg_hll *h, uint8_t *buf, size_t cap, size_t *len);
/* Decodes into h (not holding a sketch). 0, VG_EDECODE, VG_EVERSION or
 * -ENOMEM; on error h holds nothing. */
int vg_hll_decode(struct vg_hll *h, const uint8_t *buf, size_t len, size_t *used);

#endif
