/*
 * Relative-error quantile sketch (include/vigie/ddsketch.h).
 *
 * Each store is one contiguous array of bucket counts from `offset`; it grows
 * in either direction as values arrive and never spans more than max_bins
 * buckets: `floor`, the lowest index kept, is always (highest index seen -
 * max_bins + 1), and what falls below it is folded into it. Since the floor
 * depends only on the highest index seen, merging and whole-stream
 * accumulation fold the same way, which keeps merges exact.
 *
 * Bucket counters are 2, 4 or 8 bytes wide, chosen from the sketch's total
 * count (no bucket can exceed it): most windows hold fewer than 65 536
 * values, so their buckets take 2 bytes, which keeps the sketches of many
 * open windows in cache. A store widens (never narrows) before an operation
 * could overflow it.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/ddsketch.h"
#include "vigie/error.h"
#include "common/bytes.h"

static void store_init(struct vg_ddstore *s) {
  *s = (struct vg_ddstore){.floor = INT32_MIN, .hi = INT32_MIN, .wshift = 1};
}

static inline uint64_t bget(const struct vg_ddstore *s, uint32_t k) {
  switch (s->wshift) {
  case 1: return ((const uint16_t *)s->bins)[k];
  case 2: return ((const uint32_t *)s->bins)[k];
  default: return ((const uint64_t *)s->bins)[k];
  }
}

/* v must fit the store's width (widen first). */
static inline void bset(struct vg_ddstore *s, uint32_t k, uint64_t v) {
  switch (s->wshift) {
  case 1: ((uint16_t *)s->bins)[k] = (uint16_t)v; break;
  case 2: ((uint32_t *)s->bins)[k] = (uint32_t)v; break;
  default: ((uint64_t *)s->bins)[k] = v; break;
  }
}

static inline uint8_t shift_for(uint64_t bound) {
  return bound <= UINT16_MAX ? 1 : bound <= UINT32_MAX ? 2 : 3;
}

static inline uint64_t width_max(uint8_t wshift) {
  return wshift == 1 ? UINT16_MAX : wshift == 2 ? UINT32_MAX : UINT64_MAX;
}

/* Converts the counters to 1 << ws bytes (values must fit). No change on
 * -ENOMEM. */
static int rewidth(struct vg_ddstore *s, uint8_t ws) {
  if (ws == s->wshift)
    return 0;
  if (s->cap) {
    void *b = malloc((size_t)s->cap << ws);
    if (!b)
      return -ENOMEM;
    struct vg_ddstore t = *s;
    t.bins = b;
    t.wshift = ws;
    for (uint32_t k = 0; k < s->len; k++)
      bset(&t, k, bget(s, k));
    free(s->bins);
    s->bins = b;
  }
  s->wshift = ws;
  return 0;
}

/* Makes every counter able to hold `bound`. No change on -ENOMEM. */
static int widen(struct vg_ddstore *s, uint64_t bound) {
  uint8_t ws = shift_for(bound);
  return ws > s->wshift ? rewidth(s, ws) : 0;
}

static int store_reserve(struct vg_ddstore *s, uint32_t need) {
  if (need <= s->cap)
    return 0;
  /* grow by half (not double): buckets are most of a sketch's memory */
  uint32_t cap = s->cap + s->cap / 2;
  if (cap < need)
    cap = need;
  cap = (cap + 7) & ~7u;
  void *b = realloc(s->bins, (size_t)cap << s->wshift);
  if (!b)
    return -ENOMEM;
  s->bins = b;
  s->cap = cap;
  return 0;
}

static inline void bmove(struct vg_ddstore *s, uint32_t to, uint32_t from, uint32_t n) {
  memmove((char *)s->bins + ((size_t)to << s->wshift),
          (char *)s->bins + ((size_t)from << s->wshift), (size_t)n << s->wshift);
}

static inline void bzero_range(struct vg_ddstore *s, uint32_t at, uint32_t n) {
  memset((char *)s->bins + ((size_t)at << s->wshift), 0, (size_t)n << s->wshift);
}

/* Adds n to bucket i, folding what falls below the floor. `bound` is the
 * sketch's count after the operation: no counter can exceed it. On -ENOMEM
 * the store's contents are unchanged. */
