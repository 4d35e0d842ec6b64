/*
 * The rollup publisher (engine/publish/rollpub.c), with the daemon's
 * Kafka client (vg_engine_rollup_client), on librdkafka's mock
 * cluster, over the publication store: every emit-log record's window is
 * on the topic with the store's values, the cursor moves only past
 * acknowledged batches, and waits (with the backlog shown) while the broker
 * is down. The store keeps the cursor (meta rollup_seq) and the trim below it.
 * Exactly once: a publisher that died before its cursor was kept, and a
 * fatal producer error, leave each record on the topic once; a window
 * revised since its record was logged is published once, at its revision.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "testutil.h"
#include "ingest/mocktest.h"
#include "pubtest.h"
#include "daemon/engine.h"
#include "vigie/error.h"
#include "vigie/rollup.h"

/* Reads n messages from both partitions; checks each against the truth of
 * the fixture and that no window appears twice. */
static void check_topic(struct mock *m, struct fx *f, size_t n) {
  rd_kafka_t *c = mock_consumer(m->bootstrap, "vigie.rollups", 2);
  char **seen = calloc(n, sizeof *seen);
  size_t nhours = 0;
  for (size_t i = 0; i < n;) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 10000);
    assert_non_null(msg);
    if (msg->err) {
      rd_kafka_message_destroy(msg);
      continue;
    }
    char key[256], res[4], body[2048];
    snprintf(key, sizeof key, "%.*s", (int)msg->key_len, (const char *)msg->key);
    snprintf(body, sizeof body, "%.*s", (int)msg->len, (const char *)msg->payload);
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(seen[j], key);
    seen[i++] = strdup(key);
    /* key: series|res|start */
    char *bar = strchr(key, '|');
    assert_non_null(bar);
    *bar = 0;
    long long start;
    assert_int_equal(sscanf(bar + 1, "%3[^|]|%lld", res, &start), 2);
    int s = -1;
    for (int k = 0; k < NSERIES; k++)
      if (strcmp(keys[k], key) == 0)
        s = k;
    assert_true(s >= 0);
    assert_non_null(strstr(body, "\"status\":\"final\",\"revision\":0,\"state\":\""));
    uint32_t want = 0;
    if (strcmp(res, "1h") == 0) {
      want = f->count[s][(start - T0) / 3600];
      nhours++;
    } else {
      assert_string_equal(res, "1d");
      for (int h = 0; h < 24; h++)
        want += f->count[s][(start - T0) / 3600 + h];
    }
    char cnt[64];
    snprintf(cnt, sizeof cnt, "\"count\":%" PRIu32 ",\"sum\":%" PRIu32 ",", want, want);
    assert_non_null(strstr(body, cnt));
    rd_kafka_message_destroy(msg);
  }
  /* and nothing more */
  rd_kafka_message_t *msg;
  while ((msg = rd_kafka_consumer_poll(c, 500))) {
    assert_int_not_equal(msg->err, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_message_destroy(msg);
  }
  assert_true(nhours > 0 && nhours < n);
  for (size_t j = 0; j < n; j++)
    free(seen[j]);
  free(seen);
  mock_consumer_free(c);
}

/* A publisher's surroundings: the mock broker with the rollup topic, the
 * store's zone, a registry, and the options of a publisher over the
 * fixture's store in batches of 97 (which a test may change). */
struct env {
  struct mock m;
  struct vg_tz *tz;
  struct vg_metrics *met;
  struct vg_kafka_conf kc;
  struct vg_rollup_opts o;
};

/* props: the producer's extra librdkafka properties (NULL: none). */
static void env_start(struct env *e, struct fx *f, const char **props) {
  char err[256];
  mock_start(&e->m, "vigie.rollups", 2);
  assert_int_equal(vg_tz_load("UTC", &e->tz, err, sizeof err), 0);
  assert_int_equal(vg_metrics_new(&e->met), 0);
  e->kc = (struct vg_kafka_conf){.brokers = e->m.bootstrap, .properties = props};
  e->o = (struct vg_rollup_opts){.client = vg_engine_rollup_client(&e->kc),
                                 .topic = "vigie.rollups",
                                 .store = f->st,
                                 .tz = e->tz,
                                 .metrics = e->met,
                                 .batch = 97};
}

