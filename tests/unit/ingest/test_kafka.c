/*
 * Unit tests of engine/ingest/kafka.c against librdkafka's in-process mock
 * cluster: standalone assignment of every partition, start offsets, batch
 * consumption, drain detection and error messages. (The real-broker tests
 * live in tests/integration.)
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "testutil.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/kafka.h"
#include "vigie/log.h"

struct fixture {
  struct vg_kafka_mock *mock;
  const char *bootstrap;
  uint64_t digest;     /* of everything produced */
  int64_t per_part[3]; /* messages produced per partition */
};

#define NMSG 3000

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  char err[256];
  assert_int_equal(vg_kafka_mock_new(&f->mock, 1, &f->bootstrap, err, sizeof err), 0);
  assert_int_equal(vg_kafka_mock_create_topic(f->mock, "events", 3), 0);
  assert_int_equal(vg_kafka_mock_create_topic(f->mock, "empty", 2), 0);

  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", f->bootstrap, err, sizeof err);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(p);
  for (int i = 0; i < NMSG; i++) {
    char msg[64];
    int n = snprintf(msg, sizeof msg, "{\"i\":%d}", i);
    int32_t part = i % 3;
    f->per_part[part]++;
    f->digest = vg_multiset_digest_add(f->digest, msg, (size_t)n);
    assert_int_equal(
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC("events"), RD_KAFKA_V_PARTITION(part),
                          RD_KAFKA_V_VALUE(msg, (size_t)n),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
        0);
  }
  assert_int_equal(rd_kafka_flush(p, 10000), 0);
  rd_kafka_destroy(p);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  vg_kafka_mock_free(f->mock);
  free(f);
  return 0;
}

static struct vg_kafka_consumer *consumer(struct fixture *f) {
  char err[256];
  struct vg_kafka_consumer *c = NULL;
  struct vg_kafka_conf conf = {.brokers = f->bootstrap};
  assert_int_equal(vg_kafka_consumer_new(&c, &conf, err, sizeof err), 0);
  return c;
}

/* Reads until drained; returns the count and the digest of what was read. */
static uint64_t drain(struct vg_kafka_consumer *c, uint64_t *digest) {
  static struct vg_kafka_msg batch[512];
  uint64_t count = 0;
  *digest = 0;
  for (int rounds = 0; !vg_kafka_drained(c); rounds++) {
    assert_true(rounds < 500); /* 100 s: something is stuck */
    ssize_t n = vg_kafka_consume(c, batch, 512, 200);
    assert_true(n >= 0);
    for (ssize_t i = 0; i < n; i++)
      *digest = vg_multiset_digest_add(*digest, batch[i].payload, batch[i].len);
    count += (uint64_t)n;
  }
  return count;
}

static void assigns_every_partition_and_drains(void **state) {
  struct fixture *f = *state;
  struct vg_kafka_consumer *c = consumer(f);
  char err[256];
  const char *topics[] = {"events", "empty"};
  assert_int_equal(vg_kafka_assign_all(c, topics, 2, NULL, NULL, 10000, err, sizeof err),
                   0);
  assert_int_equal(vg_kafka_assignment_count(c), 5);
  const char *t;
  int32_t p;
  vg_kafka_assignment_get(c, 2, &t, &p);
  assert_string_equal(t, "events");
  assert_int_equal(p, 2);
  vg_kafka_assignment_get(c, 3, &t, &p);
  assert_string_equal(t, "empty");
  assert_int_equal(p, 0);
  assert_int_equal(vg_kafka_mark_end(c, 10000, err, sizeof err), 0);
  uint64_t digest;
  assert_int_equal(drain(c, &digest), NMSG);
  assert_int_equal(digest, f->digest);
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(vg_kafka_position(c, i), f->per_part[i]);
  vg_kafka_consumer_free(c);
}

static int64_t start_at_100(void *opaque, const char *topic, int32_t partition) {
  (void)opaque;
  (void)topic;
  return partition == 1 ? 100 : VG_KAFKA_OFFSET_BEGINNING;
}

static void starts_each_partition_where_asked(void **state) {
  struct fixture *f = *state;
  struct vg_kafka_consumer *c = consumer(f);
  char err[256];
  const char *topics[] = {"events"};
  assert_int_equal(
      vg_kafka_assign_all(c, topics, 1, start_at_100, NULL, 10000, err, sizeof err), 0);
  assert_int_equal(vg_kafka_position(c, 1), 100);
  assert_int_equal(vg_kafka_mark_end(c, 10000, err, sizeof err), 0);
  uint64_t digest;
  assert_int_equal(drain(c, &digest), NMSG - 100);
  vg_kafka_consumer_free(c);
}

