/* Unit tests of series keys (serieskey.h): the canonical form the codecs
 * have always written, and its split. The fuzz target tests/fuzz/serieskey.c
 * checks split(build(x)) == x over arbitrary input. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vigie/serieskey.h"

static char *build(const char *metric, struct vg_series_tag *tags, size_t n) {
  size_t max = vg_series_key_max(strlen(metric), tags, n);
  char *k = malloc(max + 1);
  assert_non_null(k);
  size_t len = vg_series_key_build(k, metric, strlen(metric), tags, n);
  assert_true(len <= max);
  k[len] = '\0';
  return k;
}

#define TAG(n, v)                                                                        \
  { n, v, (uint32_t)(sizeof n - 1), (uint32_t)(sizeof v - 1) }

static void builds_the_canonical_form(void **state) {
  (void)state;
  struct vg_series_tag t[] = {TAG("sensor_id", "aq-12"),
                              TAG("district", "Centre \"Nord\""), TAG("empty", ""),
                              TAG("district", "Centre \"Nord\"")};
  char *k = build("no2", t, 4);
  assert_string_equal(k, "no2{district=\"Centre \\\"Nord\\\"\",sensor_id=\"aq-12\"}");
  free(k);
  k = build("bare", NULL, 0);
  assert_string_equal(k, "bare");
  free(k);
  struct vg_series_tag e[] = {TAG("x", "")};
  k = build("m", e, 1); /* only empty values: no braces */
  assert_string_equal(k, "m");
  free(k);
  /* names sanitised, values escaped, same name twice with two values */
  struct vg_series_tag s[] = {TAG("a b", "1"), TAG("a", "l1\nl2\\"), TAG("a", "0")};
  k = build("temp{C}", s, 3);
  assert_string_equal(k, "temp_C_{a=\"0\",a=\"l1\\nl2\\\\\",a_b=\"1\"}");
  free(k);
  /* the tag part alone, as the codecs append it */
  struct vg_series_tag u[] = {TAG("unit", "Cel"), TAG("device", "d1")};
  k = build("", u, 2);
  assert_string_equal(k, "{device=\"d1\",unit=\"Cel\"}");
  free(k);
}

struct seen {
  int n;
  char names[4][32], values[4][32];
};

static int record(const char *name, const char *value, void *arg) {
  struct seen *s = arg;
  if (s->n == 4)
    return 42;
  snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
  snprintf(s->values[s->n], sizeof s->values[0], "%s", value);
  s->n++;
  return 0;
}

static void splits_what_it_builds(void **state) {
  (void)state;
  char metric[64];
  struct seen s = {0};
  const char *k = "no2{district=\"Centre \\\"Nord\\\"\",sensor_id=\"aq-12\"}";
  assert_int_equal(vg_series_key_split(k, strlen(k), metric, sizeof metric, record, &s),
                   0);
  assert_string_equal(metric, "no2");
  assert_int_equal(s.n, 2);
  assert_string_equal(s.names[0], "district");
  assert_string_equal(s.values[0], "Centre \"Nord\"");
  assert_string_equal(s.names[1], "sensor_id");
  assert_string_equal(s.values[1], "aq-12");

  s.n = 0;
  k = "m{a=\"l1\\nl2\\\\\"}";
  assert_int_equal(vg_series_key_split(k, strlen(k), metric, sizeof metric, record, &s),
                   0);
  assert_string_equal(s.values[0], "l1\nl2\\");

  assert_int_equal(vg_series_key_split("bare", 4, metric, sizeof metric, NULL, NULL), 0);
  assert_string_equal(metric, "bare");
  assert_int_equal(vg_series_key_split("metric", 6, metric, 4, NULL, NULL), 0);
  assert_string_equal(metric, "met"); /* truncated to msize - 1 */
}

static void split_rejects_malformed_keys(void **state) {
  (void)state;
  char metric[64];
  static const char *const bad[] = {"x{a=\"b",  "x{a=", "x{a",
                                    "x{a=b\"}", "x{",   "x{a=\"b\""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(
        vg_series_key_split(bad[i], strlen(bad[i]), metric, sizeof metric, NULL, NULL),
        -EINVAL);
  /* the callback's non-zero value stops the split */
  struct seen s = {.n = 4};
  const char *k = "m{a=\"1\"}";
  assert_int_equal(vg_series_key_split(k, strlen(k), metric, sizeof metric, record, &s),
                   42);
}

static int value_len(const char *name, const char *value, void *arg) {
  (void)name;
  *(size_t *)arg = strlen(value);
  return 0;
}

static void split_long_values_whole(void **state) {
  (void)state;
  /* a value longer than any fixed buffer comes back whole */
  size_t n = 5000, got = 0;
  char *v = malloc(n);
  assert_non_null(v);
  memset(v, 'v', n);
  struct vg_series_tag t[] = {{"t", v, 1, (uint32_t)n}};
  char *k = build("m", t, 1);
  char metric[8];
  assert_int_equal(
      vg_series_key_split(k, strlen(k), metric, sizeof metric, value_len, &got), 0);
  assert_int_equal(got, n);
  free(k);
  free(v);
}

int vg_test_common_serieskey(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(builds_the_canonical_form),
      cmocka_unit_test(splits_what_it_builds),
      cmocka_unit_test(split_rejects_malformed_keys),
      cmocka_unit_test(split_long_values_whole),
  };
  return cmocka_run_group_tests_name("common_serieskey", tests, NULL, NULL);
}
