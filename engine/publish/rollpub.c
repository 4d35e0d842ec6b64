/*
 * The rollup publisher (rollup.h): a thread that follows the store's emit
 * log and produces each record's window to the rollup topic, moving its
 * cursor only past batches the broker acknowledged in full.
 *
 * Why from the store and not from the writer: the writer only signals; the
 * windows are read back from a committed snapshot, so a message never
 * describes a state the store does not hold, the writer does no per-window
 * work for publication, and a restart resumes from the persisted cursor
 * with nothing else to recover. The reader is held for one pass's reads
 * only, never while waiting for the broker.
 *
 * Its Kafka clients come from the caller (struct vg_rollup_client): a
 * producer factory, called again after each fatal error, and the
 * read-back of the topic's tail. The daemon wires ingest's client there,
 * so publish does not depend on ingest; what is produced, when the cursor
 * moves and what the read-back skips are decided here, as before.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "common/atomic.h"
#include "vigie/array.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/indicator.h"
#include "vigie/log.h"
#include "vigie/rollup.h"
#include "vigie/segment.h"

/* The message of one record of the pass, formatted under the snapshot and
 * not produced yet (queue_msg, send_batch); msg NULL: nothing to produce. */
struct pending {
  char *key, *msg;
  size_t klen, len;
  uint32_t rev;
};

/* Batches read under one snapshot (a pass), and at most this many records
 * in a pass of several batches: the windows a pass names are read a
 * segment at a time, so the more records a pass holds, the fewer times a
 * segment is decoded (a backfill leaves the emit log in event-time order
 * across series: a batch of 5000 records over thousands of series names a
 * few windows of each segment). Its formatted messages are held until
 * produced: about 50 MB at most. */
#define PASS_BATCHES 16
#define PASS_RECORDS 80000

/* A (message key, revision) the read-back found on the topic. */
struct skip {
  uint64_t h;
  char *key; /* NULL: empty slot */
  uint32_t revision;
};

struct vg_rollup {
  rd_kafka_t *rk;
  struct vg_rollup_client client; /* new producers and the read-back */
  char *topic;
  struct vg_store *store;
  const struct vg_tz *tz;
  struct vg_rollup_origin origin;
  const struct vg_indicators *ind; /* NULL: none */
  size_t batch;                    /* records per batch: the cursor's step */
  size_t pass;                     /* records per read: whole batches */
  pthread_t th;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* notify, and cursor moves (vg_rollup_wait) */
  int signalled, stop;
  uint64_t begun, ended; /* attempts: the last begun, the last ended (under mu) */
  int stalled;           /* the last attempt failed: broker or topic unavailable */
  _Atomic uint64_t cursor;
  /* delivery reports of the batch in flight (publisher thread only) */
  uint64_t failed;
  rd_kafka_resp_err_t last_err;
  /* exactly once: positions acknowledged (delivery reports), positions as
   * of the cursor (under mu: vg_rollup_state), whether the tail was read
   * back since the start or the last fatal error, and what it found */
  struct vg_kafka_positions acked, at_cursor, skip_from;
  int scanned, fatal;
  int rescan; /* the next read-back starts at the cursor's positions */
  struct skip *skip;
  size_t nskip, skipmask;
  uint64_t skip_until; /* the skip set lives until the cursor reaches this */
  /* each read-back gives new positions (gen, under mu); nothing is
   * produced until the writer kept them (vg_rollup_kept): a crash before
   * that would leave records behind positions the store does not know */
  uint64_t gen;
  _Atomic uint64_t kept;
  _Atomic uint64_t skipped, recovered; /* read by any thread */
  uint64_t produced, fatal_at;
  struct vg_counter *published, *failures;
  struct vg_gauge *backlog, *gcursor;
  /* the pass: records read from the log */
  struct vg_store_emit *recs;
  size_t nrecs;
  char *key; /* series key of the window being read */
  size_t key_cap;
  size_t key_len;
  char *msg; /* its message */
  size_t msg_len;
  /* the pass's messages, one slot per record (recs[i]'s is pend[i]),
   * formatted under the snapshot and produced after it ends */
  struct pending *pend;
  /* the pass's records in reading order (read_pass), the group being
   * read (order[gi..gend)), and the messages of the batch produced */
  const struct vg_store_emit **order;
  size_t gi, gend;
  uint64_t nproduced;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  struct vg_rollup *p = opaque;
  if (m->err) {
    p->failed++;
    p->last_err = m->err;
    if (m->err == RD_KAFKA_RESP_ERR__FATAL || rd_kafka_fatal_error(rk, NULL, 0))
      p->fatal = 1;
    return;
  }
  if (m->partition < 0)
    return;
  if (m->partition >= p->acked.n) {
    int32_t n = m->partition + 1;
    int64_t *no = realloc(p->acked.off, (size_t)n * sizeof *no);
    if (!no)
      return; /* the positions stay behind: a read-back reads more, safe */
    for (int32_t k = p->acked.n; k < n; k++)
      no[k] = 0; /* a partition added since: from its beginning */
    p->acked.off = no;
    p->acked.n = n;
  }
  if (m->offset + 1 > p->acked.off[m->partition])
    p->acked.off[m->partition] = m->offset + 1;
}

