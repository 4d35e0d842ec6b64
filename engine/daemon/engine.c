/*
 * The ingest engine (include/vigie/engine.h): worker threads that consume,
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
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vigie/codec.h"
#include "vigie/deadletter.h"
#include "vigie/engine.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/kafka.h"
#include "vigie/log.h"
#include "vigie/rollup.h"
#include "vigie/store.h"
#include "vigie/tz.h"
#include "vigie/worker.h"

#define BATCH 1024
#define NS_PER_S 1000000000LL

/* ---- small vectors ---------------------------------------------------------- */

#define VEC(T)                                                                 \
  struct {                                                                     \
    T *v;                                                                      \
    size_t n, cap;                                                             \
  }

#define VEC_PUSH(vec, x)                                                       \
  ((vec).n == (vec).cap ? vec_grow((void **)&(vec).v, &(vec).cap, sizeof *(vec).v) : 0) \
      ? -ENOMEM                                                                \
      : ((vec).v[(vec).n++] = (x), 0)

static int vec_grow(void **v, size_t *cap, size_t elem) {
  size_t nc = *cap ? *cap * 2 : 64;
  void *nv = realloc(*v, nc * elem);
  if (!nv)
    return -1;
  *v = nv;
  *cap = nc;
  return 0;
}

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
};

struct part {
  const char *topic; /* the source's */
  int32_t partition;
  uint32_t src, worker;
  int64_t start; /* where to resume: committed next offset, or beginning */
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
  _Atomic int done;
};

struct vg_engine {
  const struct vg_config *cfg;
  struct vg_engine_opts o;
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

  _Atomic int stop, ready, failed;
  pthread_mutex_t fail_mu;
  char fail_msg[1024];

  /* writer state */
  uint64_t epoch;
  /* publication: the rollup publisher (NULL when off), the next emit-log
   * sequence, and the rollup cursor last committed to the store */
  struct vg_rollup *rollup;
  uint64_t emit_next, rollup_saved;
  /* final windows sealed since memory was last compacted, and epochs since */
  uint64_t sealed_since_evict;
  unsigned epochs_since_evict;
  VEC(struct vg_store_emit) emits;
  VEC(struct vg_store_series) series;
  struct keybuf series_keys;
  VEC(const struct vg_wentry *) open, sealed;
  VEC(struct vg_store_pos) pos;
  struct vg_window_counters last_counters;
  /* the writer thread's CPU seconds merging epochs and committing them,
   * logged at the end of a run (where the writer's time goes) */
  double merge_cpu_s, commit_cpu_s;

  /* metrics (NULL without a registry) */
  struct vg_counter *rejects[VG_REJECT_REASON_COUNT], *agg_rejects[VG_AGG_REJECT_MAX];
  struct vg_counter *dead_letters, *epochs, *finalized, *revisions, *series_new;
  struct vg_gauge *watermark, *open_windows;
  struct vg_histogram *commit_seconds;
};

static const double commit_bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                       0.1,   0.2,   0.5,   1,    2,    5};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* CPU seconds of the calling thread. */
static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Records the first fatal error and asks everyone to stop. */
static void engine_fail(struct vg_engine *e, const char *msg) {
  pthread_mutex_lock(&e->fail_mu);
  if (!atomic_load(&e->failed)) {
    snprintf(e->fail_msg, sizeof e->fail_msg, "%s", msg);
    atomic_store(&e->failed, 1);
  }
  pthread_mutex_unlock(&e->fail_mu);
  atomic_store(&e->stop, 1);
  VG_LOG_ERROR("fatal error, stopping", "error=\"%s\"", msg);
}

void vg_engine_stop(struct vg_engine *e) {
  atomic_store_explicit(&e->stop, 1, memory_order_relaxed);
}