static int store_add(struct vg_ddstore *s, uint32_t max_bins, int32_t i, uint64_t n,
                     uint64_t bound) {
  int32_t nh = i > s->hi ? i : s->hi;
  int32_t nf = (int32_t)((int64_t)nh - max_bins + 1);
  int32_t j = i < nf ? nf : i;
  /* the range after folding and inserting, to allocate before mutating */
  int64_t lo = j, top = j;
  if (s->len) {
    int64_t last = (int64_t)s->offset + s->len - 1;
    int64_t bottom = s->offset > nf ? s->offset : nf;
    if (last < nf)
      last = nf;
    lo = bottom < j ? bottom : j;
    top = last > j ? last : j;
  }
  uint32_t need = (uint32_t)(top - lo + 1);
  if (widen(s, bound) < 0 || store_reserve(s, need) < 0)
    return -ENOMEM;
  s->hi = nh;
  s->floor = nf;
  if (s->len && s->offset < nf) { /* fold buckets below the new floor */
    uint32_t k = (uint32_t)((int64_t)nf - s->offset);
    uint64_t moved = 0;
    uint32_t kk = k < s->len ? k : s->len;
    for (uint32_t x = 0; x < kk; x++)
      moved += bget(s, x);
    if (k >= s->len) {
      s->len = 1;
      bset(s, 0, moved);
    } else {
      bmove(s, 0, k, s->len - k);
      s->len -= k;
      bset(s, 0, bget(s, 0) + moved);
    }
    s->offset = nf;
  }
  if (s->len == 0) {
    s->offset = j;
    s->len = 1;
    bset(s, 0, 0);
  } else if (j < s->offset) {
    uint32_t shift = (uint32_t)(s->offset - j);
    bmove(s, shift, 0, s->len);
    bzero_range(s, 0, shift);
    s->offset = j;
    s->len += shift;
  } else if ((int64_t)j >= (int64_t)s->offset + s->len) {
    uint32_t nl = (uint32_t)(j - s->offset + 1);
    bzero_range(s, s->len, nl - s->len);
    s->len = nl;
  }
  uint32_t at = (uint32_t)(j - s->offset);
  bset(s, at, bget(s, at) + n);
  return 0;
}

void vg_ddsketch_init(struct vg_ddsketch *sk, double alpha, uint32_t max_bins) {
  assert(alpha > 0 && alpha < 1);
  assert(max_bins >= 16 && max_bins <= VG_DDSKETCH_MAX_BINS_LIMIT);
  sk->alpha = alpha;
  sk->gamma = (1 + alpha) / (1 - alpha);
  sk->inv_log_gamma = 1 / log(sk->gamma);
  sk->max_bins = max_bins;
  sk->count = 0;
  sk->zero_count = 0;
  store_init(&sk->pos);
  store_init(&sk->neg);
}

void vg_ddsketch_release(struct vg_ddsketch *sk) {
  free(sk->pos.bins);
  free(sk->neg.bins);
  store_init(&sk->pos);
  store_init(&sk->neg);
  sk->count = sk->zero_count = 0;
}

struct vg_ddsketch *vg_ddsketch_new(double alpha, uint32_t max_bins) {
  struct vg_ddsketch *sk = malloc(sizeof *sk);
  if (sk)
    vg_ddsketch_init(sk, alpha, max_bins);
  return sk;
}

void vg_ddsketch_free(struct vg_ddsketch *sk) {
  if (!sk)
    return;
  vg_ddsketch_release(sk);
  free(sk);
}

int32_t vg_ddsketch_index(const struct vg_ddsketch *sk, double absx) {
  return (int32_t)ceil(log(absx) * sk->inv_log_gamma);
}

/* The common case: the bucket is inside the current range and not above
 * the highest index, so neither the floor nor the range moves. */
static inline int store_add_fast(struct vg_ddstore *s, int32_t i, uint64_t count) {
  if (i < s->offset || i > s->hi || (uint32_t)(i - s->offset) >= s->len ||
      count >= width_max(s->wshift))
    return 0;
  uint32_t k = (uint32_t)(i - s->offset);
  if (s->wshift == 1)
    ((uint16_t *)s->bins)[k]++;
  else
    bset(s, k, bget(s, k) + 1);
  return 1;
}

int vg_ddsketch_add(struct vg_ddsketch *sk, double x) {
  assert(isfinite(x));
  if (x >= VG_DDSKETCH_MIN) {
    int32_t i = vg_ddsketch_index(sk, x);
    if (store_add_fast(&sk->pos, i, sk->count)) {
      sk->count++;
      return 0;
    }
    int rc = store_add(&sk->pos, sk->max_bins, i, 1, sk->count + 1);
    sk->count += rc == 0;
    return rc;
  }
  int rc = 0;
  if (x >= VG_DDSKETCH_MIN)
    rc = store_add(&sk->pos, sk->max_bins, vg_ddsketch_index(sk, x), 1, sk->count + 1);
  else if (x <= -VG_DDSKETCH_MIN)
    rc = store_add(&sk->neg, sk->max_bins, vg_ddsketch_index(sk, -x), 1, sk->count + 1);
  else
    sk->zero_count++;
  if (rc == 0)
    sk->count++;
  return rc;
}

