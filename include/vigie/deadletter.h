/*
 * Dead letters: every message with a rejected reading is produced, byte for
 * byte, to the dead-letter topic with headers saying why, where it came
 * from and which of its readings were rejected:
 *
 *   vigie.reason        the first reason's stable name (not_json, ...)
 *   vigie.topic         source topic
 *   vigie.partition     source partition (decimal)
 *   vigie.offset        source offset (decimal)
 *   vigie.byte_offset   where in the message the first problem is (decimal)
 *   vigie.rejected      which readings were rejected, when the daemon knows
 *                       (docs/ingestion.md "Dead letters and replay"): the
 *                       rest of the message was aggregated, and a replay
 *                       takes only what this header names
 *
 * The message key is kept. The producer is idempotent with acks=all.
 *
 * Exactly once, across crashes and producer failures. The daemon calls
 * vg_deadletter_flush before it hands an epoch: offsets never move past a
 * dead letter that was not acknowledged, so none is lost. What a crash can
 * leave is the reverse: dead letters of an epoch that was never committed,
 * which the replay of that epoch would write again. So at start the daemon
 * reads back the topic's tail from the positions it committed with its last
 * epoch (vg_deadletter_scan: every dead letter written after them belongs
 * to an uncommitted epoch), and vg_deadletter_send skips a message whose
 * source coordinates (topic, partition, offset) are already there.
 * Rejections are deterministic for a given message and committed state, so
 * the replay rejects the same messages.
 *
 * Positions: a producer's records land in each partition in order, so
 * after a flush every dead letter it writes later lies at or after its
 * positions (vg_deadletter_positions: per partition, one past the last it
 * had acknowledged, or the partition's end when it started). The minimum
 * over the workers of the positions taken at each committed hand-off is
 * where the next start reads back from.
 *
 * A fatal error of the idempotent producer (an unrecoverable sequence
 * gap, a fenced producer id) is recovered inside vg_deadletter_flush: the
 * failed client is drained and destroyed, a new one is created, the tail
 * after this producer's positions is read back, and the dead letters of
 * the current epoch (kept in a journal until the flush that acknowledges
 * them) that are not there are produced again. Nothing is lost, none is
 * written twice, and the process keeps running.
 *
 * Test hook: the environment variable VIGIE_TEST_FATAL_DEADLETTER=N makes
 * the N-th dead letter a producer sends raise a fatal error
 * (rd_kafka_test_fatal_error), for the integration tests.
 *
 * Thread-safety: one thread sends and flushes (a worker's); the delivery
 * callbacks run inside flush/send on that thread. A vg_deadletter_seen is
 * read-only once scanned and may be shared by every worker.
 */
#ifndef VIGIE_DEADLETTER_H
#define VIGIE_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/kafka.h"

/* The source coordinates of dead letters found in the topic's tail. */
struct vg_deadletter_seen;

/* Reads the dead-letter topic back from `from` (positions committed with
 * the last epoch; NULL or empty: nothing is read back) to its end, waiting
 * at most timeout_ms. *seen gets what it found (free it), *end the
 * topic's partitions and their end offsets (release it): the positions a
 * new producer starts from. 0; VG_ENOTFOUND (topic missing), VG_ETIMEOUT,
 * VG_EKAFKA, -ENOMEM, with errstr. */
int vg_deadletter_scan(const struct vg_kafka_conf *kc, const char *topic,
                       const struct vg_kafka_positions *from, int timeout_ms,
                       struct vg_deadletter_seen **seen, struct vg_kafka_positions *end,
                       char *errstr, size_t errstr_size);
/* 1 when the tail held a dead letter of that source message. */
int vg_deadletter_seen_has(const struct vg_deadletter_seen *s, const char *topic,
                           int32_t partition, int64_t offset);
/* Calls fn for every source message found (any order). */
void vg_deadletter_seen_each(const struct vg_deadletter_seen *s,
                             void (*fn)(void *ctx, const char *topic, int32_t partition,
                                        int64_t offset),
                             void *ctx);
/* How many dead letters the scan found. */
size_t vg_deadletter_seen_count(const struct vg_deadletter_seen *s);
void vg_deadletter_seen_free(struct vg_deadletter_seen *s);

