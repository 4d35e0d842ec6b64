/*
 * Kafka consumer wrapper: standalone assignment of every partition, batch
 * consumption from the consumer queue, end-offset tracking for --drain, and
 * the embedded mock cluster. The rest of the engine never sees librdkafka's
 * types, only struct vg_kafka_msg views into the current batch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "vigie/array.h"
#include "vigie/error.h"
#include "vigie/kafka.h"
#include "vigie/log.h"
#include "ingest/kafka_internal.h"

struct part {
  char *topic; /* owned */
  int32_t partition;
  int64_t start;    /* the offset (or logical offset) it was assigned at */
  int64_t position; /* next offset to consume, -1 unknown */
  int64_t end;      /* high watermark marked by vg_kafka_mark_end, -1 none */
};

struct vg_kafka_consumer {
  rd_kafka_t *rk;
  rd_kafka_queue_t *queue;
  struct part *parts;
  size_t nparts;
  rd_kafka_message_t **batch; /* the last batch, owned until next consume */
  struct part *last;          /* find_part's cache */
  size_t batch_len, batch_cap;
  const struct vg_kafka_rebalance *rebalance; /* a group member's hooks */
  size_t capparts;
  int joined;  /* a group member that received its first assignment */
  int group;   /* a group member (vg_kafka_conf.group) */
  int failed;  /* a rebalance could not be applied: the member must rejoin */
  int closing; /* rd_kafka_consumer_close runs: an assignment it serves is not read */
};

/* librdkafka's own log lines, as logfmt lines of ours (syslog levels:
 * 0-3 errors, 4 warnings, 5-6 info, 7 debug). */
void vg__kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  enum vg_log_level l = level <= 3   ? VG_LOG_ERROR
                        : level == 4 ? VG_LOG_WARN
                        : level <= 6 ? VG_LOG_INFO
                                     : VG_LOG_DEBUG;
  char msg[512];
  size_t n = 0;
  /* quotes and backslashes would end the logfmt value early */
  for (const char *p = buf; *p && n < sizeof msg - 2; p++)
    msg[n++] = (*p == '"' || *p == '\\') ? '\'' : *p;
  msg[n] = '\0';
  VG_LOG(l, "librdkafka", "client=%s facility=%s detail=\"%s\"", rd_kafka_name(rk), fac,
         msg);
}

static int set_prop(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr,
                    size_t errstr_size) {
  char err[256];
  if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
    snprintf(errstr, errstr_size, "kafka property \"%s\": %s", k, err);
    return VG_ECONFIG;
  }
  return 0;
}

/* ---- a group member (the ingest role) -------------------------------------- */

/* The hooks' view of a rebalance's partitions (pointers into list). NULL
 * when n is 0 or out of memory. */
static struct vg_kafka_tp *tp_view(const rd_kafka_topic_partition_list_t *list) {
  if (list->cnt <= 0)
    return NULL;
  struct vg_kafka_tp *tp = calloc((size_t)list->cnt, sizeof *tp);
  for (int i = 0; tp && i < list->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &list->elems[i];
    tp[i] = (struct vg_kafka_tp){p->topic, p->partition, p->offset, p->metadata,
                                 p->metadata ? p->metadata_size : 0};
  }
  return tp;
}

/* Adds the partitions of list to the consumer's table (their positions
 * from the committed offsets). 0 or -ENOMEM. */
static int parts_add(struct vg_kafka_consumer *c,
                     const rd_kafka_topic_partition_list_t *list) {
  for (int i = 0; i < list->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &list->elems[i];
    if (VG_GROW(c->parts, c->nparts + 1, c->capparts))
      return -ENOMEM;
    char *topic = strdup(p->topic);
    if (!topic)
      return -ENOMEM;
    c->parts[c->nparts++] = (struct part){topic, p->partition, p->offset,
                                          p->offset >= 0 ? p->offset : -1, -1};
  }
  c->last = NULL;
  return 0;
}

static void parts_remove(struct vg_kafka_consumer *c,
                         const rd_kafka_topic_partition_list_t *list) {
  size_t k = 0;
  for (size_t i = 0; i < c->nparts; i++) {
    int gone = 0;
    for (int j = 0; j < list->cnt && !gone; j++)
      gone = list->elems[j].partition == c->parts[i].partition &&
             strcmp(list->elems[j].topic, c->parts[i].topic) == 0;
    if (gone)
      free(c->parts[i].topic);
    else
      c->parts[k++] = c->parts[i];
  }
  c->nparts = k;
  c->last = NULL;
}

