/*
 * The engine's Kafka wrapper over librdkafka.
 *
 * A consumer in standalone mode assigns every partition of its topics itself
 * (no consumer group, so a restart does not wait for a rebalance) and starts
 * each at an offset the caller chooses (the store's, or the beginning).
 * Messages are consumed in batches; a batch stays valid until the next
 * vg_kafka_consume() on the same consumer or vg_kafka_consumer_free().
 *
 * A consumer is used by one thread at a time. Errors: 0 or a negative
 * vg_error/errno code; functions taking errstr fill it with a sentence that
 * says what failed first.
 *
 * The embedded broker (kafka.brokers: embedded) is librdkafka's in-process
 * mock cluster: for the quick start and unit tests, never for acceptance.
 */
#ifndef VIGIE_KAFKA_H
#define VIGIE_KAFKA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>

#include "vigie/positions.h"

#define VG_KAFKA_OFFSET_BEGINNING (-2)
#define VG_KAFKA_OFFSET_END       (-1)

struct vg_kafka_conf {
  const char *brokers;   /* bootstrap list "host:port,..." (required) */
  const char *client_id; /* NULL: "vigie" */
  /* extra librdkafka properties as NULL-terminated key, value pairs, passed
   * through verbatim (TLS, SASL, tuning); may be NULL */
  const char *const *properties;
  /* a consumer's prefetch queue (queued.max.messages.kbytes) in KiB; 0:
   * VG_KAFKA_QUEUED_KBYTES. properties may still set it. */
  int64_t queued_kbytes;
  /* the most bytes one fetch takes of one partition
   * (max.partition.fetch.bytes); 0: VG_KAFKA_PARTITION_FETCH_BYTES.
   * properties may still set it. */
  int64_t partition_fetch_bytes;
  /* a producer's queue of messages not yet acknowledged
   * (queue.buffering.max.kbytes) in KiB; 0: librdkafka's default (1 GiB).
   * A full queue makes the producing thread wait. properties may still set
   * it. */
  int64_t produce_queue_kbytes;
  /* a consumer that joins this consumer group (the ingest role,
   * vg_kafka_subscribe) with cooperative rebalancing; NULL: no group is
   * joined (standalone assignment) */
  const char *group;
  /* its rebalance hooks (may be NULL with a group: partitions are then
   * taken and given back without a word) */
  const struct vg_kafka_rebalance *rebalance;
  /* a consumer that must never see aborted records (the store role's):
   * isolation.level=read_committed whatever the properties say (always so
   * with a group) */
  int read_committed;
};

/* A partition handed by a rebalance: its committed offset (-1001 when the
 * group committed none) and the metadata committed with it (NULL, 0:
 * none). */
struct vg_kafka_tp {
  const char *topic;
  int32_t partition;
  int64_t offset;
  const char *metadata;
  size_t metadata_len;
};

/* Called inside vg_kafka_consume, on the consuming thread, when the group
 * changes what this member owns; the consumer's assignment is updated
 * around them (assigned: before the partitions are fetched; revoked: while
 * they are still owned, so that a transaction may still commit them). */
struct vg_kafka_rebalance {
  void *opaque;
  void (*assigned)(void *opaque, const struct vg_kafka_tp *tp, size_t n);
  /* lost: the member's session had expired, another member may own them
   * already: nothing of them may be committed any more */
  void (*revoked)(void *opaque, const struct vg_kafka_tp *tp, size_t n, int lost);
};

/* The consumers' prefetch queue by default, in KiB (128 MiB). */
#define VG_KAFKA_QUEUED_KBYTES 131072
/* A fetch's bytes of one partition by default (4 MiB). */
#define VG_KAFKA_PARTITION_FETCH_BYTES 4194304

/* One consumed message; pointers stay valid until the next consume or free. */
struct vg_kafka_msg {
  const char *topic;
  int32_t partition;
  int64_t offset;
  int64_t timestamp_ms; /* broker/producer timestamp, -1 when absent */
  const void *key;
  size_t key_len;
  const void *payload;
  size_t len;
  const void *rkm; /* the client's message (headers); opaque */
};

/* The last header `name` of message m: 0 with *val (not NUL-terminated,
 * valid as long as m) and *len, or VG_ENOTFOUND. */
int vg_kafka_msg_header(const struct vg_kafka_msg *m, const char *name, const char **val,
                        size_t *len);

