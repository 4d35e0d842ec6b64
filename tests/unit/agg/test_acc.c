/* Unit and property tests of the scalar accumulators: stats (count, sum,
 * min, max, mean, M2), first/last, the combined vg_acc and their encodings. */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "aggtest.h"
#include "vigie/acc.h"
#include "vigie/error.h"

#define REL 1e-12

static void stats_known_values(void **state) {
  (void)state;
  struct vg_stats s;
  vg_stats_init(&s);
  assert_true(isnan(vg_stats_mean(&s)));
  const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
  for (size_t i = 0; i < 8; i++)
    vg_stats_add(&s, x[i]);
  assert_int_equal(s.count, 8);
  assert_true(vg_stats_sum(&s) == 40);
  assert_true(vg_stats_mean(&s) == 5);
  assert_true(s.min == 2 && s.max == 9);
  assert_true(fabs(vg_stats_stddev_pop(&s) - 2) < 1e-15);
  assert_true(fabs(vg_stats_var_sample(&s) - 32.0 / 7) < 1e-14);
}

static void stats_sum_is_compensated(void **state) {
  (void)state;
  struct vg_stats s;
  vg_stats_init(&s);
  vg_stats_add(&s, 1e16);
  for (int i = 0; i < 1000; i++)
    vg_stats_add(&s, 1.0);
  vg_stats_add(&s, -1e16);
  assert_true(vg_stats_sum(&s) == 1000); /* naive summation gives 0 */
}

/* Generates n values of one of several shapes (including a large offset,
 * the hard case for variance). */
static void gen(struct rng *r, double *v, size_t n, int shape) {
  for (size_t i = 0; i < n; i++) {
    double u = rng_unit(r);
    switch (shape) {
    case 0: v[i] = u * 100; break;
    case 1: v[i] = 1e6 + u; break;
    case 2: v[i] = (u - 0.5) * 1e9; break;
    case 3: v[i] = exp(u * 20 - 10); break;
    default: v[i] = (double)rng_below(r, 5); break; /* many ties */
    }
  }
}

/* Accumulates v[lo..hi) into a fresh accumulator (times = indices % 97 so
 * first/last see ties). */
static void acc_range(struct vg_acc *a, const struct vg_acc_opts *o, const double *v,
                      size_t lo, size_t hi) {
  vg_acc_init(a);
  for (size_t i = lo; i < hi; i++)
    assert_int_equal(vg_acc_add(a, o, (int64_t)(i % 97), v[i], 1, i * 7919 % 1000), 0);
}

/* Splits [0, n) at random cut points, accumulates each part, merges the
 * parts in a random order and in a random tree shape, compares with the
 * whole. */
static void check_splits(const struct vg_acc_opts *o, const double *v, size_t n,
                         struct rng *r, int rounds) {
  struct vg_acc whole;
  acc_range(&whole, o, v, 0, n);
  for (int round = 0; round < rounds; round++) {
    size_t k = 1 + rng_below(r, 16);
    size_t cuts[18];
    cuts[0] = 0;
    for (size_t j = 1; j < k; j++)
      cuts[j] = rng_below(r, n + 1);
    cuts[k] = n;
    /* sort cut points (size_t) by insertion: k is tiny */
    for (size_t a = 1; a < k; a++)
      for (size_t b = a; b > 1 && cuts[b - 1] > cuts[b]; b--) {
        size_t t = cuts[b];
        cuts[b] = cuts[b - 1];
        cuts[b - 1] = t;
      }
    struct vg_acc parts[17];
    for (size_t j = 0; j < k; j++)
      acc_range(&parts[j], o, v, cuts[j], cuts[j + 1]);
    /* merge random pairs until one is left: a random tree, random order */
    size_t live = k;
    while (live > 1) {
      size_t x = rng_below(r, live), y = rng_below(r, live - 1);
      if (y >= x)
        y++;
      assert_int_equal(vg_acc_merge(&parts[x], &parts[y], o), 0);
      vg_acc_release(&parts[y]);
      parts[y] = parts[live - 1];
      live--;
    }
    if (!vg_acc_equal(&parts[0], &whole, REL)) {
      const struct vg_stats *a = &parts[0].st, *b = &whole.st;
      print_message("n=%zu k=%zu count %llu/%llu min %g/%g max %g/%g sum %.17g/%.17g "
                    "mean %.17g/%.17g m2 %.17g/%.17g\n",
                    n, k, (unsigned long long)a->count, (unsigned long long)b->count,
                    a->min, b->min, a->max, b->max, vg_stats_sum(a), vg_stats_sum(b),
                    vg_stats_mean(a), vg_stats_mean(b), vg_stats_m2(a), vg_stats_m2(b));
      fail();
    }
    vg_acc_release(&parts[0]);
  }
  vg_acc_release(&whole);
}