/* librdkafka's rebalance callback (inside rd_kafka_consume_batch_queue, on
 * the consuming thread): assigned partitions start at the group's
 * committed offsets, read here with their metadata for the hook; revoked
 * ones are given to the hook while still owned. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *list, void *opaque) {
  struct vg_kafka_consumer *c = opaque;
  rd_kafka_error_t *e = NULL;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    c->joined = 1;
    /* the committed offsets of the group, stable ones only (a transaction
     * of the previous owner in flight is waited for) */
    /* closing (rd_kafka_consumer_closed says so only once the close is
     * done): taken, never read; asking the group for offsets then would
     * wait for a coordinator the closing member no longer talks to */
    if (c->closing || rd_kafka_consumer_closed(rk)) {
      e = rd_kafka_incremental_assign(rk, list);
      if (e)
        rd_kafka_error_destroy(e);
      return;
    }
    rd_kafka_resp_err_t ce = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int tries = 0; tries < 6; tries++) {
      ce = rd_kafka_committed(rk, list, 10000);
      if (ce == RD_KAFKA_RESP_ERR_NO_ERROR || rd_kafka_fatal_error(rk, NULL, 0))
        break;
      VG_LOG_WARN("committed offsets not read yet, trying again", "error=\"%s\"",
                  rd_kafka_err2str(ce));
    }
    if (ce) /* the client reads them itself; the event-time state is lost */
      VG_LOG_ERROR("committed offsets and their metadata not read: partitions start "
                   "from the committed offsets without their event-time state",
                   "error=\"%s\"", rd_kafka_err2str(ce));
    struct vg_kafka_tp *tp = tp_view(list);
    if (c->rebalance && c->rebalance->assigned && tp)
      c->rebalance->assigned(c->rebalance->opaque, tp, (size_t)list->cnt);
    if ((!tp && list->cnt > 0) || parts_add(c, list) != 0) {
      c->failed = 1; /* vg_kafka_consume fails: nothing is read untracked */
      VG_LOG_ERROR("out of memory recording assigned partitions", "count=%d", list->cnt);
    }
    free(tp);
    VG_LOG_INFO("partitions assigned", "count=%d", list->cnt);
    e = rd_kafka_incremental_assign(rk, list);
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    int lost = rd_kafka_assignment_lost(rk);
    struct vg_kafka_tp *tp = tp_view(list);
    if (c->rebalance && c->rebalance->revoked && tp)
      c->rebalance->revoked(c->rebalance->opaque, tp, (size_t)list->cnt, lost);
    free(tp);
    parts_remove(c, list);
    VG_LOG_INFO(lost ? "partitions lost" : "partitions revoked", "count=%d", list->cnt);
    e = rd_kafka_incremental_unassign(rk, list);
  } else {
    /* what the hooks were given is lost; the member rejoins empty */
    VG_LOG_ERROR("rebalance failed", "error=\"%s\"", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_t *all =
        rd_kafka_topic_partition_list_new((int)(c->nparts ? c->nparts : 1));
    for (size_t i = 0; i < c->nparts; i++)
      rd_kafka_topic_partition_list_add(all, c->parts[i].topic, c->parts[i].partition);
    struct vg_kafka_tp *tp = tp_view(all);
    if (c->rebalance && c->rebalance->revoked && tp)
      c->rebalance->revoked(c->rebalance->opaque, tp, (size_t)all->cnt, 1);
    free(tp);
    parts_remove(c, all);
    rd_kafka_topic_partition_list_destroy(all);
    rd_kafka_assign(rk, NULL);
  }
  if (e) {
    VG_LOG_ERROR("rebalance not applied", "error=\"%s\"", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  }
}

int vg_kafka_consumer_new(struct vg_kafka_consumer **out, const struct vg_kafka_conf *kc,
                          char *errstr, size_t errstr_size) {
  struct vg_kafka_consumer *c = calloc(1, sizeof *c);
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  int rc = -ENOMEM;
  char err[512];
  if (!c || !conf)
    goto fail;
  /* Throughput defaults, overridable by properties: large fetches, a deep
   * local prefetch queue bounded by its bytes (kc->queued_kbytes, below)
   * rather than by a count of messages -- librdkafka 2.0 stops fetching a
   * partition once the consumer's queue holds queued.min.messages (100,000
   * by default, counted over the whole queue the partitions forward to) and
   * looks again only when its broker thread wakes, up to a second later: a
   * worker that drains 100,000 small messages in a fraction of that second
   * then waits for the rest of it (measured on the benchmark's mobility
   * workload, one message per event: about 200,000 messages/s per consumer
   * whatever its CPU, one worker's drain of 5.4 M events 28.1 s; with the
   * queue bounded by bytes 13.1 s) -- no partition EOF events
   * (positions tell us). The
   * group.id is required by librdkafka's consumer API even though standalone
   * mode never joins the group nor commits to it. */
  static const char *const defaults[] = {"group.id",
                                         "vigie",
                                         "enable.auto.commit",
                                         "false",
                                         "enable.auto.offset.store",
                                         "false",
                                         "enable.partition.eof",
                                         "false",
                                         "auto.offset.reset",
                                         "earliest",
                                         "fetch.wait.max.ms",
                                         "100",
                                         "queued.min.messages",
                                         "10000000",
                                         "fetch.max.bytes",
                                         "52428800",
                                         "log.connection.close",
                                         "false",
                                         NULL};
  for (const char *const *p = defaults; *p; p += 2) {
    rc = set_prop(conf, p[0], p[1], errstr, errstr_size);
    if (rc != 0)
      goto fail;
  }
  char num[24];
  snprintf(
      num, sizeof num, "%lld",
      (long long)(kc->queued_kbytes > 0 ? kc->queued_kbytes : VG_KAFKA_QUEUED_KBYTES));
  rc = set_prop(conf, "queued.max.messages.kbytes", num, errstr, errstr_size);
  if (rc != 0)
    goto fail;
  snprintf(num, sizeof num, "%lld",
           (long long)(kc->partition_fetch_bytes > 0 ? kc->partition_fetch_bytes
                                                     : VG_KAFKA_PARTITION_FETCH_BYTES));
  rc = set_prop(conf, "max.partition.fetch.bytes", num, errstr, errstr_size);
  if (rc != 0)
    goto fail;
  rc = set_prop(conf, "bootstrap.servers", kc->brokers ? kc->brokers : "", errstr,
                errstr_size);
  if (rc != 0)
    goto fail;
  rc = set_prop(conf, "client.id", kc->client_id ? kc->client_id : "vigie", errstr,
                errstr_size);
  if (rc != 0)
    goto fail;
  for (const char *const *p = kc->properties; p && p[0]; p += 2) {
    if (!p[1]) {
      snprintf(errstr, errstr_size, "kafka property \"%s\" has no value", p[0]);
      rc = VG_ECONFIG;
      goto fail;
    }
    rc = set_prop(conf, p[0], p[1], errstr, errstr_size);
    if (rc != 0)
      goto fail;
  }
  if (kc->group || kc->read_committed) {
    /* transactional input (the delta topic, a group's committed offsets):
     * whatever the properties say, aborted records are never read */
    rc = set_prop(conf, "isolation.level", "read_committed", errstr, errstr_size);
    if (rc != 0)
      goto fail;
  }
  if (kc->group) {
    /* a member of the ingest group: cooperative rebalancing, so that a
     * member joining or leaving moves only the partitions that change
     * owner (the others keep their open transaction) */
    rc = set_prop(conf, "group.id", kc->group, errstr, errstr_size);
    if (rc == 0)
      rc = set_prop(conf, "partition.assignment.strategy", "cooperative-sticky", errstr,
                    errstr_size);
    if (rc != 0)
      goto fail;
    c->rebalance = kc->rebalance;
    c->group = 1;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, c);
  }
  rd_kafka_conf_set_log_cb(conf, vg__kafka_log);
  c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!c->rk) {
    snprintf(errstr, errstr_size, "creating the Kafka consumer: %s", err);
    rc = VG_EKAFKA;
    goto fail;
  }
  conf = NULL; /* owned by rk now */
  c->queue = rd_kafka_queue_get_consumer(c->rk);
  *out = c;
  return 0;
