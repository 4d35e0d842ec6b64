/*
 * The rollup topic (docs/publication.md "The rollup topic"): every hourly and
 * daily window that goes final or is revised is produced to
 * kafka.rollup_topic as one JSON message, after the store commit that
 * decided it.
 *
 * Message (vg_rollup_json): one object
 *   {"series": canonical key, "metric", "tags": {name: value, ...},
 *    "resolution": "1h"|"1d", "start_datetime", "end_datetime" (ISO 8601
 *    with the offset of the config's zone; start inclusive, end exclusive),
 *    "count", "sum", "min", "max", "mean", "stddev", ["p50", "p95" when the
 *    source keeps quantiles], "first", "last", ["distinct" when kept],
 *    "status": "final"|"provisional", "revision", ["site" when configured],
 *    "timezone", "state": base64 of the window's accumulator encoding (acc.h,
 *    versioned: tag 'A', version 1; docs/deltas.md), which a territory
 *    merges exactly}
 * numbers as vg_fmt_double prints them, null where undefined (an empty
 * window's min, the stddev of one reading). Key (vg_rollup_key):
 * `<series>|<resolution>|<start, Unix seconds>`, so a window's revisions go
 * to one partition, in order.
 *
 * The publisher reads the store's emit log, never the writer's memory: a
 * thread of its own begins a store reader, reads a pass of emit-log records
 * from its cursor (up to 16 batches) and the windows they name, in the
 * store's order, each segment once (so nothing is produced that the store
 * does not hold), ends the reader, produces the messages in the log's
 * order with an idempotent acks=all producer (each message carries the
 * header vigie.revision), and moves its cursor past each batch once the
 * broker acknowledged all of it. The writer persists the cursor (meta
 * "rollup_seq", in its next epoch) with the topic's positions as of that
 * cursor (vg_rollup_state: per partition, one past the last record
 * acknowledged before it) and trims the emit log below it.
 *
 * Exactly once per (window, revision): a crash re-produces the batches
 * published after the persisted cursor, so before its first batch the
 * publisher reads the topic back from the persisted positions and skips
 * every (key, revision) it finds there; while those skipped records lie
 * ahead of the cursor the persisted positions stay where the read-back
 * began. A fatal error of the idempotent producer is recovered the same
 * way without a restart: the failed client is drained and replaced, the
 * tail read back from the cursor's positions, and the batch produced
 * again without what the topic already holds. (A window's state at a
 * revision never changes once committed, so a record found is the record
 * that would be produced.)
 *
 * While the broker cannot be reached the cursor stays and the backlog grows
 * (metric vigie_rollup_backlog) -- up to publish.emit_log_max records, where
 * the daemon's writer stops committing (docs/publication.md, "When the emit
 * log is full": its policy, not the publisher's); the publisher itself
 * never blocks the writer: a batch is
 * formatted under a store snapshot that ends before anything is produced
 * (a snapshot held while librdkafka's queue is full would keep the writer
 * from growing the map). A batch that fails in part (records timed out)
 * is produced again after a read-back from the cursor's positions, as after
 * a fatal error.
 *
 * Test hook: VIGIE_TEST_MAP_SIZE=BYTES (the daemon's) starts a new store
 * with a map that small.
 *
 * Test hook: VIGIE_TEST_FATAL_ROLLUP=N in the environment makes the N-th
 * rollup produced raise a fatal producer error (rd_kafka_test_fatal_error).
 *
 * Metrics: vigie_rollups_published_total, vigie_rollup_backlog (emit-log
 * records not yet acknowledged), vigie_rollup_cursor,
 * vigie_rollup_delivery_failures_total.
 *
 * Kafka: the publisher drives its producer with librdkafka itself, but it
 * gets its clients from the caller (struct vg_rollup_client: the daemon
 * wires ingest's Kafka client, kafka.h), so that publication does not
 * depend on ingest.
 *
 * Thread-safety: vg_rollup_notify and vg_rollup_cursor from any thread;
 * new and free from one thread.
 */
