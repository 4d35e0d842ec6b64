/* Unit tests of engine/common: errors, hashes, log rate limiting. */
#include <errno.h>
#include <string.h>

#include "testutil.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/log.h"
#include "vigie/text.h"
#include "vigie/utf8.h"

#ifdef VG_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static void strerror_names_every_code(void **state) {
  (void)state;
  assert_string_equal(vg_strerror(0), "success");
  assert_string_equal(vg_strerror(-ENOMEM), strerror(ENOMEM));
  for (int e = VG_ERR_BASE; e < VG_ERR_LAST; e++) {
    const char *s = vg_strerror(e);
    assert_non_null(s);
    assert_string_not_equal(s, "unknown error");
  }
  assert_string_equal(vg_strerror(VG_ERR_LAST), "unknown error");
}

static void errstr_formats_and_returns(void **state) {
  (void)state;
  char b[16];
  assert_int_equal(vg_errstr_rc(-EINVAL, b, sizeof b, "month %d is out", 13), -EINVAL);
  assert_string_equal(b, "month 13 is out");
  assert_int_equal(vg_errstr_rc(VG_ECONFIG, b, 6, "%s", "truncated"), VG_ECONFIG);
  assert_string_equal(b, "trunc");
  /* no buffer: nothing written, the code still returned */
  assert_int_equal(vg_errstr_rc(-EIO, NULL, 16, "x"), -EIO);
  assert_int_equal(vg_errstr_rc(-EIO, b, 0, "x"), -EIO);
  assert_string_equal(b, "trunc");
}

static void fnv1a64_matches_reference_vectors(void **state) {
  (void)state;
  /* published FNV-1a 64 test vectors */
  assert_int_equal(vg_fnv1a64(VG_FNV64_OFFSET, "", 0), 0xcbf29ce484222325ULL);
  assert_int_equal(vg_fnv1a64(VG_FNV64_OFFSET, "a", 1), 0xaf63dc4c8601ec8cULL);
  assert_int_equal(vg_fnv1a64(VG_FNV64_OFFSET, "foobar", 6), 0x85944171f73967e8ULL);
}

static void siphash_matches_the_paper(void **state) {
  (void)state;
  uint8_t key[16], msg[64];
  for (int i = 0; i < 16; i++)
    key[i] = (uint8_t)i;
  for (int i = 0; i < 64; i++)
    msg[i] = (uint8_t)i;
  /* the paper's worked example (15 bytes) and the first reference vectors */
  assert_int_equal(vg_siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);
  assert_int_equal(vg_siphash24(key, msg, 0), 0x726fdb47dd0e0e31ULL);
  assert_int_equal(vg_siphash24(key, msg, 1), 0x74f839c593dc67fdULL);
  key[0] ^= 1; /* another key, another value */
  assert_int_not_equal(vg_siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);
}

static void multiset_digest_ignores_order(void **state) {
  (void)state;
  uint64_t a = 0, b = 0;
  a = vg_multiset_digest_add(a, "x", 1);
  a = vg_multiset_digest_add(a, "yy", 2);
  b = vg_multiset_digest_add(b, "yy", 2);
  b = vg_multiset_digest_add(b, "x", 1);
  assert_int_equal(a, b);
  b = vg_multiset_digest_add(b, "x", 1); /* a duplicate changes it */
  assert_int_not_equal(a, b);
}

static void ratelimit_passes_once_per_interval(void **state) {
  (void)state;
  struct vg_log_ratelimit rl = {0};
  assert_int_equal(vg_log_ratelimit_pass(&rl, 60000), 0);
  assert_int_equal(vg_log_ratelimit_pass(&rl, 60000), -1);
  assert_int_equal(vg_log_ratelimit_pass(&rl, 60000), -1);
  atomic_store(&rl.next_ms, 0); /* the interval elapsed */
  assert_int_equal(vg_log_ratelimit_pass(&rl, 60000), 2);
}

static void log_level_parses(void **state) {
  (void)state;
  enum vg_log_level l;
  assert_int_equal(vg_log_parse_level("debug", &l), 0);
  assert_int_equal(l, VG_LOG_DEBUG);
  assert_int_equal(vg_log_parse_level("loud", &l), -EINVAL);
}

/* Every binary allocates with jemalloc (sanitizer builds excepted): plain
 * malloc() in this runner must be jemalloc's, which its statistics show. */
