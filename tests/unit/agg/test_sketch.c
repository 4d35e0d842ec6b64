/* Tests of the quantile sketch (DDSketch-style) and the HyperLogLog: error
 * bounds on synthetic and real data, exact merges, bounded memory, the
 * sparse/dense switch and their encodings. */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "aggtest.h"
#include "vigie/ddsketch.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/hll.h"

/* Every percentile of v (n values) answered by a sketch within alpha
 * relative of the exact lower quantile. Sorts v. The guarantee holds for
 * magnitudes within max_bins buckets of the largest; the bound is chosen to
 * cover the data (uniform around 0 at alpha 0.1 % spans 12 700 buckets down
 * to VG_DDSKETCH_MIN). */
static void check_quantiles(double *v, size_t n, double alpha, uint32_t max_bins,
                            const char *what) {
  struct vg_ddsketch sk;
  vg_ddsketch_init(&sk, alpha, max_bins);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(vg_ddsketch_add(&sk, v[i]), 0);
  qsort(v, n, sizeof *v, cmp_double);
  double worst = 0;
  for (int pct = 0; pct <= 100; pct++) {
    double q = pct / 100.0;
    double exact = v[(size_t)floor(q * (double)(n - 1))];
    double est = vg_ddsketch_quantile(&sk, q);
    double err =
        fabs(exact) < VG_DDSKETCH_MIN ? fabs(est) : fabs(est - exact) / fabs(exact);
    if (err > worst)
      worst = err;
    if (err > alpha * (1 + 1e-9))
      fail_msg("%s: q=%.2f exact %.17g sketch %.17g (rel err %g)", what, q, exact, est,
               err);
  }
  print_message("%s: %zu values, worst relative error %.5f (bound %.3g), %zu bytes\n",
                what, n, worst, alpha, vg_ddsketch_bytes(&sk));
  vg_ddsketch_release(&sk);
}

static void ddsketch_error_bound_synthetic(void **state) {
  (void)state;
  struct rng r = {1};
  size_t n = 100000;
  double *v = malloc(n * sizeof *v);
  const double alphas[] = {0.01, 0.02, 0.001};
  for (int shape = 0; shape < 4; shape++) {
    for (size_t i = 0; i < n; i++) {
      double u = rng_unit(&r);
      switch (shape) {
      case 0: v[i] = u * 1000; break;
      case 1: v[i] = exp(u * 30 - 15); break;          /* 13 decades */
      case 2: v[i] = (u - 0.5) * 200; break;           /* negatives */
      default: v[i] = (i % 10 == 0) ? 0 : -exp(u * 5); /* zeros + negatives */
      }
    }
    check_quantiles(v, n, alphas[shape % 3], VG_DDSKETCH_MAX_BINS_LIMIT, "synthetic");
  }
  free(v);
}

static void ddsketch_error_bound_real_data(void **state) {
  (void)state;
  char path[4096];
  struct dvec d = {0};
  if (vg_test_shared_data(path, sizeof path, "aberdeen-sensorcommunity-pm/daily_files")) {
    load_aberdeen(&d, path, 6); /* P1 (PM10) */
    assert_true(d.n > 1000);
    check_quantiles(d.v, d.n, 0.01, VG_DDSKETCH_MAX_BINS, "aberdeen P1");
    d.n = 0;
    load_aberdeen(&d, path, 9); /* P2 (PM2.5) */
    assert_true(d.n > 1000);
    check_quantiles(d.v, d.n, 0.01, VG_DDSKETCH_MAX_BINS, "aberdeen P2");
    d.n = 0;
  }
  if (vg_test_shared_data(path, sizeof path, "london-smartmeter-lcl/MAC000060.csv")) {
    load_column(&d, path, ',', 1); /* KWH per half hour */
    assert_true(d.n > 1000);
    check_quantiles(d.v, d.n, 0.01, VG_DDSKETCH_MAX_BINS, "london MAC000060 kWh");
    d.n = 0;
  }
  if (vg_test_shared_data(path, sizeof path, "aarhus-parking/aarhus_parking.csv")) {
    load_column(&d, path, ',', 1); /* vehiclecount */
    assert_true(d.n > 1000);
    check_quantiles(d.v, d.n, 0.01, VG_DDSKETCH_MAX_BINS, "aarhus vehiclecount");
    d.n = 0;
  }
  free(d.v);
}

