/* Unit tests of the sealed segment codec: round trips for every codec with
 * and without sketches, awkward doubles, and corruption detection (every
 * single-bit flip and every truncation is refused with a message naming the
 * series and span; a foreign version is VG_EVERSION). */
#include <string.h>
#include <zlib.h>

#include "testutil.h"
#include "storetest.h"
#include "vigie/error.h"
#include "vigie/segment.h"

#define SERIES 4242
#define SPAN0  (20000LL * 86400) /* 2024-10-04 */

/* n base windows of one minute in the day span SPAN0, every other one
 * present, some with sketches. */
static struct vg_wentry *make_day(size_t n, int sketches, uint64_t seed) {
  struct vg_wentry *w = calloc(n, sizeof *w);
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  o.quantiles = sketches;
  o.distinct = sketches;
  uint64_t rng = seed;
  for (size_t i = 0; i < n; i++) {
    st_window(&w[i], SERIES, VG_RES_BASE, SPAN0 + (int64_t)i * 120, 60, 6, 20, &o, &rng);
    w[i].revision = (uint32_t)(i % 7 == 0);
  }
  return w;
}

static void free_windows(struct vg_wentry *w, size_t n) {
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&w[i].acc);
  free(w);
}

/* The segment of key holding p[0..n) with codec; *len its size. */
static uint8_t *encode(const struct vg_seg_key *key, const struct vg_wentry *const *p,
                       size_t n, unsigned codec, size_t *len) {
  uint8_t *buf;
  assert_int_equal(vg_seg_encode(key, p, n, codec, &buf, len), 0);
  return buf;
}

static void roundtrip_codec(unsigned codec, int sketches, size_t n) {
  struct vg_wentry *w = make_day(n, sketches, codec * 7 + (uint64_t)sketches);
  const struct vg_wentry **p = calloc(n ? n : 1, sizeof *p);
  for (size_t i = 0; i < n; i++)
    p[i] = &w[i];
  struct vg_seg_key key = {SERIES, VG_RES_BASE, SPAN0};
  size_t len;
  uint8_t *buf = encode(&key, p, n, codec, &len);
  struct vg_segment s;
  char err[256];
  assert_int_equal(vg_seg_decode(buf, len, &key, &s, err, sizeof err), 0);
  assert_int_equal(s.n, n);
  for (size_t i = 0; i < n; i++) {
    assert_true(st_same(&w[i], &s.w[i]));
    assert_true(s.w[i].final);
    assert_true(fabs(vg_stats_mean(&s.w[i].acc.st) - vg_stats_mean(&w[i].acc.st)) <=
                1e-12 * fabs(vg_stats_mean(&w[i].acc.st)));
  }
  vg_segment_release(&s);
  free(buf);
  free(p);
  free_windows(w, n);
}

static void roundtrip_all_codecs(void **state) {
  (void)state;
  for (unsigned codec = 0; codec < 4; codec++) {
    roundtrip_codec(codec, 0, 720);
    roundtrip_codec(codec, 1, 100);
    roundtrip_codec(codec, 0, 1);
    roundtrip_codec(codec, 0, 0);
  }
}

/* Doubles that are not decimals, negative zero, huge and tiny magnitudes,
 * an empty window, local days of 23 and 25 hours. */
static void roundtrip_awkward_values(void **state) {
  (void)state;
  const double vals[] = {-0.0,          1e300, -1e-300, 4.9e-324,  0.1 + 0.2,
                         123456789.123, -7,    3.14159, 1e15 + 0.5};
  size_t n = sizeof vals / sizeof vals[0];
  struct vg_wentry w[16];
  const struct vg_wentry *p[16];
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  int64_t t = SPAN0 * 0 + 360LL * 86400 * 60; /* a day span */
  for (size_t i = 0; i < n; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].series = SERIES;
    w[i].res = VG_RES_DAY;
    w[i].start = t;
    w[i].end = t + (i % 3 == 0 ? 23 : i % 3 == 1 ? 25 : 24) * 3600;
    t = w[i].end;
    vg_acc_init(&w[i].acc);
    if (i == 4)
      continue; /* empty */
    vg_acc_add(&w[i].acc, &o, w[i].start * 1000000000LL - 5, vals[i], 0, 0);
    vg_acc_add(&w[i].acc, &o, w[i].start * 1000000000LL + 7, vals[(i + 1) % n], 0, 0);
    p[i] = &w[i];
  }
  for (size_t i = 0; i < n; i++)
    p[i] = &w[i];
  struct vg_seg_key key = {SERIES, VG_RES_DAY, vg_seg_span(VG_RES_DAY, w[0].start)};
  assert_int_equal(key.span_start, w[0].start);
  for (unsigned codec = 0; codec < 4; codec++) {
    size_t len;
    uint8_t *buf = encode(&key, p, n, codec, &len);
    struct vg_segment s;
    char err[256];
    int rc = vg_seg_decode(buf, len, &key, &s, err, sizeof err);
    if (rc)
      print_message("codec %u: %s\n", codec, err);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < n; i++) {
      assert_true(st_same(&w[i], &s.w[i]));
      if (s.w[i].acc.st.count)
        assert_memory_equal(&s.w[i].acc.st.min, &w[i].acc.st.min, 8); /* -0.0 kept */
    }
    vg_segment_release(&s);
    free(buf);
  }
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&w[i].acc);
}

/* The segment of n daily windows of one reading each, v0, v0 + 2, ...,
 * with codec VG_SEG_DELTA: its size, after checking it reads back. */