static void malloc_is_jemalloc(void **state) {
  (void)state;
#ifdef VG_HAVE_JEMALLOC
  uint64_t epoch = 1;
  size_t allocated0, allocated1, sz = sizeof(size_t);
  assert_int_equal(mallctl("epoch", NULL, NULL, &epoch, sizeof epoch), 0);
  assert_int_equal(mallctl("stats.allocated", &allocated0, &sz, NULL, 0), 0);
  void *volatile p = malloc(64 << 20); /* plain malloc, not je_malloc */
  assert_non_null(p);
  assert_int_equal(mallctl("epoch", NULL, NULL, &epoch, sizeof epoch), 0);
  assert_int_equal(mallctl("stats.allocated", &allocated1, &sz, NULL, 0), 0);
  free(p);
  assert_true(allocated1 >= allocated0 + (64 << 20));
#else
  skip(); /* sanitizer build: its runtime owns malloc */
#endif
}

static void utf8_validation_is_strict(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t n, valid;
  } v[] = {
      {"plain", 5, 5},
      {"caf\xc3\xa9", 5, 5},      /* U+00E9 */
      {"\xe2\x80\x94", 3, 3},     /* U+2014 */
      {"\xf0\x9f\x9a\xb2", 4, 4}, /* U+1F6B2 */
      {"ab\xff", 3, 2},           /* never valid */
      {"\xc0\xaf", 2, 0},         /* overlong '/' */
      {"\xe0\x80\xaf", 3, 0},     /* overlong */
      {"\xed\xa0\x80", 3, 0},     /* surrogate U+D800 */
      {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
      {"x\xc3", 2, 1},            /* truncated */
      {"x\xc3(", 3, 1},           /* bad continuation */
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (vg_utf8_valid_prefix(v[i].s, v[i].n) != v[i].valid)
      fail_msg("case %zu: valid prefix %zu, expected %zu", i,
               vg_utf8_valid_prefix(v[i].s, v[i].n), v[i].valid);
}

static void edit_distance(void **state) {
  (void)state;
  assert_int_equal(vg_edit_distance("", ""), 0);
  assert_int_equal(vg_edit_distance("windws", "windows"), 1);
  assert_int_equal(vg_edit_distance("kitten", "sitting"), 3);
  char long_a[200], long_b[200];
  memset(long_a, 'a', 199), long_a[199] = 0;
  memset(long_b, 'a', 199), long_b[199] = 0;
  long_b[100] = 'b'; /* past the stack row: the heap one */
  assert_int_equal(vg_edit_distance(long_a, long_b), 1);
}

/* RFC 4648, section 10's test vectors. */
static void base64_matches_rfc4648(void **state) {
  (void)state;
  static const char *const want[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                     "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  const uint8_t *foobar = (const uint8_t *)"foobar";
  for (size_t n = 0; n <= 6; n++) {
    char out[VG_BASE64_LEN(6) + 1];
    assert_int_equal(vg_base64_encode(foobar, n, out), strlen(want[n]));
    assert_string_equal(out, want[n]);
  }
  const uint8_t high[] = {0xfb, 0xff, 0xbf}; /* the last two letters of the alphabet */
  char out[8];
  vg_base64_encode(high, 3, out);
  assert_string_equal(out, "+/+/");
  /* and back; what is not canonical base64 is refused */
  for (size_t n = 0; n <= 6; n++) {
    uint8_t bin[8];
    size_t len = 99;
    assert_int_equal(vg_base64_decode(want[n], strlen(want[n]), bin, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(bin, foobar, n);
  }
  static const char *const bad[] = {"Zg=", "Zh==", "Z===", "Zg==Zg==", "Zm9v!", "Zm 9"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t bin[8];
    size_t len;
    if (vg_base64_decode(bad[i], strlen(bad[i]), bin, &len) == 0)
      fail_msg("\"%s\" decoded", bad[i]);
  }
}

int vg_test_common(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(strerror_names_every_code),
      cmocka_unit_test(errstr_formats_and_returns),
      cmocka_unit_test(fnv1a64_matches_reference_vectors),
      cmocka_unit_test(siphash_matches_the_paper),
      cmocka_unit_test(multiset_digest_ignores_order),
      cmocka_unit_test(ratelimit_passes_once_per_interval),
      cmocka_unit_test(log_level_parses),
      cmocka_unit_test(malloc_is_jemalloc),
      cmocka_unit_test(utf8_validation_is_strict),
      cmocka_unit_test(edit_distance),
      cmocka_unit_test(base64_matches_rfc4648),
  };
  return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
