/* Tests of the statistics of a window (wstats.h), the one computation
 * behind the API, the rollup topic, vigieq and its SQL tables, and of the
 * HLL estimate it uses, which reads its sketch without changing it.
 *
 * The three computations it replaced (publish/dataset.c vg_window_stats,
 * vigieq.c's cells, vigieq_sql.c's rows) used the same expressions and each
 * estimated the distinct count on a deep copy (vg_acc_merge into an empty
 * accumulator), because the estimate compacted the sparse list: old_stats
 * below is that computation, and the new one must equal it bit for bit. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "aggtest.h"
#include "vigie/acc.h"
#include "vigie/hll.h"
#include "vigie/wstats.h"
#include "vigie/wtable.h"

/* The statistics as the old paths computed them. */
static void old_stats(const struct vg_acc *acc, double out[VG_STAT_N]) {
  const struct vg_stats *s = &acc->st;
  int has_fl = !vg_firstlast_empty(&acc->fl);
  out[VG_STAT_COUNT] = (double)s->count;
  out[VG_STAT_SUM] = s->count ? vg_stats_sum(s) : NAN;
  out[VG_STAT_MIN] = s->count ? s->min : NAN;
  out[VG_STAT_MAX] = s->count ? s->max : NAN;
  out[VG_STAT_MEAN] = vg_stats_mean(s);
  out[VG_STAT_STDDEV] = vg_stats_stddev_sample(s);
  out[VG_STAT_P50] = acc->qs ? vg_ddsketch_quantile(acc->qs, 0.5) : NAN;
  out[VG_STAT_P95] = acc->qs ? vg_ddsketch_quantile(acc->qs, 0.95) : NAN;
  out[VG_STAT_FIRST] = has_fl ? acc->fl.first_v : NAN;
  out[VG_STAT_LAST] = has_fl ? acc->fl.last_v : NAN;
  out[VG_STAT_DISTINCT] = NAN;
  if (acc->hll) {
    struct vg_acc a;
    struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
    o.distinct = 1;
    vg_acc_init(&a);
    assert_int_equal(vg_acc_merge(&a, acc, &o), 0);
    assert_non_null(a.hll);
    out[VG_STAT_DISTINCT] = round(vg_hll_estimate(a.hll));
    vg_acc_release(&a);
  }
}

/* Equal as published: both NaN, or the same bits. */
static void assert_same_stats(const double *a, const double *b, const char *what) {
  for (int k = 0; k < VG_STAT_N; k++)
    if (!(isnan(a[k]) && isnan(b[k])) && memcmp(&a[k], &b[k], sizeof a[k]) != 0)
      fail_msg("%s: statistic %d is %.17g, expected %.17g", what, k, a[k], b[k]);
}

/* An accumulator of n readings (values from the PRNG), each with a key out
 * of nkeys when distinct is set. */
static void fill_acc(struct vg_acc *a, int n, int quantiles, int distinct, uint64_t nkeys,
                     uint64_t seed) {
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct rng r = {seed};
  o.quantiles = quantiles;
  o.distinct = distinct;
  vg_acc_init(a);
  for (int i = 0; i < n; i++)
    assert_int_equal(vg_acc_add(a, &o, 1000 + i, (double)rng_below(&r, 10000) / 7 - 300,
                                distinct, rng_below(&r, nkeys)),
                     0);
}

/* Everything an HLL holds, for a byte comparison. */
struct hll_image {
  struct vg_hll h;
  uint32_t *sparse;
  uint8_t *regs;
};

static void hll_image_take(struct hll_image *im, const struct vg_hll *h) {
  im->h = *h;
  im->sparse = NULL;
  im->regs = NULL;
  if (h->cap) {
    im->sparse = malloc((size_t)h->cap * sizeof *im->sparse);
    assert_non_null(im->sparse);
    memcpy(im->sparse, h->sparse, (size_t)h->cap * sizeof *im->sparse);
  }
  if (h->dense) {
    im->regs = malloc((size_t)1 << h->p);
    assert_non_null(im->regs);
    memcpy(im->regs, h->regs, (size_t)1 << h->p);
  }
}