static void env_stop(struct env *e) {
  vg_metrics_free(e->met);
  vg_tz_free(e->tz);
  mock_stop(&e->m);
}

static void every_record_on_the_topic(void **state) {
  struct fx *f = *state;
  struct env e;
  char err[512];
  /* small batches: the cursor moves batch by batch */
  env_start(&e, f, NULL);
  struct vg_metrics *met = e.met;
  struct vg_rollup *p;
  assert_int_equal(vg_rollup_new(&e.o, &p, err, sizeof err), 0);
  assert_int_equal(vg_rollup_wait(p, f->nemit, 30000), 0);
  assert_int_equal(vg_rollup_cursor(p), f->nemit);
  vg_rollup_free(p);
  assert_int_equal(
      atomic_load(&vg_metrics_counter(met, "vigie_rollups_published_total", "", NULL)->v),
      f->nemit);
  assert_int_equal(
      atomic_load(&vg_metrics_gauge(met, "vigie_rollup_backlog", "", NULL)->v), 0);
  check_topic(&e.m, f, f->nemit);
  env_stop(&e);
}

static void broker_down_cursor_waits(void **state) {
  struct fx *f = *state;
  struct env e;
  char err[512];
  const char *props[] = {"message.timeout.ms", "1500", "log_level", "0", NULL};
  env_start(&e, f, props);
  rd_kafka_mock_broker_set_down(e.m.mc, 1);
  /* resumes from a stored cursor: the first 10 records were published;
   * batches of the default size */
  e.o.cursor = 10;
  e.o.batch = 0;
  struct vg_rollup *p;
  assert_int_equal(vg_rollup_new(&e.o, &p, err, sizeof err), 0);
  /* the broker does not answer: the wait gives up once an attempt failed */
  assert_int_equal(vg_rollup_wait(p, f->nemit, 20000), VG_EKAFKA);
  assert_int_equal(vg_rollup_wait(p, f->nemit, 20000), VG_EKAFKA);
  assert_int_equal(vg_rollup_cursor(p), 10);
  struct vg_gauge *backlog = vg_metrics_gauge(e.met, "vigie_rollup_backlog", "", NULL);
  assert_int_equal(atomic_load(&backlog->v), (int64_t)f->nemit - 10);
  rd_kafka_mock_broker_set_up(e.m.mc, 1);
  assert_int_equal(vg_rollup_wait(p, f->nemit, 30000), 0);
  assert_int_equal(atomic_load(&backlog->v), 0);
  vg_rollup_free(p);
  /* at least once: the topic holds every record from the cursor on */
  check_topic(&e.m, f, f->nemit - 10);
  env_stop(&e);
}

/* Commits epoch with the publisher's positions pos as its blob. */
static void commit_blob(struct fx *f, uint64_t epoch,
                        const struct vg_kafka_positions *pos) {
  char err[256];
  uint8_t buf[64];
  size_t len = vg_kafka_positions_encode("vigie.rollups", pos, buf, sizeof buf);
  assert_true(len <= sizeof buf);
  struct vg_store_blob b = {VG_ROLLUP_BLOB, buf, len};
  struct vg_store_epoch ep = {
      .epoch = epoch, .watermark_ns = INT64_MIN, .blobs = &b, .nblobs = 1};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
}

/* The store keeps the positions a read-back begins at with the cursor. */
static void commit_positions(struct fx *f, uint64_t epoch, int64_t p0, int64_t p1) {
  struct vg_kafka_positions pos = {2, (int64_t[]){p0, p1}};
  commit_blob(f, epoch, &pos);
}

/* What the writer does for a publisher that keeps positions: once it read
 * the topic back, its positions go into the store, then it may produce. */
static void keep_positions(struct fx *f, struct vg_rollup *p, uint64_t epoch) {
  uint64_t cursor, gen = 0;
  struct vg_kafka_positions pos;
  for (int i = 0; i < 200; i++) {
    assert_int_equal(vg_rollup_state(p, &cursor, &pos, &gen), 0);
    if (gen > 0)
      break;
    vg_kafka_positions_release(&pos);
    usleep(50000);
  }
  assert_true(gen > 0);
  commit_blob(f, epoch, &pos);
  vg_kafka_positions_release(&pos);
  vg_rollup_kept(p, gen);
}

