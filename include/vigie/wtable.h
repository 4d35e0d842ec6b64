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

/* The index of a table of dense entries, shared by this table and dedupe's
 * table of fingerprint sets: open addressing over 64-bit slots (an entry's
 * 32-bit hash << 32 | its index + 1; 0 = empty), load factor <= 1/2, linear
 * probing, no deletion (a table that drops entries clears and refills it). */
struct vg_hindex {
  uint64_t *slots;
  uint32_t mask; /* slots - 1 */
};

/* The final mix of the tables' hashes: 64 bits in, 32 well-spread bits out. */
static inline uint32_t vg_hmix32(uint64_t h) {
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  return (uint32_t)h;
}

/* The next entry whose hash is h, probing from slot *i (start at h & mask):
 * its index + 1, *i moved past it; 0 at the empty slot that ends the chain.
 * The index must have slots. */
static inline uint32_t vg_hindex_probe(const struct vg_hindex *x, uint32_t h,
                                       uint32_t *i) {
  for (;; *i = (*i + 1) & x->mask) {
    uint64_t s = x->slots[*i];
    if (s == 0)
      return 0;
    if ((uint32_t)(s >> 32) == h) {
      *i = (*i + 1) & x->mask;
      return (uint32_t)s;
    }
  }
}

/* Puts entry idx (hash h) into an index that has room. */
void vg_hindex_put(struct vg_hindex *x, uint32_t h, uint32_t idx);
/* Puts entries 0..n-1 into an empty index with room for them; hash(base, k)
 * is entry k's hash. The slots of a big index are far apart: the hashes are
 * taken a few entries ahead and their slots fetched, so that the cache
 * misses overlap. */
void vg_hindex_fill(struct vg_hindex *x, uint32_t n,
                    uint32_t (*hash)(const void *base, uint32_t k), const void *base);
/* Room for one more entry beside the n held: 0 when there was room; 1 when
 * the slots were replaced by twice as many empty ones (the caller puts its n
 * entries again); -ENOMEM (the index unchanged). */
int vg_hindex_reserve(struct vg_hindex *x, uint32_t n);
/* Every slot empty, the memory kept. */
void vg_hindex_clear(struct vg_hindex *x);
void vg_hindex_release(struct vg_hindex *x);
size_t vg_hindex_bytes(const struct vg_hindex *x);

struct vg_wtable {
  struct vg_wentry *e;
  uint32_t n, cap;
  size_t mapped; /* bytes of e mapped with mmap (a big table), 0: malloc */
  struct vg_hindex ix;
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
  return vg_hmix32(series ^ ((uint64_t)start * 0x9e3779b97f4a7c15ULL) ^
                   ((uint64_t)res << 56));
}

/* The entry of (series, res, start), or NULL. */
static inline struct vg_wentry *vg_wtable_find(const struct vg_wtable *t, uint64_t series,
                                               uint8_t res, int64_t start) {
  if (!t->ix.slots)
    return NULL;
  uint32_t h = vg__wtable_hash(series, res, start), i = h & t->ix.mask, k;
  while ((k = vg_hindex_probe(&t->ix, h, &i)) != 0) {
    struct vg_wentry *e = &t->e[k - 1];
    if (e->series == series && e->start == start && e->res == res)
      return e;
  }
  return NULL;
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
 * and rebuilds the index. drop sees every entry once, in index order, so
 * it may also note where each survivor goes (the count of survivors before
 * it). Order of the survivors is kept. */
void vg_wtable_compact(struct vg_wtable *t, int (*drop)(const struct vg_wentry *, void *),
                       void *ctx);

#endif
