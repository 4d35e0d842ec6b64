/*
 * Shared by the codec fuzz targets: decode one input with a codec and check
 * what every decoder promises (finite values, keys and distinct keys inside
 * the batch, rejection offsets inside the message, known reasons).
 */
#ifndef VIGIE_FUZZ_CODEC_COMMON_H
#define VIGIE_FUZZ_CODEC_COMMON_H

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "vigie/codec.h"
#include "vigie/error.h"

static void fuzz_decode(struct vg_codec *c, struct vg_event_batch *b,
                        const uint8_t *data, size_t size) {
  vg_event_batch_clear(b);
  int rc = vg_codec_decode(c, (const char *)data, size, 1700000000000000000,
                           b);
  assert(rc == 0 || rc == VG_EDECODE);
  assert((rc == 0) == (b->n_rejects == 0));
  for (size_t i = 0; i < b->n_events; i++) {
    const struct vg_event *e = &b->events[i];
    assert(isfinite(e->value));
    assert(e->key_len > 0);
    assert((size_t)e->key_off + e->key_len <= b->n_bytes);
    assert((size_t)e->distinct_off + e->distinct_len <= b->n_bytes);
  }
  for (size_t i = 0; i < b->n_rejects; i++) {
    assert(b->rejects[i].reason < VG_REJECT_REASON_COUNT);
    assert(b->rejects[i].offset <= size);
  }
}

#endif
