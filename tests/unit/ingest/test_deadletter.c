/*
 * Unit tests of engine/ingest/deadletter.c on librdkafka's mock cluster:
 * dead letters carry the original bytes, key and provenance headers, and an
 * unwritable dead-letter topic is reported by flush (the daemon then stops
 * before committing past it).
 */
#include <string.h>

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
  if (rd_kafka_message_headers(msg, &hdrs) || rd_kafka_header_get_last(hdrs, name, &v, &n))
    return NULL;
  snprintf(buf, size, "%.*s", (int)n, (const char *)v);
  return buf;
}

static void letters_carry_bytes_and_provenance(void **state) {
  (void)state;
  struct mock m;
  char err[512];
  mock_start(&m, "vigie.dead", 1);
  struct vg_kafka_conf kc = {.brokers = m.bootstrap};
  struct vg_deadletter *d;
  assert_int_equal(vg_deadletter_new(&kc, "vigie.dead", &d, err, sizeof err), 0);
  struct vg_kafka_msg src[3] = {
      {.topic = "air-quality", .partition = 2, .offset = 41, .payload = "{\"ts\":", .len = 6,
       .key = "aq-1", .key_len = 4},
      {.topic = "air-quality", .partition = 0, .offset = 7, .payload = "<html>", .len = 6},
      {.topic = "traffic", .partition = 5, .offset = 123456789012LL,
       .payload = "\xff\xfe", .len = 2},
  };
  const char *reasons[3] = {"truncated", "not_json", "invalid_utf8_key"};
  for (int i = 0; i < 3; i++)
    assert_int_equal(vg_deadletter_send(d, &src[i], reasons[i], (size_t)i * 3), 0);
  assert_int_equal(vg_deadletter_flush(d, 10000, err, sizeof err), 0);
  assert_int_equal(vg_deadletter_delivered(d), 3);
  vg_deadletter_free(d);

  /* read them back with a plain librdkafka consumer */
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", m.bootstrap, err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "t", err, sizeof err);
  rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, "vigie.dead", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(c, l);
  rd_kafka_topic_partition_list_destroy(l);
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
    rd_kafka_message_destroy(msg);
    i++;
  }
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  mock_stop(&m);
}

static void unwritable_topic_fails_the_flush(void **state) {
  (void)state;
  struct mock m;
  char err[512] = "";
  mock_start(&m, "vigie.dead", 1);
  const char *props[] = {"message.timeout.ms", "1500", "log_level", "0", NULL};
  struct vg_kafka_conf kc = {.brokers = m.bootstrap, .properties = props};
  struct vg_deadletter *d;
  assert_int_equal(vg_deadletter_new(&kc, "vigie.dead", &d, err, sizeof err), 0);
  rd_kafka_mock_broker_set_down(m.mc, 1);
  struct vg_kafka_msg src = {.topic = "t", .payload = "x", .len = 1};
  assert_int_equal(vg_deadletter_send(d, &src, "not_json", 0), 0);
  int rc = vg_deadletter_flush(d, 15000, err, sizeof err);
  assert_int_equal(rc, VG_EKAFKA);
  assert_int_equal(vg_deadletter_failed(d), 1);
  assert_non_null(strstr(err, "1 dead letters could not be written to topic \"vigie.dead\""));
  vg_deadletter_free(d);
  mock_stop(&m);
}

int vg_test_ingest_deadletter(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(letters_carry_bytes_and_provenance),
      cmocka_unit_test(unwritable_topic_fails_the_flush),
  };
  return cmocka_run_group_tests_name("ingest_deadletter", tests, NULL, NULL);
}