static void ddsketch_memory_is_bounded(void **state) {
  (void)state;
  struct vg_ddsketch sk;
  vg_ddsketch_init(&sk, 0.01, 512);
  struct rng r = {3};
  for (int i = 0; i < 200000; i++)
    vg_ddsketch_add(&sk, exp((rng_unit(&r) - 0.5) * 1400)); /* 1e-304 .. 1e304 */
  assert_true(sk.pos.len <= 512);
  assert_true(vg_ddsketch_bytes(&sk) <= sizeof sk + 2 * 1024 * 8);
  /* the top of the distribution keeps its accuracy: the max is the max */
  double top = vg_ddsketch_quantile(&sk, 1.0);
  assert_true(top > 1e300);
  vg_ddsketch_release(&sk);
}

/* Any split of the input, merged in any order, gives the buckets of the
 * whole input -- also when folding is active (max_bins = 16). */
static void ddsketch_merge_is_exact(void **state) {
  (void)state;
  struct rng r = {11};
  double v[5000];
  for (int round = 0; round < 40; round++) {
    uint32_t mb = round % 2 ? 16 : VG_DDSKETCH_MAX_BINS;
    for (size_t i = 0; i < 5000; i++)
      v[i] = (rng_unit(&r) - 0.3) * exp(rng_unit(&r) * (round % 4) * 10);
    struct vg_ddsketch whole, parts[8];
    vg_ddsketch_init(&whole, 0.01, mb);
    for (size_t i = 0; i < 5000; i++)
      vg_ddsketch_add(&whole, v[i]);
    for (int p = 0; p < 8; p++)
      vg_ddsketch_init(&parts[p], 0.01, mb);
    for (size_t i = 0; i < 5000; i++)
      vg_ddsketch_add(&parts[rng_below(&r, 8)], v[i]);
    struct vg_ddsketch fwd, bwd;
    vg_ddsketch_init(&fwd, 0.01, mb);
    vg_ddsketch_init(&bwd, 0.01, mb);
    for (int p = 0; p < 8; p++) {
      assert_int_equal(vg_ddsketch_merge(&fwd, &parts[p]), 0);
      assert_int_equal(vg_ddsketch_merge(&bwd, &parts[7 - p]), 0);
    }
    /* a tree: (0+1)+(2+3) ... */
    for (int step = 1; step < 8; step *= 2)
      for (int p = 0; p + step < 8; p += 2 * step)
        assert_int_equal(vg_ddsketch_merge(&parts[p], &parts[p + step]), 0);
    assert_true(vg_ddsketch_equal(&fwd, &whole));
    assert_true(vg_ddsketch_equal(&bwd, &whole));
    assert_true(vg_ddsketch_equal(&parts[0], &whole));
    for (int p = 0; p < 8; p++)
      vg_ddsketch_release(&parts[p]);
    vg_ddsketch_release(&fwd);
    vg_ddsketch_release(&bwd);
    vg_ddsketch_release(&whole);
  }
}

static void ddsketch_encoding_roundtrip(void **state) {
  (void)state;
  struct vg_ddsketch sk, back;
  vg_ddsketch_init(&sk, 0.01, VG_DDSKETCH_MAX_BINS);
  uint8_t buf[65536];
  size_t len, used;
  struct rng r = {5};
  for (int round = 0; round < 4; round++) {
    size_t est = vg_ddsketch_encoded_size(&sk);
    assert_int_equal(vg_ddsketch_encode(&sk, buf, sizeof buf, &len), 0);
    assert_int_equal(len, est);
    assert_int_equal(vg_ddsketch_decode(&back, buf, len, &used), 0);
    assert_int_equal(used, len);
    assert_true(vg_ddsketch_equal(&sk, &back));
    vg_ddsketch_release(&back);
    for (size_t cut = 0; cut < len; cut++)
      assert_int_equal(vg_ddsketch_decode(&back, buf, cut, &used), VG_EDECODE);
    for (int i = 0; i < 1000; i++)
      vg_ddsketch_add(&sk, (rng_unit(&r) - 0.2) * 100 * round);
  }
  buf[1] = 9;
  assert_int_equal(vg_ddsketch_decode(&back, buf, len, &used), VG_EVERSION);
  vg_ddsketch_release(&sk);
}

