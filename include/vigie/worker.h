/*
 * Shared-nothing aggregation workers and the single writer that collects
 * their epochs.
 *
 * A struct vg_agg holds N workers and the writer's state (open windows,
 * watermarks, committed partition positions). Each worker is driven by one
 * thread of the caller's and owns a set of source partitions: it places each
 * event in its base window (its own calendar cache) and accumulates it into
 * its own delta table -- no lock, no atomic, no shared write on the event
 * path. At each epoch boundary (the caller's checkpoint_interval) the worker
 * calls vg_worker_flush: its delta table and the positions of its partitions
 * go to the writer through a lock-free single-producer single-consumer queue
 * (one per worker, C11 atomics, engine/agg/spsc.h) and the worker continues on
 * a fresh table that the writer recycled through a second queue (double
 * buffering; no allocation in steady state). The writer thread calls
 * vg_agg_collect, which merges every pending epoch into the open windows
 * (base, hour, day), records the positions, advances the watermark, emits
 * final and revised windows and returns the tables.
 *
 * Why plain C11 atomics and not Concurrency Kit or liburcu: the hand-off is
 * one pointer per worker per epoch (about once a second) over an SPSC ring,
 * i.e. a release store and an acquire load; a library would add a dependency
 * for two instructions.
 *
 * Event times are int64 nanoseconds since the epoch (UTC); `now` arguments
 * are nanoseconds of one clock chosen by the caller (idle detection).
 *
 * Late readings (docs/aggregation.md "Watermarks, lateness, ..."): a reading
 * counts in every resolution that still retains its time, however late it
 * comes. The worker decides it, once, when it takes the reading, from the
 * reading's own source partition: with W = floor(partition watermark / 1e9)
 * -- the partition's highest event time so far, this reading included,
 * minus out_of_orderness -- the reading goes into resolution r (base, hour,
 * day) unless r has a retention R_r (opts.win.retention_s[r], 0 = forever)
 * and the reading's window of r ends at or before W - R_r. So once its base
 * window is retired a reading still goes into its hour and its day (kept
 * forever by default); only a reading that no resolution retains is
 * rejected (VG_AGG_REJECT_RETENTION). The partition's highest event time is
 * part of its committed position (struct vg_part_pos, restored from the
 * store at start), so replaying the same messages from a committed position
 * gives the same decisions whatever the global watermark, the wall clock,
 * idle timeouts or commit timing were: a rejected reading is the same
 * reading after a crash (the daemon dead-letters it and dedupes those by
 * source coordinates). The decision travels with the delta (a delta entry
 * per base window and set of resolutions) and the writer merges into
 * exactly those windows, never deciding again (window.h).
 *
 * Duplicates (dedupe.h; docs/aggregation.md "Duplicates"): an
 * event with dedupe > 0 (its source has `dedupe: true`, dedupe = its
 * dedupe_max) is dropped when a reading with the same identity -- series,
 * event time in ns, distinct-key hash -- was already counted in its base
 * window. It is checked when its base window is among the resolutions it
 * goes into and ends after W - opts.dedupe_s (W as above, from its own
 * partition; dedupe_s 0: as long as base windows are retained); otherwise
 * it is aggregated unchecked (c.dedupe_past). Checked twice:
 * - by the worker, within its epoch: the readings of dedupe sources go into
 *   delta entries of their own that keep the readings themselves (time,
 *   value, key, partition: 40 bytes each, for the epoch only), and a copy of
 *   one already in its entry is dropped at once. The other sources' path is
 *   unchanged but for one test of ev->dedupe.
 * - by the writer, against the base window's fingerprint set (window.h),
 *   which holds what earlier epochs counted -- kept in the store in the same
 *   transaction as the window, so across restarts and crashes too -- and
 *   what other workers' deltas of this epoch counted. A delta with no copy
 *   in it (the usual case) merges as it is; one with copies is rebuilt from
 *   its other readings, in their order, and that merges. A set holding
 *   dedupe_max fingerprints takes no more: a further reading is still
 *   checked against them and aggregated, but its own copies would count
 *   (c.dedupe_full).
 * A duplicate is not a rejection: vg_worker_add returns VG_AGG_ACCEPTED for
 * it (the reading was taken; no dead letter), and it is counted in
 * c.duplicates and vg_agg_dedupe() of its partition once collected, not in
 * c.aggregated. Replaying the same messages from a committed position drops
 * the same copies: the sets committed with that position hold exactly
 * what was counted up to it. Of two readings with the same identity from
 * two partitions in one epoch, the one merged first is kept.
 *
 * Thread-safety: vg_worker_* functions of one worker from one thread at a
 * time (different workers in parallel); vg_agg_collect and the vg_agg
 * accessors from the writer thread only; vg_agg_new/free with no worker
 * running.
 */
