/*
 * Kafka topic positions as data (positions.h): copies and the persisted
 * form. No client here: ingest, publish and the daemon all hold them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/error.h"
#include "vigie/positions.h"

void vg_kafka_positions_release(struct vg_kafka_positions *p) {
  free(p->off);
  p->off = NULL;
  p->n = 0;
}

int vg_kafka_positions_copy(struct vg_kafka_positions *dst,
                            const struct vg_kafka_positions *src) {
  dst->n = 0;
  dst->off = NULL;
  if (src->n <= 0)
    return 0;
  dst->off = malloc((size_t)src->n * sizeof *dst->off);
  if (!dst->off)
    return -ENOMEM;
  memcpy(dst->off, src->off, (size_t)src->n * sizeof *dst->off);
  dst->n = src->n;
  return 0;
}

size_t vg_kafka_positions_encode(const char *topic, const struct vg_kafka_positions *p,
                                 uint8_t *buf, size_t cap) {
  size_t tl = strlen(topic), n = p->n > 0 ? (size_t)p->n : 0;
  if (tl > UINT16_MAX)
    tl = UINT16_MAX; /* Kafka caps topic names at 249 bytes */
  size_t need = 1 + 2 + tl + 4 + 8 * n;
  if (cap < need)
    return need;
  uint8_t *q = buf;
  *q++ = 1;
  *q++ = (uint8_t)tl;
  *q++ = (uint8_t)(tl >> 8);
  memcpy(q, topic, tl);
  q += tl;
  for (int i = 0; i < 4; i++)
    *q++ = (uint8_t)(n >> (8 * i));
  for (size_t k = 0; k < n; k++)
    for (int i = 0; i < 8; i++)
      *q++ = (uint8_t)((uint64_t)p->off[k] >> (8 * i));
  return need;
}

int vg_kafka_positions_decode(const uint8_t *buf, size_t len, const char **topic,
                              size_t *topic_len, struct vg_kafka_positions *p) {
  p->n = 0;
  p->off = NULL;
  if (len < 7 || buf[0] != 1)
    return VG_EDECODE;
  size_t tl = (size_t)buf[1] | (size_t)buf[2] << 8;
  if (len < 3 + tl + 4)
    return VG_EDECODE;
  const uint8_t *q = buf + 3 + tl;
  uint32_t n =
      (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
  q += 4;
  if (n > INT32_MAX || (size_t)(buf + len - q) != 8 * (size_t)n)
    return VG_EDECODE;
  if (n) {
    p->off = malloc(n * sizeof *p->off);
    if (!p->off)
      return -ENOMEM;
  }
  for (uint32_t k = 0; k < n; k++, q += 8) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
      v |= (uint64_t)q[i] << (8 * i);
    p->off[k] = (int64_t)v;
  }
  p->n = (int32_t)n;
  *topic = (const char *)buf + 3;
  *topic_len = tl;
  return 0;
}
