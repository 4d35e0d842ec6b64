/*
 * The LMDB store: Vigie's durable state in one LMDB environment (a directory
 * holding data.mdb and lock.mdb).
 *
 * Named databases (keys big-endian so one series' time range is one cursor
 * walk; values little-endian and versioned):
 *   meta       "format" -> u32 format version (VG_STORE_FORMAT); "epoch" ->
 *              u64 last committed epoch; "watermark" -> i64 global watermark
 *              (ns); "emit_seq" -> u64 next emit-log sequence;
 *              "rollup_seq" -> u64 emit-log sequence below which every
 *              record was produced to the rollup topic (absent: 0);
 *              "retain_gen" -> u64 retention transactions that deleted at
 *              least one segment (absent: 0; see vg_store_retain)
 *   series     canonical key -> u8 version, u64 id, i64 first seen (ns)
 *   series_id  u64 id -> canonical key
 *   open       (u64 series, u8 res, i64 start) -> u8 version, u8 flags
 *              (bit 0 final, bit 1 emit), u32 revision, i64 end, and the
 *              accumulator's own encoding (acc.h) at full precision; hourly
 *              and daily windows only since format 2
 *   blk        (u64 series, u8 res 0, i64 UTC hour) -> the base windows of
 *              that hour outside their segment, packed in one value: for
 *              each, what an `open` row holds (engine/store/block.h), so an
 *              epoch writes one row per series and hour, not per window
 *   seg        (u64 series, u8 res, i64 span start) -> a sealed columnar
 *              segment (segment.h: versioned, checksummed, compressed)
 *   pos        topic bytes, 0, u32 partition -> u8 version, i64 next offset,
 *              i64 max event time (ns), i64 last active (ns)
 *   emit       u64 sequence -> u8 version, u64 series, u8 res, i64 start,
 *              u32 revision (what went final or was revised; publication
 *              reads it; the daemon logs hourly and daily windows only)
 *   ind        (u64 indicator key, i64 period start) -> u8 version, i64
 *              end, f64 value, f64 coverage, f64 previous value (NaN:
 *              none), u32 revision, u8 flags (bit 0 final), u16 + bytes of
 *              the indicator id, u16 + bytes of the series label: the rows
 *              of the dataset `indicateurs` (docs/indicators.md), shard 0
 *              only; absent from stores written before indicators
 *   dup        (i64 base window end, u64 series, u32 first) -> u8 version,
 *              u8 flags (bit 0: distinct-key hashes follow the times), then
 *              each fingerprint (dedupe.h): i64 event time ns [, u64 key]:
 *              fingerprints first .. of the base window of dedupe sources
 *              ending there, one row per epoch that added some. Keyed by
 *              time first, so that retention deletes from the front; absent
 *              from stores written before dedupe (a writer creates it)
 * (signed times in keys have their sign bit flipped so that byte order is
 * numeric order).
 *
 * Exactly-once: vg_store_commit writes everything of one epoch -- open
 * windows, sealed windows, evictions, new series, partition positions, the
 * watermark, emit-log records and the epoch number -- in ONE write
 * transaction. A crash at any instant leaves the state of the last committed
 * epoch, and vg_store_load gives it back: the engine seeks each partition to
 * its stored next offset and reloads the open windows, so the lost epoch's
 * events are read again, counted once.
 *
 * Map growth: a commit that meets MDB_MAP_FULL aborts its transaction, grows
 * the map (doubling, up to opts.map_max) and replays the same epoch from the
 * caller's memory: nothing is lost. Beyond map_max, or when the disk is full,
 * vg_store_commit returns VG_EFULL, or -ENOSPC / -EFBIG (a file size limit)
 * with a message, and nothing of the epoch is committed; the caller pauses
 * consumption and retries the same epoch later (the previous state is
 * intact). LMDB reports a write cut short by a full disk as EIO: the store
 * then looks at the space left and the file size limit to say which.
 *
 * Durability (opts.durability): VG_STORE_SYNC (default) flushes data and
 * meta page on every commit; VG_STORE_NOMETASYNC skips the meta page flush
 * (a crash may lose the last epoch but never corrupts the store);
 * VG_STORE_NOSYNC leaves flushing to the OS (an OS crash may lose recent
 * epochs; a process crash loses nothing committed).
 *
 * Thread-safety and ownership: one struct vg_store per process. Exactly one
 * thread (the writer) calls vg_store_commit, vg_store_retain and
 * vg_store_load; any number of other threads -- and other processes that
 * open the same directory with opts.readonly -- read through their own
 * struct vg_store_reader (an LMDB read-only transaction; the env is opened
 * with MDB_NOTLS, so a reader may move between threads but is used by one
 * at a time). Readers never block the writer's transactions, but a reader
 * held open keeps old pages alive (the file grows): end it quickly, and
 * watch vg_store_stale_readers. One exception: a commit that must grow the
 * map waits until this process's readers have ended (LMDB may only be
 * resized with no transaction of the process active); readers of other
 * processes adopt the new size on their next begin. Values handed to callbacks are copies
 * owned by the store for the duration of the callback only (LMDB's own
 * memory dies with its transaction): copy what you keep.
 *
 * Shards (opts.shards, DESIGN.md "Shards: scale up"): the store may be split
 * by series into N shards, each an LMDB environment of its own -- shard 0
 * in the directory itself (where a store of one shard has always lived),
 * shard k in its subdirectory shard-k -- so that N writer threads commit in
 * parallel. A series lives in shard vg_store_shard_of(id, N). Shard 0's
 * meta "shards" records N (absent: 1); a store opens only with the count it
 * was written with (opts.shards 0: whatever it has), and
 * vg_store_reshard rewrites it for another. The struct vg_store that
 * vg_store_open returns is shard 0 and holds the others
 * (vg_store_shard): the writer's calls (commit, put_blob, load, retain,
 * flush, trim_emit) act on the one shard they are given, the writer calling
 * them once per shard; readers (vg_store_reader_begin on the store
 * vg_store_open returned) see all shards at once, each series in its own
 * shard's snapshot (two series may differ by one epoch): a partition's
 * position is the lowest over the shards, the meta is the lowest epoch,
 * watermark, emit sequence and rollup cursor (retain_gen: their sum), a blob
 * is the one of the shard at the lowest epoch, and the emit log is the
 * shards' logs merged by sequence up to that lowest emit sequence (the
 * writer numbers the records of all shards from one counter,
 * vg_store_epoch.emit_next), so a reader never sees a record of an epoch that
 * some shard has not committed yet.
 *
 * Errors: 0, or a negative code (error.h): VG_ECORRUPT / VG_EVERSION (the
 * message names the series and span), VG_EFULL, VG_ENOTFOUND, VG_ECONFIG,
 * -ENOMEM, -ENOSPC, -EIO, or -errno from LMDB; errstr gets a message that
 * says what failed first.
 */
