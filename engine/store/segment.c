/*
 * Sealed columnar segments (include/vigie/segment.h): the encoder that turns
 * the windows of one series over one span into columns -- delta and
 * delta-of-delta varints for times and counts, exact-decimal or XOR coding
 * for doubles -- optionally packed in one zstd frame, framed by a versioned
 * header and a CRC-32; and the decoder that checks all of it before it hands
 * a single window back, so a damaged segment is reported, never misread.
 *
 * Why zlib's crc32 for the checksum: it covers the header and the stored
 * bytes whatever the codec (zstd's frame checksum only covers compressed
 * frames and not our header), it is in every Debian install (zlib1g), and
 * its speed (several GB/s) is far above what a range read needs.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/segment.h"
#include "common/bytes.h"
#include "store/store_internal.h"

#define ZSTD_LEVEL 3
#define NS_PER_S   1000000000ULL

static const double p10[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* zstd contexts, one of each per thread and kept: creating one per
 * segment cost more than compressing it. Freed when the thread exits. */
static pthread_key_t cctx_key, dctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void free_cctx(void *p) {
  ZSTD_freeCCtx(p);
}

static void free_dctx(void *p) {
  ZSTD_freeDCtx(p);
}

static void make_keys(void) {
  pthread_key_create(&cctx_key, free_cctx);
  pthread_key_create(&dctx_key, free_dctx);
}

static ZSTD_CCtx *thread_cctx(void) {
  pthread_once(&ctx_once, make_keys);
  ZSTD_CCtx *c = pthread_getspecific(cctx_key);
  if (c)
    return c;
  c = ZSTD_createCCtx();
  if (c && pthread_setspecific(cctx_key, c)) {
    ZSTD_freeCCtx(c);
    c = NULL;
  }
  return c;
}

static ZSTD_DCtx *thread_dctx(void) {
  pthread_once(&ctx_once, make_keys);
  ZSTD_DCtx *d = pthread_getspecific(dctx_key);
  if (d)
    return d;
  d = ZSTD_createDCtx();
  if (d && pthread_setspecific(dctx_key, d)) {
    ZSTD_freeDCtx(d);
    d = NULL;
  }
  return d;
}

int64_t vg_seg_span_len(uint8_t res) {
  switch (res) {
  case VG_RES_BASE: return 86400;
  case VG_RES_HOUR: return 30 * 86400;
  case VG_RES_DAY: return 360 * 86400;
  default: return 0;
  }
}

int64_t vg_seg_span(uint8_t res, int64_t start_s) {
  int64_t len = vg_seg_span_len(res);
  assert(len > 0);
  /* far beyond any real time; keeps q * len representable */
  if (start_s > VG_SEG_TIME_MAX)
    start_s = VG_SEG_TIME_MAX;
  if (start_s < -VG_SEG_TIME_MAX)
    start_s = -VG_SEG_TIME_MAX;
  int64_t q = start_s / len;
  if (start_s % len < 0)
    q--;
  return q * len;
}

void vg_segment_release(struct vg_segment *s) {
  for (size_t i = 0; s->w && i < s->n; i++)
    vg_acc_release(&s->w[i].acc);
  free(s->w);
  s->w = NULL;
  s->n = 0;
}

static uint64_t f64_bits(double d) {
  uint64_t v;
  memcpy(&v, &d, 8);
  return v;
}

static double bits_f64(uint64_t v) {
  double d;
  memcpy(&d, &v, 8);
  return d;
}

/* Integer column value: a delta (wrapping, so any int64 round-trips) or 8
 * fixed bytes. */
static void put_int(struct vg_sbuf *b, int delta, int64_t v, int64_t *prev) {
  if (delta)
    sbuf_svarint(b, (int64_t)((uint64_t)v - (uint64_t)*prev));
  else
    sbuf_u64le(b, (uint64_t)v);
  *prev = v;
}

static int64_t get_int(struct vg_rbuf *r, int delta, int64_t *prev) {
  int64_t v =
      delta ? (int64_t)((uint64_t)*prev + (uint64_t)rb_svarint(r)) : (int64_t)rb_u64le(r);
  *prev = v;
  return v;
}

/* x (|x| < 2^53) rounded to an integer, inline: llround is a libm call
 * per value, and a day segment of a sensor encodes tens of thousands. From
 * 2^52 up every double is an integer already (and x + 0.5 would round to
 * even); below, which way a tie goes does not matter: every value is
 * checked to come back exactly (decimal_scale). */
