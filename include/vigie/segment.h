/*
 * Sealed columnar segments: the windows of one series at one resolution over
 * a fixed span of time, stored as one LMDB value under the big-endian key
 * (series id, resolution, span start) (store.h).
 *
 * Spans are fixed lengths of UTC time aligned on the epoch: a day for the
 * base resolution, 30 days for hours, 360 days for days (vg_seg_span). A
 * window belongs to the span that contains its start; local days of 23 or
 * 25 hours are fine because every window's start and length are columns.
 *
 * What a segment keeps of a window: start, length, revision, count, sum,
 * min, max, M2, first/last (time and value), and the quantile and distinct
 * sketches when present. The sum and M2 are stored as single doubles (their
 * compensation folded in) and the mean is recomputed as sum / count: a
 * sealed window is read, not merged at full precision (the writer keeps
 * windows that can still be revised in the open table, store.h).
 *
 * Encoding (version 1), all integers little-endian:
 *   u8 tag 'G' (0x47), u8 version (1), u8 codec, u8 reserved (0),
 *   u64 series, u8 res, i64 span_start, u32 n (windows),
 *   u32 raw_len (column bytes), u32 stored_len (bytes that follow the
 *   header), u32 crc32 (zlib's CRC-32 of the header with this field zeroed,
 *   then of the stored bytes), then the stored bytes: the columns, or their
 *   zstd frame when the codec has VG_SEG_ZSTD.
 * Columns, n values each, in this order: start, length, revision, count,
 * then for the windows whose count > 0: first_t, last_t, sum, min, max, M2,
 * first_v, last_v, then the sketch column. With VG_SEG_DELTA, integers are
 * zigzag LEB128 varints of deltas (start: delta of deltas), each double
 * column starts with a mode byte: 1 + k when every value is an exact
 * decimal m / 10^k (k <= 9; then varint deltas of m), else 0 and each value
 * is XORed with the previous one and written as a control byte (leading
 * zero bytes << 4 | trailing zero bytes) plus the middle bytes. Without
 * VG_SEG_DELTA every field is 8 bytes fixed-width. The sketch column is a
 * varint length per window and that many bytes: u8 flags (bit 0: quantile
 * sketch, bit 1: HLL) followed by their own encodings.
 *
 * Pure functions: thread-safe on distinct data, no global state.
 */
#ifndef VIGIE_SEGMENT_H
#define VIGIE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/wtable.h"

#define VG_SEG_TAG         0x47
#define VG_SEG_VERSION     1
#define VG_SEG_HEADER_SIZE 37
#define VG_SEG_MAX_WINDOWS (1u << 20)  /* decoders refuse more */
#define VG_SEG_MAX_RAW     (64u << 20) /* decoders refuse larger columns */

/* Codec bits. The default (VG_SEG_DEFAULT_CODEC) was chosen by measuring
 * bytes per stored window (vigie-bench-store). */
enum {
  VG_SEG_DELTA = 1, /* delta, decimal and XOR transforms */
  VG_SEG_ZSTD = 2,  /* the columns are one zstd frame */
};
#define VG_SEG_DEFAULT_CODEC (VG_SEG_DELTA | VG_SEG_ZSTD)

struct vg_seg_key {
  uint64_t series;
  uint8_t res;        /* enum vg_res */
  int64_t span_start; /* UTC seconds */
};

/* Times (seconds) are clamped to +-VG_SEG_TIME_MAX when spans are computed
 * and decoders refuse spans beyond it (about 1.5e11 years). */
#define VG_SEG_TIME_MAX (1LL << 62)

/* Span length in seconds of a resolution (0 for an unknown one). */
int64_t vg_seg_span_len(uint8_t res);
/* Start of the span holding a window that starts at start_s. */
int64_t vg_seg_span(uint8_t res, int64_t start_s);

/* A decoded segment: n windows sorted by start, each with res/series of
 * the key, final = 1, emit = 0. Owns the windows' sketches. */
struct vg_segment {
  struct vg_seg_key key;
  size_t n;
  struct vg_wentry *w;
};

/* Frees the windows (their sketches) and the array; the struct is reusable. */
void vg_segment_release(struct vg_segment *s);

/* Encodes n windows (sorted by strictly increasing start, all inside the
 * key's span; asserted) with the codec bits. *out is malloc'd; the caller
 * frees it. 0, -ENOMEM or VG_EFULL (more than VG_SEG_MAX_WINDOWS or larger
 * than VG_SEG_MAX_RAW). */
int vg_seg_encode(const struct vg_seg_key *key, const struct vg_wentry *const *w,
                  size_t n, unsigned codec, uint8_t **out, size_t *len);

/* Decodes a segment into *s (holding nothing). When expect is not NULL the
 * header's key must equal it. Returns 0, VG_ECORRUPT (checksum, framing,
 * inconsistent values, wrong key), VG_EVERSION (unknown version or codec)
 * or -ENOMEM; on error *s holds nothing and errstr says what is wrong,
 * naming the series and span. */
int vg_seg_decode(const uint8_t *buf, size_t len, const struct vg_seg_key *expect,
                  struct vg_segment *s, char *errstr, size_t errstr_size);

#endif