/* ---- the skip set ------------------------------------------------------------ */

static uint64_t skip_hash(const char *key, size_t len, uint32_t revision) {
  return vg_fnv1a64(VG_FNV64_OFFSET, key, len) ^
         ((uint64_t)revision * 0x9e3779b97f4a7c15ULL);
}

static struct skip *skip_slot(const struct vg_rollup *p, uint64_t h, const char *key,
                              size_t len, uint32_t revision) {
  for (size_t i = h & p->skipmask;; i = (i + 1) & p->skipmask) {
    struct skip *q = &p->skip[i];
    if (!q->key || (q->h == h && q->revision == revision && strlen(q->key) == len &&
                    memcmp(q->key, key, len) == 0))
      return q;
  }
}

static int skip_has(const struct vg_rollup *p, const char *key, size_t len,
                    uint32_t revision) {
  if (!p->nskip)
    return 0;
  return skip_slot(p, skip_hash(key, len, revision), key, len, revision)->key != NULL;
}

static int skip_add(struct vg_rollup *p, const char *key, size_t len, uint32_t revision) {
  if (!p->skip || (p->nskip + 1) * 2 > p->skipmask + 1) {
    size_t nm = p->skip ? p->skipmask * 2 + 1 : 1023, om = p->skipmask;
    struct skip *ns = calloc(nm + 1, sizeof *ns), *old = p->skip;
    if (!ns)
      return -ENOMEM;
    p->skip = ns;
    p->skipmask = nm;
    for (size_t i = 0; old && i <= om; i++)
      if (old[i].key)
        *skip_slot(p, old[i].h, old[i].key, strlen(old[i].key), old[i].revision) = old[i];
    free(old);
  }
  uint64_t h = skip_hash(key, len, revision);
  struct skip *q = skip_slot(p, h, key, len, revision);
  if (q->key)
    return 0;
  /* not strndup: key is not a string, and its bytes end where len says */
  q->key = malloc(len + 1);
  if (!q->key)
    return -ENOMEM;
  memcpy(q->key, key, len);
  q->key[len] = '\0';
  q->h = h;
  q->revision = revision;
  p->nskip++;
  return 0;
}

static void skip_clear(struct vg_rollup *p) {
  for (size_t i = 0; p->skip && i <= p->skipmask; i++)
    free(p->skip[i].key);
  free(p->skip);
  p->skip = NULL;
  p->nskip = p->skipmask = 0;
  vg_kafka_positions_release(&p->skip_from);
}

static int take_rec(const struct vg_store_emit *e, void *ctx) {
  struct vg_rollup *p = ctx;
  p->recs[p->nrecs++] = *e;
  return p->nrecs == p->pass; /* stop once the pass is full */
}

/* Queues the message p->msg (p->msg_len bytes, then the queue's) of record
 * e under key[0..klen) at revision rev -- unless the read-back found it on
 * the topic. Nothing reaches librdkafka while the store snapshot is held
 * (send_batch does, after it ends): a broker that is slow or away must
 * not keep a reader open, for a commit that grows the map waits for every
 * reader of the process. 0 or -ENOMEM. */
static int queue_msg(struct vg_rollup *p, const struct vg_store_emit *e, const char *key,
                     size_t klen, uint32_t revision) {
  if (skip_has(p, key, klen, revision)) {
    /* a crashed predecessor (or a failed client) wrote it: once is enough */
    vg_atomic_fetch_add_relaxed_u64(&p->skipped, 1);
    free(p->msg);
    p->msg = NULL;
    return 0;
  }
  char *k = malloc(klen ? klen : 1);
  if (!k) {
    free(p->msg);
    p->msg = NULL;
    return -ENOMEM;
  }
  memcpy(k, key, klen);
  struct pending *m = &p->pend[e - p->recs];
  assert(!m->msg); /* a record's window is met once per pass */
  *m = (struct pending){
      .key = k, .klen = klen, .msg = p->msg, .len = p->msg_len, .rev = revision};
  p->msg = NULL;
  return 0;
}

/* Frees what the pass's slots still hold (a produced message has
 * neither). */
static void pending_drop(struct vg_rollup *p) {
  for (size_t i = 0; i < p->nrecs; i++) {
    free(p->pend[i].key);
    free(p->pend[i].msg);
    p->pend[i] = (struct pending){0};
  }
}

static int stopping(struct vg_rollup *p) {
  pthread_mutex_lock(&p->mu);
  int stop = p->stop;
  pthread_mutex_unlock(&p->mu);
  return stop;
}

