/*
 * Fuzz target: the JSON codec. The first byte picks one of three mappings
 * (default fields; a Telegraf-style mapping with dotted paths, count_as and
 * distinct key, naive times in Europe/Paris; unix_ms times); the rest is the
 * message.
 */
#include "codec_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct vg_codec *c[3];
  static struct vg_event_batch b;
  if (!c[0]) {
    static const char *tags[] = {"district", "meta.site"};
    static const char *fields[] = {"no2", "pm.p10", "ok", "count"};
    struct vg_codec_config d = {
        .format = VG_FORMAT_JSON, .time_key = "ts", .max_message_bytes = 1 << 16};
    struct vg_codec_config m = {.format = VG_FORMAT_JSON,
                                .time_key = "ts",
                                .time_zone = "Europe/Paris",
                                .entity_key = "sensor_id",
                                .tag_keys = tags,
                                .n_tag_keys = 2,
                                .fields = fields,
                                .n_fields = 4,
                                .count_as = "passages",
                                .distinct_key = "dev"};
    struct vg_codec_config u = {.format = VG_FORMAT_JSON,
                                .time_key = "t",
                                .time_format = VG_TIME_UNIX_MS,
                                .entity_key = "id"};
    if (vg_codec_new(&d, &c[0], NULL, 0) || vg_codec_new(&u, &c[2], NULL, 0))
      abort();
    if (vg_codec_new(&m, &c[1], NULL, 0)) { /* no tz database: UTC */
      m.time_zone = NULL;
      if (vg_codec_new(&m, &c[1], NULL, 0))
        abort();
    }
    vg_event_batch_init(&b);
  }
  if (size == 0)
    return 0;
  fuzz_decode(c[data[0] % 3], VG_FORMAT_JSON, &b, data + 1, size - 1);
  return 0;
}