#ifndef VIGIE_STORE_H
#define VIGIE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/dedupe.h"
#include "vigie/segment.h"
#include "vigie/wtable.h"

#define VG_STORE_FORMAT 2

enum vg_store_durability {
  VG_STORE_SYNC = 0,       /* fsync every commit (default) */
  VG_STORE_NOMETASYNC = 1, /* MDB_NOMETASYNC */
  VG_STORE_NOSYNC = 2,     /* MDB_NOSYNC */
};

struct vg_store_opts {
  const char *path;     /* directory, created if missing (not when readonly) */
  size_t map_size;      /* initial map size (0: 64 MiB); an existing larger file wins */
  size_t map_max;       /* growth limit (0: 1 TiB) */
  int durability;       /* enum vg_store_durability */
  int readonly;         /* a reader process: no writes, no growth */
  unsigned seg_codec;   /* segment codec bits (0: VG_SEG_DEFAULT_CODEC) */
  unsigned max_readers; /* LMDB reader slots (0: 126) */
  /* how long sealed segments are kept, per resolution (enum vg_res), in
   * seconds of event time behind the watermark; 0 = forever */
  int64_t retention_s[3];
  /* how long the fingerprints of dedupe sources are kept, in seconds of
   * event time behind the watermark (by their base window's end); 0 =
   * forever */
  int64_t dedupe_retention_s;
  /* sealed windows wait in `open` (base windows in their block) and are
   * written into their segment when one of them reaches a multiple of this
   * many UTC seconds, shifted by a phase drawn from the series id so that
   * series do not all flush in the same epoch (0: defaults 86400 for the
   * base resolution and for hours, every window for days),
   * so a segment is rewritten once per batch; vg_store_flush writes the
   * rest once their span is over */
  int64_t seal_every_s[3];
  /* at most this many segment rewrites per write transaction (0: 1024),
   * so that no transaction is long even when a late backfill revises
   * windows of thousands of spans long past: a commit leaves the spans it
   * has no budget for pending (readers see them) and the next commits
   * write them first, oldest first (a restart leaves them to
   * vg_store_flush) */
  size_t seal_max;
  /* shards (see above): 0 opens a store with the count it has (a new
   * store: 1); N > 0 creates a new store with N, and refuses with
   * VG_ECONFIG a store written with another count */
  unsigned shards;
  /* with shards 0: the count a store created by this open gets (0: 1) */
  unsigned new_shards;
};

