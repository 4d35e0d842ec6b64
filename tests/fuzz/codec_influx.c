/*
 * Fuzz target: the line-protocol codec; the first byte picks the timestamp
 * precision, the rest is the message.
 */
#include "codec_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct vg_codec *c[4];
  static struct vg_event_batch b;
  if (!c[0]) {
    for (int p = 0; p < 4; p++) {
      struct vg_codec_config cfg = {.format = VG_FORMAT_INFLUX,
                                    .precision = (enum vg_precision)p,
                                    .max_message_bytes = 1 << 16};
      if (vg_codec_new(&cfg, &c[p], NULL, 0))
        abort();
    }
    vg_event_batch_init(&b);
  }
  if (size == 0)
    return 0;
  fuzz_decode(c[data[0] % 4], VG_FORMAT_INFLUX, &b, data + 1, size - 1);
  return 0;
}