#ifndef VIGIE_WORKER_H
#define VIGIE_WORKER_H

#include <stdint.h>

#include "vigie/acc.h"
#include "vigie/tz.h"
#include "vigie/window.h"
#include "vigie/wtable.h"

/* One event as the aggregator takes it (codec.h's struct vg_event, with its
 * series key reduced to an id). series: the 64-bit id of the series (the
 * store interns canonical keys; until then a hash of the canonical key
 * string, e.g. vg_fnv1a64, or an id given by the caller). */
struct vg_agg_event {
  uint64_t series;
  int64_t time_ns; /* event time, nanoseconds since 1970-01-01T00:00:00Z */
  double value;
  uint64_t distinct; /* hash of the distinct key, when has_distinct */
  int has_distinct;
  /* 0: no duplicate check; else its source dedupes, and this is the most
   * fingerprints its base window keeps (dedupe_max; "Duplicates" above) */
  uint32_t dedupe;
};

struct vg_agg_opts {
  uint32_t nworkers;
  uint32_t nparts; /* source partitions, numbered 0..nparts-1 */
  int64_t base_s;  /* base window, a divisor of 3600 (default 60) */
  int64_t ooo_ns;  /* allowed out-of-orderness */
  int64_t idle_ns; /* idle_timeout */
  /* lateness and per-resolution retention: each retention 0 (forever) or
   * at least the lateness, else VG_ECONFIG */
  struct vg_window_opts win;
  /* how far behind its partition's watermark a dedupe reading is checked
   * (seconds; 0: as long as its base window is retained) */
  int64_t dedupe_s;
};

/* Per partition: readings of dedupe sources dropped as duplicates, and
 * aggregated beyond dedupe_max or past the horizon (window.h's counters). */
struct vg_dedupe_counts {
  uint64_t duplicates, full, past;
};

/* Where a partition is: what the writer commits with the epoch's deltas. */
struct vg_part_pos {
  int64_t next_offset;    /* -1 until the first event */
  int64_t max_event_ns;   /* INT64_MIN until the first event */
  int64_t last_active_ns; /* `now` of its last event */
};

struct vg_agg;
struct vg_worker;

/* Creates the aggregator; tz is borrowed. partition p belongs to worker
 * p % nworkers unless vg_agg_assign says otherwise before the workers start.
 * Returns 0, VG_ECONFIG (with a message in errstr) or -ENOMEM. */
int vg_agg_new(const struct vg_tz *tz, const struct vg_agg_opts *opts, int64_t now_ns,
               struct vg_agg **out, char *errstr, size_t errstr_size);
/* Frees everything, including epochs still queued. No worker may run. */
void vg_agg_free(struct vg_agg *a);
/* Gives partition `part` to worker `worker` (before any event). */
void vg_agg_assign(struct vg_agg *a, uint32_t part, uint32_t worker);
/* Worker i, owned by the aggregator. */
struct vg_worker *vg_agg_worker(struct vg_agg *a, uint32_t i);