/* Two consumers share the partitions (VG_KAFKA_SKIP) like two workers. */
static int64_t odd_only(void *opaque, const char *topic, int32_t partition) {
  (void)opaque;
  (void)topic;
  return partition % 2 ? VG_KAFKA_OFFSET_BEGINNING : VG_KAFKA_SKIP;
}

static int64_t even_only(void *opaque, const char *topic, int32_t partition) {
  (void)opaque;
  (void)topic;
  return partition % 2 ? VG_KAFKA_SKIP : VG_KAFKA_OFFSET_BEGINNING;
}

static void list_parts(void *ctx, const char *topic, int32_t partition, int32_t n) {
  char *out = ctx;
  snprintf(out + strlen(out), 64, "%s/%d/%d ", topic, (int)partition, (int)n);
}

static void workers_share_partitions(void **state) {
  struct fixture *f = *state;
  char err[256], listed[256] = "";
  const char *topics[] = {"events", "empty"};
  struct vg_kafka_consumer *a = consumer(f), *b = consumer(f);
  assert_int_equal(
      vg_kafka_list_partitions(a, topics, 2, 10000, list_parts, listed, err, sizeof err),
      0);
  assert_string_equal(listed, "events/0/3 events/1/3 events/2/3 empty/0/2 empty/1/2 ");
  assert_int_equal(
      vg_kafka_assign_all(a, topics, 1, odd_only, NULL, 10000, err, sizeof err), 0);
  assert_int_equal(
      vg_kafka_assign_all(b, topics, 1, even_only, NULL, 10000, err, sizeof err), 0);
  assert_int_equal(vg_kafka_assignment_count(a), 1);
  assert_int_equal(vg_kafka_assignment_count(b), 2);
  assert_int_equal(vg_kafka_mark_end(a, 10000, err, sizeof err), 0);
  assert_int_equal(vg_kafka_mark_end(b, 10000, err, sizeof err), 0);
  uint64_t da, db;
  uint64_t na = drain(a, &da), nb = drain(b, &db);
  assert_int_equal(na, f->per_part[1]);
  assert_int_equal(nb, f->per_part[0] + f->per_part[2]);
  assert_int_equal(da + db, f->digest); /* the sum digest adds up */
  assert_int_equal(vg_kafka_high_watermark(a, "events", 1), f->per_part[1]);
  vg_kafka_consumer_free(a);
  vg_kafka_consumer_free(b);
}

static void unknown_topic_is_named(void **state) {
  struct fixture *f = *state;
  struct vg_kafka_consumer *c = consumer(f);
  char err[256] = "";
  const char *topics[] = {"events", "no-such-topic"};
  int rc = vg_kafka_assign_all(c, topics, 2, NULL, NULL, 5000, err, sizeof err);
  assert_true(rc < 0);
  assert_non_null(strstr(err, "no-such-topic"));
  assert_int_equal(vg_kafka_assignment_count(c), 0);
  vg_kafka_consumer_free(c);
}

/* End offsets without an assignment; an unknown partition or a broker
 * nobody listens on is an error that names the partition. */
static void end_offset_of_any_partition(void **state) {
  struct fixture *f = *state;
  struct vg_kafka_consumer *c = consumer(f);
  char err[256] = "";
  int64_t end = -5;
  for (int32_t p = 0; p < 3; p++) {
    assert_int_equal(vg_kafka_end_offset(c, "events", p, 10000, &end, err, sizeof err),
                     0);
    assert_int_equal(end, f->per_part[p]);
  }
  assert_int_equal(vg_kafka_end_offset(c, "empty", 1, 10000, &end, err, sizeof err), 0);
  assert_int_equal(end, 0);
  assert_int_equal(vg_kafka_end_offset(c, "events", 7, 2000, &end, err, sizeof err),
                   VG_EKAFKA);
  assert_non_null(strstr(err, "events [7]"));
  vg_kafka_consumer_free(c);
  struct vg_kafka_conf dead = {.brokers = "127.0.0.1:1"};
  assert_int_equal(vg_kafka_consumer_new(&c, &dead, err, sizeof err), 0);
  err[0] = 0;
  assert_int_equal(vg_kafka_end_offset(c, "events", 0, 300, &end, err, sizeof err),
                   VG_EKAFKA);
  assert_non_null(strstr(err, "events [0]"));
  vg_kafka_consumer_free(c);
}

static void bad_property_is_named(void **state) {
  struct fixture *f = *state;
  char err[256] = "";
  const char *props[] = {"fetch.wait.max.ms", "soon", NULL};
  struct vg_kafka_consumer *c = NULL;
  struct vg_kafka_conf conf = {.brokers = f->bootstrap, .properties = props};
  assert_int_equal(vg_kafka_consumer_new(&c, &conf, err, sizeof err), VG_ECONFIG);
  assert_null(c);
  assert_non_null(strstr(err, "fetch.wait.max.ms"));
}

