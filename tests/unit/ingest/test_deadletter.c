/*
 * Unit tests of engine/ingest/deadletter.c on librdkafka's mock cluster:
 * dead letters carry the original bytes, key and provenance headers, an
 * unwritable dead-letter topic is reported by flush (the daemon then stops
 * before committing past it), the read-back of the tail finds what an
 * earlier producer wrote so that it is not written again, and a fatal
 * producer error is recovered without losing or doubling a dead letter.
 */
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "testutil.h"
#include "mocktest.h"
#include "vigie/deadletter.h"
#include "vigie/error.h"

static const char *header(rd_kafka_message_t *msg, const char *name, char *buf,
                          size_t size) {
  rd_kafka_headers_t *hdrs;
  const void *v;
  size_t n;
  if (rd_kafka_message_headers(msg, &hdrs) ||
      rd_kafka_header_get_last(hdrs, name, &v, &n))
    return NULL;
  snprintf(buf, size, "%.*s", (int)n, (const char *)v);
  return buf;
}

/* A dead-letter producer to topic "vigie.dead" (vg_deadletter_new's
 * arguments start and seen); the test fails if it cannot be made. */
static struct vg_deadletter *dl_new(const struct vg_kafka_conf *kc,
                                    const struct vg_kafka_positions *start,
                                    struct vg_deadletter_seen *seen) {
  char err[512];
  struct vg_deadletter *d;
  assert_int_equal(vg_deadletter_new(kc, "vigie.dead", start, seen, &d, err, sizeof err),
                   0);
  return d;
}

/* The mock broker with the dead-letter topic, and a configuration to reach
 * it (a test may add properties). */
struct dlfx {
  struct mock m;
  struct vg_kafka_conf kc;
};

static int dl_setup(void **state) {
  struct dlfx *x = calloc(1, sizeof *x);
  if (!x)
    return -1;
  mock_start(&x->m, "vigie.dead", 1);
  x->kc = (struct vg_kafka_conf){.brokers = x->m.bootstrap};
  *state = x;
  return 0;
}

static int dl_teardown(void **state) {
  struct dlfx *x = *state;
  mock_stop(&x->m);
  free(x);
  return 0;
}

static void letters_carry_bytes_and_provenance(void **state) {
  struct dlfx *x = *state;
  char err[512];
  struct vg_deadletter *d = dl_new(&x->kc, NULL, NULL);
  struct vg_kafka_msg src[3] = {
      {.topic = "air-quality",
       .partition = 2,
       .offset = 41,
       .payload = "{\"ts\":",
       .len = 6,
       .key = "aq-1",
       .key_len = 4},
      {.topic = "air-quality",
       .partition = 0,
       .offset = 7,
       .payload = "<html>",
       .len = 6},
      {.topic = "traffic",
       .partition = 5,
       .offset = 123456789012LL,
       .payload = "\xff\xfe",
       .len = 2},
  };
  const char *reasons[3] = {"truncated", "not_json", "invalid_utf8_key"};
  for (int i = 0; i < 3; i++)
    assert_int_equal(vg_deadletter_send(d, &src[i], reasons[i], (size_t)i * 3,
                                        i == 1 ? "0-6=not_json" : NULL),
                     0);
  assert_int_equal(vg_deadletter_flush(d, 10000, err, sizeof err), 0);
  assert_int_equal(vg_deadletter_delivered(d), 3);
  vg_deadletter_free(d);

  /* read them back with a plain librdkafka consumer */
  rd_kafka_t *c = mock_consumer(x->m.bootstrap, "vigie.dead", 1);
  for (int i = 0; i < 3;) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 5000);
    assert_non_null(msg);
    if (msg->err) {
      rd_kafka_message_destroy(msg);
      continue;
    }
    char h[64];
    assert_int_equal(msg->len, src[i].len);
    assert_memory_equal(msg->payload, src[i].payload, src[i].len);
    assert_int_equal(msg->key_len, src[i].key_len);
    assert_string_equal(header(msg, "vigie.reason", h, sizeof h), reasons[i]);
    assert_string_equal(header(msg, "vigie.topic", h, sizeof h), src[i].topic);
    snprintf(err, sizeof err, "%lld", (long long)src[i].offset);
    assert_string_equal(header(msg, "vigie.offset", h, sizeof h), err);
    snprintf(err, sizeof err, "%d", src[i].partition);
    assert_string_equal(header(msg, "vigie.partition", h, sizeof h), err);
    snprintf(err, sizeof err, "%d", i * 3);
    assert_string_equal(header(msg, "vigie.byte_offset", h, sizeof h), err);
    if (i == 1)
      assert_string_equal(header(msg, "vigie.rejected", h, sizeof h), "0-6=not_json");
    else
      assert_null(header(msg, "vigie.rejected", h, sizeof h));
    rd_kafka_message_destroy(msg);
    i++;
  }
  mock_consumer_free(c);
}

