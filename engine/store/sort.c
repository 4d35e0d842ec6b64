/*
 * The order of an epoch's windows: (series, res, start), the key order of
 * `open`, `blk` and `seg`, so that a commit groups a segment's windows and
 * its B-tree puts stay local.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

int vg__okey_cmp(const void *a, const void *b) {
  const struct okey *x = a, *y = b;
  if (x->series != y->series)
    return x->series < y->series ? -1 : 1;
  if (x->res != y->res)
    return x->res < y->res ? -1 : 1;
  return (x->start > y->start) - (x->start < y->start);
}

int vg__okey_find(const struct okey *v, size_t n, const struct okey *key) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = vg__okey_cmp(&v[mid], key);
    if (c == 0)
      return 1;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

static inline int okey_lt(const struct okey *x, const struct okey *y) {
  if (x->series != y->series)
    return x->series < y->series;
  if (x->res != y->res)
    return x->res < y->res;
  return x->start < y->start;
}

/* Sorts the keys of an epoch (hundreds of thousands): a quicksort with the
 * comparison inlined instead of qsort's merge sort with a call per
 * comparison and a temporary copy. Series ids are keyed hashes, so bad
 * pivots are unlikely; past a depth limit the rest goes to qsort. */
static void sort_okeys_depth(struct okey *a, size_t n, int depth) {
  while (n > 16) {
    if (depth-- == 0) {
      qsort(a, n, sizeof *a, vg__okey_cmp);
      return;
    }
    /* median of three as the pivot, moved to the end */
    struct okey *lo = a, *mid = a + n / 2, *hi = a + n - 1, t;
    if (okey_lt(mid, lo))
      t = *mid, *mid = *lo, *lo = t;
    if (okey_lt(hi, mid)) {
      t = *hi, *hi = *mid, *mid = t;
      if (okey_lt(mid, lo))
        t = *mid, *mid = *lo, *lo = t;
    }
    t = *mid, *mid = *hi, *hi = t;
    struct okey pivot = *hi;
    size_t i = 0;
    for (size_t j = 0; j + 1 < n; j++)
      if (okey_lt(&a[j], &pivot)) {
        t = a[i], a[i] = a[j], a[j] = t;
        i++;
      }
    t = a[i], a[i] = a[n - 1], a[n - 1] = t;
    /* recurse into the smaller side, loop on the larger */
    if (i < n - i - 1) {
      sort_okeys_depth(a, i, depth);
      a += i + 1;
      n -= i + 1;
    } else {
      sort_okeys_depth(a + i + 1, n - i - 1, depth);
      n = i;
    }
  }
  for (size_t i = 1; i < n; i++) {
    struct okey x = a[i];
    size_t j = i;
    for (; j > 0 && okey_lt(&x, &a[j - 1]); j--)
      a[j] = a[j - 1];
    a[j] = x;
  }
}

static void sort_small(struct okey *a, size_t n) {
  int depth = 0;
  for (size_t m = n; m > 1; m >>= 1)
    depth += 2;
  if (n > 1)
    sort_okeys_depth(a, n, depth);
}

/* Big epochs: one counting pass and one scatter by the top 16 bits of the
 * series id (keyed hashes, so the buckets are even), then each bucket --
 * a series or two, in cache -- sorted on its own. tmp holds n keys. */
void vg__okey_sort(struct okey *a, size_t n, struct okey *tmp) {
  enum { BITS = 16, NB = 1 << BITS };
  if (n < 4096 || !tmp) {
    sort_small(a, n);
    return;
  }
  static _Thread_local uint32_t count[NB + 1];
  memset(count, 0, sizeof count);
  for (size_t i = 0; i < n; i++)
    count[(a[i].series >> (64 - BITS)) + 1]++;
  for (size_t b = 1; b <= NB; b++)
    count[b] += count[b - 1];
  for (size_t i = 0; i < n; i++)
    tmp[count[a[i].series >> (64 - BITS)]++] = a[i];
  /* count[b] is now the end of bucket b */
  size_t start = 0;
  for (size_t b = 0; b < NB; b++) {
    size_t end = count[b];
    sort_small(tmp + start, end - start);
    start = end;
  }
  memcpy(a, tmp, n * sizeof *a);
#ifndef NDEBUG
  for (size_t i = 1; i < n; i++)
    assert(!okey_lt(&a[i], &a[i - 1]));
#endif
}
