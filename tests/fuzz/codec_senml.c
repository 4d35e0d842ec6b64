/*
 * Fuzz target: the SenML codec.
 */
#include "codec_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct vg_codec *c;
  static struct vg_event_batch b;
  if (!c) {
    struct vg_codec_config cfg = {.format = VG_FORMAT_SENML,
                                  .max_message_bytes = 1 << 16};
    if (vg_codec_new(&cfg, &c, NULL, 0))
      abort();
    vg_event_batch_init(&b);
  }
  fuzz_decode(c, VG_FORMAT_SENML, &b, data, size);
  return 0;
}