static void hll_image_check(struct hll_image *im, const struct vg_hll *h) {
  assert_memory_equal(&im->h, h, sizeof *h);
  if (h->cap)
    assert_memory_equal(im->sparse, h->sparse, (size_t)h->cap * sizeof *h->sparse);
  if (h->dense)
    assert_memory_equal(im->regs, h->regs, (size_t)1 << h->p);
  free(im->sparse);
  free(im->regs);
}

/* The same registers as h, dense: decoded from a dense encoding built from
 * vg_hll_register, so its estimate goes through the dense path. */
static void hll_dense_twin(struct vg_hll *d, struct vg_hll *h) {
  size_t m = (size_t)1 << h->p, used;
  uint8_t *buf = malloc(4 + m);
  assert_non_null(buf);
  buf[0] = VG_HLL_TAG;
  buf[1] = VG_HLL_VERSION;
  buf[2] = h->p;
  buf[3] = 1;
  for (uint32_t i = 0; i < m; i++)
    buf[4 + i] = (uint8_t)vg_hll_register(h, i);
  assert_int_equal(vg_hll_decode(d, buf, 4 + m, &used), 0);
  assert_int_equal(used, 4 + m);
  assert_true(d->dense);
  free(buf);
}

/* The estimate changes nothing in the sketch: a sparse list with an
 * unsorted tail (repeated registers in it, and registers of the sorted
 * part with higher ranks), a compacted one and a dense one. Its value is
 * the dense estimate of the same registers, bit for bit. */