/* ---- the vigie.rejected header ----------------------------------------------
 *
 * Which readings of a dead letter were rejected (the rest of the message
 * was aggregated): comma-separated entries, each
 *
 *   ITEM_START-ITEM_END=REASON                  the whole item
 *   ITEM_START-ITEM_END:FIELD_START-FIELD_END=REASON   one reading of it
 *
 * byte offsets of the message as it is (ends exclusive), items and fields
 * as the codec delimits them (codec.h): a JSON object, a line, a SenML
 * record; one field of it. A replay (source key replay_of) decodes the
 * message again and takes exactly the readings these entries name, so a
 * reading aggregated the first time is never taken twice. Example:
 * "0-57=missing_time,58-131:90-104=nan_or_inf". */
struct vg_rejected {
  uint32_t item_off, item_len;
  uint32_t field_off, field_len; /* the item itself: the whole item */
  const char *reason;            /* a static name (format); into the text (parse) */
  size_t reason_len;             /* parse only */
};

/* Writes the header for n entries into buf (NUL-terminated); returns the
 * length it needs (excluding the NUL), writing nothing past size. */
size_t vg_rejected_format(char *buf, size_t size, const struct vg_rejected *r, size_t n);
/* Parses a header of len bytes: entries into out (at most max), their
 * number in *n. 0, or VG_EDECODE for text that is not such a header
 * (also: more than max entries, a field outside its item, a reason that
 * is not a name of letters, digits and '_'). Reasons point into text. */
int vg_rejected_parse(const char *text, size_t len, struct vg_rejected *out, size_t max,
                      size_t *n);
/* 1 when a reading (item, field) is one that entries r[0..n) name. */
int vg_rejected_names(const struct vg_rejected *r, size_t n, uint32_t item_off,
                      uint32_t item_len, uint32_t field_off, uint32_t field_len);

struct vg_deadletter;

/* A producer for topic. start: the positions it starts at (the end offsets
 * vg_deadletter_scan gave; copied; NULL: unknown, positions then stay
 * unknown until acknowledgements give them). seen: borrowed, may be NULL;
 * must outlive the producer. */
int vg_deadletter_new(const struct vg_kafka_conf *conf, const char *topic,
                      const struct vg_kafka_positions *start,
                      const struct vg_deadletter_seen *seen, struct vg_deadletter **out,
                      char *errstr, size_t errstr_size);
/* The ingest role's dead letters: produced into the open transaction of
 * rk (txn.h), borrowed, which delivers them with the epoch or drops them
 * with it -- exactly once without journal, read-back or positions (flush
 * does nothing; the seen set is not used). 0 or -ENOMEM. */
int vg_deadletter_new_txn(rd_kafka_t *rk, const char *topic, struct vg_deadletter **out);
/* Queues a copy of src (payload and key) with the reason and, when not
 * NULL, the vigie.rejected header; returns at once. 0 when queued, 1 when
 * skipped because the topic already holds it (the scan saw it), VG_EKAFKA
 * when the client refuses it for good, -ENOMEM. */
int vg_deadletter_send(struct vg_deadletter *d, const struct vg_kafka_msg *src,
                       const char *reason, size_t byte_offset, const char *rejected);
/* Waits up to timeout_ms until every message sent so far is acknowledged,
 * recovering from a fatal producer error on the way (see above). 0;
 * VG_ETIMEOUT when some are still in flight (try again); VG_EKAFKA when
 * some could not be delivered for good (errstr says how many and why):
 * the caller must not commit past them. */
int vg_deadletter_flush(struct vg_deadletter *d, int timeout_ms, char *errstr,
                        size_t errstr_size);
/* This producer's positions as of its last successful flush (see above),
 * copied into *out (release it). 0 or -ENOMEM. */
int vg_deadletter_positions(const struct vg_deadletter *d,
                            struct vg_kafka_positions *out);
/* Dead letters acknowledged, failed, skipped (already in the topic) and
 * fatal errors recovered, since creation. */
uint64_t vg_deadletter_delivered(const struct vg_deadletter *d);
uint64_t vg_deadletter_failed(const struct vg_deadletter *d);
uint64_t vg_deadletter_skipped(const struct vg_deadletter *d);
uint64_t vg_deadletter_recovered(const struct vg_deadletter *d);
void vg_deadletter_free(struct vg_deadletter *d);

#endif