int vg_engine_ready(const struct vg_engine *e) {
  return atomic_load_explicit(&e->ready, memory_order_relaxed);
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
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t r = read(fd, e->hkey, sizeof e->hkey);
    close(fd);
    if (r != (ssize_t)sizeof e->hkey) {
      snprintf(errstr, errstr_size, "%s: expected 16 bytes of series-id key", path);
      return VG_ECORRUPT;
    }
    return 0;
  }
  if (errno != ENOENT) {
    snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    return -errno;
  }
  if (getrandom(e->hkey, sizeof e->hkey, 0) != (ssize_t)sizeof e->hkey) {
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

static int64_t start_offset(void *opaque, const char *topic, int32_t partition) {
  struct engine_worker *w = opaque;
  struct vg_engine *e = w->e;
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

/* Hands the epoch to the writer: dead letters acknowledged first, then the
 * new series keys, then the deltas and positions. 0, VG_EFULL (the writer is
 * behind: try again) or a fatal error (already reported). */
static int hand_epoch(struct engine_worker *w, int64_t now) {
  char err[512];
  int rc = vg_deadletter_flush(w->dl, 30000, err, sizeof err);
  if (rc == VG_ETIMEOUT) {
    VG_LOG_RATELIMITED(VG_LOG_WARN, 10000, "dead letters not acknowledged yet",
                       "worker=%u error=\"%s\"", w->id, err);
    return VG_EFULL; /* not fatal yet: the epoch waits, offsets do not move */
  }
  if (rc) {
    engine_fail(w->e, err);
    return rc;
  }
  if (w->pending.n) {
    pthread_mutex_lock(&w->mu);
    rc = keybuf_append(&w->handed, &w->pending);
    pthread_mutex_unlock(&w->mu);
    if (rc) {
      engine_fail(w->e, "out of memory handing series keys");
      return rc;
    }
    w->pending.len = w->pending.n = 0;
  }
  rc = vg_worker_flush(w->aw, now);
  if (rc == -ENOMEM) {
    engine_fail(w->e, "out of memory handing an epoch");
    return rc;
  }
  return rc;
}

/* Decodes and aggregates one message; returns its source's index. */
static size_t process(struct engine_worker *w, const struct vg_kafka_msg *m, int64_t now,
                      uint64_t *nevents) {
  struct vg_engine *e = w->e;
  size_t s = 0;
  while (s < e->nsrcs && strcmp(e->srcs[s].conf->topic, m->topic) != 0)
    s++;
  if (s == e->nsrcs || m->partition >= e->srcs[s].nparts)
    return s; /* not assigned by us: cannot happen */
  uint32_t part = e->srcs[s].first_part + (uint32_t)m->partition;
  struct vg_event_batch *b = &w->batch;
  vg_event_batch_clear(b);
  int rc = vg_codec_decode(w->codecs[s], m->payload, m->len, now, b);
  if (rc == -ENOMEM) {
    engine_fail(e, "out of memory decoding a message");
    return s;
  }
  if (b->n_rejects) {
    /* the message goes whole to the dead letters, with its first reason;
     * every rejected reading is counted */
    if (vg_deadletter_send(w->dl, m, vg_reject_name(b->rejects[0].reason),
                           b->rejects[0].offset) != 0) {
      engine_fail(e, "the dead-letter producer refused a message");
      return s;
    }
    if (e->dead_letters) {
      vg_counter_add(e->dead_letters, 1);
      for (size_t i = 0; i < b->n_rejects; i++)
        vg_counter_add(e->rejects[b->rejects[i].reason], 1);
    }
  }
  for (size_t i = 0; i < b->n_events; i++) {
    const struct vg_event *ev = &b->events[i];
    const char *key = vg_event_key(b, ev);
    uint64_t id = vg_siphash24(e->hkey, key, ev->key_len);
    int seen = known_add(w, id);
    if (seen == 0 && keybuf_add(&w->pending, key, ev->key_len) != 0)
      seen = -ENOMEM;
    if (seen < 0) {
      engine_fail(e, "out of memory recording a new series");
      return s;
    }
    struct vg_agg_event ae = {.series = id, .time_ns = ev->time_ns, .value = ev->value};
    if (ev->has_distinct) {
      ae.has_distinct = 1;
      ae.distinct = vg_siphash24(e->hkey, vg_event_distinct(b, ev), ev->distinct_len);
    }
    vg_worker_add(w->aw, part, m->offset, &ae, now);
  }
  if (b->n_events == 0)
    vg_worker_skip(w->aw, part, m->offset, now);
  *nevents += b->n_events;
  return s;
}

static void *worker_main(void *arg) {
  struct engine_worker *w = arg;
  struct vg_engine *e = w->e;
  static _Thread_local struct vg_kafka_msg msgs[BATCH];
  int64_t interval = e->cfg->checkpoint_interval_ns;
  int64_t next_epoch = now_ns() + interval;
  int stopping = 0, drained = 0;
  for (;;) {
    if (atomic_load_explicit(&e->failed, memory_order_relaxed))
      break;
    if (!stopping && atomic_load_explicit(&e->stop, memory_order_relaxed))
      stopping = 1;
    int64_t now = now_ns();
    if (stopping || drained || now >= next_epoch) {
      int rc = hand_epoch(w, now);
      if (rc == 0) {
        next_epoch = now + interval;
        if (stopping || drained)
          break; /* the last epoch is handed */
      } else if (rc == VG_EFULL) {
        /* the writer is behind: stop reading (librdkafka's prefetch queue is
         * bounded) until it has room */
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        continue;
      } else {
        break;
      }
    }
    ssize_t n = vg_kafka_consume(w->kc, msgs, BATCH, 100);
    if (n < 0) {
      engine_fail(e, "the Kafka consumer failed fatally");
      break;
    }
    uint64_t nevents = 0;
    now = now_ns();
    for (ssize_t i = 0; i < n; i++) {
      size_t s = process(w, &msgs[i], now, &nevents);
      if (s < e->nsrcs) {
        w->msgs[s]++;
        w->bytes[s] += msgs[i].len;
      }
    }
    if (n > 0 && e->srcs[0].messages) { /* shared counters: once per batch */
      for (size_t s = 0; s < e->nsrcs; s++) {
        if (!w->msgs[s])
          continue;
        vg_counter_add(e->srcs[s].messages, w->msgs[s]);
        vg_counter_add(e->srcs[s].bytes, w->bytes[s]);
        w->msgs[s] = w->bytes[s] = 0;
      }
      vg_counter_add(e->srcs[0].events, nevents);
    }
    if (e->o.drain && !drained && vg_kafka_drained(w->kc))
      drained = 1;
  }
  atomic_store_explicit(&w->done, 1, memory_order_release);
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
  struct vg_store_emit em = {.series = w->series, .res = w->res, .start = w->start,
                             .revision = w->revision};
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

static void update_metrics(struct vg_engine *e) {
  if (!e->epochs)
    return;
  const struct vg_windows *win = vg_agg_windows(e->agg);
  const struct vg_window_counters *c = &win->c;
  for (int r = 1; r < VG_AGG_REJECT_MAX; r++)
    vg_counter_add(e->agg_rejects[r], c->rejected[r] - e->last_counters.rejected[r]);
  vg_counter_add(e->finalized, c->finalized - e->last_counters.finalized);
  vg_counter_add(e->revisions, c->revisions - e->last_counters.revisions);
  e->last_counters = *c;
  vg_gauge_set(e->open_windows, (int64_t)win->t.n);
  int64_t wm = vg_agg_watermark(e->agg);
  vg_gauge_set(e->watermark, wm == INT64_MIN ? 0 : wm / NS_PER_S);
  for (size_t p = 0; p < e->nparts; p++) {
    struct part *pt = &e->parts[p];
    int64_t hw = vg_kafka_high_watermark(e->workers[pt->worker].kc, pt->topic,
                                         pt->partition);
    struct vg_part_pos pos = vg_agg_position(e->agg, (uint32_t)p);
    int64_t at = pos.next_offset >= 0 ? pos.next_offset : (pt->start >= 0 ? pt->start : 0);
    if (hw >= 0)
      vg_gauge_set(pt->lag, hw > at ? hw - at : 0);
  }
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
  if (vg_store_flush(e->store, wm - e->cfg->lateness_ns, 20000, 1, NULL, NULL, err,
                     sizeof err) != 0)
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "store flush failed", "error=\"%s\"", err);
  if (vg_store_retain(e->store, wm, 5000, 1, NULL, NULL, err, sizeof err) != 0)
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "retention failed", "error=\"%s\"", err);
  /* the emit log: keep publish.changes_keep records for the changes feed,
   * and every record the rollup topic has not acknowledged */
  uint64_t keep = (uint64_t)e->cfg->publish_changes_keep;
  uint64_t below = e->emit_next > keep ? e->emit_next - keep : 0;
  if (e->rollup && e->rollup_saved < below)
    below = e->rollup_saved;
  if (below && vg_store_trim_emit(e->store, below, 20000, NULL, err, sizeof err) != 0)
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "emit-log trim failed", "error=\"%s\"", err);
  if (vg_store_reader_check(e->store, &dead) == 0 && dead > 0)
    VG_LOG_WARN("cleared reader slots of dead processes", "count=%d", dead);
}

