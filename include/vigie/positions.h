/*
 * Positions in a Kafka topic, as data: per partition, the offset where
 * reading resumes. The dead-letter producer (ingest), the rollup publisher
 * (publish) and the daemon, which persists both beside each epoch, share
 * them; nothing here talks to a broker (kafka.h does).
 *
 * Ownership: a struct vg_kafka_positions owns its array; whoever filled it
 * releases it. Not synchronized: one owner at a time.
 */
#ifndef VIGIE_POSITIONS_H
#define VIGIE_POSITIONS_H

#include <stddef.h>
#include <stdint.h>

/* Per-partition offsets of one topic: off[p] for partition p < n, -1 when
 * unknown. Owned by whoever filled it (vg_kafka_positions_release). */
struct vg_kafka_positions {
  int32_t n;
  int64_t *off;
};
void vg_kafka_positions_release(struct vg_kafka_positions *p);
/* Copies src into *dst (holding nothing). 0 or -ENOMEM. */
int vg_kafka_positions_copy(struct vg_kafka_positions *dst,
                            const struct vg_kafka_positions *src);
/* Persisted form (the store keeps it beside the epoch): u8 version 1, u16
 * topic length, topic, u32 n, n x i64 little-endian. encode returns the
 * bytes needed (write nothing when cap is short); decode fills *topic_len /
 * *topic (pointing into buf) and *p (allocated), 0 or VG_EDECODE/-ENOMEM. */
size_t vg_kafka_positions_encode(const char *topic, const struct vg_kafka_positions *p,
                                 uint8_t *buf, size_t cap);
int vg_kafka_positions_decode(const uint8_t *buf, size_t len, const char **topic,
                              size_t *topic_len, struct vg_kafka_positions *p);

#endif
