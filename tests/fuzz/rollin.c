/*
 * libFuzzer target for reading rollup records back (rollup.h,
 * vg_rollin_decode), what a serve instance consumes from a city's rollup
 * topic. The input is split at its first newline into the Kafka key and
 * the JSON value. Any bytes are refused with a reason, skipped (an
 * indicator row), or read into a window of this store's calendar whose
 * series key carries the site tag and whose state merges.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/rollup.h"
#include "vigie/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct vg_tz *tz;
  static struct vg_calendar cal;
  char err[512];
  if (!tz) {
    if (vg_tz_load("Europe/Paris", &tz, err, sizeof err) ||
        vg_calendar_init(&cal, tz, 60) != 0)
      abort();
  }
  const char *nl = memchr(data, '\n', size);
  size_t klen = nl ? (size_t)(nl - (const char *)data) : size;
  const char *msg = nl ? nl + 1 : "";
  size_t len = nl ? size - klen - 1 : 0;
  struct vg_rollin r;
  int rc = vg_rollin_decode((const char *)data, klen, msg, len, "issy", "Europe/Paris",
                            &cal, &r, err, sizeof err);
  if (rc == 0) {
    struct vg_span w = vg_calendar_window(&cal, (enum vg_res)r.res, r.start);
    if (w.start != r.start || w.end != r.end || r.acc.st.count == 0 || r.key_len == 0 ||
        !memmem(r.key, r.key_len, "site=\"issy\"", 11))
      abort();
    struct vg_acc m;
    struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
    vg_acc_init(&m);
    if (vg_acc_merge(&m, &r.acc, &o) == 0 && m.st.count != r.acc.st.count)
      abort();
    vg_acc_release(&m);
    vg_rollin_release(&r);
  } else if (rc != 1 && rc != VG_EDECODE && rc != VG_EVERSION && rc != VG_ECONFIG &&
             rc != -ENOMEM) {
    abort();
  }
  return 0;
}