fail:
  if (conf)
    rd_kafka_conf_destroy(conf);
  free(c);
  if (rc == -ENOMEM)
    snprintf(errstr, errstr_size, "out of memory creating the Kafka consumer");
  return rc;
}

static void release_batch(struct vg_kafka_consumer *c) {
  for (size_t i = 0; i < c->batch_len; i++)
    rd_kafka_message_destroy(c->batch[i]);
  c->batch_len = 0;
}

static void free_parts(struct vg_kafka_consumer *c) {
  for (size_t i = 0; i < c->nparts; i++)
    free(c->parts[i].topic);
  free(c->parts);
  c->parts = NULL;
  c->nparts = c->capparts = 0;
}

void vg_kafka_consumer_free(struct vg_kafka_consumer *c) {
  if (!c)
    return;
  release_batch(c);
  free(c->batch);
  if (c->queue)
    rd_kafka_queue_destroy(c->queue);
  c->closing = 1;
  rd_kafka_consumer_close(c->rk);
  rd_kafka_destroy(c->rk);
  free_parts(c);
  free(c);
}

/* The metadata of each named topic, from one request for the whole cluster
 * (asking for named topics would let a broker with auto-creation create a
 * misspelt one). *md must be destroyed by the caller; mts[t] points into it,
 * or is NULL for a missing topic when allow_missing (else that is an error
 * naming it). */
static int topics_metadata(rd_kafka_t *rk, const char *const *topics, size_t ntopics,
                           int timeout_ms, int allow_missing,
                           const struct rd_kafka_metadata **md,
                           const struct rd_kafka_metadata_topic **mts, char *errstr,
                           size_t errstr_size) {
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, md, timeout_ms);
  if (err) {
    *md = NULL;
    snprintf(errstr, errstr_size, "reading topic metadata from the brokers: %s",
             rd_kafka_err2str(err));
    return err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__TIMED_OUT
               ? VG_ETIMEOUT
               : VG_EKAFKA;
  }
  for (size_t t = 0; t < ntopics; t++) {
    const struct rd_kafka_metadata_topic *mt = NULL;
    for (int i = 0; i < (*md)->topic_cnt && !mt; i++)
      if (strcmp((*md)->topics[i].topic, topics[t]) == 0)
        mt = &(*md)->topics[i];
    if (!mt || mt->err || mt->partition_cnt <= 0) {
      if (allow_missing && (!mt || mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                            mt->partition_cnt <= 0)) {
        mts[t] = NULL;
        continue;
      }
      snprintf(errstr, errstr_size, "topic \"%s\": %s", topics[t],
               !mt       ? "does not exist"
               : mt->err ? rd_kafka_err2str(mt->err)
                         : "has no partitions");
      return VG_ENOTFOUND;
    }
    mts[t] = mt;
  }
  return 0;
}

int vg_kafka_count_partitions(struct vg_kafka_consumer *c, const char *const *topics,
                              size_t ntopics, int timeout_ms, int32_t *counts,
                              char *errstr, size_t errstr_size) {
  const struct rd_kafka_metadata *md = NULL;
  const struct rd_kafka_metadata_topic **mts = calloc(ntopics ? ntopics : 1, sizeof *mts);
  if (!mts)
    return -ENOMEM;
  int rc = topics_metadata(c->rk, topics, ntopics, timeout_ms, 1, &md, mts, errstr,
                           errstr_size);
  for (size_t t = 0; rc == 0 && t < ntopics; t++)
    counts[t] = mts[t] ? mts[t]->partition_cnt : 0;
  if (md)
    rd_kafka_metadata_destroy(md);
  free(mts);
  return rc;
}

/* 1 when a CreateTopics answer means "not now" rather than "no". */
static int create_later(rd_kafka_resp_err_t err) {
  switch (err) {
  case RD_KAFKA_RESP_ERR__TIMED_OUT:
  case RD_KAFKA_RESP_ERR__TRANSPORT:
  case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
  case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
  case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
  case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
  case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION: return 1;
  default: return 0;
  }
}

/* The missing topics' NewTopic objects in nt[], their specs in which[];
 * the count, or -1 with errstr set (an argument librdkafka refuses). */
