/*
 * The ingest engine (engine/daemon/engine.h): worker threads that consume,
 * decode and aggregate, and the writer that commits each epoch to the store
 * in one transaction with the partitions' next offsets.
 *
 * Ordering that makes it exactly-once:
 * - a worker hands an epoch only after the dead letters of its messages are
 *   acknowledged, and hands the keys of the series it saw first before the
 *   epoch that uses them;
 * - the writer collects the epochs, then the series keys (so every series
 *   of a collected epoch is in hand), and commits windows, series, offsets
 *   and watermark together; only then are windows marked clean and sealed
 *   ones evicted;
 * - on start the store gives back the offsets and the provisional windows;
 *   final windows stay in the store, where a late event's revision finds
 *   them (agg loader).
 *
 * Outputs exactly once: the dead letters of epochs that were handed but
 * never committed are found again at start by reading the dead-letter
 * topic back from the positions committed with the last epoch
 * (deadletter.h), and not written a second time.
 *
 * The store never waits for Kafka: vg_engine_new opens the store and
 * nothing else, so the API serves at once; vg_engine_run then connects
 * (ingest_start: partitions, committed state, dead-letter read-back,
 * workers) and retries with backoff while the brokers are unreachable or
 * no source topic exists, and rebuilds the ingestion (not the store) when
 * partitions or a missing topic appear.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/atomic.h"
#include "vigie/array.h"
#include "vigie/codec.h"
#include "daemon/serve.h"
#include "vigie/deadletter.h"
#include "vigie/delta.h"
#include "daemon/engine.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/indicator.h"
#include "vigie/kafka.h"
#include "vigie/log.h"
#include "vigie/rollup.h"
#include "vigie/store.h"
#include "vigie/txn.h"
#include "vigie/tz.h"
#include "vigie/worker.h"

#define BATCH 1024
/* The store role's slots of source partitions (their watermarks). */
#define STORE_SOURCE_SLOTS 4096
#define NS_PER_S           1000000000LL

/* ---- small vectors ---------------------------------------------------------- */

#define VEC(T)                                                                           \
  struct {                                                                               \
    T *v;                                                                                \
    size_t n, cap;                                                                       \
  }

/* 0 or -ENOMEM; one expression, parenthesized so that it composes (x &&
 * VEC_PUSH(...) once pushed without growing) */
#define VEC_PUSH(vec, x)                                                                 \
  (VG_GROW((vec).v, (vec).n + 1, (vec).cap) ? -ENOMEM : ((vec).v[(vec).n++] = (x), 0))

#define VEC_FREE(vec) free((vec).v)

/* Series keys handed from a worker to the writer: u32 length + bytes, back
 * to back. */
struct keybuf {
  char *b;
  size_t len, cap;
  uint32_t n;
};

static int keybuf_add(struct keybuf *k, const char *key, uint32_t len) {
  if (k->len + 4 + len > k->cap) {
    size_t nc = (k->cap ? k->cap * 2 : 4096) + len + 4;
    char *nb = realloc(k->b, nc);
    if (!nb)
      return -ENOMEM;
    k->b = nb;
    k->cap = nc;
  }
  memcpy(k->b + k->len, &len, 4);
  memcpy(k->b + k->len + 4, key, len);
  k->len += 4 + len;
  k->n++;
  return 0;
}

static int keybuf_append(struct keybuf *dst, const struct keybuf *src) {
  if (src->len == 0)
    return 0;
  if (dst->len + src->len > dst->cap) {
    size_t nc = dst->len + src->len + 4096;
    char *nb = realloc(dst->b, nc);
    if (!nb)
      return -ENOMEM;
    dst->b = nb;
    dst->cap = nc;
  }
  memcpy(dst->b + dst->len, src->b, src->len);
  dst->len += src->len;
  dst->n += src->n;
  return 0;
}

/* ---- the engine -------------------------------------------------------------- */

struct src {
  const struct vg_source_conf *conf;
  uint32_t first_part; /* index of its partition 0 in the engine's table */
  int32_t nparts;
  struct vg_counter *messages, *bytes, *events;
  /* dedupe: duplicates dropped, readings unchecked (window_full,
   * past_horizon), and what was added to them so far */
  struct vg_counter *duplicates, *unchecked[2];
  struct vg_dedupe_counts dd_last;
};

struct part {
  const char *topic; /* the source's */
  int32_t partition;
  uint32_t src, worker;
  int64_t start;    /* where to resume: committed next offset, or beginning */
  int64_t dl_found; /* the highest offset with a dead letter found at start, -1 */
  struct vg_gauge *lag;
};

struct engine_worker {
  struct vg_engine *e;
  uint32_t id;
  pthread_t th;
  int started;
  struct vg_kafka_consumer *kc;
  struct vg_codec **codecs; /* per source */
  uint64_t *msgs, *bytes;   /* per source, since the last batch */
  struct vg_deadletter *dl;
  struct vg_event_batch batch;
  struct vg_worker *aw;
  uint64_t *known; /* open-addressing set of series ids already handed */
  size_t known_n, known_mask;
  struct keybuf pending; /* keys first seen this epoch */
  pthread_mutex_t mu;
  struct keybuf handed; /* keys waiting for the writer (under mu) */
  /* the dead-letter positions at each hand-off, by epoch sequence (under
   * mu); the writer keeps those of the last epoch it merged (dl_merged):
   * what it commits, so that a restart reads back from there */
  struct {
    uint64_t seq;
    struct vg_kafka_positions pos;
  } dlpos[VG_AGG_MAX_PENDING + 2];
  struct vg_kafka_positions dl_merged;
  /* a message's rejected readings, a replay's wanted ones, the header */
  struct vg_rejected *rj, *want;
  size_t nrj, caprj, nwant, capwant;
  char *hdr;
  size_t caphdr;
  /* where the thread's CPU time goes (ns of its CPU clock, stored once a
   * batch for the stop line): polling librdkafka, decoding, the rest of a
   * message's processing (series ids, the delta table, dead letters), all */
  vg_atomic_u64 cpu_receive, cpu_decode, cpu_aggregate, cpu_total;
  int64_t decode_wall_ns; /* monotonic ns inside the codec, this batch (sampled) */
  uint32_t decode_seq;    /* decodes so far: which ones are timed */
  /* memory_limit: the most delta entries an epoch may hold before it is
   * handed early (0: no limit); epochs handed so because of it */
  size_t epoch_cap;
  vg_atomic_u64 early_epochs;
  /* the memory gate (memory_gate): the ticket of the writer's relief this
   * worker waits for (0: none), whether it is past the mark with its epoch
   * not handed yet, batches since the last look, and how often it waited */
  uint64_t hold_for;
  int hold_ask;
  unsigned hold_batches;
  vg_atomic_u64 memory_waits;
  _Atomic int done;
  /* the ingest role (docs/scaleout.md): the worker's own aggregator (every
   * partition its own: the group decides which it reads), its
   * transactional producer, the delta topic's partition count and the
   * records being built for each, the epoch's offsets to commit with their
   * metadata, the partitions the group gave it, the end offsets of a
   * group-wide drain, and whether a transaction was lost (the ingestion is
   * then rebuilt from the group's committed offsets) */
  struct vg_agg *own;
  struct vg_txn *txn;
  int32_t ndeltas;
  struct vg_delta_buf *dbuf, marks;
  VEC(struct vg_kafka_tp) offs;
  VEC(struct offmeta { char s[64]; }) meta;
  uint8_t *owned;
  int64_t *drain_end;
  int64_t drain_next_ns;
  int txn_lost;  /* the ingestion must be rebuilt: an aborted transaction, lost
                    or unknown partitions */
  int in_revoke; /* ingest_epoch called from the revoke hook */
  int closing;   /* its last epoch is committed: revokes commit nothing */
  /* what it produced to the delta topic (read after the join) */
  uint64_t delta_records, delta_bytes, delta_entries;
  struct vg_kafka_rebalance rebalance;
};

/* One shard's part of an epoch (the writer fills it, its committer commits
 * it), and the epoch it last committed, so that a retry after a failure
 * commits only the shards that failed. */
struct shard_job {
  struct vg_store *st;
  VEC(const struct vg_wentry *) open, sealed;
  VEC(struct vg_store_series) series;
  VEC(struct vg_store_emit) emits;
  VEC(struct vg_fprow) fps;
  struct vg_store_epoch ep;
  uint64_t done_epoch;
  int rc;
  double cpu_s;
  char err[512];
};

/* The committer threads of shards 1..n-1: a round starts when the writer
 * bumps `round`, and ends when `pending` is back to 0. */
struct committers {
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  uint64_t round;
  unsigned pending;
  int quit;
  unsigned n; /* threads started */
  struct committer_arg {
    struct committers *cm;
    struct shard_job *job;
    pthread_t th;
  } * t;
};

struct vg_engine {
  const struct vg_config *cfg;
  struct vg_engine_opts o;
  int role; /* enum vg_role */
  /* the partitions read from Kafka: all of parts, but in the store role,
   * where the delta topic's come first and the slots of the source
   * partitions its watermarks name follow (named as they appear, never
   * read from Kafka: process_delta) */
  size_t nread;
  struct vg_source_conf delta_src; /* the store role's one "source" */
  char **slot_names;               /* the store role's slots' topics (owned) */
  /* the store role: the last watermark each delta partition gave each
   * slot ([slot * nread + delta partition]); a slot moves by the lowest
   * over the partitions this instance merges (on_delta_mark) */
  struct vg_part_pos *slot_marks;
  char instance_id[256]; /* the ingest role's (config, or the host name) */
  char *data_dir;
  struct vg_tz *tz;
  struct vg_store *store;
  struct vg_agg *agg;
  struct vg_kafka_mock *mock;
  char *brokers;
  const char **props; /* kafka.properties as key, value, ..., NULL */
  struct src *srcs;
  size_t nsrcs;
  struct part *parts;
  size_t nparts, capparts;
  struct engine_worker *workers;
  uint32_t nworkers;
  uint8_t hkey[16];

  /* stop: the engine (SIGTERM); halt: the workers hand their last epoch
   * (a stop, the end of a drain, or the ingestion being rebuilt) */
  _Atomic int stop, halt, ready, failed;
  pthread_mutex_t fail_mu;
  char fail_msg[1024];

  /* what is not ready (vg_engine_status), under status_mu; kafka_up: the
   * brokers answered the last request (-1 before the first) */
  pthread_mutex_t status_mu;
  char status[1024];
  _Atomic int kafka_up;
  char missing[512]; /* source topics that do not exist (writer thread) */

  /* the dead-letter topic's tail read back at start: dead letters of
   * uncommitted epochs, and the topic's end offsets then */
  struct vg_deadletter_seen *dl_seen;
  struct vg_kafka_positions dl_from, dl_start;
  /* the committed dead-letter positions stay at dl_from while a message
   * whose dead letter the read-back found is beyond the committed offsets */
  int dl_hold;
  uint8_t *dl_blob; /* the positions committed with each epoch, encoded */
  size_t dl_blob_cap;
  uint8_t *rollup_blob; /* the rollup topic's positions at the cursor, encoded */
  size_t rollup_blob_cap;
  uint64_t rollup_gen_saved; /* the publisher's positions generation kept */

  /* store shards (store.h, "Shards"): each commits its part of an epoch,
   * shard 0 on the writer thread, the others on a committer thread each */
  unsigned nshards;
  struct shard_job *jobs;
  struct committers *cm;
  /* after a restart that found the shards at different epochs: shard k
   * counts the readings of partition p from offset skip[k * nparts + p] on
   * (the others it committed already); NULL when they were level */
  int64_t *skip;
  /* vg_store_load's positions, per shard and partition, while loading */
  struct vg_part_pos *loaded;
  unsigned loading;

  /* writer state */
  uint64_t epoch;
  /* publication: the rollup publisher (NULL when off), the next emit-log
   * sequence, and the rollup cursor last committed to the store */
  struct vg_rollup *rollup;
  struct vg_kafka_conf rollup_kc; /* the publisher's client's (outlives it) */
  uint64_t emit_next, rollup_saved;
  /* publish.emit_log_max (emit_log_full): emit_full while the records the
   * rollup topic has not acknowledged reach it (the writer then commits
   * nothing), emit_waiting their count (both read by vg_engine_status),
   * when the writer last said so in the log (mono_ns), and the gauges */
  _Atomic int emit_full;
  vg_atomic_u64 emit_waiting;
  /* the error line (emit_log_full): when it was last logged, whether this
   * time full was said, and how often it filled since */
  int64_t emit_said_ns;
  int emit_said;
  uint64_t emit_fills;
  struct vg_gauge *emit_records_g, *emit_max_g, *emit_full_g;
  /* the writer stopped while the emit log was full: the workers give up
   * their epochs (read again after a restart: their offsets were not
   * committed) instead of waiting to hand them */
  _Atomic int abandon;
  /* indicators (docs/indicators.md; NULL when none): the emit-log position
   * their rows reflect, as committed, when they were last stepped, and
   * whether the next commit must step them (the end of a drain) */
  struct vg_indicators *ind;
  uint64_t serve_ind_cursor; /* the serve loop's step, until its commit */
  int serve_ind_stepped;
  uint64_t ind_cursor;
  int64_t ind_next_ns; /* the next step is due then (mono_ns) */
  int ind_force;
  struct vg_histogram *ind_step_seconds;
  uint8_t *ind_blob; /* u64 cursor, u32 n, n u64 fingerprints (little-endian) */
  size_t ind_blob_len;
  struct vg_counter *ind_rows_g;
  /* final windows sealed since memory was last compacted, and epochs since */
  uint64_t sealed_since_evict;
  unsigned epochs_since_evict;
  VEC(struct vg_store_emit) emits;
  VEC(struct vg_store_series) series;
  struct keybuf series_keys;
  VEC(const struct vg_wentry *) open, sealed;
  VEC(struct vg_store_pos) pos;
  VEC(struct vg_fprow) fps;
  struct vg_window_counters last_counters;
  /* the writer thread's CPU seconds merging epochs and committing them,
   * logged at the end of a run (where the writer's time goes) */
  double merge_cpu_s, commit_cpu_s, writer_cpu_s;
  size_t windows_peak_bytes; /* the writer's open-window table at its largest */
  /* memory_limit split into its shares (memory_shares; all 0 but the epochs' cap: no
   * limit) */
  struct memory_shares {
    size_t epoch_entries;          /* a worker's epoch, in delta entries */
    int64_t prefetch_kib;          /* a consumer's queue, KiB of payload */
    int64_t partition_fetch_bytes; /* a fetch's bytes of one partition */
    size_t window_bytes;           /* the writer's window table */
    int64_t producer_kib;          /* a producer's queue (rollups, dead letters) */
    int64_t anon_high, anon_step;  /* the memory gate's (memory_gate) */
  } shares;
  /* the memory gate (memory_gate): /proc/self/statm (-1: closed); reliefs
   * asked for (a worker's ticket, taken once its epoch is handed) and done
   * (the writer answers every ticket up to the count it read before
   * collecting: those epochs are in its commit); RssAnon after the last
   * relief (0: it went back under the gate's mark since) */
  int statm_fd, statm_errno;
  vg_atomic_u64 relief_asked, relief_done;
  vg_atomic_i64 relief_floor;
  uint64_t relieving; /* the writer's: the tickets this round answers (0: none) */
  /* the last progress line: when, messages committed and events aggregated
   * then (log_progress) */
  int64_t progress_ns, progress_t0;
  uint64_t progress_msgs, progress_events;
  /* the workers' (struct engine_worker's cpu_*), summed over the runs that
   * ended, in seconds */
  double receive_cpu_s, decode_cpu_s, aggregate_cpu_s, workers_cpu_s;
  uint64_t events_aggregated; /* by the runs that ended */

  /* metrics (NULL without a registry) */
  struct vg_counter *rejects[VG_REJECT_REASON_COUNT], *agg_rejects[VG_AGG_REJECT_MAX];
  struct vg_counter *dead_letters, *epochs, *finalized, *revisions, *series_new;
  struct vg_gauge *watermark, *open_windows, *kafka_up_g;
  struct vg_histogram *commit_seconds;
};

static const double commit_bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                       0.1,   0.2,   0.5,   1,    2,    5};

/* The codec's share of a worker's batch is timed on one message in this
 * many (the monotonic clock costs about 50 ns a read on this VM). */
#define DECODE_SAMPLE 8

/* Sleeps ms milliseconds (the workers' and the writer's waits). */
static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* CPU nanoseconds of the calling thread. */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* CPU seconds of the calling thread. */
static double thread_cpu_s(void) {
  return (double)thread_cpu_ns() / 1e9;
}

/* Records the first fatal error and asks everyone to stop. */
static void engine_fail(struct vg_engine *e, const char *msg) {
  pthread_mutex_lock(&e->fail_mu);
  if (!vg_atomic_load_acquire_int(&e->failed)) {
    snprintf(e->fail_msg, sizeof e->fail_msg, "%s", msg);
    vg_atomic_store_release_int(&e->failed, 1);
  }
  pthread_mutex_unlock(&e->fail_mu);
  vg_atomic_store_release_int(&e->stop, 1);
  VG_LOG_ERROR("fatal error, stopping", "error=\"%s\"", msg);
}

void vg_engine_stop(struct vg_engine *e) {
  vg_atomic_store_relaxed_int(&e->stop, 1);
}

int vg_engine_ready(const struct vg_engine *e) {
  return vg_atomic_load_relaxed_int(&e->ready);
}

const char *vg_engine_brokers(const struct vg_engine *e) {
  return e->brokers;
}

/* ---- series ids ----------------------------------------------------------------- */

/* The SipHash key of the store's series ids, created with the store: the ids
 * are stored, so the key must outlive every restart. */