/* Produces the messages of records [lo, hi) of the pass, in the log's
 * order (librdkafka frees each value), waiting on the client's queue when
 * it is full, the snapshot already released. 0, or VG_EKAFKA (the batch is
 * retried), or 1 when asked to stop. */
static int send_batch(struct vg_rollup *p, size_t lo, size_t hi) {
  int rc = 0;
  for (size_t i = lo; i < hi && rc == 0; i++) {
    struct pending *m = &p->pend[i];
    if (!m->msg)
      continue; /* nothing to produce for this record */
    char rev[16];
    snprintf(rev, sizeof rev, "%" PRIu32, m->rev);
    for (;;) {
      rd_kafka_resp_err_t ke = rd_kafka_producev(
          p->rk, RD_KAFKA_V_TOPIC(p->topic), RD_KAFKA_V_VALUE(m->msg, m->len),
          RD_KAFKA_V_KEY(m->key, m->klen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
          RD_KAFKA_V_HEADER(VG_ROLLUP_REVISION_HEADER, rev, (ssize_t)strlen(rev)),
          RD_KAFKA_V_END);
      if (ke == RD_KAFKA_RESP_ERR_NO_ERROR) {
        m->msg = NULL; /* librdkafka frees it */
        p->nproduced++;
        if (p->fatal_at && ++p->produced == p->fatal_at)
          rd_kafka_test_fatal_error(p->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                    "VIGIE_TEST_FATAL_ROLLUP");
        break;
      }
      if (ke != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        p->failed++;
        p->last_err = ke;
        if (ke == RD_KAFKA_RESP_ERR__FATAL || rd_kafka_fatal_error(p->rk, NULL, 0))
          p->fatal = 1;
        rc = VG_EKAFKA;
        break;
      }
      rd_kafka_poll(p->rk, 100); /* the client's queue is the bound */
      if (stopping(p)) {
        rc = 1;
        break;
      }
    }
    free(m->key);
    m->key = NULL;
  }
  return rc;
}

/* Formats window w for record e (the series key is p->key, len bytes) into
 * e's slot. 0, or a negative error (the pass is retried). */
static int queue_window(struct vg_rollup *p, const struct vg_wentry *w,
                        const struct vg_store_emit *e, size_t len) {
  FILE *f = open_memstream(&p->msg, &p->msg_len);
  if (!f)
    return -ENOMEM;
  int rc = vg_rollup_json(f, p->key, len, w, p->tz, &p->origin);
  if (fclose(f) != 0 && rc == 0)
    rc = -ENOMEM;
  if (rc) {
    free(p->msg);
    p->msg = NULL;
    return rc;
  }
  /* the whole series key: a truncated one could be shared by two series,
   * which a compacted topic would then merge */
  char small[1024], *key = small;
  size_t need = len + 48;
  if (need > sizeof small)
    key = malloc(need);
  if (!key) {
    free(p->msg);
    p->msg = NULL;
    return -ENOMEM;
  }
  size_t klen = vg_rollup_key(key, need > sizeof small ? need : sizeof small, p->key, len,
                              e->res, e->start);
  rc = queue_msg(p, e, key, klen, w->revision);
  if (key != small)
    free(key);
  return rc;
}

/* Formats indicator row `row` for record e into e's slot. 0, or a
 * negative error (the pass is retried). */
static int queue_ind(struct vg_rollup *p, const struct vg_store_ind *row,
                     const struct vg_store_emit *e) {
  int k = p->ind ? vg_indicators_find(p->ind, row->indicator) : -1;
  FILE *f = open_memstream(&p->msg, &p->msg_len);
  if (!f)
    return -ENOMEM;
  int rc = vg_rollup_ind_json(f, row, k < 0 ? NULL : vg_indicators_def(p->ind, (size_t)k),
                              p->tz);
  if (fclose(f) != 0 && rc == 0)
    rc = -ENOMEM;
  size_t need = vg_rollup_ind_key(NULL, 0, row) + 1;
  char *key = rc ? NULL : malloc(need);
  if (!rc && !key)
    rc = -ENOMEM;
  if (rc) {
    free(p->msg);
    p->msg = NULL;
    return rc;
  }
  size_t klen = vg_rollup_ind_key(key, need, row);
  rc = queue_msg(p, e, key, klen, row->revision);
  free(key);
  return rc;
}

/* The next record of the group being read (order[gi..gend), by start) that
 * names the window or row starting at start and that its state at revision
 * does not supersede, or NULL when none is left; gi moves past it. A
 * record revised again since is passed over: a later record of the log
 * publishes that state. */
static const struct vg_store_emit *next_record(struct vg_rollup *p, int64_t start,
                                               uint32_t revision) {
  while (p->gi < p->gend && p->order[p->gi]->start < start)
    p->gi++;
  while (p->gi < p->gend && p->order[p->gi]->start == start) {
    const struct vg_store_emit *e = p->order[p->gi++];
    if (revision <= e->revision)
      return e;
  }
  return NULL;
}

/* An indicator row of the group being read: queued for each of its
 * records that it does not supersede. */
static int take_ind(const struct vg_store_ind *row, void *ctx) {
  struct vg_rollup *p = ctx;
  int rc = 0;
  for (const struct vg_store_emit *e = next_record(p, row->start, row->revision);
       e && rc == 0; e = next_record(p, row->start, row->revision))
    rc = queue_ind(p, row, e);
  return rc;
}

/* A window of the group being read: queued for each of its records that
 * it does not supersede. A record whose window is not met is gone
 * (retention): nothing the store holds to publish. */
static int take_window(const struct vg_wentry *w, void *ctx) {
  struct vg_rollup *p = ctx;
  int rc = 0;
  for (const struct vg_store_emit *e = next_record(p, w->start, w->revision);
       e && rc == 0; e = next_record(p, w->start, w->revision))
    rc = queue_window(p, w, e, p->key_len);
  return rc;
}

/* The canonical key of series into p->key (grown as needed), its length in
 * p->key_len. 0, VG_ENOTFOUND, or an error. */
static int load_series_key(struct vg_rollup *p, struct vg_store_reader *r,
                           uint64_t series) {
  size_t len;
  int rc = vg_store_series_key(r, series, p->key, p->key_cap, &len);
  if (rc == 0 && len >= p->key_cap) {
    char *nk = realloc(p->key, len + 1);
    if (!nk)
      return -ENOMEM;
    p->key = nk;
    p->key_cap = len + 1;
    rc = vg_store_series_key(r, series, p->key, p->key_cap, &len);
  }
  if (rc == 0)
    p->key_len = len;
  return rc;
}

/* Formats the windows of records order[i..end), which share a series, a
 * resolution and a segment span: one read of the segment for all of them
 * (a read per record decoded the whole segment again each time: a day of
 * hourly distinct-count sketches per published row). 0 (queued or nothing
 * to publish), or a negative error (the pass is retried). */
static int read_group(struct vg_rollup *p, struct vg_store_reader *r, size_t i,
                      size_t end) {
  char err[256];
  const struct vg_store_emit *e = p->order[i];
  p->gi = i;
  p->gend = end;
  if (e->res == VG_STORE_EMIT_IND) { /* an indicator row (docs/indicators.md) */
    int rc = vg_store_read_ind(r, e->series, e->start, p->order[end - 1]->start + 1,
                               take_ind, p);
    return rc > 0 ? 0 : rc;
  }
  int rc = load_series_key(p, r, e->series);
  if (rc == VG_ENOTFOUND) {
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "rollup of an unknown series skipped",
                       "series=%016" PRIx64, e->series);
    return 0;
  }
  if (rc)
    return rc;
  err[0] = 0;
  rc = vg_store_read_range(r, e->series, e->res, e->start, p->order[end - 1]->start + 1,
                           take_window, p, err, sizeof err);
  if (rc && err[0]) {
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "cannot read a window for the rollup topic",
                       "error=\"%s\"", err);
    return rc < 0 ? rc : -EIO;
  }
  return rc;
}