/* Reads what topic holds from from->off[p] (clamped to the partition's
 * first offset; a partition without a known position, or beyond
 * from->n, is not read) up to the end offsets of the call, calling
 * cb(msg, ctx) for each message (headers readable; a non-zero return stops
 * and is returned). *end gets the topic's partitions with their end
 * offsets (release it). The topic's own consumer (no group) is created and
 * closed by the call. 0; VG_ENOTFOUND (topic missing, named in errstr);
 * VG_ETIMEOUT (brokers unreachable or the read not done in timeout_ms);
 * VG_EKAFKA. This is how a producer finds what a crashed predecessor wrote
 * (read-back of its own tail). */
int vg_kafka_read_tail(const struct vg_kafka_conf *kc, const char *topic,
                       const struct vg_kafka_positions *from, int timeout_ms,
                       int (*cb)(const struct vg_kafka_msg *m, void *ctx), void *ctx,
                       struct vg_kafka_positions *end, char *errstr, size_t errstr_size);

/* An idempotent acks=all producer (the dead-letter and rollup producers):
 * the configured brokers, client id and extra properties, delivery reports
 * to dr with opaque. what names it in errstr ("dead-letter producer").
 * 0, or VG_EKAFKA with errstr. */
int vg_kafka_producer_new(const struct vg_kafka_conf *kc, const char *what,
                          void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                          void *opaque, rd_kafka_t **out, char *errstr,
                          size_t errstr_size);

struct vg_kafka_consumer;

int vg_kafka_consumer_new(struct vg_kafka_consumer **out,
                          const struct vg_kafka_conf *conf, char *errstr,
                          size_t errstr_size);
/* Closes the consumer and frees it and the last batch. NULL is a no-op. */
void vg_kafka_consumer_free(struct vg_kafka_consumer *c);

/* Joins the consumer's group (conf.group) on topics, with the
 * cooperative-sticky assignor; partitions then come and go through the
 * rebalance hooks, each starting at the group's committed offset (read
 * with require_stable: a transaction in flight is waited for). 0 or
 * VG_EKAFKA with errstr. */
int vg_kafka_subscribe(struct vg_kafka_consumer *c, const char *const *topics,
                       size_t ntopics, char *errstr, size_t errstr_size);
/* 1 once the group member received its first assignment (possibly empty).
 * A member that leaves before that trips an assertion of librdkafka 2.0's
 * cooperative-sticky assignor when it is closed (librdkafka issue #4312,
 * fixed in 2.3): the ingest role waits for it before leaving. */
int vg_kafka_joined(const struct vg_kafka_consumer *c);
/* The partitions' committed offsets (the consumer's group, stable ones),
 * each in offsets[i] (-1001: none). 0 or VG_EKAFKA/VG_ETIMEOUT. */
int vg_kafka_committed(struct vg_kafka_consumer *c, const char *const *topics,
                       const int32_t *partitions, size_t n, int timeout_ms,
                       int64_t *offsets, char *errstr, size_t errstr_size);

/* Start offset for one partition: a real offset, VG_KAFKA_OFFSET_BEGINNING
 * or VG_KAFKA_OFFSET_END. */
typedef int64_t (*vg_kafka_start_fn)(void *opaque, const char *topic, int32_t partition);

/* Looks up the partitions of every topic (waiting up to timeout_ms for
 * metadata) and assigns them all, each starting at start(opaque, topic,
 * partition), or at the beginning when start is NULL. A topic that does not
 * exist is an error naming it. Replaces any previous assignment. */
int vg_kafka_assign_all(struct vg_kafka_consumer *c, const char *const *topics,
                        size_t ntopics, vg_kafka_start_fn start, void *opaque,
                        int timeout_ms, char *errstr, size_t errstr_size);

/* Value of start() for a partition this consumer must leave alone (another
 * worker's). */
#define VG_KAFKA_SKIP INT64_MIN

/* A topic vg_kafka_create_topics makes when it is missing. */
struct vg_kafka_new_topic {
  const char *name;
  int partitions;  /* 0: the cluster's default (num.partitions) */
  int replication; /* 0: the cluster's default (default.replication.factor) */
  int compacted;   /* cleanup.policy=compact */
};

