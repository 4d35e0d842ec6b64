/* The delta format (delta.h, docs/deltas.md) and the scale-out path of the
 * aggregator (worker.h "scale-out"): records read back equal to what was
 * written, every malformed record refused with a reason (never a crash),
 * and -- the property the roles rest on -- readings aggregated by two
 * ingest aggregators, taken as deltas, encoded, decoded and merged by a
 * store aggregator give exactly the windows one standalone aggregator
 * gives for the same readings, copies of dedupe sources included. */
#include <string.h>

#include "testutil.h"
#include "aggtest.h"
#include "vigie/delta.h"
#include "vigie/error.h"
#include "vigie/window.h"
#include "vigie/worker.h"

#define S   1000000000LL
#define T_S 1717243200LL /* 2024-06-01T12:00:00Z */

static const struct vg_acc_opts *opts(void) {
  static struct vg_acc_opts o;
  o = VG_ACC_OPTS_DEFAULT;
  o.quantiles = 1;
  o.distinct = 1;
  return &o;
}

/* What a visitor saw, for comparison. */
struct seen {
  int series, entries, kept, marks;
  uint64_t last_id;
  char key[64];
  struct vg_acc acc[4];
  int64_t start[4];
  unsigned skipped[4];
  struct vg_delta_reading r[8];
  size_t nr;
  uint32_t max;
  struct vg_delta_mark m[2];
  char topics[2][32];
};

static int on_series(void *ctx, uint64_t id, const char *key, size_t len) {
  struct seen *x = ctx;
  x->last_id = id;
  memcpy(x->key, key, len < 63 ? len : 63);
  x->series++;
  return 0;
}

static int on_entry(void *ctx, uint64_t series, int64_t start, int64_t end,
                    unsigned skipped, const struct vg_acc *acc) {
  struct seen *x = ctx;
  (void)series;
  assert_int_equal(end - start, 60);
  vg_acc_init(&x->acc[x->entries]);
  assert_int_equal(vg_acc_merge(&x->acc[x->entries], acc, opts()), 0);
  x->start[x->entries] = start;
  x->skipped[x->entries] = skipped;
  x->entries++;
  return 0;
}

static int on_kept(void *ctx, uint64_t series, int64_t start, int64_t end,
                   unsigned skipped, uint32_t max, const struct vg_delta_reading *r,
                   size_t n) {
  struct seen *x = ctx;
  (void)series, (void)start, (void)end, (void)skipped;
  memcpy(x->r, r, n * sizeof *r);
  x->nr = n;
  x->max = max;
  x->kept++;
  return 0;
}

static int on_mark(void *ctx, const struct vg_delta_mark *m) {
  struct seen *x = ctx;
  memcpy(x->topics[x->marks], m->topic, m->topic_len);
  x->m[x->marks] = *m;
  x->m[x->marks].topic = x->topics[x->marks];
  x->marks++;
  return 0;
}

static const struct vg_delta_visitor visitor = {on_series, on_entry, on_kept, on_mark};

static void release_seen(struct seen *x) {
  for (int i = 0; i < x->entries; i++)
    vg_acc_release(&x->acc[i]);
}

