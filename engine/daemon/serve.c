/*
 * The serve role's loop (serve.h): rollup topics in, windows of the store
 * out, offsets with them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/serve.h"
#include "vigie/array.h"
#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/kafka.h"
#include "vigie/log.h"
#include "vigie/rollup.h"

#define NS_PER_S            1000000000LL
#define SERVE_BATCH         4096  /* messages per consume */
#define SERVE_EPOCH_WINDOWS 50000 /* an epoch commits at the latest past this many */

/* A window read, in arrival order (a later one of the same key replaces it). */
struct got {
  uint64_t arrival;
  struct vg_wentry w;
};

/* A partition read: where the next message is. */
struct part {
  const char *topic; /* the config's */
  const char *site;
  int32_t partition;
  int64_t next; /* stored next offset; -1: from the beginning */
};

struct serve {
  const struct serve_opts *o;
  struct vg_calendar cal;
  struct vg_kafka_consumer *c;
  struct part *parts;
  size_t nparts, capparts;
  struct got *got;
  size_t ngot, capgot;
  uint64_t arrival;
  /* the epoch's new series and their keys (one buffer), ids already known */
  struct vg_store_series *series;
  size_t nseries, capseries;
  char **keys;
  size_t nkeys, capkeys;
  uint64_t *known;
  size_t nknown, capknown;
  uint64_t epoch, emit_seq;
  int64_t watermark_ns;
  int dirty; /* offsets moved since the last commit */
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static const struct vg_source_conf *source_of(const struct serve *s, const char *topic) {
  const struct vg_config *cfg = s->o->cfg;
  for (size_t i = 0; i < cfg->nsources; i++)
    if (strcmp(cfg->sources[i].topic, topic) == 0)
      return &cfg->sources[i];
  return NULL;
}

static struct part *part_of(struct serve *s, const char *topic, int32_t partition) {
  for (size_t i = 0; i < s->nparts; i++)
    if (s->parts[i].partition == partition && strcmp(s->parts[i].topic, topic) == 0)
      return &s->parts[i];
  return NULL;
}

/* ---- what the store holds: the offsets, the series, the counters ---- */

static int on_window(const struct vg_wentry *w, void *ctx) {
  (void)w, (void)ctx;
  return 0; /* a serve store holds final windows only: nothing to restore */
}

static int on_pos(const struct vg_store_pos *p, void *ctx) {
  struct serve *s = ctx;
  const struct vg_source_conf *src = source_of(s, p->topic);
  if (!src)
    return 0; /* a source no longer configured */
  if (VG_GROW(s->parts, s->nparts + 1, s->capparts))
    return -ENOMEM;
  s->parts[s->nparts++] =
      (struct part){src->topic, src->site, (int32_t)p->partition, p->next_offset};
  return 0;
}

static int64_t start_at(void *opaque, const char *topic, int32_t partition) {
  struct serve *s = opaque;
  struct part *p = part_of(s, topic, partition);
  return p && p->next >= 0 ? p->next : VG_KAFKA_OFFSET_BEGINNING;
}

static int load(struct serve *s, char *errstr, size_t errstr_size) {
  struct vg_store_state st;
  int rc = vg_store_load(s->o->store, on_window, on_pos, s, &st, errstr, errstr_size);
  if (rc)
    return rc;
  s->epoch = st.epoch;
  s->emit_seq = st.emit_seq;
  s->watermark_ns = st.watermark_ns;
  VG_LOG_INFO("store loaded", "epoch=%" PRIu64 " partitions=%zu role=serve", st.epoch,
              s->nparts);
  return 0;
}

/* ---- reading ---- */

static int known(const struct serve *s, uint64_t id) {
  for (size_t i = 0; i < s->nknown; i++) /* few series per territory: a scan */
    if (s->known[i] == id)
      return 1;
  return 0;
}

/* Notes the series of r (new to this process) for the epoch. */
static int add_series(struct serve *s, const struct vg_rollin *r, uint64_t id) {
  if (known(s, id))
    return 0;
  char *key = malloc(r->key_len);
  if (!key || VG_GROW(s->known, s->nknown + 1, s->capknown) ||
      VG_GROW(s->keys, s->nkeys + 1, s->capkeys) ||
      VG_GROW(s->series, s->nseries + 1, s->capseries)) {
    free(key);
    return -ENOMEM;
  }
  memcpy(key, r->key, r->key_len);
  s->known[s->nknown++] = id;
  s->keys[s->nkeys++] = key;
  s->series[s->nseries++] = (struct vg_store_series){id, key, r->key_len, 0};
  return 0;
}

/* One message: its window kept for the epoch, its offset noted. */
static int take(struct serve *s, const struct vg_kafka_msg *m, char *errstr,
                size_t errstr_size) {
  struct part *p = part_of(s, m->topic, m->partition);
  if (!p) {
    const struct vg_source_conf *src = source_of(s, m->topic);
    if (!src || VG_GROW(s->parts, s->nparts + 1, s->capparts))
      return src ? -ENOMEM : 0;
    p = &s->parts[s->nparts++];
    *p = (struct part){src->topic, src->site, m->partition, -1};
  }
  struct vg_rollin r;
  char why[512] = "";
  int rc = vg_rollin_decode(m->key, m->key_len, m->payload, m->len, p->site,
                            s->o->cfg->timezone, &s->cal, &r, why, sizeof why);
  if (rc < 0)
    return rc == -ENOMEM
               ? rc
               : vg_errstr_rc(rc, errstr, errstr_size,
                              "%s [%d] offset %" PRId64 " (site %s): %s", m->topic,
                              (int)m->partition, m->offset, p->site, why);
  p->next = m->offset + 1;
  s->dirty = 1;
  if (rc == 1)
    return 0; /* an indicator row */
  uint64_t id = vg_siphash24(s->o->hkey, r.key, r.key_len);
  if (add_series(s, &r, id) != 0 || VG_GROW(s->got, s->ngot + 1, s->capgot)) {
    vg_rollin_release(&r);
    return -ENOMEM;
  }
  struct got *g = &s->got[s->ngot++];
  g->arrival = s->arrival++;
  g->w = (struct vg_wentry){.series = id,
                            .start = r.start,
                            .end = r.end,
                            .res = r.res,
                            .final = 1,
                            .stored = 1,
                            .revision = r.revision,
                            .acc = r.acc};
  vg_acc_init(&r.acc); /* moved into g */
  vg_rollin_release(&r);
  int64_t end_ns = g->w.end * NS_PER_S;
  if (end_ns > s->watermark_ns)
    s->watermark_ns = end_ns;
  return 0;
}

/* ---- committing ---- */

static int got_cmp(const void *a, const void *b) {
  const struct got *x = a, *y = b;
  if (x->w.series != y->w.series)
    return x->w.series < y->w.series ? -1 : 1;
  if (x->w.res != y->w.res)
    return x->w.res < y->w.res ? -1 : 1;
  if (x->w.start != y->w.start)
    return x->w.start < y->w.start ? -1 : 1;
  return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

/* Keeps the last arrival of each window (a later revision replaces an
 * earlier one read in the same epoch); returns how many are left. */
static size_t last_of_each(struct serve *s) {
  qsort(s->got, s->ngot, sizeof *s->got, got_cmp);
  size_t k = 0;
  for (size_t i = 0; i < s->ngot; i++) {
    int superseded = i + 1 < s->ngot && s->got[i + 1].w.series == s->got[i].w.series &&
                     s->got[i + 1].w.res == s->got[i].w.res &&
                     s->got[i + 1].w.start == s->got[i].w.start;
    if (superseded)
      vg_acc_release(&s->got[i].w.acc);
    else
      s->got[k++] = s->got[i];
  }
  return s->ngot = k;
}

static void epoch_release(struct serve *s) {
  for (size_t i = 0; i < s->ngot; i++)
    vg_acc_release(&s->got[i].w.acc);
  s->ngot = 0;
  for (size_t i = 0; i < s->nkeys; i++)
    free(s->keys[i]);
  s->nkeys = s->nseries = 0;
}

/* force: the indicators' last step (before a drain ends or a stop). */
static int commit(struct serve *s, int force, char *errstr, size_t errstr_size) {
  struct serve_ind ind = {0};
  if (s->o->indicators) {
    int rc = s->o->indicators(s->o->ctx, force, &ind, errstr, errstr_size);
    if (rc)
      return rc;
  }
  if (!s->dirty && s->ngot == 0 && ind.nrows == 0 && !ind.blob.name)
    return 0;
  size_t n = last_of_each(s);
  const struct vg_wentry **sealed = calloc(n ? n : 1, sizeof *sealed);
  struct vg_store_emit *emit = calloc(n + ind.nrows + 1, sizeof *emit);
  struct vg_store_pos *pos = calloc(s->nparts ? s->nparts : 1, sizeof *pos);
  int rc = -ENOMEM;
  if (sealed && emit && pos) {
    for (size_t i = 0; i < n; i++) {
      sealed[i] = &s->got[i].w;
      emit[i] = (struct vg_store_emit){0, s->got[i].w.series, s->got[i].w.res,
                                       s->got[i].w.start, s->got[i].w.revision};
    }
    for (size_t i = 0; i < ind.nrows; i++)
      emit[n + i] = ind.emit[i];
    size_t np = 0;
    for (size_t i = 0; i < s->nparts; i++)
      if (s->parts[i].next >= 0)
        pos[np++] =
            (struct vg_store_pos){s->parts[i].topic, (uint32_t)s->parts[i].partition,
                                  s->parts[i].next, s->watermark_ns, 0};
    struct vg_store_epoch ep = {.epoch = s->epoch + 1,
                                .sealed = sealed,
                                .nsealed = n,
                                .series = s->series,
                                .nseries = s->nseries,
                                .pos = pos,
                                .npos = np,
                                .emit = emit,
                                .nemit = n + ind.nrows,
                                .watermark_ns = s->watermark_ns,
                                .ind = ind.rows,
                                .nind = ind.nrows,
                                .blobs = ind.blob.name ? &ind.blob : NULL,
                                .nblobs = ind.blob.name ? 1 : 0};
    rc = vg_store_commit(s->o->store, &ep, errstr, errstr_size);
  }
  free(sealed);
  free(emit);
  free(pos);
  if (s->o->indicators_done)
    s->o->indicators_done(s->o->ctx, rc == 0);
  if (rc == 0) {
    s->epoch++;
    s->emit_seq += n + ind.nrows;
    s->dirty = 0;
    if (s->o->committed)
      s->o->committed(s->o->ctx, n);
  }
  epoch_release(s);
  return rc;
}

/* The emit log keeps publish.changes_keep records (the changes feed): a
 * serve instance publishes no rollups of its own; the indicators' step
 * reads it first. */
static void trim(struct serve *s) {
  uint64_t keep = (uint64_t)s->o->cfg->publish_changes_keep;
  uint64_t below = s->emit_seq > keep ? s->emit_seq - keep : 0;
  if (s->o->indicators_cursor) {
    uint64_t read = s->o->indicators_cursor(s->o->ctx);
    below = read < below ? read : below;
  }
  char err[256];
  if (below && vg_store_trim_emit(s->o->store, below, 10000, NULL, err, sizeof err))
    VG_LOG_WARN("emit log not trimmed", "error=\"%s\"", err);
}

/* ---- the consumer ---- */

static int serve_connect(struct serve *s, char *errstr, size_t errstr_size) {
  const struct vg_config *cfg = s->o->cfg;
  const char **topics = calloc(cfg->nsources ? cfg->nsources : 1, sizeof *topics);
  if (!topics)
    return -ENOMEM;
  for (size_t i = 0; i < cfg->nsources; i++)
    topics[i] = cfg->sources[i].topic;
  struct vg_kafka_conf kc = {
      .brokers = s->o->brokers, .client_id = "vigied-serve", .properties = s->o->props};
  int rc = vg_kafka_consumer_new(&s->c, &kc, errstr, errstr_size);
  if (rc == 0)
    rc = vg_kafka_assign_all(s->c, topics, cfg->nsources, start_at, s, 10000, errstr,
                             errstr_size);
  if (rc == 0 && s->o->drain)
    rc = vg_kafka_mark_end(s->c, 10000, errstr, errstr_size);
  free(topics);
  if (rc) {
    vg_kafka_consumer_free(s->c);
    s->c = NULL;
  }
  return rc;
}

static int consume(struct serve *s, struct vg_kafka_msg *msgs, char *errstr,
                   size_t errstr_size) {
  const struct vg_config *cfg = s->o->cfg;
  int64_t next_commit = now_ns() + cfg->checkpoint_interval_ns;
  for (;;) {
    int stop = s->o->stopping(s->o->ctx);
    ssize_t n = stop ? 0 : vg_kafka_consume(s->c, msgs, SERVE_BATCH, 100);
    if (n < 0)
      return vg_errstr_rc(VG_EKAFKA, errstr, errstr_size,
                          "consuming the rollup topics: %s", vg_strerror((int)n));
    for (ssize_t i = 0; i < n; i++) {
      int rc = take(s, &msgs[i], errstr, errstr_size);
      if (rc)
        return rc;
    }
    int drained = s->o->drain && vg_kafka_drained(s->c);
    if (stop || drained || now_ns() >= next_commit || s->ngot >= SERVE_EPOCH_WINDOWS) {
      int rc = commit(s, 0, errstr, errstr_size);
      /* the indicators of everything committed, before the end */
      if (rc == 0 && (stop || drained) && s->o->indicators)
        rc = commit(s, 1, errstr, errstr_size);
      if (rc)
        return rc;
      trim(s);
      next_commit = now_ns() + cfg->checkpoint_interval_ns;
    }
    if (stop || drained)
      return 0;
  }
}

static void serve_free(struct serve *s) {
  epoch_release(s);
  vg_kafka_consumer_free(s->c);
  free(s->parts);
  free(s->got);
  free(s->series);
  free(s->keys);
  free(s->known);
}

int serve_run(const struct serve_opts *o, char *errstr, size_t errstr_size) {
  struct serve s = {.o = o};
  struct vg_kafka_msg *msgs = calloc(SERVE_BATCH, sizeof *msgs);
  int rc = msgs ? vg_calendar_init(&s.cal, o->tz, o->cfg->base_ns / NS_PER_S) : -ENOMEM;
  if (rc == 0)
    rc = load(&s, errstr, errstr_size);
  int64_t backoff_ms = 1000, first_fail = 0;
  while (rc == 0 && !o->stopping(o->ctx)) {
    char err[512];
    int crc = serve_connect(&s, err, sizeof err);
    if (crc == 0) {
      o->status(o->ctx, 1, "");
      VG_LOG_INFO("serving the rollup topics", "sources=%zu drain=%d", o->cfg->nsources,
                  o->drain);
      rc = consume(&s, msgs, errstr, errstr_size);
      break;
    }
    if (crc == -ENOMEM) {
      rc = crc;
      break;
    }
    /* the brokers or a topic are not there: serve the store and retry */
    o->status(o->ctx, 0, err);
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000,
                       "cannot read the rollup topics yet; serving the "
                       "store and retrying",
                       "error=\"%s\"", err);
    int64_t now = now_ns();
    if (!first_fail)
      first_fail = now;
    if (o->drain && now - first_fail >= o->cfg->kafka_drain_wait_ns) {
      rc = vg_errstr_rc(VG_ETIMEOUT, errstr, errstr_size, "cannot drain: %s", err);
      break;
    }
    for (int64_t t = 0; t < backoff_ms && !o->stopping(o->ctx); t += 100) {
      struct timespec ts = {0, 100 * 1000000L};
      nanosleep(&ts, NULL);
    }
    backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
  }
  if (rc == -ENOMEM)
    snprintf(errstr, errstr_size, "out of memory in the serve role");
  serve_free(&s);
  free(msgs);
  return rc;
}
