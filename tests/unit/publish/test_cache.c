/* Unit tests of the answer cache (cache.h): hits only under the tag stored,
 * a stale entry dropped, replacement, least-recently-used eviction within
 * the bound, a value too large for it refused, the NULL cache of a bound of
 * 0; and threads sharing one cache (the TSan stage runs that group). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vigie/cache.h"

static int get(struct vg_cache *c, const char *key, uint64_t tag, char *out,
               size_t size) {
  char *v = NULL;
  size_t len = 0;
  int rc = vg_cache_get(c, key, strlen(key), tag, &v, &len);
  if (rc == 1) {
    assert_int_equal(v[len], '\0');
    snprintf(out, size, "%s", v);
    free(v);
  }
  return rc;
}

static void put(struct vg_cache *c, const char *key, uint64_t tag, const char *val) {
  vg_cache_put(c, key, strlen(key), tag, val, strlen(val));
}

static void hits_follow_the_tag(void **state) {
  (void)state;
  struct vg_cache *c;
  struct vg_cache_stats s;
  char buf[64];
  assert_int_equal(vg_cache_new(1 << 20, &c), 0);
  assert_int_equal(get(c, "/records?a", 1, buf, sizeof buf), 0);
  put(c, "/records?a", 1, "answer one");
  assert_int_equal(get(c, "/records?a", 1, buf, sizeof buf), 1);
  assert_string_equal(buf, "answer one");
  assert_int_equal(get(c, "/records?b", 1, buf, sizeof buf), 0); /* another key */
  /* the state moved: the entry is stale, dropped, not served */
  assert_int_equal(get(c, "/records?a", 2, buf, sizeof buf), 0);
  assert_int_equal(get(c, "/records?a", 1, buf, sizeof buf), 0);
  put(c, "/records?a", 2, "answer two");
  put(c, "/records?a", 3, "answer three"); /* replaces */
  assert_int_equal(get(c, "/records?a", 3, buf, sizeof buf), 1);
  assert_string_equal(buf, "answer three");
  vg_cache_stats(c, &s);
  assert_int_equal(s.hits, 2);
  assert_int_equal(s.misses, 4);
  assert_int_equal(s.stale, 1);
  assert_int_equal(s.entries, 1);
  /* keys are bytes: an embedded NUL is part of them */
  vg_cache_put(c, "k\0x", 3, 1, "v1", 2);
  vg_cache_put(c, "k\0y", 3, 1, "v2", 2);
  char *v;
  size_t len;
  assert_int_equal(vg_cache_get(c, "k\0x", 3, 1, &v, &len), 1);
  assert_true(len == 2 && memcmp(v, "v1", 2) == 0);
  free(v);
  vg_cache_free(c);
}

static void lru_within_the_bound(void **state) {
  (void)state;
  struct vg_cache *c;
  struct vg_cache_stats s;
  char buf[64], key[32], big[8192];
  assert_int_equal(vg_cache_new(64 << 10, &c), 0); /* entries up to 8 KiB */
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  put(c, "too-big", 1, big);
  assert_int_equal(get(c, "too-big", 1, buf, sizeof buf), 0);
  char val[4000];
  memset(val, 'v', sizeof val - 1);
  val[sizeof val - 1] = '\0';
  for (int i = 0; i < 40; i++) { /* 40 x ~4 KiB in 64 KiB: the oldest go */
    snprintf(key, sizeof key, "k%d", i);
    put(c, key, 1, val);
    char *v; /* k0 is asked for all along: it stays while k1.. go */
    size_t len;
    assert_int_equal(vg_cache_get(c, "k0", 2, 1, &v, &len), 1);
    free(v);
  }
  vg_cache_stats(c, &s);
  assert_true(s.bytes <= 64 << 10);
  assert_true(s.entries >= 14 && s.entries <= 16); /* 64 KiB / ~4 KiB */
  char *v;
  size_t len;
  assert_int_equal(vg_cache_get(c, "k39", 3, 1, &v, &len), 1);
  free(v);
  assert_int_equal(vg_cache_get(c, "k1", 2, 1, &v, &len), 0);
  assert_int_equal(vg_cache_get(c, "k0", 2, 1, &v, &len), 1);
  free(v);
  vg_cache_free(c);
  /* no bound, no cache: every call is a no-op */
  assert_int_equal(vg_cache_new(0, &c), 0);
  assert_null(c);
  put(c, "a", 1, "b");
  assert_int_equal(get(c, "a", 1, buf, sizeof buf), 0);
  vg_cache_stats(c, &s);
  assert_int_equal(s.hits + s.misses + s.entries, 0);
  vg_cache_free(c);
}

struct hammer {
  struct vg_cache *c;
  int id;
  int bad;
};

static void *hammer(void *arg) {
  struct hammer *h = arg;
  char key[32], val[64];
  for (int i = 0; i < 20000; i++) {
    int k = (i * 7 + h->id) % 50;
    uint64_t tag = (uint64_t)(i / 1000);
    snprintf(key, sizeof key, "key%d", k);
    snprintf(val, sizeof val, "value of %d at %llu", k, (unsigned long long)tag);
    char *v;
    size_t len;
    int rc = vg_cache_get(h->c, key, strlen(key), tag, &v, &len);
    if (rc == 1) { /* whatever thread stored it, it is this key's at this tag */
      h->bad += strcmp(v, val) != 0;
      free(v);
    } else {
      vg_cache_put(h->c, key, strlen(key), tag, val, strlen(val));
    }
  }
  return NULL;
}

static void threads_share_a_cache(void **state) {
  (void)state;
  struct vg_cache *c;
  struct vg_cache_stats s;
  assert_int_equal(vg_cache_new(16 << 10, &c), 0);
  pthread_t th[4];
  struct hammer h[4];
  for (int i = 0; i < 4; i++) {
    h[i] = (struct hammer){c, i, 0};
    assert_int_equal(pthread_create(&th[i], NULL, hammer, &h[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(h[i].bad, 0);
  }
  vg_cache_stats(c, &s);
  assert_int_equal(s.hits + s.misses, 4 * 20000);
  assert_true(s.hits > 0 && s.bytes <= 16 << 10);
  vg_cache_free(c);
}

int vg_test_publish_cache(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hits_follow_the_tag),
      cmocka_unit_test(lru_within_the_bound),
  };
  return cmocka_run_group_tests_name("publish_cache", tests, NULL, NULL);
}

int vg_test_publish_cache_thread(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(threads_share_a_cache)};
  return cmocka_run_group_tests_name("publish_cache_thread", tests, NULL, NULL);
}