static inline int64_t round_i64(double x) {
  if (fabs(x) >= 0x1p52)
    return (int64_t)x;
  return (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
}

/* The smallest k <= 9 for which every value is exactly m / 10^k with
 * |m| < 2^53, or -1. */
static int decimal_scale(const double *v, size_t m) {
  for (int k = 0; k < 10; k++) {
    size_t i;
    for (i = 0; i < m; i++) {
      double x = v[i] * p10[k];
      if (!(fabs(x) < 9007199254740992.0))
        break;
      int64_t q = round_i64(x);
      if (f64_bits((double)q / p10[k]) != f64_bits(v[i]))
        break;
    }
    if (i == m)
      return k;
  }
  return -1;
}

static void put_f64_col(struct vg_sbuf *b, int delta, const double *v, size_t m) {
  if (!delta) {
    for (size_t i = 0; i < m; i++)
      sbuf_u64le(b, f64_bits(v[i]));
    return;
  }
  int k = decimal_scale(v, m);
  if (k >= 0) {
    sbuf_u8(b, (uint8_t)(1 + k));
    int64_t prev = 0;
    for (size_t i = 0; i < m; i++)
      put_int(b, 1, round_i64(v[i] * p10[k]), &prev);
    return;
  }
  sbuf_u8(b, 0);
  uint64_t prev = 0;
  for (size_t i = 0; i < m; i++) {
    uint64_t bits = f64_bits(v[i]);
    uint64_t x = bits ^ prev;
    prev = bits;
    if (x == 0) {
      sbuf_u8(b, 0x80);
      continue;
    }
    int lz = __builtin_clzll(x) / 8, tz = __builtin_ctzll(x) / 8;
    sbuf_u8(b, (uint8_t)(lz << 4 | tz));
    for (int j = tz; j < 8 - lz; j++)
      sbuf_u8(b, (uint8_t)(x >> (8 * j)));
  }
}

static void get_f64_col(struct vg_rbuf *r, int delta, double *v, size_t m) {
  if (!delta) {
    for (size_t i = 0; i < m; i++)
      v[i] = bits_f64(rb_u64le(r));
    return;
  }
  uint8_t mode = rb_u8(r);
  if (mode > 10) {
    r->err = 1;
    return;
  }
  if (mode > 0) {
    int64_t prev = 0;
    for (size_t i = 0; i < m && !r->err; i++)
      v[i] = (double)get_int(r, 1, &prev) / p10[mode - 1];
    return;
  }
  uint64_t prev = 0;
  for (size_t i = 0; i < m && !r->err; i++) {
    uint8_t c = rb_u8(r);
    int lz = c >> 4, tz = c & 15;
    uint64_t x = 0;
    if (c != 0x80) {
      if (lz + tz >= 8) {
        r->err = 1;
        return;
      }
      for (int j = tz; j < 8 - lz; j++)
        x |= (uint64_t)rb_u8(r) << (8 * j);
    }
    prev ^= x;
    v[i] = bits_f64(prev);
  }
}

static void put_sketches(struct vg_sbuf *b, const struct vg_acc *a) {
  if (!a->qs && !a->hll) {
    sbuf_varint(b, 0);
    return;
  }
  size_t dn = a->qs ? vg_ddsketch_encoded_size(a->qs) : 0;
  size_t hn = a->hll ? vg_hll_encoded_size(a->hll) : 0;
  sbuf_varint(b, 1 + dn + hn);
  sbuf_u8(b, (uint8_t)((a->qs ? 1 : 0) | (a->hll ? 2 : 0)));
  if (sbuf_reserve(b, dn + hn))
    return;
  size_t used = 0;
  if (a->qs) {
    if (vg_ddsketch_encode(a->qs, b->p + b->len, dn, &used) != 0 || used != dn) {
      b->err = 1;
      return;
    }
    b->len += used;
  }
  if (a->hll) {
    if (vg_hll_encode(a->hll, b->p + b->len, hn, &used) != 0 || used != hn) {
      b->err = 1;
      return;
    }
    b->len += used;
  }
}

/* The columns of n windows into b. */
static void put_columns(struct vg_sbuf *b, const struct vg_seg_key *key,
                        const struct vg_wentry *const *w, size_t n, int d, double *tmp) {
  int64_t prev, pd = 0, ps = key->span_start;
  for (size_t i = 0; i < n; i++) {
    if (d) {
      int64_t delta = w[i]->start - ps;
      sbuf_svarint(b, delta - pd);
      pd = delta;
      ps = w[i]->start;
    } else {
      sbuf_u64le(b, (uint64_t)w[i]->start);
    }
  }
  prev = 0;
  for (size_t i = 0; i < n; i++)
    put_int(b, d, w[i]->end - w[i]->start, &prev);
  for (size_t i = 0; i < n; i++) {
    if (d)
      sbuf_varint(b, w[i]->revision);
    else
      sbuf_u64le(b, w[i]->revision);
  }
  prev = 0;
  for (size_t i = 0; i < n; i++)
    put_int(b, d, (int64_t)w[i]->acc.st.count, &prev);
  /* the rest only for non-empty windows */
  size_t m = 0;
  int64_t pf = 0, pl = 0;
  for (size_t i = 0; i < n; i++)
    if (w[i]->acc.st.count)
      put_int(
          b, d,
          (int64_t)((uint64_t)w[i]->acc.fl.first_t - (uint64_t)w[i]->start * NS_PER_S),
          &pf);
  for (size_t i = 0; i < n; i++)
    if (w[i]->acc.st.count)
      put_int(b, d,
              (int64_t)((uint64_t)w[i]->acc.fl.last_t - (uint64_t)w[i]->start * NS_PER_S),
              &pl);
  for (int col = 0; col < 6; col++) {
    m = 0;
    for (size_t i = 0; i < n; i++) {
      const struct vg_acc *a = &w[i]->acc;
      if (!a->st.count)
        continue;
      double v = col == 0   ? vg_stats_sum(&a->st)
                 : col == 1 ? a->st.min
                 : col == 2 ? a->st.max
                 : col == 3 ? vg_stats_m2(&a->st)
                 : col == 4 ? a->fl.first_v
                            : a->fl.last_v;
      tmp[m++] = v;
    }
    put_f64_col(b, d, tmp, m);
  }
  for (size_t i = 0; i < n; i++)
    put_sketches(b, &w[i]->acc);
}

int vg_seg_encode(const struct vg_seg_key *key, const struct vg_wentry *const *w,
                  size_t n, unsigned codec, uint8_t **out, size_t *len) {
  int rc = -ENOMEM;
  struct vg_sbuf cols = {0}, seg = {0};
  double *tmp = NULL;
  int64_t span_len = vg_seg_span_len(key->res);
  (void)span_len; /* read by the assertions only */
  assert(span_len > 0 && (codec & ~3u) == 0);
  for (size_t i = 0; i < n; i++) {
    assert(w[i]->start >= key->span_start && w[i]->start < key->span_start + span_len);
    assert(i == 0 || w[i]->start > w[i - 1]->start);
    assert(w[i]->end > w[i]->start);
  }
  if (n > VG_SEG_MAX_WINDOWS) {
    rc = VG_EFULL;
    goto fail;
  }
  tmp = malloc((n ? n : 1) * sizeof *tmp);
  /* room for the usual case up front: growing by doubling copied and
   * faulted in the buffer again and again */
  if (!tmp || sbuf_reserve(&cols, 64 + n * ((codec & VG_SEG_DELTA) ? 48 : 112)))
    goto fail;
  put_columns(&cols, key, w, n, (codec & VG_SEG_DELTA) != 0, tmp);
  if (cols.err)
    goto fail;
  if (cols.len > VG_SEG_MAX_RAW) {
    rc = VG_EFULL;
    goto fail;
  }
  size_t bound = (codec & VG_SEG_ZSTD) ? ZSTD_compressBound(cols.len) : cols.len;
  if (sbuf_reserve(&seg, VG_SEG_HEADER_SIZE + bound))
    goto fail;
  sbuf_u8(&seg, VG_SEG_TAG);
  sbuf_u8(&seg, VG_SEG_VERSION);
  sbuf_u8(&seg, (uint8_t)codec);
  sbuf_u8(&seg, 0);
  sbuf_u64le(&seg, key->series);
  sbuf_u8(&seg, key->res);
  sbuf_u64le(&seg, (uint64_t)key->span_start);
  sbuf_u32le(&seg, (uint32_t)n);
  sbuf_u32le(&seg, (uint32_t)cols.len);
  size_t stored_at = seg.len;
  sbuf_u32le(&seg, 0); /* stored_len, below */
  sbuf_u32le(&seg, 0); /* crc, below */
  assert(seg.len == VG_SEG_HEADER_SIZE);
  size_t stored;
  if (codec & VG_SEG_ZSTD) {
    ZSTD_CCtx *cctx = thread_cctx();
    if (!cctx)
      goto fail;
    stored =
        ZSTD_compressCCtx(cctx, seg.p + seg.len, bound, cols.p, cols.len, ZSTD_LEVEL);
    if (ZSTD_isError(stored))
      goto fail;
  } else {
    if (cols.len)
      memcpy(seg.p + seg.len, cols.p, cols.len);
    stored = cols.len;
  }
  seg.len += stored;
  for (int i = 0; i < 4; i++)
    seg.p[stored_at + i] = (uint8_t)(stored >> (8 * i));
  uLong crc = crc32(0L, seg.p, (uInt)seg.len);
  for (int i = 0; i < 4; i++)
    seg.p[stored_at + 4 + i] = (uint8_t)(crc >> (8 * i));
  *out = seg.p;
  *len = seg.len;
  seg.p = NULL;
  rc = 0;
fail:
  free(seg.p);
  free(cols.p);
  free(tmp);
  return rc;
}

static int seg_error(int rc, const struct vg_seg_key *k, char *errstr, size_t size,
                     const char *what) {
  if (size) {
    char a[VG_FMT_ISO_MAX], b[VG_FMT_ISO_MAX];
    int64_t len = vg_seg_span_len(k->res);
    vg__store_when(k->span_start, a);
    int sane = k->span_start <= VG_SEG_TIME_MAX && k->span_start >= -VG_SEG_TIME_MAX;
    vg__store_when(sane ? k->span_start + len : k->span_start, b);
    snprintf(errstr, size,
             "%s segment of series %" PRIu64 " at resolution %s, span [%s, %s): %s",
             rc == VG_EVERSION ? "unsupported" : "corrupt", k->series,
             vg_res_name((enum vg_res)k->res), a, b, what);
  }
  return rc;
}

static int get_sketches(struct vg_rbuf *r, struct vg_acc *a, const char **why) {
  uint64_t len = rb_varint(r);
  if (r->err || len > (uint64_t)(r->end - r->p)) {
    *why = "truncated sketch column";
    return VG_ECORRUPT;
  }
  if (len == 0)
    return 0;
  const uint8_t *p = r->p, *end = r->p + len;
  r->p = end;
  uint8_t flags = *p++;
  if (flags == 0 || (flags & ~3)) {
    *why = "bad sketch flags";
    return VG_ECORRUPT;
  }
  size_t used;
  int rc;
  if (flags & 1) {
    struct vg_ddsketch *sk = malloc(sizeof *sk);
    if (!sk)
      return -ENOMEM;
    rc = vg_ddsketch_decode(sk, p, (size_t)(end - p), &used);
    if (rc) {
      free(sk);
      goto bad;
    }
    a->qs = sk;
    p += used;
  }
  if (flags & 2) {
    struct vg_hll *h = malloc(sizeof *h);
    if (!h)
      return -ENOMEM;
    rc = vg_hll_decode(h, p, (size_t)(end - p), &used);
    if (rc) {
      free(h);
      goto bad;
    }
    a->hll = h;
    p += used;
  }
  if (p != end) {
    *why = "trailing bytes in a sketch";
    return VG_ECORRUPT;
  }
  return 0;
bad:
  *why = rc == VG_EVERSION ? "sketch of an unknown version" : "malformed sketch";
  return rc == -ENOMEM ? rc : rc == VG_EVERSION ? VG_EVERSION : VG_ECORRUPT;
}

static int get_columns(struct vg_rbuf *r, struct vg_segment *s, int d, double *tmp,
                       const char **why) {
  size_t n = s->n;
  int64_t span_len = vg_seg_span_len(s->key.res), prev, pd = 0, ps = s->key.span_start;
  *why = "truncated or malformed columns";
  for (size_t i = 0; i < n; i++) {
    struct vg_wentry *e = &s->w[i];
    if (d) {
      int64_t delta = (int64_t)((uint64_t)pd + (uint64_t)rb_svarint(r));
      e->start = (int64_t)((uint64_t)ps + (uint64_t)delta);
      pd = delta;
      ps = e->start;
    } else {
      e->start = (int64_t)rb_u64le(r);
    }
    if (r->err)
      return VG_ECORRUPT;
    if (e->start < s->key.span_start ||
        (uint64_t)e->start - (uint64_t)s->key.span_start >= (uint64_t)span_len ||
        (i > 0 && e->start <= s->w[i - 1].start)) {
      *why = "window starts out of order or outside the span";
      return VG_ECORRUPT;
    }
  }
  prev = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t l = get_int(r, d, &prev);
    if (r->err)
      return VG_ECORRUPT;
    if (l <= 0 || l > 2 * 86400) {
      *why = "window length out of range";
      return VG_ECORRUPT;
    }
    s->w[i].end = s->w[i].start + l;
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t rev = d ? rb_varint(r) : rb_u64le(r);
    if (rev > UINT32_MAX) {
      *why = "revision out of range";
      return VG_ECORRUPT;
    }
    s->w[i].revision = (uint32_t)rev;
  }
  prev = 0;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t c = get_int(r, d, &prev);
    if (c < 0) {
      *why = "negative count";
      return VG_ECORRUPT;
    }
    if (c == 0)
      vg_acc_init(&s->w[i].acc);
    s->w[i].acc.st.count = (uint64_t)c;
    m += c > 0;
  }
  if (r->err)
    return VG_ECORRUPT;
  int64_t pf = 0, pl = 0;
  for (size_t i = 0; i < n; i++)
    if (s->w[i].acc.st.count)
      s->w[i].acc.fl.first_t =
          (int64_t)((uint64_t)get_int(r, d, &pf) + (uint64_t)s->w[i].start * NS_PER_S);
  for (size_t i = 0; i < n; i++)
    if (s->w[i].acc.st.count)
      s->w[i].acc.fl.last_t =
          (int64_t)((uint64_t)get_int(r, d, &pl) + (uint64_t)s->w[i].start * NS_PER_S);
  for (int col = 0; col < 6; col++) {
    get_f64_col(r, d, tmp, m);
    if (r->err)
      return VG_ECORRUPT;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
      struct vg_acc *a = &s->w[i].acc;
      if (!a->st.count)
        continue;
      double v = tmp[j++];
      /* a sum or M2 may overflow (even to NaN, inf - inf) from finite
       * inputs and is kept as the accumulator held it; values are finite */
      if (col != 0 && col != 3 && !isfinite(v)) {
        *why = "a value (min, max, first or last) is not finite";
        return VG_ECORRUPT;
      }
      switch (col) {
      case 0:
        a->st.sum = v;
        a->st.mean = v / (double)a->st.count;
        break;
      case 1: a->st.min = v; break;
      case 2: a->st.max = v; break;
      case 3: a->st.m2 = v; break;
      case 4: a->fl.first_v = v; break;
      default: a->fl.last_v = v;
      }
    }
  }
  for (size_t i = 0; i < n; i++) {
    const struct vg_acc *a = &s->w[i].acc;
    if (a->st.count && (a->st.min > a->st.max || a->fl.first_t > a->fl.last_t)) {
      *why = "inconsistent statistics (min > max or first after last)";
      return VG_ECORRUPT;
    }
  }
  for (size_t i = 0; i < n; i++) {
    int rc = get_sketches(r, &s->w[i].acc, why);
    if (rc)
      return rc;
    const struct vg_acc *a = &s->w[i].acc;
    if (a->qs && a->qs->count != a->st.count) {
      *why = "the quantile sketch does not hold the window's count";
      return VG_ECORRUPT;
    }
  }
  if (r->p != r->end) {
    *why = "trailing bytes after the columns";
    return VG_ECORRUPT;
  }
  return 0;
}

