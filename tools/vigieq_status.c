/*
 * vigieq status (vigieq.h): per source partition the stored offset, the
 * broker's end offset and the lag, the watermark, the windows vigied holds
 * and the store's size, from one read-only snapshot. Per role
 * (docs/scaleout.md): a store instance's rows name the delta partitions it
 * merged (kind delta_partition) and the source partitions whose watermarks
 * it holds (kind source_partition: the ingest group's committed offset as
 * its watermarks last said, and the lag behind the source); an ingest
 * instance keeps no store, so its status is the group's committed offsets
 * against the sources' end offsets.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/calendar.h"
#include "vigie/config.h"
#include "vigie/error.h"
#include "vigie/kafka.h"
#include "vigie/publish.h"
#include "vigie/store.h"

#include "vigieq.h"

struct pos_row {
  char *topic;
  uint32_t partition;
  int64_t next_offset, max_event_ns;
  int64_t end; /* the broker's end offset; -1 when unknown */
  char note[256];
};

struct status_scan {
  struct pos_row *v;
  size_t n, cap;
  uint64_t open[3][2]; /* the writer's windows per resolution: [res][final] */
};

static int scan_add(struct status_scan *s, const char *topic, uint32_t partition,
                    int64_t next_offset, int64_t max_event_ns) {
  if (VG_GROW(s->v, s->n + 1, s->cap))
    return -ENOMEM;
  char *t = strdup(topic);
  if (!t)
    return -ENOMEM;
  s->v[s->n++] = (struct pos_row){t, partition, next_offset, max_event_ns, -1, ""};
  return 0;
}

/* A partition's position: with several store shards, the lowest (where
 * vigied resumes). */
static int on_pos(const struct vg_store_pos *p, void *arg) {
  struct status_scan *s = arg;
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].partition == p->partition && strcmp(s->v[i].topic, p->topic) == 0) {
      if (p->next_offset < s->v[i].next_offset) {
        s->v[i].next_offset = p->next_offset;
        s->v[i].max_event_ns = p->max_event_ns;
      }
      return 0;
    }
  return scan_add(s, p->topic, p->partition, p->next_offset, p->max_event_ns);
}

/* vg_kafka_list_partitions' callback: a source partition the store has no
 * position for yet (never consumed) gets a row too. */
static void on_source_partition(void *arg, const char *topic, int32_t partition,
                                int32_t n) {
  struct status_scan *s = arg;
  (void)n;
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].partition == (uint32_t)partition && strcmp(s->v[i].topic, topic) == 0)
      return;
  if (scan_add(s, topic, (uint32_t)partition, -1, INT64_MIN) == 0)
    snprintf(s->v[s->n - 1].note, sizeof s->v[s->n - 1].note, "no position stored yet");
}