static int new_topics(const struct vg_kafka_new_topic *t, size_t n, const int32_t *counts,
                      rd_kafka_NewTopic_t **nt, const struct vg_kafka_new_topic **which,
                      char *errstr, size_t errstr_size) {
  int k = 0;
  char err[256];
  for (size_t i = 0; i < n; i++) {
    if (counts[i] > 0)
      continue;
    nt[k] =
        rd_kafka_NewTopic_new(t[i].name, t[i].partitions ? t[i].partitions : -1,
                              t[i].replication ? t[i].replication : -1, err, sizeof err);
    if (!nt[k] || (t[i].compacted &&
                   rd_kafka_NewTopic_set_config(nt[k], "cleanup.policy", "compact"))) {
      snprintf(errstr, errstr_size, "topic \"%s\" cannot be asked for: %s", t[i].name,
               nt[k] ? "cleanup.policy" : err);
      rd_kafka_NewTopic_destroy_array(nt, (size_t)k + (nt[k] != NULL));
      return -1;
    }
    which[k++] = &t[i];
  }
  return k;
}

/* The brokers' answer to CreateTopics (ev), topic by topic. */
static int created_topics(rd_kafka_event_t *ev, const struct vg_kafka_new_topic **which,
                          size_t *created, char *errstr, size_t errstr_size) {
  if (rd_kafka_event_error(ev)) {
    snprintf(errstr, errstr_size, "creating the output topics: %s",
             rd_kafka_event_error_string(ev));
    return create_later(rd_kafka_event_error(ev)) ? VG_EKAFKA : VG_ECONFIG;
  }
  size_t cnt = 0;
  const rd_kafka_topic_result_t **res =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
  int rc = 0;
  for (size_t i = 0; i < cnt; i++) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
    const char *name = rd_kafka_topic_result_name(res[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const struct vg_kafka_new_topic *t = which[0];
      for (size_t k = 0; k < cnt; k++)
        if (strcmp(which[k]->name, name) == 0)
          t = which[k];
      VG_LOG_INFO("output topic created",
                  "topic=%s partitions=%d replication=%d compacted=%d", name,
                  t->partitions, t->replication, t->compacted);
      ++*created;
    } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && rc != VG_ECONFIG) {
      const char *why = rd_kafka_topic_result_error_string(res[i]);
      snprintf(errstr, errstr_size, "the brokers refused to create topic \"%s\": %s (%s)",
               name, why ? why : rd_kafka_err2str(err), rd_kafka_err2name(err));
      rc = create_later(err) ? VG_EKAFKA : VG_ECONFIG;
    }
  }
  return rc;
}

int vg_kafka_create_topics(struct vg_kafka_consumer *c,
                           const struct vg_kafka_new_topic *t, size_t n, int timeout_ms,
                           size_t *created, char *errstr, size_t errstr_size) {
  const char **names = calloc(n ? n : 1, sizeof *names);
  int32_t *counts = calloc(n ? n : 1, sizeof *counts);
  rd_kafka_NewTopic_t **nt = calloc(n ? n : 1, sizeof *nt);
  const struct vg_kafka_new_topic **which = calloc(n ? n : 1, sizeof *which);
  rd_kafka_queue_t *q = NULL;
  rd_kafka_AdminOptions_t *o = NULL;
  int rc = -ENOMEM, k = 0;
  *created = 0;
  if (!names || !counts || !nt || !which)
    goto out;
  for (size_t i = 0; i < n; i++)
    names[i] = t[i].name;
  rc = vg_kafka_count_partitions(c, names, n, timeout_ms, counts, errstr, errstr_size);
  if (rc)
    goto out;
  k = new_topics(t, n, counts, nt, which, errstr, errstr_size);
  rc = k < 0 ? VG_ECONFIG : 0;
  if (k <= 0)
    goto out;
  q = rd_kafka_queue_new(c->rk);
  o = rd_kafka_AdminOptions_new(c->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  char err[256];
  if (!q || !o ||
      rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, err, sizeof err) ||
      rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, err, sizeof err)) {
    rc = -ENOMEM;
    goto out;
  }
  rd_kafka_CreateTopics(c->rk, nt, (size_t)k, o, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 2 * timeout_ms + 1000);
  if (!ev) {
    snprintf(errstr, errstr_size,
             "creating the output topics: no answer from the brokers");
    rc = VG_ETIMEOUT;
    goto out;
  }
  rc = created_topics(ev, which, created, errstr, errstr_size);
  rd_kafka_event_destroy(ev);
out:
  if (k > 0)
    rd_kafka_NewTopic_destroy_array(nt, (size_t)k);
  if (o)
    rd_kafka_AdminOptions_destroy(o);
  if (q)
    rd_kafka_queue_destroy(q);
  free(names);
  free(counts);
  free(nt);
  free(which);
  if (rc == -ENOMEM)
    snprintf(errstr, errstr_size, "out of memory creating the output topics");
  return rc;
}

int vg_kafka_list_partitions(struct vg_kafka_consumer *c, const char *const *topics,
                             size_t ntopics, int timeout_ms,
                             void (*fn)(void *ctx, const char *topic, int32_t partition,
                                        int32_t npartitions),
                             void *ctx, char *errstr, size_t errstr_size) {
  const struct rd_kafka_metadata *md = NULL;
  const struct rd_kafka_metadata_topic **mts = calloc(ntopics ? ntopics : 1, sizeof *mts);
  if (!mts)
    return -ENOMEM;
  int rc = topics_metadata(c->rk, topics, ntopics, timeout_ms, 0, &md, mts, errstr,
                           errstr_size);
  for (size_t t = 0; rc == 0 && t < ntopics; t++)
    for (int32_t p = 0; p < mts[t]->partition_cnt; p++)
      fn(ctx, topics[t], p, mts[t]->partition_cnt);
  if (md)
    rd_kafka_metadata_destroy(md);
  free(mts);
  return rc;
}

