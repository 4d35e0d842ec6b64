/* Unit test of vg_store_series_each: the series dictionary walked in key
 * order from a read-only snapshot, with ids and first-seen times as
 * committed, and a callback's non-zero return stopping the walk. */
#include <string.h>

#include "testutil.h"
#include "storetest.h"
#include "vigie/error.h"
#include "vigie/store.h"

struct seen {
  int n;
  char key[4][64];
  uint64_t id[4];
  int64_t first[4];
  int stop_at;
};

static int on_series(const struct vg_store_series *s, void *ctx) {
  struct seen *c = ctx;
  if (c->n == c->stop_at)
    return 42;
  assert_true(c->n < 4 && s->key_len < 64);
  memcpy(c->key[c->n], s->key, s->key_len);
  c->key[c->n][s->key_len] = 0;
  c->id[c->n] = s->id;
  c->first[c->n] = s->first_seen_ns;
  c->n++;
  return 0;
}

static void walk_dictionary(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-series-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct vg_store_opts o = {.path = dir, .durability = VG_STORE_NOSYNC};
  struct vg_store *st = NULL;
  char err[256];
  assert_int_equal(vg_store_open(&o, &st, err, sizeof err), 0);

  struct vg_store_reader *r = NULL;
  struct seen c = {.stop_at = -1};
  assert_int_equal(vg_store_reader_begin(st, &r), 0);
  assert_int_equal(vg_store_series_each(r, on_series, &c), 0); /* empty store */
  assert_int_equal(c.n, 0);
  vg_store_reader_end(r);

  struct vg_store_series ser[] = {{9, "pm10{sensor_id=\"b\"}", 19, 6},
                                  {7, "no2{sensor_id=\"a\"}", 18, -5},
                                  {11, "no2{sensor_id=\"b\"}", 18, 1234567890123LL}};
  struct vg_store_epoch ep = {.epoch = 1, .series = ser, .nseries = 3, .watermark_ns = 1};
  assert_int_equal(vg_store_commit(st, &ep, err, sizeof err), 0);
  vg_store_close(st);

  /* a reader process sees them, in key order */
  o.readonly = 1;
  st = NULL;
  assert_int_equal(vg_store_open(&o, &st, err, sizeof err), 0);
  assert_int_equal(vg_store_reader_begin(st, &r), 0);
  assert_int_equal(vg_store_series_each(r, on_series, &c), 0);
  assert_int_equal(c.n, 3);
  assert_string_equal(c.key[0], "no2{sensor_id=\"a\"}");
  assert_string_equal(c.key[1], "no2{sensor_id=\"b\"}");
  assert_string_equal(c.key[2], "pm10{sensor_id=\"b\"}");
  assert_int_equal(c.id[0], 7);
  assert_int_equal(c.id[1], 11);
  assert_int_equal(c.id[2], 9);
  assert_true(c.first[0] == -5 && c.first[1] == 1234567890123LL && c.first[2] == 6);

  /* a non-zero return stops the walk and is returned */
  c = (struct seen){.stop_at = 1};
  assert_int_equal(vg_store_series_each(r, on_series, &c), 42);
  assert_int_equal(c.n, 1);
  vg_store_reader_end(r);
  vg_store_close(st);
  st_rmtree(dir);
}

int vg_test_store_series_each(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(walk_dictionary),
  };
  return cmocka_run_group_tests_name("store_series_each", tests, NULL, NULL);
}
