/*
 * librdkafka's mock cluster for the producer tests of engine/ingest: one
 * broker owned by a throw-away producer handle, with one topic.
 */
#ifndef VIGIE_TEST_MOCKTEST_H
#define VIGIE_TEST_MOCKTEST_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

struct mock {
  rd_kafka_t *owner;
  rd_kafka_mock_cluster_t *mc;
  const char *bootstrap;
};

static inline void mock_start(struct mock *m, const char *topic, int partitions) {
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
  m->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(m->owner);
  m->mc = rd_kafka_mock_cluster_new(m->owner, 1);
  assert_non_null(m->mc);
  m->bootstrap = rd_kafka_mock_cluster_bootstraps(m->mc);
  assert_int_equal(rd_kafka_mock_topic_create(m->mc, topic, partitions, 1), 0);
}

/* A consumer of partitions [0, partitions) of topic on bootstrap, from
 * their beginning. */
static inline rd_kafka_t *mock_consumer(const char *bootstrap, const char *topic,
                                        int partitions) {
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "t", err, sizeof err);
  rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  assert_non_null(c);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; p++)
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(c, l);
  rd_kafka_topic_partition_list_destroy(l);
  return c;
}

static inline void mock_consumer_free(rd_kafka_t *c) {
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
}

static inline void mock_stop(struct mock *m) {
  rd_kafka_mock_cluster_destroy(m->mc);
  rd_kafka_destroy(m->owner);
}

#endif