/* A publisher that dies before its cursor is persisted: the next one reads
 * the topic back and produces nothing twice. */
static void crash_before_the_cursor_is_kept(void **state) {
  struct fx *f = *state;
  struct env e;
  char err[512];
  env_start(&e, f, NULL);
  commit_positions(f, 2, 0, 0); /* what the last commit said: cursor 0 at 0, 0 */
  e.o.keep_positions = 1;
  struct vg_rollup *p;
  assert_int_equal(vg_rollup_new(&e.o, &p, err, sizeof err), 0);
  /* nothing is produced before the positions are kept */
  usleep(300000);
  assert_int_equal(vg_rollup_cursor(p), 0);
  keep_positions(f, p, 3);
  assert_int_equal(vg_rollup_wait(p, f->nemit, 30000), 0);
  uint64_t cursor, gen;
  struct vg_kafka_positions pos;
  assert_int_equal(vg_rollup_state(p, &cursor, &pos, &gen), 0);
  assert_int_equal(cursor, f->nemit);
  assert_int_equal(pos.n, 2);
  assert_int_equal(pos.off[0] + pos.off[1], (int64_t)f->nemit);
  vg_kafka_positions_release(&pos);
  vg_rollup_free(p); /* "crashes": nothing of its cursor is persisted */
  assert_int_equal(vg_rollup_new(&e.o, &p, err, sizeof err), 0);
  keep_positions(f, p, 4);
  assert_int_equal(vg_rollup_wait(p, f->nemit, 30000), 0);
  assert_int_equal(vg_rollup_skipped(p), f->nemit);
  /* while what was skipped lies ahead of the cursor a read-back still
   * begins where this one did; once the cursor passed it all, at the end */
  assert_int_equal(vg_rollup_state(p, &cursor, &pos, &gen), 0);
  assert_int_equal(pos.off[0] + pos.off[1], (int64_t)f->nemit);
  vg_kafka_positions_release(&pos);
  vg_rollup_free(p);
  check_topic(&e.m, f, f->nemit);
  env_stop(&e);
}

static void fatal_error_recovered_once_each(void **state) {
  struct fx *f = *state;
  struct env e;
  char err[512];
  env_start(&e, f, NULL);
  struct vg_rollup *p;
  setenv("VIGIE_TEST_FATAL_ROLLUP", "150", 1); /* inside the second batch */
  assert_int_equal(vg_rollup_new(&e.o, &p, err, sizeof err), 0);
  unsetenv("VIGIE_TEST_FATAL_ROLLUP");
  int rc;
  for (int tries = 0; (rc = vg_rollup_wait(p, f->nemit, 30000)) != 0 && tries < 10;
       tries++)
    ;
  assert_int_equal(rc, 0);
  assert_int_equal(vg_rollup_recovered(p), 1);
  vg_rollup_free(p);
  check_topic(&e.m, f, f->nemit);
  env_stop(&e);
}

/* Consumes n messages from both partitions: how many have key `key`, the
 * body of the last of them in body. Then nothing more. */
static size_t consume_key(struct mock *m, size_t n, const char *key, char *body,
                          size_t size) {
  rd_kafka_t *c = mock_consumer(m->bootstrap, "vigie.rollups", 2);
  size_t found = 0;
  for (size_t i = 0; i < n;) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 10000);
    assert_non_null(msg);
    if (!msg->err) {
      i++;
      if (msg->key_len == strlen(key) && memcmp(msg->key, key, msg->key_len) == 0) {
        found++;
        snprintf(body, size, "%.*s", (int)msg->len, (const char *)msg->payload);
      }
    }
    rd_kafka_message_destroy(msg);
  }
  rd_kafka_message_t *msg;
  while ((msg = rd_kafka_consumer_poll(c, 500))) {
    assert_int_not_equal(msg->err, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_message_destroy(msg);
  }
  mock_consumer_free(c);
  return found;
}

/* A window revised after its record was logged: read in the first pass,
 * that record is passed over (the state it names is gone); the revision's
 * record, in a later pass, publishes the window once, at its revision. */