/* Merges src into d; bound is the merged sketch's count. On -ENOMEM d holds
 * a partial merge. */
static int store_merge(struct vg_ddstore *d, uint32_t max_bins,
                       const struct vg_ddstore *s, uint64_t bound) {
  if (s->len == 0)
    return 0;
  int32_t top = s->offset + (int32_t)s->len - 1;
  /* the top bucket first, so the floor is final before the rest arrives */
  int rc = store_add(d, max_bins, top, bget(s, s->len - 1), bound);
  if (rc)
    return rc;
  uint32_t k = 0;
  if (s->offset < d->offset) { /* below d's range: folds or extends it */
    for (; k + 1 < s->len && s->offset + (int32_t)k < d->offset; k++) {
      uint64_t c = bget(s, k);
      if (!c)
        continue;
      rc = store_add(d, max_bins, s->offset + (int32_t)k, c, bound);
      if (rc)
        return rc;
    }
  }
  /* the rest lies inside d's range [offset, top]: plain additions */
  for (; k + 1 < s->len; k++) {
    uint32_t at = (uint32_t)(s->offset + (int32_t)k - d->offset);
    bset(d, at, bget(d, at) + bget(s, k));
  }
  return 0;
}

int vg_ddsketch_merge(struct vg_ddsketch *dst, const struct vg_ddsketch *src) {
  assert(dst->alpha == src->alpha && dst->max_bins == src->max_bins);
  uint64_t bound = dst->count + src->count;
  int rc = store_merge(&dst->pos, dst->max_bins, &src->pos, bound);
  if (rc == 0)
    rc = store_merge(&dst->neg, dst->max_bins, &src->neg, bound);
  if (rc)
    return rc;
  dst->zero_count += src->zero_count;
  dst->count += src->count;
  return 0;
}

static double bucket_value(const struct vg_ddsketch *sk, int32_t i) {
  return 2 * pow(sk->gamma, i) / (sk->gamma + 1);
}

double vg_ddsketch_quantile(const struct vg_ddsketch *sk, double q) {
  if (sk->count == 0)
    return NAN;
  if (q < 0)
    q = 0;
  if (q > 1)
    q = 1;
  uint64_t rank = (uint64_t)floor(q * (double)(sk->count - 1));
  uint64_t cum = 0;
  const struct vg_ddstore *n = &sk->neg, *p = &sk->pos;
  for (uint32_t k = n->len; k-- > 0;) {
    cum += bget(n, k);
    if (cum > rank)
      return -bucket_value(sk, n->offset + (int32_t)k);
  }
  cum += sk->zero_count;
  if (cum > rank)
    return 0;
  for (uint32_t k = 0; k < p->len; k++) {
    cum += bget(p, k);
    if (cum > rank)
      return bucket_value(sk, p->offset + (int32_t)k);
  }
  /* rounding of q * (count - 1) cannot pass the end, but stay total */
  return p->len ? bucket_value(sk, p->offset + (int32_t)p->len - 1) : 0;
}

size_t vg_ddsketch_bytes(const struct vg_ddsketch *sk) {
  return sizeof *sk + ((size_t)sk->pos.cap << sk->pos.wshift) +
         ((size_t)sk->neg.cap << sk->neg.wshift);
}

/* The range [*first, *last) of non-zero buckets, as positions in bins. */
static void store_trim(const struct vg_ddstore *s, uint32_t *first, uint32_t *last) {
  uint32_t a = 0, b = s->len;
  while (a < b && bget(s, a) == 0)
    a++;
  while (b > a && bget(s, b - 1) == 0)
    b--;
  *first = a;
  *last = b;
}

static int store_equal(const struct vg_ddstore *a, const struct vg_ddstore *b) {
  uint32_t a0, a1, b0, b1;
  store_trim(a, &a0, &a1);
  store_trim(b, &b0, &b1);
  if (a1 - a0 != b1 - b0)
    return 0;
  if (a1 == a0)
    return 1;
  if (a->offset + (int32_t)a0 != b->offset + (int32_t)b0)
    return 0;
  for (uint32_t k = 0; k < a1 - a0; k++)
    if (bget(a, a0 + k) != bget(b, b0 + k))
      return 0;
  return 1;
}

int vg_ddsketch_equal(const struct vg_ddsketch *a, const struct vg_ddsketch *b) {
  return a->alpha == b->alpha && a->max_bins == b->max_bins && a->count == b->count &&
         a->zero_count == b->zero_count && store_equal(&a->pos, &b->pos) &&
         store_equal(&a->neg, &b->neg);
}

static size_t store_encoded_size(const struct vg_ddstore *s) {
  uint32_t a, b;
  store_trim(s, &a, &b);
  size_t n = varint_size(b - a);
  if (b > a) {
    n += varint_size(zigzag(s->offset + (int64_t)a));
    for (uint32_t k = a; k < b; k++)
      n += varint_size(bget(s, k));
  }
  return n;
}