/* Counters start at 2 bytes and widen to 4 and 8 as the total grows, by
 * adds and by merges, without changing any count. */
static void ddsketch_counters_widen(void **state) {
  (void)state;
  struct vg_ddsketch a, b, c;
  vg_ddsketch_init(&a, 0.01, VG_DDSKETCH_MAX_BINS);
  for (int i = 0; i < 70000; i++)
    assert_int_equal(vg_ddsketch_add(&a, 5.0 + (i % 3)), 0);
  assert_int_equal(a.pos.wshift, 2);
  assert_true(vg_ddsketch_quantile(&a, 0) > 4.9 && vg_ddsketch_quantile(&a, 1) < 7.1);
  /* a bucket of 3e9 values, as a stored sketch would bring it */
  uint8_t buf[64];
  size_t len = 0, used;
  buf[len++] = VG_DDSKETCH_TAG;
  buf[len++] = VG_DDSKETCH_VERSION;
  double alpha = 0.01;
  memcpy(buf + len, &alpha, 8); /* the test host is little-endian (x86-64) */
  len += 8;
  buf[len++] = 0x80; /* max_bins 2048 */
  buf[len++] = 0x10;
  buf[len++] = 0;      /* zero_count */
  buf[len++] = 1;      /* one positive bucket */
  buf[len++] = 2 * 40; /* at index 40 (zigzag) */
  uint64_t big = 3000000000ULL;
  for (uint64_t v = big; v >= 0x80; v >>= 7)
    buf[len++] = (uint8_t)(v | 0x80);
  buf[len++] = (uint8_t)(big >> 28);
  buf[len++] = 0; /* no negative bucket */
  assert_int_equal(vg_ddsketch_decode(&b, buf, len, &used), 0);
  assert_int_equal(used, len);
  assert_int_equal(b.pos.wshift, 2);
  vg_ddsketch_init(&c, 0.01, VG_DDSKETCH_MAX_BINS);
  assert_int_equal(vg_ddsketch_merge(&c, &a), 0);
  assert_int_equal(vg_ddsketch_merge(&c, &b), 0);
  assert_int_equal(vg_ddsketch_merge(&c, &b), 0);
  assert_int_equal(c.pos.wshift, 3);
  assert_int_equal(c.count, 70000 + 2 * big);
  /* a's buckets survived the widenings */
  struct vg_ddsketch d;
  vg_ddsketch_init(&d, 0.01, VG_DDSKETCH_MAX_BINS);
  vg_ddsketch_merge(&d, &b);
  vg_ddsketch_merge(&d, &a);
  vg_ddsketch_merge(&d, &b);
  assert_true(vg_ddsketch_equal(&c, &d));
  uint8_t out[256];
  assert_int_equal(vg_ddsketch_encode(&c, out, sizeof out, &len), 0);
  vg_ddsketch_release(&d);
  assert_int_equal(vg_ddsketch_decode(&d, out, len, &used), 0);
  assert_true(vg_ddsketch_equal(&c, &d));
  assert_int_equal(d.pos.wshift, 3);
  vg_ddsketch_release(&a);
  vg_ddsketch_release(&b);
  vg_ddsketch_release(&c);
  vg_ddsketch_release(&d);
}

static uint64_t key_hash(uint64_t i) {
  return vg_fnv1a64(VG_FNV64_OFFSET, &i, sizeof i);
}

static void hll_error_within_bounds(void **state) {
  (void)state;
  struct vg_hll h;
  vg_hll_init(&h, VG_HLL_P);
  uint64_t next = 0;
  const uint64_t checkpoints[] = {1, 10, 100, 1000, 5000, 20000, 100000, 1000000};
  for (size_t c = 0; c < sizeof checkpoints / sizeof *checkpoints; c++) {
    for (; next < checkpoints[c]; next++) {
      assert_int_equal(vg_hll_add(&h, key_hash(next)), 0);
      if (next % 3 == 0) /* duplicates do not count */
        assert_int_equal(vg_hll_add(&h, key_hash(next / 2)), 0);
    }
    double est = vg_hll_estimate(&h), n = (double)checkpoints[c];
    double rel = fabs(est - n) / n;
    print_message("hll p=%d n=%.0f estimate %.1f error %.4f (%s, %zu bytes)\n", VG_HLL_P,
                  n, est, rel, h.dense ? "dense" : "sparse", vg_hll_bytes(&h));
    assert_true(rel <= 0.02);
  }
  assert_true(h.dense);
  vg_hll_release(&h);
}