int64_t vg_kafka_high_watermark(struct vg_kafka_consumer *c, const char *topic,
                                int32_t partition) {
  int64_t lo, hi;
  if (rd_kafka_get_watermark_offsets(c->rk, topic, partition, &lo, &hi) ||
      hi == RD_KAFKA_OFFSET_INVALID)
    return -1;
  return hi;
}

int vg_kafka_end_offset(struct vg_kafka_consumer *c, const char *topic, int32_t partition,
                        int timeout_ms, int64_t *end, char *errstr, size_t errstr_size) {
  int64_t lo, hi;
  rd_kafka_resp_err_t err =
      rd_kafka_query_watermark_offsets(c->rk, topic, partition, &lo, &hi, timeout_ms);
  if (err) {
    snprintf(errstr, errstr_size, "end offset of %s [%d]: %s", topic, (int)partition,
             rd_kafka_err2str(err));
    return VG_EKAFKA;
  }
  *end = hi;
  return 0;
}

int vg_kafka_assign_all(struct vg_kafka_consumer *c, const char *const *topics,
                        size_t ntopics, vg_kafka_start_fn start, void *opaque,
                        int timeout_ms, char *errstr, size_t errstr_size) {
  const struct rd_kafka_metadata *md = NULL;
  const struct rd_kafka_metadata_topic **mts = NULL;
  rd_kafka_topic_partition_list_t *list = NULL;
  struct part *parts = NULL;
  size_t nparts = 0, cap = 0;
  int rc = -ENOMEM;

  mts = calloc(ntopics ? ntopics : 1, sizeof *mts);
  if (!mts)
    goto fail;
  rc = topics_metadata(c->rk, topics, ntopics, timeout_ms, 0, &md, mts, errstr,
                       errstr_size);
  if (rc)
    goto fail;
  for (size_t t = 0; t < ntopics; t++) {
    const struct rd_kafka_metadata_topic *mt = mts[t];
    int n = mt->partition_cnt;
    /* metadata lists partitions in no promised order: by id, those kept */
    for (int32_t id = 0; id < n; id++) {
      int64_t off = start ? start(opaque, topics[t], id) : VG_KAFKA_OFFSET_BEGINNING;
      if (off == VG_KAFKA_SKIP)
        continue;
      if (nparts == cap) {
        if (VG_GROW(parts, nparts + 1, cap)) {
          rc = -ENOMEM;
          goto fail;
        }
        /* zeroed so that the failure path may free every slot's topic */
        memset(parts + nparts, 0, (cap - nparts) * sizeof *parts);
      }
      struct part *p = &parts[nparts++];
      p->partition = id;
      p->end = -1;
      p->position = off >= 0 ? off : -1;
      p->start = off;
      p->topic = strdup(topics[t]);
      if (!p->topic) {
        rc = -ENOMEM;
        goto fail;
      }
    }
  }
  rd_kafka_metadata_destroy(md);
  md = NULL;

  list = rd_kafka_topic_partition_list_new((int)(nparts ? nparts : 1));
  for (size_t i = 0; i < nparts; i++)
    rd_kafka_topic_partition_list_add(list, parts[i].topic, parts[i].partition)->offset =
        parts[i].start;
  rd_kafka_resp_err_t err = rd_kafka_assign(c->rk, list);
  if (err) {
    snprintf(errstr, errstr_size, "assigning %zu partitions: %s", nparts,
             rd_kafka_err2str(err));
    rc = VG_EKAFKA;
    goto fail;
  }
  rd_kafka_topic_partition_list_destroy(list);
  free(mts);
  release_batch(c);
  free_parts(c);
  c->parts = parts;
  c->nparts = nparts;
  c->capparts = cap;
  c->last = NULL;
  return 0;
fail:
  if (md)
    rd_kafka_metadata_destroy(md);
  if (list)
    rd_kafka_topic_partition_list_destroy(list);
  for (size_t i = 0; i < cap; i++)
    free(parts[i].topic);
  free(parts);
  free(mts);
  if (rc == -ENOMEM)
    snprintf(errstr, errstr_size, "out of memory assigning partitions");
  return rc;
}

int vg_kafka_subscribe(struct vg_kafka_consumer *c, const char *const *topics,
                       size_t ntopics, char *errstr, size_t errstr_size) {
  rd_kafka_topic_partition_list_t *list =
      rd_kafka_topic_partition_list_new((int)(ntopics ? ntopics : 1));
  for (size_t t = 0; t < ntopics; t++)
    rd_kafka_topic_partition_list_add(list, topics[t], RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err)
    return vg_errstr_rc(VG_EKAFKA, errstr, errstr_size, "subscribing to %zu topics: %s",
                        ntopics, rd_kafka_err2str(err));
  return 0;
}

int vg_kafka_committed(struct vg_kafka_consumer *c, const char *const *topics,
                       const int32_t *partitions, size_t n, int timeout_ms,
                       int64_t *offsets, char *errstr, size_t errstr_size) {
  rd_kafka_topic_partition_list_t *list =
      rd_kafka_topic_partition_list_new((int)(n ? n : 1));
  for (size_t i = 0; i < n; i++)
    rd_kafka_topic_partition_list_add(list, topics[i], partitions[i]);
  rd_kafka_resp_err_t err = rd_kafka_committed(c->rk, list, timeout_ms);
  for (size_t i = 0; i < n && !err; i++)
    offsets[i] = list->elems[i].err ? RD_KAFKA_OFFSET_INVALID : list->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(list);
  if (err)
    return vg_errstr_rc(err == RD_KAFKA_RESP_ERR__TIMED_OUT ? VG_ETIMEOUT : VG_EKAFKA,
                        errstr, errstr_size, "committed offsets of %zu partitions: %s", n,
                        rd_kafka_err2str(err));
  return 0;
}