static void hll_estimate_reads_only(void **state) {
  (void)state;
  const struct {
    uint64_t nadd, nkeys;
    int compact_at; /* encode (which compacts) after this many adds; -1 never */
  } cases[] = {{0, 1, -1},         {1, 1, -1},        {40, 25, -1},
               {300, 200, 150},    {700, 900, 300},   {900, 1000000, -1},
               {1000, 1000, 1000}, {50000, 40000, -1}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    struct vg_hll h, d;
    struct rng r = {c + 1};
    uint8_t before[4 + 16384 + 64], after[sizeof before];
    size_t lb, la;
    vg_hll_init(&h, VG_HLL_P);
    for (uint64_t i = 0; i < cases[c].nadd; i++) {
      if ((int)i == cases[c].compact_at)
        assert_int_equal(vg_hll_encode(&h, before, sizeof before, &lb), 0);
      assert_int_equal(vg_hll_add(&h, rng_below(&r, cases[c].nkeys)), 0);
    }
    if (cases[c].compact_at == (int)cases[c].nadd)
      assert_int_equal(vg_hll_encode(&h, before, sizeof before, &lb), 0);
    struct hll_image im;
    hll_image_take(&im, &h);
    double e = vg_hll_estimate(&h);
    hll_image_check(&im, &h);
    print_message("%" PRIu64 " adds of %" PRIu64
                  " keys: %s, %u sorted of %u, estimate %.3f\n",
                  cases[c].nadd, cases[c].nkeys, h.dense ? "dense" : "sparse", h.sorted,
                  h.nsparse, e);
    assert_true(isfinite(e));
    /* the encoding too, when encoding itself changes nothing (compacted) */
    assert_int_equal(vg_hll_encode(&h, before, sizeof before, &lb), 0);
    assert_true(vg_hll_estimate(&h) == e);
    assert_int_equal(vg_hll_encode(&h, after, sizeof after, &la), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(after, before, lb);
    hll_dense_twin(&d, &h);
    hll_image_take(&im, &d);
    assert_true(vg_hll_estimate(&d) == e);
    hll_image_check(&im, &d);
    vg_hll_release(&d);
    vg_hll_release(&h);
  }
}

/* vg_acc_stats and vg_window_stats equal the old computation on windows
 * without readings, with one, with and without sketches, with a sparse
 * and a dense HLL; the accumulator is left as it was (its encoding). */
static void stats_equal_the_old_paths(void **state) {
  (void)state;
  const struct {
    const char *what;
    int n, quantiles, distinct;
    uint64_t nkeys;
  } cases[] = {
      {"empty", 0, 0, 0, 1},
      {"empty with sketches asked for", 0, 1, 1, 1},
      {"one reading", 1, 0, 0, 1},
      {"one reading, sketches", 1, 1, 1, 1},
      {"a few readings, no sketch", 17, 0, 0, 1},
      {"sparse HLL", 400, 1, 1, 300},
      {"dense HLL", 30000, 1, 1, 20000},
      {"dense HLL, no quantiles", 30000, 0, 1, 100000},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    struct vg_wentry w;
    memset(&w, 0, sizeof w);
    fill_acc(&w.acc, cases[c].n, cases[c].quantiles, cases[c].distinct, cases[c].nkeys,
             c + 7);
    assert_true(!cases[c].distinct || !cases[c].n || w.acc.hll);
    size_t cap = vg_acc_encoded_size(&w.acc), lb, la;
    uint8_t *before = malloc(cap), *after = malloc(cap);
    assert_non_null(before);
    assert_non_null(after);
    assert_int_equal(vg_acc_encode(&w.acc, before, cap, &lb), 0);
    double want[VG_STAT_N], got[VG_STAT_N], part[VG_STAT_N];
    old_stats(&w.acc, want);
    vg_window_stats(&w, got);
    assert_same_stats(got, want, cases[c].what);
    /* each statistic alone: the others NaN */
    for (int k = 0; k < VG_STAT_N; k++) {
      vg_acc_stats(&w.acc, VG_STAT_BIT(k), part);
      for (int j = 0; j < VG_STAT_N; j++)
        if (j == k)
          assert_memory_equal(&part[j], &want[j], sizeof part[j]);
        else
          assert_true(isnan(part[j]));
    }
    assert_int_equal(vg_acc_encode(&w.acc, after, cap, &la), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(after, before, lb);
    print_message("%s: count %.0f mean %.6g p95 %.6g distinct %.0f\n", cases[c].what,
                  got[VG_STAT_COUNT], got[VG_STAT_MEAN], got[VG_STAT_P95],
                  got[VG_STAT_DISTINCT]);
    free(before);
    free(after);
    vg_acc_release(&w.acc);
  }
}

/* Known values: an empty window shows its count only; one reading shows
 * itself everywhere but stddev, and one distinct key. */
static void stats_known_values(void **state) {
  (void)state;
  struct vg_acc a;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  double s[VG_STAT_N];
  vg_acc_init(&a);
  vg_acc_stats(&a, VG_STAT_ALL, s);
  assert_true(s[VG_STAT_COUNT] == 0);
  for (int k = 1; k < VG_STAT_N; k++)
    assert_true(isnan(s[k]));
  o.quantiles = o.distinct = 1;
  assert_int_equal(vg_acc_add(&a, &o, 5, 2.5, 1, 42), 0);
  vg_acc_stats(&a, VG_STAT_ALL, s);
  assert_true(s[VG_STAT_COUNT] == 1);
  assert_true(s[VG_STAT_SUM] == 2.5 && s[VG_STAT_MIN] == 2.5 && s[VG_STAT_MAX] == 2.5);
  assert_true(s[VG_STAT_MEAN] == 2.5 && s[VG_STAT_FIRST] == 2.5 &&
              s[VG_STAT_LAST] == 2.5);
  assert_true(isnan(s[VG_STAT_STDDEV]));
  assert_true(fabs(s[VG_STAT_P50] - 2.5) <= 2.5 * VG_DDSKETCH_ALPHA);
  assert_true(s[VG_STAT_P95] == s[VG_STAT_P50]);
  assert_true(s[VG_STAT_P50] == vg_acc_quantile(&a, 0.5));
  assert_true(s[VG_STAT_DISTINCT] == 1);
  vg_acc_release(&a);
  vg_acc_init(&a);
  assert_true(isnan(vg_acc_quantile(&a, 0.5)));
}

int vg_test_agg_wstats(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hll_estimate_reads_only),
      cmocka_unit_test(stats_equal_the_old_paths),
      cmocka_unit_test(stats_known_values),
  };
  return cmocka_run_group_tests_name("agg_wstats", tests, NULL, NULL);
}