/* Worker thread: aggregates one event read from `part` at `offset` into
 * the resolutions that retain its time ("Late readings" above). Returns
 * VG_AGG_ACCEPTED (counted in the epoch and, after collection, in
 * vg_agg_windows()->c.aggregated -- or, for a duplicate, in c.duplicates:
 * "Duplicates" above), VG_AGG_REJECT_RETENTION or
 * VG_AGG_REJECT_NONFINITE (counted in c.rejected), or -ENOMEM: then the
 * epoch holds part of the reading, and the worker refuses to hand it over
 * (vg_worker_flush returns -ENOMEM from then on): fatal, the process
 * restarts from what the store committed. The offset moves on whatever the
 * outcome. The partition must belong to this worker (asserted). */
int vg_worker_add(struct vg_worker *w, uint32_t part, int64_t offset,
                  const struct vg_agg_event *ev, int64_t now_ns);
/* Worker thread: the message at `offset` of `part` produced no event (every
 * reading was rejected by the codec): its offset moves on all the same. */
void vg_worker_skip(struct vg_worker *w, uint32_t part, int64_t offset, int64_t now_ns);

/* Worker thread: ends the epoch, handing the delta table and positions to
 * the writer (now_ns is reserved for epoch metadata). Returns 0, or VG_EFULL when the
 * writer is VG_AGG_MAX_PENDING epochs behind: the epoch then simply continues (retry
 * later), nothing is lost; or -ENOMEM (fatal after a vg_worker_add that ran
 * out of memory; otherwise the epoch continues). */
int vg_worker_flush(struct vg_worker *w, int64_t now_ns);
/* Worker thread: how many epochs this worker handed over. */
uint64_t vg_worker_epochs(const struct vg_worker *w);
/* Worker thread: bytes held by the current delta table (and sketches when
 * with_sketches, and the readings kept for dedupe), for memory reporting;
 * entries in *n. */
size_t vg_worker_bytes(const struct vg_worker *w, int with_sketches, size_t *n);

#define VG_AGG_MAX_PENDING 8

/* ---- scale-out (docs/deltas.md) ----
 *
 * The ingest role aggregates as a worker does but does not merge: its
 * epochs go to Kafka as deltas. vg_agg_take gives the handed epochs of a
 * worker to a visitor instead of merging them (any thread that may act as
 * this worker's writer; the ingest role calls it on the worker's own thread
 * right after vg_worker_flush). The store role feeds its worker with the
 * deltas it reads (vg_worker_merge, vg_worker_add_kept, vg_worker_mark) and
 * collects as usual: an ingest instance's epoch merges exactly as a local
 * worker's would, dedupe readings checked again against the stored
 * fingerprints. */
struct vg_delta_reading;
struct vg_agg_visitor {
  /* a plain delta: skipped resolutions (VG_INTO_* bits left out) */
  int (*entry)(void *ctx, const struct vg_wentry *d, unsigned skipped);
  /* a dedupe delta and its readings, in arrival order */
  int (*kept)(void *ctx, const struct vg_wentry *d, unsigned skipped, uint32_t dedupe_max,
              const struct vg_delta_reading *r, size_t n);
  /* partition p's position at the end of the epoch (the worker's own
   * partitions that moved) */
  int (*position)(void *ctx, uint32_t part, const struct vg_part_pos *pos);
};
/* Gives every epoch worker i handed to v, in order, then recycles them.
 * The readings aggregated and rejected are added to the writer's counters
 * (vg_agg_windows()->c) as if merged. 0, -ENOMEM or a callback's non-zero
 * return (the epoch is recycled all the same: the caller drops it). */
int vg_agg_take(struct vg_agg *a, uint32_t i, const struct vg_agg_visitor *v, void *ctx);
/* The worker's running position of part (what it read so far). */
struct vg_part_pos vg_worker_position(const struct vg_worker *w, uint32_t part);
/* Store role, worker thread: merges a delta of (series, base window
 * [start, end)) that skips the resolutions `skipped` into the epoch, read
 * at offset of part. 0 or -ENOMEM (fatal, as vg_worker_add's). */
