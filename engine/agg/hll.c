/*
 * HyperLogLog distinct count (include/vigie/hll.h).
 *
 * A key hash is re-mixed (the splitmix64 finalizer), its top p bits choose a
 * register and the rank (1 + leading zeros of the remaining bits) is the
 * register's candidate value. Small sets keep (register, rank) pairs in an
 * append buffer that is sorted and deduplicated when full; past m / 16
 * distinct registers the sketch turns dense, one byte per register.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/error.h"
#include "vigie/hll.h"
#include "common/bytes.h"

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

static inline uint32_t sparse_limit(const struct vg_hll *h) {
  return (1u << h->p) / 16;
}

void vg_hll_init(struct vg_hll *h, unsigned p) {
  assert(p >= VG_HLL_P_MIN && p <= VG_HLL_P_MAX);
  *h = (struct vg_hll){.p = (uint8_t)p};
}

void vg_hll_release(struct vg_hll *h) {
  free(h->sparse);
  free(h->regs);
  vg_hll_init(h, h->p);
}

struct vg_hll *vg_hll_new(unsigned p) {
  struct vg_hll *h = malloc(sizeof *h);
  if (h)
    vg_hll_init(h, p);
  return h;
}

void vg_hll_free(struct vg_hll *h) {
  if (!h)
    return;
  vg_hll_release(h);
  free(h);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* Sorts n (register, rank) pairs of a sketch of precision p: a byte-wise
 * radix sort over the p + 8 bits a pair has (three passes at the default
 * precision), with scratch on the stack up to 1,024 pairs. qsort's merge
 * sort with a call per comparison took a fifth of a worker's time on
 * distinct counts. Insertion sort for a few pairs; qsort when the scratch
 * cannot be had. */
static void sort_pairs(uint32_t *a, uint32_t n, unsigned p) {
  if (n < 32) {
    for (uint32_t i = 1; i < n; i++) {
      uint32_t x = a[i], j = i;
      for (; j > 0 && a[j - 1] > x; j--)
        a[j] = a[j - 1];
      a[j] = x;
    }
    return;
  }
  uint32_t stack[1024], *tmp = stack;
  if (n > sizeof stack / sizeof *stack && !(tmp = malloc((size_t)n * sizeof *tmp))) {
    qsort(a, n, sizeof *a, cmp_u32);
    return;
  }
  uint32_t *src = a, *dst = tmp;
  for (unsigned shift = 0; shift < p + 8; shift += 8) {
    uint32_t at[256] = {0};
    for (uint32_t i = 0; i < n; i++)
      at[(src[i] >> shift) & 0xff]++;
    if (at[(src[0] >> shift) & 0xff] == n)
      continue; /* one byte value throughout: this pass would not move anything */
    for (uint32_t b = 0, sum = 0; b < 256; b++) {
      uint32_t c = at[b];
      at[b] = sum;
      sum += c;
    }
    for (uint32_t i = 0; i < n; i++)
      dst[at[(src[i] >> shift) & 0xff]++] = src[i];
    uint32_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != a)
    memcpy(a, src, (size_t)n * sizeof *a);
  if (tmp != stack)
    free(tmp);
}

/* Sorts and deduplicates the sparse list, keeping the highest rank of each
 * register (entries sort by register, then rank). */
static void compact(struct vg_hll *h) {
  if (h->sorted == h->nsparse)
    return;
  sort_pairs(h->sparse, h->nsparse, h->p);
  uint32_t out = 0;
  for (uint32_t k = 0; k < h->nsparse; k++) {
    uint32_t e = h->sparse[k];
    if (out && (h->sparse[out - 1] >> 8) == (e >> 8))
      h->sparse[out - 1] = e; /* later in order = higher rank */
    else
      h->sparse[out++] = e;
  }
  h->nsparse = h->sorted = out;
}

static int to_dense(struct vg_hll *h) {
  uint8_t *regs = calloc((size_t)1 << h->p, 1);
  if (!regs)
    return -ENOMEM;
  for (uint32_t k = 0; k < h->nsparse; k++) {
    uint32_t e = h->sparse[k], i = e >> 8;
    uint8_t r = (uint8_t)(e & 0xff);
    if (r > regs[i])
      regs[i] = r;
  }
  free(h->sparse);
  h->sparse = NULL;
  h->nsparse = h->sorted = h->cap = 0;
  h->regs = regs;
  h->dense = 1;
  return 0;
}

/* Appends a pair to the sparse list, compacting or going dense when full. */
static int sparse_put(struct vg_hll *h, uint32_t e) {
  if (h->nsparse == h->cap) {
    compact(h);
    if (h->nsparse >= sparse_limit(h)) {
      int rc = to_dense(h);
      if (rc)
        return rc;
      uint32_t i = e >> 8;
      if ((e & 0xff) > h->regs[i])
        h->regs[i] = (uint8_t)(e & 0xff);
      return 0;
    }
    if (h->cap == 0 || h->nsparse * 2 > h->cap) { /* more than half full: grow */
      uint32_t cap = h->cap ? h->cap * 2 : 16;
      uint32_t *s = realloc(h->sparse, (size_t)cap * sizeof *s);
      if (!s)
        return -ENOMEM;
      h->sparse = s;
      h->cap = cap;
    }
  }
  h->sparse[h->nsparse++] = e;
  return 0;
}