static void acc_merge_of_any_split_equals_whole(void **state) {
  (void)state;
  struct rng r = {42};
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  static double v[20000];
  for (int shape = 0; shape < 5; shape++) {
    size_t n = 1 + rng_below(&r, 20000);
    gen(&r, v, n, shape);
    check_splits(&o, v, n, &r, 20);
  }
  o.quantiles = o.distinct = 1;
  for (int shape = 0; shape < 5; shape++) {
    size_t n = 1 + rng_below(&r, 5000);
    gen(&r, v, n, shape);
    check_splits(&o, v, n, &r, 5);
  }
}

static void acc_merge_commutative_and_associative(void **state) {
  (void)state;
  struct rng r = {7};
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  o.quantiles = o.distinct = 1;
  double v[3000];
  for (int round = 0; round < 50; round++) {
    gen(&r, v, 3000, round % 5);
    struct vg_acc a, b, c, ab, ba, ab_c, bc, a_bc;
    acc_range(&a, &o, v, 0, 1000);
    acc_range(&b, &o, v, 1000, 1000 + rng_below(&r, 1000));
    acc_range(&c, &o, v, 2000, 3000);
    vg_acc_init(&ab);
    vg_acc_init(&ba);
    vg_acc_merge(&ab, &a, &o);
    vg_acc_merge(&ab, &b, &o);
    vg_acc_merge(&ba, &b, &o);
    vg_acc_merge(&ba, &a, &o);
    /* commutative: bitwise for the scalar statistics */
    assert_true(vg_acc_equal(&ab, &ba, 0));
    assert_memory_equal(&ab.st, &ba.st, sizeof ab.st);
    vg_acc_init(&ab_c);
    vg_acc_merge(&ab_c, &ab, &o);
    vg_acc_merge(&ab_c, &c, &o);
    vg_acc_init(&bc);
    vg_acc_merge(&bc, &b, &o);
    vg_acc_merge(&bc, &c, &o);
    vg_acc_init(&a_bc);
    vg_acc_merge(&a_bc, &a, &o);
    vg_acc_merge(&a_bc, &bc, &o);
    assert_true(vg_acc_equal(&ab_c, &a_bc, REL));
    struct vg_acc *all[] = {&a, &b, &c, &ab, &ba, &ab_c, &bc, &a_bc};
    for (size_t i = 0; i < 8; i++)
      vg_acc_release(all[i]);
  }
}

static void firstlast_ties_are_order_independent(void **state) {
  (void)state;
  struct vg_firstlast f, g;
  vg_firstlast_init(&f);
  vg_firstlast_init(&g);
  assert_true(vg_firstlast_empty(&f));
  vg_firstlast_add(&f, 10, 3.0);
  vg_firstlast_add(&f, 10, -1.0);
  vg_firstlast_add(&f, 20, 5.0);
  vg_firstlast_add(&f, 20, 7.0);
  vg_firstlast_add(&g, 20, 7.0);
  vg_firstlast_add(&g, 20, 5.0);
  vg_firstlast_add(&g, 10, -1.0);
  vg_firstlast_add(&g, 10, 3.0);
  assert_memory_equal(&f, &g, sizeof f);
  assert_true(f.first_t == 10 && f.first_v == -1.0);
  assert_true(f.last_t == 20 && f.last_v == 7.0);
  /* -0.0 and +0.0 are ordered too */
  vg_firstlast_init(&f);
  vg_firstlast_add(&f, 1, 0.0);
  vg_firstlast_add(&f, 1, -0.0);
  assert_true(signbit(f.first_v) && !signbit(f.last_v));
}

static void roundtrip(struct vg_acc *a) {
  uint8_t buf[1 << 17];
  size_t len, used;
  size_t est = vg_acc_encoded_size(a);
  assert_true(est <= sizeof buf);
  assert_int_equal(vg_acc_encode(a, buf, sizeof buf, &len), 0);
  assert_true(len <= est);
  struct vg_acc b;
  assert_int_equal(vg_acc_decode(&b, buf, len, &used), 0);
  assert_int_equal(used, len);
  assert_true(vg_acc_equal(a, &b, 0));
  assert_memory_equal(&a->st, &b.st, sizeof a->st);
  /* re-encoding gives the same bytes */
  uint8_t buf2[1 << 17];
  size_t len2;
  assert_int_equal(vg_acc_encode(&b, buf2, sizeof buf2, &len2), 0);
  assert_int_equal(len, len2);
  assert_memory_equal(buf, buf2, len);
  /* every truncation is rejected, never over-read (ASan checks) */
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *t = malloc(cut ? cut : 1);
    memcpy(t, buf, cut);
    struct vg_acc c;
    int rc = vg_acc_decode(&c, t, cut, &used);
    assert_true(rc == VG_EDECODE);
    free(t);
  }
  /* a too-small output buffer is refused */
  if (len > 0)
    assert_int_equal(vg_acc_encode(a, buf2, len - 1, &len2), VG_EFULL);
  vg_acc_release(&b);
}

static void encodings_roundtrip(void **state) {
  (void)state;
  struct rng r = {99};
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_acc a;
  vg_acc_init(&a);
  roundtrip(&a); /* empty */
  double v[500];
  for (int shape = 0; shape < 5; shape++) {
    gen(&r, v, 500, shape);
    o.quantiles = shape & 1;
    o.distinct = shape >= 2;
    acc_range(&a, &o, v, 0, 1 + rng_below(&r, 500));
    roundtrip(&a);
    vg_acc_release(&a);
  }
}

