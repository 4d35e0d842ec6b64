/*
 * libFuzzer target for the sealed segment decoder (include/vigie/segment.h).
 * The first input byte is a mode: bit 0 rewrites the CRC-32 over the rest
 * before decoding, so the fuzzer also reaches the column decoders behind the
 * checksum (a real store only gets there with intact bytes). The decoder
 * must refuse cleanly (VG_ECORRUPT / VG_EVERSION with a message naming the
 * series) or produce windows that re-encode, with every codec, to segments
 * that decode to the same windows bit for bit.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "vigie/error.h"
#include "vigie/segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_double(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

static void check_same(const struct vg_wentry *a, const struct vg_wentry *b) {
  const struct vg_acc *x = &a->acc, *y = &b->acc;
  if (a->start != b->start || a->end != b->end || a->revision != b->revision ||
      x->st.count != y->st.count)
    abort();
  if (x->st.count &&
      (!same_double(vg_stats_sum(&x->st), vg_stats_sum(&y->st)) ||
       !same_double(x->st.min, y->st.min) || !same_double(x->st.max, y->st.max) ||
       !same_double(vg_stats_m2(&x->st), vg_stats_m2(&y->st)) ||
       x->fl.first_t != y->fl.first_t || x->fl.last_t != y->fl.last_t ||
       !same_double(x->fl.first_v, y->fl.first_v) ||
       !same_double(x->fl.last_v, y->fl.last_v)))
    abort();
  if (!x->qs != !y->qs || (x->qs && !vg_ddsketch_equal(x->qs, y->qs)))
    abort();
  if (!x->hll != !y->hll || (x->hll && !vg_hll_equal(x->hll, y->hll)))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  uint8_t mode = data[0];
  size_t len = size - 1;
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf)
    return 0;
  memcpy(buf, data + 1, len);
  if ((mode & 1) && len >= VG_SEG_HEADER_SIZE) {
    memset(buf + VG_SEG_HEADER_SIZE - 4, 0, 4);
    uLong c = crc32(0L, buf, (uInt)len);
    for (int i = 0; i < 4; i++)
      buf[VG_SEG_HEADER_SIZE - 4 + i] = (uint8_t)(c >> (8 * i));
  }
  struct vg_segment s;
  char err[256];
  err[0] = 0;
  int rc = vg_seg_decode(buf, len, NULL, &s, err, sizeof err);
  if (rc) {
    if (rc != VG_ECORRUPT && rc != VG_EVERSION && rc != -ENOMEM)
      abort();
    if (rc != -ENOMEM && !strstr(err, "segment of series"))
      abort();
    if (s.w || s.n)
      abort();
    free(buf);
    return 0;
  }
  const struct vg_wentry **p = malloc((s.n ? s.n : 1) * sizeof *p);
  if (!p)
    abort();
  for (size_t i = 0; i < s.n; i++)
    p[i] = &s.w[i];
  for (unsigned codec = 0; codec < 4; codec++) {
    uint8_t *enc;
    size_t elen;
    if (vg_seg_encode(&s.key, p, s.n, codec, &enc, &elen) != 0)
      abort();
    struct vg_segment t;
    if (vg_seg_decode(enc, elen, &s.key, &t, err, sizeof err) != 0 || t.n != s.n)
      abort();
    for (size_t i = 0; i < s.n; i++)
      check_same(&s.w[i], &t.w[i]);
    vg_segment_release(&t);
    free(enc);
  }
  free(p);
  vg_segment_release(&s);
  free(buf);
  return 0;
}