static void unwritable_topic_fails_the_flush(void **state) {
  struct dlfx *x = *state;
  char err[512] = "";
  const char *props[] = {"message.timeout.ms", "1500", "log_level", "0", NULL};
  x->kc.properties = props;
  struct vg_deadletter *d = dl_new(&x->kc, NULL, NULL);
  rd_kafka_mock_broker_set_down(x->m.mc, 1);
  struct vg_kafka_msg src = {.topic = "t", .payload = "x", .len = 1};
  assert_int_equal(vg_deadletter_send(d, &src, "not_json", 0, NULL), 0);
  int rc = vg_deadletter_flush(d, 15000, err, sizeof err);
  assert_int_equal(rc, VG_EKAFKA);
  assert_int_equal(vg_deadletter_failed(d), 1);
  assert_non_null(
      strstr(err, "1 dead letters could not be written to topic \"vigie.dead\""));
  vg_deadletter_free(d);
}

/* How many dead letters topic (one partition) holds, read back from its
 * start; *end (may be NULL) is where the scan ended. */
static int read_all(const char *bootstrap, const char *topic, int64_t *end_off) {
  char err[256];
  struct vg_kafka_conf kc = {.brokers = bootstrap};
  struct vg_kafka_positions from = {1, (int64_t[]){0}}, end;
  struct vg_deadletter_seen *seen;
  assert_int_equal(
      vg_deadletter_scan(&kc, topic, &from, 10000, &seen, &end, err, sizeof err), 0);
  int n = (int)vg_deadletter_seen_count(seen);
  assert_int_equal(end.n, 1);
  assert_true(end.off[0] >= n);
  if (end_off)
    *end_off = end.off[0];
  vg_deadletter_seen_free(seen);
  vg_kafka_positions_release(&end);
  return n;
}

static void tail_is_read_back_and_not_written_again(void **state) {
  struct dlfx *x = *state;
  char err[512];
  /* a first producer writes 3 dead letters and "crashes" before its epoch
   * is committed: the committed positions are the start (offset 0) */
  struct vg_deadletter *d = dl_new(&x->kc, NULL, NULL);
  struct vg_kafka_msg src[4];
  for (int i = 0; i < 4; i++)
    src[i] = (struct vg_kafka_msg){
        .topic = "aq", .partition = i % 2, .offset = 10 + i, .payload = "bad", .len = 3};
  for (int i = 0; i < 3; i++)
    assert_int_equal(vg_deadletter_send(d, &src[i], "not_json", 0, NULL), 0);
  assert_int_equal(vg_deadletter_flush(d, 10000, err, sizeof err), 0);
  struct vg_kafka_positions pos;
  assert_int_equal(vg_deadletter_positions(d, &pos), 0);
  assert_int_equal(pos.n, 1);
  assert_int_equal(pos.off[0], 3);
  vg_kafka_positions_release(&pos);
  vg_deadletter_free(d);

  /* the restart reads the tail from the committed positions and finds them */
  struct vg_kafka_positions committed = {1, (int64_t[]){0}}, end;
  struct vg_deadletter_seen *seen;
  assert_int_equal(vg_deadletter_scan(&x->kc, "vigie.dead", &committed, 10000, &seen,
                                      &end, err, sizeof err),
                   0);
  assert_int_equal(vg_deadletter_seen_count(seen), 3);
  assert_true(vg_deadletter_seen_has(seen, "aq", 1, 11));
  assert_false(vg_deadletter_seen_has(seen, "aq", 1, 13));
  assert_false(vg_deadletter_seen_has(seen, "other", 1, 11));
  assert_int_equal(end.off[0], 3);
  /* the replay of the epoch rejects the same 4 messages: 3 are skipped */
  d = dl_new(&x->kc, &end, seen);
  for (int i = 0; i < 4; i++)
    assert_int_equal(vg_deadletter_send(d, &src[i], "not_json", 0, NULL), i < 3 ? 1 : 0);
  assert_int_equal(vg_deadletter_flush(d, 10000, err, sizeof err), 0);
  assert_int_equal(vg_deadletter_skipped(d), 3);
  vg_deadletter_free(d);
  vg_deadletter_seen_free(seen);
  vg_kafka_positions_release(&end);
  assert_int_equal(read_all(x->m.bootstrap, "vigie.dead", NULL), 4);
}