#define VG_STORE_MAX_SHARDS 64

/* The shard of a series id among n (ids are SipHash values: their high
 * half spreads evenly; a multiply-shift, not a modulo). */
static inline unsigned vg_store_shard_of(uint64_t series, unsigned n) {
  return (unsigned)(((series >> 32) * (uint64_t)n) >> 32);
}

struct vg_store;
struct vg_store_reader;

/* Opens (creating when needed) the store. A store of another format
 * version is refused with VG_EVERSION. 0 or an error with errstr. */
int vg_store_open(const struct vg_store_opts *opts, struct vg_store **out, char *errstr,
                  size_t errstr_size);
/* Closes the environment (and the other shards of the store vg_store_open
 * returned). No reader may be active. NULL is fine. */
void vg_store_close(struct vg_store *st);
/* The number of shards of the store vg_store_open returned (1 for a store
 * of one shard, and for a shard itself). */
unsigned vg_store_shards(const struct vg_store *st);
/* Shard k < vg_store_shards(st) of the store vg_store_open returned
 * (shard 0 is st itself): what the writer's calls take. */
struct vg_store *vg_store_shard(struct vg_store *st, unsigned k);

/* What vg_store_copy wrote. */
struct vg_store_copy_stat {
  unsigned shards;
  uint64_t bytes; /* the copy's data files */
};

/* A hot copy of the store st (opened read-only is enough; vigied may be
 * writing it) into the new directory dest, which must not exist: each
 * shard compacted from one snapshot of its own (mdb_env_copy2), so shards
 * may be epochs apart, as after a crash between their commits, which a
 * start resumes from (each at its offsets); the series-id key with them.
 * Written into dest.partial, renamed to dest when complete. 0 or an error
 * with errstr. */
int vg_store_copy(struct vg_store *st, const char *dest, struct vg_store_copy_stat *stat,
                  char *errstr, size_t errstr_size);

/* Rewrites the store at path (no process may have it open) with n shards:
 * every row goes to the shard of its series, the positions, meta and blobs
 * to each shard, into a new store beside it (path.reshard), which then takes
 * path's place; the old one is kept as path.pre-reshard-N (N: its count) for
 * the operator to delete. The store's shards must all be at the same epoch
 * (a clean stop leaves them so; after a crash, start and stop vigied once):
 * else VG_ECONFIG and nothing is changed. progress (may be NULL) is called
 * with the rows copied so far and their total, every 100,000 rows and at
 * the end. 0 or an error with errstr. */
int vg_store_reshard(const char *path, unsigned n, size_t map_max,
                     void (*progress)(uint64_t done, uint64_t total, void *ctx),
                     void *ctx, char *errstr, size_t errstr_size);

/* A source partition's position. topic is borrowed (commit) or valid during
 * the callback (load). */
struct vg_store_pos {
  const char *topic;
  uint32_t partition;
  int64_t next_offset;
  int64_t max_event_ns;
  int64_t last_active_ns;
};

/* A series of the dictionary; key is not NUL-terminated. */
struct vg_store_series {
  uint64_t id;
  const char *key;
  size_t key_len;
  int64_t first_seen_ns;
};

/* One emit-log record. */
struct vg_store_emit {
  uint64_t seq; /* assigned by the store (unless vg_store_epoch.emit_next) */
  uint64_t series;
  uint8_t res;
  int64_t start;
  uint32_t revision;
};

/* The emit-log `res` of an indicator row: its `series` is the row's
 * indicator key and `start` its period start. */
#define VG_STORE_EMIT_IND 0x10

/* One indicator row (`ind`). Strings are borrowed (commit) or valid during
 * the callback (reads). */