static void records_read_back_as_written(void **state) {
  (void)state;
  struct vg_acc one, many;
  vg_acc_init(&one);
  vg_acc_init(&many);
  assert_int_equal(vg_acc_add(&one, opts(), T_S * S, 42.5, 0, 0), 0);
  for (int i = 0; i < 50; i++)
    assert_int_equal(
        vg_acc_add(&many, opts(), (T_S + i) * S, i * 1.5, 1, (uint64_t)i % 7), 0);
  struct vg_delta_buf b = {0};
  vg_delta_begin(&b, VG_DELTA_DELTAS);
  vg_delta_series(&b, 77, "pm10{station=\"A\"}", 17);
  vg_delta_entry(&b, 77, T_S, T_S + 60, 0, &one);
  vg_delta_entry(&b, 78, T_S - 60, T_S, VG_INTO_BASE, &many);
  struct vg_delta_reading r[2] = {{T_S * S + 5, 1.25, 0, 0}, {T_S * S + 9, -3, 99, 1}};
  vg_delta_kept(&b, 79, T_S, T_S + 60, VG_INTO_DAY, 16, r, 2);
  assert_false(b.err);
  struct seen x = {0};
  char err[256];
  assert_int_equal(vg_delta_read(b.p, b.len, 60, opts(), &visitor, &x, err, sizeof err),
                   0);
  assert_int_equal(x.series, 1);
  assert_int_equal(x.last_id, 77);
  assert_string_equal(x.key, "pm10{station=\"A\"}");
  assert_int_equal(x.entries, 2);
  assert_true(vg_acc_equal(&x.acc[0], &one, 0));
  assert_true(vg_acc_equal(&x.acc[1], &many, 0));
  assert_int_equal(x.start[1], T_S - 60);
  assert_int_equal(x.skipped[1], VG_INTO_BASE);
  assert_int_equal(x.kept, 1);
  assert_int_equal(x.nr, 2);
  assert_int_equal(x.max, 16);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(x.r[i].t, r[i].t);
    assert_true(x.r[i].v == r[i].v);
    assert_int_equal(x.r[i].key, r[i].key);
    assert_int_equal(x.r[i].has_key, r[i].has_key);
  }
  release_seen(&x);

  vg_delta_begin(&b, VG_DELTA_WATERMARKS);
  vg_delta_marks(&b, 2);
  struct vg_delta_mark m[2] = {{"air", 3, 0, 1234, T_S * S, T_S * S + 7},
                               {"bikes", 5, 11, -1, INT64_MIN, 5}};
  vg_delta_mark(&b, &m[0]);
  vg_delta_mark(&b, &m[1]);
  memset(&x, 0, sizeof x);
  assert_int_equal(vg_delta_read(b.p, b.len, 60, opts(), &visitor, &x, err, sizeof err),
                   0);
  assert_int_equal(x.marks, 2);
  assert_string_equal(x.topics[1], "bikes");
  assert_int_equal(x.m[0].next_offset, 1234);
  assert_int_equal(x.m[1].partition, 11);
  assert_true(x.m[1].max_event_ns == INT64_MIN);
  assert_int_equal(x.m[0].last_active_ns, T_S * S + 7);
  vg_delta_buf_release(&b);
  vg_acc_release(&one);
  vg_acc_release(&many);
}

static int read_rc(const uint8_t *p, size_t len, int64_t base_s, char *err, size_t size) {
  struct seen x = {0};
  int rc = vg_delta_read(p, len, base_s, opts(), &visitor, &x, err, size);
  release_seen(&x);
  return rc;
}

static void malformed_records_are_refused(void **state) {
  (void)state;
  struct vg_acc a;
  vg_acc_init(&a);
  for (int i = 0; i < 5; i++)
    assert_int_equal(vg_acc_add(&a, opts(), (T_S + i) * S, i, 1, 3), 0);
  struct vg_delta_buf b = {0};
  vg_delta_begin(&b, VG_DELTA_DELTAS);
  vg_delta_series(&b, 1, "k", 1);
  vg_delta_entry(&b, 1, T_S, T_S + 60, 0, &a);
  struct vg_delta_reading r = {T_S * S, 2, 0, 0};
  vg_delta_kept(&b, 1, T_S, T_S + 60, 0, 4, &r, 1);
  char err[256];
  /* every truncation is refused, with a reason */
  for (size_t n = 0; n < b.len; n++) {
    err[0] = '\0';
    int rc = read_rc(b.p, n, 60, err, sizeof err);
    if (n == 4 || n == 4 + 1 + 8 + 1 + 1 + 1) /* whole items: a shorter valid record */
      continue;
    if (rc == 0)
      continue; /* ends on an item boundary */
    assert_int_equal(rc, VG_EDECODE);
    assert_true(strlen(err) > 10);
  }
  assert_int_equal(read_rc(b.p, b.len, 60, err, sizeof err), 0);
  /* another base window: the operator is told */
  assert_int_equal(read_rc(b.p, b.len, 300, err, sizeof err), VG_EDECODE);
  assert_non_null(strstr(err, "windows.base"));
  /* a version from the future */
  uint8_t *c = malloc(b.len);
  memcpy(c, b.p, b.len);
  c[2] = 9;
  assert_int_equal(read_rc(c, b.len, 60, err, sizeof err), VG_EVERSION);
  c[2] = VG_DELTA_VERSION;
  c[0] = 'X';
  assert_int_equal(read_rc(c, b.len, 60, err, sizeof err), VG_EDECODE);
  free(c);
  /* every resolution skipped, or a kept delta without its base window */
  vg_delta_begin(&b, VG_DELTA_DELTAS);
  vg_delta_entry(&b, 1, T_S, T_S + 60, VG_INTO_ALL, &a);
  assert_int_equal(read_rc(b.p, b.len, 60, err, sizeof err), VG_EDECODE);
  vg_delta_begin(&b, VG_DELTA_DELTAS);
  vg_delta_kept(&b, 1, T_S, T_S + 60, VG_INTO_BASE, 4, &r, 1);
  assert_int_equal(read_rc(b.p, b.len, 60, err, sizeof err), VG_EDECODE);
  /* a reading outside its window */
  r.t = (T_S + 61) * S;
  vg_delta_begin(&b, VG_DELTA_DELTAS);
  vg_delta_kept(&b, 1, T_S, T_S + 60, 0, 4, &r, 1);
  assert_int_equal(read_rc(b.p, b.len, 60, err, sizeof err), VG_EDECODE);
  /* a sketch made with other parameters than the store's */
  struct vg_acc_opts other = *opts();
  other.hll_p = opts()->hll_p - 1;
  struct vg_acc h;
  vg_acc_init(&h);
  assert_int_equal(vg_acc_add(&h, &other, T_S * S, 1, 1, 5), 0);
  assert_int_equal(vg_acc_add(&h, &other, T_S * S + 1, 2, 1, 6), 0);
  vg_delta_begin(&b, VG_DELTA_DELTAS);
  vg_delta_entry(&b, 1, T_S, T_S + 60, 0, &h);
  assert_int_equal(read_rc(b.p, b.len, 60, err, sizeof err), VG_EDECODE);
  vg_acc_release(&h);
  vg_acc_release(&a);
  vg_delta_buf_release(&b);
}

