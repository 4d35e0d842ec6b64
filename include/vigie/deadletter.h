/*
 * Dead letters: every message a codec rejects is produced, byte for byte, to
 * the dead-letter topic with headers saying why and where it came from:
 *
 *   vigie.reason        the reason's stable name (not_json, truncated, ...)
 *   vigie.topic         source topic
 *   vigie.partition     source partition (decimal)
 *   vigie.offset        source offset (decimal)
 *   vigie.byte_offset   where in the message the problem is (decimal)
 *
 * The message key is kept. The producer is idempotent with acks=all, so a
 * retry never duplicates within a session. The daemon calls
 * vg_deadletter_flush before it commits an epoch's offsets: offsets never
 * move past a rejected message whose dead letter is not acknowledged, so a
 * dead letter is never lost; a crash between the two may write it again
 * (at least once). When the topic cannot be written (flush fails), the daemon
 * stops consuming rather than lose anything.
 *
 * Thread-safety: one thread sends and flushes (a worker's); the delivery
 * callbacks run inside flush/send on that thread.
 */
#ifndef VIGIE_DEADLETTER_H
#define VIGIE_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/kafka.h"

struct vg_deadletter;

int vg_deadletter_new(const struct vg_kafka_conf *conf, const char *topic,
                      struct vg_deadletter **out, char *errstr, size_t errstr_size);
/* Queues a copy of src (payload and key) with the reason; returns at once.
 * 0, or VG_EKAFKA when the client refuses it (errstr set by flush later). */
int vg_deadletter_send(struct vg_deadletter *d, const struct vg_kafka_msg *src,
                       const char *reason, size_t byte_offset);
/* Waits up to timeout_ms until every message sent so far is acknowledged.
 * 0; VG_ETIMEOUT when some are still in flight; VG_EKAFKA when one or more
 * could not be delivered (errstr says how many and why): the caller must not
 * commit past them. */
int vg_deadletter_flush(struct vg_deadletter *d, int timeout_ms, char *errstr,
                        size_t errstr_size);
/* Dead letters acknowledged / failed since creation. */
uint64_t vg_deadletter_delivered(const struct vg_deadletter *d);
uint64_t vg_deadletter_failed(const struct vg_deadletter *d);
void vg_deadletter_free(struct vg_deadletter *d);

#endif
