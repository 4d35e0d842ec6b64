/*
 * The ingest engine behind vigied (standalone mode): Kafka consumption,
 * decoding, aggregation and the exactly-once commits to the store.
 *
 *   worker threads (config `workers`), shared-nothing: each owns a share of
 *   the source partitions with its own consumer, codecs, dead-letter
 *   producer and delta table; per message: decode -> dead letters for what
 *   is rejected -> series id (SipHash of the canonical key) -> aggregate.
 *   At each checkpoint_interval a worker waits for its dead letters to be
 *   acknowledged, then hands its epoch (deltas + positions) to the writer.
 *
 *   the writer (the thread that calls vg_engine_run) collects the epochs,
 *   advances the watermark, and commits in ONE store transaction the windows
 *   that changed, the windows that went final (sealed), the new series, the
 *   partitions' next offsets and the watermark. On start, every partition
 *   resumes at its committed offset and the open windows are reloaded: a
 *   crash at any instant loses nothing and counts nothing twice.
 *
 * Thread-safety: vg_engine_stop is async-signal-safe; vg_engine_ready and
 * the metrics may be read from any thread; everything else from the thread
 * that created the engine.
 */
#ifndef VIGIE_DAEMON_ENGINE_H
#define VIGIE_DAEMON_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/config.h"
#include "vigie/kafka.h"
#include "vigie/metrics.h"
#include "vigie/rollup.h"

struct vg_engine_opts {
  const struct vg_config *cfg; /* borrowed for the engine's life */
  const char *data_dir;        /* overrides cfg->data_dir when non-NULL */
  int drain; /* consume every partition up to its end at start, commit, return */
  struct vg_metrics *metrics; /* borrowed; NULL: no metrics */
  /* gives the allocator's freed pages back to the system (jemalloc's
   * purge), called by the writer when memory_limit is reached; NULL: none */
  void (*release_memory)(void);
};

struct vg_engine;

/* Opens the store (and the embedded broker, and the rollup publisher, which
 * waits for the brokers on its own): nothing here needs Kafka to answer,
 * so the store is served at once. 0 or an error with errstr. */
int vg_engine_new(const struct vg_engine_opts *opts, struct vg_engine **out, char *errstr,
                  size_t errstr_size);
/* Connects to Kafka and ingests until vg_engine_stop (then the last epoch
 * is committed), until every partition is drained (--drain), or until a
 * fatal error. While the brokers cannot be reached or no source topic
 * exists it retries with backoff (1 s doubling to 30 s), logging each
 * change of state once; a missing topic among others is waited for while
 * the others are read. When partitions are added to a source topic or a
 * missing one appears (checked every 10 s), everything is committed and
 * the ingestion is rebuilt from the store's offsets. With --drain it waits
 * at most kafka.drain_wait for the brokers and a source topic. 0 or the error. */
int vg_engine_run(struct vg_engine *e, char *errstr, size_t errstr_size);
/* Asks vg_engine_run to finish. Async-signal-safe. */
void vg_engine_stop(struct vg_engine *e);
/* 1 while ingesting: the committed state is loaded and the brokers
 * answered. */
int vg_engine_ready(const struct vg_engine *e);
/* What is not ready, as one line into buf ("" when all is well: "kafka:
 * ...", "no source topic exists yet: ...", "source topics missing (waited
 * for): ...", "emit log full: N records wait for the rollup topic T");
 * returns vg_engine_ready, but 0 while the emit log is full (ingestion
 * paused: publish.emit_log_max). Any thread. */
int vg_engine_status(struct vg_engine *e, char *buf, size_t size);
/* The bootstrap servers in use (the embedded broker's address with
 * kafka.brokers: embedded). */
const char *vg_engine_brokers(const struct vg_engine *e);
/* The store's size (any thread; the engine must outlive the call). */
struct vg_store_stat;
int vg_engine_store_stat(struct vg_engine *e, struct vg_store_stat *out);
/* Begins a read-only snapshot of the engine's store (any thread; end it
 * with vg_store_reader_end before the engine is freed). */
struct vg_store_reader;
int vg_engine_reader_begin(struct vg_engine *e, struct vg_store_reader **out);
void vg_engine_free(struct vg_engine *e);

/* The rollup publisher's Kafka client (rollup.h) over ingest's (kafka.h):
 * producers named "rollup producer" in errors, and the read-back with
 * vg_kafka_read_tail. kc is borrowed and must outlive the publisher. */
struct vg_rollup_client vg_engine_rollup_client(const struct vg_kafka_conf *kc);

#endif