static int load_hash_key(struct vg_engine *e, char *errstr, size_t errstr_size) {
  char path[4096];
  snprintf(path, sizeof path, "%s/series.key", e->data_dir);
  /* scale-out: every ingest instance and the stores share the ids, so the
   * key comes from the deployment's delta topic (docs/scaleout.md) */
  uint8_t shared[16];
  if (e->role != VG_ROLE_STANDALONE) {
    static const uint8_t zero[16];
    char buf[600];
    /* serve replicas share theirs too: the same ids, the same answers */
    snprintf(buf, sizeof buf, "vigie series ids 0 %s",
             e->role == VG_ROLE_SERVE ? "(serve)" : e->cfg->kafka_deltas_topic);
    uint64_t a = vg_siphash24(zero, buf, strlen(buf));
    buf[strlen("vigie series ids ")] = '1';
    uint64_t b = vg_siphash24(zero, buf, strlen(buf));
    memcpy(shared, &a, 8);
    memcpy(shared + 8, &b, 8);
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t r = read(fd, e->hkey, sizeof e->hkey);
    close(fd);
    if (r != (ssize_t)sizeof e->hkey) {
      snprintf(errstr, errstr_size, "%s: expected 16 bytes of series-id key", path);
      return VG_ECORRUPT;
    }
    if (e->role != VG_ROLE_STANDALONE && memcmp(e->hkey, shared, 16) != 0) {
      snprintf(
          errstr, errstr_size,
          "%s: this store's series ids were made with another key (a standalone "
          "store, or another kafka.deltas_topic): a store or ingest instance needs a "
          "data_dir of its own",
          path);
      return VG_ECONFIG;
    }
    return 0;
  }
  if (errno != ENOENT) {
    snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    return -errno;
  }
  if (e->role != VG_ROLE_STANDALONE)
    memcpy(e->hkey, shared, 16);
  else if (getrandom(e->hkey, sizeof e->hkey, 0) != (ssize_t)sizeof e->hkey) {
    snprintf(errstr, errstr_size, "getrandom: %s", strerror(errno));
    return -EIO;
  }
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, e->hkey, sizeof e->hkey) != (ssize_t)sizeof e->hkey ||
      fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
    int err = errno;
    if (fd >= 0)
      close(fd);
    snprintf(errstr, errstr_size, "%s: cannot write the series-id key: %s", path,
             strerror(err));
    return -err;
  }
  int dfd = open(e->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

/* 1 if id was already in the set, 0 if it was added, -ENOMEM. */
static int known_add(struct engine_worker *w, uint64_t id) {
  if (id == 0)
    id = 1; /* 0 marks an empty slot; a collision of ids is the store's to catch */
  if (!w->known || (w->known_n + 1) * 2 > w->known_mask + 1) {
    size_t nm = w->known ? (w->known_mask + 1) * 2 - 1 : 1023;
    uint64_t *nk = calloc(nm + 1, sizeof *nk);
    if (!nk)
      return -ENOMEM;
    for (size_t i = 0; w->known && i <= w->known_mask; i++) {
      if (!w->known[i])
        continue;
      size_t j = (size_t)(w->known[i] * 0x9e3779b97f4a7c15ULL >> 20) & nm;
      while (nk[j])
        j = (j + 1) & nm;
      nk[j] = w->known[i];
    }
    free(w->known);
    w->known = nk;
    w->known_mask = nm;
  }
  size_t j = (size_t)(id * 0x9e3779b97f4a7c15ULL >> 20) & w->known_mask;
  while (w->known[j]) {
    if (w->known[j] == id)
      return 1;
    j = (j + 1) & w->known_mask;
  }
  w->known[j] = id;
  w->known_n++;
  return 0;
}

/* ---- workers -------------------------------------------------------------------- */

/* The store role: whether this instance merges delta partition p
 * (store.delta_partitions; none listed: all). */
static int merges_partition(const struct vg_engine *e, int32_t p) {
  const struct vg_strlist *l = &e->cfg->store_delta_partitions;
  for (size_t i = 0; i < l->n; i++)
    if (atol(l->v[i]) == p)
      return 1;
  return l->n == 0;
}

static int64_t start_offset(void *opaque, const char *topic, int32_t partition) {
  struct engine_worker *w = opaque;
  struct vg_engine *e = w->e;
  if (e->role == VG_ROLE_STORE && !merges_partition(e, partition))
    return VG_KAFKA_SKIP; /* another store instance's */
  for (size_t s = 0; s < e->nsrcs; s++) {
    if (strcmp(e->srcs[s].conf->topic, topic) != 0)
      continue;
    if (partition >= e->srcs[s].nparts)
      return VG_KAFKA_SKIP; /* appeared after start: not followed yet */
    const struct part *p = &e->parts[e->srcs[s].first_part + (uint32_t)partition];
    return p->worker == w->id ? p->start : VG_KAFKA_SKIP;
  }
  return VG_KAFKA_SKIP;
}

/* The store role: a delta partition read up to a transaction's commit
 * marker is committed past it, so that its stored offset is the client's
 * and the lag vigieq shows counts records, not markers. */
static void past_markers(struct engine_worker *w, int64_t now) {
  struct vg_engine *e = w->e;
  for (size_t i = 0; i < vg_kafka_assignment_count(w->kc); i++) {
    const char *topic;
    int32_t partition;
    vg_kafka_assignment_get(w->kc, i, &topic, &partition);
    if (partition < 0 || (size_t)partition >= e->nread)
      continue;
    int64_t at = vg_kafka_read_position(w->kc, i);
    struct vg_part_pos pos = vg_worker_position(w->aw, (uint32_t)partition);
    if (pos.next_offset >= 0 && at > pos.next_offset)
      vg_worker_skip(w->aw, (uint32_t)partition, at - 1, now);
  }
}

/* Hands the epoch to the writer: dead letters acknowledged first (their
 * positions recorded for the epoch), then the new series keys, then the
 * deltas and positions. 0, VG_EFULL (the writer is behind, or the dead
 * letters are not acknowledged yet: try again) or a fatal error (already
 * reported). */
static int hand_epoch(struct engine_worker *w, int64_t now) {
  char err[512];
  int rc = w->dl ? vg_deadletter_flush(w->dl, 30000, err, sizeof err) : 0;
  if (rc == VG_ETIMEOUT) {
    VG_LOG_RATELIMITED(VG_LOG_WARN, 10000, "dead letters not acknowledged yet",
                       "worker=%u error=\"%s\"", w->id, err);
    return VG_EFULL; /* not fatal yet: the epoch waits, offsets do not move */
  }
  if (rc) {
    engine_fail(w->e, err);
    return rc;
  }
  if (w->e->role == VG_ROLE_STORE)
    past_markers(w, now);
  /* every dead letter of the epoch is acknowledged: whatever this worker
   * writes from now on lands after these positions */
  uint64_t seq = vg_worker_epochs(w->aw);
  size_t slot = seq % (sizeof w->dlpos / sizeof w->dlpos[0]);
  struct vg_kafka_positions pos = {0, NULL};
  if (w->dl && vg_deadletter_positions(w->dl, &pos) != 0) {
    engine_fail(w->e, "out of memory recording dead-letter positions");
    return -ENOMEM;
  }
  pthread_mutex_lock(&w->mu);
  vg_kafka_positions_release(&w->dlpos[slot].pos);
  w->dlpos[slot].seq = seq;
  w->dlpos[slot].pos = pos;
  if (w->pending.n) {
    rc = keybuf_append(&w->handed, &w->pending);
    if (rc == 0)
      w->pending.len = w->pending.n = 0;
  }
  pthread_mutex_unlock(&w->mu);
  if (rc) {
    engine_fail(w->e, "out of memory handing series keys");
    return rc;
  }
  rc = vg_worker_flush(w->aw, now);
  if (rc == -ENOMEM) {
    engine_fail(w->e, "out of memory handing an epoch");
    return rc;
  }
  return rc;
}

/* Room for one more entry in a worker's vector of rejected readings. */
static int rejected_push(struct engine_worker *w, struct vg_rejected r) {
  if (VG_GROW(w->rj, w->nrj + 1, w->caprj))
    return -ENOMEM;
  w->rj[w->nrj++] = r;
  return 0;
}

/* The codec rejected the whole item (not one reading of it). */
static int item_rejected(const struct vg_event_batch *b, const struct vg_event *ev,
                         enum vg_reject_reason *why) {
  for (size_t j = 0; j < b->n_rejects; j++) {
    const struct vg_reject *r = &b->rejects[j];
    if (r->item_off == ev->item_off && r->item_len == ev->item_len &&
        r->field_off == r->item_off && r->field_len == r->item_len) {
      *why = r->reason;
      return 1;
    }
  }
  return 0;
}

/* A replay source (replay_of): whether the dead letter is one of the
 * replayed topic's, and which of its readings to take (w->want, w->nwant;
 * none listed: the whole message, as an older vigied wrote it). 1: take
 * it; 0: not this replay's (skip); -1: its vigie.rejected header does not
 * parse (the message becomes a dead letter again, whole). */
static int replay_filter(struct engine_worker *w, const struct vg_source_conf *src,
                         const struct vg_kafka_msg *m) {
  const char *v;
  size_t n;
  w->nwant = 0;
  if (vg_kafka_msg_header(m, "vigie.topic", &v, &n) != 0 || n != strlen(src->replay_of) ||
      memcmp(v, src->replay_of, n) != 0)
    return 0;
  if (vg_kafka_msg_header(m, "vigie.rejected", &v, &n) != 0)
    return 1;
  /* entries are at least 5 bytes and a comma apart */
  size_t most = n / 6 + 1;
  if (most > w->capwant) {
    struct vg_rejected *nw = realloc(w->want, most * sizeof *nw);
    if (!nw)
      return -1;
    w->want = nw;
    w->capwant = most;
  }
  if (vg_rejected_parse(v, n, w->want, w->capwant, &w->nwant) != 0) {
    w->nwant = 0;
    return -1;
  }
  return 1;
}

/* Decodes and aggregates one message; returns its source's index.
 *
 * Dead letters name what they reject (vigie.rejected, deadletter.h): a
 * reading the codec rejects alone (one field), every reading of an item
 * the codec rejects whole (its good siblings are not aggregated either, so
 * that a replay of the item counts each once), and a reading no
 * resolution retains. Everything else of the message is aggregated. */
static size_t process_delta(struct engine_worker *w, const struct vg_kafka_msg *m,
                            int64_t now);

static size_t process(struct engine_worker *w, const struct vg_kafka_msg *m,
                      int64_t now) {
  struct vg_engine *e = w->e;
  if (e->role == VG_ROLE_STORE)
    return process_delta(w, m, now);
  size_t s = 0;
  while (s < e->nsrcs && strcmp(e->srcs[s].conf->topic, m->topic) != 0)
    s++;
  if (s == e->nsrcs || m->partition >= e->srcs[s].nparts)
    return s; /* not assigned by us: cannot happen */
  const struct vg_source_conf *src = e->srcs[s].conf;
  uint32_t part = e->srcs[s].first_part + (uint32_t)m->partition;
  if (w->owned && !w->owned[part])
    return s; /* the ingest role: revoked while in the batch */
  struct vg_event_batch *b = &w->batch;
  vg_event_batch_clear(b);
  w->nrj = 0;
  int replay = 0;
  if (src->replay_of) {
    replay = replay_filter(w, src, m);
    if (replay == 0) {
      vg_worker_skip(w->aw, part, m->offset, now); /* another topic's dead letter */
      return s;
    }
    if (replay < 0) {
      uint32_t len = m->len > UINT32_MAX ? UINT32_MAX : (uint32_t)m->len;
      if (rejected_push(w,
                        (struct vg_rejected){0, len, 0, len, "bad_replay_header", 0})) {
        engine_fail(e, "out of memory recording rejected readings");
        return s;
      }
    }
  }
  if (replay >= 0) {
    /* one decode in DECODE_SAMPLE is timed, for the whole share: two clock
     * reads a message cost 3 % of a worker on small messages */
    int timed = w->decode_seq++ % DECODE_SAMPLE == 0;
    int64_t d0 = timed ? mono_ns() : 0;
    int rc = vg_codec_decode(w->codecs[s], m->payload, m->len, now, b);
    if (timed)
      w->decode_wall_ns += (mono_ns() - d0) * DECODE_SAMPLE;
    if (rc == -ENOMEM) {
      engine_fail(e, "out of memory decoding a message");
      return s;
    }
  }
  for (size_t j = 0; j < b->n_rejects; j++) {
    const struct vg_reject *r = &b->rejects[j];
    struct vg_rejected x = {r->item_off,
                            r->item_len,
                            r->field_off,
                            r->field_len,
                            vg_reject_name(r->reason),
                            0};
    if (replay && w->nwant) {
      /* a replay rejects again only what it was asked to take: of a whole
       * item rejected now, the readings the header names */
      for (size_t k = 0; k < w->nwant; k++) {
        const struct vg_rejected *q = &w->want[k];
        if (q->item_off != r->item_off || q->item_len != r->item_len)
          continue;
        int whole = x.field_off == x.item_off && x.field_len == x.item_len;
        if (!whole &&
            !vg_rejected_names(q, 1, x.item_off, x.item_len, x.field_off, x.field_len))
          continue;
        struct vg_rejected y = whole ? *q : x;
        y.reason = x.reason;
        if (rejected_push(w, y)) {
          engine_fail(e, "out of memory recording rejected readings");
          return s;
        }
        if (e->rejects[r->reason])
          vg_counter_add(e->rejects[r->reason], 1);
      }
      continue;
    }
    if (rejected_push(w, x)) {
      engine_fail(e, "out of memory recording rejected readings");
      return s;
    }
    if (e->rejects[r->reason])
      vg_counter_add(e->rejects[r->reason], 1);
  }
  uint64_t accepted = 0;
  for (size_t i = 0; i < b->n_events; i++) {
    const struct vg_event *ev = &b->events[i];
    enum vg_reject_reason why;
    if (replay && w->nwant &&
        !vg_rejected_names(w->want, w->nwant, ev->item_off, ev->item_len, ev->field_off,
                           ev->field_len))
      continue; /* aggregated when the message first came */
    if (b->n_rejects && item_rejected(b, ev, &why)) {
      if (e->rejects[why]) /* a good sibling of a rejected item: with the item */
        vg_counter_add(e->rejects[why], 1);
      continue;
    }
    const char *key = vg_event_key(b, ev);
    uint64_t id = vg_siphash24(e->hkey, key, ev->key_len);
    int seen = known_add(w, id);
    if (seen == 0 && keybuf_add(&w->pending, key, ev->key_len) != 0)
      seen = -ENOMEM;
    if (seen < 0) {
      engine_fail(e, "out of memory recording a new series");
      return s;
    }
    if (e->skip &&
        m->offset < e->skip[(size_t)vg_store_shard_of(id, e->nshards) * e->nparts + part])
      continue; /* its shard committed it before a crash that the others did not */
    struct vg_agg_event ae = {.series = id,
                              .time_ns = ev->time_ns,
                              .value = ev->value,
                              .dedupe = src->dedupe ? (uint32_t)src->dedupe_max : 0};
    if (ev->has_distinct) {
      ae.has_distinct = 1;
      ae.distinct = vg_siphash24(e->hkey, vg_event_distinct(b, ev), ev->distinct_len);
    }
    int rc = vg_worker_add(w->aw, part, m->offset, &ae, now);
    if (rc == VG_AGG_ACCEPTED) {
      accepted++;
      continue;
    }
    if (rc < 0) {
      engine_fail(e, "out of memory aggregating a reading");
      return s;
    }
    struct vg_rejected x = {ev->item_off,
                            ev->item_len,
                            ev->field_off,
                            ev->field_len,
                            rc == VG_AGG_REJECT_RETENTION ? "older_than_retention"
                                                          : "nan_or_inf",
                            0};
    if (rejected_push(w, x)) {
      engine_fail(e, "out of memory recording rejected readings");
      return s;
    }
  }
  if (accepted == 0)
    vg_worker_skip(w->aw, part, m->offset, now); /* its offset moves all the same */
  if (w->nrj == 0)
    return s;
  /* the message goes to the dead letters with what was rejected of it */
  size_t need = vg_rejected_format(w->hdr, w->caphdr, w->rj, w->nrj);
  if (need >= w->caphdr) {
    char *nh = realloc(w->hdr, need + 1);
    if (!nh) {
      engine_fail(e, "out of memory writing a dead letter's header");
      return s;
    }
    w->hdr = nh;
    w->caphdr = need + 1;
    vg_rejected_format(w->hdr, w->caphdr, w->rj, w->nrj);
  }
  size_t at = b->n_rejects ? b->rejects[0].offset : w->rj[0].field_off;
  int rc = vg_deadletter_send(w->dl, m, w->rj[0].reason, at, w->hdr);
  if (rc < 0) {
    engine_fail(e, "the dead-letter producer refused a message");
    return s;
  }
  if (e->dead_letters && rc == 0)
    vg_counter_add(e->dead_letters, 1);
  return s;
}

/* ---- scale-out: the store role's reading of deltas (docs/deltas.md) ---------- */

/* The slot of a source partition a watermarks record names, created at
 * its first mention (the store role; docs/scaleout.md). Its index in
 * e->parts, or -1 when every slot is taken or out of memory. */
static int64_t source_slot(struct vg_engine *e, const char *topic, size_t len,
                           int32_t partition) {
  for (size_t p = e->nread; p < e->nparts; p++) {
    const char *t = e->parts[p].topic;
    if (!t) {
      char *name = strndup(topic, len);
      if (!name)
        return -1;
      e->slot_names[p - e->nread] = name;
      e->parts[p].topic = name;
      e->parts[p].partition = partition;
      return (int64_t)p;
    }
    if (e->parts[p].partition == partition && strlen(t) == len &&
        memcmp(t, topic, len) == 0)
      return (int64_t)p;
  }
  return -1;
}

struct delta_ctx {
  struct engine_worker *w;
  uint32_t part;
  int64_t offset, now;
};

/* After a crash between the shards' commits (load_shards): whether the
 * shard of series already committed what this delta record holds. */
static int committed_before(const struct delta_ctx *x, uint64_t series) {
  const struct vg_engine *e = x->w->e;
  return e->skip &&
         x->offset <
             e->skip[(size_t)vg_store_shard_of(series, e->nshards) * e->nparts + x->part];
}

static int on_delta_series(void *ctx, uint64_t id, const char *key, size_t len) {
  struct delta_ctx *x = ctx;
  struct engine_worker *w = x->w;
  if (vg_siphash24(w->e->hkey, key, len) != id)
    return VG_ECORRUPT; /* reported by process_delta */
  int seen = known_add(w, id);
  if (seen == 0 && keybuf_add(&w->pending, key, (uint32_t)len) != 0)
    seen = -ENOMEM;
  return seen < 0 ? seen : 0;
}

static int on_delta_entry(void *ctx, uint64_t series, int64_t start, int64_t end,
                          unsigned skipped, const struct vg_acc *acc) {
  struct delta_ctx *x = ctx;
  if (committed_before(x, series))
    return 0;
  return vg_worker_merge(x->w->aw, x->part, x->offset, series, start, end, skipped, acc,
                         x->now);
}

static int on_delta_kept(void *ctx, uint64_t series, int64_t start, int64_t end,
                         unsigned skipped, uint32_t dedupe_max,
                         const struct vg_delta_reading *r, size_t n) {
  struct delta_ctx *x = ctx;
  if (committed_before(x, series))
    return 0;
  for (size_t i = 0; i < n; i++) {
    int rc = vg_worker_add_kept(x->w->aw, x->part, x->offset, series, start, end, skipped,
                                dedupe_max, &r[i], x->now);
    if (rc)
      return rc;
  }
  return 0;
}

static int on_delta_mark(void *ctx, const struct vg_delta_mark *m) {
  struct delta_ctx *x = ctx;
  struct vg_engine *e = x->w->e;
  int64_t slot = source_slot(e, m->topic, m->topic_len, m->partition);
  if (slot < 0) {
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000,
                       "too many source partitions: the watermark ignores some",
                       "slots=%zu", e->nparts - e->nread);
    return 0;
  }
  /* the partitions of one transaction are read each at its own pace: a
   * source partition's watermark moves only as far as every delta partition
   * merged here has carried it, never ahead of deltas not merged yet */
  struct vg_part_pos *mine =
      &e->slot_marks[(size_t)(slot - (int64_t)e->nread) * e->nread];
  struct vg_part_pos *d = &mine[x->part];
  d->next_offset = m->next_offset > d->next_offset ? m->next_offset : d->next_offset;
  d->max_event_ns = m->max_event_ns > d->max_event_ns ? m->max_event_ns : d->max_event_ns;
  d->last_active_ns =
      m->last_active_ns > d->last_active_ns ? m->last_active_ns : d->last_active_ns;
  struct vg_part_pos low = {INT64_MAX, INT64_MAX, INT64_MAX};
  for (size_t k = 0; k < e->nread; k++) {
    if (!merges_partition(e, (int32_t)k))
      continue;
    low.next_offset =
        mine[k].next_offset < low.next_offset ? mine[k].next_offset : low.next_offset;
    low.max_event_ns =
        mine[k].max_event_ns < low.max_event_ns ? mine[k].max_event_ns : low.max_event_ns;
    low.last_active_ns = mine[k].last_active_ns < low.last_active_ns
                             ? mine[k].last_active_ns
                             : low.last_active_ns;
  }
  if (low.next_offset >= 0) /* its position and watermark at the ingests' commits */
    vg_worker_mark(x->w->aw, (uint32_t)slot, low.next_offset - 1, low.max_event_ns,
                   low.last_active_ns);
  return 0;
}

/* The store role's message: a record of the delta topic, merged into the
 * worker's epoch; a record that does not decode stops the store (nothing
 * of the epoch is committed: the ingest and store instances disagree on the
 * format or on windows.base, which an operator must fix). */
static size_t process_delta(struct engine_worker *w, const struct vg_kafka_msg *m,
                            int64_t now) {
  struct vg_engine *e = w->e;
  if (m->partition < 0 || (size_t)m->partition >= e->nread)
    return 0;
  struct delta_ctx x = {w, (uint32_t)m->partition, m->offset, now};
  static const struct vg_delta_visitor v = {on_delta_series, on_delta_entry,
                                            on_delta_kept, on_delta_mark};
  struct vg_acc_opts ao = vg_agg_windows(e->agg)->opts.acc;
  char err[512] = "";
  int rc = vg_delta_read(m->payload, m->len, e->cfg->base_ns / NS_PER_S, &ao, &v, &x, err,
                         sizeof err);
  if (rc) {
    char msg[768];
    snprintf(msg, sizeof msg, "%s [%d] offset %lld: %s", m->topic, (int)m->partition,
             (long long)m->offset,
             rc == -ENOMEM ? "out of memory merging deltas"
             : rc == VG_ECORRUPT
                 ? "a series id that is not its key's (the ingest and store "
                   "instances use different kafka.deltas_topic names?)"
                 : err);
    engine_fail(e, msg);
    return 0;
  }
  vg_worker_skip(w->aw, x.part, m->offset, now); /* its offset moves on */
  return 0;
}

/* ---- scale-out: the ingest role's transactions (docs/scaleout.md) -------------- */

/* Where the transactional producer, the group and the store meet: the
 * partition index of (topic, partition) in e->parts, or -1. */
static int64_t part_index(const struct vg_engine *e, const char *topic,
                          int32_t partition) {
  for (size_t s = 0; s < e->nsrcs; s++)
    if (strcmp(e->srcs[s].conf->topic, topic) == 0)
      return partition < e->srcs[s].nparts ? e->srcs[s].first_part + (int64_t)partition
                                           : -1;
  return -1;
}

/* Produces delta partition k's record when it holds more than its header. */
static int flush_deltas(struct engine_worker *w, int32_t k, char *err, size_t errsize) {
  struct vg_delta_buf *b = &w->dbuf[k];
  if (b->err)
    return vg_errstr_rc(-ENOMEM, err, errsize, "out of memory encoding deltas");
  int rc = 0;
  if (b->len > 4) {
    rc = vg_txn_produce(w->txn, w->e->cfg->kafka_deltas_topic, k, NULL, 0, b->p, b->len,
                        err, errsize);
    w->delta_records += rc == 0;
    w->delta_bytes += rc == 0 ? b->len : 0;
  }
  vg_delta_begin(b, VG_DELTA_DELTAS);
  return rc;
}

/* A record stays under this many bytes (brokers refuse messages past
 * message.max.bytes, 1 MiB by default). */
#define DELTA_RECORD_BYTES (512 * 1024)

struct take_ctx {
  struct engine_worker *w;
  int rc;
  char err[512];
};

static int after_item(struct take_ctx *x, int32_t k) {
  if (x->w->dbuf[k].len < DELTA_RECORD_BYTES && !x->w->dbuf[k].err)
    return 0;
  return x->rc = flush_deltas(x->w, k, x->err, sizeof x->err);
}

static int take_entry(void *ctx, const struct vg_wentry *d, unsigned skipped) {
  struct take_ctx *x = ctx;
  int32_t k = (int32_t)vg_store_shard_of(d->series, (unsigned)x->w->ndeltas);
  x->w->delta_entries++;
  vg_delta_entry(&x->w->dbuf[k], d->series, d->start, d->end, skipped, &d->acc);
  return after_item(x, k);
}

/* A dedupe delta's readings go in items of at most this many (27 bytes
 * each at most): a record stays under the brokers' message size. */
#define KEPT_PER_ITEM 8192

