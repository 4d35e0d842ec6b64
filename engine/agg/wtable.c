/*
 * Table of (series, window) accumulators (include/vigie/wtable.h): dense
 * entries plus an open-addressing index. Deletion happens only in batches
 * (vg_wtable_compact), which rebuilds the index, so probing needs no
 * tombstones.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/atomic.h"
#include "vigie/wtable.h"

void vg_wtable_init(struct vg_wtable *t) {
  *t = (struct vg_wtable){0};
}

void vg_wtable_clear(struct vg_wtable *t) {
  for (uint32_t k = 0; k < t->n; k++)
    vg_acc_release(&t->e[k].acc);
  vg_wtable_forget(t);
}

void vg_wtable_forget(struct vg_wtable *t) {
  t->n = 0;
  vg_hindex_clear(&t->ix);
}

void vg_wtable_release(struct vg_wtable *t) {
  vg_wtable_clear(t);
  if (t->mapped)
    munmap(t->e, t->mapped);
  else
    free(t->e);
  vg_hindex_release(&t->ix);
  vg_wtable_init(t);
}

size_t vg_wtable_bytes(const struct vg_wtable *t) {
  return sizeof *t + (size_t)t->cap * sizeof *t->e + vg_hindex_bytes(&t->ix);
}

/* ---- the index (struct vg_hindex) --------------------------------------- */

void vg_hindex_put(struct vg_hindex *x, uint32_t h, uint32_t idx) {
  uint32_t i = h & x->mask;
  while (x->slots[i])
    i = (i + 1) & x->mask;
  x->slots[i] = (uint64_t)h << 32 | (idx + 1);
}

void vg_hindex_fill(struct vg_hindex *x, uint32_t n,
                    uint32_t (*hash)(const void *base, uint32_t k), const void *base) {
  enum { AHEAD = 16 };
  uint32_t h[AHEAD];
  for (uint32_t k = 0; k < n && k < AHEAD; k++) {
    h[k] = hash(base, k);
    __builtin_prefetch(&x->slots[h[k] & x->mask], 1);
  }
  for (uint32_t k = 0; k < n; k++) {
    uint32_t hk = h[k % AHEAD];
    if (k + AHEAD < n) {
      h[k % AHEAD] = hash(base, k + AHEAD);
      __builtin_prefetch(&x->slots[h[k % AHEAD] & x->mask], 1);
    }
    vg_hindex_put(x, hk, k);
  }
}

int vg_hindex_reserve(struct vg_hindex *x, uint32_t n) {
  if (x->slots && (uint64_t)(n + 1) * 2 <= (uint64_t)x->mask + 1)
    return 0;
  uint64_t nslots = x->slots ? ((uint64_t)x->mask + 1) * 2 : 32;
  if (nslots > UINT32_MAX)
    return -ENOMEM;
  /* written before it is read: calloc's fresh pages would first be mapped
   * to the zero page by vg_hindex_put's read, then faulted again (and the
   * TLB flushed on every core) by its write */
  uint64_t *s = malloc((size_t)nslots * sizeof *s);
  if (!s)
    return -ENOMEM;
  memset(s, 0, (size_t)nslots * sizeof *s);
  free(x->slots);
  x->slots = s;
  x->mask = (uint32_t)(nslots - 1);
  return 1;
}

void vg_hindex_clear(struct vg_hindex *x) {
  if (x->slots)
    memset(x->slots, 0, ((size_t)x->mask + 1) * sizeof *x->slots);
}

void vg_hindex_release(struct vg_hindex *x) {
  free(x->slots);
  *x = (struct vg_hindex){0};
}

size_t vg_hindex_bytes(const struct vg_hindex *x) {
  return x->slots ? ((size_t)x->mask + 1) * sizeof *x->slots : 0;
}

/* ---- the table ------------------------------------------------------------ */

static uint32_t entry_hash(const void *base, uint32_t k) {
  const struct vg_wentry *e = (const struct vg_wentry *)base + k;
  return vg__wtable_hash(e->series, e->res, e->start);
}

static void index_put(struct vg_wtable *t, uint32_t k) {
  vg_hindex_put(&t->ix, entry_hash(t->e, k), k);
}

/* bytes: a bigger dense array is mapped. Not under ThreadSanitizer, which
 * does not follow pages that mremap moves (the shadow of the old range
 * would keep stale accesses): there the array stays on the heap. */
#ifdef VG_TSAN
#define MAP_FROM SIZE_MAX
#else
#define MAP_FROM ((size_t)1 << 20)
#endif

/* Grows the dense array to cap entries: realloc while small, then a private
 * mapping that mremap moves (its pages keep their contents, no copy). */
static int grow_entries(struct vg_wtable *t, uint32_t cap) {
  size_t bytes = (size_t)cap * sizeof *t->e;
  if (bytes < MAP_FROM) {
    struct vg_wentry *e = realloc(t->e, bytes);
    if (!e)
      return -ENOMEM;
    t->e = e;
    t->cap = cap;
    return 0;
  }
  size_t page = 4096;
  bytes = (bytes + page - 1) / page * page;
  void *p;
  if (t->mapped) {
    p = mremap(t->e, t->mapped, bytes, MREMAP_MAYMOVE);
  } else {
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED && t->e) {
      memcpy(p, t->e, (size_t)t->n * sizeof *t->e);
      free(t->e);
    }
  }
  if (p == MAP_FAILED)
    return -ENOMEM;
#ifdef MADV_HUGEPAGE
  /* 2 MiB pages where the kernel allows them (transparent_hugepage set to
   * madvise, Debian's default): a table of hundreds of MiB otherwise takes
   * a page fault per 4 KiB as it fills */
  madvise(p, bytes, MADV_HUGEPAGE);
#endif
  t->e = p;
  t->mapped = bytes;
  t->cap = (uint32_t)(bytes / sizeof *t->e);
  return 0;
}

int vg__wtable_insert(struct vg_wtable *t, uint64_t series, uint8_t res, int64_t start,
                      int64_t end, struct vg_wentry **out) {
  if (t->n == t->cap) {
    uint32_t cap = t->cap < 16 ? 16 : t->cap + t->cap / 2;
    if (grow_entries(t, cap) != 0)
      return -ENOMEM;
  }
  int rc = vg_hindex_reserve(&t->ix, t->n);
  if (rc < 0)
    return rc;
  if (rc == 1)
    vg_hindex_fill(&t->ix, t->n, entry_hash, t->e);
  struct vg_wentry *e = &t->e[t->n];
  *e = (struct vg_wentry){.series = series, .start = start, .end = end, .res = res};
  vg_acc_init(&e->acc);
  index_put(t, t->n);
  t->n++;
  *out = e;
  return 0;
}

void vg_wtable_compact(struct vg_wtable *t, int (*drop)(const struct vg_wentry *, void *),
                       void *ctx) {
  uint32_t out = 0;
  for (uint32_t k = 0; k < t->n; k++) {
    if (drop(&t->e[k], ctx)) {
      vg_acc_release(&t->e[k].acc);
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
  vg_hindex_fill(&t->ix, t->n, entry_hash, t->e);
}
