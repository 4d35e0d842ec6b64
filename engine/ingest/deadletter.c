/*
 * Dead-letter producer: an idempotent librdkafka producer writing rejected
 * messages with their provenance in headers; delivery reports are counted so
 * that the daemon can refuse to commit offsets past an undelivered one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "vigie/deadletter.h"
#include "vigie/error.h"
#include "vigie/log.h"
#include "ingest/kafka_internal.h"

struct vg_deadletter {
  rd_kafka_t *rk;
  char *topic;
  uint64_t sent, delivered, failed;
  rd_kafka_resp_err_t last_err;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  struct vg_deadletter *d = opaque;
  if (m->err) {
    d->failed++;
    d->last_err = m->err;
  } else {
    d->delivered++;
  }
}

int vg_deadletter_new(const struct vg_kafka_conf *kc, const char *topic,
                      struct vg_deadletter **out, char *errstr, size_t errstr_size) {
  struct vg_deadletter *d = calloc(1, sizeof *d);
  if (!d || !(d->topic = strdup(topic))) {
    snprintf(errstr, errstr_size, "dead-letter producer: out of memory");
    free(d);
    return VG_EKAFKA;
  }
  int rc = vg__kafka_producer_new(kc, "dead-letter producer", on_delivery, d, &d->rk,
                                  errstr, errstr_size);
  if (rc) {
    free(d->topic);
    free(d);
    return rc;
  }
  *out = d;
  return 0;
}

int vg_deadletter_send(struct vg_deadletter *d, const struct vg_kafka_msg *src,
                       const char *reason, size_t byte_offset) {
  char part[16], off[24], at[24];
  snprintf(part, sizeof part, "%" PRId32, src->partition);
  snprintf(off, sizeof off, "%" PRId64, src->offset);
  snprintf(at, sizeof at, "%zu", byte_offset);
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        d->rk, RD_KAFKA_V_TOPIC(d->topic),
        RD_KAFKA_V_VALUE((void *)src->payload, src->len),
        RD_KAFKA_V_KEY(src->key, src->key_len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("vigie.reason", reason, (ssize_t)strlen(reason)),
        RD_KAFKA_V_HEADER("vigie.topic", src->topic, (ssize_t)strlen(src->topic)),
        RD_KAFKA_V_HEADER("vigie.partition", part, (ssize_t)strlen(part)),
        RD_KAFKA_V_HEADER("vigie.offset", off, (ssize_t)strlen(off)),
        RD_KAFKA_V_HEADER("vigie.byte_offset", at, (ssize_t)strlen(at)), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      d->sent++;
      rd_kafka_poll(d->rk, 0);
      return 0;
    }
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      d->failed++;
      d->last_err = e;
      return VG_EKAFKA;
    }
    rd_kafka_poll(d->rk, 100); /* back-pressure: let deliveries drain */
  }
}

int vg_deadletter_flush(struct vg_deadletter *d, int timeout_ms, char *errstr,
                        size_t errstr_size) {
  rd_kafka_resp_err_t e = rd_kafka_flush(d->rk, timeout_ms);
  if (d->failed) {
    snprintf(errstr, errstr_size,
             "%" PRIu64 " dead letters could not be written to topic \"%s\": %s",
             d->failed, d->topic, rd_kafka_err2str(d->last_err));
    return VG_EKAFKA;
  }
  if (e == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    snprintf(errstr, errstr_size, "%d dead letters to topic \"%s\" not yet acknowledged",
             rd_kafka_outq_len(d->rk), d->topic);
    return VG_ETIMEOUT;
  }
  return 0;
}

uint64_t vg_deadletter_delivered(const struct vg_deadletter *d) {
  return d->delivered;
}

uint64_t vg_deadletter_failed(const struct vg_deadletter *d) {
  return d->failed;
}

void vg_deadletter_free(struct vg_deadletter *d) {
  if (!d)
    return;
  rd_kafka_flush(d->rk, 5000);
  if (rd_kafka_outq_len(d->rk) > 0)
    VG_LOG_WARN("dead letters still in flight at shutdown", "topic=%s count=%d",
                d->topic, rd_kafka_outq_len(d->rk));
  rd_kafka_destroy(d->rk);
  free(d->topic);
  free(d);
}