/* A (register, rank) pair into the sketch, dense or sparse. */
static int put_pair(struct vg_hll *h, uint32_t e) {
  if (h->dense) {
    uint32_t i = e >> 8;
    if ((e & 0xff) > h->regs[i])
      h->regs[i] = (uint8_t)(e & 0xff);
    return 0;
  }
  return sparse_put(h, e);
}

int vg_hll_add(struct vg_hll *h, uint64_t hash) {
  uint64_t x = mix64(hash);
  uint32_t i = (uint32_t)(x >> (64 - h->p));
  uint64_t w = (x << h->p) | (1ULL << (h->p - 1)); /* guard bit bounds the rank */
  uint8_t r = (uint8_t)(__builtin_clzll(w) + 1);
  return put_pair(h, i << 8 | r);
}

int vg_hll_merge(struct vg_hll *dst, const struct vg_hll *src) {
  assert(dst->p == src->p);
  uint32_t m = 1u << dst->p;
  if (src->dense && !dst->dense) {
    int rc = to_dense(dst);
    if (rc)
      return rc;
  }
  if (dst->dense) {
    if (src->dense) {
      for (uint32_t i = 0; i < m; i++)
        if (src->regs[i] > dst->regs[i])
          dst->regs[i] = src->regs[i];
    } else {
      for (uint32_t k = 0; k < src->nsparse; k++) {
        uint32_t e = src->sparse[k], i = e >> 8;
        if ((e & 0xff) > dst->regs[i])
          dst->regs[i] = (uint8_t)(e & 0xff);
      }
    }
    return 0;
  }
  for (uint32_t k = 0; k < src->nsparse; k++) {
    /* dst may turn dense on the way: the pairs after that go into its
     * registers (they went into a sparse list a dense sketch ignores, and a
     * distinct count merged past the threshold came out short) */
    int rc = put_pair(dst, src->sparse[k]);
    if (rc)
      return rc; /* dst still holds a valid subset-merge; documented as unchanged
                    only for the dense path */
  }
  return 0;
}

unsigned vg_hll_register(struct vg_hll *h, uint32_t i) {
  if (h->dense)
    return h->regs[i];
  compact(h);
  uint32_t lo = 0, hi = h->nsparse;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if ((h->sparse[mid] >> 8) < i)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < h->nsparse && (h->sparse[lo] >> 8) == i ? (h->sparse[lo] & 0xff) : 0;
}

int vg_hll_equal(struct vg_hll *a, struct vg_hll *b) {
  if (a->p != b->p)
    return 0;
  uint32_t m = 1u << a->p;
  if (a->dense && b->dense)
    return memcmp(a->regs, b->regs, m) == 0;
  if (!a->dense && !b->dense) {
    compact(a);
    compact(b);
    return a->nsparse == b->nsparse &&
           (a->nsparse == 0 ||
            memcmp(a->sparse, b->sparse, (size_t)a->nsparse * sizeof *a->sparse) == 0);
  }
  struct vg_hll *d = a->dense ? a : b, *s = a->dense ? b : a;
  compact(s);
  uint32_t nonzero = 0;
  for (uint32_t i = 0; i < m; i++)
    nonzero += d->regs[i] != 0;
  if (nonzero != s->nsparse)
    return 0;
  for (uint32_t k = 0; k < s->nsparse; k++)
    if (d->regs[s->sparse[k] >> 8] != (s->sparse[k] & 0xff))
      return 0;
  return 1;
}

static double sigma(double x) {
  if (x == 1)
    return INFINITY;
  double y = 1, z = x, zp;
  do {
    x *= x;
    zp = z;
    z += x * y;
    y += y;
  } while (z != zp);
  return z;
}

