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

/* A consumer's client (the transactional producer sends its group's
 * offsets with it). */
rd_kafka_t *vg__kafka_consumer_client(struct vg_kafka_consumer *c);

#endif