static int take_kept(void *ctx, const struct vg_wentry *d, unsigned skipped,
                     uint32_t dedupe_max, const struct vg_delta_reading *r, size_t n) {
  struct take_ctx *x = ctx;
  int32_t k = (int32_t)vg_store_shard_of(d->series, (unsigned)x->w->ndeltas);
  x->w->delta_entries++;
  for (size_t at = 0; at < n; at += KEPT_PER_ITEM) {
    size_t m = n - at < KEPT_PER_ITEM ? n - at : KEPT_PER_ITEM;
    vg_delta_kept(&x->w->dbuf[k], d->series, d->start, d->end, skipped, dedupe_max,
                  r + at, m);
    if (after_item(x, k) != 0)
      return x->rc;
  }
  return 0;
}

/* The offset committed for a partition carries its position's event-time
 * state, which the next owner restores (ingest_assigned): the late-reading
 * decisions (worker.h) then go on as if one instance had read it all. */
static int take_position(void *ctx, uint32_t part, const struct vg_part_pos *pos) {
  struct take_ctx *x = ctx;
  struct engine_worker *w = x->w;
  if (!w->owned[part])
    return 0; /* revoked since: its next owner starts from the last commit */
  struct offmeta om;
  snprintf(om.s, sizeof om.s, "vg1 %lld %lld", (long long)pos->max_event_ns,
           (long long)pos->last_active_ns);
  if (VEC_PUSH(w->meta, om) != 0)
    return x->rc = -ENOMEM;
  int64_t next = pos->next_offset;
  if (!w->in_revoke) {
    /* past the commit markers of a transactional source (a replay of the
     * dead letters, another EOS producer), which no message shows: else a
     * group-wide drain would wait for them forever. Not inside a revoke,
     * where the client may be ahead of the messages processed. */
    int64_t at = vg_kafka_read_position_of(w->kc, w->e->parts[part].topic,
                                           w->e->parts[part].partition);
    if (at > next)
      next = at;
  }
  struct vg_kafka_tp tp = {w->e->parts[part].topic, w->e->parts[part].partition, next,
                           NULL, 0};
  return VEC_PUSH(w->offs, tp) != 0 ? (x->rc = -ENOMEM) : 0;
}

/* The watermarks record of every partition this member owns (the same to
 * every delta partition: each store sees every source's watermark). */
static void build_marks(struct engine_worker *w) {
  struct vg_engine *e = w->e;
  size_t n = 0;
  for (size_t p = 0; p < e->nparts; p++)
    n += w->owned[p];
  vg_delta_begin(&w->marks, VG_DELTA_WATERMARKS);
  vg_delta_marks(&w->marks, n);
  for (size_t p = 0; p < e->nparts; p++) {
    if (!w->owned[p])
      continue;
    struct vg_part_pos pos = vg_worker_position(w->aw, (uint32_t)p);
    struct vg_delta_mark m = {e->parts[p].topic,     strlen(e->parts[p].topic),
                              e->parts[p].partition, pos.next_offset,
                              pos.max_event_ns,      pos.last_active_ns};
    vg_delta_mark(&w->marks, &m);
  }
}

/* Ends the ingest role's epoch: its deltas, the new series keys and the
 * watermarks produced to the delta topic, the consumed offsets sent, all
 * committed in the one transaction (its dead letters went in as they
 * came), and the next transaction begun. 0; VG_EABORTED (the transaction is
 * lost: txn_lost, the ingestion is rebuilt from the committed offsets);
 * VG_EFENCED or another error, fatal (reported). */
static int ingest_epoch(struct engine_worker *w, int64_t now) {
  struct vg_engine *e = w->e;
  struct take_ctx x = {.w = w};
  int rc = vg_worker_flush(w->aw, now);
  if (rc == 0) {
    w->offs.n = w->meta.n = 0;
    for (size_t off = 0; off < w->pending.len;) {
      uint32_t len;
      memcpy(&len, w->pending.b + off, 4);
      const char *key = w->pending.b + off + 4;
      uint64_t id = vg_siphash24(e->hkey, key, len);
      int32_t k = (int32_t)vg_store_shard_of(id, (unsigned)w->ndeltas);
      vg_delta_series(&w->dbuf[k], id, key, len);
      off += 4 + len;
      if (after_item(&x, k) != 0)
        break;
    }
    w->pending.len = w->pending.n = 0;
    static const struct vg_agg_visitor v = {take_entry, take_kept, take_position};
    if (x.rc == 0)
      rc = vg_agg_take(w->own, 0, &v, &x);
    if (rc == 0)
      rc = x.rc;
  }
  for (int32_t k = 0; k < w->ndeltas && rc == 0; k++)
    rc = flush_deltas(w, k, x.err, sizeof x.err);
  if (rc == 0) {
    build_marks(w);
    if (w->marks.err)
      rc = -ENOMEM;
  }
  for (int32_t k = 0; k < w->ndeltas && rc == 0; k++) {
    rc = vg_txn_produce(w->txn, e->cfg->kafka_deltas_topic, k, NULL, 0, w->marks.p,
                        w->marks.len, x.err, sizeof x.err);
    w->delta_records += rc == 0;
    w->delta_bytes += rc == 0 ? w->marks.len : 0;
  }
  for (size_t i = 0; i < w->offs.n; i++) {
    w->offs.v[i].metadata = w->meta.v[i].s;
    w->offs.v[i].metadata_len = strlen(w->meta.v[i].s);
  }
  for (int tries = 1; rc == 0; tries++) {
    rc = vg_txn_commit(w->txn, w->kc, w->offs.v, w->offs.n, 60000, x.err, sizeof x.err);
    if ((rc == VG_ETIMEOUT || rc == VG_EKAFKA) && tries < 4) {
      VG_LOG_WARN("transaction commit not done yet, trying again",
                  "worker=%u error=\"%s\"", w->id, x.err);
      rc = 0;
      continue;
    }
    break;
  }
  if (rc == 0)
    rc = vg_txn_begin(w->txn, x.err, sizeof x.err);
  if (rc == 0)
    return 0;
  if (rc == VG_EABORTED || rc == VG_ETIMEOUT || rc == VG_EKAFKA) {
    char err[256];
    vg_txn_abort(w->txn, 30000, err, sizeof err);
    VG_LOG_WARN("transaction aborted: the ingestion restarts from the committed offsets",
                "worker=%u error=\"%s\"", w->id, x.err);
    w->txn_lost = 1;
    return VG_EABORTED;
  }
  char msg[640];
  snprintf(msg, sizeof msg, "%s%s",
           rc == VG_EFENCED ? "fenced (another instance with this instance_id took over, "
                              "or the transaction coordinator refused this one): "
                            : "",
           rc == -ENOMEM ? "out of memory building an epoch's deltas" : x.err);
  engine_fail(e, msg);
  return rc;
}

/* The group gave the worker partitions: each resumes with the event-time
 * state its committed offset carries (take_position). */
static void ingest_assigned(void *opaque, const struct vg_kafka_tp *tp, size_t n) {
  struct engine_worker *w = opaque;
  int64_t now = now_ns();
  for (size_t i = 0; i < n; i++) {
    int64_t p = part_index(w->e, tp[i].topic, tp[i].partition);
    if (p < 0) { /* appeared after start: rejoin with it */
      VG_LOG_INFO("a source partition appeared: rejoining the group to take it",
                  "topic=%s partition=%d", tp[i].topic, (int)tp[i].partition);
      w->txn_lost = 1;
      continue;
    }
    struct vg_part_pos pos = {tp[i].offset >= 0 ? tp[i].offset : -1, INT64_MIN, now};
    char meta[64] = "";
    if (tp[i].metadata && tp[i].metadata_len < sizeof meta) {
      memcpy(meta, tp[i].metadata, tp[i].metadata_len);
      meta[tp[i].metadata_len] = '\0';
      long long mx, la;
      if (sscanf(meta, "vg1 %lld %lld", &mx, &la) == 2) {
        pos.max_event_ns = mx;
        pos.last_active_ns = la;
      }
    }
    vg_agg_restore_position(w->own, (uint32_t)p, pos);
    w->owned[p] = 1;
  }
}

/* The group takes partitions away: what was read of them is committed
 * first -- unless they were lost (the session expired and another member
 * may own them already): then the open transaction is aborted and the
 * ingestion rebuilt. */
static void ingest_revoked(void *opaque, const struct vg_kafka_tp *tp, size_t n,
                           int lost) {
  struct engine_worker *w = opaque;
  if (w->closing) {
    /* the worker committed its last epoch before the consumer closed */
  } else if (!lost && !w->txn_lost && w->txn && vg_txn_open(w->txn) &&
             !vg_atomic_load_relaxed_int(&w->e->failed)) {
    w->in_revoke = 1;
    ingest_epoch(w, now_ns());
    w->in_revoke = 0;
  } else if (lost) {
    w->txn_lost = 1;
  }
  for (size_t i = 0; i < n; i++) {
    int64_t p = part_index(w->e, tp[i].topic, tp[i].partition);
    if (p >= 0)
      w->owned[p] = 0;
  }
}

/* A group-wide drain (--drain, ingest role): done once every source
 * partition's committed offset, whoever owns it, reached the end offset
 * seen when the drain began. Asked every 2 s at most. */
static int group_drained(struct engine_worker *w, int64_t now) {
  struct vg_engine *e = w->e;
  if (now < w->drain_next_ns)
    return 0;
  w->drain_next_ns = now + 2 * NS_PER_S;
  const char **topics = calloc(e->nparts, sizeof *topics);
  int32_t *parts = calloc(e->nparts, sizeof *parts);
  int64_t *off = calloc(e->nparts, sizeof *off);
  int done = 0;
  char err[256];
  if (topics && parts && off) {
    for (size_t p = 0; p < e->nparts; p++) {
      topics[p] = e->parts[p].topic;
      parts[p] = e->parts[p].partition;
    }
    if (vg_kafka_committed(w->kc, topics, parts, e->nparts, 10000, off, err,
                           sizeof err) == 0) {
      done = 1;
      for (size_t p = 0; p < e->nparts && done; p++)
        done = w->drain_end[p] == 0 || off[p] >= w->drain_end[p];
    }
  }
  free(topics);
  free(parts);
  free(off);
  return done;
}

/* The process's anonymous resident bytes -- RssAnon: resident pages less
 * file-backed and shared ones, so the store's mapped file does not count --
 * from /proc/self/statm (fd), or -1. */
static int64_t anon_bytes(int fd) {
  char buf[160];
  ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
  if (n <= 0)
    return -1;
  buf[n] = 0;
  unsigned long long size, resident, shared;
  if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3 || shared > resident)
    return -1;
  return (int64_t)(resident - shared) * sysconf(_SC_PAGESIZE);
}

/* The memory gate (memory_limit), looked at every eighth batch: 0 read on;
 * 1 RssAnon is past the gate's mark -- stop reading, hand the epoch, then
 * take a ticket for the writer's relief (it commits at once what was
 * handed, its final windows leave the table, the allocator gives freed
 * pages back); 2 keep waiting for it. After a relief the gate stays open
 * until RssAnon grows by anon_step past what the relief left, so that state
 * no relief frees (open windows, a limit below what the process needs)
 * costs one commit per step and never stops the drain. */
static int memory_gate(struct engine_worker *w) {
  struct vg_engine *e = w->e;
  if (w->hold_for) {
    if (vg_atomic_load_acquire_u64(&e->relief_done) < w->hold_for &&
        !vg_atomic_load_relaxed_int(&e->halt) && !vg_atomic_load_relaxed_int(&e->failed))
      return 2;
    w->hold_for = 0;
    return 0;
  }
  if (w->hold_ask)
    return 1; /* the epoch is not handed yet */
  if (++w->hold_batches < 8)
    return 0;
  w->hold_batches = 0;
  int64_t a = anon_bytes(e->statm_fd);
  if (a < e->shares.anon_high) {
    if (a >= 0 && vg_atomic_load_relaxed_i64(&e->relief_floor))
      vg_atomic_store_relaxed_i64(&e->relief_floor, 0);
    return 0;
  }
  if (a < vg_atomic_load_relaxed_i64(&e->relief_floor) + e->shares.anon_step)
    return 0;
  w->hold_ask = 1;
  return 1;
}

/* The epoch is handed: the ticket of the relief to wait for. */
static void memory_hold(struct engine_worker *w) {
  w->hold_ask = 0;
  w->hold_for = vg_atomic_fetch_add_release_u64(&w->e->relief_asked, 1) + 1;
  vg_atomic_fetch_add_relaxed_u64(&w->memory_waits, 1);
}

static void *worker_main(void *arg) {
  struct engine_worker *w = arg;
  struct vg_engine *e = w->e;
  static _Thread_local struct vg_kafka_msg msgs[BATCH];
  int64_t interval = e->cfg->checkpoint_interval_ns;
  int64_t next_epoch = now_ns() + interval;
  int stopping = 0, drained = 0;
  int64_t join_deadline = INT64_MAX;
  uint64_t cpu0 = thread_cpu_ns(), rx = 0, dec = 0, agg = 0;
  for (;;) {
    if (vg_atomic_load_relaxed_int(&e->failed) || vg_atomic_load_acquire_int(&e->abandon))
      break;
    if (!stopping && vg_atomic_load_relaxed_int(&e->halt)) {
      stopping = 1;
      join_deadline = now_ns() + 30 * NS_PER_S;
    }
    /* a group member leaves once it has joined (vg_kafka_joined), or after
     * 30 s: it reads and commits meanwhile */
    int leaving = stopping || drained;
    if (leaving && e->role == VG_ROLE_INGEST && !vg_kafka_joined(w->kc) &&
        now_ns() < join_deadline)
      leaving = 0;
    int64_t now = now_ns();
    int full = 0;
    if (w->epoch_cap) {
      size_t entries;
      vg_worker_bytes(w->aw, 0, &entries);
      full = entries >= w->epoch_cap;
    }
    /* the gate waits for the writer's relief: the ingest role has no writer */
    int hold = e->statm_fd >= 0 && e->role != VG_ROLE_INGEST && !stopping && !drained
                   ? memory_gate(w)
                   : 0;
    if (hold == 2) {
      nap_ms(2);
      continue;
    }
    if (w->txn_lost)
      break; /* the run ends; vg_engine_run rebuilds it from the group's offsets */
    if (leaving || full || hold || now >= next_epoch) {
      int rc = e->role == VG_ROLE_INGEST ? ingest_epoch(w, now) : hand_epoch(w, now);
      if (rc == VG_EABORTED)
        break;
      if (rc == 0 && full && now < next_epoch)
        vg_atomic_fetch_add_relaxed_u64(&w->early_epochs, 1);
      if (rc == 0) {
        next_epoch = now + interval;
        if (leaving)
          break; /* the last epoch is handed */
        if (hold) {
          memory_hold(w); /* and wait for the writer's relief */
          continue;
        }
      } else if (rc == VG_EFULL) {
        /* the writer is behind: stop reading (librdkafka's prefetch queue is
         * bounded) until it has room */
        nap_ms(5);
        continue;
      } else {
        break;
      }
    }
    uint64_t c0 = thread_cpu_ns();
    ssize_t n = vg_kafka_consume(w->kc, msgs, BATCH, 100);
    if (n < 0) {
      engine_fail(e, "the Kafka consumer failed fatally");
      break;
    }
    uint64_t c1 = thread_cpu_ns();
    int64_t m0 = mono_ns();
    now = now_ns();
    w->decode_wall_ns = 0;
    for (ssize_t i = 0; i < n && !w->txn_lost; i++) {
      size_t s = process(w, &msgs[i], now);
      if (s < e->nsrcs) {
        w->msgs[s]++;
        w->bytes[s] += msgs[i].len;
      }
    }
    /* the batch's CPU time split between decoding and the rest by the
     * share of wall time spent in the codec (a CPU clock read per message
     * would cost a system call each; the monotonic clock is read in user
     * space, and the thread is on a CPU throughout) */
    uint64_t c2 = thread_cpu_ns(), used = c2 - c1;
    int64_t wall = mono_ns() - m0;
    int64_t in_codec = w->decode_wall_ns < wall ? w->decode_wall_ns : wall;
    uint64_t d =
        wall > 0 ? (uint64_t)((double)used * (double)in_codec / (double)wall) : 0;
    rx += c1 - c0;
    dec += d;
    agg += used - d;
    vg_atomic_store_relaxed_u64(&w->cpu_receive, rx);
    vg_atomic_store_relaxed_u64(&w->cpu_decode, dec);
    vg_atomic_store_relaxed_u64(&w->cpu_aggregate, agg);
    vg_atomic_store_relaxed_u64(&w->cpu_total, c2 - cpu0);
    if (n > 0 && e->srcs[0].messages) { /* shared counters: once per batch */
      for (size_t s = 0; s < e->nsrcs; s++) {
        if (!w->msgs[s])
          continue;
        vg_counter_add(e->srcs[s].messages, w->msgs[s]);
        vg_counter_add(e->srcs[s].bytes, w->bytes[s]);
        w->msgs[s] = w->bytes[s] = 0;
      }
      /* vigie_events_total moves with the writer's aggregated count
       * (update_metrics): a duplicate is known only there */
    }
    if (e->o.drain && !drained &&
        (e->role == VG_ROLE_INGEST
             ? n == 0 && vg_kafka_joined(w->kc) && group_drained(w, now_ns())
             : vg_kafka_drained(w->kc)))
      drained = 1;
  }
  vg_atomic_store_relaxed_u64(&w->cpu_total, thread_cpu_ns() - cpu0);
  vg_atomic_store_release_int(&w->done, 1);
  return NULL;
}

/* ---- the writer ------------------------------------------------------------------ */

/* The emit log feeds publication (datasets, the rollup topic), which
 * publishes hourly and daily rollups: base windows that go final are not
 * logged (they were one record per event for a sensor reporting once per
 * base window: most of the log's writes, read by no one). */
static void on_emit(const struct vg_wentry *w, void *ctx) {
  struct vg_engine *e = ctx;
  if (w->res == VG_RES_BASE)
    return;
  struct vg_store_emit em = {
      .series = w->series, .res = w->res, .start = w->start, .revision = w->revision};
  if (VEC_PUSH(e->emits, em) != 0)
    engine_fail(e, "out of memory recording an emitted window");
}

/* Takes the series keys the workers handed (after the epochs were
 * collected, so every series of those epochs is here). */
static int take_series(struct vg_engine *e) {
  for (uint32_t i = 0; i < e->nworkers; i++) {
    struct engine_worker *w = &e->workers[i];
    pthread_mutex_lock(&w->mu);
    int rc = keybuf_append(&e->series_keys, &w->handed);
    w->handed.len = w->handed.n = 0;
    pthread_mutex_unlock(&w->mu);
    if (rc)
      return rc;
  }
  return 0;
}

/* The dead-letter positions of each worker's last merged epoch (after the
 * collect; pairs with hand_epoch). */
static int take_dl_positions(struct vg_engine *e) {
  int rc = 0;
  for (uint32_t i = 0; i < e->nworkers && rc == 0; i++) {
    struct engine_worker *w = &e->workers[i];
    uint64_t merged = vg_agg_merged(e->agg, i);
    if (merged == 0)
      continue;
    size_t slot = (merged - 1) % (sizeof w->dlpos / sizeof w->dlpos[0]);
    pthread_mutex_lock(&w->mu);
    if (w->dlpos[slot].seq == merged - 1 && w->dlpos[slot].pos.n > 0) {
      vg_kafka_positions_release(&w->dl_merged);
      rc = vg_kafka_positions_copy(&w->dl_merged, &w->dlpos[slot].pos);
    }
    pthread_mutex_unlock(&w->mu);
  }
  return rc;
}

/* Where the next start reads the dead-letter topic back from, encoded for
 * the store: per partition, the lowest position of the workers' last
 * merged epochs (a partition one of them does not know: from its start).
 * NULL while no worker knows any position (the topic is missing). */
static const struct vg_store_blob *dl_blob(struct vg_engine *e, struct vg_store_blob *b) {
  if (e->dl_hold) {
    e->dl_hold = 0;
    for (size_t p = 0; p < e->nparts && !e->dl_hold; p++)
      e->dl_hold =
          e->parts[p].dl_found >= 0 &&
          e->parts[p].dl_found >= vg_agg_position(e->agg, (uint32_t)p).next_offset;
  }
  int32_t n = 0;
  for (uint32_t i = 0; i < e->nworkers; i++)
    if (e->workers[i].dl_merged.n > n)
      n = e->workers[i].dl_merged.n;
  if (e->dl_hold)
    n = e->dl_from.n;
  if (n == 0)
    return NULL;
  int64_t *low = calloc((size_t)n, sizeof *low);
  if (!low)
    return NULL; /* the previous positions stay: older, so safe */
  struct vg_kafka_positions pos = {n, low};
  for (int32_t p = 0; p < pos.n && e->dl_hold; p++)
    low[p] = p < e->dl_from.n ? e->dl_from.off[p] : 0;
  for (int32_t p = 0; p < pos.n && !e->dl_hold; p++) {
    low[p] = INT64_MAX;
    for (uint32_t i = 0; i < e->nworkers; i++) {
      const struct vg_kafka_positions *w = &e->workers[i].dl_merged;
      int64_t at = p < w->n ? w->off[p] : 0;
      if (at < 0)
        at = 0;
      if (at < low[p])
        low[p] = at;
    }
  }
  size_t need = vg_kafka_positions_encode(e->cfg->kafka_dead_letter_topic, &pos, NULL, 0);
  if (need > e->dl_blob_cap) {
    uint8_t *nb = realloc(e->dl_blob, need);
    if (!nb) {
      free(low);
      return NULL; /* the previous positions stay: older, so safe */
    }
    e->dl_blob = nb;
    e->dl_blob_cap = need;
  }
  vg_kafka_positions_encode(e->cfg->kafka_dead_letter_topic, &pos, e->dl_blob, need);
  free(low);
  *b = (struct vg_store_blob){"dead_letters", e->dl_blob, need};
  return b;
}