static double tau(double x) {
  if (x == 0 || x == 1)
    return 0;
  double y = 1, z = 1 - x, zp;
  do {
    x = sqrt(x);
    zp = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (z != zp);
  return z / 3;
}

/* The register histogram of a sparse list without touching it: c[r] counts
 * the registers whose highest rank is r. The list is a sorted, deduplicated
 * prefix and a tail appended since; the tail is sorted in scratch memory
 * (up to 256 entries on the stack, more on the heap) and walked together
 * with the prefix in order. In that order a register's entries are adjacent and its
 * highest rank comes last, so each register is counted at its last entry.
 * 0 or -ENOMEM. */
static int sparse_histogram(const struct vg_hll *h, uint32_t c[66]) {
  uint32_t stack[256], *tail = stack, nt = h->nsparse - h->sorted;
  if (nt > sizeof stack / sizeof *stack) {
    tail = malloc((size_t)nt * sizeof *tail);
    if (!tail)
      return -ENOMEM;
  }
  if (nt) {
    memcpy(tail, h->sparse + h->sorted, (size_t)nt * sizeof *tail);
    sort_pairs(tail, nt, h->p);
  }
  const uint32_t *pre = h->sparse;
  uint32_t i = 0, j = 0, nonzero = 0, prev = 0;
  int have = 0;
  while (i < h->sorted || j < nt) {
    uint32_t e = j == nt || (i < h->sorted && pre[i] <= tail[j]) ? pre[i++] : tail[j++];
    if (have && (prev >> 8) != (e >> 8)) {
      c[prev & 0xff]++;
      nonzero++;
    }
    prev = e;
    have = 1;
  }
  if (have) {
    c[prev & 0xff]++;
    nonzero++;
  }
  c[0] = (1u << h->p) - nonzero;
  if (tail != stack)
    free(tail);
  return 0;
}

double vg_hll_estimate(const struct vg_hll *h) {
  uint32_t m = 1u << h->p;
  unsigned q = 64 - h->p;
  uint32_t c[66] = {0};
  if (h->dense) {
    for (uint32_t i = 0; i < m; i++)
      c[h->regs[i]]++;
  } else if (sparse_histogram(h, c)) {
    return NAN;
  }
  double md = m;
  double z = md * tau((md - c[q + 1]) / md);
  for (unsigned k = q; k >= 1; k--)
    z = 0.5 * (z + c[k]);
  z += md * sigma(c[0] / md);
  return (0.5 / log(2)) * md * md / z;
}

size_t vg_hll_bytes(const struct vg_hll *h) {
  return sizeof *h + (h->dense ? ((size_t)1 << h->p) : (size_t)h->cap * 4);
}

size_t vg_hll_encoded_size(struct vg_hll *h) {
  if (h->dense)
    return 4 + ((size_t)1 << h->p);
  compact(h);
  size_t n = 4 + varint_size(h->nsparse);
  uint32_t prev = 0;
  for (uint32_t k = 0; k < h->nsparse; k++) {
    n += varint_size(h->sparse[k] - prev);
    prev = h->sparse[k];
  }
  return n;
}

int vg_hll_encode(struct vg_hll *h, uint8_t *buf, size_t cap, size_t *len) {
  struct vg_wbuf w = {buf, buf + cap, 0};
  wb_u8(&w, VG_HLL_TAG);
  wb_u8(&w, VG_HLL_VERSION);
  wb_u8(&w, h->p);
  wb_u8(&w, h->dense);
  if (h->dense) {
    size_t m = (size_t)1 << h->p;
    if ((size_t)(w.end - w.p) < m)
      w.err = 1;
    else {
      memcpy(w.p, h->regs, m);
      w.p += m;
    }
  } else {
    compact(h);
    wb_varint(&w, h->nsparse);
    uint32_t prev = 0;
    for (uint32_t k = 0; k < h->nsparse; k++) {
      wb_varint(&w, h->sparse[k] - prev);
      prev = h->sparse[k];
    }
  }
  if (w.err)
    return VG_EFULL;
  *len = (size_t)(w.p - buf);
  return 0;
}

int vg_hll_decode(struct vg_hll *h, const uint8_t *buf, size_t len, size_t *used) {
  struct vg_rbuf r = {buf, buf + len, 0};
  if (rb_u8(&r) != VG_HLL_TAG || r.err)
    return VG_EDECODE;
  uint8_t version = rb_u8(&r);
  if (r.err)
    return VG_EDECODE;
  if (version != VG_HLL_VERSION)
    return VG_EVERSION;
  uint8_t p = rb_u8(&r), dense = rb_u8(&r);
  if (r.err || p < VG_HLL_P_MIN || p > VG_HLL_P_MAX || dense > 1)
    return VG_EDECODE;
  vg_hll_init(h, p);
  uint32_t m = 1u << p;
  unsigned maxrank = 64 - p + 1;
  if (dense) {
    if ((size_t)(r.end - r.p) < m)
      return VG_EDECODE;
    for (uint32_t i = 0; i < m; i++)
      if (r.p[i] > maxrank)
        return VG_EDECODE;
    h->regs = malloc(m);
    if (!h->regs)
      return -ENOMEM;
    memcpy(h->regs, r.p, m);
    r.p += m;
    h->dense = 1;
  } else {
    uint64_t n = rb_varint(&r);
    if (r.err || n > m)
      return VG_EDECODE;
    if (n) {
      h->sparse = malloc((size_t)n * sizeof *h->sparse);
      if (!h->sparse)
        return -ENOMEM;
      h->cap = (uint32_t)n;
    }
    uint64_t prev = 0;
    for (uint64_t k = 0; k < n; k++) {
      uint64_t d = rb_varint(&r);
      uint64_t e = prev + d;
      /* strictly increasing registers, ranks in 1..maxrank */
      if (r.err || d > UINT32_MAX || e > UINT32_MAX || (e >> 8) >= m || (e & 0xff) == 0 ||
          (e & 0xff) > maxrank || (k > 0 && (e >> 8) == (prev >> 8))) {
        vg_hll_release(h);
        return VG_EDECODE;
      }
      h->sparse[k] = (uint32_t)e;
      prev = e;
    }
    h->nsparse = h->sorted = (uint32_t)n;
  }
  *used = (size_t)(r.p - buf);
  return 0;
}
