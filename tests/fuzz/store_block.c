/*
 * libFuzzer target for the parser of the store's blocks of open base windows
 * (engine/store/block.h). The first input byte picks the hour (a few values
 * around zero, in 2024 and near the end of time, so time arithmetic meets its
 * bounds). The parser must refuse cleanly (VG_ECORRUPT / VG_EVERSION) or give
 * entries in strictly increasing start within the hour; each entry's
 * accumulator either decodes or is refused (VG_ECORRUPT, VG_EVERSION); and
 * what parsed re-encodes to bytes that parse to the same entries and
 * re-encode identically.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/block.h"
#include "vigie/acc.h"
#include "vigie/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct blk *a, const struct blk *b) {
  if (a->n != b->n)
    abort();
  for (size_t i = 0; i < a->n; i++) {
    const struct blk_ent *x = &a->e[i], *y = &b->e[i];
    if (x->start != y->start || x->end != y->end || x->revision != y->revision ||
        x->flags != y->flags || x->len != y->len ||
        memcmp(a->arena.p + x->off, b->arena.p + y->off, x->len) != 0)
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int64_t hours[4] = {0, -3600, 1727999999LL / 3600 * 3600,
                                   INT64_MAX / 3600 * 3600 - 7200};
  if (size < 1)
    return 0;
  int64_t hour = hours[data[0] & 3];
  struct blk b = {0}, c = {0};
  struct vg_sbuf e1 = {0}, e2 = {0};
  int rc = blk_parse(&b, hour, data + 1, size - 1);
  if (rc != 0) {
    if (rc != VG_ECORRUPT && rc != VG_EVERSION && rc != -ENOMEM)
      abort();
    goto done;
  }
  for (size_t i = 0; i < b.n; i++) {
    const struct blk_ent *x = &b.e[i];
    if (x->start < hour || x->start >= hour + BLK_SPAN || x->end <= x->start ||
        (i > 0 && x->start <= b.e[i - 1].start) || blk_find(&b, x->start) != (long)i)
      abort();
    struct vg_wentry w;
    rc = blk_get(&b, i, 1, 0, &w);
    if (rc != 0 && rc != VG_ECORRUPT && rc != VG_EVERSION && rc != -ENOMEM)
      abort();
    if (rc == 0)
      vg_acc_release(&w.acc);
  }
  if (blk_encode(&b, &e1) || blk_parse(&c, hour, e1.p, e1.len))
    abort();
  same(&b, &c);
  if (blk_encode(&c, &e2) || e1.len != e2.len || memcmp(e1.p, e2.p, e1.len) != 0)
    abort();
done:
  blk_free(&b);
  blk_free(&c);
  free(e1.p);
  free(e2.p);
  return 0;
}