static void hll_merge_is_exact_and_sparse_for_small_sets(void **state) {
  (void)state;
  struct rng r = {17};
  const uint64_t sizes[] = {0, 5, 300, 2000, 50000};
  for (size_t s = 0; s < 5; s++) {
    struct vg_hll whole, parts[5], merged;
    vg_hll_init(&whole, VG_HLL_P);
    vg_hll_init(&merged, VG_HLL_P);
    for (int p = 0; p < 5; p++)
      vg_hll_init(&parts[p], VG_HLL_P);
    for (uint64_t i = 0; i < sizes[s]; i++) {
      uint64_t k = key_hash(rng_below(&r, sizes[s] + 1));
      vg_hll_add(&whole, k);
      vg_hll_add(&parts[rng_below(&r, 5)], k);
    }
    if (sizes[s] <= 300)
      assert_false(whole.dense);
    for (int p = 4; p >= 0; p--)
      assert_int_equal(vg_hll_merge(&merged, &parts[p]), 0);
    assert_true(vg_hll_equal(&merged, &whole));
    assert_true(vg_hll_estimate(&merged) == vg_hll_estimate(&whole));
    /* encoding roundtrip, both representations */
    uint8_t *buf = malloc(vg_hll_encoded_size(&merged));
    size_t len, used;
    assert_int_equal(vg_hll_encode(&merged, buf, vg_hll_encoded_size(&merged), &len), 0);
    struct vg_hll back;
    assert_int_equal(vg_hll_decode(&back, buf, len, &used), 0);
    assert_int_equal(used, len);
    assert_true(vg_hll_equal(&back, &merged));
    vg_hll_release(&back);
    for (size_t cut = 0; cut < len; cut += 1 + cut / 8)
      assert_int_equal(vg_hll_decode(&back, buf, cut, &used), VG_EDECODE);
    free(buf);
    for (int p = 0; p < 5; p++)
      vg_hll_release(&parts[p]);
    vg_hll_release(&merged);
    vg_hll_release(&whole);
  }
}

/* A sparse sketch that a merge of another sparse one turns dense on the
 * way keeps every pair of the rest of the merge (they used to go into a
 * sparse list the dense sketch ignored: found by the agg_decode fuzzer). */
static void hll_merge_turning_dense_midway_keeps_everything(void **state) {
  (void)state;
  int turned = 0; /* merges that turned dst dense */
  for (unsigned p = VG_HLL_P_MIN; p <= 14; p += 2) {
    uint32_t limit = (1u << p) / 16;
    for (uint32_t before = 0; before <= limit + 1; before += limit / 4 + 1) {
      struct vg_hll whole, dst, src;
      vg_hll_init(&whole, p);
      vg_hll_init(&dst, p);
      vg_hll_init(&src, p);
      struct rng r = {p * 1000 + before};
      for (uint32_t i = 0; i < before; i++) {
        uint64_t k = key_hash(rng_below(&r, 1u << 30));
        vg_hll_add(&dst, k);
        vg_hll_add(&whole, k);
      }
      for (uint32_t i = 0; i + 1 < limit; i++) {
        uint64_t k = key_hash(rng_below(&r, 1u << 30));
        vg_hll_add(&src, k);
        vg_hll_add(&whole, k);
      }
      assert_false(src.dense); /* what the test is about: sparse into sparse */
      assert_int_equal(vg_hll_merge(&dst, &src), 0);
      assert_true(vg_hll_equal(&dst, &whole));
      assert_true(vg_hll_estimate(&dst) == vg_hll_estimate(&whole));
      turned += dst.dense;
      vg_hll_release(&whole);
      vg_hll_release(&dst);
      vg_hll_release(&src);
    }
  }
  assert_true(turned > 0);
}