/* A producer's queue bound (memory_limit's share): set when asked,
 * librdkafka's default otherwise, and properties still win. */
static void producer_queue_bound(void **state) {
  struct fixture *f = *state;
  static const struct {
    int64_t kib;
    const char *prop, *want;
  } cases[] = {{8192, NULL, "8192"}, {0, NULL, "1048576"}, {8192, "2048", "2048"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char err[256] = "", got[32] = "";
    size_t len = sizeof got;
    const char *props[] = {"queue.buffering.max.kbytes", cases[i].prop, NULL};
    struct vg_kafka_conf conf = {.brokers = f->bootstrap,
                                 .properties = cases[i].prop ? props : NULL,
                                 .produce_queue_kbytes = cases[i].kib};
    rd_kafka_t *rk = NULL;
    assert_int_equal(
        vg_kafka_producer_new(&conf, "test producer", NULL, NULL, &rk, err, sizeof err),
        0);
    assert_int_equal(
        rd_kafka_conf_get(rd_kafka_conf(rk), "queue.buffering.max.kbytes", got, &len),
        RD_KAFKA_CONF_OK);
    assert_string_equal(got, cases[i].want);
    rd_kafka_destroy(rk);
  }
}

/* ---- a group member through rebalances ---------------------------------- */

#define BUSY_PARTS 4

/* Short sessions: the mock coordinator waits session.timeout.ms less 1 s
 * for the members to rejoin when one joins. */
static const char *const busy_props[] = {"session.timeout.ms", "2500",
                                         "heartbeat.interval.ms", "200", NULL};

/* What member A saw of each partition since it was (last) given it. */
struct member_view {
  int64_t next[BUSY_PARTS]; /* the offset expected next, -1 unknown */
  int owned[BUSY_PARTS];
  int gained, lost; /* rebalances that gave A partitions, took some away */
};

static void view_assigned(void *opaque, const struct vg_kafka_tp *tp, size_t n) {
  struct member_view *v = opaque;
  for (size_t i = 0; i < n; i++) {
    v->owned[tp[i].partition] = 1;
    v->next[tp[i].partition] = -1; /* nothing committed: it starts anywhere */
  }
  v->gained += n > 0;
}

static void view_revoked(void *opaque, const struct vg_kafka_tp *tp, size_t n, int lost) {
  (void)lost;
  struct member_view *v = opaque;
  for (size_t i = 0; i < n; i++)
    v->owned[tp[i].partition] = 0;
  v->lost += n > 0;
}

struct busy {
  const char *bootstrap;
  _Atomic int cycles; /* member B's joins and leaves */
  _Atomic int done;   /* B is through */
  _Atomic int stop;   /* the producer stops */
};

static void nap(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A steady stream (about 20,000 messages/s): member A keeps up with it, so
 * that its consume calls wait with part of a batch taken. */
static void *produce_steadily(void *arg) {
  struct busy *b = arg;
  char err[256];
  rd_kafka_conf_t *pc = rd_kafka_conf_new();
  rd_kafka_conf_set(pc, "bootstrap.servers", b->bootstrap, err, sizeof err);
  rd_kafka_conf_set(pc, "linger.ms", "2", err, sizeof err);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
  if (!p)
    return (void *)"the producer could not be created";
  for (int i = 0; !b->stop; i++) {
    char msg[16];
    int n = snprintf(msg, sizeof msg, "%d", i);
    if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC("busy"),
                          RD_KAFKA_V_PARTITION(i % BUSY_PARTS),
                          RD_KAFKA_V_VALUE(msg, (size_t)n),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0)
      rd_kafka_poll(p, 10);
    if (i % 100 == 99) {
      rd_kafka_poll(p, 0);
      nap(5);
    }
  }
  rd_kafka_flush(p, 10000);
  rd_kafka_destroy(p);
  return NULL;
}

/* Member B: joins the group, stays until it has its first assignment and
 * reads a little, leaves; b->cycles times. Each join and each leave is a
 * rebalance for member A. */
static void *join_and_leave(void *arg) {
  struct busy *b = arg;
  static struct vg_kafka_msg batch[256];
  const char *failed = NULL;
  for (int k = 0; k < b->cycles && !failed; k++) {
    char err[256];
    struct vg_kafka_consumer *c = NULL;
    struct vg_kafka_conf conf = {
        .brokers = b->bootstrap, .group = "busy-group", .properties = busy_props};
    const char *topics[] = {"busy"};
    if (vg_kafka_consumer_new(&c, &conf, err, sizeof err) != 0 ||
        vg_kafka_subscribe(c, topics, 1, err, sizeof err) != 0) {
      failed = "member B could not join";
      break;
    }
    /* cooperative: A gives partitions up in one rebalance, B gets them in
     * the next */
    for (int t = 0; t < 400 && vg_kafka_assignment_count(c) == 0; t++)
      (void)vg_kafka_consume(c, batch, 256, 50);
    for (int t = 0; t < 10; t++)
      (void)vg_kafka_consume(c, batch, 256, 50);
    vg_kafka_consumer_free(c); /* leaves: A takes its partitions back */
    nap(2000);                 /* (after the coordinator's rebalance delay) */
  }
  b->done = 1;
  return (void *)failed;
}

/* librdkafka 2.0's batch consumer (rd_kafka_consume_batch_queue) took out
 * of a batch being filled messages already counted in the client's
 * position when a rebalance paused the member's partitions (an op-version
 * barrier): a partition the member kept then skipped them for good -- the
 * ingest role lost readings when a member joined or died. A member must
 * see each partition it keeps as an unbroken run of offsets (this topic
 * has neither transactions nor compaction), however often the group
 * rebalances. */
static void group_member_keeps_every_offset_through_rebalances(void **state) {
  struct fixture *f = *state;
  char err[256];
  assert_int_equal(vg_kafka_mock_create_topic(f->mock, "busy", BUSY_PARTS), 0);
  struct member_view v;
  memset(&v, 0, sizeof v);
  struct vg_kafka_rebalance hooks = {&v, view_assigned, view_revoked};
  struct vg_kafka_consumer *a = NULL;
  struct vg_kafka_conf conf = {.brokers = f->bootstrap,
                               .group = "busy-group",
                               .rebalance = &hooks,
                               .properties = busy_props};
  assert_int_equal(vg_kafka_consumer_new(&a, &conf, err, sizeof err), 0);
  const char *topics[] = {"busy"};
  assert_int_equal(vg_kafka_subscribe(a, topics, 1, err, sizeof err), 0);
  static struct vg_kafka_msg batch[512];
  for (int t = 0; t < 400 && !vg_kafka_joined(a); t++)
    assert_true(vg_kafka_consume(a, batch, 512, 50) >= 0);
  assert_true(vg_kafka_joined(a));

  struct busy b = {f->bootstrap, 2, 0, 0};
  pthread_t producer, joiner;
  assert_int_equal(pthread_create(&producer, NULL, produce_steadily, &b), 0);
  assert_int_equal(pthread_create(&joiner, NULL, join_and_leave, &b), 0);
  uint64_t got = 0;
  const char *gap = NULL;
  char what[160];
  for (int rounds = 0; rounds < 100000 && !b.done; rounds++) {
    ssize_t n = vg_kafka_consume(a, batch, 512, 100);
    assert_true(n >= 0);
    for (ssize_t i = 0; i < n && !gap; i++) {
      int32_t part = batch[i].partition;
      assert_true(part >= 0 && part < BUSY_PARTS);
      assert_true(v.owned[part]);
      if (v.next[part] >= 0 && batch[i].offset != v.next[part]) {
        snprintf(what, sizeof what, "partition %d: offset %lld after %lld", (int)part,
                 (long long)batch[i].offset, (long long)v.next[part] - 1);
        gap = what;
      }
      v.next[part] = batch[i].offset + 1;
    }
    got += (uint64_t)n;
    if (gap)
      break;
  }
  b.stop = 1;
  b.cycles = 0; /* B stops after its current cycle */
  void *joiner_failed = NULL, *producer_failed = NULL;
  assert_int_equal(pthread_join(joiner, &joiner_failed), 0);
  assert_int_equal(pthread_join(producer, &producer_failed), 0);
  vg_kafka_consumer_free(a);
  if (gap)
    fail_msg("%s (a rebalance skipped messages)", gap);
  assert_null(joiner_failed);
  assert_null(producer_failed);
  assert_true(v.lost >= 2);   /* each join of B took partitions away */
  assert_true(v.gained >= 3); /* the first assignment, and each leave of B */
  assert_true(got > 0);
}

int vg_test_ingest_kafka(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(assigns_every_partition_and_drains),
      cmocka_unit_test(starts_each_partition_where_asked),
      cmocka_unit_test(workers_share_partitions),
      cmocka_unit_test(unknown_topic_is_named),
      cmocka_unit_test(bad_property_is_named),
      cmocka_unit_test(end_offset_of_any_partition),
      cmocka_unit_test(producer_queue_bound),
      cmocka_unit_test(group_member_keeps_every_offset_through_rebalances),
  };
  return cmocka_run_group_tests_name("ingest_kafka", tests, setup, teardown);
}
