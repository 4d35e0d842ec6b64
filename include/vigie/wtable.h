/*
 * A table of (series, window) accumulators: the per-epoch delta table of a
 * worker and the open-window table of the writer.
 *
 * Entries live in one dense array (stable indices until the next insert that
 * grows it, or vg_wtable_compact); an open-addressing index of 64-bit slots
 * (load factor <= 1/2, linear probing) finds them by (series, resolution,
 * window start). A slot holds the entry's index and its 32-bit hash, so a
 * probe touches an entry only when the hashes agree: a lookup that misses
 * (every new window) costs one cache miss in the index, not one per probed
 * entry. 152 bytes per entry plus 16 per index slot pair; the dense array
 * grows by half, so an open series-window costs about 210 bytes without
 * sketches (vg_wtable_bytes measures it). Past 1 MiB the dense array is
 * mapped with mmap and grows with mremap: the pages move instead of being
 * copied into fresh ones (a table of millions of windows grew by copying
 * gigabytes, a third of a drain's page faults).
 *
 * Ownership: the table owns its entries' accumulators (their sketches);
 * vg_wtable_clear releases them and keeps the memory for the next epoch.
 * Not thread-safe: one owner at a time (a worker, then the writer after the
 * hand-off).
 */
#ifndef VIGIE_WTABLE_H
#define VIGIE_WTABLE_H

#include <stdint.h>

#include "vigie/acc.h"

struct vg_wentry {
  uint64_t series;
  int64_t start;     /* UTC seconds, inclusive */
  int64_t end;       /* UTC seconds, exclusive */
  uint8_t res;       /* enum vg_res */
  uint8_t final;     /* the watermark passed end + lateness */
  uint8_t emit;      /* to be (re-)emitted */
  uint8_t dirty : 1; /* changed since the store last committed it */
  /* the store may hold a row of this window (it was committed, restored or
   * loaded); 0 means it certainly holds none, so a write needs no lookup */
  uint8_t stored : 1;
  uint32_t revision; /* bumped by every change after the window went final */
  struct vg_acc acc;
};

struct vg_wtable {
  struct vg_wentry *e;
  uint32_t n, cap;
  size_t mapped;   /* bytes of e mapped with mmap (a big table), 0: malloc */
  uint64_t *slots; /* hash << 32 | (entry index + 1); 0 = empty */
  uint32_t mask;   /* slots - 1 */
};

void vg_wtable_init(struct vg_wtable *t);
/* Releases every entry and frees the table's memory. */
void vg_wtable_release(struct vg_wtable *t);
/* Releases every entry but keeps the memory. */
void vg_wtable_clear(struct vg_wtable *t);
/* Empties the table, keeping the memory, without touching the entries: the
 * caller released each of them already. */
void vg_wtable_forget(struct vg_wtable *t);
/* Bytes held by the table itself (not counting sketches). */
size_t vg_wtable_bytes(const struct vg_wtable *t);

static inline uint32_t vg__wtable_hash(uint64_t series, uint8_t res, int64_t start) {
  uint64_t h = series ^ ((uint64_t)start * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)res << 56);
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  return (uint32_t)h;
}

/* The entry of (series, res, start), or NULL. */
static inline struct vg_wentry *vg_wtable_find(const struct vg_wtable *t, uint64_t series,
                                               uint8_t res, int64_t start) {
  if (!t->slots)
    return NULL;
  uint32_t h = vg__wtable_hash(series, res, start);
  for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
    uint64_t s = t->slots[i];
    if (s == 0)
      return NULL;
    if ((uint32_t)(s >> 32) != h)
      continue;
    struct vg_wentry *e = &t->e[(uint32_t)s - 1];
    if (e->series == series && e->start == start && e->res == res)
      return e;
  }
}

/* Slow path of vg_wtable_get: inserts a new entry. */
int vg__wtable_insert(struct vg_wtable *t, uint64_t series, uint8_t res, int64_t start,
                      int64_t end, struct vg_wentry **out);

/* The entry of (series, res, start), created empty (with this end) when
 * absent. The pointer stays valid until the next insert. 0 or -ENOMEM. */
static inline int vg_wtable_get(struct vg_wtable *t, uint64_t series, uint8_t res,
                                int64_t start, int64_t end, struct vg_wentry **out) {
  struct vg_wentry *e = vg_wtable_find(t, series, res, start);
  if (e) {
    *out = e;
    return 0;
  }
  return vg__wtable_insert(t, series, res, start, end, out);
}

/* Drops (releasing them) the entries for which drop(entry, ctx) is non-zero
 * and rebuilds the index. Order of the survivors is kept. */
void vg_wtable_compact(struct vg_wtable *t, int (*drop)(const struct vg_wentry *, void *),
                       void *ctx);

#endif