/* Creates those of the n topics that do not exist (one metadata request,
 * then one CreateTopics request for the missing ones, waiting up to
 * timeout_ms for each), logging each it creates; *created counts them. A
 * topic that exists is left as it is; one created meanwhile by someone
 * else counts as existing. 0; VG_ETIMEOUT / VG_EKAFKA when the brokers did
 * not answer in time (try again later); VG_ECONFIG when they answered and
 * refused (ACLs, a creation policy, more replicas than brokers): errstr
 * names the topic and their reason. */
int vg_kafka_create_topics(struct vg_kafka_consumer *c,
                           const struct vg_kafka_new_topic *t, size_t n, int timeout_ms,
                           size_t *created, char *errstr, size_t errstr_size);

/* Calls fn(ctx, topic, partition, npartitions) for every partition of every
 * topic, in topic order then partition order, from one metadata request. A
 * topic that does not exist is an error naming it. */
int vg_kafka_list_partitions(struct vg_kafka_consumer *c, const char *const *topics,
                             size_t ntopics, int timeout_ms,
                             void (*fn)(void *ctx, const char *topic, int32_t partition,
                                        int32_t npartitions),
                             void *ctx, char *errstr, size_t errstr_size);

/* The number of partitions of every topic in counts[t], 0 for a topic that
 * does not exist (yet), from one metadata request. 0; VG_ETIMEOUT when the
 * brokers cannot be reached in timeout_ms; VG_EKAFKA. */
int vg_kafka_count_partitions(struct vg_kafka_consumer *c, const char *const *topics,
                              size_t ntopics, int timeout_ms, int32_t *counts,
                              char *errstr, size_t errstr_size);

/* The end offset (high watermark) of a partition as last seen by the client,
 * without a network round trip; -1 while unknown. Thread-safe. */
int64_t vg_kafka_high_watermark(struct vg_kafka_consumer *c, const char *topic,
                                int32_t partition);

/* Asks the partition's leader for its end offset (high watermark), waiting
 * at most timeout_ms; needs no assignment. 0 and *end, or VG_EKAFKA with
 * errstr naming the partition and the cause (unreachable broker, timeout,
 * unknown topic or partition). */
int vg_kafka_end_offset(struct vg_kafka_consumer *c, const char *topic, int32_t partition,
                        int timeout_ms, int64_t *end, char *errstr, size_t errstr_size);

/* The assigned partitions, in topic order then partition order. */
size_t vg_kafka_assignment_count(const struct vg_kafka_consumer *c);
void vg_kafka_assignment_get(const struct vg_kafka_consumer *c, size_t i,
                             const char **topic, int32_t *partition);
/* Next offset to be consumed from assigned partition i: the start offset
 * (resolved) or one past the last message returned. -1 while unknown. */
int64_t vg_kafka_position(const struct vg_kafka_consumer *c, size_t i);

/* The next offset to read of assigned partition i as the client sees it:
 * past the control records (transaction markers) of a transactional topic,
 * which vg_kafka_position, moved by messages, does not pass. -1 while
 * unknown. */
int64_t vg_kafka_read_position(const struct vg_kafka_consumer *c, size_t i);
/* The same by name; -1 for a partition not assigned. */
int64_t vg_kafka_read_position_of(const struct vg_kafka_consumer *c, const char *topic,
                                  int32_t partition);

/* Records, for every assigned partition, its end offset (high watermark) now,
 * so that vg_kafka_drained() can tell when all of them were read up to it. */
int vg_kafka_mark_end(struct vg_kafka_consumer *c, int timeout_ms, char *errstr,
                      size_t errstr_size);
/* True once every partition's position reached the end marked before. */
int vg_kafka_drained(const struct vg_kafka_consumer *c);

/* Consumes up to max messages into out, waiting at most timeout_ms for the
 * first one. Returns the number (0 on timeout) or a negative error for a
 * fatal client error. Transient errors are logged, rate-limited. */
ssize_t vg_kafka_consume(struct vg_kafka_consumer *c, struct vg_kafka_msg *out,
                         size_t max, int timeout_ms);

/* ---- embedded broker ---------------------------------------------------- */
struct vg_kafka_mock;
/* Starts an in-process mock cluster of nbrokers; *bootstrap stays valid until
 * vg_kafka_mock_free. */
int vg_kafka_mock_new(struct vg_kafka_mock **out, int nbrokers, const char **bootstrap,
                      char *errstr, size_t errstr_size);
int vg_kafka_mock_create_topic(struct vg_kafka_mock *m, const char *topic,
                               int partitions);
void vg_kafka_mock_free(struct vg_kafka_mock *m);

#endif