#ifndef VIGIE_ROLLUP_H
#define VIGIE_ROLLUP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "vigie/acc.h"
#include "vigie/calendar.h"
#include "vigie/metrics.h"
#include "vigie/positions.h"
#include "vigie/store.h"
#include "vigie/tz.h"

/* Where a rollup comes from, in each record (docs/publication.md): the
 * deployment's site name (NULL: none) and the IANA zone of its hours and
 * days (NULL: not said). Strings borrowed. */
struct vg_rollup_origin {
  const char *site, *timezone;
};

/* Writes window w of series key (canonical, key_len bytes) as the message
 * above, times in tz, with o's fields (o may be NULL) and the window's
 * mergeable state ("state": the accumulator's encoding, acc.h, in base64).
 * 0, -EINVAL for a malformed key, -ENOMEM, or -EIO when the stream fails. */
int vg_rollup_json(FILE *out, const char *key, size_t key_len, const struct vg_wentry *w,
                   const struct vg_tz *tz, const struct vg_rollup_origin *o);
/* The message key into buf (NUL-terminated, truncated to size); returns its
 * full length. */
size_t vg_rollup_key(char *buf, size_t size, const char *key, size_t key_len, uint8_t res,
                     int64_t start);

/* ---- reading rollup records back (a serve instance's input) ---- */

/* One window of a rollup record, read back. */
struct vg_rollin {
  char *key; /* the series key with the tag site added, canonical (not NUL-terminated) */
  size_t key_len;
  uint8_t res;        /* VG_RES_HOUR or VG_RES_DAY */
  int64_t start, end; /* UTC seconds, on this store's calendar */
  uint32_t revision;  /* the city's */
  struct vg_acc acc;  /* the window's whole state */
};

/* Decodes the record (Kafka key and JSON value) of a city's rollup topic
 * into *out, its series tagged site=<site>; tzname and cal are the reading
 * store's zone and calendar. 0 (release *out); 1 for a record that is not a
 * window (an indicator row: skipped, *out holds nothing); VG_ECONFIG when
 * the record's zone is not tzname or its window is not one of cal's (a city
 * whose clock differs: never merged); VG_EDECODE or VG_EVERSION for a
 * record that is not one (errstr says why); -ENOMEM. */
int vg_rollin_decode(const char *key, size_t klen, const char *msg, size_t len,
                     const char *site, const char *tzname, struct vg_calendar *cal,
                     struct vg_rollin *out, char *errstr, size_t errstr_size);
void vg_rollin_release(struct vg_rollin *r);

/* The header of each rollup message that carries its revision. */
#define VG_ROLLUP_REVISION_HEADER "vigie.revision"

/* What the publisher needs of a Kafka client; ctx is passed to each call.
 * Both are called from the publisher's thread only. */
struct vg_rollup_client {
  /* A new idempotent acks=all producer whose delivery reports go to dr with
   * opaque (at start, and again after each fatal producer error). 0, or
   * VG_EKAFKA with errstr. */
  int (*producer_new)(void *ctx,
                      void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                      void *opaque, rd_kafka_t **out, char *errstr, size_t errstr_size);
  /* Reads topic back from from->off[p] up to its end offsets (kafka.h,
   * vg_kafka_read_tail), calling cb for each record with its key and the
   * value of its last header `header` (hval NULL when it has none; both
   * valid during the call; a non-zero return stops and is returned). *end
   * gets the end offsets (release it). 0, or a VG_E* code with errstr. */
  int (*read_tail)(void *ctx, const char *topic, const char *header,
                   const struct vg_kafka_positions *from, int timeout_ms,
                   int (*cb)(const void *key, size_t key_len, const void *hval,
                             size_t hval_len, void *cb_ctx),
                   void *cb_ctx, struct vg_kafka_positions *end, char *errstr,
                   size_t errstr_size);
  void *ctx; /* borrowed; outlives the publisher */
};

