/*
 * Unit tests of engine/common/metrics.c: the exposition format, label
 * escaping, histograms, and lock-free updates from many threads.
 */
#include <pthread.h>
#include <string.h>

#include "testutil.h"
#include "vigie/metrics.h"

static char *render(struct vg_metrics *m) {
  char *out;
  size_t len;
  assert_int_equal(vg_metrics_render(m, &out, &len), 0);
  assert_int_equal(strlen(out), len);
  return out;
}

static double seven(void *ctx) {
  return *(double *)ctx;
}

static void renders_prometheus_text(void **state) {
  (void)state;
  struct vg_metrics *m;
  char lb[256];
  assert_int_equal(vg_metrics_new(&m), 0);
  struct vg_counter *c =
      vg_metrics_counter(m, "vigie_rejects_total", "Rejected messages by reason.",
                         vg_metrics_labels(lb, sizeof lb, "reason", "not_json", "topic",
                                           "a\"b\\c\nd", NULL));
  assert_non_null(c);
  vg_counter_add(c, 3);
  /* same name and labels: the same series */
  assert_ptr_equal(c, vg_metrics_counter(m, "vigie_rejects_total", "x", lb));
  /* a name cannot change type */
  assert_null(vg_metrics_gauge(m, "vigie_rejects_total", "x", NULL));
  struct vg_gauge *g = vg_metrics_gauge(m, "vigie_open_windows", "Open windows.", NULL);
  vg_gauge_set(g, -5);
  double v = 7.25;
  assert_int_equal(
      vg_metrics_gauge_fn(m, "vigie_store_bytes", "Store size.", NULL, seven, &v), 0);
  static const double bounds[] = {0.01, 0.1, 1};
  struct vg_histogram *h = vg_metrics_histogram(m, "vigie_commit_seconds",
                                                "Epoch commit time.", NULL, bounds, 3);
  vg_histogram_observe(h, 0.005);
  vg_histogram_observe(h, 0.05);
  vg_histogram_observe(h, 5);
  char *out = render(m);
  static const char *const want[] = {
      "# HELP vigie_rejects_total Rejected messages by reason.\n"
      "# TYPE vigie_rejects_total counter\n"
      "vigie_rejects_total{reason=\"not_json\",topic=\"a\\\"b\\\\c\\nd\"} 3\n",
      "# TYPE vigie_open_windows gauge\nvigie_open_windows -5\n",
      "vigie_store_bytes 7.25\n",
      "# TYPE vigie_commit_seconds histogram\n",
      "vigie_commit_seconds_bucket{le=\"0.01\"} 1\n",
      "vigie_commit_seconds_bucket{le=\"0.1\"} 2\n",
      "vigie_commit_seconds_bucket{le=\"1\"} 2\n",
      "vigie_commit_seconds_bucket{le=\"+Inf\"} 3\n",
      "vigie_commit_seconds_sum 5.0549999999999997\n",
      "vigie_commit_seconds_count 3\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(out, want[i]))
      fail_msg("missing:\n%s\nin:\n%s", want[i], out);
  free(out);
  vg_metrics_free(m);
}

struct shared {
  struct vg_counter *c;
  struct vg_histogram *h;
};

static void *hammer(void *arg) {
  struct shared *s = arg;
  for (int i = 0; i < 100000; i++) {
    vg_counter_add(s->c, 1);
    if (i % 100 == 0)
      vg_histogram_observe(s->h, 1.0);
  }
  return NULL;
}

static void thread_updates_are_not_lost(void **state) {
  (void)state;
  struct vg_metrics *m;
  static const double bounds[] = {0.5};
  assert_int_equal(vg_metrics_new(&m), 0);
  struct shared s = {vg_metrics_counter(m, "n_total", "n", NULL),
                     vg_metrics_histogram(m, "h", "h", NULL, bounds, 1)};
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, hammer, &s);
  for (int i = 0; i < 4; i++) /* render while they write */
    free(render(m));
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  char *out = render(m);
  assert_non_null(strstr(out, "n_total 800000\n"));
  assert_non_null(strstr(out, "h_count 8000\n"));
  assert_non_null(strstr(out, "h_sum 8000\n"));
  free(out);
  vg_metrics_free(m);
}

int vg_test_common_metrics_thread(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(renders_prometheus_text),
      cmocka_unit_test(thread_updates_are_not_lost),
  };
  return cmocka_run_group_tests_name("common_metrics_thread", tests, NULL, NULL);
}
