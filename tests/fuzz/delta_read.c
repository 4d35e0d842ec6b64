/*
 * libFuzzer target for the delta format's reader (delta.h), what a store
 * instance reads from the delta topic: any bytes are refused with a reason
 * or read into items that the visitor can use -- every accumulator merged
 * into one (its sketches must fit), every dedupe reading inside its window.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/delta.h"
#include "vigie/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
  struct vg_acc all;
  struct vg_acc_opts o;
};

static int on_entry(void *ctx, uint64_t series, int64_t start, int64_t end,
                    unsigned skipped, const struct vg_acc *acc) {
  struct sink *s = ctx;
  (void)series, (void)skipped;
  if (end - start != 60 || start % 60 != 0)
    abort();
  return vg_acc_merge(&s->all, acc, &s->o);
}

static int on_kept(void *ctx, uint64_t series, int64_t start, int64_t end,
                   unsigned skipped, uint32_t max, const struct vg_delta_reading *r,
                   size_t n) {
  (void)ctx, (void)series, (void)skipped;
  if (max == 0 || n == 0)
    abort();
  for (size_t i = 0; i < n; i++)
    if (!isfinite(r[i].v) || r[i].t / 1000000000 < start || r[i].t / 1000000000 >= end)
      abort();
  return 0;
}

static int on_mark(void *ctx, const struct vg_delta_mark *m) {
  (void)ctx;
  if (m->topic_len == 0 || m->partition < 0 || m->next_offset < -1)
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct sink s;
  vg_acc_init(&s.all);
  s.o = VG_ACC_OPTS_DEFAULT;
  s.o.quantiles = s.o.distinct = 1;
  static const struct vg_delta_visitor v = {NULL, on_entry, on_kept, on_mark};
  char err[256];
  int rc = vg_delta_read(data, size, 60, &s.o, &v, &s, err, sizeof err);
  if (rc != 0 && rc != VG_EDECODE && rc != VG_EVERSION && rc != -ENOMEM)
    abort();
  if ((rc == VG_EDECODE || rc == VG_EVERSION) && err[0] == '\0')
    abort(); /* every refusal says why */
  vg_acc_release(&s.all);
  return 0;
}