int vg_worker_merge(struct vg_worker *w, uint32_t part, int64_t offset, uint64_t series,
                    int64_t start, int64_t end, unsigned skipped,
                    const struct vg_acc *delta, int64_t now_ns);
/* Store role: a dedupe reading of such a delta (its base resolution
 * included), checked against the epoch's like vg_worker_add's. 0 or
 * -ENOMEM. */
int vg_worker_add_kept(struct vg_worker *w, uint32_t part, int64_t offset,
                       uint64_t series, int64_t start, int64_t end, unsigned skipped,
                       uint32_t dedupe_max, const struct vg_delta_reading *r,
                       int64_t now_ns);
/* Store role, before the workers run: partition part takes no part in the
 * global watermark (a delta partition: never; a source partition's slot:
 * until the worker marks it). */
void vg_agg_no_watermark(struct vg_agg *a, uint32_t part, int ever);
/* Store role: part was read up to offset and its highest event time (the
 * watermark its sources report, plus out-of-orderness) is max_event_ns. */
void vg_worker_mark(struct vg_worker *w, uint32_t part, int64_t offset,
                    int64_t max_event_ns, int64_t now_ns);

/* Writer thread: merges every pending epoch, advances the watermark to its
 * new value at now_ns, emits (emit may be NULL) and recycles the tables.
 * Returns the number of epochs merged, or -ENOMEM, which is fatal: the open
 * windows then hold part of an uncommitted epoch, and the process must
 * restart from what the store committed (the epoch's events are read again).
 * vg_agg_free still works after it. */
int vg_agg_collect(struct vg_agg *a, int64_t now_ns,
                   void (*emit)(const struct vg_wentry *, void *), void *ctx);
/* Writer thread: the most epochs any worker has queued for collection (a
 * worker stops at VG_AGG_MAX_PENDING): a writer that sees a backlog collects
 * and commits at once instead of waiting for its next interval. */
unsigned vg_agg_backlog(const struct vg_agg *a);
/* Writer thread: how many epochs of a worker were merged so far (the last
 * one's sequence + 1; a worker numbers its epochs 0, 1, ... in the order it
 * hands them, see vg_worker_epochs): what the caller pairs with what it
 * recorded at each hand-off. */
uint64_t vg_agg_merged(const struct vg_agg *a, uint32_t worker);
/* Writer thread: the open windows and counters. */
const struct vg_windows *vg_agg_windows(const struct vg_agg *a);
/* Writer thread: committed position of a partition. */
struct vg_part_pos vg_agg_position(const struct vg_agg *a, uint32_t part);
/* Writer thread: the global watermark. */
int64_t vg_agg_watermark(const struct vg_agg *a);
/* Writer thread: the dedupe counts of a partition's readings collected so
 * far ("Duplicates"). */
struct vg_dedupe_counts vg_agg_dedupe(const struct vg_agg *a, uint32_t part);

/* ---- persistence: restoring the committed state at start (before any
 * worker runs) and the writer's access to its open windows ---- */
/* A partition's committed position: where its worker resumes, what holds
 * the watermark. */
void vg_agg_restore_position(struct vg_agg *a, uint32_t part, struct vg_part_pos pos);
/* The committed global watermark (it never moves back). */
void vg_agg_restore_watermark(struct vg_agg *a, int64_t watermark_ns);
/* An open window reloaded from the store. 0, -EEXIST or -ENOMEM. */
int vg_agg_restore_window(struct vg_agg *a, const struct vg_wentry *w);
/* Writer thread: the open windows, to commit the dirty ones, clean and
 * evict them (window.h). */
struct vg_windows *vg_agg_writer_windows(struct vg_agg *a);

#endif