int vg_kafka_joined(const struct vg_kafka_consumer *c) {
  return c->joined;
}

rd_kafka_t *vg__kafka_consumer_client(struct vg_kafka_consumer *c) {
  return c->rk;
}

size_t vg_kafka_assignment_count(const struct vg_kafka_consumer *c) {
  return c->nparts;
}

void vg_kafka_assignment_get(const struct vg_kafka_consumer *c, size_t i,
                             const char **topic, int32_t *partition) {
  *topic = c->parts[i].topic;
  *partition = c->parts[i].partition;
}

int64_t vg_kafka_position(const struct vg_kafka_consumer *c, size_t i) {
  return c->parts[i].position;
}

int vg_kafka_mark_end(struct vg_kafka_consumer *c, int timeout_ms, char *errstr,
                      size_t errstr_size) {
  for (size_t i = 0; i < c->nparts; i++) {
    int64_t lo, hi;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        c->rk, c->parts[i].topic, c->parts[i].partition, &lo, &hi, timeout_ms);
    if (err) {
      snprintf(errstr, errstr_size, "end offset of %s [%d]: %s", c->parts[i].topic,
               (int)c->parts[i].partition, rd_kafka_err2str(err));
      return VG_EKAFKA;
    }
    c->parts[i].end = hi;
    /* an empty or fully compacted partition is drained from the start */
    if (c->parts[i].position < 0 && hi == lo)
      c->parts[i].position = hi;
  }
  return 0;
}

/* The client's own position of assigned partition i (past control records
 * no message shows), -1 while unknown. */
static int64_t client_position(const struct vg_kafka_consumer *c, size_t i) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, c->parts[i].topic, c->parts[i].partition);
  int64_t at =
      rd_kafka_position(c->rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR ? l->elems[0].offset : -1;
  rd_kafka_topic_partition_list_destroy(l);
  return at;
}

int64_t vg_kafka_read_position(const struct vg_kafka_consumer *c, size_t i) {
  /* only with nothing fetched and not yet consumed: then what lies between
   * the last message and the client's position can only be control records
   * (or aborted ones), never messages this consumer has still to process */
  if (rd_kafka_queue_length(c->queue) > 0)
    return c->parts[i].position;
  int64_t at = client_position(c, i);
  return at > c->parts[i].position ? at : c->parts[i].position;
}

int64_t vg_kafka_read_position_of(const struct vg_kafka_consumer *c, const char *topic,
                                  int32_t partition) {
  for (size_t i = 0; i < c->nparts; i++)
    if (c->parts[i].partition == partition && strcmp(c->parts[i].topic, topic) == 0)
      return vg_kafka_read_position(c, i);
  return -1;
}

int vg_kafka_drained(const struct vg_kafka_consumer *c) {
  for (size_t i = 0; i < c->nparts; i++) {
    if (c->parts[i].end < 0)
      return 0;
    if (c->parts[i].position >= c->parts[i].end)
      continue;
    /* a transactional topic ends with control records (commit markers),
     * which no message shows: the client's own position moves past them
     * (vg_kafka_read_position: only once nothing is left to consume) */
    if (vg_kafka_read_position(c, i) < c->parts[i].end)
      return 0;
  }
  return 1;
}

/* The slot of a message's partition. Messages come in runs from one
 * partition (a fetch response), so the last slot found is tried first. */
static struct part *find_part(struct vg_kafka_consumer *c, const char *topic,
                              int32_t partition) {
  struct part *p = c->last;
  if (p && p->partition == partition && strcmp(p->topic, topic) == 0)
    return p;
  for (size_t i = 0; i < c->nparts; i++) {
    p = &c->parts[i];
    if (p->partition == partition && strcmp(p->topic, topic) == 0)
      return c->last = p;
  }
  return NULL;
}

/* A group member's batch, taken one message at a time: librdkafka 2.0's
 * rd_kafka_consume_batch_queue counts each message into the client's
 * position as it enters the batch, and a rebalance that pauses the
 * member's partitions meanwhile (its op-version barrier) takes them out
 * again -- fetching resumes past them, so a partition the member keeps
 * loses them (the unit test group_member_keeps_every_offset_through_
 * rebalances). One by one, a message is the caller's once it is counted.
 * The first waits up to timeout_ms, the others not at all. */
static ssize_t member_batch(struct vg_kafka_consumer *c, size_t max, int timeout_ms) {
  size_t n = 0;
  while (n < max) {
    rd_kafka_message_t *m = rd_kafka_consume_queue(c->queue, n ? 0 : timeout_ms);
    if (!m)
      break;
    c->batch[n++] = m;
  }
  return (ssize_t)n;
}

