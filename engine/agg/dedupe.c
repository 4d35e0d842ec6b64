/*
 * Fingerprint sets of the base windows of dedupe sources
 * (include/vigie/dedupe.h): one set per window, scanned while small and
 * indexed by open addressing once it grows, and the writer's table of sets
 * by (series, window start), built like wtable.h's (dense entries, an index
 * of hash and position, batch deletion that rebuilds the index).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/array.h"
#include "vigie/dedupe.h"

static inline uint32_t fp_hash(struct vg_fp fp) {
  return vg_hmix32((uint64_t)fp.t * 0x9e3779b97f4a7c15ULL ^ fp.key);
}

static inline int fp_eq(struct vg_fp a, struct vg_fp b) {
  return a.t == b.t && a.key == b.key;
}

void vg_fpset_release(struct vg_fpset *s) {
  if (s->cap) {
    free(s->u.h.v);
    free(s->u.h.slots);
  }
  vg_fpset_init(s);
}

static void index_put(uint32_t *slots, uint32_t mask, struct vg_fp fp, uint32_t idx) {
  uint32_t i = fp_hash(fp) & mask;
  while (slots[i])
    i = (i + 1) & mask;
  slots[i] = idx + 1;
}

int vg_fpset_has(const struct vg_fpset *s, struct vg_fp fp) {
  if (!s->cap)
    return s->n && fp_eq(s->u.one, fp);
  const struct vg_fp *v = s->u.h.v;
  if (!s->u.h.slots) {
    for (uint32_t i = 0; i < s->n; i++)
      if (fp_eq(v[i], fp))
        return 1;
    return 0;
  }
  for (uint32_t i = fp_hash(fp) & s->mask;; i = (i + 1) & s->mask) {
    uint32_t k = s->u.h.slots[i];
    if (k == 0)
      return 0;
    if (fp_eq(v[k - 1], fp))
      return 1;
  }
}

/* An index of nslots for the n fingerprints (load factor <= 1/2). */
static int reindex(struct vg_fpset *s, uint32_t nslots) {
  uint32_t *sl = calloc(nslots, sizeof *sl);
  if (!sl)
    return -ENOMEM;
  free(s->u.h.slots);
  s->u.h.slots = sl;
  s->mask = nslots - 1;
  for (uint32_t i = 0; i < s->n; i++)
    index_put(sl, s->mask, s->u.h.v[i], i);
  return 0;
}

int vg_fpset_add(struct vg_fpset *s, struct vg_fp fp) {
  if (s->n == 0 && s->cap == 0) {
    s->u.one = fp;
    s->n = 1;
    return 0;
  }
  if (s->n == UINT32_MAX)
    return -ENOMEM;
  if (s->n == s->cap || s->cap == 0) {
    /* from the struct to the heap at the second fingerprint */
    uint32_t cap = s->cap ? (s->cap > UINT32_MAX / 2 ? UINT32_MAX : s->cap * 2) : 4;
    struct vg_fp *v = realloc(s->cap ? s->u.h.v : NULL, (size_t)cap * sizeof *v);
    if (!v)
      return -ENOMEM;
    if (!s->cap) {
      v[0] = s->u.one;
      s->u.h.slots = NULL;
    }
    s->u.h.v = v;
    s->cap = cap;
  }
  if (s->n + 1 > VG_FPSET_LINEAR &&
      (!s->u.h.slots || (uint64_t)(s->n + 1) * 2 > (uint64_t)s->mask + 1)) {
    uint32_t nslots = s->u.h.slots ? (s->mask + 1) * 2 : 64;
    if ((uint64_t)nslots > (uint64_t)UINT32_MAX / 2 || reindex(s, nslots) < 0)
      return -ENOMEM;
  }
  s->u.h.v[s->n] = fp;
  if (s->u.h.slots)
    index_put(s->u.h.slots, s->mask, fp, s->n);
  s->n++;
  return 0;
}

size_t vg_fpset_bytes(const struct vg_fpset *s) {
  if (!s->cap)
    return 0;
  return (size_t)s->cap * sizeof *s->u.h.v +
         (s->u.h.slots ? ((size_t)s->mask + 1) * sizeof *s->u.h.slots : 0);
}