/* The sparse list's sort (insertion sort for a few pairs, a radix sort
 * with scratch on the stack, then on the heap past 1,024 pairs): for every
 * size and precision, the same keys added in two orders (with repeats, so
 * that a register's ranks compete) give equal sketches, and the encoding
 * decodes (the decoder rejects registers out of order or repeated). */
static void hll_sparse_sort_is_order_free(void **state) {
  (void)state;
  static const unsigned ps[] = {VG_HLL_P_MIN, 10, VG_HLL_P, VG_HLL_P_MAX};
  static const uint32_t sizes[] = {1, 7, 31, 32, 33, 300, 1023, 1025, 5000, 16000};
  int heap = 0; /* sketches compacted past the stack's scratch */
  for (size_t pi = 0; pi < sizeof ps / sizeof *ps; pi++)
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
      uint32_t n = sizes[si], limit = (1u << ps[pi]) / 16;
      if (n >= limit && n > 1)
        continue; /* dense: no list to sort */
      uint64_t *keys = malloc((size_t)n * sizeof *keys);
      assert_non_null(keys);
      struct rng r = {ps[pi] * 100000 + n};
      for (uint32_t i = 0; i < n; i++)
        keys[i] = key_hash(rng_below(&r, n + n / 2 + 1));
      struct vg_hll a, b;
      vg_hll_init(&a, ps[pi]);
      vg_hll_init(&b, ps[pi]);
      for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(vg_hll_add(&a, keys[i]), 0);
        assert_int_equal(vg_hll_add(&b, keys[n - 1 - i]), 0);
      }
      assert_false(a.dense);
      heap += a.nsparse > 1024;
      assert_true(vg_hll_equal(&a, &b));
      size_t len, used, size = vg_hll_encoded_size(&a);
      uint8_t *buf = malloc(size);
      assert_non_null(buf);
      assert_int_equal(vg_hll_encode(&a, buf, size, &len), 0);
      struct vg_hll back;
      assert_int_equal(vg_hll_decode(&back, buf, len, &used), 0);
      assert_true(vg_hll_equal(&back, &b));
      assert_true(vg_hll_estimate(&back) == vg_hll_estimate(&a));
      vg_hll_release(&back);
      vg_hll_release(&a);
      vg_hll_release(&b);
      free(buf);
      free(keys);
    }
  assert_true(heap > 0);
}

/* Decoders never crash on arbitrary bytes (the fuzz target does this at
 * length; this keeps a quick version in every test run). */
static void decoders_survive_garbage(void **state) {
  (void)state;
  struct rng r = {23};
  uint8_t buf[256];
  for (int round = 0; round < 20000; round++) {
    size_t n = rng_below(&r, sizeof buf);
    for (size_t i = 0; i < n; i++)
      buf[i] = (uint8_t)rng_next(&r);
    if (n > 1) {
      buf[0] = round % 2 ? VG_DDSKETCH_TAG : VG_HLL_TAG;
      buf[1] = 1;
    }
    size_t used;
    struct vg_ddsketch sk;
    if (vg_ddsketch_decode(&sk, buf, n, &used) == 0)
      vg_ddsketch_release(&sk);
    struct vg_hll h;
    if (vg_hll_decode(&h, buf, n, &used) == 0)
      vg_hll_release(&h);
  }
}

int vg_test_agg_sketch(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ddsketch_error_bound_synthetic),
      cmocka_unit_test(ddsketch_error_bound_real_data),
      cmocka_unit_test(ddsketch_memory_is_bounded),
      cmocka_unit_test(ddsketch_merge_is_exact),
      cmocka_unit_test(ddsketch_encoding_roundtrip),
      cmocka_unit_test(ddsketch_counters_widen),
      cmocka_unit_test(hll_error_within_bounds),
      cmocka_unit_test(hll_merge_is_exact_and_sparse_for_small_sets),
      cmocka_unit_test(hll_merge_turning_dense_midway_keeps_everything),
      cmocka_unit_test(hll_sparse_sort_is_order_free),
      cmocka_unit_test(decoders_survive_garbage),
  };
  return cmocka_run_group_tests_name("agg_sketch", tests, NULL, NULL);
}
