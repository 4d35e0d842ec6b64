/*
 * The JSON writer (engine/publish/jsonw.c): hostile strings as keys and
 * values parse back exactly (invalid UTF-8 as U+FFFD), numbers print as
 * vg_fmt_double, misuse and the cap are errors, never malformed text.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "hostile.h"
#include "vigie/jsonw.h"

static char *take(struct vg_jsonw *w) {
  size_t len;
  char *s = vg_jsonw_take(w, &len);
  assert_non_null(s);
  assert_int_equal(strlen(s), len);
  return s;
}

static void hostile_values_and_keys_round_trip(void **state) {
  (void)state;
  struct vg_jsonw *w = vg_jsonw_new(0);
  assert_non_null(w);
  size_t nlong;
  const char *lng = hostile_long(&nlong);
  for (size_t i = 0; i <= NHOSTILE_C; i++) {
    struct hostile h =
        i < NHOSTILE_C ? hostile_c[i] : (struct hostile){lng, lng, nlong, nlong};
    vg_jsonw_map(w);
    vg_jsonw_cstr(w, "v");
    vg_jsonw_str(w, h.s, h.len);
    vg_jsonw_str(w, h.s, h.len); /* as a key */
    vg_jsonw_u64(w, 1);
    vg_jsonw_map_end(w);
    assert_int_equal(vg_jsonw_error(w), 0);
    char *doc = take(w);
    hostile_check(doc, (const char *[]){"v", NULL}, h.want, h.want_len);
    /* the key: the only other member */
    char err[128];
    yajl_val root = yajl_tree_parse(doc, err, sizeof err);
    assert_non_null(root);
    assert_int_equal(root->u.object.len, 2);
    const char *key = root->u.object.keys[1];
    assert_int_equal(strlen(key), h.want_len);
    assert_memory_equal(key, h.want, h.want_len);
    yajl_tree_free(root);
    free(doc);
  }
  vg_jsonw_free(w);
}

static void escapes_are_json_escapes(void **state) {
  (void)state;
  struct vg_jsonw *w = vg_jsonw_new(0);
  vg_jsonw_str(w, "\"\\/\b\f\n\r\t\x01\x1f\0<\xe2\x80\xa8", 15);
  char *doc = take(w);
  /* NUL as \u0000 (a C string cannot carry it, a length can) */
  assert_string_equal(doc,
                      "\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001F\\u0000<\xe2\x80\xa8\"");
  free(doc);
  vg_jsonw_free(w);
}

static void numbers_print_as_vg_fmt_double(void **state) {
  (void)state;
  struct vg_jsonw *w = vg_jsonw_new(0);
  vg_jsonw_array(w);
  vg_jsonw_double(w, 0.1);
  vg_jsonw_double(w, 1e300);
  vg_jsonw_double(w, -0.0);
  vg_jsonw_double(w, 1.0 / 3);
  vg_jsonw_double(w, NAN);
  vg_jsonw_double(w, -INFINITY);
  vg_jsonw_u64(w, UINT64_MAX);
  vg_jsonw_i64(w, INT64_MIN);
  vg_jsonw_i64(w, 42);
  vg_jsonw_bool(w, 1);
  vg_jsonw_bool(w, 0);
  vg_jsonw_null(w);
  vg_jsonw_cstr(w, NULL);
  vg_jsonw_array_end(w);
  char *doc = take(w);
  assert_string_equal(doc, "[0.1,1e+300,-0,0.3333333333333333,null,null,"
                           "18446744073709551615,-9223372036854775808,42,true,false,"
                           "null,null]");
  free(doc);
  vg_jsonw_free(w);
}

static void misuse_is_an_error_not_text(void **state) {
  (void)state;
  struct vg_jsonw *w = vg_jsonw_new(0);
  vg_jsonw_map(w);
  vg_jsonw_u64(w, 1); /* a number where a key is expected */
  assert_int_equal(vg_jsonw_error(w), -EINVAL);
  size_t len;
  assert_null(vg_jsonw_take(w, &len));
  vg_jsonw_clear(w);
  vg_jsonw_array_end(w); /* closes nothing */
  assert_int_equal(vg_jsonw_error(w), -EINVAL);
  vg_jsonw_clear(w);
  vg_jsonw_u64(w, 1);
  vg_jsonw_u64(w, 2); /* a second top-level value without vg_jsonw_next */
  assert_int_equal(vg_jsonw_error(w), -EINVAL);
  vg_jsonw_clear(w);
  struct vg_jsonw *empty = vg_jsonw_new(0);
  vg_jsonw_array(w);
  vg_jsonw_embed(w, empty); /* no value to embed */
  assert_int_equal(vg_jsonw_error(w), -EINVAL);
  vg_jsonw_free(empty);
  vg_jsonw_free(w);
}

static void the_cap_is_an_error(void **state) {
  (void)state;
  struct vg_jsonw *w = vg_jsonw_new(64);
  size_t n;
  const char *lng = hostile_long(&n);
  vg_jsonw_array(w);
  vg_jsonw_str(w, lng, n);
  vg_jsonw_array_end(w);
  assert_int_equal(vg_jsonw_error(w), -EMSGSIZE);
  size_t len;
  assert_null(vg_jsonw_take(w, &len));
  vg_jsonw_clear(w); /* usable again */
  vg_jsonw_str(w, "ok", 2);
  char *doc = take(w);
  assert_string_equal(doc, "\"ok\"");
  free(doc);
  vg_jsonw_free(w);
}

static void streams_embed_and_flush(void **state) {
  (void)state;
  struct vg_jsonw *page = vg_jsonw_new(0), *w = vg_jsonw_new(0);
  vg_jsonw_array(page);
  vg_jsonw_kv(page, "a\"", NULL); /* a string then a null: two elements */
  vg_jsonw_array_end(page);
  vg_jsonw_map(w);
  vg_jsonw_cstr(w, "n");
  vg_jsonw_u64(w, 2);
  vg_jsonw_cstr(w, "results");
  vg_jsonw_embed(w, page);
  vg_jsonw_map_end(w);
  vg_jsonw_raw(w, "\n");
  vg_jsonw_next(w);
  vg_jsonw_map(w);
  vg_jsonw_map_end(w);
  char *buf = NULL;
  size_t blen = 0;
  FILE *f = open_memstream(&buf, &blen);
  assert_int_equal(vg_jsonw_flush(w, f), 0);
  fclose(f);
  assert_string_equal(buf, "{\"n\":2,\"results\":[\"a\\\"\",null]}\n{}");
  free(buf);
  vg_jsonw_free(page);
  vg_jsonw_free(w);
}

int vg_test_publish_jsonw(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hostile_values_and_keys_round_trip),
      cmocka_unit_test(escapes_are_json_escapes),
      cmocka_unit_test(numbers_print_as_vg_fmt_double),
      cmocka_unit_test(misuse_is_an_error_not_text),
      cmocka_unit_test(the_cap_is_an_error),
      cmocka_unit_test(streams_embed_and_flush),
  };
  return cmocka_run_group_tests_name("publish_jsonw", tests, NULL, NULL);
}