static void update_metrics(struct vg_engine *e) {
  if (!e->epochs)
    return;
  const struct vg_windows *win = vg_agg_windows(e->agg);
  const struct vg_window_counters *c = &win->c;
  for (int r = 1; r < VG_AGG_REJECT_MAX; r++)
    if (e->agg_rejects[r])
      vg_counter_add(e->agg_rejects[r], c->rejected[r] - e->last_counters.rejected[r]);
  vg_counter_add(e->finalized, c->finalized - e->last_counters.finalized);
  vg_counter_add(e->revisions, c->revisions - e->last_counters.revisions);
  vg_counter_add(e->srcs[0].events, c->aggregated - e->last_counters.aggregated);
  e->last_counters = *c;
  for (size_t s = 0; s < e->nsrcs; s++) {
    struct src *sr = &e->srcs[s];
    if (!sr->conf->dedupe)
      continue;
    struct vg_dedupe_counts t = {0};
    for (int32_t p = 0; p < sr->nparts; p++) {
      struct vg_dedupe_counts x = vg_agg_dedupe(e->agg, sr->first_part + (uint32_t)p);
      t.duplicates += x.duplicates;
      t.full += x.full;
      t.past += x.past;
    }
    vg_counter_add(sr->duplicates, t.duplicates - sr->dd_last.duplicates);
    vg_counter_add(sr->unchecked[0], t.full - sr->dd_last.full);
    vg_counter_add(sr->unchecked[1], t.past - sr->dd_last.past);
    sr->dd_last = t;
  }
  vg_gauge_set(e->open_windows, (int64_t)win->t.n);
  int64_t wm = vg_agg_watermark(e->agg);
  vg_gauge_set(e->watermark, wm == INT64_MIN ? 0 : wm / NS_PER_S);
  for (size_t p = 0; p < e->nread; p++) {
    struct part *pt = &e->parts[p];
    int64_t hw =
        vg_kafka_high_watermark(e->workers[pt->worker].kc, pt->topic, pt->partition);
    struct vg_part_pos pos = vg_agg_position(e->agg, (uint32_t)p);
    int64_t at =
        pos.next_offset >= 0 ? pos.next_offset : (pt->start >= 0 ? pt->start : 0);
    if (hw >= 0)
      vg_gauge_set(pt->lag, hw > at ? hw - at : 0);
  }
}

#define PROGRESS_EVERY_NS (5 * NS_PER_S)

/* Every 5 s while the partitions are behind their end offsets (a drain, a
 * backfill, a catch-up after an outage), and once at the end of a drain
 * (last): the messages left (committed positions against the end offsets
 * the consumers last saw), the speed since the previous line and the time
 * left at that speed. */
static void log_progress(struct vg_engine *e, int last) {
  int64_t now = mono_ns();
  if (!last && now - e->progress_ns < PROGRESS_EVERY_NS)
    return;
  uint64_t lag = 0, at = 0;
  int known = 0;
  for (size_t p = 0; p < e->nread; p++) {
    struct part *pt = &e->parts[p];
    int64_t hw =
        vg_kafka_high_watermark(e->workers[pt->worker].kc, pt->topic, pt->partition);
    struct vg_part_pos pos = vg_agg_position(e->agg, (uint32_t)p);
    int64_t o = pos.next_offset >= 0 ? pos.next_offset : (pt->start >= 0 ? pt->start : 0);
    at += (uint64_t)o;
    if (hw >= 0) {
      known = 1;
      lag += hw > o ? (uint64_t)(hw - o) : 0;
    }
  }
  uint64_t events = vg_agg_windows(e->agg)->c.aggregated;
  if (e->progress_ns == 0) { /* the first call of a run: a starting point */
    e->progress_ns = e->progress_t0 = now;
    e->progress_msgs = at;
    e->progress_events = events;
    return;
  }
  double dt = (double)(now - (last ? e->progress_t0 : e->progress_ns)) / 1e9;
  if (!last && (!known || lag == 0)) {
    e->progress_ns = now; /* caught up: nothing to say */
    e->progress_msgs = at;
    e->progress_events = events;
    return;
  }
  double msgs = dt > 0 ? (double)(at - e->progress_msgs) / dt : 0;
  double evs = dt > 0 ? (double)(events - (last ? 0 : e->progress_events)) / dt : 0;
  if (last)
    VG_LOG_INFO("drain progress",
                "done=1 lag_messages=%" PRIu64 " events=%" PRIu64
                " events_per_s=%.0f seconds=%.1f",
                lag, events, evs, dt);
  else
    VG_LOG_INFO(e->o.drain ? "drain progress" : "catching up",
                "lag_messages=%" PRIu64 " messages_per_s=%.0f events_per_s=%.0f"
                " eta_s=%.0f events=%" PRIu64,
                lag, msgs, evs, msgs > 0 ? (double)lag / msgs : -1.0, events);
  e->progress_ns = now;
  e->progress_msgs = at;
  e->progress_events = events;
}

/* Store upkeep between epochs, a little at a time so that no write
 * transaction is long: pending sealed windows into their segments,
 * retention, stale reader slots. Errors are logged; the next round retries. */
static void upkeep(struct vg_engine *e) {
  char err[512];
  int64_t wm = vg_agg_watermark(e->agg);
  int dead = 0;
  if (wm == INT64_MIN)
    return;
  /* a span whose windows are all final (the watermark passed its end by
   * the lateness) goes into its segment once; the commits flush the spans
   * that reach their boundary, this the rest (a series that stopped) */
  for (unsigned k = 0; k < e->nshards; k++) {
    struct vg_store *sh = vg_store_shard(e->store, k);
    if (vg_store_flush(sh, wm - e->cfg->lateness_ns, 20000, 1, NULL, NULL, err,
                       sizeof err) != 0)
      VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "store flush failed", "error=\"%s\"", err);
    if (vg_store_retain(sh, wm, 5000, 1, NULL, NULL, err, sizeof err) != 0)
      VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "retention failed", "error=\"%s\"", err);
  }
  /* the emit log: keep publish.changes_keep records for the changes feed,
   * and every record the rollup topic has not acknowledged */
  uint64_t keep = (uint64_t)e->cfg->publish_changes_keep;
  uint64_t below = e->emit_next > keep ? e->emit_next - keep : 0;
  if (e->rollup && e->rollup_saved < below)
    below = e->rollup_saved;
  if (e->ind && e->ind_cursor < below)
    below = e->ind_cursor; /* the indicators have not read past it */
  for (unsigned k = 0; k < e->nshards && below; k++)
    if (vg_store_trim_emit(vg_store_shard(e->store, k), below, 20000, NULL, err,
                           sizeof err) != 0)
      VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "emit-log trim failed", "error=\"%s\"", err);
  if (vg_store_reader_check(e->store, &dead) == 0 && dead > 0)
    VG_LOG_WARN("cleared reader slots of dead processes", "count=%d", dead);
}

/* What is not ready, for /readyz and the systemd status (any thread). */
static void set_status(struct vg_engine *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_status(struct vg_engine *e, const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&e->status_mu);
  va_start(ap, fmt);
  vsnprintf(e->status, sizeof e->status, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&e->status_mu);
}

/* Whether the brokers answer: a gauge, and a log line at each change. */
static void set_kafka_up(struct vg_engine *e, int up, const char *why) {
  int was = vg_atomic_exchange_acq_rel_int(&e->kafka_up, up);
  if (e->kafka_up_g)
    vg_gauge_set(e->kafka_up_g, up);
  if (was == up)
    return;
  if (up)
    VG_LOG_INFO("kafka brokers reachable", "brokers=%s", e->brokers);
  else
    VG_LOG_WARN("kafka brokers unreachable; serving the store and retrying",
                "brokers=%s error=\"%s\"", e->brokers, why ? why : "");
}

/* The source topics as an array for the Kafka calls; NULL on -ENOMEM. */
static const char **source_topics(const struct vg_engine *e) {
  const char **topics = calloc(e->nsrcs ? e->nsrcs : 1, sizeof *topics);
  for (size_t s = 0; topics && s < e->nsrcs; s++)
    topics[s] = e->srcs[s].conf->topic; /* the store role's: the delta topic */
  return topics;
}

/* 1 when a source topic has more partitions than when the ingestion
 * started (or exists now and did not then). Also tells whether the brokers
 * answer. */
static int partitions_grew(struct vg_engine *e) {
  const char **topics = source_topics(e);
  int32_t *counts = calloc(e->nsrcs ? e->nsrcs : 1, sizeof *counts);
  char err[512];
  int grown = 0;
  /* a metadata request on a worker's client: librdkafka handles are
   * thread-safe, and this neither consumes nor assigns */
  int rc = topics && counts
               ? vg_kafka_count_partitions(e->workers[0].kc, topics, e->nsrcs, 5000,
                                           counts, err, sizeof err)
               : -ENOMEM;
  if (rc == 0) {
    set_kafka_up(e, 1, NULL);
    for (size_t s = 0; s < e->nsrcs; s++)
      if (counts[s] > e->srcs[s].nparts) {
        VG_LOG_INFO(e->srcs[s].nparts ? "partitions were added to a source topic"
                                      : "a missing source topic exists now",
                    "topic=%s partitions=%d was=%d", e->srcs[s].conf->topic,
                    (int)counts[s], (int)e->srcs[s].nparts);
        grown = 1;
      }
  } else if (rc != -ENOMEM) {
    set_kafka_up(e, 0, err);
  }
  if (rc == 0 && !e->missing[0])
    set_status(e, "%s", "");
  else if (rc == 0)
    set_status(e, "source topics missing (waited for): %s", e->missing);
  else if (rc != -ENOMEM)
    set_status(e, "kafka: %s", err);
  free(counts);
  free(topics);
  return grown;
}

/* ---- the rollup publisher's Kafka client: ingest's ---------------------- */

static int
rollup_producer_new(void *ctx,
                    void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                    void *opaque, rd_kafka_t **out, char *errstr, size_t errstr_size) {
  return vg_kafka_producer_new(ctx, "rollup producer", dr, opaque, out, errstr,
                               errstr_size);
}

struct tail_read {
  const char *header;
  int (*cb)(const void *key, size_t key_len, const void *hval, size_t hval_len,
            void *ctx);
  void *ctx;
};

static int on_tail_msg(const struct vg_kafka_msg *m, void *ctx) {
  struct tail_read *t = ctx;
  const char *v = NULL;
  size_t n = 0;
  if (vg_kafka_msg_header(m, t->header, &v, &n) != 0)
    v = NULL; /* no such header */
  return t->cb(m->key, m->key_len, v, n, t->ctx);
}

static int rollup_read_tail(void *ctx, const char *topic, const char *header,
                            const struct vg_kafka_positions *from, int timeout_ms,
                            int (*cb)(const void *key, size_t key_len, const void *hval,
                                      size_t hval_len, void *cb_ctx),
                            void *cb_ctx, struct vg_kafka_positions *end, char *errstr,
                            size_t errstr_size) {
  struct tail_read t = {header, cb, cb_ctx};
  return vg_kafka_read_tail(ctx, topic, from, timeout_ms, on_tail_msg, &t, end, errstr,
                            errstr_size);
}

struct vg_rollup_client vg_engine_rollup_client(const struct vg_kafka_conf *kc) {
  return (struct vg_rollup_client){rollup_producer_new, rollup_read_tail, (void *)kc};
}

/* A named value made durable in every shard (each reads its blobs back
 * from the shard at the lowest epoch). */
static int put_blob_all(struct vg_engine *e, const char *name, const void *data,
                        size_t len, char *err, size_t errsize) {
  int rc = 0;
  for (unsigned k = 0; k < e->nshards && rc == 0; k++)
    rc = vg_store_put_blob(vg_store_shard(e->store, k), name, data, len, err, errsize);
  return rc;
}

/* The rollup topic's positions at the publisher's cursor, encoded into *b,
 * when the cursor moved or the publisher read the topic back since they
 * were last kept (*cursor and *gen: what they belong to). 1 when *b is
 * set, 0 when nothing changed, -ENOMEM. */
static int rollup_blob(struct vg_engine *e, struct vg_store_blob *b, uint64_t *cursor,
                       uint64_t *gen) {
  struct vg_kafka_positions pos = {0, NULL};
  *cursor = *gen = 0;
  if (!e->rollup)
    return 0;
  if (vg_rollup_state(e->rollup, cursor, &pos, gen) != 0)
    return -ENOMEM;
  int rc = 0;
  if (pos.n > 0 && (*cursor > e->rollup_saved || *gen != e->rollup_gen_saved)) {
    size_t need = vg_kafka_positions_encode(e->cfg->kafka_rollup_topic, &pos, NULL, 0);
    if (need > e->rollup_blob_cap) {
      uint8_t *nb = realloc(e->rollup_blob, need);
      if (!nb) {
        vg_kafka_positions_release(&pos);
        return -ENOMEM;
      }
      e->rollup_blob = nb;
      e->rollup_blob_cap = need;
    }
    vg_kafka_positions_encode(e->cfg->kafka_rollup_topic, &pos, e->rollup_blob, need);
    *b = (struct vg_store_blob){VG_ROLLUP_BLOB, e->rollup_blob, need};
    rc = 1;
  }
  vg_kafka_positions_release(&pos);
  return rc;
}

/* Between epochs, or while nothing is ingested: the positions of a new
 * read-back of the rollup topic made durable at once, so that the
 * publisher may produce. */
static void keep_rollup_positions(struct vg_engine *e) {
  struct vg_store_blob b;
  uint64_t cursor, gen;
  char err[512];
  if (rollup_blob(e, &b, &cursor, &gen) != 1 || gen == e->rollup_gen_saved)
    return;
  if (put_blob_all(e, b.name, b.data, b.len, err, sizeof err) != 0) {
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "cannot keep the rollup topic's positions",
                       "error=\"%s\"", err);
    return;
  }
  e->rollup_gen_saved = gen;
  vg_rollup_kept(e->rollup, gen);
}

/* ---- shard committers -------------------------------------------------------- */

/* store.shards: auto for a new store: 2 where there are 2 CPUs or more
 * (measured faster than 1 in every configuration on 2 cores), else 1. */
/* Test hook: VIGIE_TEST_MAP_SIZE=BYTES starts a new store with a map that
 * small (the default is 64 MiB), so that a test sees it grow. */
static size_t test_map_size(void) {
  const char *v = getenv("VIGIE_TEST_MAP_SIZE");
  int64_t n;
  return v && vg_parse_size(v, &n) == 0 && n > 0 ? (size_t)n : 0;
}

static unsigned auto_shards(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 2 ? 2 : 1;
}

/* Commits a shard's part of the epoch, unless it did already (a retry). */
static void run_job(struct shard_job *j) {
  j->rc = 0;
  j->cpu_s = 0;
  if (j->done_epoch == j->ep.epoch)
    return;
  double c0 = thread_cpu_s();
  j->rc = vg_store_commit(j->st, &j->ep, j->err, sizeof j->err);
  j->cpu_s = thread_cpu_s() - c0;
  if (j->rc == 0)
    j->done_epoch = j->ep.epoch;
}

static void *committer_main(void *arg) {
  struct committer_arg *a = arg;
  struct committers *cm = a->cm;
  uint64_t seen = 0;
  pthread_mutex_lock(&cm->mu);
  for (;;) {
    while (cm->round == seen && !cm->quit)
      pthread_cond_wait(&cm->go, &cm->mu);
    if (cm->quit)
      break;
    seen = cm->round;
    pthread_mutex_unlock(&cm->mu);
    run_job(a->job);
    pthread_mutex_lock(&cm->mu);
    if (--cm->pending == 0)
      pthread_cond_signal(&cm->done);
  }
  pthread_mutex_unlock(&cm->mu);
  return NULL;
}

static void committers_stop(struct committers *cm) {
  if (!cm)
    return;
  pthread_mutex_lock(&cm->mu);
  cm->quit = 1;
  pthread_cond_broadcast(&cm->go);
  pthread_mutex_unlock(&cm->mu);
  for (unsigned i = 0; i < cm->n; i++)
    pthread_join(cm->t[i].th, NULL);
  pthread_cond_destroy(&cm->go);
  pthread_cond_destroy(&cm->done);
  pthread_mutex_destroy(&cm->mu);
  free(cm->t);
  free(cm);
}

/* The jobs of the store's shards, and a committer thread for each shard
 * past the first. 0 or -ENOMEM / -EAGAIN. */
static int committers_start(struct vg_engine *e) {
  e->nshards = vg_store_shards(e->store);
  e->jobs = calloc(e->nshards, sizeof *e->jobs);
  if (!e->jobs)
    return -ENOMEM;
  for (unsigned k = 0; k < e->nshards; k++)
    e->jobs[k].st = vg_store_shard(e->store, k);
  if (e->nshards == 1)
    return 0;
  struct committers *cm = calloc(1, sizeof *cm);
  if (!cm)
    return -ENOMEM;
  cm->t = calloc(e->nshards - 1, sizeof *cm->t);
  if (!cm->t) {
    free(cm);
    return -ENOMEM;
  }
  pthread_mutex_init(&cm->mu, NULL);
  pthread_cond_init(&cm->go, NULL);
  pthread_cond_init(&cm->done, NULL);
  e->cm = cm;
  for (unsigned k = 1; k < e->nshards; k++) {
    cm->t[k - 1] = (struct committer_arg){cm, &e->jobs[k], 0};
    if (pthread_create(&cm->t[k - 1].th, NULL, committer_main, &cm->t[k - 1]) != 0)
      return -EAGAIN;
    cm->n++;
  }
  return 0;
}

static void jobs_free(struct vg_engine *e) {
  for (unsigned k = 0; e->jobs && k < e->nshards; k++) {
    struct shard_job *j = &e->jobs[k];
    VEC_FREE(j->open);
    VEC_FREE(j->sealed);
    VEC_FREE(j->series);
    VEC_FREE(j->emits);
    VEC_FREE(j->fps);
  }
  free(e->jobs);
}

/* Splits the epoch ep (the engine's vectors) by shard into the jobs: each
 * shard's windows, series, fingerprints and emit records (numbered from
 * the one counter: ep->emit_next), and everything else of ep for all.
 * 0 or -ENOMEM. */
static int split_epoch(struct vg_engine *e, const struct vg_store_epoch *ep) {
  unsigned n = e->nshards;
  for (unsigned k = 0; k < n; k++) {
    struct shard_job *j = &e->jobs[k];
    j->open.n = j->sealed.n = j->series.n = j->emits.n = j->fps.n = 0;
  }
#define SPLIT(vec, field, id)                                                            \
  for (size_t i = 0; i < e->vec.n; i++)                                                  \
    if (VEC_PUSH(e->jobs[vg_store_shard_of(id, n)].field, e->vec.v[i]) != 0)             \
      return -ENOMEM;
  SPLIT(open, open, e->open.v[i]->series)
  SPLIT(sealed, sealed, e->sealed.v[i]->series)
  SPLIT(series, series, e->series.v[i].id)
  SPLIT(fps, fps, e->fps.v[i].series)
  SPLIT(emits, emits,
        e->emits.v[i].res == VG_STORE_EMIT_IND ? (uint64_t)0 : e->emits.v[i].series)
#undef SPLIT
  for (unsigned k = 0; k < n; k++) {
    struct shard_job *j = &e->jobs[k];
    j->ep = *ep;
    j->ep.open = j->open.v;
    j->ep.nopen = j->open.n;
    j->ep.sealed = j->sealed.v;
    j->ep.nsealed = j->sealed.n;
    j->ep.series = j->series.v;
    j->ep.nseries = j->series.n;
    j->ep.fps = j->fps.v;
    j->ep.nfps = j->fps.n;
    j->ep.emit = j->emits.v;
    j->ep.nemit = j->emits.n;
    if (k > 0) { /* indicator rows live in shard 0 */
      j->ep.ind = NULL;
      j->ep.nind = 0;
    }
  }
  return 0;
}

/* Commits the epoch in every shard at once (store.h, "Shards"): shard 0 on
 * this thread, the others on theirs. 0, or the first shard's error (a
 * retry commits the shards that failed only). */
static int commit_shards(struct vg_engine *e, struct vg_store_epoch *ep, char *err,
                         size_t errsize) {
  for (size_t i = 0; i < e->emits.n; i++)
    e->emits.v[i].seq = e->emit_next + i;
  ep->emit_next = e->emit_next + e->emits.n;
  int rc = split_epoch(e, ep);
  if (rc)
    return rc;
  struct committers *cm = e->cm;
  pthread_mutex_lock(&cm->mu);
  cm->pending = cm->n;
  cm->round++;
  pthread_cond_broadcast(&cm->go);
  pthread_mutex_unlock(&cm->mu);
  run_job(&e->jobs[0]);
  pthread_mutex_lock(&cm->mu);
  while (cm->pending)
    pthread_cond_wait(&cm->done, &cm->mu);
  pthread_mutex_unlock(&cm->mu);
  for (unsigned k = 1; k < e->nshards; k++) {
    e->commit_cpu_s += e->jobs[k].cpu_s; /* the writer's own is counted by its caller */
    e->writer_cpu_s += e->jobs[k].cpu_s;
  }
  for (unsigned k = 0; k < e->nshards; k++)
    if (e->jobs[k].rc) {
      snprintf(err, errsize, "shard %u: %s", k, e->jobs[k].err);
      return e->jobs[k].rc;
    }
  return 0;
}

/* Whether the windows sealed since the last eviction should leave the
 * writer's table now rather than in a later batch: under memory_limit, once
 * the table is more than half full -- the next collect may add a window per
 * delta entry of up to VG_AGG_MAX_PENDING epochs per worker, and a table
 * that must grow takes half its size again -- or past its share. */
static int window_table_full(const struct vg_engine *e, const struct vg_windows *win) {
  size_t share = e->shares.window_bytes;
  if (!share || !e->sealed_since_evict)
    return 0;
  return (uint64_t)win->t.n * 2 >= win->t.cap || vg_wtable_bytes(&win->t) >= share;
}