/* Record order for reading: by series, resolution and start, then by
 * sequence. */
static int rec_cmp(const void *a, const void *b) {
  const struct vg_store_emit *x = *(const struct vg_store_emit *const *)a;
  const struct vg_store_emit *y = *(const struct vg_store_emit *const *)b;
  if (x->series != y->series)
    return x->series < y->series ? -1 : 1;
  if (x->res != y->res)
    return x->res < y->res ? -1 : 1;
  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The end of the group that begins at order[i]: the records after it of
 * the same series, resolution and segment span. */
static size_t group_end(const struct vg_rollup *p, size_t i) {
  const struct vg_store_emit *e = p->order[i];
  int segmented = vg_seg_span_len(e->res) > 0;
  int64_t span = segmented ? vg_seg_span(e->res, e->start) : e->start;
  size_t j = i + 1;
  while (j < p->nrecs && p->order[j]->series == e->series && p->order[j]->res == e->res &&
         (segmented ? vg_seg_span(e->res, p->order[j]->start) : p->order[j]->start) ==
             span)
    j++;
  return j;
}

/* Formats the message of every record of the pass into its slot, reading
 * the windows in store order, a segment span at a time: one pass over the
 * store whatever the order of the log. 0 or a negative error (the pass is
 * retried). */
static int read_pass(struct vg_rollup *p, struct vg_store_reader *r) {
  for (size_t i = 0; i < p->nrecs; i++)
    p->order[i] = &p->recs[i];
  qsort(p->order, p->nrecs, sizeof *p->order, rec_cmp);
  int rc = 0;
  for (size_t i = 0; i < p->nrecs && rc >= 0;) {
    size_t j = group_end(p, i);
    rc = read_group(p, r, i, j);
    i = j;
  }
  return rc;
}

/* Waits (in the caller's thread) until nothing is in flight, or stop.
 * 1 when everything was delivered. */
static int await_batch(struct vg_rollup *p) {
  for (;;) {
    if (p->fatal || rd_kafka_fatal_error(p->rk, NULL, 0)) {
      p->fatal = 1;
      return 0; /* the client is replaced and the batch produced again */
    }
    rd_kafka_flush(p->rk, 1000);
    if (rd_kafka_outq_len(p->rk) == 0)
      return p->failed == 0;
    if (stopping(p)) {
      rd_kafka_flush(p->rk, 5000);
      return rd_kafka_outq_len(p->rk) == 0 && p->failed == 0;
    }
  }
}

/* A batch from the cursor was not acknowledged (or its pass could not be
 * read): counted, logged, and the topic read back first when some of it
 * may be there. */
static void batch_failed(struct vg_rollup *p) {
  if (p->failed) {
    /* some of the batch may have reached the topic before the rest failed
     * (a leader away past message.timeout.ms): the topic is read back from
     * the cursor's positions before the batch is produced again, as after a
     * fatal error, so that nothing is there twice */
    p->scanned = 0;
    p->rescan = 1;
  }
  if (p->failures)
    vg_counter_add(p->failures, 1);
  VG_LOG_RATELIMITED(VG_LOG_WARN, 30000,
                     "rollups not acknowledged, the batch will be produced again",
                     "topic=%s from_seq=%" PRIu64 " error=\"%s\"", p->topic,
                     vg_atomic_load_relaxed_u64(&p->cursor),
                     p->failed ? rd_kafka_err2str(p->last_err) : "timeout or read error");
}

/* Moves the cursor to next, past a batch of `produced` messages the broker
 * acknowledged in full (emit_seq: the log's end in the pass's snapshot). */
static void move_cursor(struct vg_rollup *p, uint64_t next, uint64_t produced,
                        uint64_t emit_seq) {
  /* before the cursor moves: a waiter then reads them */
  if (p->published)
    vg_counter_add(p->published, produced);
  if (p->gcursor)
    vg_gauge_set(p->gcursor, (int64_t)next);
  if (p->backlog)
    vg_gauge_set(p->backlog, (int64_t)(emit_seq > next ? emit_seq - next : 0));
  if (p->skip && next >= p->skip_until)
    skip_clear(p); /* every record the read-back found is behind the cursor */
  struct vg_kafka_positions at;
  int pos_ok = vg_kafka_positions_copy(&at, p->skip ? &p->skip_from : &p->acked) == 0;
  pthread_mutex_lock(&p->mu);
  vg_atomic_store_release_u64(&p->cursor, next);
  if (pos_ok) {
    vg_kafka_positions_release(&p->at_cursor);
    p->at_cursor = at;
  } else {
    /* the positions of an earlier cursor stay: older, so a read-back from
     * them reads more, never less */
  }
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* Produces the batch of records [lo, hi) of the pass, waits for the
 * acknowledgements and moves the cursor past it. 0, or -1 when it failed
 * (the cursor stays). */
static int publish_batch(struct vg_rollup *p, size_t lo, size_t hi, uint64_t emit_seq) {
  p->failed = 0;
  p->nproduced = 0;
  int rc = send_batch(p, lo, hi);
  int ok = await_batch(p) && rc == 0;
  if (!ok) {
    batch_failed(p);
    return -1;
  }
  move_cursor(p, p->recs[hi - 1].seq + 1, p->nproduced, emit_seq);
  return 0;
}

/* One round: reads a pass of records from the cursor and formats their
 * messages under one snapshot, then, the snapshot ended, produces them a
 * batch at a time, each acknowledged in full before the cursor moves past
 * it. 1 when a full pass was done (go on at once), 0 when caught up (or
 * asked to stop), -1 when a batch failed (the cursor stays past the
 * batches done; the rest of the pass is read again). */
static int round_once(struct vg_rollup *p) {
  pthread_mutex_lock(&p->mu);
  int kept = vg_atomic_load_acquire_u64(&p->kept) >= p->gen;
  pthread_mutex_unlock(&p->mu);
  if (!kept)
    return 0; /* the writer persists the positions first (vg_rollup_kept) */
  struct vg_store_reader *r = NULL;
  struct vg_store_state m;
  uint64_t from = vg_atomic_load_relaxed_u64(&p->cursor);
  if (vg_store_reader_begin(p->store, &r) != 0)
    return -1;
  if (vg_store_reader_meta(r, &m) != 0) {
    vg_store_reader_end(r);
    return -1;
  }
  if (p->backlog)
    vg_gauge_set(p->backlog, (int64_t)(m.emit_seq > from ? m.emit_seq - from : 0));
  p->nrecs = 0;
  int rc = from < m.emit_seq ? vg_store_read_emit(r, from, take_rec, p) : 0;
  if (rc < 0 || p->nrecs == 0) {
    vg_store_reader_end(r);
    return rc < 0 ? -1 : 0;
  }
  rc = read_pass(p, r);
  vg_store_reader_end(r); /* before anything waits for the broker */
  if (rc < 0) {
    p->failed = 0;
    batch_failed(p);
  }
  for (size_t lo = 0; rc == 0 && lo < p->nrecs; lo += p->batch) {
    size_t hi = p->nrecs - lo > p->batch ? lo + p->batch : p->nrecs;
    rc = publish_batch(p, lo, hi, m.emit_seq);
    if (rc == 0 && hi < p->nrecs && stopping(p))
      rc = 1; /* the cursor is past the batches done */
  }
  pending_drop(p);
  if (rc < 0)
    return -1;
  return rc == 0 && p->nrecs == p->pass;
}

/* The backlog gauge, from a snapshot (while nothing can be produced). */
static void show_backlog(struct vg_rollup *p) {
  struct vg_store_reader *r;
  struct vg_store_state m;
  if (!p->backlog || vg_store_reader_begin(p->store, &r) != 0)
    return;
  uint64_t at = vg_atomic_load_relaxed_u64(&p->cursor);
  if (vg_store_reader_meta(r, &m) == 0)
    vg_gauge_set(p->backlog, (int64_t)(m.emit_seq > at ? m.emit_seq - at : 0));
  vg_store_reader_end(r);
}

/* 1 when the broker answers and the topic exists with partitions; else
 * logs why (rate-limited) and returns 0. Producing to a topic that does not
 * exist would only fail after message.timeout.ms. */
static int topic_ready(struct vg_rollup *p) {
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, p->topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  if (!rkt)
    return 0;
  rd_kafka_resp_err_t e = rd_kafka_metadata(p->rk, 0, rkt, &md, 5000);
  if (!e) {
    if (md->topic_cnt != 1)
      e = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    else if (md->topics[0].err)
      e = md->topics[0].err;
    else if (md->topics[0].partition_cnt == 0)
      e = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_destroy(rkt);
  if (e)
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000,
                       "the rollup topic cannot be written; rollups wait",
                       "topic=%s error=\"%s\"", p->topic, rd_kafka_err2str(e));
  return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static int on_tail(const void *key, size_t key_len, const void *rev, size_t n,
                   void *ctx) {
  struct vg_rollup *p = ctx;
  char buf[16];
  if (!key || !rev || n == 0 || n >= sizeof buf)
    return 0; /* not one of ours */
  memcpy(buf, rev, n);
  buf[n] = '\0';
  char *end;
  unsigned long r = strtoul(buf, &end, 10);
  if (*end || r > UINT32_MAX)
    return 0;
  return skip_add(p, key, key_len, (uint32_t)r);
}

/* Reads the topic back before producing (at start: from the positions
 * persisted with the cursor; after a fatal error or a batch that failed in
 * part: from the cursor's positions) so that nothing the topic holds is produced again.
 * 0, or -1 (logged; retried at the next attempt). */
static int read_back(struct vg_rollup *p, int first) {
  char err[512];
  struct vg_store_reader *r;
  struct vg_store_state m;
  struct vg_kafka_positions from = {0, NULL}, end;
  void *blob = NULL;
  size_t len = 0;
  if (vg_store_reader_begin(p->store, &r) != 0)
    return -1;
  int rc = vg_store_reader_meta(r, &m);
  if (rc == 0 && first) {
    rc = vg_store_reader_blob(r, VG_ROLLUP_BLOB, &blob, &len);
    const char *topic;
    size_t tlen;
    if (rc == 0 && (vg_kafka_positions_decode(blob, len, &topic, &tlen, &from) != 0 ||
                    tlen != strlen(p->topic) || memcmp(topic, p->topic, tlen) != 0))
      vg_kafka_positions_release(&from); /* not this topic's: nothing to read back */
    if (rc == VG_ENOTFOUND)
      rc = 0;
    free(blob);
  } else if (rc == 0) {
    pthread_mutex_lock(&p->mu);
    rc = vg_kafka_positions_copy(&from, &p->at_cursor);
    pthread_mutex_unlock(&p->mu);
  }
  vg_store_reader_end(r);
  if (rc)
    return -1;
  skip_clear(p);
  rc = p->client.read_tail(p->client.ctx, p->topic, VG_ROLLUP_REVISION_HEADER, &from,
                           30000, on_tail, p, &end, err, sizeof err);
  if (rc) {
    vg_kafka_positions_release(&from);
    skip_clear(p);
    VG_LOG_RATELIMITED(VG_LOG_WARN, 30000, "cannot read the rollup topic back; retrying",
                       "topic=%s error=\"%s\"", p->topic, err);
    return -1;
  }
  /* our next records land after the end; until the cursor passes every
   * record found, a read-back must still begin where this one did */
  vg_kafka_positions_release(&p->acked);
  p->acked = end;
  struct vg_kafka_positions at;
  if (p->nskip) {
    p->skip_until = m.emit_seq;
    p->skip_from = from;
    rc = vg_kafka_positions_copy(&at, &from);
  } else {
    vg_kafka_positions_release(&from);
    rc = vg_kafka_positions_copy(&at, &p->acked);
  }
  if (rc)
    return -1;
  pthread_mutex_lock(&p->mu);
  vg_kafka_positions_release(&p->at_cursor);
  p->at_cursor = at;
  p->gen++;
  pthread_mutex_unlock(&p->mu);
  p->scanned = 1;
  p->rescan = 0;
  if (p->nskip)
    VG_LOG_INFO("rollup topic read back", "topic=%s found=%zu until_seq=%" PRIu64,
                p->topic, p->nskip, p->skip_until);
  else if (!first) /* a retry while the topic refuses: every 2 s, said once a minute */
    VG_LOG_RATELIMITED(VG_LOG_INFO, 60000, "rollup topic read back",
                       "topic=%s found=0 until_seq=0", p->topic);
  return 0;
}

/* After a fatal producer error: what is in flight answered, the client
 * replaced, and the tail to be read back before the next batch. */
static void replace_client(struct vg_rollup *p) {
  char reason[256] = "", err[512];
  rd_kafka_fatal_error(p->rk, reason, sizeof reason);
  VG_LOG_WARN("rollup producer: fatal error, recovering with a new producer",
              "topic=%s error=\"%s\"", p->topic, reason);
  rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE);
  for (int i = 0; i < 100 && rd_kafka_outq_len(p->rk) > 0; i++)
    rd_kafka_poll(p->rk, 100);
  rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_destroy(p->rk);
  p->rk = NULL;
  if (p->client.producer_new(p->client.ctx, on_delivery, p, &p->rk, err, sizeof err) !=
      0) {
    VG_LOG_ERROR("rollup producer: cannot create a new producer", "error=\"%s\"", err);
    return; /* retried at the next attempt */
  }
  p->fatal = 0;
  p->fatal_at = 0; /* the test hook fires once */
  p->scanned = 0;
  vg_atomic_fetch_add_relaxed_u64(&p->recovered, 1);
}

static void *publisher_main(void *arg) {
  struct vg_rollup *p = arg;
  int backoff = 0, ready = 0;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    if (!p->signalled && !p->stop) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += backoff ? 2 : 1;
      pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    p->signalled = 0;
    int stop = p->stop;
    uint64_t attempt = ++p->begun;
    pthread_mutex_unlock(&p->mu);
    if (stop)
      break;
    uint64_t before = vg_atomic_load_relaxed_u64(&p->cursor);
    int r = -1;
    if (!p->rk || p->fatal || rd_kafka_fatal_error(p->rk, NULL, 0))
      replace_client(p);
    if (p->rk && !ready)
      ready = topic_ready(p);
    if (p->rk && ready &&
        (p->scanned ||
         read_back(p, !p->rescan && vg_atomic_load_relaxed_u64(&p->recovered) == 0) == 0))
      while ((r = round_once(p)) == 1) {
        pthread_mutex_lock(&p->mu);
        stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
          break;
      }
    if (r < 0) {
      ready = 0; /* look at the topic again before the next try */
      show_backlog(p);
    }
    if (p->rk)
      rd_kafka_poll(p->rk, 0);
    backoff = vg_atomic_load_relaxed_u64(&p->cursor) == before;
    pthread_mutex_lock(&p->mu);
    p->ended = attempt;
    p->stalled = r < 0;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  return NULL;
}

int vg_rollup_new(const struct vg_rollup_opts *o, struct vg_rollup **out, char *errstr,
                  size_t errstr_size) {
  struct vg_rollup *p = calloc(1, sizeof *p);
  if (!p)
    goto oom;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->store = o->store;
  p->tz = o->tz;
  p->origin = o->origin;
  p->ind = o->indicators;
  p->client = o->client;
  if (!o->keep_positions)
    atomic_init(&p->kept, UINT64_MAX);
  const char *hook = getenv("VIGIE_TEST_FATAL_ROLLUP");
  if (hook && *hook)
    p->fatal_at = strtoull(hook, NULL, 10);
  p->batch = o->batch ? o->batch : 5000;
  p->pass = p->batch * PASS_BATCHES;
  if (p->pass > PASS_RECORDS)
    p->pass = p->batch < PASS_RECORDS ? PASS_RECORDS / p->batch * p->batch : p->batch;
  atomic_init(&p->cursor, o->cursor);
  p->key_cap = 256;
  p->topic = strdup(o->topic);
  p->recs = calloc(p->pass, sizeof *p->recs);
  p->order = calloc(p->pass, sizeof *p->order);
  p->pend = calloc(p->pass, sizeof *p->pend);
  p->key = malloc(p->key_cap);
  if (!p->topic || !p->recs || !p->order || !p->pend || !p->key)
    goto oom;
  int rc =
      p->client.producer_new(p->client.ctx, on_delivery, p, &p->rk, errstr, errstr_size);
  if (rc) {
    vg_rollup_free(p);
    return rc;
  }
  if (o->metrics) {
    p->published = vg_metrics_counter(o->metrics, "vigie_rollups_published_total",
                                      "Rollups acknowledged by the rollup topic.", NULL);
    p->failures =
        vg_metrics_counter(o->metrics, "vigie_rollup_delivery_failures_total",
                           "Rollup batches not acknowledged (produced again).", NULL);
    p->backlog = vg_metrics_gauge(
        o->metrics, "vigie_rollup_backlog",
        "Emit-log records not yet acknowledged by the rollup topic.", NULL);
    p->gcursor = vg_metrics_gauge(o->metrics, "vigie_rollup_cursor",
                                  "Emit-log sequence below which every rollup was "
                                  "acknowledged.",
                                  NULL);
    if (p->gcursor)
      vg_gauge_set(p->gcursor, (int64_t)o->cursor);
  }
  if (pthread_create(&p->th, NULL, publisher_main, p) != 0) {
    snprintf(errstr, errstr_size, "rollup producer: cannot start its thread");
    vg_rollup_free(p);
    return -EAGAIN;
  }
  p->started = 1;
  *out = p;
  return 0;
oom:
  snprintf(errstr, errstr_size, "rollup producer: out of memory");
  vg_rollup_free(p);
  return -ENOMEM;
}

void vg_rollup_notify(struct vg_rollup *p) {
  pthread_mutex_lock(&p->mu);
  p->signalled = 1;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

uint64_t vg_rollup_cursor(struct vg_rollup *p) {
  return vg_atomic_load_acquire_u64(&p->cursor);
}

int vg_rollup_state(struct vg_rollup *p, uint64_t *cursor, struct vg_kafka_positions *pos,
                    uint64_t *gen) {
  pthread_mutex_lock(&p->mu);
  *cursor = vg_atomic_load_relaxed_u64(&p->cursor);
  *gen = p->gen;
  int rc = vg_kafka_positions_copy(pos, &p->at_cursor);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

void vg_rollup_kept(struct vg_rollup *p, uint64_t gen) {
  pthread_mutex_lock(&p->mu);
  if (gen > vg_atomic_load_relaxed_u64(&p->kept)) {
    vg_atomic_store_release_u64(&p->kept, gen);
    p->signalled = 1;
    pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
}

uint64_t vg_rollup_skipped(struct vg_rollup *p) {
  return vg_atomic_load_relaxed_u64(&p->skipped);
}

uint64_t vg_rollup_recovered(struct vg_rollup *p) {
  return vg_atomic_load_relaxed_u64(&p->recovered);
}

int vg_rollup_wait(struct vg_rollup *p, uint64_t seq, int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&p->mu);
  p->signalled = 1;
  pthread_cond_broadcast(&p->cv);
  uint64_t b0 = p->begun;
  int rc = 0, stalled = 0;
  while (vg_atomic_load_acquire_u64(&p->cursor) < seq && rc == 0 && !stalled) {
    rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    /* an attempt that began after this call failed: no use waiting */
    stalled = p->ended > b0 && p->stalled;
  }
  pthread_mutex_unlock(&p->mu);
  if (vg_atomic_load_acquire_u64(&p->cursor) >= seq)
    return 0;
  return stalled ? VG_EKAFKA : VG_ETIMEOUT;
}

double vg_rollup_cpu_s(struct vg_rollup *p) {
  clockid_t cid;
  struct timespec ts;
  if (!p->started || pthread_getcpuclockid(p->th, &cid) != 0 ||
      clock_gettime(cid, &ts) != 0)
    return 0;
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void vg_rollup_free(struct vg_rollup *p) {
  if (!p)
    return;
  if (p->started) {
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
  }
  if (p->rk) {
    if (rd_kafka_outq_len(p->rk) > 0)
      VG_LOG_WARN("rollups still in flight at shutdown; produced again at the next start",
                  "topic=%s count=%d", p->topic, rd_kafka_outq_len(p->rk));
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(p->rk);
  }
  skip_clear(p);
  vg_kafka_positions_release(&p->acked);
  vg_kafka_positions_release(&p->at_cursor);
  pending_drop(p);
  free(p->pend);
  free(p->msg);
  free(p->key);
  free(p->recs);
  free(p->order);
  free(p->topic);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}
