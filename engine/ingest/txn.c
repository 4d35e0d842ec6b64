/*
 * The ingest role's transactional producer (include/vigie/txn.h) over
 * librdkafka's transactions API.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "vigie/error.h"
#include "vigie/log.h"
#include "vigie/txn.h"
#include "ingest/kafka_internal.h"

struct vg_txn {
  rd_kafka_t *rk;
  int open;
  int offsets_sent; /* this transaction's offsets were added: a retried commit
                       only commits (librdkafka's state machine) */
  uint64_t committed, aborted;
};

/* A failed delivery fails the commit (librdkafka): nothing to do here. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk, (void)m, (void)opaque;
}

/* What a transactional call's error means for the caller (txn.h); the
 * error object is destroyed. */
static int txn_error(rd_kafka_error_t *e, const char *what, char *errstr,
                     size_t errstr_size) {
  int rc = VG_EKAFKA;
  if (rd_kafka_error_is_fatal(e))
    rc = VG_EFENCED;
  else if (rd_kafka_error_txn_requires_abort(e))
    rc = VG_EABORTED;
  else if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT)
    rc = VG_ETIMEOUT;
  vg_errstr(errstr, errstr_size, "%s: %s", what, rd_kafka_error_string(e));
  rd_kafka_error_destroy(e);
  return rc;
}

int vg_txn_new(const struct vg_kafka_conf *kc, const char *transactional_id,
               int64_t txn_timeout_ms, int timeout_ms, struct vg_txn **out, char *errstr,
               size_t errstr_size) {
  struct vg_txn *t = calloc(1, sizeof *t);
  size_t n = 0;
  for (const char *const *p = kc->properties; p && p[0] && p[1]; p += 2)
    n += 2;
  const char **props = calloc(n + 7, sizeof *props);
  char txn_ms[24];
  if (!t || !props) {
    free(t);
    free(props);
    return vg_errstr_rc(-ENOMEM, errstr, errstr_size, "out of memory");
  }
  memcpy(props, kc->properties ? (const void *)kc->properties : (const void *)props,
         n * sizeof *props);
  /* a message may not outlive its transaction: a shorter
   * transaction.timeout.ms among the properties shortens the producer's
   * message.timeout.ms (60 s by default) unless they set it too */
  const char *txn_timeout = NULL;
  int msg_timeout = 0;
  for (size_t i = 0; i < n; i += 2) {
    if (strcmp(props[i], "transaction.timeout.ms") == 0)
      txn_timeout = props[i + 1];
    msg_timeout |= strcmp(props[i], "message.timeout.ms") == 0;
  }
  if (!txn_timeout && txn_timeout_ms > 0) {
    snprintf(txn_ms, sizeof txn_ms, "%lld", (long long)txn_timeout_ms);
    props[n++] = "transaction.timeout.ms";
    props[n++] = txn_timeout = txn_ms;
  }
  if (txn_timeout && !msg_timeout && atol(txn_timeout) < 60000) {
    props[n++] = "message.timeout.ms";
    props[n++] = txn_timeout;
  }
  props[n] = "transactional.id";
  props[n + 1] = transactional_id;
  struct vg_kafka_conf c = *kc;
  c.properties = props;
  int rc = vg_kafka_producer_new(&c, "transactional producer", on_delivery, t, &t->rk,
                                 errstr, errstr_size);
  free(props);
  if (rc) {
    free(t);
    return rc;
  }
  rd_kafka_error_t *e = rd_kafka_init_transactions(t->rk, timeout_ms);
  if (e) {
    rc = txn_error(e, "initializing the transactions", errstr, errstr_size);
    if (rc == VG_EABORTED)
      rc = VG_EKAFKA;
    vg_txn_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

rd_kafka_t *vg_txn_client(struct vg_txn *t) {
  return t->rk;
}

int vg_txn_begin(struct vg_txn *t, char *errstr, size_t errstr_size) {
  rd_kafka_error_t *e = rd_kafka_begin_transaction(t->rk);
  if (e)
    return txn_error(e, "beginning a transaction", errstr, errstr_size);
  t->open = 1;
  t->offsets_sent = 0;
  return 0;
}

int vg_txn_open(const struct vg_txn *t) {
  return t->open;
}

int vg_txn_produce(struct vg_txn *t, const char *topic, int32_t partition,
                   const void *key, size_t key_len, const void *payload, size_t len,
                   char *errstr, size_t errstr_size) {
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        t->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_poll(t->rk, 0);
      return 0;
    }
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      int rc = rd_kafka_fatal_error(t->rk, NULL, 0) ? VG_EFENCED : VG_EABORTED;
      return vg_errstr_rc(rc, errstr, errstr_size, "producing to %s [%d]: %s", topic,
                          (int)partition, rd_kafka_err2str(e));
    }
    rd_kafka_poll(t->rk, 50); /* back-pressure: let deliveries drain */
  }
}

