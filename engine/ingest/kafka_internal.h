/*
 * Shared inside engine/ingest: what the Kafka wrapper and the dead-letter
 * producer both use.
 */
#ifndef VIGIE_INGEST_KAFKA_INTERNAL_H
#define VIGIE_INGEST_KAFKA_INTERNAL_H

#include <librdkafka/rdkafka.h>

#include "vigie/kafka.h"

/* librdkafka's log callback: its lines become logfmt lines of ours. */
void vg__kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* An idempotent acks=all producer (the dead-letter and rollup producers):
 * the configured brokers, client id and extra properties, delivery reports
 * to dr with opaque. what names it in errstr ("dead-letter producer").
 * 0, or VG_EKAFKA with errstr. */
int vg__kafka_producer_new(const struct vg_kafka_conf *kc, const char *what,
                           void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                           void *opaque, rd_kafka_t **out, char *errstr,
                           size_t errstr_size);

#endif