int vg_seg_decode(const uint8_t *buf, size_t len, const struct vg_seg_key *expect,
                  struct vg_segment *s, char *errstr, size_t errstr_size) {
  struct vg_seg_key k = expect ? *expect : (struct vg_seg_key){0};
  uint8_t *raw = NULL;
  double *tmp = NULL;
  const char *why = "truncated header";
  int rc = VG_ECORRUPT;
  *s = (struct vg_segment){0};
  if (len < VG_SEG_HEADER_SIZE)
    goto fail;
  struct vg_rbuf r = {buf, buf + len, 0};
  uint8_t tag = rb_u8(&r), version = rb_u8(&r), codec = rb_u8(&r), reserved = rb_u8(&r);
  struct vg_seg_key hk;
  hk.series = rb_u64le(&r);
  hk.res = rb_u8(&r);
  hk.span_start = (int64_t)rb_u64le(&r);
  uint32_t n = rb_u32le(&r), raw_len = rb_u32le(&r), stored_len = rb_u32le(&r),
           crc = rb_u32le(&r);
  if (!expect)
    k = hk;
  if (tag != VG_SEG_TAG) {
    why = "not a segment (bad tag)";
    goto fail;
  }
  uint8_t zero[4] = {0};
  uLong c = crc32(0L, buf, VG_SEG_HEADER_SIZE - 4);
  c = crc32(c, zero, 4);
  c = crc32(c, buf + VG_SEG_HEADER_SIZE, (uInt)(len - VG_SEG_HEADER_SIZE));
  if (stored_len != len - VG_SEG_HEADER_SIZE) {
    why = "length does not match the header";
    goto fail;
  }
  if ((uint32_t)c != crc) {
    why = "checksum mismatch";
    goto fail;
  }
  /* the checksum holds: what follows is what the encoder wrote, unless it
   * was a different version or the key is not the one asked for */
  if (version != VG_SEG_VERSION || (codec & ~3u) || reserved != 0) {
    rc = VG_EVERSION;
    why = version != VG_SEG_VERSION ? "unknown format version" : "unknown codec";
    goto fail;
  }
  if (vg_seg_span_len(hk.res) == 0 || hk.span_start > VG_SEG_TIME_MAX ||
      hk.span_start < -VG_SEG_TIME_MAX ||
      vg_seg_span(hk.res, hk.span_start) != hk.span_start) {
    why = "bad resolution or span in the header";
    goto fail;
  }
  if (expect && (hk.series != expect->series || hk.res != expect->res ||
                 hk.span_start != expect->span_start)) {
    why = "the header names another series or span";
    goto fail;
  }
  if (n > VG_SEG_MAX_WINDOWS || raw_len > VG_SEG_MAX_RAW || (size_t)n > raw_len) {
    why = "window count or column size out of range";
    goto fail;
  }
  const uint8_t *cols = buf + VG_SEG_HEADER_SIZE;
  if (codec & VG_SEG_ZSTD) {
    unsigned long long fs = ZSTD_getFrameContentSize(cols, stored_len);
    if (fs != raw_len) {
      why = "compressed frame does not match the header";
      goto fail;
    }
    raw = malloc(raw_len ? raw_len : 1);
    if (!raw) {
      rc = -ENOMEM;
      goto fail;
    }
    ZSTD_DCtx *dctx = thread_dctx();
    if (!dctx) {
      rc = -ENOMEM;
      goto fail;
    }
    size_t got = ZSTD_decompressDCtx(dctx, raw, raw_len, cols, stored_len);
    if (ZSTD_isError(got) || got != raw_len) {
      why = "compressed frame does not decompress";
      goto fail;
    }
    cols = raw;
  } else if (stored_len != raw_len) {
    why = "column size does not match the header";
    goto fail;
  }
  s->key = hk;
  s->n = n;
  s->w = calloc(n ? n : 1, sizeof *s->w);
  tmp = malloc((n ? n : 1) * sizeof *tmp);
  if (!s->w || !tmp) {
    rc = -ENOMEM;
    goto fail;
  }
  /* calloc zeroed the rest: a non-empty window gets every statistic from
   * the columns, an empty one is initialized when its count is read */
  for (size_t i = 0; i < n; i++) {
    struct vg_wentry *e = &s->w[i];
    e->series = hk.series;
    e->res = hk.res;
    e->final = 1;
  }
  r = (struct vg_rbuf){cols, cols + raw_len, 0};
  rc = get_columns(&r, s, (codec & VG_SEG_DELTA) != 0, tmp, &why);
  if (rc)
    goto fail;
  free(raw);
  free(tmp);
  return 0;
fail:
  if (rc == 0)
    rc = VG_ECORRUPT;
  vg_segment_release(s);
  free(raw);
  free(tmp);
  if (rc == -ENOMEM) {
    if (errstr_size)
      snprintf(errstr, errstr_size, "out of memory decoding a segment");
    return rc;
  }
  return seg_error(rc, &k, errstr, errstr_size, why);
}