ssize_t vg_kafka_consume(struct vg_kafka_consumer *c, struct vg_kafka_msg *out,
                         size_t max, int timeout_ms) {
  release_batch(c);
  if (max > c->batch_cap) {
    rd_kafka_message_t **nb = realloc(c->batch, max * sizeof *nb);
    if (!nb)
      return -ENOMEM;
    c->batch = nb;
    c->batch_cap = max;
  }
  ssize_t n = c->group
                  ? member_batch(c, max, timeout_ms)
                  : rd_kafka_consume_batch_queue(c->queue, timeout_ms, c->batch, max);
  if (n < 0)
    return VG_EKAFKA;
  c->batch_len = (size_t)n;
  if (c->failed)
    return VG_EKAFKA;
  size_t k = 0;
  for (size_t i = 0; i < (size_t)n; i++) {
    rd_kafka_message_t *m = c->batch[i];
    if (m->err) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        continue;
      rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(c->rk, NULL, 0);
      if (fatal)
        return VG_EKAFKA;
      VG_LOG_RATELIMITED(VG_LOG_WARN, 5000, "kafka consumer error",
                         "topic=%s partition=%d error=\"%s\"",
                         m->rkt ? rd_kafka_topic_name(m->rkt) : "-", (int)m->partition,
                         rd_kafka_message_errstr(m));
      continue;
    }
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct part *p = find_part(c, topic, m->partition);
    if (!p && c->group)
      continue; /* fetched before a rebalance took its partition away */
    if (p && m->offset < p->position) {
      /* given already (a partition revoked and given back within the
       * batch, a resume that fetched again what was just taken) */
      VG_LOG_RATELIMITED(VG_LOG_WARN, 5000, "kafka message given twice: skipped",
                         "topic=%s partition=%d offset=%lld position=%lld", topic,
                         (int)m->partition, (long long)m->offset, (long long)p->position);
      continue;
    }
    if (p)
      p->position = m->offset + 1;
    out[k].topic = topic;
    out[k].partition = m->partition;
    out[k].offset = m->offset;
    out[k].timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    out[k].key = m->key;
    out[k].key_len = m->key_len;
    out[k].payload = m->payload;
    out[k].len = m->len;
    out[k].rkm = m;
    k++;
  }
  return (ssize_t)k;
}

int vg_kafka_msg_header(const struct vg_kafka_msg *m, const char *name, const char **val,
                        size_t *len) {
  rd_kafka_headers_t *hdrs = NULL;
  const void *v = NULL;
  size_t n = 0;
  if (!m->rkm || rd_kafka_message_headers((const rd_kafka_message_t *)m->rkm, &hdrs) ||
      rd_kafka_header_get_last(hdrs, name, &v, &n) || !v)
    return VG_ENOTFOUND;
  *val = v;
  *len = n;
  return 0;
}

/* ---- the read-back of a topic's tail ------------------------------------------ */

int vg_kafka_read_tail(const struct vg_kafka_conf *kc, const char *topic,
                       const struct vg_kafka_positions *from, int timeout_ms,
                       int (*cb)(const struct vg_kafka_msg *m, void *ctx), void *ctx,
                       struct vg_kafka_positions *end, char *errstr, size_t errstr_size) {
  static const char *const props[] = {"enable.partition.eof", "true", NULL};
  struct vg_kafka_consumer *c = NULL;
  struct vg_kafka_conf own = *kc;
  const struct rd_kafka_metadata *md = NULL;
  const struct rd_kafka_metadata_topic *mt = NULL;
  rd_kafka_topic_partition_list_t *list = NULL;
  int64_t *stop = NULL;
  const char *const *user = kc->properties;
  const char **merged = NULL;
  size_t nuser = 0;
  int rc;
  end->n = 0;
  end->off = NULL;
  /* the caller's properties (TLS, SASL), then ours */
  while (user && user[nuser])
    nuser++;
  merged = calloc(nuser + 3, sizeof *merged);
  if (!merged)
    return -ENOMEM;
  if (nuser)
    memcpy(merged, user, nuser * sizeof *merged);
  merged[nuser] = props[0];
  merged[nuser + 1] = props[1];
  own.properties = merged;
  rc = vg_kafka_consumer_new(&c, &own, errstr, errstr_size);
  if (rc)
    goto done;
  rc = topics_metadata(c->rk, &topic, 1, timeout_ms, 0, &md, &mt, errstr, errstr_size);
  if (rc)
    goto done;
  int32_t n = mt->partition_cnt;
  rd_kafka_metadata_destroy(md);
  md = NULL;
  end->off = calloc((size_t)n, sizeof *end->off);
  stop = calloc((size_t)n, sizeof *stop);
  list = rd_kafka_topic_partition_list_new(n);
  if (!end->off || !stop || !list) {
    rc = -ENOMEM;
    goto done;
  }
  end->n = n;
  int reading = 0;
  for (int32_t p = 0; p < n; p++) {
    int64_t lo, hi;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(c->rk, topic, p, &lo, &hi, timeout_ms);
    if (err) {
      snprintf(errstr, errstr_size, "end offset of %s [%d]: %s", topic, (int)p,
               rd_kafka_err2str(err));
      rc = err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT
               ? VG_ETIMEOUT
               : VG_EKAFKA;
      goto done;
    }
    end->off[p] = hi;
    int64_t at = from && p < from->n ? from->off[p] : -1;
    /* a position beyond the end: the topic was deleted and made again, so
     * everything it holds is newer than the position */
    if (at < 0 || at >= hi)
      at = at > hi ? lo : hi;
    if (at < lo)
      at = lo;
    stop[p] = hi;
    if (at < hi) {
      rd_kafka_topic_partition_list_add(list, topic, p)->offset = at;
      reading++;
    }
  }
  if (!reading)
    goto done;
  rd_kafka_resp_err_t err = rd_kafka_assign(c->rk, list);
  if (err) {
    snprintf(errstr, errstr_size, "reading back %s: %s", topic, rd_kafka_err2str(err));
    rc = VG_EKAFKA;
    goto done;
  }
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (reading > 0) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t left = timeout_ms - ((int64_t)(t.tv_sec - t0.tv_sec) * 1000 +
                                 (t.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0) {
      snprintf(errstr, errstr_size,
               "reading back %s: %d partitions not read to their end "
               "in %d ms",
               topic, reading, timeout_ms);
      rc = VG_ETIMEOUT;
      goto done;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, left < 200 ? (int)left : 200);
    if (!m)
      continue;
    int32_t p = m->partition;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (p >= 0 && p < n && stop[p] >= 0 && m->offset >= stop[p]) {
        stop[p] = -1;
        reading--;
      }
    } else if (m->err) {
      rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(c->rk, NULL, 0);
      VG_LOG_RATELIMITED(VG_LOG_WARN, 5000, "reading back a topic",
                         "topic=%s error=\"%s\"", topic, rd_kafka_message_errstr(m));
      if (fatal) {
        snprintf(errstr, errstr_size, "reading back %s: %s", topic,
                 rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        rc = VG_EKAFKA;
        goto done;
      }
    } else if (p >= 0 && p < n && stop[p] >= 0) {
      struct vg_kafka_msg km = {.topic = topic,
                                .partition = p,
                                .offset = m->offset,
                                .timestamp_ms = rd_kafka_message_timestamp(m, NULL),
                                .key = m->key,
                                .key_len = m->key_len,
                                .payload = m->payload,
                                .len = m->len,
                                .rkm = m};
      if (m->offset < stop[p])
        rc = cb(&km, ctx);
      if (m->offset + 1 >= stop[p]) {
        stop[p] = -1;
        reading--;
      }
    }
    rd_kafka_message_destroy(m);
    if (rc)
      goto done;
  }
done:
  if (list)
    rd_kafka_topic_partition_list_destroy(list);
  if (md)
    rd_kafka_metadata_destroy(md);
  vg_kafka_consumer_free(c);
  free(stop);
  free(merged);
  if (rc)
    vg_kafka_positions_release(end);
  if (rc == -ENOMEM)
    snprintf(errstr, errstr_size, "out of memory reading back %s", topic);
  return rc;
}