static void revision_published_once_across_passes(void **state) {
  struct fx *f = *state;
  struct env e;
  char err[512], key[256], body[2048] = "";
  const struct vg_wentry *w0 = &f->w[0]; /* the first record's window */
  int s = (int)w0->series - 1;
  uint32_t was = f->count[s][(w0->start - T0) / 3600];
  add_window(f, w0->series, w0->res, w0->start, 3600, was + 1, 1);
  struct vg_wentry *rev = &f->w[f->nw - 1];
  rev->revision = 1;
  const struct vg_wentry *open[] = {rev};
  struct vg_store_emit em = {0, rev->series, rev->res, rev->start, 1};
  struct vg_store_epoch ep = {.epoch = 2,
                              .open = open,
                              .nopen = 1,
                              .emit = &em,
                              .nemit = 1,
                              .watermark_ns = INT64_MIN};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  env_start(&e, f, NULL);
  struct vg_rollup *p;
  /* batches of 97, passes of 16 batches: the log spans two passes */
  assert_true(f->nemit > 97 * 16);
  assert_int_equal(vg_rollup_new(&e.o, &p, err, sizeof err), 0);
  assert_int_equal(vg_rollup_wait(p, f->nemit + 1, 30000), 0);
  assert_int_equal(vg_rollup_cursor(p), f->nemit + 1);
  vg_rollup_free(p);
  assert_int_equal(
      atomic_load(
          &vg_metrics_counter(e.met, "vigie_rollups_published_total", "", NULL)->v),
      f->nemit);
  vg_rollup_key(key, sizeof key, keys[s], strlen(keys[s]), rev->res, rev->start);
  assert_int_equal(consume_key(&e.m, f->nemit, key, body, sizeof body), 1);
  char want[96];
  snprintf(want, sizeof want, "\"count\":%" PRIu32 ",", was + 1);
  assert_non_null(strstr(body, want));
  assert_non_null(strstr(body, "\"revision\":1,"));
  env_stop(&e);
}

static int first_seq(const struct vg_store_emit *e, void *ctx) {
  *(uint64_t *)ctx = e->seq;
  return 1;
}

static void store_keeps_the_cursor(void **state) {
  struct fx *f = *state;
  char err[512];
  struct vg_store_reader *r;
  struct vg_store_state s;
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_store_reader_meta(r, &s), 0);
  assert_int_equal(s.rollup_seq, 0); /* never moved */
  vg_store_reader_end(r);
  struct vg_store_epoch ep = {.epoch = 2, .watermark_ns = INT64_MIN, .rollup_seq = 25};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  /* an epoch that does not move it keeps it */
  ep = (struct vg_store_epoch){.epoch = 3, .watermark_ns = INT64_MIN};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  assert_int_equal(vg_store_load(f->st, NULL, NULL, NULL, &s, err, sizeof err), 0);
  assert_int_equal(s.rollup_seq, 25);
  assert_int_equal(s.emit_seq, f->nemit);
  size_t deleted;
  assert_int_equal(vg_store_trim_emit(f->st, 25, 1000, &deleted, err, sizeof err), 0);
  assert_int_equal(deleted, 25);
  uint64_t first = UINT64_MAX;
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_store_read_emit(r, 0, first_seq, &first), 1);
  assert_int_equal(first, 25);
  assert_int_equal(vg_store_reader_meta(r, &s), 0);
  assert_int_equal(s.rollup_seq, 25);
  vg_store_reader_end(r);
}

/* Every test of the group runs over a publication store of its own. */
#define PUB_TEST(f) cmocka_unit_test_setup_teardown(f, pub_setup, pub_teardown)

int vg_test_publish_rollpub(void) {
  const struct CMUnitTest tests[] = {
      PUB_TEST(every_record_on_the_topic),
      PUB_TEST(broker_down_cursor_waits),
      PUB_TEST(store_keeps_the_cursor),
      PUB_TEST(crash_before_the_cursor_is_kept),
      PUB_TEST(fatal_error_recovered_once_each),
      PUB_TEST(revision_published_once_across_passes),
  };
  return cmocka_run_group_tests_name("publish_rollpub", tests, NULL, NULL);
}