struct count_ctx {
  const struct vg_engine *e;
  int grown;
};

static void count_part(void *ctx, const char *topic, int32_t partition, int32_t n) {
  struct count_ctx *c = ctx;
  if (partition != 0)
    return;
  for (size_t s = 0; s < c->e->nsrcs; s++)
    if (strcmp(c->e->srcs[s].conf->topic, topic) == 0 && n > c->e->srcs[s].nparts) {
      VG_LOG_INFO("partitions were added to a source topic", "topic=%s partitions=%d was=%d",
                  topic, (int)n, (int)c->e->srcs[s].nparts);
      c->grown = 1;
    }
}

/* 1 when a source topic has more partitions than at start. */
static int partitions_grew(struct vg_engine *e) {
  const char **topics = calloc(e->nsrcs, sizeof *topics);
  char err[512];
  struct count_ctx c = {e, 0};
  if (!topics)
    return 0;
  for (size_t s = 0; s < e->nsrcs; s++)
    topics[s] = e->srcs[s].conf->topic;
  /* a metadata request on a worker's client: librdkafka handles are
   * thread-safe, and this neither consumes nor assigns */
  if (vg_kafka_list_partitions(e->workers[0].kc, topics, e->nsrcs, 5000, count_part, &c,
                               err, sizeof err) != 0)
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "cannot read topic metadata", "error=\"%s\"",
                       err);
  free(topics);
  return c.grown;
}

