/*
 * The delta format: what the ingest role produces to kafka.deltas_topic
 * and the store role merges (docs/deltas.md, the reference for other
 * implementations). One Kafka message is a record of one kind:
 *
 *   "VD" (0x56 0x44), u8 version (1), u8 kind, then the kind's body
 *
 * - kind 1, deltas: items back to back until the message ends, each a u8
 *   tag and its fields:
 *     'S' a series: u64le id, varint key length, key bytes (the canonical
 *         series key, serieskey.h)
 *     'E' a delta: u64le series, svarint window start (UTC seconds),
 *         varint window length (seconds), u8 skipped resolutions (the
 *         VG_INTO_* bits the worker's lateness decision left out; never
 *         all three), varint length, the accumulator's encoding (acc.h)
 *     'K' a dedupe delta, its readings kept (worker.h "Duplicates"):
 *         u64le series, svarint start, varint length, u8 skipped (never the
 *         base resolution), varint dedupe_max, varint n, then n readings:
 *         svarint time (ns), f64le value, u8 has_key, [u64le key hash]
 * - kind 2, watermarks: varint n, then n source partitions: varint topic
 *   length, topic, varint partition, svarint next offset, svarint highest
 *   event time (ns; INT64_MIN: none yet), svarint last activity (ns of the
 *   ingest instance's wall clock)
 *
 * A transaction of an ingest instance writes, to each delta partition,
 * the deltas of the series the partition's shard owns (vg_store_shard_of),
 * then one watermarks record of every source partition the instance owns
 * (so that every store sees every source partition's watermark). Readers
 * merge the deltas in log order; the accumulators are mergeable, so the
 * order changes nothing but rounding.
 *
 * The reader checks every field (lengths, the skipped bits, a window
 * length that is not the store's base window, sketch parameters that are
 * not the store's) and rejects the message with VG_EDECODE and a sentence
 * saying where; a version it does not know is VG_EVERSION. Not
 * thread-safe per writer; the reader keeps no state.
 */
#ifndef VIGIE_DELTA_H
#define VIGIE_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/acc.h"

#define VG_DELTA_VERSION 1
enum vg_delta_kind { VG_DELTA_DELTAS = 1, VG_DELTA_WATERMARKS = 2 };

/* A reading of a dedupe delta. */
struct vg_delta_reading {
  int64_t t; /* ns */
  double v;
  uint64_t key; /* distinct-key hash, when has_key */
  int has_key;
};

/* A source partition's state in a watermarks record. */
struct vg_delta_mark {
  const char *topic; /* not NUL-terminated when read: topic_len */
  size_t topic_len;
  int32_t partition;
  int64_t next_offset, max_event_ns, last_active_ns;
};

/* ---- writing: into a growable buffer the caller owns ---- */
struct vg_delta_buf {
  uint8_t *p;
  size_t len, cap;
  int err; /* out of memory: the record is incomplete */
};

/* Starts a record of kind (the buffer emptied, its memory kept). */
void vg_delta_begin(struct vg_delta_buf *b, enum vg_delta_kind kind);
void vg_delta_series(struct vg_delta_buf *b, uint64_t id, const char *key, size_t len);
void vg_delta_entry(struct vg_delta_buf *b, uint64_t series, int64_t start, int64_t end,
                    unsigned skipped, const struct vg_acc *acc);
void vg_delta_kept(struct vg_delta_buf *b, uint64_t series, int64_t start, int64_t end,
                   unsigned skipped, uint32_t dedupe_max,
                   const struct vg_delta_reading *r, size_t n);
/* A watermarks record's count, then each mark. */
void vg_delta_marks(struct vg_delta_buf *b, size_t n);
void vg_delta_mark(struct vg_delta_buf *b, const struct vg_delta_mark *m);
void vg_delta_buf_release(struct vg_delta_buf *b);

/* ---- reading ---- */
struct vg_delta_visitor {
  int (*series)(void *ctx, uint64_t id, const char *key, size_t len);
  /* acc is the reader's, valid during the call (its sketches freed after) */
  int (*entry)(void *ctx, uint64_t series, int64_t start, int64_t end, unsigned skipped,
               const struct vg_acc *acc);
  int (*kept)(void *ctx, uint64_t series, int64_t start, int64_t end, unsigned skipped,
              uint32_t dedupe_max, const struct vg_delta_reading *r, size_t n);
  int (*mark)(void *ctx, const struct vg_delta_mark *m);
};

/* Reads one record, giving each item to the visitor once checked. An
 * error stops at the bad item, after the items before it were given: the
 * store treats it as fatal, so that nothing of the epoch is committed.
 * base_s: the store's base window; o: its accumulators' options (a sketch
 * must match them). 0; VG_EDECODE / VG_EVERSION with errstr; -ENOMEM; or
 * a callback's non-zero return. */
int vg_delta_read(const uint8_t *p, size_t len, int64_t base_s,
                  const struct vg_acc_opts *o, const struct vg_delta_visitor *v,
                  void *ctx, char *errstr, size_t errstr_size);

#endif