/* ---- ingest + store == standalone ---- */

static struct vg_agg *agg_new(const struct vg_tz *tz, uint32_t nparts) {
  struct vg_agg_opts o = {.nworkers = 1,
                          .nparts = nparts,
                          .base_s = 60,
                          .ooo_ns = 10 * S,
                          .idle_ns = 30 * S,
                          .win = {.lateness_s = 3600, .acc = *opts()},
                          .dedupe_s = 0};
  struct vg_agg *a = NULL;
  char err[200];
  assert_int_equal(vg_agg_new(tz, &o, 0, &a, err, sizeof err), 0);
  return a;
}

struct enc {
  struct vg_delta_buf *b;
};

static int enc_entry(void *ctx, const struct vg_wentry *d, unsigned skipped) {
  struct enc *x = ctx;
  vg_delta_entry(x->b, d->series, d->start, d->end, skipped, &d->acc);
  return 0;
}

static int enc_kept(void *ctx, const struct vg_wentry *d, unsigned skipped, uint32_t max,
                    const struct vg_delta_reading *r, size_t n) {
  struct enc *x = ctx;
  vg_delta_kept(x->b, d->series, d->start, d->end, skipped, max, r, n);
  return 0;
}

static int enc_pos(void *ctx, uint32_t part, const struct vg_part_pos *pos) {
  (void)ctx, (void)part, (void)pos;
  return 0;
}

struct relay {
  struct vg_worker *w;
  int64_t offset;
};

static int relay_entry(void *ctx, uint64_t series, int64_t start, int64_t end,
                       unsigned skipped, const struct vg_acc *acc) {
  struct relay *x = ctx;
  return vg_worker_merge(x->w, 0, x->offset, series, start, end, skipped, acc, 1);
}

static int relay_kept(void *ctx, uint64_t series, int64_t start, int64_t end,
                      unsigned skipped, uint32_t max, const struct vg_delta_reading *r,
                      size_t n) {
  struct relay *x = ctx;
  for (size_t i = 0; i < n; i++)
    if (vg_worker_add_kept(x->w, 0, x->offset, series, start, end, skipped, max, &r[i],
                           1) != 0)
      return -ENOMEM;
  return 0;
}