/* ---- embedded broker ---------------------------------------------------- */

struct vg_kafka_mock {
  rd_kafka_t *rk; /* the handle that owns the mock cluster */
  rd_kafka_mock_cluster_t *mc;
};

int vg_kafka_mock_new(struct vg_kafka_mock **out, int nbrokers, const char **bootstrap,
                      char *errstr, size_t errstr_size) {
  struct vg_kafka_mock *m = calloc(1, sizeof *m);
  char err[256];
  if (!m)
    return -ENOMEM;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* the owning handle is a producer that never produces nor connects: keep
   * it from warning that it has no bootstrap.servers */
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!m->rk) {
    snprintf(errstr, errstr_size, "embedded broker: %s", err);
    free(m);
    return VG_EKAFKA;
  }
  m->mc = rd_kafka_mock_cluster_new(m->rk, nbrokers);
  if (!m->mc) {
    snprintf(errstr, errstr_size, "embedded broker: could not start the mock cluster");
    rd_kafka_destroy(m->rk);
    free(m);
    return VG_EKAFKA;
  }
  *bootstrap = rd_kafka_mock_cluster_bootstraps(m->mc);
  *out = m;
  return 0;
}

int vg_kafka_mock_create_topic(struct vg_kafka_mock *m, const char *topic,
                               int partitions) {
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(m->mc, topic, partitions, 1);
  return err ? VG_EKAFKA : 0;
}

void vg_kafka_mock_free(struct vg_kafka_mock *m) {
  if (!m)
    return;
  rd_kafka_mock_cluster_destroy(m->mc);
  rd_kafka_destroy(m->rk);
  free(m);
}

/* ---- producers ------------------------------------------------------------- */

int vg_kafka_producer_new(const struct vg_kafka_conf *kc, const char *what,
                          void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                          void *opaque, rd_kafka_t **out, char *errstr,
                          size_t errstr_size) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (!conf) {
    snprintf(errstr, errstr_size, "%s: out of memory", what);
    return VG_EKAFKA;
  }
  static const char *const defaults[] = {
      "enable.idempotence", "true",  "acks", "all", "linger.ms", "5",
      "message.timeout.ms", "60000", NULL};
  for (const char *const *p = defaults; *p; p += 2)
    rd_kafka_conf_set(conf, p[0], p[1], err, sizeof err);
  char kib[24];
  snprintf(kib, sizeof kib, "%lld", (long long)kc->produce_queue_kbytes);
  if (rd_kafka_conf_set(conf, "bootstrap.servers", kc->brokers, err, sizeof err) ||
      rd_kafka_conf_set(conf, "client.id", kc->client_id ? kc->client_id : "vigie", err,
                        sizeof err) ||
      (kc->produce_queue_kbytes > 0 &&
       rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", kib, err, sizeof err))) {
    snprintf(errstr, errstr_size, "%s: %s", what, err);
    goto fail;
  }
  for (const char *const *p = kc->properties; p && p[0] && p[1]; p += 2) {
    /* consumer-only properties are ignored with a warning by librdkafka;
     * a bad value is an error */
    if (rd_kafka_conf_set(conf, p[0], p[1], err, sizeof err) == RD_KAFKA_CONF_INVALID) {
      snprintf(errstr, errstr_size, "%s, property \"%s\": %s", what, p[0], err);
      goto fail;
    }
  }
  rd_kafka_conf_set_log_cb(conf, vg__kafka_log);
  rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_conf_set_dr_msg_cb(conf, dr);
  *out = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!*out) {
    snprintf(errstr, errstr_size, "%s: %s", what, err);
    goto fail;
  }
  return 0; /* conf is the client's now */
fail:
  rd_kafka_conf_destroy(conf);
  return VG_EKAFKA;
}
