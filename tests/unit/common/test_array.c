/* Unit tests of VG_GROW (array.h): growth, capacity rule, failure leaves the
 * array as it was. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "testutil.h"
#include "vigie/array.h"

static void grows_and_keeps_elements(void **state) {
  (void)state;
  int *v = NULL;
  size_t n = 0, alloc = 0;
  for (int i = 0; i < 1000; i++) {
    assert_int_equal(VG_GROW(v, n + 1, alloc), 0);
    assert_true(alloc >= n + 1);
    v[n++] = i;
  }
  for (int i = 0; i < 1000; i++)
    assert_int_equal(v[i], i);
  assert_int_equal(alloc, 1024); /* 16, doubled */
  free(v);
}

static void capacity_rule(void **state) {
  (void)state;
  char *p = NULL;
  size_t alloc = 0, none = 0;
  assert_int_equal(VG_GROW(p, none, alloc), 0); /* nothing needed, nothing done */
  assert_null(p);
  assert_int_equal(alloc, 0);
  assert_int_equal(VG_GROW(p, 1, alloc), 0);
  assert_int_equal(alloc, 16);
  char *before = p;
  assert_int_equal(VG_GROW(p, 16, alloc), 0); /* covered: no realloc */
  assert_ptr_equal(p, before);
  assert_int_equal(VG_GROW(p, 17, alloc), 0);
  assert_int_equal(alloc, 32);
  assert_int_equal(VG_GROW(p, 1000, alloc), 0); /* doubles until it covers */
  assert_int_equal(alloc, 1024);
  free(p);
}

static void overflow_fails_untouched(void **state) {
  (void)state;
  uint64_t *v = NULL;
  size_t alloc = 0;
  assert_int_equal(VG_GROW(v, 3, alloc), 0);
  v[0] = 7;
  uint64_t *before = v;
  size_t cap = alloc;
  /* nr * sizeof *v overflows size_t */
  assert_int_equal(VG_GROW(v, SIZE_MAX / 4, alloc), -ENOMEM);
  assert_ptr_equal(v, before);
  assert_int_equal(alloc, cap);
  assert_int_equal(VG_GROW(v, SIZE_MAX, alloc), -ENOMEM);
  assert_ptr_equal(v, before);
  assert_int_equal(alloc, cap);
  assert_int_equal(v[0], 7);
  free(v);
}

int vg_test_common_array(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(grows_and_keeps_elements),
      cmocka_unit_test(capacity_rule),
      cmocka_unit_test(overflow_fails_untouched),
  };
  return cmocka_run_group_tests_name("common_array", tests, NULL, NULL);
}