int vg_txn_commit(struct vg_txn *t, struct vg_kafka_consumer *c,
                  const struct vg_kafka_tp *offsets, size_t n, int timeout_ms,
                  char *errstr, size_t errstr_size) {
  rd_kafka_error_t *e = NULL;
  int rc = 0;
  if (n > 0 && !t->offsets_sent) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
      rd_kafka_topic_partition_t *p =
          rd_kafka_topic_partition_list_add(list, offsets[i].topic, offsets[i].partition);
      p->offset = offsets[i].offset;
      if (offsets[i].metadata_len) {
        p->metadata = malloc(offsets[i].metadata_len);
        if (p->metadata) {
          memcpy(p->metadata, offsets[i].metadata, offsets[i].metadata_len);
          p->metadata_size = offsets[i].metadata_len;
        }
      }
    }
    rd_kafka_consumer_group_metadata_t *g =
        rd_kafka_consumer_group_metadata(vg__kafka_consumer_client(c));
    e = rd_kafka_send_offsets_to_transaction(t->rk, list, g, timeout_ms);
    rd_kafka_consumer_group_metadata_destroy(g);
    rd_kafka_topic_partition_list_destroy(list);
    if (e)
      rc = txn_error(e, "sending the consumed offsets", errstr, errstr_size);
    else
      t->offsets_sent = 1;
  }
  if (rc == 0) {
    e = rd_kafka_commit_transaction(t->rk, timeout_ms);
    if (e)
      rc = txn_error(e, "committing the transaction", errstr, errstr_size);
  }
  if (rc == VG_EABORTED) {
    char err[256];
    if (vg_txn_abort(t, timeout_ms, err, sizeof err) == VG_EFENCED)
      rc = VG_EFENCED;
    return rc;
  }
  if (rc == 0) {
    t->open = 0;
    t->committed++;
  }
  return rc;
}

int vg_txn_abort(struct vg_txn *t, int timeout_ms, char *errstr, size_t errstr_size) {
  if (!t->open)
    return 0;
  rd_kafka_error_t *e = rd_kafka_abort_transaction(t->rk, timeout_ms);
  if (e) {
    int rc = txn_error(e, "aborting the transaction", errstr, errstr_size);
    if (rc == VG_EFENCED)
      t->open = 0;
    return rc;
  }
  t->open = 0;
  t->aborted++;
  return 0;
}

uint64_t vg_txn_committed(const struct vg_txn *t) {
  return t->committed;
}

uint64_t vg_txn_aborted(const struct vg_txn *t) {
  return t->aborted;
}

void vg_txn_free(struct vg_txn *t) {
  if (!t)
    return;
  if (t->rk) {
    if (t->open) {
      char err[256];
      if (vg_txn_abort(t, 5000, err, sizeof err) != 0)
        VG_LOG_WARN("open transaction not aborted at shutdown (the coordinator will)",
                    "error=\"%s\"", err);
    }
    rd_kafka_destroy(t->rk);
  }
  free(t);
}