static size_t integer_column_bytes(double v0, size_t n) {
  struct vg_wentry w[64];
  const struct vg_wentry *p[64];
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  int64_t t = 360LL * 86400 * 60;
  for (size_t i = 0; i < n; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].series = SERIES;
    w[i].res = VG_RES_DAY;
    w[i].start = t + (int64_t)i * 86400;
    w[i].end = w[i].start + 86400;
    vg_acc_init(&w[i].acc);
    vg_acc_add(&w[i].acc, &o, w[i].start * 1000000000LL, v0 + 2.0 * (double)i, 0, 0);
    p[i] = &w[i];
  }
  struct vg_seg_key key = {SERIES, VG_RES_DAY, vg_seg_span(VG_RES_DAY, w[0].start)};
  size_t len;
  uint8_t *buf = encode(&key, p, n, VG_SEG_DELTA, &len);
  struct vg_segment s;
  char err[256];
  assert_int_equal(vg_seg_decode(buf, len, &key, &s, err, sizeof err), 0);
  for (size_t i = 0; i < n; i++)
    assert_true(st_same(&w[i], &s.w[i]));
  vg_segment_release(&s);
  free(buf);
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&w[i].acc);
  return len;
}

/* Whole numbers between 2^52 and 2^53 are exact integers: odd ones take the
 * integer (delta) form as even ones do, not the XOR fallback. A rounding of
 * x + 0.5 there would round a tie to even, miss every odd value and store
 * the column in the XOR form. */
static void large_integers_stay_integers(void **state) {
  (void)state;
  double big = 4503599627370496.0; /* 2^52 */
  size_t odd = integer_column_bytes(big + 1, 64),
         even = integer_column_bytes(big + 2, 64);
  assert_int_equal(odd, even);
  assert_true(integer_column_bytes(-(big + 1), 64) ==
              integer_column_bytes(-(big + 2), 64));
}

static void fix_crc(uint8_t *buf, size_t len) {
  memset(buf + VG_SEG_HEADER_SIZE - 4, 0, 4);
  uLong c = crc32(0L, buf, (uInt)len);
  for (int i = 0; i < 4; i++)
    buf[VG_SEG_HEADER_SIZE - 4 + i] = (uint8_t)(c >> (8 * i));
}

static void corruption_is_detected(void **state) {
  (void)state;
  size_t n = 50;
  struct vg_wentry *w = make_day(n, 1, 99);
  const struct vg_wentry *p[50];
  for (size_t i = 0; i < n; i++)
    p[i] = &w[i];
  struct vg_seg_key key = {SERIES, VG_RES_BASE, SPAN0};
  for (unsigned codec = 0; codec < 4; codec++) {
    size_t len;
    uint8_t *buf = encode(&key, p, n, codec, &len);
    struct vg_segment s;
    char err[256];
    size_t step = len > 4000 ? 7 : 1; /* bit flips at (nearly) every byte */
    for (size_t i = 0; i < len; i += step) {
      buf[i] ^= (uint8_t)(1u << (i % 8));
      int rc = vg_seg_decode(buf, len, &key, &s, err, sizeof err);
      assert_true(rc == VG_ECORRUPT || rc == VG_EVERSION);
      assert_non_null(strstr(err, "series 4242"));
      assert_non_null(strstr(err, "2024-10-04T00:00:00Z"));
      assert_null(s.w);
      buf[i] ^= (uint8_t)(1u << (i % 8));
    }
    for (size_t l = 0; l < len; l++)
      assert_int_equal(vg_seg_decode(buf, l, &key, &s, err, sizeof err), VG_ECORRUPT);
    /* a valid checksum over a foreign version or codec */
    buf[1] = 2;
    fix_crc(buf, len);
    assert_int_equal(vg_seg_decode(buf, len, &key, &s, err, sizeof err), VG_EVERSION);
    assert_non_null(strstr(err, "unknown format version"));
    buf[1] = VG_SEG_VERSION;
    buf[2] = 0x80;
    fix_crc(buf, len);
    assert_int_equal(vg_seg_decode(buf, len, &key, &s, err, sizeof err), VG_EVERSION);
    buf[2] = (uint8_t)codec;
    fix_crc(buf, len);
    assert_int_equal(vg_seg_decode(buf, len, &key, &s, err, sizeof err), 0);
    vg_segment_release(&s);
    /* a segment stored under another key */
    struct vg_seg_key other = {SERIES + 1, VG_RES_BASE, SPAN0};
    assert_int_equal(vg_seg_decode(buf, len, &other, &s, err, sizeof err), VG_ECORRUPT);
    assert_non_null(strstr(err, "another series"));
    free(buf);
  }
  free_windows(w, n);
}

static void spans(void **state) {
  (void)state;
  assert_int_equal(vg_seg_span(VG_RES_BASE, 86399), 0);
  assert_int_equal(vg_seg_span(VG_RES_BASE, 86400), 86400);
  assert_int_equal(vg_seg_span(VG_RES_BASE, -1), -86400);
  assert_int_equal(vg_seg_span(VG_RES_HOUR, 31 * 86400), 30 * 86400);
  assert_int_equal(vg_seg_span_len(7), 0);
}

int vg_test_store_segment(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(roundtrip_all_codecs),
      cmocka_unit_test(roundtrip_awkward_values),
      cmocka_unit_test(large_integers_stay_integers),
      cmocka_unit_test(corruption_is_detected),
      cmocka_unit_test(spans),
  };
  return cmocka_run_group_tests_name("store_segment", tests, NULL, NULL);
}