static void fatal_error_is_recovered_without_duplicates(void **state) {
  struct dlfx *x = *state;
  char err[512];
  struct vg_kafka_positions start = {1, (int64_t[]){0}};
  setenv("VIGIE_TEST_FATAL_DEADLETTER", "3", 1);
  struct vg_deadletter *d = dl_new(&x->kc, &start, NULL);
  unsetenv("VIGIE_TEST_FATAL_DEADLETTER");
  struct vg_kafka_msg src = {.topic = "aq", .partition = 0, .payload = "bad", .len = 3};
  for (int i = 0; i < 6; i++) {
    src.offset = i;
    if (i == 2) /* the first two reach the broker before the error */
      usleep(500000);
    assert_int_equal(vg_deadletter_send(d, &src, "not_json", 0, NULL), 0);
  }
  int rc, tries = 0;
  while ((rc = vg_deadletter_flush(d, 5000, err, sizeof err)) == VG_ETIMEOUT &&
         tries++ < 10)
    ;
  assert_int_equal(rc, 0);
  assert_int_equal(vg_deadletter_recovered(d), 1);
  assert_int_equal(vg_deadletter_failed(d), 0);
  src.offset = 6; /* the new producer goes on */
  assert_int_equal(vg_deadletter_send(d, &src, "not_json", 0, NULL), 0);
  assert_int_equal(vg_deadletter_flush(d, 10000, err, sizeof err), 0);
  vg_deadletter_free(d);
  /* each of the 7 once */
  int64_t end;
  assert_int_equal(read_all(x->m.bootstrap, "vigie.dead", &end), 7);
  assert_int_equal(end, 7);
}

static void rejected_header_round_trip(void **state) {
  (void)state;
  struct vg_rejected r[3] = {{0, 57, 0, 57, "missing_time", 0},
                             {58, 73, 90, 14, "nan_or_inf", 0},
                             {58, 73, 110, 5, "older_than_retention", 0}};
  char buf[256];
  size_t n = vg_rejected_format(buf, sizeof buf, r, 3);
  assert_string_equal(buf, "0-57=missing_time,58-131:90-104=nan_or_inf,"
                           "58-131:110-115=older_than_retention");
  assert_int_equal(n, strlen(buf));
  /* too small a buffer: nothing past it, the length it needs */
  char small[8];
  assert_int_equal(vg_rejected_format(small, sizeof small, r, 3), n);
  struct vg_rejected p[4];
  size_t np;
  assert_int_equal(vg_rejected_parse(buf, n, p, 4, &np), 0);
  assert_int_equal(np, 3);
  assert_int_equal(p[1].item_off, 58);
  assert_int_equal(p[1].item_len, 73);
  assert_int_equal(p[1].field_off, 90);
  assert_int_equal(p[1].field_len, 14);
  assert_int_equal(p[2].reason_len, strlen("older_than_retention"));
  assert_memory_equal(p[2].reason, "older_than_retention", p[2].reason_len);
  /* a whole item names every reading in it; a field only itself */
  assert_true(vg_rejected_names(p, np, 0, 57, 10, 5));
  assert_true(vg_rejected_names(p, np, 58, 73, 90, 14));
  assert_false(vg_rejected_names(p, np, 58, 73, 95, 5));
  assert_false(vg_rejected_names(p, np, 0, 58, 0, 58));
  static const char *const bad[] = {
      "",         "1-0=x",           "0-5:3-9=x",    "0-5=",
      "0-5=x,",   "a-b=x",           "0-5x",         "0-5:1=x",
      "-1-5=x",   "0-99999999999=x", "0-5=x,,1-2=y", "0-5=a b",
      "0-5=a\001"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(vg_rejected_parse(bad[i], strlen(bad[i]), p, 4, &np), VG_EDECODE);
  /* more entries than room */
  assert_int_equal(vg_rejected_parse(buf, n, p, 2, &np), VG_EDECODE);
}

/* A test on the mock broker, which it has to itself. */
#define DL_TEST(f) cmocka_unit_test_setup_teardown(f, dl_setup, dl_teardown)

int vg_test_ingest_deadletter(void) {
  const struct CMUnitTest tests[] = {
      DL_TEST(letters_carry_bytes_and_provenance),
      DL_TEST(unwritable_topic_fails_the_flush),
      DL_TEST(tail_is_read_back_and_not_written_again),
      DL_TEST(fatal_error_is_recovered_without_duplicates),
      cmocka_unit_test(rejected_header_round_trip),
  };
  return cmocka_run_group_tests_name("ingest_deadletter", tests, NULL, NULL);
}