static void ingest_and_store_equal_standalone(void **state) {
  (void)state;
  struct vg_tz *tz = NULL;
  assert_int_equal(vg_tz_load("Europe/Paris", &tz, NULL, 0), 0);
  struct rng g = {2026};
  for (int round = 0; round < 4; round++) {
    struct vg_agg *sa = agg_new(tz, 2), *in[2] = {agg_new(tz, 2), agg_new(tz, 2)};
    struct vg_agg *st = agg_new(tz, 1);
    struct vg_delta_buf b = {0};
    int64_t off[2] = {0, 0};
    for (int ep = 0; ep < 5; ep++) {
      for (int i = 0; i < 3000; i++) {
        uint32_t part = (uint32_t)rng_below(&g, 2);
        uint64_t series = 1 + rng_below(&g, 40);
        /* series 1..10 dedupe, and re-send a tenth of their readings from
         * either partition: the copies go into both ingest instances */
        int dd = series <= 10;
        int64_t t = (T_S + ep * 600 + (int64_t)rng_below(&g, 7200)) * S;
        if (!dd) /* distinct times: first/last have no ties to break by order */
          t += (int64_t)rng_below(&g, S);
        /* a dedupe reading's value follows from its identity: of two
         * readings with one identity, which is kept is then immaterial */
        double v = dd ? (double)((uint64_t)t / S % 997 + series) / 8
                      : (double)rng_below(&g, 1000) / 8;
        struct vg_agg_event ev = {.series = series,
                                  .time_ns = t,
                                  .value = v,
                                  .distinct = rng_below(&g, 50),
                                  .has_distinct = !dd && rng_below(&g, 2),
                                  .dedupe = dd ? 64 : 0};
        int copies = dd && rng_below(&g, 10) == 0 ? 2 : 1;
        for (int c = 0; c < copies; c++) {
          uint32_t p = c ? 1 - part : part;
          assert_int_equal(vg_worker_add(vg_agg_worker(sa, 0), p, off[p], &ev, 1), 0);
          assert_int_equal(vg_worker_add(vg_agg_worker(in[p], 0), p, off[p], &ev, 1), 0);
          off[p]++;
        }
      }
      assert_int_equal(vg_worker_flush(vg_agg_worker(sa, 0), 2), 0);
      assert_true(vg_agg_collect(sa, 2, NULL, NULL) >= 0);
      /* each ingest instance's epoch, as one record, into the store's */
      struct vg_worker *sw = vg_agg_worker(st, 0);
      for (int k = 0; k < 2; k++) {
        assert_int_equal(vg_worker_flush(vg_agg_worker(in[k], 0), 2), 0);
        vg_delta_begin(&b, VG_DELTA_DELTAS);
        struct enc x = {&b};
        static const struct vg_agg_visitor v = {enc_entry, enc_kept, enc_pos};
        assert_int_equal(vg_agg_take(in[k], 0, &v, &x), 0);
        assert_false(b.err);
        struct relay rl = {sw, ep * 2 + k};
        static const struct vg_delta_visitor dv = {NULL, relay_entry, relay_kept, NULL};
        char err[256];
        assert_int_equal(vg_delta_read(b.p, b.len, 60, opts(), &dv, &rl, err, sizeof err),
                         0);
      }
      assert_int_equal(vg_worker_flush(sw, 2), 0);
      assert_true(vg_agg_collect(st, 2, NULL, NULL) >= 0);
    }
    const struct vg_windows *ws = vg_agg_windows(sa), *wt = vg_agg_windows(st);
    assert_int_equal(ws->t.n, wt->t.n);
    /* copies within an ingest instance's epoch are dropped there, the
     * others by the store */
    assert_true(wt->c.duplicates > 0);
    assert_int_equal(ws->c.duplicates, wt->c.duplicates +
                                           vg_agg_windows(in[0])->c.duplicates +
                                           vg_agg_windows(in[1])->c.duplicates);
    assert_int_equal(ws->c.aggregated, wt->c.aggregated);
    for (uint32_t k = 0; k < ws->t.n; k++) {
      const struct vg_wentry *a = &ws->t.e[k];
      const struct vg_wentry *o = vg_windows_get(wt, a->series, a->res, a->start);
      assert_non_null(o);
      assert_int_equal(o->acc.st.count, a->acc.st.count);
      assert_true(vg_acc_equal(&o->acc, &a->acc, 1e-12));
    }
    vg_delta_buf_release(&b);
    vg_agg_free(sa);
    vg_agg_free(in[0]);
    vg_agg_free(in[1]);
    vg_agg_free(st);
  }
  vg_tz_free(tz);
}

int vg_test_agg_delta(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(records_read_back_as_written),
      cmocka_unit_test(malformed_records_are_refused),
      cmocka_unit_test(ingest_and_store_equal_standalone),
  };
  return cmocka_run_group_tests_name("agg_delta", tests, NULL, NULL);
}