struct vg_store_ind {
  uint64_t key;       /* the (indicator, series) pair */
  int64_t start, end; /* the period, UTC seconds */
  const char *indicator;
  const char *series;
  double value;    /* NaN: none */
  double coverage; /* NaN: unknown */
  double previous; /* NaN: none */
  uint32_t revision;
  uint8_t final;
};

/* A named value the caller keeps beside the epoch (meta "x:" + name):
 * e.g. where a producer's read-back of its own output starts. */
struct vg_store_blob {
  const char *name;
  const void *data;
  size_t len;
};

/* A window key. */
struct vg_store_wkey {
  uint64_t series;
  uint8_t res;
  int64_t start;
};

/* Everything one epoch changes. All pointers are borrowed for the call.
 * Applied in this order:
 * - open: upserted; these rows are the writer's state that vg_store_load
 *   gives back (a window keeps being "kept" until evicted);
 * - sealed: final (or revised) windows, written into their segment -- in
 *   batches: they wait in `open` as pending rows (readers already see
 *   them) until a window reaches a seal_every_s boundary, the epoch asks
 *   to flush, or vg_store_flush finds their span over; at most
 *   opts.seal_max segments per transaction (a flush the epoch asks for
 *   ignores that bound: bulk loads), the spans beyond it written by the
 *   next commits. A revision of a window sealed long ago (loaded through
 *   vg_store_window_loader) is listed here like any other: its segment is
 *   rewritten with the new revision, within the same bound. A sealed
 *   window stops being "kept" (vg_store_load no longer gives it back: a
 *   final window is revised from the store through
 *   vg_store_window_loader), so its row goes once it is in its segment; a
 *   window listed in both is sealed AND stays kept;
 * - evict: the writer no longer holds these windows: deleted from `open`
 *   (a pending one stays until it is in its segment);
 * - fps: new fingerprints of base windows of dedupe sources, each row
 *   added to the window's rows (rows with n 0 are skipped);
 * - series, positions, emit, watermark and epoch. */
struct vg_store_epoch {
  uint64_t epoch; /* the caller's epoch number, stored in meta */
  const struct vg_wentry *const *open;
  size_t nopen;
  const struct vg_wentry *const *sealed;
  size_t nsealed;
  const struct vg_store_wkey *evict;
  size_t nevict;
  const struct vg_store_series *series;
  size_t nseries;
  const struct vg_store_pos *pos;
  size_t npos;
  const struct vg_store_emit *emit;
  size_t nemit;
  /* 0: the store numbers the records from its emit sequence. Else the
   * records carry their own increasing seq (from one counter for all
   * shards) and the emit sequence becomes emit_next */
  uint64_t emit_next;
  int64_t watermark_ns;
  int flush; /* write every sealed window of this epoch into its segment now */
  /* when non-zero: the rollup topic's cursor (meta "rollup_seq"), every
   * emit-log record below it acknowledged by the broker */
  uint64_t rollup_seq;
  /* named values written with the epoch, each replacing its previous value */
  const struct vg_store_blob *blobs;
  size_t nblobs;
  const struct vg_fprow *fps;
  size_t nfps;
  /* indicator rows, upserted; readers look for them in shard 0 only, so
   * a sharded writer gives them to shard 0's commit */
  const struct vg_store_ind *ind;
  size_t nind;
};

/* Format 2 added `blk`; a writer opening a store of format 1 moves its
 * base windows from `open` into blocks in the opening transaction, and a
 * read-only process reads a store of format 1 as it is. */

/* Writer: commits one epoch in one write transaction (see above). A new
 * series whose key is known under another id, or whose id is known under
 * another key, fails the commit with VG_ECONFIG (nothing is written). */
int vg_store_commit(struct vg_store *st, const struct vg_store_epoch *ep, char *errstr,
                    size_t errstr_size);

/* Writer, between epochs: one named blob (as vg_store_epoch.blobs) in a
 * write transaction of its own, for a value that must be durable before
 * the next epoch (e.g. where a read-back begins, before anything is
 * produced). 0 or an error with errstr. */
int vg_store_put_blob(struct vg_store *st, const char *name, const void *data, size_t len,
                      char *errstr, size_t errstr_size);

