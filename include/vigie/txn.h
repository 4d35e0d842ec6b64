/*
 * A Kafka transactional producer (exactly-once semantics v2, KIP-447): the
 * ingest role's epochs. Each epoch is one transaction that produces the
 * epoch's deltas, watermarks and dead letters and commits the consumed
 * offsets of the member's group in the same transaction
 * (rd_kafka_send_offsets_to_transaction), so that a crash at any instant
 * leaves either all of it or none of it visible to read_committed readers.
 *
 * The transactional.id names the producer: a new producer with the same id
 * (a restarted instance) fences the older one -- its open transaction is
 * aborted by the coordinator and any further call of the older one fails
 * with VG_EFENCED. A consumer that lost its partitions to a rebalance (a
 * zombie) cannot commit their offsets either: the group's generation in
 * the offsets is refused and the transaction is aborted (VG_EABORTED).
 *
 * Errors: 0; VG_EABORTED -- the transaction was aborted (nothing of it is
 * visible; the caller reads its input again from the committed offsets);
 * VG_EFENCED -- fatal, the producer may not be used any more; VG_ETIMEOUT /
 * VG_EKAFKA -- the brokers did not answer in time (a commit may be retried:
 * librdkafka keeps its state). errstr says what failed.
 *
 * Thread-safety: one thread drives begin/commit/abort; produce may be
 * called from the same thread only (the ingest role keeps each producer
 * on its worker).
 */
#ifndef VIGIE_TXN_H
#define VIGIE_TXN_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "vigie/kafka.h"

struct vg_txn;

/* Creates the producer (kc's brokers, client id and properties; acks=all,
 * idempotent) and initializes its transactions, which fences a producer
 * with the same id and aborts its open transaction: may take up to
 * timeout_ms. The coordinator aborts a transaction open longer than
 * txn_timeout_ms (transaction.timeout.ms; 0: librdkafka's 60 s), unless kc's
 * properties set it; message.timeout.ms follows a shorter one. */
int vg_txn_new(const struct vg_kafka_conf *kc, const char *transactional_id,
               int64_t txn_timeout_ms, int timeout_ms, struct vg_txn **out, char *errstr,
               size_t errstr_size);
/* The producer's client (for messages produced by others into the open
 * transaction, e.g. the dead letters). */
rd_kafka_t *vg_txn_client(struct vg_txn *t);
/* Begins a transaction (none may be open). */
int vg_txn_begin(struct vg_txn *t, char *errstr, size_t errstr_size);
/* 1 while a transaction is open. */
int vg_txn_open(const struct vg_txn *t);
/* Queues a copy of payload (and key) to topic's partition in the open
 * transaction; waits while the producer's queue is full. 0 or an error. */
int vg_txn_produce(struct vg_txn *t, const char *topic, int32_t partition,
                   const void *key, size_t key_len, const void *payload, size_t len,
                   char *errstr, size_t errstr_size);
/* Adds the consumer's offsets (next offsets to read, with metadata) to the
 * transaction and commits it. On VG_EABORTED the transaction is aborted
 * already; on VG_ETIMEOUT/VG_EKAFKA it stays open: call again with the
 * same offsets (only the commit is retried once they were added) or
 * abort. */
int vg_txn_commit(struct vg_txn *t, struct vg_kafka_consumer *c,
                  const struct vg_kafka_tp *offsets, size_t n, int timeout_ms,
                  char *errstr, size_t errstr_size);
/* Aborts the open transaction (none open: nothing). 0 or an error. */
int vg_txn_abort(struct vg_txn *t, int timeout_ms, char *errstr, size_t errstr_size);
/* Transactions committed and aborted since creation. */
uint64_t vg_txn_committed(const struct vg_txn *t);
uint64_t vg_txn_aborted(const struct vg_txn *t);
void vg_txn_free(struct vg_txn *t);

#endif