size_t vg_ddsketch_encoded_size(const struct vg_ddsketch *sk) {
  return 2 + 8 + varint_size(sk->max_bins) + varint_size(sk->zero_count) +
         store_encoded_size(&sk->pos) + store_encoded_size(&sk->neg);
}

static void store_encode(struct vg_wbuf *w, const struct vg_ddstore *s) {
  uint32_t a, b;
  store_trim(s, &a, &b);
  wb_varint(w, b - a);
  if (b == a)
    return;
  wb_varint(w, zigzag(s->offset + (int64_t)a));
  for (uint32_t k = a; k < b; k++)
    wb_varint(w, bget(s, k));
}

int vg_ddsketch_encode(const struct vg_ddsketch *sk, uint8_t *buf, size_t cap,
                       size_t *len) {
  struct vg_wbuf w = {buf, buf + cap, 0};
  wb_u8(&w, VG_DDSKETCH_TAG);
  wb_u8(&w, VG_DDSKETCH_VERSION);
  wb_f64(&w, sk->alpha);
  wb_varint(&w, sk->max_bins);
  wb_varint(&w, sk->zero_count);
  store_encode(&w, &sk->pos);
  store_encode(&w, &sk->neg);
  if (w.err)
    return VG_EFULL;
  *len = (size_t)(w.p - buf);
  return 0;
}

/* Indices stay far from the int32 limits: |ln x| <= 745 for any double, so
 * |index| <= 745 / ln(gamma) < 2^22 for alpha >= 1e-4. */
#define INDEX_LIMIT (1 << 24)

static int store_decode(struct vg_rbuf *r, struct vg_ddstore *s, uint32_t max_bins,
                        uint64_t *total) {
  uint64_t n = rb_varint(r);
  if (r->err || n > max_bins)
    return VG_EDECODE;
  if (n == 0)
    return 0;
  int64_t off = unzigzag(rb_varint(r));
  /* bounds first: off + n must not overflow (found by fuzzing) */
  if (r->err || off < -INDEX_LIMIT || off > INDEX_LIMIT ||
      off + (int64_t)n - 1 > INDEX_LIMIT)
    return VG_EDECODE;
  s->wshift = 3; /* 8-byte counters until the total is known */
  if (store_reserve(s, (uint32_t)n) < 0)
    return -ENOMEM;
  for (uint64_t k = 0; k < n; k++) {
    uint64_t c = rb_varint(r);
    if (r->err || c > UINT64_MAX - *total)
      return VG_EDECODE;
    bset(s, (uint32_t)k, c);
    *total += c;
  }
  if (bget(s, 0) == 0 || bget(s, (uint32_t)n - 1) == 0) /* canonical: trimmed */
    return VG_EDECODE;
  s->offset = (int32_t)off;
  s->len = (uint32_t)n;
  s->hi = (int32_t)(off + (int64_t)n - 1);
  s->floor = (int32_t)((int64_t)s->hi - max_bins + 1);
  return 0;
}

int vg_ddsketch_decode(struct vg_ddsketch *sk, const uint8_t *buf, size_t len,
                       size_t *used) {
  struct vg_rbuf r = {buf, buf + len, 0};
  if (rb_u8(&r) != VG_DDSKETCH_TAG || r.err)
    return VG_EDECODE;
  uint8_t version = rb_u8(&r);
  if (r.err)
    return VG_EDECODE;
  if (version != VG_DDSKETCH_VERSION)
    return VG_EVERSION;
  double alpha = rb_f64(&r);
  uint64_t max_bins = rb_varint(&r);
  uint64_t zero = rb_varint(&r);
  if (r.err || !(alpha >= 1e-4 && alpha <= 0.5) || max_bins < 16 ||
      max_bins > VG_DDSKETCH_MAX_BINS_LIMIT)
    return VG_EDECODE;
  vg_ddsketch_init(sk, alpha, (uint32_t)max_bins);
  uint64_t total = zero;
  int rc = store_decode(&r, &sk->pos, sk->max_bins, &total);
  if (rc == 0)
    rc = store_decode(&r, &sk->neg, sk->max_bins, &total);
  if (rc == 0 && r.err)
    rc = VG_EDECODE;
  if (rc == 0) /* the width every other path would have chosen */
    rc = rewidth(&sk->pos, shift_for(total));
  if (rc == 0)
    rc = rewidth(&sk->neg, shift_for(total));
  if (rc) {
    vg_ddsketch_release(sk);
    return rc;
  }
  sk->zero_count = zero;
  sk->count = total;
  *used = (size_t)(r.p - buf);
  return 0;
}