/* Builds and commits the epoch. 0, VG_EFULL/-ENOSPC (retry later, nothing
 * lost), or a fatal error. */
/* Indicators: when due (once per checkpoint interval, or forced), the rows
 * the committed epochs changed, with an emit-log record each, for the next
 * commit (indicator.h). */
static int indicators_step(struct vg_engine *e, const struct vg_store_ind **rows,
                           size_t *nrows, uint64_t *cursor, int *stepped, char *err,
                           size_t errsize) {
  int64_t now = mono_ns();
  if (!e->ind_force && now < e->ind_next_ns)
    return 0;
  e->ind_force = 0;
  struct vg_store_reader *r;
  int rc = vg_store_reader_begin(e->store, &r);
  if (rc == 0) {
    rc = vg_indicators_step(e->ind, r, cursor, rows, nrows, err, errsize);
    vg_store_reader_end(r);
  }
  /* a step recomputes whole periods (a year of hours for an annual
   * indicator): during a backfill, where every epoch touches them, the next
   * one waits nine times as long as this one took, so that indicators take
   * at most a tenth of the writer; at rest, once per checkpoint interval */
  int64_t took = mono_ns() - now, wait = 9 * took;
  e->ind_next_ns =
      now +
      (wait > e->cfg->checkpoint_interval_ns ? wait : e->cfg->checkpoint_interval_ns);
  if (e->ind_step_seconds)
    vg_histogram_observe(e->ind_step_seconds, (double)took / 1e9);
  if (rc) {
    vg_indicators_forget(e->ind);
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "indicators not updated; retried",
                       "error=\"%s\"", rc < 0 && !*err ? vg_strerror(rc) : err);
    *nrows = 0;
    return 0; /* the windows are committed all the same */
  }
  *stepped = 1;
  for (size_t i = 0; i < *nrows; i++) {
    struct vg_store_emit em = {.series = (*rows)[i].key,
                               .res = VG_STORE_EMIT_IND,
                               .start = (*rows)[i].start,
                               .revision = (*rows)[i].revision};
    if (VEC_PUSH(e->emits, em) != 0)
      return -ENOMEM;
  }
  return 0;
}