/* One reading, no sketch: the 19-byte short form, exact, and the long form
 * of older stores still read; two readings, or a sketch, take the long form. */
static void single_reading_has_a_short_canonical_form(void **state) {
  (void)state;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  const double values[] = {0.0, -0.0, 18.68, -1e300, 5e-324, 1e15 + 0.5};
  for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
    struct vg_acc a;
    vg_acc_init(&a);
    assert_int_equal(
        vg_acc_add(&a, &o, 1774656000123456789 + (int64_t)i, values[i], 0, 0), 0);
    uint8_t buf[256], longf[256];
    size_t len, used;
    assert_int_equal(vg_acc_encode(&a, buf, sizeof buf, &len), 0);
    assert_int_equal(len, 19);
    assert_int_equal(buf[2], 4);
    roundtrip(&a);
    /* the long form of the same state (stats and first/last encodings
     * after flags 0: what a store written before the short form holds) is
     * still read, to the same state, and re-encodes to the short form */
    size_t n1, n2;
    longf[0] = VG_ACC_TAG;
    longf[1] = VG_ACC_VERSION;
    longf[2] = 0;
    assert_int_equal(vg_stats_encode(&a.st, longf + 3, sizeof longf - 3, &n1), 0);
    assert_int_equal(
        vg_firstlast_encode(&a.fl, longf + 3 + n1, sizeof longf - 3 - n1, &n2), 0);
    struct vg_acc b;
    assert_int_equal(vg_acc_decode(&b, longf, 3 + n1 + n2, &used), 0);
    assert_int_equal(used, 3 + n1 + n2);
    assert_memory_equal(&b.st, &a.st, sizeof b.st);
    assert_memory_equal(&b.fl, &a.fl, sizeof b.fl);
    uint8_t again[64];
    size_t alen;
    assert_int_equal(vg_acc_encode(&b, again, sizeof again, &alen), 0);
    assert_int_equal(alen, 19);
    assert_memory_equal(again, buf, 19);
    vg_acc_release(&b);
    /* a second reading (even the same one) needs the long form */
    assert_int_equal(
        vg_acc_add(&a, &o, 1774656000123456789 + (int64_t)i, values[i], 0, 0), 0);
    assert_int_equal(vg_acc_encode(&a, buf, sizeof buf, &len), 0);
    assert_true(len > 19);
    assert_int_equal(buf[2], 0);
    roundtrip(&a);
    vg_acc_release(&a);
  }
  /* with a quantile sketch, one reading keeps the long form */
  o.quantiles = 1;
  struct vg_acc q;
  vg_acc_init(&q);
  assert_int_equal(vg_acc_add(&q, &o, 1, 2.5, 0, 0), 0);
  uint8_t buf[1 << 16];
  size_t len;
  assert_int_equal(vg_acc_encode(&q, buf, sizeof buf, &len), 0);
  assert_int_equal(buf[2], 1);
  roundtrip(&q);
  vg_acc_release(&q);
  /* a short form carrying a non-finite value or an empty time is refused */
  uint8_t bad[19] = {VG_ACC_TAG, VG_ACC_VERSION, 4};
  double inf = INFINITY;
  memcpy(bad + 3, &inf, 8);
  struct vg_acc c;
  size_t used;
  assert_int_equal(vg_acc_decode(&c, bad, sizeof bad, &used), VG_EDECODE);
}

static void encoding_is_little_endian_and_versioned(void **state) {
  (void)state;
  struct vg_stats s;
  vg_stats_init(&s);
  vg_stats_add(&s, 1.0);
  uint8_t buf[VG_STATS_MAX_ENCODED];
  size_t len, used;
  assert_int_equal(vg_stats_encode(&s, buf, sizeof buf, &len), 0);
  /* tag, version, count 1, then sum = 1.0 as little-endian binary64 */
  const uint8_t head[] = {0x53, 1, 1, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
  assert_int_equal(len, 67);
  assert_memory_equal(buf, head, sizeof head);
  buf[1] = 2;
  struct vg_stats t;
  assert_int_equal(vg_stats_decode(&t, buf, len, &used), VG_EVERSION);
  buf[1] = 1;
  buf[0] = 0x54;
  assert_int_equal(vg_stats_decode(&t, buf, len, &used), VG_EDECODE);
}

int vg_test_agg_acc(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(stats_known_values),
      cmocka_unit_test(stats_sum_is_compensated),
      cmocka_unit_test(acc_merge_of_any_split_equals_whole),
      cmocka_unit_test(acc_merge_commutative_and_associative),
      cmocka_unit_test(firstlast_ties_are_order_independent),
      cmocka_unit_test(encodings_roundtrip),
      cmocka_unit_test(single_reading_has_a_short_canonical_form),
      cmocka_unit_test(encoding_is_little_endian_and_versioned),
  };
  return cmocka_run_group_tests_name("agg_acc", tests, NULL, NULL);
}
