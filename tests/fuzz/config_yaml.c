/* libFuzzer target: the configuration parser on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "vigie/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char err[4096];
  struct vg_config cfg;
  if (vg_config_parse("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof err) == 0)
    vg_config_release(&cfg);
  return 0;
}