static int commit(struct vg_engine *e, char *err, size_t errsize) {
  struct vg_windows *win = vg_agg_writer_windows(e->agg);
  e->open.n = e->sealed.n = e->series.n = e->pos.n = e->fps.n = 0;
  for (uint32_t i = 0; i < vg_windows_ndirty(win); i++) {
    const struct vg_wentry *w = vg_windows_dirty_at(win, i);
    if ((w->final ? VEC_PUSH(e->sealed, w) : VEC_PUSH(e->open, w)) != 0)
      return -ENOMEM;
  }
  /* the new fingerprints of dedupe sources, with their windows */
  for (uint32_t i = 0; i < vg_windows_nfpdirty(win); i++) {
    struct vg_fprow r = vg_windows_fprow(win, i);
    if (r.n == 0)
      continue; /* looked up, nothing new (copies only) */
    if (VEC_PUSH(e->fps, r) != 0)
      return -ENOMEM;
  }
  for (size_t off = 0; off < e->series_keys.len;) {
    uint32_t len;
    memcpy(&len, e->series_keys.b + off, 4);
    const char *key = e->series_keys.b + off + 4;
    struct vg_store_series s = {.id = vg_siphash24(e->hkey, key, len),
                                .key = key,
                                .key_len = len,
                                .first_seen_ns = now_ns()};
    if (VEC_PUSH(e->series, s) != 0)
      return -ENOMEM;
    off += 4 + len;
  }
  for (size_t p = 0; p < e->nparts; p++) {
    struct vg_part_pos pp = vg_agg_position(e->agg, (uint32_t)p);
    if (pp.next_offset < 0 || !e->parts[p].topic)
      continue;
    struct vg_store_pos sp = {.topic = e->parts[p].topic,
                              .partition = (uint32_t)e->parts[p].partition,
                              .next_offset = pp.next_offset,
                              .max_event_ns = pp.max_event_ns,
                              .last_active_ns = pp.last_active_ns};
    if (VEC_PUSH(e->pos, sp) != 0)
      return -ENOMEM;
  }
  const struct vg_store_ind *ind_rows = NULL;
  size_t nind = 0, emits_before = e->emits.n;
  uint64_t ind_cursor = e->ind_cursor;
  int ind_stepped = 0;
  if (e->ind) {
    int rc0 =
        indicators_step(e, &ind_rows, &nind, &ind_cursor, &ind_stepped, err, errsize);
    if (rc0)
      return rc0;
  }
  struct vg_store_epoch ep = {.epoch = e->epoch + 1,
                              .open = e->open.v,
                              .nopen = e->open.n,
                              .sealed = e->sealed.v,
                              .nsealed = e->sealed.n,
                              .series = e->series.v,
                              .nseries = e->series.n,
                              .pos = e->pos.v,
                              .npos = e->pos.n,
                              .emit = e->emits.v,
                              .nemit = e->emits.n,
                              .fps = e->fps.v,
                              .nfps = e->fps.n,
                              .watermark_ns = vg_agg_watermark(e->agg),
                              .ind = ind_rows,
                              .nind = nind};
  struct vg_store_blob blobs[3];
  uint64_t cursor = 0, gen = 0;
  int rb = rollup_blob(e, &blobs[0], &cursor, &gen);
  if (rb < 0)
    return rb;
  if (cursor > e->rollup_saved)
    ep.rollup_seq = cursor; /* acknowledged by the broker: persist it */
  ep.nblobs = (size_t)rb;
  if (dl_blob(e, &blobs[ep.nblobs]))
    ep.nblobs++;
  if (ind_stepped) { /* the emit-log position the rows reflect */
    for (int b = 0; b < 8; b++)
      e->ind_blob[b] = (uint8_t)(ind_cursor >> (8 * b));
    blobs[ep.nblobs++] = (struct vg_store_blob){
        .name = "indicators", .data = e->ind_blob, .len = e->ind_blob_len};
  }
  ep.blobs = blobs;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = e->nshards > 1 ? commit_shards(e, &ep, err, errsize)
                          : vg_store_commit(e->store, &ep, err, errsize);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (rc) {
    if (ind_stepped) { /* stepped again from the committed cursor */
      e->emits.n = emits_before;
      vg_indicators_forget(e->ind);
    }
    return rc;
  }
  e->epoch++;
  if (ind_stepped)
    e->ind_cursor = ind_cursor;
  if (nind && e->ind_rows_g)
    vg_counter_add(e->ind_rows_g, nind);
  if (ep.rollup_seq)
    e->rollup_saved = ep.rollup_seq;
  if (rb) {
    e->rollup_gen_saved = gen;
    vg_rollup_kept(e->rollup, gen);
  }
  e->emit_next += e->emits.n;
  if (e->rollup && e->emits.n)
    vg_rollup_notify(e->rollup); /* the publisher reads them from the store */
  if (e->commit_seconds) {
    vg_histogram_observe(e->commit_seconds, (double)(t1.tv_sec - t0.tv_sec) +
                                                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    vg_counter_add(e->epochs, 1);
    vg_counter_add(e->series_new, e->series.n);
  }
  VG_LOG_DEBUG("epoch committed",
               "epoch=%" PRIu64 " open=%zu sealed=%zu windows=%" PRIu32 " seconds=%.3f",
               e->epoch, e->open.n, e->sealed.n, win->t.n,
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  vg_windows_clean(win);
  /* sealed windows leave memory in batches: each compaction rebuilds the
   * table's index, which per epoch would cost more than the epoch's merges
   * once the table holds millions of windows. Until then a late event finds
   * its final window in memory, which is what the loader would give. */
  e->sealed_since_evict += e->sealed.n;
  if (++e->epochs_since_evict >= 30 || e->sealed_since_evict * 8 >= win->t.n ||
      window_table_full(e, win) || (e->relieving && e->sealed_since_evict)) {
    vg_windows_evict_final(win);
    e->sealed_since_evict = 0;
    e->epochs_since_evict = 0;
  }
  e->emits.n = 0;
  e->series_keys.len = e->series_keys.n = 0;
  return 0;
}

/* At the end of a run: gives the rollup publisher a bounded time to take
 * everything committed to the topic, and persists its cursor (an epoch with
 * no windows). What it could not send is sent at the next start. */
static void flush_rollups(struct vg_engine *e) {
  char err[512];
  int64_t until = now_ns() + (e->o.drain ? 60 : 10) * NS_PER_S;
  int rc;
  /* in slices: a read-back's positions are kept as soon as they come, the
   * publisher waiting for them */
  do {
    keep_rollup_positions(e);
    rc = vg_rollup_wait(e->rollup, e->emit_next, 200);
  } while (rc == VG_ETIMEOUT && now_ns() < until);
  if (rc != 0)
    VG_LOG_WARN(
        "rollups not all acknowledged before stopping; the rest at the next start",
        "cursor=%" PRIu64 " emit_seq=%" PRIu64, vg_rollup_cursor(e->rollup),
        e->emit_next);
  if (vg_rollup_cursor(e->rollup) > e->rollup_saved && commit(e, err, sizeof err) != 0)
    VG_LOG_WARN("cannot persist the rollup cursor", "error=\"%s\"", err);
}

/* Emit-log records the rollup topic has not acknowledged: the next
 * sequence minus the publisher's cursor (exact, and O(1)); 0 without a
 * publisher. */
static uint64_t emit_waiting(struct vg_engine *e) {
  if (!e->rollup)
    return 0;
  uint64_t at = vg_rollup_cursor(e->rollup);
  return e->emit_next > at ? e->emit_next - at : 0;
}

/* publish.emit_log_max (docs/publication.md "When the emit log is full"):
 * 1 while the records waiting for the rollup topic reach it. Sets the
 * gauges and what /readyz says, and logs an error when it fills and once a
 * minute while full (at most one a minute: a log that fills again and
 * again at the bound counts its fills), and a line when it drains below
 * after that error. */
static int emit_log_full(struct vg_engine *e) {
  uint64_t n = emit_waiting(e), max = (uint64_t)e->cfg->publish_emit_log_max;
  int full = e->rollup && n >= max;
  int was = vg_atomic_load_relaxed_int(&e->emit_full);
  int64_t now = mono_ns();
  vg_atomic_store_relaxed_u64(&e->emit_waiting, n);
  vg_atomic_store_release_int(&e->emit_full, full);
  if (e->emit_records_g) {
    vg_gauge_set(e->emit_records_g, (int64_t)n);
    vg_gauge_set(e->emit_full_g, full);
  }
  e->emit_fills += full && !was;
  if (full && (!e->emit_said_ns || now - e->emit_said_ns >= 60 * NS_PER_S)) {
    e->emit_said_ns = now;
    e->emit_said = 1;
    VG_LOG_ERROR(
        "emit log full: ingestion paused until the rollup topic takes its records",
        "records=%" PRIu64 " max=%" PRIu64 " topic=%s cursor=%" PRIu64 " fills=%" PRIu64,
        n, max, e->cfg->kafka_rollup_topic, vg_rollup_cursor(e->rollup), e->emit_fills);
    e->emit_fills = 0;
  } else if (was && !full && e->emit_said) {
    e->emit_said = 0;
    VG_LOG_INFO("emit log below its bound: ingestion resumes",
                "records=%" PRIu64 " max=%" PRIu64 " topic=%s", n, max,
                e->cfg->kafka_rollup_topic);
  }
  return full;
}

/* One round of the writer while the emit log is full: nothing is collected
 * or committed (the workers' queues fill and they stop reading), but the
 * publisher may need a read-back's positions kept to go on. 1 when the
 * writer stops now: a stop or a failure, the workers giving up their
 * epochs rather than waiting to hand them. */
static int emit_log_paused(struct vg_engine *e) {
  if (vg_atomic_load_acquire_int(&e->stop) || vg_atomic_load_acquire_int(&e->failed)) {
    vg_atomic_store_release_int(&e->abandon, 1);
    return 1;
  }
  keep_rollup_positions(e);
  update_metrics(e); /* the consumer lag grows */
  nap_ms(100);
  return 0;
}

/* CPU seconds of the whole process so far. */
static double process_cpu_s(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds of one thread of this process (tid: its directory name under
 * /proc/self/task): the nanoseconds it ran (schedstat's first field) or,
 * without schedstat, its user and system clock ticks (stat). */
static double task_cpu_s(const char *tid) {
  char path[300], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", tid);
  FILE *f = fopen(path, "r");
  if (f) {
    unsigned long long ns;
    int n = fscanf(f, "%llu", &ns);
    fclose(f);
    if (n == 1)
      return (double)ns / 1e9;
  }
  snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
  f = fopen(path, "r");
  if (!f)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* pid (comm) state ppid ... utime stime: the 14th and 15th fields; comm
   * may hold spaces and parentheses, so the fields count from its last ')' */
  const char *close = strrchr(buf, ')');
  unsigned long long ut, st;
  double hz = (double)sysconf(_SC_CLK_TCK);
  if (!close || hz <= 0 ||
      sscanf(close + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
             &st) != 2)
    return 0;
  return (double)(ut + st) / hz;
}

/* CPU seconds of librdkafka's live threads (named "rdk:..."): the clients'
 * fetching, decompressing and producing. Threads of clients already freed
 * are not counted. */
static double rdkafka_threads_cpu_s(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return 0;
  double total = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    char path[300], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    size_t n = fread(comm, 1, sizeof comm - 1, f);
    fclose(f);
    comm[n] = '\0';
    if (strncmp(comm, "rdk:", 4) == 0)
      total += task_cpu_s(de->d_name);
  }
  closedir(d);
  return total;
}

/* Adds a run's CPU time to the process's sums: its workers' (they are
 * done, or failed), the writer's since writer0 (this thread's CPU seconds
 * when the run began), and the readings it aggregated. */
static void add_run_cpu(struct vg_engine *e, double writer0) {
  for (uint32_t i = 0; i < e->nworkers; i++) {
    struct engine_worker *w = &e->workers[i];
    e->receive_cpu_s += (double)vg_atomic_load_relaxed_u64(&w->cpu_receive) / 1e9;
    e->decode_cpu_s += (double)vg_atomic_load_relaxed_u64(&w->cpu_decode) / 1e9;
    e->aggregate_cpu_s += (double)vg_atomic_load_relaxed_u64(&w->cpu_aggregate) / 1e9;
    e->workers_cpu_s += (double)vg_atomic_load_relaxed_u64(&w->cpu_total) / 1e9;
  }
  e->writer_cpu_s += thread_cpu_s() - writer0;
  e->events_aggregated += vg_agg_windows(e->agg)->c.aggregated;
}

/* Where the CPU time went, stage by stage, since the process started (one
 * log line when vigied stops; bench/bench.py reads it): receive (the workers
 * polling librdkafka), decode, aggregate (series ids, the delta table, dead
 * letters), merge and commit (the writer), publish (the rollup publisher's
 * thread), the workers' and the writer's remainder (epoch hand-offs,
 * waiting, upkeep), librdkafka's own threads (fetching, decompressing,
 * producing), and the rest of the process: the HTTP server, the export
 * folder, what ran before ingestion (opening the store, read-backs). */
static void log_cpu_by_stage(struct vg_engine *e) {
  double publish = e->rollup ? vg_rollup_cpu_s(e->rollup) : 0, all = process_cpu_s();
  double worker_other =
      e->workers_cpu_s - e->receive_cpu_s - e->decode_cpu_s - e->aggregate_cpu_s;
  double writer_other = e->writer_cpu_s - e->merge_cpu_s - e->commit_cpu_s;
  double kafka = rdkafka_threads_cpu_s();
  double rest = all - e->workers_cpu_s - e->writer_cpu_s - publish - kafka;
  VG_LOG_INFO("cpu by stage",
              "events=%" PRIu64 " receive_s=%.3f decode_s=%.3f aggregate_s=%.3f"
              " merge_s=%.3f commit_s=%.3f publish_s=%.3f worker_other_s=%.3f"
              " writer_other_s=%.3f kafka_threads_s=%.3f other_s=%.3f process_s=%.3f",
              e->events_aggregated, e->receive_cpu_s, e->decode_cpu_s, e->aggregate_cpu_s,
              e->merge_cpu_s, e->commit_cpu_s, publish, worker_other, writer_other, kafka,
              rest > 0 ? rest : 0, all);
}

/* The ingest role's stop line: what its workers aggregated and produced
 * (bench/roles.py reads it). */
static void log_ingest_totals(struct vg_engine *e) {
  uint64_t events = 0, dups = 0, records = 0, bytes = 0, entries = 0, txns = 0,
           aborted = 0;
  for (uint32_t i = 0; i < e->nworkers; i++) {
    struct engine_worker *w = &e->workers[i];
    if (w->own) {
      events += vg_agg_windows(w->own)->c.aggregated;
      dups += vg_agg_windows(w->own)->c.duplicates;
    }
    records += w->delta_records;
    bytes += w->delta_bytes;
    entries += w->delta_entries;
    txns += w->txn ? vg_txn_committed(w->txn) : 0;
    aborted += w->txn ? vg_txn_aborted(w->txn) : 0;
  }
  VG_LOG_INFO("ingest role stopped",
              "events=%" PRIu64 " duplicates=%" PRIu64 " transactions=%" PRIu64
              " aborted=%" PRIu64 " delta_records=%" PRIu64 " delta_entries=%" PRIu64
              " delta_bytes=%" PRIu64,
              events, dups, txns, aborted, records, entries, bytes);
}

/* Runs the ingestion until the engine stops, the drain is done, a fatal
 * error, or the input changes shape (VG_ERESTART: the caller rebuilds the
 * ingestion, not the store). */
static int ingest_run(struct vg_engine *e, char *errstr, size_t errstr_size) {
  int rc = 0;
  vg_atomic_store_release_int(&e->halt, 0);
  e->progress_ns = 0;
  log_progress(e, 0); /* the starting point */
  for (uint32_t i = 0; i < e->nworkers; i++) {
    if (pthread_create(&e->workers[i].th, NULL, worker_main, &e->workers[i]) != 0) {
      engine_fail(e, "cannot start a worker thread");
      break;
    }
    e->workers[i].started = 1;
  }
  vg_atomic_store_release_int(&e->ready, !vg_atomic_load_acquire_int(&e->failed));
  int64_t interval = e->cfg->checkpoint_interval_ns;
  int commit_pending = 0;
  int64_t next_upkeep = now_ns() + 10 * NS_PER_S;
  int restart = 0, paused = 0;
  char err[1024];
  vg_atomic_store_release_int(&e->abandon, 0);
  for (;;) {
    if (vg_atomic_load_acquire_int(&e->stop))
      vg_atomic_store_release_int(&e->halt, 1); /* the workers hand their last epochs */
    /* sleep one interval, waking early when everyone is done or stopping */
    int64_t until = now_ns() + interval;
    int all_done;
    for (;;) {
      all_done = 1;
      for (uint32_t i = 0; i < e->nworkers; i++)
        all_done &= vg_atomic_load_acquire_int(&e->workers[i].done);
      /* a worker with half its queue of epochs full is ahead of the writer
       * (a backlog, a backfill): commit now, not at the next interval, or
       * the writer idles while the worker waits for room */
      if (all_done || now_ns() >= until ||
          vg_agg_backlog(e->agg) >= VG_AGG_MAX_PENDING / 2 ||
          (!commit_pending && vg_atomic_load_relaxed_u64(&e->relief_asked) >
                                  vg_atomic_load_relaxed_u64(&e->relief_done)))
        break;
      nap_ms(2);
    }
    if (e->role == VG_ROLE_INGEST) { /* each worker commits its own transactions */
      if (all_done || vg_atomic_load_acquire_int(&e->failed))
        break;
      for (uint32_t i = 0; i < e->nworkers; i++)
        if (vg_atomic_load_acquire_int(&e->workers[i].done) && e->workers[i].txn_lost)
          vg_atomic_store_release_int(&e->halt, 1); /* all rejoin (ingest_epoch) */
      continue;
    }
    if (!commit_pending && emit_log_full(e)) {
      if (emit_log_paused(e)) {
        paused = 1;
        break;
      }
      continue;
    }
    if (!commit_pending) {
      /* workers found memory_limit reached and handed their epochs: this
       * round's commit holds them, and relieves their tickets */
      uint64_t asked = vg_atomic_load_acquire_u64(&e->relief_asked);
      if (asked > vg_atomic_load_relaxed_u64(&e->relief_done))
        e->relieving = asked;
      /* a drain's last round: every partition was read to the end it had at
       * start, so none has more to say -- all count as idle, and the
       * watermark becomes the highest partition watermark (window.h) */
      int64_t now = e->o.drain && all_done ? INT64_MAX : now_ns();
      double c0 = thread_cpu_s();
      int merged = vg_agg_collect(e->agg, now, on_emit, e);
      e->merge_cpu_s += thread_cpu_s() - c0;
      size_t wb = vg_wtable_bytes(&vg_agg_windows(e->agg)->t);
      if (wb > e->windows_peak_bytes)
        e->windows_peak_bytes = wb;
      if (merged < 0) {
        engine_fail(e, "out of memory merging an epoch");
        break;
      }
      if (take_series(e) != 0 || take_dl_positions(e) != 0) {
        engine_fail(e, "out of memory taking series keys");
        break;
      }
    }
    if (vg_atomic_load_acquire_int(&e->failed))
      break;
    double c1 = thread_cpu_s();
    rc = commit(e, err, sizeof err);
    e->commit_cpu_s += thread_cpu_s() - c1;
    if (rc == VG_EFULL || rc == -ENOSPC || rc == -ENOMEM) {
      /* nothing of the epoch was committed; the workers fill up and wait */
      commit_pending = 1;
      VG_LOG_RATELIMITED(VG_LOG_ERROR, 10000, "cannot commit, consumption paused",
                         "error=\"%s\"", rc == -ENOMEM ? "out of memory" : err);
      if (all_done)
        break; /* nothing more will come; report it */
      continue;
    }
    if (rc) {
      engine_fail(e, err);
      break;
    }
    commit_pending = 0;
    if (e->relieving) {
      if (e->o.release_memory)
        e->o.release_memory();
      vg_atomic_store_relaxed_i64(&e->relief_floor, anon_bytes(e->statm_fd));
      vg_atomic_store_release_u64(&e->relief_done, e->relieving);
      e->relieving = 0;
    }
    update_metrics(e);
    log_progress(e, 0);
    if (now_ns() >= next_upkeep) {
      upkeep(e);
      next_upkeep = now_ns() + 10 * NS_PER_S;
      if (!e->o.drain && !restart && partitions_grew(e)) {
        /* follow them: the workers hand their last epochs, everything is
         * committed, and the ingestion is rebuilt from the store's offsets */
        restart = 1;
        vg_atomic_store_release_int(&e->halt, 1);
      }
    }
    if (all_done)
      break; /* this round collected their last epochs */
  }
  vg_atomic_store_release_int(&e->halt, 1);
  for (uint32_t i = 0; i < e->nworkers; i++)
    if (e->workers[i].started) {
      pthread_join(e->workers[i].th, NULL);
      e->workers[i].started = 0;
    }
  vg_atomic_store_release_int(&e->ready, 0);
  for (uint32_t i = 0; i < e->nworkers; i++)
    if (e->workers[i].txn_lost && !vg_atomic_load_acquire_int(&e->failed))
      return VG_EABORTED; /* vg_engine_run rebuilds from the group's offsets */
  if (restart && !vg_atomic_load_acquire_int(&e->failed) && !commit_pending &&
      !vg_atomic_load_acquire_int(&e->stop))
    return VG_ERESTART;
  if (paused)
    VG_LOG_WARN(
        "stopped while the emit log was full: what was read since the last commit "
        "is read again at the next start",
        "records=%" PRIu64 " max=%" PRId64 " topic=%s", emit_waiting(e),
        e->cfg->publish_emit_log_max, e->cfg->kafka_rollup_topic);
  if (e->ind && !vg_atomic_load_acquire_int(&e->failed) && !commit_pending && !paused) {
    e->ind_force = 1; /* the rows of everything committed, before stopping */
    if (commit(e, err, sizeof err) != 0)
      VG_LOG_WARN("indicators not updated before stopping; at the next start",
                  "error=\"%s\"", err);
  }
  if (e->rollup && !vg_atomic_load_acquire_int(&e->failed) && !commit_pending)
    flush_rollups(e);
  if (vg_atomic_load_acquire_int(&e->failed)) {
    snprintf(errstr, errstr_size, "%s", e->fail_msg);
    return rc ? rc : VG_EKAFKA;
  }
  if (commit_pending) {
    snprintf(errstr, errstr_size, "the last epoch could not be committed: %s", err);
    return rc;
  }
  if (e->role == VG_ROLE_INGEST)
    log_ingest_totals(e);
  if (e->o.drain && e->role != VG_ROLE_INGEST)
    log_progress(e, 1);
  const struct vg_window_counters *c = &vg_agg_windows(e->agg)->c;
  uint64_t early = 0, waits = 0;
  for (uint32_t i = 0; i < e->nworkers; i++) {
    early += vg_atomic_load_relaxed_u64(&e->workers[i].early_epochs);
    waits += vg_atomic_load_relaxed_u64(&e->workers[i].memory_waits);
  }
  VG_LOG_INFO(
      "stopped after committing",
      "epoch=%" PRIu64 " events_aggregated=%" PRIu64 " rejected_retention=%" PRIu64
      " writer_merge_cpu_s=%.2f writer_commit_cpu_s=%.2f"
      " epochs_handed_early=%" PRIu64 " memory_waits=%" PRIu64 " windows_peak_mib=%.1f",
      e->epoch, c->aggregated, c->rejected[VG_AGG_REJECT_RETENTION], e->merge_cpu_s,
      e->commit_cpu_s, early, waits, (double)e->windows_peak_bytes / (1 << 20));
  return 0;
}

/* ---- setup -------------------------------------------------------------------- */

/* Adds partitions 0..n-1 of source s to the engine's table. 0 or -ENOMEM. */
static int add_parts(struct vg_engine *e, size_t s, int32_t n) {
  e->srcs[s].first_part = (uint32_t)e->nparts;
  e->srcs[s].nparts = n;
  for (int32_t p = 0; p < n; p++) {
    if (VG_GROW(e->parts, e->nparts + 1, e->capparts))
      return -ENOMEM;
    e->parts[e->nparts++] = (struct part){.topic = e->srcs[s].conf->topic,
                                          .partition = p,
                                          .src = (uint32_t)s,
                                          .start = VG_KAFKA_OFFSET_BEGINNING,
                                          .dl_found = -1};
  }
  return 0;
}

static int restore_window(const struct vg_wentry *w, void *ctx) {
  struct vg_engine *e = ctx;
  if (w->final)
    return 0; /* sealed: the store keeps it, the loader finds it */
  int rc = vg_agg_restore_window(e->agg, w);
  return rc == -EEXIST ? 0 : rc;
}

static int restore_pos(const struct vg_store_pos *p, void *ctx) {
  struct vg_engine *e = ctx;
  for (size_t s = 0; s < e->nsrcs; s++) {
    if (strcmp(e->srcs[s].conf->topic, p->topic) != 0)
      continue;
    if ((int32_t)p->partition >= e->srcs[s].nparts)
      return 0;
    uint32_t idx = e->srcs[s].first_part + p->partition;
    e->loaded[(size_t)e->loading * e->nparts + idx] =
        (struct vg_part_pos){p->next_offset, p->max_event_ns, p->last_active_ns};
    return 0;
  }
  if (e->role == VG_ROLE_STORE) { /* a source partition's watermark */
    int64_t k = source_slot(e, p->topic, strlen(p->topic), (int32_t)p->partition);
    if (k >= 0)
      e->loaded[(size_t)e->loading * e->nparts + (size_t)k] =
          (struct vg_part_pos){p->next_offset, p->max_event_ns, p->last_active_ns};
    return 0;
  }
  VG_LOG_WARN("stored position of a topic no longer configured is ignored",
              "topic=%s partition=%u", p->topic, p->partition);
  return 0;
}

/* Loads every shard's state: the open windows of all, each partition's
 * lowest position (where reading resumes) and, when the shards were not
 * level (a crash between their commits), the offsets below which each
 * shard already counted the readings (e->skip). The epoch and the emit
 * sequence go on from the highest shard's, the rollup cursor and the
 * watermark from the lowest. */
static int load_shards(struct vg_engine *e, struct vg_store_state *st, char *err,
                       size_t errsize) {
  size_t n = (size_t)e->nshards * e->nparts;
  free(e->skip);
  e->skip = NULL;
  e->loaded = malloc((n ? n : 1) * sizeof *e->loaded);
  if (!e->loaded)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    e->loaded[i] = (struct vg_part_pos){-1, INT64_MIN, 0};
  int rc = 0;
  for (unsigned k = 0; k < e->nshards && rc == 0; k++) {
    struct vg_store_state s;
    e->loading = k;
    rc = vg_store_load(vg_store_shard(e->store, k), restore_window, restore_pos, e, &s,
                       err, errsize);
    if (rc)
      break;
    if (k == 0) {
      *st = s;
      continue;
    }
    st->epoch = s.epoch > st->epoch ? s.epoch : st->epoch;
    st->emit_seq = s.emit_seq > st->emit_seq ? s.emit_seq : st->emit_seq;
    st->rollup_seq = s.rollup_seq < st->rollup_seq ? s.rollup_seq : st->rollup_seq;
    st->watermark_ns =
        s.watermark_ns < st->watermark_ns ? s.watermark_ns : st->watermark_ns;
    st->nopen += s.nopen;
  }
  int uneven = 0;
  for (size_t p = 0; p < e->nparts && rc == 0; p++) {
    struct vg_part_pos low = e->loaded[p];
    for (unsigned k = 1; k < e->nshards; k++) {
      struct vg_part_pos x = e->loaded[(size_t)k * e->nparts + p];
      uneven |= x.next_offset != low.next_offset;
      if (x.next_offset < low.next_offset)
        low = x;
    }
    if (low.next_offset < 0)
      continue; /* some shard never read it: from the start */
    e->parts[p].start = low.next_offset;
    vg_agg_restore_position(e->agg, (uint32_t)p, low);
  }
  st->npos = 0;
  for (size_t p = 0; p < e->nparts; p++)
    st->npos += e->parts[p].start >= 0;
  if (rc == 0 && uneven) {
    e->skip = malloc(n * sizeof *e->skip);
    if (!e->skip)
      rc = -ENOMEM;
    for (size_t i = 0; i < n && e->skip; i++)
      e->skip[i] = e->loaded[i].next_offset;
    if (e->skip)
      VG_LOG_WARN("store shards were not level (a crash between their commits): each "
                  "skips the readings it counted already",
                  "shards=%u", e->nshards);
  }
  free(e->loaded);
  e->loaded = NULL;
  return rc;
}

/* How far back duplicates are checked, in seconds (0: forever): the
 * dedupe retention, never longer than base windows are kept, since the
 * fingerprints live with the base window. The workers check against it and
 * the store deletes fingerprints past it. */
static int64_t dedupe_horizon_s(const struct vg_config *cfg) {
  int64_t h = cfg->retention_dedupe_ns / NS_PER_S,
          base = cfg->retention_base_ns / NS_PER_S;
  if (base && base < cfg->lateness_ns / NS_PER_S)
    base = cfg->lateness_ns / NS_PER_S; /* as ingest_start keeps base windows */
  return base && (h == 0 || h > base) ? base : h;
}

static int codec_config(const struct vg_source_conf *s, struct vg_codec_config *c) {
  *c = (struct vg_codec_config){.format = (enum vg_codec_format)s->format,
                                .time_key = s->time_key,
                                .time_format = (enum vg_time_format)s->time_format,
                                .time_zone = s->time_zone,
                                .entity_key = s->entity_key,
                                .tag_keys = (const char *const *)s->tag_keys.v,
                                .n_tag_keys = s->tag_keys.n,
                                .fields = (const char *const *)s->fields.v,
                                .n_fields = s->fields.n,
                                .count_as = s->count_as,
                                .distinct_key = s->distinct_key,
                                .precision = (enum vg_precision)s->precision,
                                .max_message_bytes = (size_t)s->max_message_bytes};
  return 0;
}

static void register_metrics(struct vg_engine *e) {
  struct vg_metrics *m = e->o.metrics;
  char lb[512];
  if (!m)
    return;
  for (size_t s = 0; s < e->nsrcs; s++) {
    vg_metrics_labels(lb, sizeof lb, "topic", e->srcs[s].conf->topic, NULL);
    e->srcs[s].messages = vg_metrics_counter(m, "vigie_messages_total",
                                             "Messages consumed, by source topic.", lb);
    e->srcs[s].bytes = vg_metrics_counter(m, "vigie_bytes_total",
                                          "Message bytes consumed, by source topic.", lb);
    if (!e->srcs[s].conf->dedupe)
      continue;
    e->srcs[s].duplicates = vg_metrics_counter(
        m, "vigie_duplicates_total",
        "Readings of dedupe sources dropped as copies of a reading already counted.", lb);
    static const char *const why[2] = {"window_full", "past_horizon"};
    for (int r = 0; r < 2; r++) {
      vg_metrics_labels(lb, sizeof lb, "topic", e->srcs[s].conf->topic, "reason", why[r],
                        NULL);
      e->srcs[s].unchecked[r] = vg_metrics_counter(
          m, "vigie_dedupe_unchecked_total",
          "Readings of dedupe sources counted without the duplicate guarantee: their "
          "base "
          "window held dedupe_max fingerprints (a copy of them would count), or was past "
          "retention.dedupe (not checked).",
          lb);
    }
  }
  struct vg_counter *events = vg_metrics_counter(
      m, "vigie_events_total", "Readings decoded and aggregated.", NULL);
  for (size_t s = 0; s < e->nsrcs; s++)
    e->srcs[s].events = events;
  for (int r = 0; r < VG_REJECT_REASON_COUNT; r++) {
    vg_metrics_labels(lb, sizeof lb, "reason", vg_reject_name((enum vg_reject_reason)r),
                      NULL);
    e->rejects[r] =
        vg_metrics_counter(m, "vigie_rejects_total", "Readings rejected, by reason.", lb);
  }
  /* the aggregator's reasons; running out of memory is not one (-ENOMEM
   * stops vigied) */
  static const char *const agg_reasons[VG_AGG_REJECT_MAX] = {
      [VG_AGG_REJECT_RETENTION] = "older_than_retention",
      [VG_AGG_REJECT_NONFINITE] = "nan_or_inf"};
  for (int r = 1; r < VG_AGG_REJECT_MAX; r++) {
    if (!agg_reasons[r])
      continue;
    vg_metrics_labels(lb, sizeof lb, "reason", agg_reasons[r], NULL);
    e->agg_rejects[r] =
        vg_metrics_counter(m, "vigie_rejects_total", "Readings rejected, by reason.", lb);
  }
  e->dead_letters = vg_metrics_counter(m, "vigie_dead_letters_total",
                                       "Messages sent to the dead-letter topic.", NULL);
  e->epochs = vg_metrics_counter(m, "vigie_epochs_committed_total",
                                 "Epochs committed to the store.", NULL);
  e->finalized = vg_metrics_counter(m, "vigie_windows_finalized_total",
                                    "Windows that went final.", NULL);
  e->revisions = vg_metrics_counter(m, "vigie_window_revisions_total",
                                    "Changes to final windows (late events).", NULL);
  e->series_new = vg_metrics_counter(m, "vigie_series_recorded_total",
                                     "Series keys written to the dictionary.", NULL);
  e->watermark = vg_metrics_gauge(m, "vigie_watermark_seconds",
                                  "Global event-time watermark (Unix seconds).", NULL);
  e->open_windows =
      vg_metrics_gauge(m, "vigie_open_windows", "Windows held in memory.", NULL);
  e->commit_seconds = vg_metrics_histogram(
      m, "vigie_epoch_commit_seconds", "Time of one epoch's store transaction.", NULL,
      commit_bounds, sizeof commit_bounds / sizeof commit_bounds[0]);
  for (size_t p = 0; p < e->nread; p++) {
    char part[16];
    snprintf(part, sizeof part, "%d", (int)e->parts[p].partition);
    vg_metrics_labels(lb, sizeof lb, "topic", e->parts[p].topic, "partition", part, NULL);
    e->parts[p].lag =
        vg_metrics_gauge(m, "vigie_consumer_lag",
                         "Messages between the committed offset and the end.", lb);
  }
}

/* A dead letter the read-back found: the highest per source partition. */
static void note_found(void *ctx, const char *topic, int32_t partition, int64_t offset) {
  struct vg_engine *e = ctx;
  for (size_t s = 0; s < e->nsrcs; s++)
    if (strcmp(e->srcs[s].conf->topic, topic) == 0 && partition >= 0 &&
        partition < e->srcs[s].nparts) {
      struct part *p = &e->parts[e->srcs[s].first_part + (uint32_t)partition];
      if (offset > p->dl_found)
        p->dl_found = offset;
    }
}

/* The dead letters of uncommitted epochs: the topic read back from the
 * positions committed with the last epoch (deadletter.h). A missing topic
 * holds nothing to find: the positions then stay unknown until the first
 * acknowledgements. 0 or an error with errstr. */
static int dl_read_back(struct vg_engine *e, const struct vg_kafka_conf *kc, char *errstr,
                        size_t errstr_size) {
  struct vg_store_reader *r;
  struct vg_kafka_positions from = {0, NULL};
  void *blob = NULL;
  size_t len = 0;
  int rc = vg_store_reader_begin(e->store, &r);
  if (rc) {
    snprintf(errstr, errstr_size, "reading the store: %s", vg_strerror(rc));
    return rc;
  }
  rc = vg_store_reader_blob(r, "dead_letters", &blob, &len);
  vg_store_reader_end(r);
  int stored = rc == 0;
  if (rc == 0) {
    const char *topic;
    size_t tlen;
    if (vg_kafka_positions_decode(blob, len, &topic, &tlen, &from) != 0)
      VG_LOG_WARN("the stored dead-letter positions do not decode; not read back", NULL);
    else if (tlen != strlen(e->cfg->kafka_dead_letter_topic) ||
             memcmp(topic, e->cfg->kafka_dead_letter_topic, tlen) != 0)
      vg_kafka_positions_release(&from); /* another topic now: nothing of ours in it */
  } else if (rc != VG_ENOTFOUND) {
    snprintf(errstr, errstr_size, "reading the store: %s", vg_strerror(rc));
    return rc;
  }
  free(blob);
  rc = vg_deadletter_scan(kc, e->cfg->kafka_dead_letter_topic, &from, 30000, &e->dl_seen,
                          &e->dl_start, errstr, errstr_size);
  e->dl_from = from; /* released with the ingestion */
  for (size_t p = 0; p < e->nparts; p++)
    e->parts[p].dl_found = -1;
  if (rc == 0 && vg_deadletter_seen_count(e->dl_seen)) {
    vg_deadletter_seen_each(e->dl_seen, note_found, e);
    e->dl_hold = 1;
  }
  if (rc == 0 && !stored && e->dl_start.n > 0) {
    /* nothing kept yet (a new store): the end is kept before any dead
     * letter is written, or a crash before the first commit would leave
     * dead letters that the next start does not read back */
    size_t need =
        vg_kafka_positions_encode(e->cfg->kafka_dead_letter_topic, &e->dl_start, NULL, 0);
    uint8_t *b = malloc(need);
    if (!b)
      return -ENOMEM;
    vg_kafka_positions_encode(e->cfg->kafka_dead_letter_topic, &e->dl_start, b, need);
    rc = put_blob_all(e, "dead_letters", b, need, errstr, errstr_size);
    free(b);
  }
  if (rc == VG_ENOTFOUND) {
    VG_LOG_WARN("the dead-letter topic does not exist; dead letters wait until it does",
                "topic=%s", e->cfg->kafka_dead_letter_topic);
    return 0;
  }
  if (rc == 0)
    VG_LOG_INFO("dead-letter topic read back", "topic=%s found=%zu partitions=%d",
                e->cfg->kafka_dead_letter_topic, vg_deadletter_seen_count(e->dl_seen),
                (int)e->dl_start.n);
  return rc;
}

/* Frees what ingest_start built (the store stays). */
static void ingest_stop(struct vg_engine *e) {
  for (uint32_t i = 0; e->workers && i < e->nworkers; i++) {
    struct engine_worker *w = &e->workers[i];
    if (w->started)
      pthread_join(w->th, NULL);
    w->closing = 1; /* the revoke of the close commits nothing more */
    vg_kafka_consumer_free(w->kc);
    vg_deadletter_free(w->dl);
    for (size_t s = 0; w->codecs && s < e->nsrcs; s++)
      vg_codec_free(w->codecs[s]);
    free(w->codecs);
    free(w->msgs);
    free(w->bytes);
    vg_event_batch_release(&w->batch);
    free(w->known);
    free(w->pending.b);
    free(w->handed.b);
    for (size_t k = 0; k < sizeof w->dlpos / sizeof w->dlpos[0]; k++)
      vg_kafka_positions_release(&w->dlpos[k].pos);
    vg_kafka_positions_release(&w->dl_merged);
    free(w->rj);
    free(w->want);
    free(w->hdr);
    vg_txn_free(w->txn);
    vg_agg_free(w->own);
    for (int32_t k = 0; w->dbuf && k < w->ndeltas; k++)
      vg_delta_buf_release(&w->dbuf[k]);
    free(w->dbuf);
    vg_delta_buf_release(&w->marks);
    VEC_FREE(w->offs);
    VEC_FREE(w->meta);
    free(w->owned);
    free(w->drain_end);
    pthread_mutex_destroy(&w->mu);
  }
  free(e->workers);
  e->workers = NULL;
  e->nworkers = 0;
  vg_agg_free(e->agg);
  e->agg = NULL;
  /* the next aggregator counts from 0: so do the metrics' deltas */
  e->last_counters = (struct vg_window_counters){0};
  vg_deadletter_seen_free(e->dl_seen);
  e->dl_seen = NULL;
  e->dl_hold = 0;
  vg_kafka_positions_release(&e->dl_from);
  vg_kafka_positions_release(&e->dl_start);
  for (size_t k = 0; e->slot_names && k < STORE_SOURCE_SLOTS; k++)
    free(e->slot_names[k]);
  free(e->slot_names);
  e->slot_names = NULL;
  free(e->slot_marks);
  e->slot_marks = NULL;
  free(e->parts);
  e->parts = NULL;
  e->nparts = e->capparts = e->nread = 0;
  free(e->srcs);
  e->srcs = NULL;
  e->nsrcs = 0;
  e->series_keys.len = e->series_keys.n = 0;
  e->emits.n = 0;
}

/* At a start's `fail:` label: a failure without a code of its own (0 or
 * -ENOMEM) is out of memory, which errstr then says. Returns the code. */
static int start_failed(int rc, const char *what, char *errstr, size_t errstr_size) {
  if (rc != 0 && rc != -ENOMEM)
    return rc;
  snprintf(errstr, errstr_size, "out of memory %s", what);
  return -ENOMEM;
}

/* Bytes a delta entry may cost at most: the entry (152), its share of the
 * dense array's growth by half, and of an index kept at most half full and
 * grown by doubling (wtable.h). */
#define DELTA_ENTRY_BYTES 256

/* memory_limit's share of one consumer's prefetch queue, in KiB of message
 * payload (0: no limit, the consumer's default). librdkafka bounds its queue
 * by the messages' payload only; each message also costs its op and its
 * share of the fetch response buffers it pins, which for the small messages
 * of sensors come to several times the payload (heap profile of a 20 M-event
 * drain: about 750 MB held by librdkafka's broker threads under a 128 MiB
 * bound). And librdkafka 2.0 looks at a full queue again only when its
 * broker thread wakes, up to a second later, so a queue smaller than a
 * second of messages paces the consumer. Measured (1GiB, 1 worker): a
 * payload of 16 MiB paced the mobility drain (one message per event) at
 * 198 k events/s, 32 MiB gave 384 k, 64 MiB 544 k; the sensor drain peaked
 * at 819, 870 and 1,370 MiB of RssAnon (a deeper queue lets the partitions
 * drift apart in event time, and windows stay open for the slowest). So a
 * thirty-second of the limit over the workers, between 4 MiB and the
 * default's 128 MiB. kafka.properties may still set
 * queued.max.messages.kbytes. */
static int64_t queued_kbytes(int64_t memory_limit, uint32_t nworkers) {
  if (memory_limit <= 0)
    return 0;
  int64_t kib = memory_limit / 32 / nworkers / 1024;
  return kib < 4096 ? 4096 : kib > VG_KAFKA_QUEUED_KBYTES ? VG_KAFKA_QUEUED_KBYTES : kib;
}

/* The most delta entries a worker's epoch takes before it is handed, with or
 * without memory_limit: an epoch of a backlog otherwise grows for a whole
 * checkpoint_interval, millions of entries whose tables the worker and the
 * writer fault in and walk out of cache. Measured on the 20.5 M sensor drain
 * (2 shards, no limit, one run each on a shared 2-core VM): uncapped, 1
 * worker 30-33 s and 2 workers 38-39 s; capped at 2^17 entries 23.3 and
 * 26.2 s; at 2^18 23.7 and 23.2 s; at 2^19 26.2 and 34.9 s. The 5.1 M drain,
 * 1 worker: 11.1 s uncapped, 6.4-8.1 s at 2^18. The mobility workload (an
 * hour's window takes hundreds of events) rarely reaches it. */
#define EPOCH_ENTRIES_MAX ((size_t)1 << 18)

/* The delta entries of one epoch of a worker: memory_limit's share, at most
 * EPOCH_ENTRIES_MAX (the cap alone without a limit). The limit is split: an eighth to the
 * consumers' prefetch queues (queued_kbytes), an eighth to the workers' epochs -- each
 * worker has its current one, up to VG_AGG_MAX_PENDING waiting for the writer and one
 * being merged, all kept for reuse -- half to the writer's window table
 * (window_table_full: finals leave it at every commit once it is half
 * full), and a quarter to sketches (quantiles, distinct counts), the
 * publisher and the rest (the store writes its pages in its mapped file:
 * page cache, not anonymous memory). */
static size_t epoch_cap(int64_t memory_limit, uint32_t nworkers) {
  if (memory_limit <= 0)
    return EPOCH_ENTRIES_MAX;
  uint64_t per_epoch = (uint64_t)memory_limit / 8 / nworkers / (VG_AGG_MAX_PENDING + 2);
  size_t cap = (size_t)(per_epoch / DELTA_ENTRY_BYTES);
  return cap == 0 ? 1 : cap < EPOCH_ENTRIES_MAX ? cap : EPOCH_ENTRIES_MAX;
}

/* memory_limit's share of one producer's queue of unacknowledged messages,
 * in KiB (0: no limit, librdkafka's default): a sixty-fourth, 4-64 MiB. */
static int64_t producer_kbytes(int64_t memory_limit) {
  if (memory_limit <= 0)
    return 0;
  int64_t kib = memory_limit / 64 / 1024;
  return kib < 4096 ? 4096 : kib > 65536 ? 65536 : kib;
}

/* memory_limit's shares for nworkers workers (all 0 but the epochs' cap: no limit): the
 * epochs' (epoch_cap), the prefetch's (queued_kbytes), fetches of 1 MiB a
 * partition instead of 4 -- the partitions then advance more evenly in event
 * time, so fewer windows wait open for the slowest one (the watermark), and
 * a fetch response pins less (a 20 M-event drain: RssAnon 1,011 -> 808 MiB,
 * the window table 506 -> 327 MiB at its largest, speed unchanged) --
 * half to the writer's window table (window_table_full), and a sixty-fourth
 * (4-64 MiB) to each producer's queue of unacknowledged messages, the
 * rollup publisher's and each worker's dead letters' (librdkafka's default
 * is 1 GiB; a full queue makes the producer wait); and the memory gate's
 * marks (memory_gate): 7/8 of the limit, then steps of a sixteenth. */
static struct memory_shares memory_shares(int64_t memory_limit, uint32_t nworkers) {
  if (memory_limit <= 0)
    return (struct memory_shares){0};
  return (struct memory_shares){.epoch_entries = epoch_cap(memory_limit, nworkers),
                                .prefetch_kib = queued_kbytes(memory_limit, nworkers),
                                .partition_fetch_bytes = 1 << 20,
                                .window_bytes = (size_t)memory_limit / 2,
                                .producer_kib = producer_kbytes(memory_limit),
                                .anon_high = memory_limit - memory_limit / 8,
                                .anon_step = memory_limit / 16};
}

/* The aggregator's options from the configuration, for nworkers workers
 * over the engine's partitions. */
static struct vg_agg_opts vg_agg_opts_of(const struct vg_engine *e, uint32_t nworkers) {
  const struct vg_config *cfg = e->cfg;
  struct vg_agg_opts ao = {.nworkers = nworkers,
                           .nparts = (uint32_t)e->nparts,
                           .base_s = cfg->base_ns / NS_PER_S,
                           .ooo_ns = cfg->out_of_orderness_ns,
                           .idle_ns = cfg->idle_timeout_ns,
                           .win = {.lateness_s = cfg->lateness_ns / NS_PER_S,
                                   /* a reading goes into each resolution that still
                                    * retains it (0 = forever): late ones into hours and
                                    * days when their base windows are retired */
                                   .retention_s = {cfg->retention_base_ns / NS_PER_S,
                                                   cfg->retention_1h_ns / NS_PER_S,
                                                   cfg->retention_1d_ns / NS_PER_S},
                                   .acc = VG_ACC_OPTS_DEFAULT},
                           .dedupe_s = dedupe_horizon_s(cfg)};
  /* the configured sources' (the store role's too: its deltas come from them) */
  for (size_t s = 0; s < cfg->nsources; s++) {
    ao.win.acc.quantiles |= cfg->sources[s].quantiles;
    ao.win.acc.distinct |= cfg->sources[s].distinct_key != NULL;
  }
  for (int r = 0; r < 3; r++) /* a window is kept at least until it is final */
    if (ao.win.retention_s[r] && ao.win.retention_s[r] < ao.win.lateness_s)
      ao.win.retention_s[r] = ao.win.lateness_s;
  return ao;
}

/* The ingest role's worker: its codecs, its own aggregator, its consumer in
 * the group (subscribed; partitions come through the rebalance hooks), its
 * transactional producer (transactional.id vigie-ingest-INSTANCE-wN: a
 * restarted instance fences its predecessor's), its dead letters into the
 * transaction, and the delta topic's partitions. */
static int ingest_worker_start(struct vg_engine *e, struct engine_worker *w,
                               const char *const *assigned, size_t nassigned,
                               struct vg_kafka_conf kc, char *errstr,
                               size_t errstr_size) {
  const struct vg_config *cfg = e->cfg;
  char err[512];
  int rc;
  for (size_t s = 0; s < e->nsrcs; s++) {
    struct vg_codec_config cc;
    codec_config(e->srcs[s].conf, &cc);
    rc = vg_codec_new(&cc, &w->codecs[s], err, sizeof err);
    if (rc)
      return vg_errstr_rc(rc, errstr, errstr_size, "source %s: %s",
                          e->srcs[s].conf->topic, err);
  }
  struct vg_agg_opts ao = vg_agg_opts_of(e, 1);
  rc = vg_agg_new(e->tz, &ao, now_ns(), &w->own, errstr, errstr_size);
  if (rc)
    return rc;
  w->aw = vg_agg_worker(w->own, 0);
  w->owned = calloc(e->nparts, 1);
  w->drain_end = calloc(e->nparts, sizeof *w->drain_end);
  if (!w->owned || !w->drain_end)
    return start_failed(0, "starting the ingestion", errstr, errstr_size);
  char cid[64], tid[512];
  snprintf(cid, sizeof cid, "vigied-ingest-%u", w->id);
  snprintf(tid, sizeof tid, "vigie-ingest-%s-w%u", e->instance_id, w->id);
  kc.client_id = cid;
  struct vg_kafka_conf ckc = kc;
  ckc.queued_kbytes = e->shares.prefetch_kib;
  ckc.partition_fetch_bytes = e->shares.partition_fetch_bytes;
  ckc.group = cfg->kafka_group;
  w->rebalance = (struct vg_kafka_rebalance){w, ingest_assigned, ingest_revoked};
  ckc.rebalance = &w->rebalance;
  rc = vg_kafka_consumer_new(&w->kc, &ckc, errstr, errstr_size);
  if (rc)
    return rc;
  const char *dt = cfg->kafka_deltas_topic;
  rc = vg_kafka_count_partitions(w->kc, &dt, 1, 10000, &w->ndeltas, errstr, errstr_size);
  if (rc)
    return rc;
  if (w->ndeltas <= 0)
    return vg_errstr_rc(
        VG_ENOTFOUND, errstr, errstr_size,
        "kafka.deltas_topic %s does not exist yet: create it (replicated; its "
        "partitions split the store's work, docs/scaleout.md)",
        dt);
  w->dbuf = calloc((size_t)w->ndeltas, sizeof *w->dbuf);
  if (!w->dbuf)
    return start_failed(0, "starting the ingestion", errstr, errstr_size);
  for (int32_t k = 0; k < w->ndeltas; k++)
    vg_delta_begin(&w->dbuf[k], VG_DELTA_DELTAS);
  if (e->o.drain) {
    for (size_t p = 0; p < e->nparts; p++) {
      rc = vg_kafka_end_offset(w->kc, e->parts[p].topic, e->parts[p].partition, 10000,
                               &w->drain_end[p], errstr, errstr_size);
      if (rc)
        return rc;
    }
  }
  kc.produce_queue_kbytes = e->shares.producer_kib;
  /* a transaction lives an epoch and its commit: the coordinator's timeout
   * leaves room for both (the brokers cap it at transaction.max.timeout.ms,
   * 15 min by default) */
  int64_t txn_ms = 2 * (cfg->checkpoint_interval_ns / 1000000) + 60000;
  rc = vg_txn_new(&kc, tid, txn_ms < 900000 ? txn_ms : 900000, 60000, &w->txn, errstr,
                  errstr_size);
  if (rc)
    return rc;
  rc = vg_deadletter_new_txn(vg_txn_client(w->txn), cfg->kafka_dead_letter_topic, &w->dl);
  if (rc)
    return start_failed(rc, "starting the ingestion", errstr, errstr_size);
  rc = vg_txn_begin(w->txn, errstr, errstr_size);
  if (rc)
    return rc;
  VG_LOG_INFO("ingest role: joining the group",
              "group=%s transactional_id=%s "
              "deltas_topic=%s delta_partitions=%d",
              cfg->kafka_group, tid, dt, (int)w->ndeltas);
  return vg_kafka_subscribe(w->kc, assigned, nassigned, errstr, errstr_size);
}

/* Worker w's codecs, its consumer assigned to its partitions of the topics
 * `assigned`, and its dead-letter producer. 0, or an error errstr names. */
static int worker_start(struct vg_engine *e, struct engine_worker *w,
                        const char *const *assigned, size_t nassigned,
                        struct vg_kafka_conf kc, char *errstr, size_t errstr_size) {
  const struct vg_config *cfg = e->cfg;
  char err[512];
  int rc;
  w->codecs = calloc(e->nsrcs, sizeof *w->codecs);
  w->msgs = calloc(e->nsrcs, sizeof *w->msgs);
  w->bytes = calloc(e->nsrcs, sizeof *w->bytes);
  if (!w->codecs || !w->msgs || !w->bytes ||
      vg_kafka_positions_copy(&w->dl_merged, &e->dl_start) != 0)
    return start_failed(0, "starting the ingestion", errstr, errstr_size);
  if (e->role == VG_ROLE_INGEST)
    return ingest_worker_start(e, w, assigned, nassigned, kc, errstr, errstr_size);
  for (size_t s = 0; s < e->nsrcs && e->role == VG_ROLE_STANDALONE; s++) {
    struct vg_codec_config cc;
    codec_config(e->srcs[s].conf, &cc);
    rc = vg_codec_new(&cc, &w->codecs[s], err, sizeof err);
    if (rc) {
      snprintf(errstr, errstr_size, "source %s: %s", e->srcs[s].conf->topic, err);
      return rc;
    }
  }
  char cid[32];
  snprintf(cid, sizeof cid, "vigied-%u", w->id);
  kc.client_id = cid;
  struct vg_kafka_conf ckc = kc;
  ckc.read_committed = e->role == VG_ROLE_STORE;
  ckc.queued_kbytes = e->shares.prefetch_kib;
  ckc.partition_fetch_bytes = e->shares.partition_fetch_bytes;
  rc = vg_kafka_consumer_new(&w->kc, &ckc, errstr, errstr_size);
  if (rc)
    return rc;
  kc.produce_queue_kbytes = e->shares.producer_kib;
  if (e->role == VG_ROLE_STANDALONE) /* the store role rejects nothing */
    rc = vg_deadletter_new(&kc, cfg->kafka_dead_letter_topic,
                           e->dl_start.n ? &e->dl_start : NULL, e->dl_seen, &w->dl,
                           errstr, errstr_size);
  if (rc)
    return rc;
  rc = vg_kafka_assign_all(w->kc, assigned, nassigned, start_offset, w, 30000, errstr,
                           errstr_size);
  if (rc == 0 && e->o.drain)
    rc = vg_kafka_mark_end(w->kc, 30000, errstr, errstr_size);
  return rc;
}

/* The topics vigied writes, created when missing (docs/publication.md,
 * "Output topics"): the rollup topic, compacted, where this role publishes
 * rollups; the dead-letter topic where it ingests. The embedded broker
 * made them already. */
static int output_topics(struct vg_engine *e, struct vg_kafka_consumer *meta,
                         char *errstr, size_t errstr_size) {
  const struct vg_config *cfg = e->cfg;
  int parts = (int)cfg->kafka_topic_partitions, repl = (int)cfg->kafka_topic_replication;
  struct vg_kafka_new_topic t[2];
  size_t n = 0, created = 0;
  if (e->mock)
    return 0;
  if (e->role != VG_ROLE_STORE)
    t[n++] = (struct vg_kafka_new_topic){cfg->kafka_dead_letter_topic, parts, repl, 0};
  if (cfg->publish_rollups && e->role != VG_ROLE_INGEST)
    t[n++] = (struct vg_kafka_new_topic){cfg->kafka_rollup_topic, parts, repl, 1};
  return vg_kafka_create_topics(meta, t, n, 5000, &created, errstr, errstr_size);
}

/* Connects: the source partitions (a missing topic is waited for), the
 * aggregator with the committed state, the dead letters' read-back, and
 * the workers with their consumers assigned. 0; VG_ETIMEOUT / VG_EKAFKA
 * (the brokers: retry later), VG_ENOTFOUND (no source topic exists yet:
 * retry later), or another error, fatal. errstr says which. */
static int ingest_start(struct vg_engine *e, char *errstr, size_t errstr_size) {
  const struct vg_config *cfg = e->cfg;
  char err[512];
  int rc = -ENOMEM;
  const char **topics = NULL;
  int32_t *counts = NULL;
  /* the store role reads one topic, the deltas, as its one source */
  e->nsrcs = e->role == VG_ROLE_STORE ? 1 : cfg->nsources;
  e->srcs = calloc(e->nsrcs ? e->nsrcs : 1, sizeof *e->srcs);
  if (!e->srcs)
    goto fail;
  e->delta_src = (struct vg_source_conf){.topic = cfg->kafka_deltas_topic};
  for (size_t s = 0; s < e->nsrcs; s++)
    e->srcs[s].conf = e->role == VG_ROLE_STORE ? &e->delta_src : &cfg->sources[s];
  topics = source_topics(e);
  counts = calloc(e->nsrcs ? e->nsrcs : 1, sizeof *counts);
  if (!topics || !counts)
    goto fail;

  /* the partitions of every source topic, numbered for the aggregator */
  struct vg_kafka_conf kc = {
      .brokers = e->brokers, .client_id = "vigied", .properties = e->props};
  struct vg_kafka_consumer *meta = NULL;
  rc = vg_kafka_consumer_new(&meta, &kc, errstr, errstr_size);
  if (rc == 0)
    rc = output_topics(e, meta, errstr, errstr_size);
  if (rc == 0)
    rc = vg_kafka_count_partitions(meta, topics, e->nsrcs, 5000, counts, errstr,
                                   errstr_size);
  vg_kafka_consumer_free(meta);
  if (rc)
    goto fail_quiet;
  size_t present = 0, off = 0;
  e->missing[0] = '\0';
  for (size_t s = 0; s < e->nsrcs; s++) {
    if (counts[s] > 0) {
      present++;
      rc = add_parts(e, s, counts[s]);
      if (rc)
        goto fail;
    } else if (off < sizeof e->missing) {
      off += (size_t)snprintf(e->missing + off, sizeof e->missing - off, "%s%s",
                              off ? ", " : "", topics[s]);
    }
  }
  if (present == 0) {
    snprintf(errstr, errstr_size, "no source topic exists yet: %s", e->missing);
    rc = VG_ENOTFOUND;
    goto fail_quiet;
  }
  e->nread = e->nparts;
  for (size_t i = 0; e->role == VG_ROLE_STORE && i < cfg->store_delta_partitions.n; i++)
    if (atol(cfg->store_delta_partitions.v[i]) >= (long)e->nread) {
      snprintf(errstr, errstr_size,
               "store.delta_partitions: %s has no partition %s (it has %zu)",
               cfg->kafka_deltas_topic, cfg->store_delta_partitions.v[i], e->nread);
      rc = VG_ECONFIG;
      goto fail_quiet;
    }
  if (e->role == VG_ROLE_STORE) {
    /* the slots of the source partitions the watermarks will name */
    e->slot_names = calloc(STORE_SOURCE_SLOTS, sizeof *e->slot_names);
    e->slot_marks = malloc(STORE_SOURCE_SLOTS * e->nread * sizeof *e->slot_marks);
    if (!e->slot_names || !e->slot_marks)
      goto fail;
    for (size_t k = 0; k < STORE_SOURCE_SLOTS * e->nread; k++)
      e->slot_marks[k] = (struct vg_part_pos){-1, INT64_MIN, INT64_MIN};
    for (size_t k = 0; k < STORE_SOURCE_SLOTS; k++) {
      if (VG_GROW(e->parts, e->nparts + 1, e->capparts))
        goto fail;
      e->parts[e->nparts++] = (struct part){
          .partition = -1, .start = VG_KAFKA_OFFSET_BEGINNING, .dl_found = -1};
    }
  }
  if (e->missing[0])
    VG_LOG_WARN(e->o.drain
                    ? "source topics missing: nothing to drain from them"
                    : "source topics missing: waiting for them, the others are read",
                "topics=\"%s\"", e->missing);

  /* the aggregator and its state from the store */
  e->nworkers = e->role == VG_ROLE_STORE ? 1 : (uint32_t)cfg->workers;
  if (e->nworkers > e->nread)
    e->nworkers = (uint32_t)e->nread; /* a worker without partitions is idle */
  struct vg_agg_opts ao = vg_agg_opts_of(e, e->nworkers);
  rc = vg_agg_new(e->tz, &ao, now_ns(), &e->agg, errstr, errstr_size);
  if (rc)
    goto fail_quiet;
  for (size_t p = 0; p < e->nparts; p++) {
    /* the store role's slots of source partitions belong to its one worker */
    e->parts[p].worker = p < e->nread ? (uint32_t)(p % e->nworkers) : 0;
    vg_agg_assign(e->agg, (uint32_t)p, e->parts[p].worker);
    if (e->role == VG_ROLE_STORE) /* the watermark is the sources' (process_delta) */
      vg_agg_no_watermark(e->agg, (uint32_t)p, p < e->nread);
  }
  if (e->role == VG_ROLE_INGEST)
    goto workers; /* no state: the group's offsets say where to resume */
  /* a revision of a sealed window (no longer in memory) starts from the
   * store's state of it */
  rc = vg_windows_set_loader(vg_agg_writer_windows(e->agg), vg_store_window_loader,
                             e->store);
  if (rc)
    goto fail;
  /* and a duplicate of a reading committed earlier, from its fingerprints */
  vg_windows_set_fp_loader(vg_agg_writer_windows(e->agg), vg_store_fp_loader, e->store);
  struct vg_store_state st = {0};
  rc = load_shards(e, &st, err, sizeof err);
  if (rc == -ENOMEM)
    goto fail;
  if (rc) {
    snprintf(errstr, errstr_size, "loading the store's state: %s", err);
    goto fail_quiet;
  }
  if (st.watermark_ns != INT64_MIN)
    vg_agg_restore_watermark(e->agg, st.watermark_ns);
  /* the store role's slots go on from what was committed, for every delta
   * partition alike */
  for (size_t p = e->nread; e->slot_marks && p < e->nparts && e->parts[p].topic; p++)
    for (size_t k = 0; k < e->nread; k++)
      e->slot_marks[(p - e->nread) * e->nread + k] = vg_agg_position(e->agg, (uint32_t)p);
  e->epoch = st.epoch;
  e->emit_next = st.emit_seq;
  e->rollup_saved = st.rollup_seq;
  VG_LOG_INFO("store loaded",
              "data_dir=%s epoch=%" PRIu64 " open_windows=%" PRIu64 " positions=%" PRIu64
              " partitions=%zu workers=%u",
              e->data_dir, st.epoch, st.nopen, st.npos, e->nparts, e->nworkers);

  /* what a crash may have left in the dead-letter topic */
  if (e->role == VG_ROLE_STANDALONE)
    rc = dl_read_back(e, &kc, errstr, errstr_size);
  if (rc)
    goto fail_quiet;
workers:

  /* the workers: consumer, codecs, dead-letter producer each */
  e->workers = calloc(e->nworkers, sizeof *e->workers);
  if (!e->workers)
    goto fail;
  const char **assigned = calloc(e->nsrcs, sizeof *assigned);
  size_t nassigned = 0;
  if (!assigned)
    goto fail;
  for (size_t s = 0; s < e->nsrcs; s++)
    if (e->srcs[s].nparts > 0)
      assigned[nassigned++] = e->srcs[s].conf->topic;
  e->shares = memory_shares(e->cfg->memory_limit, e->nworkers);
  if (e->cfg->memory_limit > 0)
    VG_LOG_INFO("memory_limit shares",
                "limit_mib=%" PRId64 " epoch_entries=%zu prefetch_payload_kib=%" PRId64
                " partition_fetch_bytes=%" PRId64 " window_table_mib=%zu"
                " producer_queue_kib=%" PRId64 " memory_gate_mib=%" PRId64
                " memory_gate_step_mib=%" PRId64,
                e->cfg->memory_limit >> 20, e->shares.epoch_entries,
                e->shares.prefetch_kib, e->shares.partition_fetch_bytes,
                e->shares.window_bytes >> 20, e->shares.producer_kib,
                e->shares.anon_high >> 20, e->shares.anon_step >> 20);
  if (e->cfg->memory_limit > 0 && e->statm_fd < 0)
    VG_LOG_WARN("memory_limit: /proc/self/statm cannot be read; the memory gate is off, "
                "the shares still hold",
                "error=\"%s\"", strerror(e->statm_errno));
  for (uint32_t i = 0; i < e->nworkers; i++) {
    struct engine_worker *w = &e->workers[i];
    w->e = e;
    w->id = i;
    w->epoch_cap = e->shares.epoch_entries;
    pthread_mutex_init(&w->mu, NULL);
    vg_event_batch_init(&w->batch);
    w->aw = vg_agg_worker(e->agg, i);
    rc = worker_start(e, w, assigned, nassigned, kc, errstr, errstr_size);
    if (rc) {
      free(assigned);
      goto fail_quiet;
    }
  }
  free(assigned);
  register_metrics(e);
  free(topics);
  free(counts);
  return 0;
fail:
  rc = start_failed(rc, "starting the ingestion", errstr, errstr_size);
fail_quiet:
  free(topics);
  free(counts);
  ingest_stop(e);
  return rc;
}

/* 1 when the ingestion may start later (the brokers, a topic). */
static int transient(int rc) {
  return rc == VG_ETIMEOUT || rc == VG_EKAFKA || rc == VG_ENOTFOUND;
}

/* ---- the serve role (serve.h) ---------------------------------------------------- */

static int serve_stopping(void *ctx) {
  struct vg_engine *e = ctx;
  return vg_atomic_load_acquire_int(&e->stop);
}

static void serve_status(void *ctx, int ready, const char *why) {
  struct vg_engine *e = ctx;
  set_kafka_up(e, ready, ready ? NULL : why);
  set_status(e, "%s", ready ? "" : why);
  vg_atomic_store_release_int(&e->ready, ready);
}

static void serve_committed(void *ctx, uint64_t windows) {
  struct vg_engine *e = ctx;
  if (e->epochs)
    vg_counter_add(e->epochs, 1);
  if (e->finalized)
    vg_counter_add(e->finalized, windows);
}

/* The indicators' step for the serve loop: the rows and their emit-log
 * records (indicators_step leaves these in e->emits), and the blob of the
 * position they reflect. */
static int serve_indicators(void *ctx, int force, struct serve_ind *out, char *errstr,
                            size_t errstr_size) {
  struct vg_engine *e = ctx;
  e->emits.n = 0;
  e->ind_force |= force;
  e->serve_ind_cursor = e->ind_cursor;
  int stepped = 0;
  int rc = indicators_step(e, &out->rows, &out->nrows, &e->serve_ind_cursor, &stepped,
                           errstr, errstr_size);
  if (rc || !stepped)
    return rc;
  out->emit = e->emits.v;
  for (int b = 0; b < 8; b++)
    e->ind_blob[b] = (uint8_t)(e->serve_ind_cursor >> (8 * b));
  out->blob = (struct vg_store_blob){
      .name = "indicators", .data = e->ind_blob, .len = e->ind_blob_len};
  e->serve_ind_stepped = 1;
  return 0;
}

static void serve_indicators_done(void *ctx, int committed) {
  struct vg_engine *e = ctx;
  if (e->serve_ind_stepped && committed)
    e->ind_cursor = e->serve_ind_cursor;
  else if (e->serve_ind_stepped)
    vg_indicators_forget(e->ind); /* stepped again from the committed cursor */
  e->serve_ind_stepped = 0;
  e->emits.n = 0;
}

static uint64_t serve_indicators_cursor(void *ctx) {
  const struct vg_engine *e = ctx;
  return e->ind_cursor;
}

static int serve_main(struct vg_engine *e, char *errstr, size_t errstr_size) {
  struct serve_opts so = {.cfg = e->cfg,
                          .store = e->store,
                          .tz = e->tz,
                          .hkey = e->hkey,
                          .brokers = e->brokers,
                          .props = e->props,
                          .drain = e->o.drain,
                          .stopping = serve_stopping,
                          .status = serve_status,
                          .committed = serve_committed,
                          .indicators = e->ind ? serve_indicators : NULL,
                          .indicators_done = e->ind ? serve_indicators_done : NULL,
                          .indicators_cursor = e->ind ? serve_indicators_cursor : NULL,
                          .ctx = e};
  return serve_run(&so, errstr, errstr_size);
}

int vg_engine_run(struct vg_engine *e, char *errstr, size_t errstr_size) {
  if (e->role == VG_ROLE_SERVE)
    return serve_main(e, errstr, errstr_size);
  int64_t backoff = NS_PER_S, first_fail = 0, last_abort = 0;
  int aborts = 0;
  char err[1024], last[1024] = "";
  for (;;) {
    if (vg_atomic_load_acquire_int(&e->stop))
      return 0; /* nothing was consumed: nothing to commit */
    int rc = ingest_start(e, err, sizeof err);
    if (rc == 0) {
      set_kafka_up(e, 1, NULL);
      set_status(e, e->missing[0] ? "source topics missing (waited for): %s" : "%s",
                 e->missing);
      last[0] = '\0';
      first_fail = 0;
      backoff = NS_PER_S;
      double writer0 = thread_cpu_s();
      rc = ingest_run(e, errstr, errstr_size);
      add_run_cpu(e, writer0);
      if (rc == 0)
        log_cpu_by_stage(e);
      ingest_stop(e);
      if (rc == VG_ERESTART) {
        VG_LOG_INFO("restarting the ingestion to take the new partitions", NULL);
        continue;
      }
      if (rc == VG_EABORTED) {
        /* a transaction lost to a rebalance or a zombie's fencing is rare;
         * one lost at every try (a record the brokers refuse, an ACL) must
         * not make the whole group rebalance in a loop: back off */
        int64_t now = now_ns();
        aborts = now - last_abort < 60 * NS_PER_S ? aborts + 1 : 0;
        last_abort = now;
        int64_t wait = aborts ? NS_PER_S << (aborts < 5 ? aborts : 5) : 0;
        VG_LOG_INFO("rejoining the group: the aborted epoch is read again",
                    "aborts_in_a_row=%d wait_s=%lld", aborts + 1,
                    (long long)(wait / NS_PER_S));
        for (int64_t until = now + wait;
             now_ns() < until && !vg_atomic_load_acquire_int(&e->stop);)
          nap_ms(100);
        continue;
      }
      return rc;
    }
    if (!transient(rc)) {
      snprintf(errstr, errstr_size, "%s", err);
      return rc;
    }
    if (rc == VG_ETIMEOUT)
      set_kafka_up(e, 0, err);
    else if (rc == VG_ENOTFOUND)
      set_kafka_up(e, 1, NULL);
    set_status(e, "%s", err);
    if (strcmp(err, last) != 0 && rc != VG_ETIMEOUT)
      VG_LOG_WARN("cannot ingest yet; serving the store and retrying", "error=\"%s\"",
                  err);
    snprintf(last, sizeof last, "%s", err);
    int64_t now = now_ns();
    if (!first_fail)
      first_fail = now;
    if (e->o.drain && now - first_fail >= e->cfg->kafka_drain_wait_ns) {
      snprintf(errstr, errstr_size, "cannot drain: %s", err);
      return rc;
    }
    /* the backoff, in small steps so that a stop is taken at once */
    for (int64_t until = now + backoff;
         now_ns() < until && !vg_atomic_load_acquire_int(&e->stop);) {
      nap_ms(100);
      keep_rollup_positions(e); /* the publisher may work without the sources */
    }
    backoff = backoff * 2 > 30 * NS_PER_S ? 30 * NS_PER_S : backoff * 2;
  }
}

int vg_engine_status(struct vg_engine *e, char *buf, size_t size) {
  int full = vg_atomic_load_acquire_int(&e->emit_full);
  pthread_mutex_lock(&e->status_mu);
  if (full)
    snprintf(buf, size,
             "emit log full: %" PRIu64 " records wait for the rollup topic %s%s%s",
             vg_atomic_load_relaxed_u64(&e->emit_waiting), e->cfg->kafka_rollup_topic,
             e->status[0] ? "; " : "", e->status);
  else
    snprintf(buf, size, "%s", e->status);
  pthread_mutex_unlock(&e->status_mu);
  return vg_atomic_load_acquire_int(&e->ready) && !full;
}

int vg_engine_store_stat(struct vg_engine *e, struct vg_store_stat *out) {
  return vg_store_stat(e->store, out);
}

int vg_engine_reader_begin(struct vg_engine *e, struct vg_store_reader **out) {
  return e->store ? vg_store_reader_begin(e->store, out) : VG_ENOTFOUND;
}

/* The indicators of the config, and the emit-log position their rows
 * reflect (blob "indicators"; absent: 0, the whole log). */
static int indicators_start(struct vg_engine *e, char *errstr, size_t errstr_size) {
  const struct vg_config *cfg = e->cfg;
  struct vg_api_opts ao;
  int rc = vg_config_api(cfg, &ao);
  if (rc == 0)
    rc = vg_api_indicators(&ao, &e->ind, errstr, errstr_size);
  vg_config_api_release(&ao);
  if (rc)
    return rc;
  struct vg_store_reader *r;
  rc = vg_store_reader_begin(e->store, &r);
  if (rc == 0) {
    void *blob = NULL;
    size_t len = 0;
    rc = vg_store_reader_blob(r, "indicators", &blob, &len);
    uint64_t built[64];
    size_t nbuilt = 0;
    if (rc == 0 && len >= 12) {
      const uint8_t *b = blob;
      uint32_t n = 0;
      for (int i = 0; i < 8; i++)
        e->ind_cursor |= (uint64_t)b[i] << (8 * i);
      for (int i = 0; i < 4; i++)
        n |= (uint32_t)b[8 + i] << (8 * i);
      for (size_t j = 0; j < n && j < 64 && 12 + 8 * (j + 1) <= len; j++) {
        built[nbuilt] = 0;
        for (int i = 0; i < 8; i++)
          built[nbuilt] |= (uint64_t)b[12 + 8 * j + i] << (8 * i);
        nbuilt++;
      }
    } else if (rc == VG_ENOTFOUND || rc == 0) {
      rc = 0;
    }
    free(blob);
    if (rc == 0)
      rc = vg_indicators_rebuild(e->ind, r, built, nbuilt);
    vg_store_reader_end(r);
  }
  if (rc) {
    snprintf(errstr, errstr_size, "reading the store's indicators: %s", vg_strerror(rc));
    return rc;
  }
  size_t n = vg_indicators_count(e->ind);
  e->ind_blob_len = 12 + 8 * n;
  if (!(e->ind_blob = calloc(1, e->ind_blob_len)))
    return -ENOMEM;
  for (int i = 0; i < 4; i++)
    e->ind_blob[8 + i] = (uint8_t)(n >> (8 * i));
  for (size_t j = 0; j < n; j++) {
    uint64_t fp = vg_indicators_fingerprint(e->ind, j);
    for (int i = 0; i < 8; i++)
      e->ind_blob[12 + 8 * j + i] = (uint8_t)(fp >> (8 * i));
  }
  e->ind_force = 1;
  if (e->o.metrics) {
    e->ind_rows_g =
        vg_metrics_counter(e->o.metrics, "vigie_indicator_rows_total",
                           "Indicator rows committed (new and revised)", NULL);
    e->ind_step_seconds = vg_metrics_histogram(
        e->o.metrics, "vigie_indicator_step_seconds",
        "Time of one indicator step (emit log read, rows recomputed).", NULL,
        commit_bounds, sizeof commit_bounds / sizeof commit_bounds[0]);
  }
  VG_LOG_INFO("indicators", "count=%zu cursor=%" PRIu64, cfg->nindicators, e->ind_cursor);
  return 0;
}

/* The gauges of publish.emit_log_max (emit_log_full keeps them). */
static void emit_log_gauges(struct vg_engine *e, struct vg_metrics *m) {
  if (!m)
    return;
  e->emit_records_g = vg_metrics_gauge(
      m, "vigie_emit_log_records",
      "Emit-log records the rollup topic has not acknowledged yet.", NULL);
  e->emit_max_g = vg_metrics_gauge(
      m, "vigie_emit_log_max", "publish.emit_log_max: the bound on those records.", NULL);
  e->emit_full_g =
      vg_metrics_gauge(m, "vigie_emit_log_full",
                       "1 while the emit log is full and ingestion paused (the rollup "
                       "topic takes no records), else 0.",
                       NULL);
  if (!e->emit_records_g || !e->emit_max_g || !e->emit_full_g) {
    e->emit_records_g = NULL; /* emit_log_full sets them all or none */
    return;
  }
  vg_gauge_set(e->emit_max_g, e->cfg->publish_emit_log_max);
  vg_gauge_set(e->emit_full_g, 0);
}

int vg_engine_new(const struct vg_engine_opts *opts, struct vg_engine **out, char *errstr,
                  size_t errstr_size) {
  const struct vg_config *cfg = opts->cfg;
  struct vg_engine *e = calloc(1, sizeof *e);
  int rc = -ENOMEM;
  if (!e)
    return -ENOMEM;
  e->cfg = cfg;
  e->o = *opts;
  e->role = cfg->role;
  if (cfg->instance_id)
    snprintf(e->instance_id, sizeof e->instance_id, "%s", cfg->instance_id);
  else if (gethostname(e->instance_id, sizeof e->instance_id - 1) != 0)
    snprintf(e->instance_id, sizeof e->instance_id, "vigie");
  pthread_mutex_init(&e->fail_mu, NULL);
  pthread_mutex_init(&e->status_mu, NULL);
  atomic_init(&e->kafka_up, -1);
  /* the memory gate's view of RssAnon; without it the gate stays open */
  e->statm_fd =
      cfg->memory_limit > 0 ? open("/proc/self/statm", O_RDONLY | O_CLOEXEC) : -1;
  e->statm_errno = errno;
  snprintf(e->status, sizeof e->status, "kafka: connecting");
  e->data_dir = strdup(opts->data_dir ? opts->data_dir : cfg->data_dir);
  if (!e->data_dir)
    goto fail;
  rc = vg_tz_load(cfg->timezone, &e->tz, errstr, errstr_size);
  if (rc)
    goto fail_quiet;

  /* the store first, and nothing that needs the brokers: the API serves it
   * whatever Kafka's state */
  if (mkdir(e->data_dir, 0750) != 0 && errno != EEXIST) {
    rc = -errno;
    snprintf(errstr, errstr_size, "data_dir %s: %s", e->data_dir, strerror(errno));
    goto fail_quiet;
  }
  struct vg_store_opts so = {.path = e->data_dir,
                             .durability = cfg->durability,
                             .retention_s = {cfg->retention_base_ns / NS_PER_S,
                                             cfg->retention_1h_ns / NS_PER_S,
                                             cfg->retention_1d_ns / NS_PER_S},
                             .dedupe_retention_s = dedupe_horizon_s(cfg),
                             .shards = (unsigned)cfg->store_shards,
                             .new_shards = auto_shards(),
                             .map_size = test_map_size()};
  if (e->role == VG_ROLE_SERVE) /* a territory's windows: one shard is plenty */
    so.shards = so.new_shards = 1;
  rc = vg_store_open(&so, &e->store, errstr, errstr_size);
  if (rc)
    goto fail_quiet;
  rc = committers_start(e);
  if (rc) {
    snprintf(errstr, errstr_size, "cannot start the shard committers: %s", strerror(-rc));
    goto fail_quiet;
  }
  rc = load_hash_key(e, errstr, errstr_size);
  if (rc)
    goto fail_quiet;

  /* Kafka: the embedded broker, or the configured one */
  if (strcmp(cfg->kafka_brokers, "embedded") == 0) {
    const char *bs;
    rc = vg_kafka_mock_new(&e->mock, 1, &bs, errstr, errstr_size);
    if (rc)
      goto fail_quiet;
    for (size_t s = 0; s < cfg->nsources; s++)
      vg_kafka_mock_create_topic(e->mock, cfg->sources[s].topic,
                                 (int)cfg->kafka_embedded_partitions);
    vg_kafka_mock_create_topic(e->mock, cfg->kafka_dead_letter_topic, 1);
    vg_kafka_mock_create_topic(e->mock, cfg->kafka_rollup_topic, 1);
    e->brokers = strdup(bs);
    VG_LOG_INFO("embedded Kafka broker (librdkafka mock cluster) started", "bootstrap=%s",
                bs);
  } else {
    e->brokers = strdup(cfg->kafka_brokers);
  }
  if (!e->brokers)
    goto fail;
  e->props = calloc(cfg->kafka_properties.n + 1, sizeof *e->props);
  if (!e->props)
    goto fail;
  for (size_t i = 0; i < cfg->kafka_properties.n; i++)
    e->props[i] = cfg->kafka_properties.v[i];
  if (opts->metrics) {
    e->kafka_up_g =
        vg_metrics_gauge(opts->metrics, "vigie_kafka_up",
                         "1 when the Kafka brokers answered the last request, "
                         "0 when they could not be reached.",
                         NULL);
    if (e->kafka_up_g)
      vg_gauge_set(e->kafka_up_g, 0);
  }
  /* a serve instance publishes no rollups of its own (yet) */
  int publishes = e->role != VG_ROLE_INGEST && e->role != VG_ROLE_SERVE;
  if (cfg->nindicators && e->role != VG_ROLE_INGEST) {
    rc = indicators_start(e, errstr, errstr_size);
    if (rc)
      goto fail_quiet;
  }
  if (cfg->publish_rollups && publishes) {
    struct vg_store_reader *r;
    struct vg_store_state st = {0};
    rc = vg_store_reader_begin(e->store, &r);
    if (rc == 0) {
      rc = vg_store_reader_meta(r, &st);
      vg_store_reader_end(r);
    }
    if (rc) {
      snprintf(errstr, errstr_size, "reading the store: %s", vg_strerror(rc));
      goto fail_quiet;
    }
    e->rollup_kc = (struct vg_kafka_conf){.brokers = e->brokers,
                                          .client_id = "vigied-rollups",
                                          .properties = e->props,
                                          .produce_queue_kbytes =
                                              producer_kbytes(cfg->memory_limit)};
    struct vg_rollup_opts ro = {.client = vg_engine_rollup_client(&e->rollup_kc),
                                .topic = cfg->kafka_rollup_topic,
                                .store = e->store,
                                .tz = e->tz,
                                .origin = {cfg->site, cfg->timezone},
                                .cursor = st.rollup_seq,
                                .metrics = opts->metrics,
                                .keep_positions = 1,
                                .indicators = e->ind};
    e->rollup_saved = st.rollup_seq;
    rc = vg_rollup_new(&ro, &e->rollup, errstr, errstr_size);
    if (rc)
      goto fail_quiet;
    emit_log_gauges(e, opts->metrics);
  }
  *out = e;
  return 0;
fail:
  rc = start_failed(rc, "starting the engine", errstr, errstr_size);
fail_quiet:
  vg_engine_free(e);
  return rc;
}

void vg_engine_free(struct vg_engine *e) {
  if (!e)
    return;
  ingest_stop(e);
  vg_rollup_free(e->rollup); /* reads the store: before it closes */
  vg_indicators_free(e->ind);
  free(e->ind_blob);
  committers_stop(e->cm);
  jobs_free(e);
  free(e->skip);
  vg_store_close(e->store);
  vg_kafka_mock_free(e->mock);
  vg_tz_free(e->tz);
  VEC_FREE(e->emits);
  VEC_FREE(e->series);
  free(e->series_keys.b);
  VEC_FREE(e->open);
  VEC_FREE(e->sealed);
  VEC_FREE(e->pos);
  VEC_FREE(e->fps);
  free(e->dl_blob);
  free(e->rollup_blob);
  free(e->props);
  free(e->brokers);
  free(e->data_dir);
  if (e->statm_fd >= 0)
    close(e->statm_fd);
  pthread_mutex_destroy(&e->status_mu);
  pthread_mutex_destroy(&e->fail_mu);
  free(e);
}