/* What vg_store_load reports besides the callbacks. */
struct vg_store_state {
  uint64_t epoch;       /* last committed epoch (0: none) */
  int64_t watermark_ns; /* INT64_MIN when none was committed */
  uint64_t emit_seq;    /* next emit-log sequence */
  uint64_t rollup_seq;  /* the rollup topic's cursor (0 when never moved) */
  uint64_t retain_gen;  /* retention transactions that deleted rows (0: none) */
  uint64_t data_epoch;  /* the last epoch that wrote windows (0: none recorded, a
                           store older than the key) */
  uint64_t nopen;       /* open windows reloaded */
  uint64_t npos;        /* positions reloaded */
};

/* Writer, at start: calls on_window for every open window (rows of `open`, then
 * the base windows of blocks, each in key order) and
 * on_pos for every partition position (either may be NULL); a callback's
 * non-zero return stops the load and is returned. The window passed is the
 * store's: merge it (vg_acc_merge) or copy it, do not keep it. */
int vg_store_load(struct vg_store *st,
                  int (*on_window)(const struct vg_wentry *w, void *ctx),
                  int (*on_pos)(const struct vg_store_pos *p, void *ctx), void *ctx,
                  struct vg_store_state *state, char *errstr, size_t errstr_size);

/* Writer, between epochs: deletes segments of each resolution whose span
 * ended before watermark - retention, at most max_deletes per write
 * transaction (so no transaction is long), repeating until done or
 * max_txns transactions were used. *more (may be NULL) is set when
 * segments remain to delete. *deleted (may be NULL) counts them.
 * Fingerprint rows whose base window ended at or before watermark -
 * dedupe_retention_s are deleted too, from the front of `dup`, at most
 * max_deletes per call in a transaction of their own (not counted in
 * *deleted, nor in retain_gen: they are never published); *more is set
 * while some remain.
 * Retention changes neither the epoch nor the emit log, so every
 * transaction that deletes a segment also adds 1 to meta "retain_gen"
 * (vg_store_state.retain_gen), in that same transaction; a pass that
 * deletes nothing leaves it alone. It only grows: publication folds it into
 * its validators so that rows gone by retention change a dataset's ETag. */
int vg_store_retain(struct vg_store *st, int64_t watermark_ns, size_t max_deletes,
                    size_t max_txns, size_t *deleted, int *more, char *errstr,
                    size_t errstr_size);

/* Writer, between epochs: writes pending sealed windows whose span ended
 * at or before the watermark (or every pending window when watermark_ns is
 * INT64_MAX), or that reached their flush boundary (a commit had no budget
 * for them before a restart), into their segments, visiting at most
 * max_rows rows of `open` and rewriting at most opts.seal_max segments
 * per write transaction, using at most max_txns transactions; resumes
 * where the previous call stopped. *flushed (may be NULL) counts the spans
 * written, *more (may be NULL) says whether rows remain to visit. */
int vg_store_flush(struct vg_store *st, int64_t watermark_ns, size_t max_rows,
                   size_t max_txns, size_t *flushed, int *more, char *errstr,
                   size_t errstr_size);

/* Writer, between epochs: deletes emit-log records with seq < below (what
 * every consumer of the log has published), at most max_deletes in one
 * write transaction; *deleted (may be NULL) counts them. */
int vg_store_trim_emit(struct vg_store *st, uint64_t below, size_t max_deletes,
                       size_t *deleted, char *errstr, size_t errstr_size);

/* Any thread: clears reader slots of dead processes (mdb_reader_check);
 * *dead gets their number. */
int vg_store_reader_check(struct vg_store *st, int *dead);

/* Any thread: readers whose snapshot is more than max_lag transactions
 * behind the last commit (held open too long); *n gets their number. */
int vg_store_stale_readers(struct vg_store *st, uint64_t max_lag, int *n);

/* Any thread: store statistics (bytes of the map in use and of the map
 * itself, rows), read as a reader (a commit growing the map waits for it). */
struct vg_store_stat {
  uint64_t used_bytes;
  uint64_t map_bytes;
  uint64_t segments, open_windows, series, emit_records;
  /* segment writes by this process since it opened the store (a
   * transaction replayed after the map grew counts again) */
  uint64_t segment_writes;
  /* rows of fingerprints (dup) and the bytes of their keys and values */
  uint64_t dedupe_rows, dedupe_bytes;
};
int vg_store_stat(struct vg_store *st, struct vg_store_stat *out);

/* Reader: begins a read-only snapshot. */
int vg_store_reader_begin(struct vg_store *st, struct vg_store_reader **out);
/* Ends it (NULL is fine). */
void vg_store_reader_end(struct vg_store_reader *r);