/* ---- the table of sets ---------------------------------------------------- */

static inline uint32_t ent_hash(uint64_t series, int64_t start) {
  return vg_hmix32(series ^ ((uint64_t)start * 0x9e3779b97f4a7c15ULL));
}

void vg_fpsets_init(struct vg_fpsets *t) {
  *t = (struct vg_fpsets){0};
}

void vg_fpsets_release(struct vg_fpsets *t) {
  for (uint32_t k = 0; k < t->n; k++)
    vg_fpset_release(&t->e[k].s);
  free(t->e);
  vg_hindex_release(&t->ix);
  free(t->dirty);
  vg_fpsets_init(t);
}

struct vg_fpent *vg_fpsets_find(const struct vg_fpsets *t, uint64_t series,
                                int64_t start) {
  if (!t->ix.slots)
    return NULL;
  uint32_t h = ent_hash(series, start), i = h & t->ix.mask, k;
  while ((k = vg_hindex_probe(&t->ix, h, &i)) != 0) {
    struct vg_fpent *e = &t->e[k - 1];
    if (e->series == series && e->start == start)
      return e;
  }
  return NULL;
}

static uint32_t ent_hash_at(const void *base, uint32_t k) {
  const struct vg_fpent *e = (const struct vg_fpent *)base + k;
  return ent_hash(e->series, e->start);
}

int vg_fpsets_touch(struct vg_fpsets *t, struct vg_fpent *e) {
  e->used = t->gen;
  if (e->dirty)
    return 0;
  if (VG_GROW(t->dirty, t->ndirty + 1, t->capdirty))
    return -ENOMEM;
  t->dirty[t->ndirty++] = (uint32_t)(e - t->e);
  e->dirty = 1;
  return 0;
}

int vg_fpsets_insert(struct vg_fpsets *t, uint64_t series, int64_t start, int64_t end,
                     struct vg_fpent **out) {
  if (t->n == t->cap) {
    uint32_t cap = t->cap < 16 ? 16 : t->cap + t->cap / 2;
    struct vg_fpent *e = realloc(t->e, (size_t)cap * sizeof *e);
    if (!e)
      return -ENOMEM;
    t->e = e;
    t->cap = cap;
  }
  int rc = vg_hindex_reserve(&t->ix, t->n);
  if (rc < 0)
    return rc;
  if (rc == 1)
    vg_hindex_fill(&t->ix, t->n, ent_hash_at, t->e);
  struct vg_fpent *e = &t->e[t->n];
  *e = (struct vg_fpent){.series = series, .start = start, .end = end};
  vg_fpset_init(&e->s);
  if (vg_fpsets_touch(t, e) < 0)
    return -ENOMEM; /* not counted in n: as if never inserted */
  vg_hindex_put(&t->ix, ent_hash_at(t->e, t->n), t->n);
  t->n++;
  *out = e;
  return 0;
}

void vg_fpsets_drop(struct vg_fpsets *t, int (*drop)(const struct vg_fpent *, void *),
                    void *ctx) {
  uint32_t out = 0;
  for (uint32_t k = 0; k < t->n; k++) {
    if (drop(&t->e[k], ctx)) {
      vg_fpset_release(&t->e[k].s);
      continue;
    }
    if (out != k)
      t->e[out] = t->e[k];
    out++;
  }
  if (out == t->n)
    return;
  t->n = out;
  vg_hindex_clear(&t->ix);
  vg_hindex_fill(&t->ix, t->n, ent_hash_at, t->e);
  t->ndirty = 0;
  for (uint32_t k = 0; k < t->n; k++)
    if (t->e[k].dirty) /* room: the list held at least as many before */
      t->dirty[t->ndirty++] = k;
}

size_t vg_fpsets_bytes(const struct vg_fpsets *t) {
  size_t b = sizeof *t + (size_t)t->cap * sizeof *t->e + vg_hindex_bytes(&t->ix) +
             (size_t)t->capdirty * sizeof *t->dirty;
  for (uint32_t k = 0; k < t->n; k++)
    b += vg_fpset_bytes(&t->e[k].s);
  return b;
}
