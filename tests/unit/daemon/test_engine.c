/*
 * The engine end to end on librdkafka's mock cluster (the real-broker
 * acceptance tests are in tests/integration): messages of several
 * partitions, malformed ones among them, are drained into the store; the
 * stored hourly windows equal what the test computes from what it produced;
 * the malformed ones are in the dead-letter topic; a second drain after more
 * messages counts the new ones only.
 *
 * Not a TSan group: librdkafka is not instrumented, and its mock cluster's
 * threads crash TSan's allocator (both gcc's and clang's runtimes). The
 * engine's own hand-off is TSan-tested in agg_thread_worker.
 */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "testutil.h"
#include "vigie/config.h"
#include "daemon/engine.h"
#include "vigie/error.h"
#include "vigie/kafka.h"
#include "vigie/log.h"
#include "vigie/store.h"

#define SENSORS 5
#define HOURS   6
#define T0      1774656000LL /* 2026-03-28T00:00:00Z */

struct expect {
  uint64_t count[SENSORS][HOURS];
  double sum[SENSORS][HOURS];
  int bad;
};

/* Produces n readings (every 7th message malformed) starting at seq. */
static void produce(const char *bootstrap, int seq, int n, struct expect *x) {
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(p);
  for (int i = seq; i < seq + n; i++) {
    char msg[160];
    int s = i % SENSORS, h = (i / SENSORS) % HOURS;
    int64_t ts = T0 + h * 3600 + (i * 37) % 3600;
    double v = (double)(i % 101) / 4.0;
    int len;
    if (i % 7 == 3) {
      len = snprintf(msg, sizeof msg,
                     "{\"ts\":%lld,\"sensor_id\":\"s%d\",\"v\":", (long long)ts,
                     s); /* truncated */
      x->bad++;
    } else {
      len = snprintf(msg, sizeof msg, "{\"ts\":%lld,\"sensor_id\":\"s%d\",\"v\":%.2f}",
                     (long long)ts, s, v);
      x->count[s][h]++;
      x->sum[s][h] += v;
    }
    assert_int_equal(
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC("aq"), RD_KAFKA_V_PARTITION(i % 3),
                          RD_KAFKA_V_VALUE(msg, (size_t)len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
        0);
  }
  assert_int_equal(rd_kafka_flush(p, 10000), 0);
  rd_kafka_destroy(p);
}

static void drain(const char *bootstrap, const char *dir, int shards) {
  char yaml[1024], err[4096];
  snprintf(yaml, sizeof yaml,
           "data_dir: %s\ntimezone: UTC\ncheckpoint_interval: 50ms\n"
           "store: {shards: %d}\nkafka: {brokers: \"%s\"}\n"
           "sources:\n  - topic: aq\n    time_key: ts\n    entity_key: sensor_id\n"
           "    fields: [v]\n",
           dir, shards, bootstrap);
  struct vg_config cfg;
  if (vg_config_parse("test.yaml", yaml, strlen(yaml), &cfg, err, sizeof err) != 0)
    fail_msg("config: %s", err);
  struct vg_engine_opts o = {.cfg = &cfg, .drain = 1};
  struct vg_engine *e;
  if (vg_engine_new(&o, &e, err, sizeof err) != 0)
    fail_msg("engine: %s", err);
  if (vg_engine_run(e, err, sizeof err) != 0)
    fail_msg("run: %s", err);
  vg_engine_free(e);
  vg_config_release(&cfg);
}

struct totals {
  uint64_t count;
  double sum;
};

static int add_window(const struct vg_wentry *w, void *ctx) {
  struct totals *t = ctx;
  t->count += w->acc.st.count;
  t->sum += w->acc.st.sum;
  return 0;
}

static void check_store(const char *dir, const struct expect *x) {
  struct vg_store *st;
  char err[512];
  struct vg_store_opts so = {.path = dir, .readonly = 1};
  assert_int_equal(vg_store_open(&so, &st, err, sizeof err), 0);
  struct vg_store_reader *r;
  assert_int_equal(vg_store_reader_begin(st, &r), 0);
  for (int s = 0; s < SENSORS; s++) {
    char key[64];
    int n = snprintf(key, sizeof key, "v{sensor_id=\"s%d\"}", s);
    uint64_t id;
    assert_int_equal(vg_store_series_id(r, key, (size_t)n, &id), 0);
    for (int h = 0; h < HOURS; h++) {
      struct totals t = {0};
      assert_int_equal(vg_store_read_range(r, id, 1 /* hour */, T0 + h * 3600,
                                           T0 + h * 3600 + 1, add_window, &t, err,
                                           sizeof err),
                       0);
      if (t.count != x->count[s][h] || fabs(t.sum - x->sum[s][h]) > 1e-9)
        fail_msg("sensor %d hour %d: count %llu sum %.3f, expected %llu %.3f", s, h,
                 (unsigned long long)t.count, t.sum, (unsigned long long)x->count[s][h],
                 x->sum[s][h]);
    }
  }
  vg_store_reader_end(r);
  vg_store_close(st);
}

static uint64_t dead_letters(const char *bootstrap) {
  char err[256];
  struct vg_kafka_consumer *c;
  struct vg_kafka_conf kc = {.brokers = bootstrap};
  assert_int_equal(vg_kafka_consumer_new(&c, &kc, err, sizeof err), 0);
  const char *topics[] = {"vigie.dead"};
  assert_int_equal(vg_kafka_assign_all(c, topics, 1, NULL, NULL, 5000, err, sizeof err),
                   0);
  assert_int_equal(vg_kafka_mark_end(c, 5000, err, sizeof err), 0);
  uint64_t n = 0;
  static struct vg_kafka_msg b[256];
  for (int i = 0; i < 500 && !vg_kafka_drained(c); i++) {
    ssize_t k = vg_kafka_consume(c, b, 256, 100);
    assert_true(k >= 0);
    n += (uint64_t)k;
  }
  vg_kafka_consumer_free(c);
  return n;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

/* Three drains of the same topic into one store of `shards` shards: after
 * each, every hourly window holds what was produced, once. */
static void drain_thrice(int shards) {
  char err[256], dir[] = "/tmp/vigie-engine-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct vg_kafka_mock *mock;
  const char *bootstrap;
  vg_log_set_level(VG_LOG_WARN);
  assert_int_equal(vg_kafka_mock_new(&mock, 1, &bootstrap, err, sizeof err), 0);
  assert_int_equal(vg_kafka_mock_create_topic(mock, "aq", 3), 0);
  assert_int_equal(vg_kafka_mock_create_topic(mock, "vigie.dead", 1), 0);
  struct expect x = {0};

  produce(bootstrap, 0, 2000, &x);
  drain(bootstrap, dir, shards);
  check_store(dir, &x);
  assert_int_equal(dead_letters(bootstrap), (uint64_t)x.bad);

  /* more messages; the second run resumes at the stored offsets */
  produce(bootstrap, 2000, 1500, &x);
  drain(bootstrap, dir, shards);
  check_store(dir, &x);
  assert_int_equal(dead_letters(bootstrap), (uint64_t)x.bad);

  /* nothing new: nothing changes */
  drain(bootstrap, dir, shards);
  check_store(dir, &x);

  vg_kafka_mock_free(mock);
  nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  vg_log_set_level(VG_LOG_INFO);
}

static void drains_exactly_once_across_runs(void **state) {
  (void)state;
  drain_thrice(1);
}

static void drains_exactly_once_into_three_shards(void **state) {
  (void)state;
  drain_thrice(3);
}

int vg_test_daemon_engine(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(drains_exactly_once_across_runs),
      cmocka_unit_test(drains_exactly_once_into_three_shards),
  };
  return cmocka_run_group_tests_name("daemon_engine", tests, NULL, NULL);
}
