/*
 * libFuzzer target for the decoders of the aggregation encodings: stats,
 * first/last, quantile sketch, HLL and the framed accumulator, chosen by the
 * first byte (each encoding starts with its tag). What decodes must be
 * canonical -- re-encoding gives back exactly the bytes consumed -- and usable:
 * a merge with itself and the queries run on it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/acc.h"
#include "vigie/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_bytes(const uint8_t *data, size_t used, const uint8_t *out, size_t len) {
  if (len != used || memcmp(data, out, len) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  size_t used, len;
  uint8_t *out = malloc(size + 64);
  if (!out)
    return 0;
  switch (data[0]) {
  case VG_STATS_TAG: {
    struct vg_stats s, t;
    if (vg_stats_decode(&s, data, size, &used) == 0) {
      if (vg_stats_encode(&s, out, size + 64, &len) != 0)
        abort();
      same_bytes(data, used, out, len);
      t = s;
      vg_stats_merge(&t, &s);
      (void)vg_stats_stddev_sample(&t);
    }
    break;
  }
  case VG_FIRSTLAST_TAG: {
    struct vg_firstlast f, g;
    if (vg_firstlast_decode(&f, data, size, &used) == 0) {
      if (vg_firstlast_encode(&f, out, size + 64, &len) != 0)
        abort();
      same_bytes(data, used, out, len);
      g = f;
      vg_firstlast_merge(&g, &f);
      if (memcmp(&g, &f, sizeof f) != 0) /* idempotent */
        abort();
    }
    break;
  }
  case VG_DDSKETCH_TAG: {
    struct vg_ddsketch sk, copy;
    if (vg_ddsketch_decode(&sk, data, size, &used) == 0) {
      if (vg_ddsketch_encoded_size(&sk) != used ||
          vg_ddsketch_encode(&sk, out, size + 64, &len) != 0)
        abort();
      same_bytes(data, used, out, len);
      vg_ddsketch_init(&copy, sk.alpha, sk.max_bins);
      if (vg_ddsketch_merge(&copy, &sk) == 0 && !vg_ddsketch_equal(&copy, &sk))
        abort();
      vg_ddsketch_merge(&copy, &sk);
      (void)vg_ddsketch_quantile(&copy, 0.5);
      (void)vg_ddsketch_quantile(&copy, 0.99);
      vg_ddsketch_release(&copy);
      vg_ddsketch_release(&sk);
    }
    break;
  }
  case VG_HLL_TAG: {
    struct vg_hll h, copy;
    if (vg_hll_decode(&h, data, size, &used) == 0) {
      if (vg_hll_encode(&h, out, size + 64, &len) != 0)
        abort();
      same_bytes(data, used, out, len);
      vg_hll_init(&copy, h.p);
      /* the copy holds the same registers: the same estimate, bit for bit */
      if (vg_hll_merge(&copy, &h) == 0 &&
          (!vg_hll_equal(&copy, &h) || vg_hll_estimate(&copy) != vg_hll_estimate(&h)))
        abort();
      vg_hll_release(&copy);
      vg_hll_release(&h);
    }
    break;
  }
  case VG_ACC_TAG: {
    struct vg_acc a, b;
    if (vg_acc_decode(&a, data, size, &used) == 0) {
      size_t cap = vg_acc_encoded_size(&a);
      uint8_t *o2 = malloc(cap);
      if (!o2 || vg_acc_encode(&a, o2, cap, &len) != 0)
        abort();
      if (used >= 3 && data[2] == 0 && len > 2 && o2[2] == 4) {
        /* the long form of one reading, still read: it re-encodes to the
         * short form, which must decode to the very same state */
        struct vg_acc c;
        size_t u2;
        if (vg_acc_decode(&c, o2, len, &u2) != 0 || u2 != len ||
            memcmp(&c.st, &a.st, sizeof c.st) != 0 ||
            memcmp(&c.fl, &a.fl, sizeof c.fl) != 0)
          abort();
        vg_acc_release(&c);
      } else {
        same_bytes(data, used, o2, len);
      }
      free(o2);
      struct vg_acc_opts opts = VG_ACC_OPTS_DEFAULT;
      vg_acc_init(&b);
      vg_acc_merge(&b, &a, &opts);
      vg_acc_release(&b);
      vg_acc_release(&a);
    }
    break;
  }
  default: break;
  }
  free(out);
  return 0;
}