/* Reader: the windows of one series at one resolution whose start is in
 * [from_s, to_s), in time order: the sealed ones from segments, then the
 * open ones (a window that is both takes its open version). cb's window
 * is valid during the call only. A damaged segment stops the walk with
 * VG_ECORRUPT / VG_EVERSION and a message naming the series (its canonical
 * key when known) and span. */
int vg_store_read_range(struct vg_store_reader *r, uint64_t series, uint8_t res,
                        int64_t from_s, int64_t to_s,
                        int (*cb)(const struct vg_wentry *w, void *ctx), void *ctx,
                        char *errstr, size_t errstr_size);

/* Writer (outside vg_store_commit), with the signature of window.h's
 * vg_window_loader (pass the store as ctx): fills *out, whose accumulator
 * is empty on entry and becomes the caller's (release it), with the stored
 * state of window (series, res, start) -- from its open row at full
 * precision when it has one (pending or kept), else from its segment
 * (sum and M2 as single doubles, mean recomputed). Returns 1 when found,
 * 0 when the store has no such window, or a negative error (a damaged
 * segment is also logged, naming the series and span). */
int vg_store_window_loader(void *store, uint64_t series, uint8_t res, int64_t start,
                           struct vg_wentry *out);

/* Writer (outside vg_store_commit), with the signature of window.h's
 * vg_fpset_loader (pass the store as ctx): appends to *out (empty) the
 * fingerprints stored for base window [start, end) of series, in the order
 * recorded. 1 when there were some, 0 when none, or a negative error
 * (VG_ECORRUPT for rows that do not follow each other, logged; *out is
 * then released). */
int vg_store_fp_loader(void *store, uint64_t series, int64_t start, int64_t end,
                       struct vg_fpset *out);

/* Reader: series id of a canonical key, or VG_ENOTFOUND. */
int vg_store_series_id(struct vg_store_reader *r, const char *key, size_t key_len,
                       uint64_t *id);
/* Reader: canonical key of a series id copied into buf (NUL-terminated,
 * truncated to size), its full length in *len; VG_ENOTFOUND when unknown. */
int vg_store_series_key(struct vg_store_reader *r, uint64_t id, char *buf, size_t size,
                        size_t *len);
/* Reader: calls cb for every series of the dictionary, in byte order of
 * the canonical key, until cb returns non-zero (returned). s and its key
 * are valid during the call only. 0, or VG_ECORRUPT / VG_EVERSION for a
 * damaged dictionary row, or an LMDB error. */
int vg_store_series_each(struct vg_store_reader *r,
                         int (*cb)(const struct vg_store_series *s, void *ctx),
                         void *ctx);
/* Reader: a partition's stored position, or VG_ENOTFOUND. */
int vg_store_position(struct vg_store_reader *r, const char *topic, uint32_t partition,
                      struct vg_store_pos *out);
/* Reader: emit-log records with seq >= from, in order, until cb returns
 * non-zero (returned as it is) or the log ends. */
int vg_store_read_emit(struct vg_store_reader *r, uint64_t from,
                       int (*cb)(const struct vg_store_emit *e, void *ctx), void *ctx);
/* Reader: the indicator rows of key (0: every key, in key order) whose
 * period starts in [from_s, to_s), in order, until cb returns non-zero
 * (returned). 0, VG_ECORRUPT / VG_EVERSION for a damaged row, or an LMDB
 * error; a store written before indicators has none. */
int vg_store_read_ind(struct vg_store_reader *r, uint64_t key, int64_t from_s,
                      int64_t to_s, int (*cb)(const struct vg_store_ind *row, void *ctx),
                      void *ctx);
/* Reader: the value of the named blob last committed (vg_store_epoch.blobs),
 * copied into *data (malloc'd; the caller frees it) and *len. 0,
 * VG_ENOTFOUND, -ENOMEM or an LMDB error. */
int vg_store_reader_blob(struct vg_store_reader *r, const char *name, void **data,
                         size_t *len);
/* Reader: the snapshot's committed epoch, watermark (INT64_MIN when none),
 * next emit-log sequence, rollup cursor and retention generation, in *out
 * (nopen and npos are 0); a key an older store lacks reads as 0.
 * Publication derives ETags and change cursors from them. 0 or an LMDB
 * error. */
int vg_store_reader_meta(struct vg_store_reader *r, struct vg_store_state *out);

#endif
