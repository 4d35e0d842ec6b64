/*
 * Duplicate readings (docs/aggregation.md "Duplicates"): the
 * fingerprints of the readings a base window counted, so that a re-sent
 * copy of one of them is dropped instead of counted twice.
 *
 * Identity. A reading of a source with `dedupe: true` is identified, within
 * its series, by its event time in nanoseconds and the 64-bit hash of its
 * distinct key when it carries one (count_as sources with distinct_key;
 * 0 otherwise): struct vg_fp. Its series and its base window are the set
 * it is looked up in, so two readings are duplicates exactly when their
 * series, event time and distinct-key hash are equal. The value is not part
 * of the identity: of two readings with the same identity, the one counted
 * first is kept (a gateway's re-send carries the same bytes). Exact but
 * for the distinct key, whose text is not kept: two different keys of one
 * series with the same event time are taken for one reading when their
 * keyed 64-bit SipHash values collide, with probability below
 * n^2 / 2^65 for n such readings in a base window (1e-13 for 2,000).
 *
 * A struct vg_fpset is one base window's set: the fingerprints in the order
 * they were recorded (the store appends the new ones to the rows it holds),
 * with a hash index once there are more than VG_FPSET_LINEAR of them. A
 * struct vg_fpsets is the writer's table of sets by (series, base window)
 * (window.h keeps it beside the open windows).
 *
 * Memory: a set of one fingerprint (a sensor's base window) is held in its
 * struct; a bigger one takes 16 bytes per fingerprint (arrays grow by
 * doubling) plus 4 bytes per index slot (2 to 4 slots per fingerprint past
 * VG_FPSET_LINEAR). The table takes 72 bytes per set plus 16 to 32 of
 * index. bench/dedupe.c measures it.
 *
 * Not thread-safe: one owner (the writer thread).
 */
#ifndef VIGIE_DEDUPE_H
#define VIGIE_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/wtable.h"

/* A reading's identity in its series (see above). */
struct vg_fp {
  int64_t t;    /* event time, ns */
  uint64_t key; /* hash of its distinct key, 0 without one */
};

/* Below this many fingerprints a set is scanned; above, it is indexed. */
#define VG_FPSET_LINEAR 8

struct vg_fpset {
  uint32_t n, cap; /* cap 0: at most one fingerprint, held in u.one */
  uint32_t mask;   /* index slots - 1 */
  union {
    struct vg_fp one; /* a sensor's window: no allocation */
    struct {
      struct vg_fp *v; /* n fingerprints, in the order recorded */
      uint32_t *slots; /* index + 1 of v, 0 = empty; NULL while n <= VG_FPSET_LINEAR */
    } h;
  } u;
};

static inline void vg_fpset_init(struct vg_fpset *s) {
  *s = (struct vg_fpset){0};
}
/* The fingerprints, in the order recorded (n of them). Valid until the set
 * changes or moves. */
static inline const struct vg_fp *vg_fpset_v(const struct vg_fpset *s) {
  return s->cap ? s->u.h.v : &s->u.one;
}
void vg_fpset_release(struct vg_fpset *s);
/* 1 when fp is in the set. */
int vg_fpset_has(const struct vg_fpset *s, struct vg_fp fp);
/* Appends fp (not in the set: the caller checked). 0 or -ENOMEM (then the
 * set is unchanged). */
int vg_fpset_add(struct vg_fpset *s, struct vg_fp fp);
/* Heap bytes held (arrays, index), not counting the struct. */
size_t vg_fpset_bytes(const struct vg_fpset *s);

/* New fingerprints of one base window to be written to the store: fp[0, n)
 * are the set's fingerprints first .. first + n - 1 (the store keys its
 * rows by first, so a window's rows read back in order). Pointers valid
 * until the set changes. */
struct vg_fprow {
  uint64_t series;
  int64_t start, end; /* the base window, UTC seconds */
  uint32_t first, n;
  const struct vg_fp *fp;
};

/* One base window's set in the writer's table. */
struct vg_fpent {
  uint64_t series;
  int64_t start, end;
  uint32_t saved; /* the set's first `saved` fingerprints are in the store */
  uint32_t used;  /* the table's clean count when last looked up */
  uint8_t dirty;  /* listed in dirty[] */
  struct vg_fpset s;
};

struct vg_fpsets {
  struct vg_fpent *e;
  uint32_t n, cap;
  struct vg_hindex ix; /* by (series, start) */
  uint32_t *dirty;     /* entries looked up since the last clean */
  uint32_t ndirty;
  size_t capdirty;
  uint32_t gen; /* cleans so far */
};

void vg_fpsets_init(struct vg_fpsets *t);
void vg_fpsets_release(struct vg_fpsets *t);
/* The set of (series, base window start), or NULL. */
struct vg_fpent *vg_fpsets_find(const struct vg_fpsets *t, uint64_t series,
                                int64_t start);
/* Adds an empty set for (series, [start, end)) (not in the table: the
 * caller checked), listed dirty. The pointer is valid until the next
 * insert or drop. 0 or -ENOMEM. */
int vg_fpsets_insert(struct vg_fpsets *t, uint64_t series, int64_t start, int64_t end,
                     struct vg_fpent **out);
/* Marks a set used now and lists it dirty (its new fingerprints will be
 * asked for). 0 or -ENOMEM. */
int vg_fpsets_touch(struct vg_fpsets *t, struct vg_fpent *e);
/* Drops (releasing them) the sets for which drop(entry, ctx) is non-zero
 * and rebuilds the index and the dirty list. */
void vg_fpsets_drop(struct vg_fpsets *t, int (*drop)(const struct vg_fpent *, void *),
                    void *ctx);
/* Bytes held by the table and its sets. */
size_t vg_fpsets_bytes(const struct vg_fpsets *t);

#endif