struct vg_rollup_opts {
  struct vg_rollup_client client; /* copied */
  const char *topic;              /* copied */
  struct vg_store *store;         /* borrowed; outlives the publisher */
  const struct vg_tz *tz;         /* borrowed; outlives the publisher */
  struct vg_rollup_origin origin; /* its strings borrowed; outlive the publisher */
  uint64_t cursor;                /* where to start (the stored rollup_seq) */
  struct vg_metrics *metrics;     /* borrowed; NULL: no metrics */
  /* records per batch, the cursor's step (0: 5000); a pass reads 16
   * batches, at most 80000 records (at least one batch) */
  size_t batch;
  /* the caller persists the read-back positions (vg_rollup_state,
   * vg_rollup_kept) before anything is produced: exactly once. 0: nothing
   * waits for them (at least once across crashes) */
  int keep_positions;
  /* the indicators whose rows (emit-log records VG_STORE_EMIT_IND) are
   * published too; borrowed, outlives the publisher; NULL: none */
  const struct vg_indicators *indicators;
};

struct vg_rollup;

/* Creates the producer and starts the thread. 0 or VG_EKAFKA / -ENOMEM
 * with errstr. */
int vg_rollup_new(const struct vg_rollup_opts *o, struct vg_rollup **out, char *errstr,
                  size_t errstr_size);
/* Tells the publisher that a commit added emit-log records (cheap: a
 * condition signal; it also looks every second). */
void vg_rollup_notify(struct vg_rollup *p);
/* Every emit-log record below this sequence was acknowledged. */
uint64_t vg_rollup_cursor(struct vg_rollup *p);
/* The cursor and, consistent with it, where a read-back after a crash must
 * begin (copied into *pos: release it; n = 0 while unknown), and the
 * generation of those positions: each read-back of the topic (at start,
 * after a fatal error) gives a new one, and the publisher produces nothing
 * until the caller persisted it and said so with vg_rollup_kept -- a crash
 * before that would leave records the next read-back does not look at.
 * 0 or -ENOMEM. */
int vg_rollup_state(struct vg_rollup *p, uint64_t *cursor, struct vg_kafka_positions *pos,
                    uint64_t *gen);
/* The positions of generation gen are in the store (any thread). */
void vg_rollup_kept(struct vg_rollup *p, uint64_t gen);
/* The persisted form of those positions is a store blob of this name. */
#define VG_ROLLUP_BLOB "rollups"
/* Rollups skipped because the topic already held them, and fatal producer
 * errors recovered. */
uint64_t vg_rollup_skipped(struct vg_rollup *p);
uint64_t vg_rollup_recovered(struct vg_rollup *p);
/* Waits up to timeout_ms until the cursor reaches seq. 0; VG_EKAFKA as
 * soon as an attempt made after the call failed (broker unreachable, topic
 * missing or not acknowledging): waiting longer is of no use; VG_ETIMEOUT. */
int vg_rollup_wait(struct vg_rollup *p, uint64_t seq, int timeout_ms);
/* CPU seconds the publisher thread has used so far (0 before it starts). */
double vg_rollup_cpu_s(struct vg_rollup *p);
/* Stops the thread (a batch in flight is given up to 5 s) and frees. NULL
 * is a no-op. */
void vg_rollup_free(struct vg_rollup *p);

/* Indicator rows (docs/indicators.md "Rows") on the same topic: key
 * `indicator:<id>|<series>|<period start, Unix seconds>`, message one
 * object {"dataset": "indicateurs", "indicator", "series", "period",
 * "period_start", "period_end", "value", "target", "attained",
 * "previous_value", "coverage", "status", "revision"[, "unit"]} (d: the
 * indicator's definition, for the objective; NULL: none). */
struct vg_indicator_def;
size_t vg_rollup_ind_key(char *buf, size_t size, const struct vg_store_ind *row);
int vg_rollup_ind_json(FILE *out, const struct vg_store_ind *row,
                       const struct vg_indicator_def *d, const struct vg_tz *tz);

#endif
