/*
 * Private to the store: the rows of the `blk` table. A block packs every
 * base-resolution window of one (series, UTC hour) that the store holds
 * outside its segment -- provisional windows the writer keeps, final ones
 * waiting for their segment -- into one LMDB value, so that an epoch writes
 * one row per series and hour instead of one per window, and a day's
 * segment is written when the day is over instead of at every hour.
 *
 * Each entry carries what an `open` row carries: flags (the OPEN_* bits
 * below), revision, end and the accumulator's own encoding (acc.h), so a
 * block is an `open` table of one hour in one value.
 *
 * Encoding (little-endian varints, entries in strictly increasing start):
 *   u8 version (1), varint n, then n times:
 *   varint start - hour (< 3600), varint end - start (> 0), u8 flags,
 *   varint revision, varint accumulator length, accumulator bytes.
 * blk_parse checks the structure; an entry's accumulator is checked when
 * blk_get decodes it. Anything else is VG_ECORRUPT, another version
 * VG_EVERSION.
 *
 * Not thread-safe: one struct blk per user (the writer keeps one; readers
 * use their own).
 */
#ifndef VIGIE_STORE_BLOCK_H
#define VIGIE_STORE_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "vigie/wtable.h"

#define BLK_VERSION 1
#define BLK_SPAN    3600 /* seconds: base windows divide an hour */

/* open row and block entry flags */
#define OPEN_FINAL       1
#define OPEN_EMIT        2
#define OPEN_PENDING     4 /* sealed, waiting to be written into its segment */
#define OPEN_KEEP        8 /* the writer holds it (listed in `open`, not evicted) */
#define OPEN_FLAGS_KNOWN 15

struct blk_ent {
  int64_t start, end;
  uint32_t revision;
  uint8_t flags;
  uint32_t off, len; /* the accumulator's encoding in the arena */
};

struct blk {
  int64_t hour;
  struct blk_ent *e;
  size_t n, cap;
  struct vg_sbuf arena;
};

/* The UTC hour a window starting at start belongs to. */
int64_t blk_hour(int64_t start);
/* Empties b for the block of this hour (keeps its memory). */
void blk_reset(struct blk *b, int64_t hour);
void blk_free(struct blk *b);
/* Replaces b's content with a stored row of this hour (copied). 0,
 * VG_ECORRUPT, VG_EVERSION or -ENOMEM. */
int blk_parse(struct blk *b, int64_t hour, const void *p, size_t len);
/* Index of the entry starting at start, or -1. */
long blk_find(const struct blk *b, int64_t start);
/* Inserts or replaces the entry of w (whose start is in b's hour) with these
 * flags. 0 or -ENOMEM. */
int blk_upsert(struct blk *b, const struct vg_wentry *w, uint8_t flags);
/* Removes entry i. */
void blk_remove(struct blk *b, size_t i);
/* Encodes b into out (emptied first). 0 or -ENOMEM. */
int blk_encode(const struct blk *b, struct vg_sbuf *out);
/* Decodes entry i of series into *w (its accumulator is the caller's). 0,
 * VG_ECORRUPT or -ENOMEM. */
int blk_get(const struct blk *b, size_t i, uint64_t series, uint8_t res,
            struct vg_wentry *w);

#endif