/* Builds and commits the epoch. 0, VG_EFULL/-ENOSPC (retry later, nothing
 * lost), or a fatal error. */
static int commit(struct vg_engine *e, char *err, size_t errsize) {
  struct vg_windows *win = vg_agg_writer_windows(e->agg);
  e->open.n = e->sealed.n = e->series.n = e->pos.n = 0;
  for (uint32_t i = 0; i < vg_windows_ndirty(win); i++) {
    const struct vg_wentry *w = vg_windows_dirty_at(win, i);
    if ((w->final ? VEC_PUSH(e->sealed, w) : VEC_PUSH(e->open, w)) != 0)
      return -ENOMEM;
  }
  for (size_t off = 0; off < e->series_keys.len;) {
    uint32_t len;
    memcpy(&len, e->series_keys.b + off, 4);
    const char *key = e->series_keys.b + off + 4;
    struct vg_store_series s = {.id = vg_siphash24(e->hkey, key, len), .key = key,
                                .key_len = len, .first_seen_ns = now_ns()};
    if (VEC_PUSH(e->series, s) != 0)
      return -ENOMEM;
    off += 4 + len;
  }
  for (size_t p = 0; p < e->nparts; p++) {
    struct vg_part_pos pp = vg_agg_position(e->agg, (uint32_t)p);
    if (pp.next_offset < 0)
      continue;
    struct vg_store_pos sp = {.topic = e->parts[p].topic,
                              .partition = (uint32_t)e->parts[p].partition,
                              .next_offset = pp.next_offset,
                              .max_event_ns = pp.max_event_ns,
                              .last_active_ns = pp.last_active_ns};
    if (VEC_PUSH(e->pos, sp) != 0)
      return -ENOMEM;
  }
  struct vg_store_epoch ep = {
      .epoch = e->epoch + 1,
      .open = e->open.v, .nopen = e->open.n,
      .sealed = e->sealed.v, .nsealed = e->sealed.n,
      .series = e->series.v, .nseries = e->series.n,
      .pos = e->pos.v, .npos = e->pos.n,
      .emit = e->emits.v, .nemit = e->emits.n,
      .watermark_ns = vg_agg_watermark(e->agg)};
  uint64_t cursor = e->rollup ? vg_rollup_cursor(e->rollup) : 0;
  if (cursor > e->rollup_saved)
    ep.rollup_seq = cursor; /* acknowledged by the broker: persist it */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = vg_store_commit(e->store, &ep, err, errsize);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (rc)
    return rc;
  e->epoch++;
  if (ep.rollup_seq)
    e->rollup_saved = ep.rollup_seq;
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
  if (++e->epochs_since_evict >= 30 || e->sealed_since_evict * 8 >= win->t.n) {
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
  int timeout = e->o.drain ? 60000 : 10000;
  if (vg_rollup_wait(e->rollup, e->emit_next, timeout) != 0)
    VG_LOG_WARN("rollups not all acknowledged before stopping; the rest at the next start",
                "cursor=%" PRIu64 " emit_seq=%" PRIu64, vg_rollup_cursor(e->rollup),
                e->emit_next);
  if (vg_rollup_cursor(e->rollup) > e->rollup_saved && commit(e, err, sizeof err) != 0)
    VG_LOG_WARN("cannot persist the rollup cursor", "error=\"%s\"", err);
}

int vg_engine_run(struct vg_engine *e, char *errstr, size_t errstr_size) {
  int rc = 0;
  for (uint32_t i = 0; i < e->nworkers; i++) {
    if (pthread_create(&e->workers[i].th, NULL, worker_main, &e->workers[i]) != 0) {
      engine_fail(e, "cannot start a worker thread");
      break;
    }
    e->workers[i].started = 1;
  }
  atomic_store(&e->ready, !atomic_load(&e->failed));
  int64_t interval = e->cfg->checkpoint_interval_ns;
  int commit_pending = 0;
  int64_t next_upkeep = now_ns() + 10 * NS_PER_S;
  int restart = 0;
  char err[1024];
  for (;;) {
    /* sleep one interval, waking early when everyone is done or stopping */
    int64_t until = now_ns() + interval;
    int all_done;
    for (;;) {
      all_done = 1;
      for (uint32_t i = 0; i < e->nworkers; i++)
        all_done &= atomic_load_explicit(&e->workers[i].done, memory_order_acquire);
      /* a worker with half its queue of epochs full is ahead of the writer
       * (a backlog, a backfill): commit now, not at the next interval, or
       * the writer idles while the worker waits for room */
      if (all_done || now_ns() >= until || vg_agg_backlog(e->agg) >= VG_AGG_MAX_PENDING / 2)
        break;
      struct timespec ts = {0, 2000000};
      nanosleep(&ts, NULL);
    }
    if (!commit_pending) {
      /* a drain's last round: every partition was read to the end it had at
       * start, so none has more to say -- all count as idle, and the
       * watermark becomes the highest partition watermark (window.h) */
      int64_t now = e->o.drain && all_done ? INT64_MAX : now_ns();
      double c0 = thread_cpu_s();
      int merged = vg_agg_collect(e->agg, now, on_emit, e);
      e->merge_cpu_s += thread_cpu_s() - c0;
      if (merged < 0) {
        engine_fail(e, "out of memory merging an epoch");
        break;
      }
      if (take_series(e) != 0) {
        engine_fail(e, "out of memory taking series keys");
        break;
      }
    }
    if (atomic_load(&e->failed))
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
    update_metrics(e);
    if (now_ns() >= next_upkeep) {
      upkeep(e);
      next_upkeep = now_ns() + 10 * NS_PER_S;
      if (!e->o.drain && !restart && partitions_grew(e)) {
        /* follow them: stop, commit, and let the caller rebuild the engine,
         * which assigns every partition again from the store's offsets */
        restart = 1;
        atomic_store(&e->stop, 1);
      }
    }
    if (all_done)
      break; /* this round collected their last epochs */
  }
  atomic_store(&e->stop, 1);
  for (uint32_t i = 0; i < e->nworkers; i++)
    if (e->workers[i].started) {
      pthread_join(e->workers[i].th, NULL);
      e->workers[i].started = 0;
    }
  if (e->rollup && !atomic_load(&e->failed) && !commit_pending)
    flush_rollups(e);
  atomic_store(&e->ready, 0);
  if (atomic_load(&e->failed)) {
    snprintf(errstr, errstr_size, "%s", e->fail_msg);
    return rc ? rc : VG_EKAFKA;
  }
  if (commit_pending) {
    snprintf(errstr, errstr_size, "the last epoch could not be committed: %s", err);
    return rc;
  }
  VG_LOG_INFO("stopped after committing",
              "epoch=%" PRIu64 " writer_merge_cpu_s=%.2f writer_commit_cpu_s=%.2f",
              e->epoch, e->merge_cpu_s, e->commit_cpu_s);
  return restart ? VG_ERESTART : 0;
}

/* ---- setup -------------------------------------------------------------------- */

static void add_part(void *ctx, const char *topic, int32_t partition, int32_t n) {
  struct vg_engine *e = ctx;
  size_t s = 0;
  while (s < e->nsrcs && strcmp(e->srcs[s].conf->topic, topic) != 0)
    s++;
  if (e->nparts == e->capparts) {
    size_t nc = e->capparts ? e->capparts * 2 : 64;
    struct part *np = realloc(e->parts, nc * sizeof *np);
    if (!np)
      return; /* detected by the count check after listing */
    e->parts = np;
    e->capparts = nc;
  }
  if (partition == 0) {
    e->srcs[s].first_part = (uint32_t)e->nparts;
    e->srcs[s].nparts = n;
  }
  e->parts[e->nparts++] = (struct part){.topic = e->srcs[s].conf->topic,
                                        .partition = partition, .src = (uint32_t)s,
                                        .start = VG_KAFKA_OFFSET_BEGINNING};
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
    e->parts[idx].start = p->next_offset;
    vg_agg_restore_position(e->agg, idx,
                            (struct vg_part_pos){p->next_offset, p->max_event_ns,
                                                 p->last_active_ns});
    return 0;
  }
  VG_LOG_WARN("stored position of a topic no longer configured is ignored",
              "topic=%s partition=%u", p->topic, p->partition);
  return 0;
}