static int cmp_pos_row(const void *a, const void *b) {
  const struct pos_row *x = a, *y = b;
  int c = strcmp(x->topic, y->topic);
  return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static int on_open_window(const struct vg_wentry *w, void *arg) {
  struct status_scan *s = arg;
  if (w->res < 3)
    s->open[w->res][w->final ? 1 : 0]++;
  return 0;
}

/* Asks the brokers for each partition's end offset. Failing that, *note
 * says why (and the partitions' end stays -1); a partition the broker does
 * not know gets its own note. */
static void status_ends(const struct vg_config *cfg, struct status_scan *s, char *note,
                        size_t note_size) {
  if (!cfg) {
    snprintf(note, note_size, "no --config: the brokers are not known");
    return;
  }
  if (!cfg->kafka_brokers || strcmp(cfg->kafka_brokers, "embedded") == 0) {
    snprintf(note, note_size, "the embedded broker lives inside vigied: no end offsets");
    return;
  }
  if (!s->n && !cfg->nsources)
    return;
  /* the config's properties (TLS, SASL), then quiet: a broker that does
   * not answer is said once in the note, not logged by librdkafka */
  size_t np = cfg->kafka_properties.n;
  const char **props = calloc(np + 5, sizeof *props);
  if (!props) {
    snprintf(note, note_size, "out of memory");
    return;
  }
  for (size_t i = 0; i < np; i++)
    props[i] = cfg->kafka_properties.v[i];
  props[np] = "log_level";
  props[np + 1] = "0";
  props[np + 2] = "socket.connection.setup.timeout.ms";
  props[np + 3] = "2000";
  struct vg_kafka_conf kc = {
      .brokers = cfg->kafka_brokers, .client_id = "vigieq", .properties = props};
  struct vg_kafka_consumer *k = NULL;
  char err[512] = "";
  if (vg_kafka_consumer_new(&k, &kc, err, sizeof err)) {
    snprintf(note, note_size, "brokers %s: %s", cfg->kafka_brokers, err);
    free(props);
    return;
  }
  /* the sources' partitions, from one metadata request: it also tells
   * whether the brokers answer at all */
  const char **topics = calloc(cfg->nsources + 1, sizeof *topics);
  int reached = 0;
  for (size_t i = 0; topics && i < cfg->nsources; i++)
    topics[i] = cfg->sources[i].topic;
  int rc = topics && cfg->nsources
               ? vg_kafka_list_partitions(k, topics, cfg->nsources, 2500,
                                          on_source_partition, s, err, sizeof err)
               : VG_ENOTFOUND;
  free(topics);
  if (rc == 0) {
    reached = 1;
    qsort(s->v, s->n, sizeof *s->v, cmp_pos_row);
  } else if (rc == VG_ENOTFOUND &&
             cfg->nsources) { /* they answer; a source topic is gone */
    reached = 1;
    snprintf(note, note_size, "%s", err);
  } else if (rc != VG_ENOTFOUND) { /* the stored positions stay, without lag */
    snprintf(note, note_size, "brokers %s not reachable (%s): no lag", cfg->kafka_brokers,
             err);
    vg_kafka_consumer_free(k);
    free(props);
    return;
  }
  for (size_t i = 0; i < s->n; i++) {
    err[0] = 0;
    /* a short wait: the first answer tells whether the brokers are up */
    if (vg_kafka_end_offset(k, s->v[i].topic, (int32_t)s->v[i].partition,
                            reached ? 5000 : 2500, &s->v[i].end, err, sizeof err) == 0) {
      reached = 1;
      continue;
    }
    s->v[i].end = -1;
    if (!reached) {
      snprintf(note, note_size, "brokers %s not reachable (%s): no lag",
               cfg->kafka_brokers, err);
      break;
    }
    snprintf(s->v[i].note, sizeof s->v[i].note, "%s", err);
  }
  vg_kafka_consumer_free(k);
  free(props);
}

static int put_row(struct rows *r, const char *kind, const char *name, int64_t partition,
                   const char *value, const char *detail) {
  int rc = put(r, CELL_TEXT, kind);
  rc = rc ? rc : put(r, CELL_TEXT, name);
  rc = rc              ? rc
       : partition < 0 ? put(r, CELL_NULL, NULL)
                       : put_u64(r, (uint64_t)partition);
  rc = rc ? rc : put(r, value ? CELL_NUM : CELL_NULL, value);
  rc = rc ? rc : put(r, CELL_NULL, NULL); /* end_offset */
  rc = rc ? rc : put(r, CELL_NULL, NULL); /* lag */
  rc = rc ? rc : put(r, detail ? CELL_TEXT : CELL_NULL, detail);
  return rc;
}

static const char *const status_cols[] = {"kind",       "name", "partition", "value",
                                          "end_offset", "lag",  "detail"};

/* The role's row: what the instance is and what names its Kafka side. */
static int put_role(struct rows *r, const struct vg_config *cfg) {
  static const char *const names[] = {"standalone", "ingest", "store", "serve"};
  int role = cfg ? cfg->role : VG_ROLE_STANDALONE;
  char d[768];
  if (role == VG_ROLE_INGEST)
    snprintf(d, sizeof d, "group=%s instance_id=%s deltas_topic=%s", cfg->kafka_group,
             cfg->instance_id ? cfg->instance_id : "(host name)",
             cfg->kafka_deltas_topic);
  else if (role == VG_ROLE_STORE)
    snprintf(d, sizeof d, "deltas_topic=%s", cfg->kafka_deltas_topic);
  else if (role == VG_ROLE_SERVE)
    snprintf(d, sizeof d, "rollup topics of %zu site%s", cfg->nsources,
             cfg->nsources == 1 ? "" : "s");
  else
    d[0] = '\0';
  return put_row(r, "role", names[role], -1, NULL, d[0] ? d : NULL);
}

/* The ingest role's status: no store, the group's committed offsets. */
static int status_ingest(const struct vg_config *cfg, int fmt) {
  struct rows rows = {.cols = status_cols,
                      .ncols = sizeof status_cols / sizeof *status_cols};
  struct status_scan scan = {0};
  char err[512] = "", v[32];
  const char **props = calloc(cfg->kafka_properties.n + 3, sizeof *props);
  const char **topics = calloc(cfg->nsources + 1, sizeof *topics);
  int ex = 0, rc = !props || !topics ? -ENOMEM : 0;
  for (size_t i = 0; !rc && i < cfg->kafka_properties.n; i++)
    props[i] = cfg->kafka_properties.v[i];
  if (!rc) {
    props[cfg->kafka_properties.n] = "log_level";
    props[cfg->kafka_properties.n + 1] = "0";
  }
  for (size_t i = 0; !rc && i < cfg->nsources; i++)
    topics[i] = cfg->sources[i].topic;
  struct vg_kafka_conf kc = {.brokers = cfg->kafka_brokers,
                             .client_id = "vigieq",
                             .properties = props,
                             .group = cfg->kafka_group};
  struct vg_kafka_consumer *k = NULL;
  if (!rc)
    rc = vg_kafka_consumer_new(&k, &kc, err, sizeof err);
  if (!rc)
    rc = vg_kafka_list_partitions(k, topics, cfg->nsources, 5000, on_source_partition,
                                  &scan, err, sizeof err);
  const char **pt = calloc(scan.n + 1, sizeof *pt);
  int32_t *pp = calloc(scan.n + 1, sizeof *pp);
  int64_t *off = calloc(scan.n + 1, sizeof *off);
  if (!rc && (!pt || !pp || !off))
    rc = -ENOMEM;
  for (size_t i = 0; !rc && i < scan.n; i++) {
    pt[i] = scan.v[i].topic;
    pp[i] = (int32_t)scan.v[i].partition;
  }
  if (!rc)
    rc = vg_kafka_committed(k, pt, pp, scan.n, 10000, off, err, sizeof err);
  for (size_t i = 0; !rc && i < scan.n; i++)
    rc = vg_kafka_end_offset(k, pt[i], pp[i], 5000, &scan.v[i].end, err, sizeof err);
  rc = rc ? rc : put_role(&rows, cfg);
  for (size_t i = 0; !rc && i < scan.n; i++) {
    const struct pos_row *p = &scan.v[i];
    rc = put(&rows, CELL_TEXT, "partition");
    rc = rc ? rc : put(&rows, CELL_TEXT, p->topic);
    rc = rc ? rc : put_u64(&rows, p->partition);
    rc = rc            ? rc
         : off[i] >= 0 ? put_u64(&rows, (uint64_t)off[i])
                       : put(&rows, CELL_NULL, NULL);
    rc = rc ? rc : put_u64(&rows, (uint64_t)p->end);
    snprintf(v, sizeof v, "%" PRId64, p->end - (off[i] >= 0 ? off[i] : 0));
    rc = rc ? rc : put(&rows, CELL_NUM, v);
    rc = rc ? rc
            : put(&rows, CELL_TEXT,
                  off[i] >= 0 ? "the group's committed offset"
                              : "nothing committed by the group yet");
  }
  if (rc == -ENOMEM)
    ex = fail(EX_RUNTIME, "out of memory");
  else if (rc)
    ex = fail(EX_RUNTIME, "the ingest group %s on %s: %s", cfg->kafka_group,
              cfg->kafka_brokers, err[0] ? err : vg_strerror(rc));
  else if (write_rows(stdout, &rows, fmt))
    ex = fail(EX_RUNTIME, "cannot write the output: %s", strerror(errno));
  vg_kafka_consumer_free(k);
  free(pt);
  free(pp);
  free(off);
  free(props);
  free(topics);
  for (size_t i = 0; i < scan.n; i++)
    free(scan.v[i].topic);
  free(scan.v);
  rows_release(&rows);
  return ex;
}

int cmd_status(struct ctx *c, const struct vg_config *cfg, int fmt) {
  if (cfg && cfg->role == VG_ROLE_INGEST)
    return status_ingest(cfg, fmt);
  const char *const *cols = status_cols;
  int ex = open_store(c);
  if (ex)
    return ex;
  /* vg_store_load reads one read-only snapshot: positions, the kept
   * windows and the global watermark in one consistent view */
  vg_store_reader_end(c->rd);
  c->rd = NULL;
  struct rows rows = {.cols = cols, .ncols = sizeof status_cols / sizeof *status_cols};
  struct status_scan scan = {0};
  struct vg_store_state s = {0};
  struct vg_store_stat stt;
  char err[512] = "", b[VG_FMT_ISO_MAX], n[64], v[32], note[1024] = "", d[512];
  int rc = 0;
  for (unsigned k = 0; k < vg_store_shards(c->st) && rc == 0; k++) {
    struct vg_store_state sk;
    rc = vg_store_load(vg_store_shard(c->st, k), on_open_window, on_pos, &scan, &sk, err,
                       sizeof err);
    if (rc == 0 && (k == 0 || sk.epoch < s.epoch))
      s = sk; /* the shard at the lowest epoch: what a restart resumes from */
  }
  int have_stat = rc == 0 && vg_store_stat(c->st, &stt) == 0;
  if (rc) {
    ex = fail(EX_RUNTIME, "cannot read the store's state: %s",
              err[0] ? err : vg_strerror(rc));
    goto done;
  }
  status_ends(cfg, &scan, note, sizeof note);
  int store_role = cfg && cfg->role == VG_ROLE_STORE;
  if (cfg && cfg->role != VG_ROLE_STANDALONE)
    rc = put_role(&rows, cfg);
  for (size_t i = 0; i < scan.n && !rc; i++) {
    const struct pos_row *p = &scan.v[i];
    rc = put(&rows, CELL_TEXT,
             !store_role                                      ? "partition"
             : strcmp(p->topic, cfg->kafka_deltas_topic) == 0 ? "delta_partition"
                                                              : "source_partition");
    rc = rc ? rc : put(&rows, CELL_TEXT, p->topic);
    rc = rc ? rc : put_u64(&rows, p->partition);
    rc = rc                    ? rc
         : p->next_offset >= 0 ? put_u64(&rows, (uint64_t)p->next_offset)
                               : put(&rows, CELL_NULL, NULL);
    rc = rc            ? rc
         : p->end >= 0 ? put_u64(&rows, (uint64_t)p->end)
                       : put(&rows, CELL_NULL, NULL);
    if (p->end >= 0 && p->next_offset >= 0) {
      /* lag: what the broker holds that the store has not counted */
      snprintf(v, sizeof v, "%" PRId64, p->end - p->next_offset);
      rc = rc ? rc : put(&rows, CELL_NUM, v);
    } else {
      rc = rc ? rc : put(&rows, CELL_NULL, NULL);
    }
    d[0] = 0;
    if (p->max_event_ns != INT64_MIN) {
      vg_fmt_iso(vg_floor_div(p->max_event_ns, 1000000000), c->tz, b);
      snprintf(d, sizeof d, "max_event_time=%s", b);
    }
    if (p->note[0])
      snprintf(d + strlen(d), sizeof d - strlen(d), "%s%s", d[0] ? "; " : "", p->note);
    rc = rc ? rc : put(&rows, d[0] ? CELL_TEXT : CELL_NULL, d);
  }
  if (note[0]) {
    fprintf(stderr, "vigieq: note: %s\n", note);
    rc =
        rc ? rc
           : put_row(&rows, "broker", cfg && cfg->kafka_brokers ? cfg->kafka_brokers : "",
                     -1, NULL, note);
  }
  if (s.watermark_ns == INT64_MIN) {
    rc = rc ? rc : put_row(&rows, "watermark", "global", -1, NULL, "none committed");
  } else {
    vg_fmt_iso(vg_floor_div(s.watermark_ns, 1000000000), c->tz, b);
    snprintf(n, sizeof n, "%" PRId64, s.watermark_ns);
    rc = rc ? rc : put_row(&rows, "watermark", "global", -1, n, b);
  }
  snprintf(n, sizeof n, "%" PRIu64, s.epoch);
  rc = rc ? rc : put_row(&rows, "epoch", "last_committed", -1, n, NULL);
  /* the windows vigied holds: provisional ones, and final ones kept for
   * late corrections; the rest of the final windows are in segments */
  static const char *const status_names[2] = {"provisional", "final_open"};
  for (int f = 0; f < 2 && !rc; f++) {
    uint64_t(*o)[2] = scan.open;
    snprintf(n, sizeof n, "%" PRIu64, o[0][f] + o[1][f] + o[2][f]);
    snprintf(d, sizeof d, "1m=%" PRIu64 " 1h=%" PRIu64 " 1d=%" PRIu64, o[0][f], o[1][f],
             o[2][f]);
    rc = put_row(&rows, "windows", status_names[f], -1, n, d);
  }
  if (!rc && have_stat) {
    const char *names[] = {"used_bytes",   "map_bytes", "series",
                           "open_windows", "segments",  "emit_records"};
    uint64_t vals[] = {stt.used_bytes,   stt.map_bytes, stt.series,
                       stt.open_windows, stt.segments,  stt.emit_records};
    for (int i = 0; i < 6 && !rc; i++) {
      snprintf(n, sizeof n, "%" PRIu64, vals[i]);
      d[0] = 0;
      if (i == 0 && stt.map_bytes)
        snprintf(d, sizeof d, "%.1f%% of the map",
                 100.0 * (double)stt.used_bytes / (double)stt.map_bytes);
      if (i == 3)
        snprintf(d, sizeof d,
                 "rows of open: kept windows and final ones waiting for "
                 "their segment");
      rc = put_row(&rows, "store", names[i], -1, n, d[0] ? d : NULL);
    }
  }
  if (rc)
    ex = fail(EX_RUNTIME, "out of memory");
  else if (write_rows(stdout, &rows, fmt))
    ex = fail(EX_RUNTIME, "cannot write the output: %s", strerror(errno));
done:
  for (size_t i = 0; i < scan.n; i++)
    free(scan.v[i].topic);
  free(scan.v);
  rows_release(&rows);
  return ex;
}