static int codec_config(const struct vg_source_conf *s, struct vg_codec_config *c) {
  static const enum vg_time_format tf[] = {VG_TIME_AUTO, VG_TIME_UNIX, VG_TIME_UNIX_MS,
                                           VG_TIME_UNIX_US, VG_TIME_UNIX_NS,
                                           VG_TIME_RFC3339};
  static const enum vg_precision pr[] = {VG_PRECISION_NS, VG_PRECISION_US,
                                         VG_PRECISION_MS, VG_PRECISION_S};
  *c = (struct vg_codec_config){
      .format = s->format == VG_CONF_INFLUX  ? VG_FORMAT_INFLUX
                : s->format == VG_CONF_SENML ? VG_FORMAT_SENML
                                             : VG_FORMAT_JSON,
      .time_key = s->time_key,
      .time_format = tf[s->time_format],
      .time_zone = s->time_zone,
      .entity_key = s->entity_key,
      .tag_keys = (const char *const *)s->tag_keys.v,
      .n_tag_keys = s->tag_keys.n,
      .fields = (const char *const *)s->fields.v,
      .n_fields = s->fields.n,
      .count_as = s->count_as,
      .distinct_key = s->distinct_key,
      .precision = pr[s->precision],
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
  }
  struct vg_counter *events =
      vg_metrics_counter(m, "vigie_events_total", "Readings decoded and aggregated.", NULL);
  for (size_t s = 0; s < e->nsrcs; s++)
    e->srcs[s].events = events;
  for (int r = 0; r < VG_REJECT_REASON_COUNT; r++) {
    vg_metrics_labels(lb, sizeof lb, "reason", vg_reject_name((enum vg_reject_reason)r),
                      NULL);
    e->rejects[r] = vg_metrics_counter(m, "vigie_rejects_total",
                                       "Readings rejected, by reason.", lb);
  }
  static const char *const agg_reasons[VG_AGG_REJECT_MAX] = {
      NULL, "older_than_retention", "nan_or_inf", "out_of_memory"};
  for (int r = 1; r < VG_AGG_REJECT_MAX; r++) {
    vg_metrics_labels(lb, sizeof lb, "reason", agg_reasons[r], NULL);
    e->agg_rejects[r] = vg_metrics_counter(m, "vigie_rejects_total",
                                           "Readings rejected, by reason.", lb);
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
  e->commit_seconds = vg_metrics_histogram(m, "vigie_epoch_commit_seconds",
                                           "Time of one epoch's store transaction.", NULL,
                                           commit_bounds, sizeof commit_bounds /
                                                              sizeof commit_bounds[0]);
  for (size_t p = 0; p < e->nparts; p++) {
    char part[16];
    snprintf(part, sizeof part, "%d", (int)e->parts[p].partition);
    vg_metrics_labels(lb, sizeof lb, "topic", e->parts[p].topic, "partition", part, NULL);
    e->parts[p].lag = vg_metrics_gauge(
        m, "vigie_consumer_lag", "Messages between the committed offset and the end.", lb);
  }
}

int vg_engine_store_stat(struct vg_engine *e, struct vg_store_stat *out) {
  return vg_store_stat(e->store, out);
}

int vg_engine_reader_begin(struct vg_engine *e, struct vg_store_reader **out) {
  return e->store ? vg_store_reader_begin(e->store, out) : VG_ENOTFOUND;
}

int vg_engine_new(const struct vg_engine_opts *opts, struct vg_engine **out, char *errstr,
                  size_t errstr_size) {
  const struct vg_config *cfg = opts->cfg;
  struct vg_engine *e = calloc(1, sizeof *e);
  char err[1024];
  int rc = -ENOMEM;
  if (!e)
    return -ENOMEM;
  e->cfg = cfg;
  e->o = *opts;
  pthread_mutex_init(&e->fail_mu, NULL);
  if (!(e->data_dir = strdup(opts->data_dir ? opts->data_dir : cfg->data_dir)))
    goto fail;
  if ((rc = vg_tz_load(cfg->timezone, &e->tz, errstr, errstr_size)))
    goto fail_quiet;

  /* the store first: a store that cannot open is reported before anything
   * touches Kafka */
  if (mkdir(e->data_dir, 0750) != 0 && errno != EEXIST) {
    rc = -errno;
    snprintf(errstr, errstr_size, "data_dir %s: %s", e->data_dir, strerror(errno));
    goto fail_quiet;
  }
  struct vg_store_opts so = {
      .path = e->data_dir,
      .durability = cfg->durability == VG_CONF_DUR_ASYNC        ? VG_STORE_NOSYNC
                    : cfg->durability == VG_CONF_DUR_NOMETASYNC ? VG_STORE_NOMETASYNC
                                                                : VG_STORE_SYNC,
      .retention_s = {cfg->retention_base_ns / NS_PER_S, cfg->retention_1h_ns / NS_PER_S,
                      cfg->retention_1d_ns / NS_PER_S}};
  if ((rc = vg_store_open(&so, &e->store, errstr, errstr_size)))
    goto fail_quiet;
  if ((rc = load_hash_key(e, errstr, errstr_size)))
    goto fail_quiet;

  /* Kafka: the embedded broker, or the configured one */
  if (strcmp(cfg->kafka_brokers, "embedded") == 0) {
    const char *bs;
    if ((rc = vg_kafka_mock_new(&e->mock, 1, &bs, errstr, errstr_size)))
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

  /* the partitions of every source topic, numbered for the aggregator */
  e->nsrcs = cfg->nsources;
  e->srcs = calloc(e->nsrcs, sizeof *e->srcs);
  const char **topics = calloc(e->nsrcs, sizeof *topics);
  if (!e->srcs || !topics) {
    free(topics);
    goto fail;
  }
  for (size_t s = 0; s < e->nsrcs; s++) {
    e->srcs[s].conf = &cfg->sources[s];
    topics[s] = cfg->sources[s].topic;
  }
  struct vg_kafka_conf kc = {.brokers = e->brokers, .client_id = "vigied",
                             .properties = e->props};
  struct vg_kafka_consumer *meta = NULL;
  rc = vg_kafka_consumer_new(&meta, &kc, errstr, errstr_size);
  if (rc == 0)
    rc = vg_kafka_list_partitions(meta, topics, e->nsrcs, 30000, add_part, e, errstr,
                                  errstr_size);
  vg_kafka_consumer_free(meta);
  free(topics);
  if (rc)
    goto fail_quiet;
  size_t expect = 0;
  for (size_t s = 0; s < e->nsrcs; s++)
    expect += (size_t)e->srcs[s].nparts;
  if (e->nparts != expect)
    goto fail;

  /* the aggregator and its state from the store */
  e->nworkers = (uint32_t)cfg->workers;
  if (e->nworkers > e->nparts)
    e->nworkers = (uint32_t)e->nparts; /* a worker without partitions is idle */
  struct vg_agg_opts ao = {
      .nworkers = e->nworkers,
      .nparts = (uint32_t)e->nparts,
      .base_s = cfg->base_ns / NS_PER_S,
      .ooo_ns = cfg->out_of_orderness_ns,
      .idle_ns = cfg->idle_timeout_ns,
      .win = {.lateness_s = cfg->lateness_ns / NS_PER_S,
              /* a reading goes into each resolution that still retains it
               * (0 = forever): late ones into hours and days when their
               * base windows are retired */
              .retention_s = {cfg->retention_base_ns / NS_PER_S,
                              cfg->retention_1h_ns / NS_PER_S,
                              cfg->retention_1d_ns / NS_PER_S},
              .acc = VG_ACC_OPTS_DEFAULT}};
  for (size_t s = 0; s < e->nsrcs; s++) {
    ao.win.acc.quantiles |= cfg->sources[s].quantiles;
    ao.win.acc.distinct |= cfg->sources[s].distinct_key != NULL;
  }
  for (int r = 0; r < 3; r++) /* a window is kept at least until it is final */
    if (ao.win.retention_s[r] && ao.win.retention_s[r] < ao.win.lateness_s)
      ao.win.retention_s[r] = ao.win.lateness_s;
  if ((rc = vg_agg_new(e->tz, &ao, now_ns(), &e->agg, errstr, errstr_size)))
    goto fail_quiet;
  for (size_t p = 0; p < e->nparts; p++) {
    e->parts[p].worker = (uint32_t)(p % e->nworkers);
    vg_agg_assign(e->agg, (uint32_t)p, e->parts[p].worker);
  }
  /* a revision of a sealed window (no longer in memory) starts from the
   * store's state of it */
  if ((rc = vg_windows_set_loader(vg_agg_writer_windows(e->agg), vg_store_window_loader,
                                  e->store)))
    goto fail;
  struct vg_store_state st;
  if ((rc = vg_store_load(e->store, restore_window, restore_pos, e, &st, err, sizeof err))) {
    snprintf(errstr, errstr_size, "loading the store's state: %s", err);
    goto fail_quiet;
  }
  if (st.watermark_ns != INT64_MIN)
    vg_agg_restore_watermark(e->agg, st.watermark_ns);
  e->epoch = st.epoch;
  e->emit_next = st.emit_seq;
  e->rollup_saved = st.rollup_seq;
  VG_LOG_INFO("store loaded", "data_dir=%s epoch=%" PRIu64 " open_windows=%" PRIu64
              " positions=%" PRIu64 " partitions=%zu workers=%u",
              e->data_dir, st.epoch, st.nopen, st.npos, e->nparts, e->nworkers);

  /* the workers: consumer, codecs, dead-letter producer each */
  e->workers = calloc(e->nworkers, sizeof *e->workers);
  if (!e->workers)
    goto fail;
  for (uint32_t i = 0; i < e->nworkers; i++) {
    struct engine_worker *w = &e->workers[i];
    w->e = e;
    w->id = i;
    pthread_mutex_init(&w->mu, NULL);
    vg_event_batch_init(&w->batch);
    w->aw = vg_agg_worker(e->agg, i);
    if (!(w->codecs = calloc(e->nsrcs, sizeof *w->codecs)) ||
        !(w->msgs = calloc(e->nsrcs, sizeof *w->msgs)) ||
        !(w->bytes = calloc(e->nsrcs, sizeof *w->bytes)))
      goto fail;
    for (size_t s = 0; s < e->nsrcs; s++) {
      struct vg_codec_config cc;
      codec_config(e->srcs[s].conf, &cc);
      if ((rc = vg_codec_new(&cc, &w->codecs[s], err, sizeof err))) {
        snprintf(errstr, errstr_size, "source %s: %s", e->srcs[s].conf->topic, err);
        goto fail_quiet;
      }
    }
    char cid[32];
    snprintf(cid, sizeof cid, "vigied-%u", i);
    kc.client_id = cid;
    if ((rc = vg_kafka_consumer_new(&w->kc, &kc, errstr, errstr_size)) ||
        (rc = vg_deadletter_new(&kc, cfg->kafka_dead_letter_topic, &w->dl, errstr,
                                errstr_size)))
      goto fail_quiet;
    const char *const *tl = NULL;
    const char **tlist = calloc(e->nsrcs, sizeof *tlist);
    if (!tlist)
      goto fail;
    for (size_t s = 0; s < e->nsrcs; s++)
      tlist[s] = e->srcs[s].conf->topic;
    tl = tlist;
    rc = vg_kafka_assign_all(w->kc, tl, e->nsrcs, start_offset, w, 30000, errstr,
                             errstr_size);
    if (rc == 0 && opts->drain)
      rc = vg_kafka_mark_end(w->kc, 30000, errstr, errstr_size);
    free(tlist);
    if (rc)
      goto fail_quiet;
  }
  if (cfg->publish_rollups) {
    kc.client_id = "vigied-rollups";
    struct vg_rollup_opts ro = {.kafka = &kc, .topic = cfg->kafka_rollup_topic,
                                .store = e->store, .tz = e->tz,
                                .cursor = st.rollup_seq, .metrics = opts->metrics};
    if ((rc = vg_rollup_new(&ro, &e->rollup, errstr, errstr_size)))
      goto fail_quiet;
  }
  register_metrics(e);
  *out = e;
  return 0;
fail:
  if (rc == 0 || rc == -ENOMEM) {
    rc = -ENOMEM;
    snprintf(errstr, errstr_size, "out of memory starting the engine");
  }
fail_quiet:
  vg_engine_free(e);
  return rc;
}

void vg_engine_free(struct vg_engine *e) {
  if (!e)
    return;
  for (uint32_t i = 0; e->workers && i < e->nworkers; i++) {
    struct engine_worker *w = &e->workers[i];
    if (w->started)
      pthread_join(w->th, NULL);
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
    pthread_mutex_destroy(&w->mu);
  }
  free(e->workers);
  vg_rollup_free(e->rollup); /* reads the store: before it closes */
  vg_agg_free(e->agg);
  vg_store_close(e->store);
  vg_kafka_mock_free(e->mock);
  vg_tz_free(e->tz);
  free(e->emits.v);
  free(e->series.v);
  free(e->series_keys.b);
  free(e->open.v);
  free(e->sealed.v);
  free(e->pos.v);
  free(e->parts);
  free(e->srcs);
  free(e->props);
  free(e->brokers);
  free(e->data_dir);
  pthread_mutex_destroy(&e->fail_mu);
  free(e);
}
